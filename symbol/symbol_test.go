package symbol

import (
	"debug/elf"
	"github.com/perfprof/perfprof/internal/procfs"
	"io"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/perfprof/perfprof/internal/testenv"
)

func TestParseMapsLine(t *testing.T) {
	tests := []struct {
		line string
		want Mapping
	}{
		{"55d4c2a00000-55d4c2a01000 r-xp 00001000 08:01 1234567                    /usr/bin/my app (deleted)",
			Mapping{Mapping: procfs.Mapping{Start: 0x55d4c2a00000, End: 0x55d4c2a01000, Prot: ProtRead | ProtExec, Offset: 0x1000, Major: 8, Minor: 1, Inode: 1234567, Path: "/usr/bin/my app", Deleted: true}}},
		{"7f0000000000-7f0000021000 rw-s 00000000 fd:1a 42 /dev/shm/a  b",
			Mapping{Mapping: procfs.Mapping{Start: 0x7f0000000000, End: 0x7f0000021000, Prot: ProtRead | ProtWrite, Shared: true, Major: 0xfd, Minor: 0x1a, Inode: 42, Path: "/dev/shm/a  b"}}},
		{"7ffd1a1f0000-7ffd1a1f2000 r-xp 00000000 00:00 0                          [vdso]",
			Mapping{Mapping: procfs.Mapping{Start: 0x7ffd1a1f0000, End: 0x7ffd1a1f2000, Prot: ProtRead | ProtExec, Path: "[vdso]"}}},
		{"5555d000-5557e000 rw-p 00000000 00:00 0                                  [heap]",
			Mapping{Mapping: procfs.Mapping{Start: 0x5555d000, End: 0x5557e000, Prot: ProtRead | ProtWrite, Path: "[heap]"}}},
		{"7ffc0000-7ffc1000 rw-p 00000000 00:00 0                          [stack]",
			Mapping{Mapping: procfs.Mapping{Start: 0x7ffc0000, End: 0x7ffc1000, Prot: ProtRead | ProtWrite, Path: "[stack]"}}},
		{"7f1e00000000-7f1e00021000 ---p 00000000 00:00 0 ",
			Mapping{Mapping: procfs.Mapping{Start: 0x7f1e00000000, End: 0x7f1e00021000}}},
		{"7f1e00000000-7f1e00021000 rw-p 00000000 00:00 0",
			Mapping{Mapping: procfs.Mapping{Start: 0x7f1e00000000, End: 0x7f1e00021000, Prot: ProtRead | ProtWrite}}},
	}
	for _, tt := range tests {
		got, err := ParseMapsLine(tt.line)
		if err != nil {
			t.Errorf("%q: %v", tt.line, err)
			continue
		}
		if got.Start != tt.want.Start || got.End != tt.want.End || got.Prot != tt.want.Prot || got.Shared != tt.want.Shared ||
			got.Offset != tt.want.Offset || got.Major != tt.want.Major || got.Minor != tt.want.Minor || got.Inode != tt.want.Inode ||
			got.Path != tt.want.Path || got.Deleted != tt.want.Deleted {
			t.Errorf("%q:\n got %+v\nwant %+v", tt.line, got, tt.want)
		}
	}
	for _, m := range []Mapping{tests[2].want, tests[3].want, tests[5].want} {
		if !m.Anonymous() {
			t.Errorf("%q is not anonymous", m.Path)
		}
	}
	if tests[0].want.Anonymous() {
		t.Errorf("a file mapping is anonymous")
	}
	for _, bad := range []string{"", "zz-10 r-xp 0 00:00 0", "10-20 r-x 0 00:00 0", "10-20 r-xp 0 0000 0", "20-10 r-xp 0 00:00 0", "10-20 r-xp 0 00:00 x"} {
		if _, err := ParseMapsLine(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestReadMapsSelf(t *testing.T) {
	ms, err := ReadMaps(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for i, m := range ms {
		if i > 0 && m.Start < ms[i-1].End {
			t.Errorf("mapping %d overlaps the one before", i)
		}
		if m.Exec() && m.Path == exe {
			found = true
		}
	}
	if !found {
		t.Errorf("no executable mapping of %s in %+v", exe, ms)
	}
	if _, err := ReadMaps(-1); err == nil || !strings.Contains(err.Error(), "maps") {
		t.Errorf("ReadMaps(-1) = %v, want an error naming maps", err)
	}
}

// checkFrame checks that p symbolizes addr to fn+off.
func checkFrame(t *testing.T, p *Process, addr uint64, fn string, off uint64) Frame {
	t.Helper()
	f := p.Symbolize(addr)
	if f.Func != fn || f.Offset != off || f.Kernel {
		t.Errorf("Symbolize(%#x) = %+v (%s), want %s+%#x", addr, f, f, fn, off)
	}
	return f
}

func TestSymbolizeC(t *testing.T) {
	for _, variant := range []string{"pie", "static"} {
		t.Run(variant, func(t *testing.T) {
			prog := buildC(t, variant)
			typ := elf.ET_DYN
			if variant == "static" {
				typ = elf.ET_EXEC
			}
			if f, err := elf.Open(prog); err != nil {
				t.Fatal(err)
			} else if f.Close(); f.Type != typ {
				t.Fatalf("%s is %v, want %v", prog, f.Type, typ)
			}
			size := elfSym(t, prog, "hot_function_pie").Size
			s := start(t, prog, 2)
			p := NewProcess(s.cmd.Process.Pid, NewCache())
			if err := p.LoadMaps(); err != nil {
				t.Fatal(err)
			}
			hot, getpid := s.addrs[0], s.addrs[1]
			f := checkFrame(t, p, hot, "hot_function_pie", 0)
			if f.Path != prog || f.BuildID == "" {
				t.Errorf("frame %+v: want path %s and a build id", f, prog)
			}
			checkFrame(t, p, hot+size/2, "hot_function_pie", size/2)
			checkFrame(t, p, hot+size-1, "hot_function_pie", size-1)
			if f := p.Symbolize(getpid); !strings.Contains(f.Func, "getpid") || f.Offset != 0 {
				t.Errorf("getpid at %#x symbolizes to %+v", getpid, f)
			} else {
				t.Logf("getpid: %s in %s", f, f.Path)
			}
			if f := p.Symbolize(8); f.Func != "" || f.Path != "" || f.String() != "[unknown]" {
				t.Errorf("address 8 symbolizes to %+v", f)
			}
		})
	}
}

func TestSymbolizeGoStripped(t *testing.T) {
	prog := buildGo(t)
	ef, err := elf.Open(prog)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ef.Symbols()
	ef.Close()
	if err == nil {
		t.Fatalf("%s has a .symtab: -ldflags=-s did not strip it", prog)
	}
	s := start(t, prog, 1)
	c := NewCache()
	p := NewProcess(s.cmd.Process.Pid, c)
	if err := p.LoadMaps(); err != nil {
		t.Fatal(err)
	}
	checkFrame(t, p, s.addrs[0], "main.hotGo", 0)
	checkFrame(t, p, s.addrs[0]+3, "main.hotGo", 3)
	tab, err := c.Table(p.PID(), &p.Mappings()[0])
	if err != nil {
		t.Fatal(err)
	}
	if tab.Source != "gopclntab" {
		t.Errorf("table source %q, want gopclntab", tab.Source)
	}
}

func TestSymbolizeDeleted(t *testing.T) {
	testenv.RequireRoot(t, "/proc/PID/map_files")
	src := buildC(t, "pie")
	prog := t.TempDir() + "/deleted prog"
	copyFile(t, src, prog)
	s := start(t, prog, 2)
	if err := os.Remove(prog); err != nil {
		t.Fatal(err)
	}
	p := NewProcess(s.cmd.Process.Pid, NewCache())
	if err := p.LoadMaps(); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range p.Mappings() {
		if m.Path == prog {
			found = true
			if !m.Deleted {
				t.Errorf("mapping %+v not marked deleted", m)
			}
		}
	}
	if !found {
		t.Fatalf("no mapping of %q in %+v", prog, p.Mappings())
	}
	f := checkFrame(t, p, s.addrs[0]+1, "hot_function_pie", 1)
	if f.Path != prog {
		t.Errorf("path %q, want %q", f.Path, prog)
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCacheShared(t *testing.T) {
	prog := buildC(t, "pie")
	c := NewCache()
	var tables []*Table
	for range 2 {
		s := start(t, prog, 2)
		p := NewProcess(s.cmd.Process.Pid, c)
		if err := p.LoadMaps(); err != nil {
			t.Fatal(err)
		}
		if err := p.Preload(); err != nil {
			t.Errorf("preload: %v", err)
		}
		checkFrame(t, p, s.addrs[0], "hot_function_pie", 0)
		for _, m := range p.Mappings() {
			if m.Path == prog {
				tab, err := c.Table(p.PID(), &m)
				if err != nil {
					t.Fatal(err)
				}
				tables = append(tables, tab)
			}
		}
		if len(tables) == 1 {
			// The second process loads nothing new.
			defer func(n int64) {
				if got := c.Loads(); got != n {
					t.Errorf("second process: %d loads, want %d", got, n)
				}
			}(c.Loads())
		}
	}
	if len(tables) < 2 || tables[0] != tables[len(tables)-1] {
		t.Errorf("the two processes have different tables for %s", prog)
	}
}

// TestConcurrent symbolizes from many goroutines, in processes that share
// a cache, while mappings change (run with -race).
func TestConcurrent(t *testing.T) {
	const base = 0x300000000000
	_, e, hot := synthetic(t, base)
	c := NewCache()
	var wg sync.WaitGroup
	for i := range 8 {
		p := NewProcess(os.Getpid(), c)
		p.Map(e)
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 200 {
					if f := p.Symbolize(hot); f.Func != "hot_function_pie" && f.Func != "" {
						t.Errorf("goroutine %d: %+v", i, f)
					}
					if j%50 == 0 {
						p.Map(e)
					}
				}
			}()
		}
	}
	wg.Wait()
	if c.Loads() != 1 {
		t.Errorf("%d loads, want 1", c.Loads())
	}
}

// TestReadExecMaps: readMaps(pid, true) gives the executable mappings of ReadMaps, no other.
func TestReadExecMaps(t *testing.T) {
	all, err := ReadMaps(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	var want []Mapping
	for _, m := range all {
		if m.Exec() {
			want = append(want, m)
		}
	}
	got, err := readMaps(os.Getpid(), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("readMaps(pid, true):\n%v\nwant the executable ones of ReadMaps:\n%v", got, want)
	}
}
