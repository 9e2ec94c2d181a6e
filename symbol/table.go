package symbol

import (
	"debug/elf"
	"debug/gosym"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Sym is one function of a Table: its name and the ELF virtual addresses
// it covers, [Addr, Addr+Size).
type Sym struct {
	Name string
	Addr uint64
	// Size is the symbol's size, or, for a symbol the file gives no size,
	// the distance to the next symbol (bounded by its section's end).
	Size uint64
}

// Segment is a PT_LOAD program header of an ELF file: file bytes
// [Off, Off+Filesz) load at virtual addresses [Vaddr, Vaddr+Memsz).
type Segment struct {
	Off, Vaddr, Filesz, Memsz uint64
	// Exec is true for a segment with PF_X.
	Exec bool
}

// Table holds the function symbols and the load segments of one ELF file.
// It is immutable once built, so one Table serves every process that maps
// the file.
type Table struct {
	// BuildID is the hex GNU build id of the file, or "" when it has none.
	BuildID string
	// Type is the file's ELF type: ET_EXEC maps at its link addresses,
	// ET_DYN (PIE or shared object) wherever the loader puts it.
	Type elf.Type
	// Source names the sections the symbols came from: "symtab",
	// "debug" (the .symtab of a separate debug file), "dynsym",
	// "gopclntab", joined by "+".
	Source string
	// Segments are the PT_LOAD segments, in file order.
	Segments []Segment
	syms     []Sym
}

// Len returns the number of function symbols in t.
func (t *Table) Len() int { return len(t.syms) }

// Syms returns t's symbols, sorted by address. The caller must not modify
// the slice.
func (t *Table) Syms() []Sym { return t.syms }

// Lookup returns the symbol containing the ELF virtual address vaddr.
func (t *Table) Lookup(vaddr uint64) (Sym, bool) {
	// The first symbol that starts after vaddr; the one before it is the
	// only candidate, as overlapping symbols were reduced at load.
	i := sort.Search(len(t.syms), func(i int) bool { return t.syms[i].Addr > vaddr })
	if i == 0 {
		return Sym{}, false
	}
	s := t.syms[i-1]
	if vaddr-s.Addr >= s.Size {
		return Sym{}, false
	}
	return s, true
}

// Vaddr turns a runtime address addr of a mapping that starts at start and
// maps file offset offset into the file's ELF virtual address. The PT_LOAD
// segment holding the mapping's file offset gives the load bias; an
// ET_EXEC file with no such segment maps at its link addresses, an ET_DYN
// one at its file offsets.
func (t *Table) Vaddr(addr, start, offset uint64) uint64 {
	return addr + t.Bias(start, offset)
}

// Bias returns what to add (modulo 2^64) to a runtime address of a
// mapping that starts at start and maps file offset offset to get the
// ELF virtual address; see Vaddr.
func (t *Table) Bias(start, offset uint64) uint64 {
	if s, ok := t.segmentAt(offset); ok {
		// file offset = addr - start + offset; vaddr = file offset - Off + Vaddr.
		return offset - start + s.Vaddr - s.Off
	}
	if t.Type == elf.ET_EXEC {
		return 0
	}
	return offset - start
}

// segmentAt returns the PT_LOAD segment whose file range, extended down to
// its page, holds file offset off; an executable one wins a tie.
func (t *Table) segmentAt(off uint64) (Segment, bool) {
	var found Segment
	ok := false
	for _, s := range t.Segments {
		lo := s.Off &^ 0xfff
		if off >= lo && off < s.Off+max(s.Filesz, 1) {
			if !ok || (s.Exec && !found.Exec) {
				found, ok = s, true
			}
		}
	}
	return found, ok
}

// NewTable reads the function symbols, build id and load segments of f:
// .symtab when present, .dynsym too, and .gopclntab when the file has no
// .symtab (a stripped Go binary). A file with none of them gives an empty
// table, not an error.
func NewTable(f *elf.File) (*Table, error) { return newTable(f, nil) }

// newTable is NewTable, with the .symtab of debug, f's separate debug
// file (see openDebug), when f has none.
func newTable(f, debug *elf.File) (*Table, error) {
	t := &Table{Type: f.Type, BuildID: BuildID(f)}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			t.Segments = append(t.Segments, Segment{Off: p.Off, Vaddr: p.Vaddr, Filesz: p.Filesz, Memsz: p.Memsz, Exec: p.Flags&elf.PF_X != 0})
		}
	}
	var sources []string
	var raw []rawSym
	symtab, err := f.Symbols()
	switch {
	case err == nil:
		raw = appendELFSyms(raw, f, symtab)
		sources = append(sources, "symtab")
	case !errors.Is(err, elf.ErrNoSymbols):
		return nil, fmt.Errorf("read .symtab: %w", err)
	case debug != nil:
		// A debug file keeps the section headers (their contents gone):
		// its symbols are read against its own sections.
		if symtab, err = debug.Symbols(); err != nil {
			return nil, fmt.Errorf("read the debug file's .symtab: %w", err)
		}
		raw = appendELFSyms(raw, debug, symtab)
		sources = append(sources, "debug")
	}
	dyn, err := f.DynamicSymbols()
	switch {
	case err == nil:
		// Aliases of .symtab's symbols fold away in reduce; .dynsym may
		// still add a few (and is all a stripped shared object has).
		raw = appendELFSyms(raw, f, dyn)
		sources = append(sources, "dynsym")
	case !errors.Is(err, elf.ErrNoSymbols):
		return nil, fmt.Errorf("read .dynsym: %w", err)
	}
	if len(symtab) == 0 {
		goSyms, err := goSymbols(f)
		if err != nil {
			return nil, err
		}
		if goSyms != nil {
			raw = append(raw, goSyms...)
			sources = append(sources, "gopclntab")
		}
	}
	t.Source = strings.Join(sources, "+")
	t.syms = reduce(raw)
	return t, nil
}

