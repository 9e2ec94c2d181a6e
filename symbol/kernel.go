package symbol

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
)

// maxKernelSym bounds how far past a kernel symbol's address an address
// still belongs to it: kallsyms gives no sizes, and the last symbol of the
// kernel or of a module is followed by unmapped space.
const maxKernelSym = 1 << 20

// IsKernel reports whether addr is a kernel address: on the 64-bit
// architectures perfprof runs on, the kernel owns the upper half.
func IsKernel(addr uint64) bool { return addr>>63 != 0 }

// ksym is a function of /proc/kallsyms: 16 bytes, its name in the
// Kernel's names.
type ksym struct {
	addr uint64
	off  uint32 // of its name in Kernel.names
	n    uint16 // its name's length
	mod  uint16 // its module's index in Kernel.mods; 0: the core kernel
}

// Kernel holds the kernel's functions from /proc/kallsyms, sorted by
// address: about 2 MiB for 100,000 of them. It is immutable, so safe for
// concurrent use.
type Kernel struct {
	syms       []ksym
	names      []byte
	mods       []string // mods[0] is ""
	modBase    []uint64 // by module: its lowest address
	restricted bool
}

// ReadKallsyms reads /proc/kallsyms. Without the privilege to see the
// addresses (kernel.kptr_restrict, or not root) it still succeeds: the
// Kernel is Restricted and resolves nothing.
func ReadKallsyms() (*Kernel, error) {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return nil, fmt.Errorf("read kernel symbols: %w", err)
	}
	defer f.Close()
	k, err := ParseKallsyms(f)
	if err != nil {
		return nil, fmt.Errorf("read /proc/kallsyms: %w", err)
	}
	return k, nil
}

// ParseKallsyms parses the text of /proc/kallsyms: "ADDR TYPE NAME" with
// an optional "\t[MODULE]". Only functions are kept (types t, T, w and W:
// an instruction pointer is in one); absolute symbols and those below the
// kernel half (per-CPU offsets) are dropped.
func ParseKallsyms(r io.Reader) (*Kernel, error) {
	// Sized for a distribution kernel (about 120,000 functions, 3 MB of
	// names), so that growing them does not leave copies behind.
	k := &Kernel{mods: []string{""}, modBase: []uint64{0},
		syms: make([]ksym, 0, 1<<17), names: make([]byte, 0, 4<<20)}
	modIndex := map[string]uint16{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	lines, zero := 0, 0
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		lines++
		a, rest, ok1 := bytes.Cut(line, []byte(" "))
		typ, rest, ok2 := bytes.Cut(rest, []byte(" "))
		if !ok1 || !ok2 || len(typ) != 1 {
			return nil, fmt.Errorf("line %d: bad symbol line %q", n, line)
		}
		addr, err := strconv.ParseUint(string(a), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: bad address in %q: %w", n, line, err)
		}
		if addr == 0 {
			zero++
			continue
		}
		if t := typ[0] | 0x20; (t != 't' && t != 'w') || !IsKernel(addr) {
			continue
		}
		name, mod, _ := bytes.Cut(rest, []byte("\t"))
		if len(name) > 0xffff {
			continue
		}
		var mi uint16
		if len(mod) > 0 {
			mod = bytes.TrimSuffix(bytes.TrimPrefix(mod, []byte("[")), []byte("]"))
			i, ok := modIndex[string(mod)]
			if !ok && len(k.mods) < 0xffff {
				i = uint16(len(k.mods))
				modIndex[string(mod)] = i
				k.mods = append(k.mods, string(mod))
				k.modBase = append(k.modBase, addr)
			}
			mi = i
			if addr < k.modBase[mi] {
				k.modBase[mi] = addr
			}
		}
		k.syms = append(k.syms, ksym{addr: addr, off: uint32(len(k.names)), n: uint16(len(name)), mod: mi})
		k.names = append(k.names, name...)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if lines > 0 && zero == lines {
		k.restricted = true
	}
	sort.SliceStable(k.syms, func(i, j int) bool { return k.syms[i].addr < k.syms[j].addr })
	k.syms = slices.Clip(k.syms)
	k.names = slices.Clip(k.names)
	return k, nil
}

// name returns the name of s.
func (k *Kernel) name(s *ksym) string { return string(k.names[s.off : s.off+uint32(s.n)]) }

// Restricted reports whether kallsyms hid every address (all zero): then
// no kernel address resolves. kernel.kptr_restrict=0, or root with
// kptr_restrict=1, shows them.
func (k *Kernel) Restricted() bool { return k.restricted }

// Len returns the number of symbols k holds.
func (k *Kernel) Len() int { return len(k.syms) }

// Addr returns the address of the first function named name (in the
// core kernel or any module).
func (k *Kernel) Addr(name string) (uint64, bool) {
	for i := range k.syms {
		s := &k.syms[i]
		if int(s.n) == len(name) && string(k.names[s.off:s.off+uint32(s.n)]) == name {
			return s.addr, true
		}
	}
	return 0, false
}

// Lookup symbolizes the kernel address addr: the last function at or
// below it, within maxKernelSym. An address in a module that no function
// covers gives the module and the offset from its first symbol; one in
// nothing known, or any address when Restricted, gives a Frame with no
// Func.
func (k *Kernel) Lookup(addr uint64) Frame {
	f := Frame{Addr: addr, Path: KernelPath, Kernel: true}
	i := sort.Search(len(k.syms), func(i int) bool { return k.syms[i].addr > addr })
	if i == 0 {
		return f
	}
	// Among functions at one address (aliases), the first listed.
	j := i - 1
	for j > 0 && k.syms[j-1].addr == k.syms[i-1].addr {
		j--
	}
	s := &k.syms[j]
	f.Module = k.mods[s.mod]
	if addr-s.addr < maxKernelSym {
		f.Func = k.name(s)
		f.Offset = addr - s.addr
		return f
	}
	if s.mod != 0 {
		f.Offset = addr - k.modBase[s.mod]
	}
	return f
}
