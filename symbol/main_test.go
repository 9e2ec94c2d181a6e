package symbol

import (
	"bufio"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/perfprof/perfprof/internal/testenv"
)

// builds caches the test programs, built once per test binary.
var builds struct {
	sync.Mutex
	dir  string
	done map[string]string
	errs map[string]string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "symbol-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	builds.dir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// buildC compiles testdata/hot.c with the extra cc flags of variant
// ("pie": -fPIE -pie; "static": -static -no-pie) and returns the
// program's path, or skips t when the toolchain lacks what it needs.
func buildC(t testing.TB, variant string) string {
	t.Helper()
	cc := testenv.Tool(t, "cc")
	return build(t, variant, func(out string) *exec.Cmd {
		args := []string{"-O2", "-g0", "-o", out, "testdata/hot.c"}
		switch variant {
		case "pie":
			args = append(args, "-fPIE", "-pie")
		case "static":
			args = append(args, "-static", "-no-pie")
		}
		return exec.Command(cc, args...)
	}, func(msg string) string {
		if variant == "static" && strings.Contains(msg, "-lc") {
			return "static glibc is missing (install libc6-dev, which has libc.a): " + msg
		}
		return ""
	})
}

// buildGo builds testdata/hotgo stripped (-ldflags=-s: no .symtab).
func buildGo(t testing.TB) string {
	t.Helper()
	goTool := testenv.Tool(t, "go")
	return build(t, "go", func(out string) *exec.Cmd {
		cmd := exec.Command(goTool, "build", "-ldflags=-s", "-o", out, "main.go")
		cmd.Dir = "testdata/hotgo"
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		return cmd
	}, func(string) string { return "" })
}

func build(t testing.TB, name string, cmdFor func(out string) *exec.Cmd, skipWhy func(string) string) string {
	t.Helper()
	builds.Lock()
	defer builds.Unlock()
	if builds.done == nil {
		builds.done, builds.errs = map[string]string{}, map[string]string{}
	}
	if p, ok := builds.done[name]; ok {
		return p
	}
	if why, ok := builds.errs[name]; ok {
		testenv.Skip(t, why)
	}
	out := filepath.Join(builds.dir, "hot-"+name)
	b, err := cmdFor(out).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(b)) + ": " + err.Error()
		if why := skipWhy(msg); why != "" {
			builds.errs[name] = why
			testenv.Skip(t, why)
		}
		t.Fatalf("build %s: %s", name, msg)
	}
	builds.done[name] = out
	return out
}

// started is a running test program and the addresses it printed.
type started struct {
	cmd   *exec.Cmd
	addrs []uint64
}

// start runs prog, reads the n addresses it prints and registers its end
// (closing its stdin) with t.Cleanup.
func start(t testing.TB, prog string, n int) *started {
	t.Helper()
	cmd := exec.Command(prog)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", prog, err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	s := &started{cmd: cmd}
	r := bufio.NewReader(stdout)
	for range n {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%s: read its addresses: %v", prog, err)
		}
		a, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(line), "0x"), 16, 64)
		if err != nil {
			t.Fatalf("%s printed %q: %v", prog, line, err)
		}
		s.addrs = append(s.addrs, a)
	}
	go io.Copy(io.Discard, stdout)
	return s
}

// elfSym returns the symbol named name in the .symtab of the file at path.
func elfSym(t testing.TB, path, name string) elf.Symbol {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for _, s := range syms {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("%s has no symbol %s", path, name)
	return elf.Symbol{}
}
