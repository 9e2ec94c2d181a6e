package profdev

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perfprof/perfprof/internal/testenv"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "perf events on other tasks")
}

// task returns the Task of process pid, a child of ours.
func task(pid int, proc uint64) pidtree.Task {
	return pidtree.Task{TID: pid, TGID: pid, PPID: os.Getpid(), Proc: proc}
}

// finals is a Sink that collects the Finals of a set.
type finals struct {
	mu      sync.Mutex
	started int
	fs      []Final
}

func (f *finals) Started(uint64, pidtree.Task, string) {
	f.mu.Lock()
	f.started++
	f.mu.Unlock()
}

func (f *finals) Ended(x Final) {
	f.mu.Lock()
	f.fs = append(f.fs, x)
	f.mu.Unlock()
}

func (f *finals) all() []Final {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Final(nil), f.fs...)
}

// TestForkLifecycle arms a device on a child process, forks it onto a
// second one, and checks reference counting, live reads and that each
// ends as one Final, with how its task ended.
func TestForkLifecycle(t *testing.T) {
	requireRoot(t)
	specs, err := perfevent.Parse("task-clock,page-faults")
	if err != nil {
		t.Fatal(err)
	}
	var fin finals
	set := NewSet(specs, &fin)
	// Two processes that burn CPU until killed.
	pids := startProcs(t, 2, "/bin/sh", "-c", "while :; do :; done")
	d, err := set.Arm(task(pids[0], 1), "sh", false)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := set.Fork(pidtree.Task{TID: pids[1], TGID: pids[1], PPID: pids[0], Proc: 2, ParentProc: 1}, []pidtree.Device{d})
	if err != nil || len(cs) != 1 {
		t.Fatal(cs, err)
	}
	c := cs[0].(*Dev)
	if !d.Use() || !c.Use() || !c.Use() {
		t.Fatal("Use failed on open devices")
	}
	time.Sleep(50 * time.Millisecond)
	counts := set.Read(nil)
	if len(counts) != 2 || set.Stats().Live != 2 || set.Stats().Opened != 2 {
		t.Fatalf("%d counts, %d live, %d opened; want 2", len(counts), set.Stats().Live, set.Stats().Opened)
	}
	for _, k := range counts {
		if !k.Valid || k.Values[0].Raw == 0 {
			t.Errorf("live reading %+v: want a valid non-zero task-clock", k)
		}
		if k.Comm != "sh" {
			t.Errorf("comm %q, want the parent's", k.Comm)
		}
	}
	// The last Unuse ends the device: out of the live ones, one Final.
	c.Unuse()
	if set.Stats().Live != 2 || len(fin.all()) != 0 {
		t.Error("ended with a reference left")
	}
	c.Unuse()
	if c.Use() || set.Stats().Live != 1 {
		t.Error("still live (or usable) after the last Unuse")
	}
	fs := fin.all()
	if len(fs) != 1 || fs[0].TID != pids[1] || fs[0].Proc != 2 || fs[0].ParentProc != 1 || fs[0].Exited || !fs[0].Valid || fs[0].Values[0].Raw == 0 {
		t.Fatalf("finals %+v: want one, of %d (Proc 2 from 1), let go alive, with counts", fs, pids[1])
	}
	if k := set.Read(nil); len(k) != 1 || k[0].TID != pids[0] {
		t.Errorf("live after one ended: %+v", k)
	}
	renamed := task(pids[0], 1)
	renamed.TID = 1
	set.Exec(renamed, "renamed", []pidtree.Device{d})
	set.Exit(unix.WaitStatus(9), []pidtree.Device{d})
	d.Unuse()
	fs = fin.all()
	if len(fs) != 2 || !fs[1].Exited || fs[1].Status != 9 || fs[1].TID != 1 || fs[1].Comm != "renamed" {
		t.Errorf("after Exec and Exit: %+v", fs[1:])
	}
	if set.Stats().Live != 0 || len(set.Read(nil)) != 0 {
		t.Errorf("%d devices live at the end", set.Stats().Live)
	}
	set.Close()
	if len(fin.all()) != 2 {
		t.Errorf("Close made Finals of devices already ended")
	}
}

