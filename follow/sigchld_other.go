//go:build linux && !amd64 && !arm64

package follow

// defaultSIGCHLD is a no-op where the sigaction layout is not mirrored:
// the tracer still works, with one signal per stop more.
func defaultSIGCHLD() {}
