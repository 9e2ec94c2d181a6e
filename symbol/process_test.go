package symbol

import (
	"debug/elf"
	"encoding/hex"
	"github.com/perfprof/perfprof/internal/procfs"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// synthetic maps the executable segment of the PIE test program into a
// Process of this test (no such mapping really exists, so the file is
// opened by path) at base, and returns the event and the runtime address
// of hot_function_pie.
func synthetic(t *testing.T, base uint64) (string, MmapEvent, uint64) {
	t.Helper()
	prog := buildC(t, "pie")
	f, err := elf.Open(prog)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var seg *elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 {
			seg = p
		}
	}
	if seg == nil {
		t.Fatalf("%s has no executable PT_LOAD", prog)
	}
	fi, err := os.Stat(prog)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	pgoff := seg.Off &^ 0xfff
	e := MmapEvent{
		Addr:     base,
		Len:      (seg.Off - pgoff + seg.Memsz + 0xfff) &^ 0xfff,
		Pgoff:    pgoff,
		Maj:      uint32(st.Dev >> 8 & 0xfff),
		Min:      uint32(st.Dev&0xff | st.Dev>>12&0xfff00),
		Ino:      st.Ino,
		Prot:     ProtRead | ProtExec,
		Filename: prog,
	}
	hot := elfSym(t, prog, "hot_function_pie")
	return prog, e, base + hot.Value - seg.Vaddr + seg.Off - pgoff
}

func TestMapIncremental(t *testing.T) {
	const base = 0x100000000000
	prog, e, hot := synthetic(t, base)
	c := NewCache()
	p := NewProcess(os.Getpid(), c)
	p.Map(e)
	f := checkFrame(t, p, hot+2, "hot_function_pie", 2)
	if f.Path != prog {
		t.Errorf("path %q, want %q", f.Path, prog)
	}

	// An anonymous mapping over the page of hot_function_pie splits the
	// file's mapping and hides it.
	page := hot &^ 0xfff
	p.Map(MmapEvent{Addr: page, Len: 0x1000, Prot: ProtRead | ProtWrite, Filename: "//anon"})
	if f := p.Symbolize(hot); f.Func != "" || f.Path != "" {
		t.Errorf("after unmapping its page, hot_function_pie symbolizes to %+v", f)
	}
	var want []Mapping
	if page > base {
		want = append(want, Mapping{Mapping: procfs.Mapping{Start: base, End: page, Offset: e.Pgoff}})
	}
	if page+0x1000 < base+e.Len {
		want = append(want, Mapping{Mapping: procfs.Mapping{Start: page + 0x1000, End: base + e.Len, Offset: e.Pgoff + page + 0x1000 - base}})
	}
	got := p.Mappings()
	if len(got) != len(want) {
		t.Fatalf("mappings after the split: %+v, want %+v", got, want)
	}
	for i := range got {
		if got[i].Start != want[i].Start || got[i].End != want[i].End || got[i].Offset != want[i].Offset || got[i].Path != prog {
			t.Errorf("mapping %d after the split: %+v, want %+v", i, got[i], want[i])
		}
	}

	// Mapping the file's page back resolves it again, from the cache.
	loads := c.Loads()
	p.Map(MmapEvent{Addr: page, Len: 0x1000, Pgoff: e.Pgoff + page - base, Maj: e.Maj, Min: e.Min, Ino: e.Ino, Prot: ProtRead | ProtExec, Filename: prog})
	checkFrame(t, p, hot+2, "hot_function_pie", 2)
	if c.Loads() != loads {
		t.Errorf("remapping loaded the table again")
	}
	if n := len(p.Mappings()); n != len(want)+1 {
		t.Errorf("%d mappings, want %d", n, len(want)+1)
	}

	// A munmap of everything, then exec.
	p.Unmap(base, base+e.Len)
	if n := len(p.Mappings()); n != 0 {
		t.Errorf("%d mappings after Unmap", n)
	}
	p.Map(e)
	checkFrame(t, p, hot, "hot_function_pie", 0)
	p.Reset()
	if ms := p.Mappings(); len(ms) != 0 {
		t.Errorf("mappings after Reset: %+v", ms)
	}
	if f := p.Symbolize(hot); f.Func != "" || f.Path != "" {
		t.Errorf("after Reset: %+v", f)
	}
}

