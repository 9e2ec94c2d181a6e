//go:build !linux || !(amd64 || arm64)

package sigstart

import "golang.org/x/sys/unix"

// Apply is only written for the rt_sigaction layout of linux/amd64 and
// linux/arm64.
func Apply(ignored, blocked Set) error { return unix.ENOSYS }

// SetDefault is only written for linux/amd64 and linux/arm64.
func SetDefault(sig unix.Signal) error { return unix.ENOSYS }