// TestForkWithoutParentDevice: a task whose creator has no device (its
// open failed) gets a new one, named after the task.
func TestForkWithoutParentDevice(t *testing.T) {
	requireRoot(t)
	specs, _ := perfevent.Parse("task-clock")
	set := NewSet(specs, nil)
	set.CommOf = func(tid int) string {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", tid))
		return strings.TrimSpace(string(b))
	}
	defer set.Close()
	pids := startProcs(t, 1, "sleep", "60")
	devs, err := set.Fork(task(pids[0], 3), nil)
	if err != nil || len(devs) != 1 {
		t.Fatal(devs, err)
	}
	if k := set.Read(nil); len(k) != 1 || k[0].Comm != "sleep" || k[0].Proc != 3 {
		t.Errorf("reading %+v, want comm sleep and Proc 3", k)
	}
}

// TestCloseEndsLive: Close ends every live device, as let go.
func TestCloseEndsLive(t *testing.T) {
	requireRoot(t)
	specs, _ := perfevent.Parse("task-clock")
	var fin finals
	set := NewSet(specs, &fin)
	for i, pid := range startProcs(t, 3, "sleep", "60") {
		if _, err := set.Arm(task(pid, uint64(i+1)), "sleep", false); err != nil {
			t.Fatal(err)
		}
	}
	set.Close()
	fs := fin.all()
	if len(fs) != 3 || set.Stats().Live != 0 {
		t.Fatalf("finals %+v, %d live", fs, set.Stats().Live)
	}
	for _, f := range fs {
		if f.Exited || !f.Valid {
			t.Errorf("final %+v: want let go, valid", f)
		}
	}
}

