package symbol

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/perfprof/perfprof/internal/testenv"
)

// strippedWithDebug copies the PIE test program into dir, moves its
// .symtab into a separate debug file (objcopy --only-keep-debug, strip,
// --add-gnu-debuglink, as distributions do), and returns the program, the
// debug file and the program's build id. The debug file is named
// debugName, in dir.
func strippedWithDebug(t *testing.T, dir, debugName string) (prog, debug, id string) {
	t.Helper()
	objcopy, strip := testenv.Tool(t, "objcopy"), testenv.Tool(t, "strip")
	src, err := os.ReadFile(buildC(t, "pie"))
	if err != nil {
		t.Fatal(err)
	}
	prog, debug = filepath.Join(dir, "hot"), filepath.Join(dir, debugName)
	if err := os.WriteFile(prog, src, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{
		{objcopy, "--only-keep-debug", prog, debug},
		{strip, "--strip-all", prog},
		{objcopy, "--add-gnu-debuglink=" + debug, prog},
	} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
	}
	ef, err := elf.Open(prog)
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	if ef.Section(".symtab") != nil {
		t.Fatalf("%s keeps a .symtab after strip", prog)
	}
	return prog, debug, BuildID(ef)
}

// TestSymbolizeDebugFile: a stripped program's own functions resolve
// through its separate debug file, found by .gnu_debuglink next to it or
// by build id under DebugDirs; without one they do not.
func TestSymbolizeDebugFile(t *testing.T) {
	symbolize := func(t *testing.T, prog string) (Frame, *Table) {
		t.Helper()
		s := start(t, prog, 2)
		c := NewCache()
		p := NewProcess(s.cmd.Process.Pid, c)
		if err := p.LoadMaps(); err != nil {
			t.Fatal(err)
		}
		f := p.Symbolize(s.addrs[0])
		var tab *Table
		for _, m := range p.Mappings() {
			if m.Path == prog {
				if tab, _ = c.Table(p.PID(), &m); tab != nil {
					break
				}
			}
		}
		return f, tab
	}
	t.Run("debuglink", func(t *testing.T) {
		prog, _, _ := strippedWithDebug(t, t.TempDir(), "hot.debug")
		f, tab := symbolize(t, prog)
		if f.Func != "hot_function_pie" || f.Offset != 0 {
			t.Errorf("Symbolize = %+v (%s), want hot_function_pie, from hot.debug next to the program", f, f)
		}
		if tab == nil || tab.Source != "debug+dynsym" {
			t.Errorf("table %+v: want source debug+dynsym", tab)
		}
	})
	t.Run("build-id", func(t *testing.T) {
		dir, debugDir := t.TempDir(), t.TempDir()
		prog, debug, id := strippedWithDebug(t, dir, "elsewhere.debug")
		if id == "" {
			t.Skip("the compiler wrote no build id")
		}
		link := filepath.Join(debugDir, ".build-id", id[:2], id[2:]+".debug")
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		// Not where the debug link points: found by build id alone.
		if err := os.Rename(debug, link); err != nil {
			t.Fatal(err)
		}
		saved := DebugDirs
		DebugDirs = []string{debugDir}
		defer func() { DebugDirs = saved }()
		if f, _ := symbolize(t, prog); f.Func != "hot_function_pie" {
			t.Errorf("Symbolize = %+v (%s), want hot_function_pie, from %s", f, f, link)
		}
	})
	t.Run("none", func(t *testing.T) {
		dir := t.TempDir()
		prog, debug, _ := strippedWithDebug(t, dir, "hot.debug")
		os.Remove(debug)
		if f, _ := symbolize(t, prog); f.Func == "hot_function_pie" {
			t.Errorf("Symbolize = %+v: resolved with no debug file", f)
		}
	})
}

// TestDebugLinkCRC: a debug file found by its link alone, for a file
// without a build id, must have the link's CRC.
func TestDebugLinkCRC(t *testing.T) {
	objcopy := testenv.Tool(t, "objcopy")
	dir := t.TempDir()
	prog, debug, _ := strippedWithDebug(t, dir, "hot.debug")
	// Drop the build ids: the link's CRC is all that ties them.
	for _, f := range []string{prog, debug} {
		if out, err := exec.Command(objcopy, "--remove-section=.note.gnu.build-id", f).CombinedOutput(); err != nil {
			t.Fatalf("objcopy: %v\n%s", err, out)
		}
	}
	open := func() *elf.File {
		ef, err := elf.Open(prog)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ef.Close() })
		return ef
	}
	// The link was made before the debug file lost its build id: its CRC
	// no longer matches; relinked, it does.
	if df, _ := openDebug(open(), "", prog); df != nil {
		df.Close()
		t.Errorf("a debug file whose CRC is not the link's was taken")
	}
	exec.Command(objcopy, "--remove-section=.gnu_debuglink", prog).Run()
	if out, err := exec.Command(objcopy, "--add-gnu-debuglink="+debug, prog).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	df, ef := openDebug(open(), "", prog)
	if df == nil {
		t.Fatalf("the debug file of the link's CRC was not found")
	}
	df.Close()
	if ef.Section(".symtab") == nil {
		t.Errorf("the debug file has no .symtab")
	}
}
