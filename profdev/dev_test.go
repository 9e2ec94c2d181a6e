package profdev

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/perfprof/perfprof/perfevent"
	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("PERFPROF_TEST_STRICT") == "1" {
			t.Fatal("needs root (perf events on other tasks); PERFPROF_TEST_STRICT=1")
		}
		t.Skip("needs root")
	}
}

// TestCloneLifecycle opens a device on a child process, clones it onto a
// second one, and checks reference counting, final reads and the report.
func TestCloneLifecycle(t *testing.T) {
	requireRoot(t)
	specs, err := perfevent.Parse("task-clock,page-faults")
	if err != nil {
		t.Fatal(err)
	}
	set := NewSet(specs)
	// Two processes that burn CPU until killed.
	pids := startProcs(t, 2, "/bin/sh", "-c", "while :; do :; done")
	d, err := set.Open(pids[0], pids[0], os.Getpid(), "sh", false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := d.Clone(pids[1], pids[1], os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !d.Use() || !c.Use() || !c.Use() {
		t.Fatal("Use failed on open devices")
	}
	time.Sleep(50 * time.Millisecond)
	counts := set.Read(nil)
	if len(counts) != 2 || set.Live() != 2 || set.Opened() != 2 {
		t.Fatalf("%d counts, %d live, %d opened; want 2", len(counts), set.Live(), set.Opened())
	}
	for _, k := range counts {
		if !k.Valid || k.Closed || k.Values[0].Raw == 0 {
			t.Errorf("live reading %+v: want a valid non-zero task-clock", k)
		}
		if k.Comm != "sh" {
			t.Errorf("comm %q, want the parent's", k.Comm)
		}
	}
	// The last Unuse closes, with a final reading.
	c.Unuse()
	if c.FD() < 0 {
		t.Error("closed with a reference left")
	}
	c.Unuse()
	if c.FD() >= 0 || c.Use() {
		t.Error("still open (or usable) after the last Unuse")
	}
	final := set.Read(nil)[1].Values[0].Raw
	time.Sleep(20 * time.Millisecond)
	if again := set.Read(nil)[1]; !again.Closed || again.Values[0].Raw != final || final == 0 {
		t.Errorf("closed device: %+v, first final %d; want a fixed non-zero count", again, final)
	}
	d.SetExit(unix.WaitStatus(9))
	d.Rename(1, "renamed")
	d.Unuse()
	k := set.Read(nil)[0]
	if !k.Exited || k.Status != 9 || k.TID != 1 || k.Comm != "renamed" {
		t.Errorf("after SetExit and Rename: %+v", k)
	}
	if set.Live() != 0 {
		t.Errorf("%d devices live at the end", set.Live())
	}
}

func TestOpenFailureCounted(t *testing.T) {
	requireRoot(t)
	specs, _ := perfevent.Parse("task-clock")
	set := NewSet(specs)
	// A task that does not exist: not a failure (it is gone).
	if _, err := set.Open(1<<22+7, 1<<22+7, 1, "", false); err == nil {
		t.Fatal("opened a counter on a missing task")
	}
	if n, _ := set.Failures(); n != 0 {
		t.Errorf("a missing task counted as %d failures", n)
	}
}

// TestCloneOntoExitedTaskNotCounted clones a two-event device onto a
// process that has exited but is not reaped (as a task killed while the
// tracer holds it): the error is ErrNoTask, and no failure is counted.
// (perfevent's TestOpenExitingTask checks that a member open failing with
// another errno on such a task is ErrNoTask too.)
func TestCloneOntoExitedTaskNotCounted(t *testing.T) {
	requireRoot(t)
	specs, err := perfevent.Parse("task-clock,page-faults")
	if err != nil {
		t.Fatal(err)
	}
	set := NewSet(specs)
	pids := startProcs(t, 2, "sleep", "60")
	d, err := set.Open(pids[0], pids[0], os.Getpid(), "sleep", false)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	// pids[1] becomes a zombie: killed, waited for without reaping.
	if err := unix.Kill(pids[1], unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var info unix.Siginfo
	for {
		if err := unix.Waitid(unix.P_PID, pids[1], &info, unix.WEXITED|unix.WNOWAIT, nil); err != unix.EINTR {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if _, err := d.Clone(pids[1], pids[1], pids[0]); !errors.Is(err, perfevent.ErrNoTask) {
		t.Errorf("Clone onto a zombie: %v, want ErrNoTask", err)
	}
	if _, err := set.OpenNew(pids[1], pids[1], pids[0]); !errors.Is(err, perfevent.ErrNoTask) {
		t.Errorf("OpenNew on a zombie: %v, want ErrNoTask", err)
	}
	if n, err := set.Failures(); n != 0 {
		t.Errorf("%d failures (%v), want 0", n, err)
	}
}

func BenchmarkClone(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	specs, _ := perfevent.Parse("task-clock")
	pin, err := perfevent.Pin(specs)
	if err != nil {
		b.Fatal(err)
	}
	defer pin.Close()
	set := NewSet(specs)
	tid := unix.Gettid()
	d, err := set.Open(tid, tid, 0, "", false)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c, err := d.Clone(tid, tid, 0)
		if err != nil {
			b.Fatal(err)
		}
		c.Use()
		c.Unuse()
	}
}

// TestFollowChildrenSeeds: with FollowChildren and two events, Open seeds
// a process leader (one more perf fd) but not a thread, with one event
// nothing, and Close closes the seeds.
func TestFollowChildrenSeeds(t *testing.T) {
	requireRoot(t)
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := cmd.Process.Pid
	for _, tc := range []struct {
		events            string
		leader, notLeader int // perf fds Open adds
	}{
		{"task-clock,page-faults", 3, 2},
		{"task-clock", 1, 1},
	} {
		specs, err := perfevent.Parse(tc.events)
		if err != nil {
			t.Fatal(err)
		}
		set := NewSet(specs)
		set.FollowChildren()
		before := perfFDs(t)
		if _, err := set.Open(pid, pid, 1, "sleep", false); err != nil {
			t.Fatal(err)
		}
		afterLeader := perfFDs(t)
		// The same task opened as if it were a thread of another process.
		if _, err := set.Open(pid, pid+1, 1, "sleep", false); err != nil {
			t.Fatal(err)
		}
		afterThread := perfFDs(t)
		set.Close()
		if got := afterLeader - before; got != tc.leader {
			t.Errorf("%s: a leader took %d perf fds, want %d", tc.events, got, tc.leader)
		}
		if got := afterThread - afterLeader; got != tc.notLeader {
			t.Errorf("%s: a thread took %d perf fds, want %d", tc.events, got, tc.notLeader)
		}
		if after := perfFDs(t); after != before {
			t.Errorf("%s: %d perf fds after Close, %d before", tc.events, after, before)
		}
	}
}

// perfFDs counts this process's perf_event fds.
func perfFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && l == "anon_inode:[perf_event]" {
			n++
		}
	}
	return n
}

// startProcs starts n copies of argv, killed and reaped when t ends, and
// returns their pids.
func startProcs(t *testing.T, n int, argv ...string) []int {
	t.Helper()
	var pids []int
	for range n {
		cmd := exec.Command(argv[0], argv[1:]...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		pids = append(pids, cmd.Process.Pid)
	}
	return pids
}
