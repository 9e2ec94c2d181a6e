package perfevent

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/perfprof/perfprof/internal/testenv"
)

func TestMain(m *testing.M) {
	before := perfFDs()
	code := m.Run()
	if after := perfFDs(); code == 0 && after != before {
		fmt.Fprintf(os.Stderr, "leaked perf_event fds: %d open before the tests, %d after\n", before, after)
		code = 1
	}
	os.Exit(code)
}

// perfFDs counts this process's perf_event fds.
func perfFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && l == "anon_inode:[perf_event]" {
			n++
		}
	}
	return n
}

// capability is something a test needs from the machine. check returns ""
// when it is there, or why not.
type capability struct {
	name  string
	check func() string
}

var (
	root = capability{"root", func() string {
		if os.Geteuid() != 0 {
			return "not running as root"
		}
		return ""
	}}
	swPMU = capability{"software events", func() string {
		s, err := Parse("task-clock")
		if err != nil {
			return err.Error()
		}
		if err := Probe(s); err != nil {
			return err.Error()
		}
		return ""
	}}
	tracefs = capability{"tracefs", func() string {
		if _, err := TracepointID("sched", "sched_switch"); err != nil {
			return err.Error()
		}
		return ""
	}}
)

// requires skips t unless every capability is there. With
// PERFPROF_TEST_STRICT=1 (CI, root) a missing capability fails the test.
func requires(t testing.TB, caps ...capability) {
	t.Helper()
	for _, c := range caps {
		if why := c.check(); why != "" {
			testenv.Skip(t, "requires "+c.name+": "+why)
		}
	}
}