// TestMapBuildID checks that a mapping event with a build id finds the
// table in the cache by it, without opening its (here bogus) path.
func TestMapBuildID(t *testing.T) {
	const base = 0x200000000000
	_, e, hot := synthetic(t, base)
	c := NewCache()
	p := NewProcess(os.Getpid(), c)
	p.Map(e)
	f := checkFrame(t, p, hot, "hot_function_pie", 0)
	id, err := hex.DecodeString(f.BuildID)
	if err != nil || len(id) == 0 {
		t.Fatalf("build id %q: %v", f.BuildID, err)
	}
	q := NewProcess(os.Getpid(), c)
	e2 := e
	e2.Maj, e2.Min, e2.Ino, e2.BuildID, e2.Filename = 0, 0, 0, id, "/nonexistent/moved away"
	q.Map(e2)
	f2 := checkFrame(t, q, hot, "hot_function_pie", 0)
	if f2.Path != e2.Filename || f2.BuildID != f.BuildID || c.Loads() != 1 {
		t.Errorf("by build id: %+v, %d loads", f2, c.Loads())
	}

	// An unreadable file resolves to file+offset.
	r := NewProcess(os.Getpid(), c)
	e3 := e
	e3.Filename, e3.Ino = "/nonexistent/gone", 1
	r.Map(e3)
	if err := r.Preload(); err == nil {
		t.Error("Preload of a missing file: no error")
	}
	if f := r.Symbolize(base + 0x10); f.Func != "" || f.Offset != e.Pgoff+0x10 || f.String() != "gone+0x"+strconv.FormatUint(e.Pgoff+0x10, 16) {
		t.Errorf("missing file: %+v (%s)", f, f)
	}
}

// TestTableAliases: among symbols at one address, the one perf report
// names: sized, then global, local, weak, then the fewest leading
// underscores, then the longest name.
func TestTableAliases(t *testing.T) {
	sym := func(name string, bind elf.SymBind, size uint64) rawSym {
		return rawSym{Sym: Sym{Name: name, Addr: 0x100, Size: size}, sized: size > 0, bind: bind, limit: 0x1000}
	}
	for _, c := range []struct {
		raw  []rawSym
		want string
	}{
		{[]rawSym{sym("__memcpy_avx512_unaligned_erms", elf.STB_LOCAL, 8), sym("__memmove_avx512_unaligned_erms", elf.STB_LOCAL, 8)}, "__memmove_avx512_unaligned_erms"},
		{[]rawSym{sym("getpid", elf.STB_WEAK, 8), sym("__getpid", elf.STB_GLOBAL, 8)}, "__getpid"},
		{[]rawSym{sym("weak", elf.STB_WEAK, 8), sym("local", elf.STB_LOCAL, 8)}, "local"},
		{[]rawSym{sym("_IO_printf", elf.STB_GLOBAL, 8), sym("printf", elf.STB_GLOBAL, 8)}, "printf"},
		{[]rawSym{sym("sized", elf.STB_WEAK, 8), sym("unsized", elf.STB_GLOBAL, 0)}, "sized"},
	} {
		if got := reduce(c.raw); len(got) != 1 || got[0].Name != c.want {
			t.Errorf("reduce(%v) = %+v, want %s", c.raw, got, c.want)
		}
	}
}

