// Package testenv decides what the tests do on a machine that lacks
// something they need (root, perf events, a tool): they are skipped, or,
// with PERFPROF_TEST_STRICT=1 (as make test and CI set it), they fail, so
// that a missing capability never passes for a success.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Strict reports whether PERFPROF_TEST_STRICT=1: what the tests need must
// be there.
func Strict() bool { return os.Getenv("PERFPROF_TEST_STRICT") == "1" }

// Skip skips t because of why, or fails it when Strict.
func Skip(t testing.TB, why string) {
	t.Helper()
	if Strict() {
		t.Fatalf("%s (PERFPROF_TEST_STRICT=1)", why)
	}
	t.Skip(why)
}

// RequireRoot skips (or fails) t unless it runs as root; need says what
// for.
func RequireRoot(t testing.TB, need string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root ("+need+")")
	}
}

// Tool returns the path of program name, or skips (or fails) t.
func Tool(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Skip(t, name+" is not in $PATH (make setup installs it)")
	}
	return path
}

// RootMain runs m as TestMain of a package whose every test needs root:
// without it, it says why on stderr and exits 0, or 1 when Strict.
func RootMain(m *testing.M, need string) {
	if os.Geteuid() != 0 {
		fmt.Fprintf(os.Stderr, "skipping the tests: they need root (%s)\n", need)
		if Strict() {
			fmt.Fprintln(os.Stderr, "PERFPROF_TEST_STRICT=1: failing")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Cgroup makes a cgroup of the test's own under the cgroup2 hierarchy
// (root needed), removed when the test ends, its processes killed first.
// Without a cgroup2 hierarchy the test is skipped (failed when strict).
func Cgroup(t testing.TB) string {
	t.Helper()
	RequireRoot(t, "making a cgroup")
	b, _ := os.ReadFile("/proc/mounts")
	root := ""
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[2] == "cgroup2" {
			root = f[1]
			break
		}
	}
	if root == "" {
		Skip(t, "no cgroup2 hierarchy is mounted")
	}
	dir := filepath.Join(root, fmt.Sprintf("perfprof-test-%d-%d", os.Getpid(), time.Now().UnixNano()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("make a cgroup: %v", err)
	}
	t.Cleanup(func() {
		os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
		for end := time.Now().Add(5 * time.Second); os.Remove(dir) != nil; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(end) {
				t.Errorf("cannot remove %s", dir)
				return
			}
		}
	})
	return dir
}