// rawSym is a symbol before sorting and reduction.
type rawSym struct {
	Sym
	sized bool // the file gave its size
	bind  elf.SymBind
	limit uint64 // end of its section: a zero-size symbol stops there
}

// appendELFSyms appends the function symbols of syms: STT_FUNC and
// STT_GNU_IFUNC ones, and STT_NOTYPE ones in an executable section
// (assembly labels such as _start), skipping local labels.
func appendELFSyms(raw []rawSym, f *elf.File, syms []elf.Symbol) []rawSym {
	for _, s := range syms {
		typ := elf.ST_TYPE(s.Info)
		if s.Name == "" || s.Value == 0 || s.Section == elf.SHN_UNDEF || s.Section >= elf.SHN_LORESERVE || int(s.Section) >= len(f.Sections) {
			continue
		}
		sec := f.Sections[s.Section]
		if sec.Flags&elf.SHF_EXECINSTR == 0 {
			continue
		}
		switch typ {
		case elf.STT_FUNC, elf.STT_GNU_IFUNC:
		case elf.STT_NOTYPE:
			if strings.HasPrefix(s.Name, ".L") || strings.HasPrefix(s.Name, "$") {
				continue
			}
		default:
			continue
		}
		name := s.Name
		if i := strings.Index(name, "@"); i > 0 { // versioned dynsym: printf@@GLIBC_2.2.5
			name = name[:i]
		}
		raw = append(raw, rawSym{
			Sym:   Sym{Name: name, Addr: s.Value, Size: s.Size},
			sized: s.Size > 0,
			bind:  elf.ST_BIND(s.Info),
			limit: sec.Addr + sec.Size,
		})
	}
	return raw
}

// goSymbols reads the functions of a Go binary's .gopclntab, or returns
// nil when it has none.
func goSymbols(f *elf.File) ([]rawSym, error) {
	pcln := f.Section(".gopclntab")
	text := f.Section(".text")
	if pcln == nil || text == nil {
		return nil, nil
	}
	data, err := pcln.Data()
	if err != nil {
		return nil, fmt.Errorf("read .gopclntab: %w", err)
	}
	textStart := text.Addr
	// Go 1.18+: magic, 2 pad bytes, min instruction size, pointer size,
	// nfunc, nfiles, textStart (runtime.text, which differs from .text's
	// start with cgo).
	if len(data) >= 8 {
		ptr := int(data[7])
		magic := f.ByteOrder.Uint32(data)
		if magic >= 0xfffffff0 && (ptr == 4 || ptr == 8) && len(data) >= 8+3*ptr {
			var v uint64
			if ptr == 8 {
				v = f.ByteOrder.Uint64(data[8+2*ptr:])
			} else {
				v = uint64(f.ByteOrder.Uint32(data[8+2*ptr:]))
			}
			if v != 0 {
				textStart = v
			}
		}
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(data, textStart))
	if err != nil {
		return nil, fmt.Errorf("parse .gopclntab: %w", err)
	}
	raw := make([]rawSym, 0, len(tab.Funcs))
	for i := range tab.Funcs {
		fn := &tab.Funcs[i]
		if fn.End <= fn.Entry {
			continue
		}
		raw = append(raw, rawSym{
			Sym:   Sym{Name: fn.Name, Addr: fn.Entry, Size: fn.End - fn.Entry},
			sized: true,
			bind:  elf.STB_GLOBAL,
			limit: fn.End,
		})
	}
	return raw, nil
}

