package symbol

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// maxKernelSym bounds how far past a kernel symbol's address an address
// still belongs to it: kallsyms gives no sizes, and the last symbol of the
// kernel or of a module is followed by unmapped space.
const maxKernelSym = 1 << 20

// IsKernel reports whether addr is a kernel address: on the 64-bit
// architectures perfprof runs on, the kernel owns the upper half.
func IsKernel(addr uint64) bool { return addr>>63 != 0 }

// ksym is one line of /proc/kallsyms.
type ksym struct {
	addr   uint64
	name   string
	module string
	text   bool
}

// Kernel holds the kernel's symbols from /proc/kallsyms, sorted by
// address. It is immutable, so safe for concurrent use.
type Kernel struct {
	syms       []ksym
	restricted bool
	modBase    map[string]uint64
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
// an optional "\t[MODULE]". Absolute symbols and those below the kernel
// half (per-CPU offsets) are dropped.
func ParseKallsyms(r io.Reader) (*Kernel, error) {
	k := &Kernel{modBase: map[string]uint64{}}
	modules := map[string]string{} // interned module names
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	lines, zero := 0, 0
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		lines++
		a, rest, ok1 := strings.Cut(line, " ")
		typ, rest, ok2 := strings.Cut(rest, " ")
		if !ok1 || !ok2 || len(typ) != 1 {
			return nil, fmt.Errorf("line %d: bad symbol line %q", n, line)
		}
		addr, err := strconv.ParseUint(a, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: bad address in %q: %w", n, line, err)
		}
		if addr == 0 {
			zero++
			continue
		}
		if typ == "a" || typ == "A" || !IsKernel(addr) {
			continue
		}
		name, mod, _ := strings.Cut(rest, "\t")
		if mod != "" {
			mod = strings.TrimSuffix(strings.TrimPrefix(mod, "["), "]")
			if m, ok := modules[mod]; ok {
				mod = m
			} else {
				modules[mod] = mod
			}
			if b, ok := k.modBase[mod]; !ok || addr < b {
				k.modBase[mod] = addr
			}
		}
		t := typ[0] | 0x20 // lower case
		k.syms = append(k.syms, ksym{addr: addr, name: name, module: mod, text: t == 't' || t == 'w'})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if lines > 0 && zero == lines {
		k.restricted = true
	}
	sort.SliceStable(k.syms, func(i, j int) bool {
		a, b := &k.syms[i], &k.syms[j]
		if a.addr != b.addr {
			return a.addr < b.addr
		}
		return a.text && !b.text // a function over a data label at its address
	})
	return k, nil
}

// Restricted reports whether kallsyms hid every address (all zero): then
// no kernel address resolves. kernel.kptr_restrict=0, or root with
// kptr_restrict=1, shows them.
func (k *Kernel) Restricted() bool { return k.restricted }

// Len returns the number of symbols k holds.
func (k *Kernel) Len() int { return len(k.syms) }

// Addr returns the address of the first symbol named name (in the core
// kernel or any module).
func (k *Kernel) Addr(name string) (uint64, bool) {
	for i := range k.syms {
		if k.syms[i].name == name {
			return k.syms[i].addr, true
		}
	}
	return 0, false
}

// Lookup symbolizes the kernel address addr: the last symbol at or below
// it, within maxKernelSym. An address in a module that no symbol covers
// gives the module and the offset from its first symbol; one in nothing
// known, or any address when Restricted, gives a Frame with no Func.
func (k *Kernel) Lookup(addr uint64) Frame {
	f := Frame{Addr: addr, Path: KernelPath, Kernel: true}
	i := sort.Search(len(k.syms), func(i int) bool { return k.syms[i].addr > addr })
	if i == 0 {
		return f
	}
	// Among symbols at the same address, the sort put a function first.
	j := i - 1
	for j > 0 && k.syms[j-1].addr == k.syms[i-1].addr {
		j--
	}
	s := &k.syms[j]
	f.Module = s.module
	if addr-s.addr < maxKernelSym {
		f.Func = s.name
		f.Offset = addr - s.addr
		return f
	}
	if s.module != "" {
		f.Offset = addr - k.modBase[s.module]
	}
	return f
}