func TestOpenFailureCounted(t *testing.T) {
	requireRoot(t)
	specs, _ := perfevent.Parse("task-clock")
	set := NewSet(specs, nil)
	// A task that does not exist: not a failure (it is gone).
	if _, err := set.Arm(pidtree.Task{TID: 1<<22 + 7, TGID: 1<<22 + 7}, "", false); err == nil {
		t.Fatal("opened a counter on a missing task")
	}
	if n := set.Stats().Failures; n != 0 {
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
	set := NewSet(specs, nil)
	pids := startProcs(t, 2, "sleep", "60")
	d, err := set.Arm(task(pids[0], 1), "sleep", false)
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
	zombie := task(pids[1], 2)
	if _, err := set.Fork(zombie, []pidtree.Device{d}); !errors.Is(err, perfevent.ErrNoTask) {
		t.Errorf("Fork onto a zombie: %v, want ErrNoTask", err)
	}
	if _, err := set.Fork(zombie, nil); !errors.Is(err, perfevent.ErrNoTask) {
		t.Errorf("Fork onto a zombie without a parent device: %v, want ErrNoTask", err)
	}
	if st := set.Stats(); st.Failures != 0 {
		t.Errorf("%d failures (%v), want 0", st.Failures, st.FirstErr)
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
	set := NewSet(specs, nil)
	tid := unix.Gettid()
	me := pidtree.Task{TID: tid, TGID: tid, Proc: 1}
	d, err := set.Arm(me, "", false)
	if err != nil {
		b.Fatal(err)
	}
	parent := []pidtree.Device{d}
	b.ReportAllocs()
	for b.Loop() {
		cs, err := set.Fork(me, parent)
		if err != nil {
			b.Fatal(err)
		}
		cs[0].Use()
		cs[0].Unuse()
	}
}

// TestFollowChildrenSeeds: with FollowChildren and two events, Arm seeds
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
		leader, notLeader int // perf fds Arm adds
	}{
		{"task-clock,page-faults", 3, 2},
		{"task-clock", 1, 1},
	} {
		specs, err := perfevent.Parse(tc.events)
		if err != nil {
			t.Fatal(err)
		}
		set := NewSet(specs, nil)
		set.FollowChildren()
		before := perfFDs(t)
		if _, err := set.Arm(pidtree.Task{TID: pid, TGID: pid, PPID: 1}, "sleep", false); err != nil {
			t.Fatal(err)
		}
		afterLeader := perfFDs(t)
		// The same task opened as if it were a thread of another process.
		if _, err := set.Arm(pidtree.Task{TID: pid, TGID: pid + 1, PPID: 1}, "sleep", false); err != nil {
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

// goid returns the calling goroutine's id, from the header of its stack
// ("goroutine 7 [running]:").
func goid() uint64 {
	var b [64]byte
	f := strings.Fields(string(b[:runtime.Stack(b[:], false)]))
	id, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		panic(err)
	}
	return id
}

// goSink records the goroutines on which a set's sinks run.
type goSink struct {
	mu      sync.Mutex
	ended   []uint64        // the goroutine of each Ended
	owner   map[uint64]bool // those of Sample and Flush
	samples int
}

func (g *goSink) Started(uint64, pidtree.Task, string) {}
func (g *goSink) Ended(Final) {
	id := goid()
	g.mu.Lock()
	g.ended = append(g.ended, id)
	g.mu.Unlock()
}
func (g *goSink) Sample(*Sample) { g.onOwner(1) }
func (g *goSink) Flush()         { g.onOwner(0) }
func (g *goSink) Lost(pidtree.Task, uint64) {
	g.onOwner(0)
}
func (g *goSink) onOwner(samples int) {
	id := goid()
	g.mu.Lock()
	g.owner[id] = true
	g.samples += samples
	g.mu.Unlock()
}

// TestEndedGoroutine: Sink.Ended runs where the package doc says. In a
// counting set, on the goroutine that releases the device (Unuse's, then
// Close's); in a sampling set, always on the ring owner's, the goroutine
// of Sample and Flush, whoever releases the device.
func TestEndedGoroutine(t *testing.T) {
	requireRoot(t)
	for _, sampled := range []bool{false, true} {
		t.Run(fmt.Sprint("sampled=", sampled), func(t *testing.T) {
			specs, err := perfevent.Parse("task-clock")
			if err != nil {
				t.Fatal(err)
			}
			g := &goSink{owner: map[uint64]bool{}}
			if sampled {
				if specs, err = perfevent.Sampling(specs, perfevent.SampleOptions{Freq: 999}); err != nil {
					t.Fatal(err)
				}
			}
			set := NewSet(specs, g)
			if sampled {
				if err := set.EnableSampling(SamplingOptions{Sink: g}); err != nil {
					t.Fatal(err)
				}
			}
			pids := startProcs(t, 2, "/bin/sh", "-c", "while :; do :; done")
			var devs []*Dev
			for i, pid := range pids {
				d, err := set.Arm(task(pid, uint64(i+1)), "sh", false)
				if err != nil {
					t.Fatal(err)
				}
				devs = append(devs, d)
			}
			time.Sleep(100 * time.Millisecond)
			me := goid()
			devs[0].Use()
			devs[0].Unuse() // released here
			closer := make(chan uint64)
			go func() {
				id := goid()
				set.Close() // releases the other
				closer <- id
			}()
			other := <-closer
			g.mu.Lock()
			defer g.mu.Unlock()
			if len(g.ended) != 2 {
				t.Fatalf("%d Ended by the time Close returned, want 2", len(g.ended))
			}
			if !sampled {
				if g.ended[0] != me || g.ended[1] != other {
					t.Errorf("Ended on goroutines %v, want %d (Unuse's), then %d (Close's)", g.ended, me, other)
				}
				return
			}
			if len(g.owner) != 1 || g.samples == 0 {
				t.Fatalf("Sample and Flush on goroutines %v, %d samples: want one goroutine, samples", g.owner, g.samples)
			}
			for _, id := range g.ended {
				if !g.owner[id] || id == me || id == other {
					t.Errorf("Ended on goroutine %d, want the ring owner's (%v); Unuse ran on %d, Close on %d", id, g.owner, me, other)
				}
			}
		})
	}
}