// reduce sorts raw by address and keeps one symbol per address as perf
// chooses among aliases, so that the two name a function alike: a sized
// one first, then a global one, a local one, a weak one, the fewest
// leading underscores, the longest name (__memmove_avx512_unaligned_erms
// over __memcpy_avx512_unaligned_erms, __getpid over the weak getpid,
// printf over _IO_printf); gives
// zero-size symbols the room up to the next symbol or their section's
// end, and trims a symbol that runs into the next, so that Lookup's
// binary search needs no look back.
func reduce(raw []rawSym) []Sym {
	sort.Slice(raw, func(i, j int) bool {
		a, b := &raw[i], &raw[j]
		if a.Addr != b.Addr {
			return a.Addr < b.Addr
		}
		if a.sized != b.sized {
			return a.sized
		}
		if ra, rb := bindRank(a.bind), bindRank(b.bind); ra != rb {
			return ra < rb
		}
		if ua, ub := underscores(a.Name), underscores(b.Name); ua != ub {
			return ua < ub
		}
		if len(a.Name) != len(b.Name) {
			return len(a.Name) > len(b.Name)
		}
		return a.Name < b.Name
	})
	out := make([]Sym, 0, len(raw))
	limits := make([]uint64, 0, len(raw))
	sized := make([]bool, 0, len(raw))
	for i := range raw {
		if len(out) > 0 && out[len(out)-1].Addr == raw[i].Addr {
			// An alias: keep the best-ranked one, but the largest size.
			if raw[i].sized && raw[i].Size > out[len(out)-1].Size {
				out[len(out)-1].Size = raw[i].Size
			}
			continue
		}
		out = append(out, raw[i].Sym)
		limits = append(limits, raw[i].limit)
		sized = append(sized, raw[i].sized)
	}
	for i := range out {
		next := limits[i]
		if i+1 < len(out) && out[i+1].Addr < next {
			next = out[i+1].Addr
		}
		switch {
		case !sized[i]:
			if next > out[i].Addr {
				out[i].Size = next - out[i].Addr
			} else {
				out[i].Size = 1
			}
		case i+1 < len(out) && out[i].Addr+out[i].Size > out[i+1].Addr:
			// A symbol nested in a bigger one: the outer one stops where
			// the inner one starts.
			out[i].Size = out[i+1].Addr - out[i].Addr
		}
	}
	return out
}

// bindRank orders symbol bindings as perf does: global, local (any
// other), then weak.
func bindRank(b elf.SymBind) int {
	switch b {
	case elf.STB_GLOBAL:
		return 0
	case elf.STB_WEAK:
		return 2
	}
	return 1
}

// underscores returns how many underscores name starts with.
func underscores(name string) int { return len(name) - len(strings.TrimLeft(name, "_")) }

// BuildID returns the hex GNU build id of f (its NT_GNU_BUILD_ID note), or
// "" when it has none.
func BuildID(f *elf.File) string {
	read := func(data []byte) string {
		for len(data) >= 12 {
			bo := f.ByteOrder
			namesz, descsz, typ := bo.Uint32(data), bo.Uint32(data[4:]), bo.Uint32(data[8:])
			nameEnd := 12 + align4(uint64(namesz))
			descEnd := nameEnd + align4(uint64(descsz))
			if descEnd > uint64(len(data)) {
				return ""
			}
			if typ == 3 && namesz == 4 && string(data[12:15]) == "GNU" { // NT_GNU_BUILD_ID
				return hex.EncodeToString(data[nameEnd : nameEnd+uint64(descsz)])
			}
			data = data[descEnd:]
		}
		return ""
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		if data, err := s.Data(); err == nil {
			if id := read(data); id != "" {
				return id
			}
		}
	}
	// No section headers (the vdso has them, but a file may not): the
	// PT_NOTE segments.
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE || p.Filesz > 1<<20 {
			continue
		}
		data := make([]byte, p.Filesz)
		if _, err := p.ReadAt(data, 0); err == nil {
			if id := read(data); id != "" {
				return id
			}
		}
	}
	return ""
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }
