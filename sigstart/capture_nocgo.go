//go:build !cgo

package sigstart

// Without cgo there is no code that runs before the Go runtime: the
// dispositions and the mask the process was started with are lost.
var (
	ignored, blocked Set
	known            = false
)
