package symbol

import (
	"path/filepath"
	"strconv"
)

// Frame is what one instruction pointer symbolizes to.
type Frame struct {
	// Addr is the address that was symbolized.
	Addr uint64
	// Func is the function containing Addr, or "" when nothing resolves
	// it.
	Func string
	// Offset is Addr's offset in Func. When Func is "", it is Addr's
	// offset in the object instead: the ELF virtual address in Path (the
	// file offset when the file could not be read), or the offset from
	// the kernel module's first symbol.
	Offset uint64
	// Path is the mapped file (or pseudo path such as [vdso]) for a user
	// address, "[kernel.kallsyms]" for the kernel, and "" when no mapping
	// holds the address.
	Path string
	// Module is the kernel module of a kernel address, "" for the core
	// kernel and for user addresses.
	Module string
	// BuildID is the hex GNU build id of Path, when known.
	BuildID string
	// Kernel is true for a kernel address.
	Kernel bool
}

// KernelPath is the Path of kernel frames, as perf names it.
const KernelPath = "[kernel.kallsyms]"

// Resolved reports whether a function name was found for f.Addr.
func (f Frame) Resolved() bool { return f.Func != "" }

// String formats f as perf does: "func+0x1c" (with " [module]" for a
// kernel module), or, unresolved, "file+0x1234" or "module+0x1234", or
// "[unknown]".
func (f Frame) String() string {
	switch {
	case f.Func != "":
		s := f.Func + "+0x" + strconv.FormatUint(f.Offset, 16)
		if f.Module != "" {
			s += " [" + f.Module + "]"
		}
		return s
	case f.Module != "":
		return f.Module + "+0x" + strconv.FormatUint(f.Offset, 16)
	case f.Path != "" && !f.Kernel:
		return filepath.Base(f.Path) + "+0x" + strconv.FormatUint(f.Offset, 16)
	}
	return "[unknown]"
}