func TestTableReduce(t *testing.T) {
	raw := []rawSym{
		{Sym: Sym{Name: "_IO_printf", Addr: 0x100, Size: 0x20}, sized: true, bind: elf.STB_GLOBAL, limit: 0x1000},
		{Sym: Sym{Name: "printf", Addr: 0x100, Size: 0x20}, sized: true, bind: elf.STB_GLOBAL, limit: 0x1000},
		{Sym: Sym{Name: "label", Addr: 0x200}, bind: elf.STB_LOCAL, limit: 0x1000},
		{Sym: Sym{Name: "outer", Addr: 0x300, Size: 0x100}, sized: true, bind: elf.STB_GLOBAL, limit: 0x1000},
		{Sym: Sym{Name: "inner", Addr: 0x340, Size: 0x10}, sized: true, bind: elf.STB_LOCAL, limit: 0x1000},
		{Sym: Sym{Name: "last", Addr: 0x800}, bind: elf.STB_GLOBAL, limit: 0x900},
	}
	tab := &Table{syms: reduce(raw)}
	want := []Sym{{"printf", 0x100, 0x20}, {"label", 0x200, 0x100}, {"outer", 0x300, 0x40}, {"inner", 0x340, 0x10}, {"last", 0x800, 0x100}}
	if !reflect.DeepEqual(tab.Syms(), want) {
		t.Fatalf("reduce = %+v, want %+v", tab.Syms(), want)
	}
	for _, tt := range []struct {
		addr uint64
		name string
	}{{0x110, "printf"}, {0x130, ""}, {0x2ff, "label"}, {0x345, "inner"}, {0x360, ""}, {0x8ff, "last"}, {0x900, ""}, {0x50, ""}} {
		s, ok := tab.Lookup(tt.addr)
		if ok != (tt.name != "") || s.Name != tt.name {
			t.Errorf("Lookup(%#x) = %+v, %v; want %q", tt.addr, s, ok, tt.name)
		}
	}
}

// TestProcessSharing: a Process whose mappings are another's shares
// them, and their loaded tables; a change on either side stays its own.
func TestProcessSharing(t *testing.T) {
	c := NewCache()
	parent := NewProcess(os.Getpid(), c)
	if err := parent.LoadMaps(); err != nil {
		t.Fatal(err)
	}
	pc := reflect.ValueOf(TestProcessSharing).Pointer()
	want := parent.Symbolize(uint64(pc))
	if !strings.HasSuffix(want.Func, "TestProcessSharing") {
		t.Fatalf("the parent symbolizes %#x to %+v", pc, want)
	}
	child := NewProcess(os.Getpid(), c) // the same maps: this process's
	if err := child.LoadMapsSharing(parent); err != nil {
		t.Fatal(err)
	}
	if &child.maps[0] != &parent.maps[0] {
		t.Errorf("the child holds a copy of the parent's mappings, not the parent's")
	}
	if got := child.Symbolize(uint64(pc)); got != want {
		t.Errorf("the child symbolizes %#x to %+v, the parent to %+v", pc, got, want)
	}
	var text Mapping
	for _, m := range parent.Mappings() {
		if m.Start <= uint64(pc) && uint64(pc) < m.End {
			text = m
		}
	}
	child.Unmap(text.Start, text.End)
	if got := parent.Symbolize(uint64(pc)); got != want {
		t.Errorf("after the child's unmap, the parent symbolizes %#x to %+v", pc, got)
	}
	if got := child.Symbolize(uint64(pc)); got.Func != "" {
		t.Errorf("after its unmap, the child symbolizes %#x to %+v", pc, got)
	}
	// Mappings that differ are not shared.
	other := NewProcess(os.Getpid(), c)
	if err := other.LoadMapsSharing(child); err != nil {
		t.Fatal(err)
	}
	if len(other.maps) != len(parent.maps) || &other.maps[0] == &child.maps[0] {
		t.Errorf("a process shares the mappings of one that differs")
	}
}

// TestReloadOnMiss: with ReloadOnMiss, an address no mapping holds makes
// the Process read /proc/PID/maps again (at most every reloadGap);
// without, it stays unknown.
func TestReloadOnMiss(t *testing.T) {
	pc := uint64(reflect.ValueOf(TestReloadOnMiss).Pointer())
	for _, reload := range []bool{false, true} {
		p := NewProcess(os.Getpid(), NewCache()) // no mapping yet
		if reload {
			p.ReloadOnMiss()
		}
		f := p.Symbolize(pc)
		if got := strings.HasSuffix(f.Func, "TestReloadOnMiss"); got != reload {
			t.Errorf("reload %v: %#x symbolizes to %+v", reload, pc, f)
		}
		if reload {
			p.Reset() // as an exec: the next miss within reloadGap does not read again
			// The read above counts from its start, and loading this test
			// binary's table after it may outlast the gap (under -race):
			// the last read is now.
			p.mu.Lock()
			p.reloaded = time.Now()
			p.mu.Unlock()
			if f := p.Symbolize(pc); f.Func != "" {
				t.Errorf("a second miss within %v read /proc again: %+v", reloadGap, f)
			}
		}
	}
}
