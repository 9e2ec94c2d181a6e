package follow

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perfprof/perfprof/internal/testenv"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/runstats"
	"golang.org/x/sys/unix"
)

// These tests run the tracer on the C workloads of scripts/ (built by
// TestMain), with devices that only count their uses.

var bin string // scripts/bin

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		out, err := exec.Command("make", "-s", "-C", "../scripts").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build workloads: %v\n%s", err, out)
			os.Exit(1)
		}
		bin, _ = filepath.Abs("../scripts/bin")
	}
	testenv.RootMain(m, "ptrace of tasks that are not children")
}

// fakeDev counts Use and Unuse.
type fakeDev struct {
	tid          int
	uses, unuses int
}

func (d *fakeDev) Use() bool { d.uses++; return true }
func (d *fakeDev) Unuse()    { d.unuses++ }

// recorder is a Hooks that gives every task a fakeDev.
type recorder struct {
	devs   []*fakeDev
	armed  []pidtree.Task
	forks  []ForkEvent
	noDevs int // forks whose parent had no device
	execs  []ExecEvent
	exitEv []ExitEvent
	exits  map[int]unix.WaitStatus
	died   []int // tasks that ended before their first stop
}

func newRecorder() *recorder { return &recorder{exits: map[int]unix.WaitStatus{}} }

func (r *recorder) dev(tid int) *fakeDev {
	d := &fakeDev{tid: tid}
	r.devs = append(r.devs, d)
	return d
}

func (r *recorder) Fork(ev ForkEvent, parent []pidtree.Device) ([]pidtree.Device, error) {
	r.forks = append(r.forks, ev)
	if len(parent) == 0 {
		r.noDevs++
	}
	return []pidtree.Device{r.dev(ev.TID)}, nil
}

func (r *recorder) Exec(ev ExecEvent, devs []pidtree.Device) { r.execs = append(r.execs, ev) }

func (r *recorder) Exit(ev ExitEvent, devs []pidtree.Device) {
	r.exits[ev.TID] = ev.Status
	r.exitEv = append(r.exitEv, ev)
}

func (r *recorder) Died(ev ForkEvent, ws unix.WaitStatus) {
	r.forks = append(r.forks, ev)
	r.died = append(r.died, ev.TID)
	r.exits[ev.TID] = ws
}

func (r *recorder) arm(task pidtree.Task) ([]pidtree.Device, error) {
	r.armed = append(r.armed, task)
	return []pidtree.Device{r.dev(task.TID)}, nil
}

// checkProcs checks the process identities of a run in which no pid was
// reused: a process has one Proc, given to nothing else, its threads have
// it, and each new process names its creator's as its ParentProc.
func (r *recorder) checkProcs(t *testing.T) {
	t.Helper()
	procOf := map[int]uint64{} // TGID -> Proc
	parentOf := map[int]int{}  // task -> its creator
	seen := map[uint64]int{}   // Proc -> TGID
	note := func(what string, task pidtree.Task) {
		if task.Proc == 0 {
			t.Errorf("%s %+v: no Proc", what, task)
			return
		}
		if p, ok := procOf[task.TGID]; ok && p != task.Proc {
			t.Errorf("%s %+v: process %d had Proc %d", what, task, task.TGID, p)
		}
		if g, ok := seen[task.Proc]; ok && g != task.TGID {
			t.Errorf("%s %+v: Proc %d is process %d's", what, task, task.Proc, g)
		}
		procOf[task.TGID], seen[task.Proc] = task.Proc, task.TGID
	}
	tgidOf := map[int]int{}
	for _, a := range r.armed {
		note("armed", a)
		tgidOf[a.TID] = a.TGID
	}
	for _, f := range r.forks {
		note("fork", f.Task)
		tgidOf[f.TID] = f.TGID
		parentOf[f.TID] = f.ParentTID
	}
	for _, f := range r.forks {
		if f.ParentTID == 0 {
			continue
		}
		pp := procOf[tgidOf[f.ParentTID]]
		switch {
		case f.Thread() && f.Proc != pp:
			t.Errorf("thread %+v: Proc %d, its creator's process has %d", f.Task, f.Proc, pp)
		case !f.Thread() && f.ParentProc != pp:
			t.Errorf("process %+v: ParentProc %d, its creator's process has %d", f.Task, f.ParentProc, pp)
		}
	}
	for _, e := range r.execs {
		note("exec", e.Task)
	}
	for _, e := range r.exitEv {
		note("exit", e.Task)
	}
}

// balanced checks that every device was released exactly once.
func (r *recorder) balanced(t *testing.T) {
	t.Helper()
	for _, d := range r.devs {
		if d.uses != 1 || d.unuses != 1 {
			t.Errorf("device of %d: %d uses, %d unuses; want 1, 1", d.tid, d.uses, d.unuses)
		}
	}
}

// launch runs argv under a new tracer until it ends, capturing its stdout.
func launch(t *testing.T, r *recorder, argv ...string) (Result, []string) {
	t.Helper()
	tr, err := Start(Options{Hooks: r})
	if err != nil {
		t.Fatal(err)
	}
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	// The workload inherits fd 1: point it at the pipe for the launch.
	saved, _ := unix.Dup(1)
	unix.Dup2(int(wr.Fd()), 1)
	_, err = tr.Launch(argv[0], argv, os.Environ(), r.arm)
	unix.Dup2(saved, 1)
	unix.Close(saved)
	wr.Close()
	if err != nil {
		t.Fatal(err)
	}
	lines := make(chan []string)
	go func() {
		var ls []string
		sc := bufio.NewScanner(rd)
		for sc.Scan() {
			ls = append(ls, sc.Text())
		}
		lines <- ls
	}()
	tr.Run()
	select {
	case <-tr.Done():
	case <-time.After(30 * time.Second):
		tr.Stop()
		t.Fatal("tracer did not end in 30s")
	}
	res := tr.Wait()
	r.checkCounts(t, res, tr.RunStats())
	return res, <-lines
}

// checkCounts checks the task figures against the hook calls: one task
// created per Fork or Died, one ended per Died or Exit, and RunStats the
// same as the final Stats.
func (r *recorder) checkCounts(t *testing.T, res Result, rs runstats.Tasks) {
	t.Helper()
	if res.Stats.Forks != len(r.forks) || res.Stats.Ended != len(r.exitEv)+len(r.died) {
		t.Errorf("stats %+v: want %d forks (Fork and Died calls) and %d ended (Exit and Died calls)",
			res.Stats, len(r.forks), len(r.exitEv)+len(r.died))
	}
	want := runstats.Tasks{Followed: res.Stats.Tasks, Created: res.Stats.Forks, Ended: res.Stats.Ended, Left: res.Stats.Left}
	if rs != want {
		t.Errorf("RunStats %+v, want %+v", rs, want)
	}
}

// created returns the TIDs of the workload's "created" lines.
func created(lines []string) map[int]string {
	m := map[int]string{}
	for _, l := range lines {
		var kind string
		var tid, tgid, ptid int
		if n, _ := fmt.Sscanf(l, "created %s %d %d %d", &kind, &tid, &tgid, &ptid); n == 4 {
			m[tid] = kind
		}
	}
	return m
}

func TestLaunchFollowsEveryTask(t *testing.T) {
	tests := []struct {
		name string
		argv []string
	}{
		{"fork tree", []string{bin + "/forktree", "2", "3", "2", "10"}},
		{"thread tree", []string{bin + "/threadtree", "6", "2", "10"}},
		{"posix_spawn and vfork", []string{bin + "/spawn", "10"}},
		{"clone and clone3", []string{bin + "/clone3"}},
		// Grandchildren of the tracer fork here: their children's first
		// stops often come before the parent's event.
		{"forks below a shell", []string{"/bin/sh", "-c", bin + "/forktree 2 4 1 1; true"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecorder()
			res, lines := launch(t, r, tc.argv...)
			if !res.HaveWorkload || !res.Workload.Exited() || res.Workload.ExitStatus() != 0 {
				t.Fatalf("workload status %#x, want exit 0; output %q", uint32(res.Workload), lines)
			}
			want := created(lines)
			if len(want) == 0 {
				t.Fatalf("workload created nothing: %q", lines)
			}
			got := map[int]bool{}
			for _, f := range r.forks {
				got[f.TID] = true
				if kind := want[f.TID]; kind == "thread" != f.Thread() && kind != "" && kind != "clone" {
					t.Errorf("task %d created as %s, reported Thread()=%v", f.TID, kind, f.Thread())
				}
			}
			for tid := range want {
				if !got[tid] {
					t.Errorf("task %d (%s) created but not followed", tid, want[tid])
				}
			}
			if r.noDevs != 0 {
				t.Errorf("%d children forked from a task without devices", r.noDevs)
			}
			if res.Stats.Left != 0 {
				t.Errorf("%d tasks left in the tree", res.Stats.Left)
			}
			if res.Stats.Tasks != len(r.forks)+1 {
				t.Errorf("stats: %d tasks, %d forks seen", res.Stats.Tasks, len(r.forks))
			}
			for _, f := range r.forks {
				if _, ok := r.exits[f.TID]; !ok {
					t.Errorf("task %d never reported its exit", f.TID)
				}
			}
			r.balanced(t)
			r.checkProcs(t)
			t.Logf("%d tasks, child stop first %d times", res.Stats.Tasks, res.Stats.ChildFirst)
		})
	}
}

func TestWorkloadExitStatus(t *testing.T) {
	for _, tc := range []struct {
		script string
		check  func(unix.WaitStatus) bool
	}{
		{"exit 7", func(ws unix.WaitStatus) bool { return ws.Exited() && ws.ExitStatus() == 7 }},
		{"kill -TERM $$", func(ws unix.WaitStatus) bool { return ws.Signaled() && ws.Signal() == unix.SIGTERM }},
	} {
		r := newRecorder()
		res, _ := launch(t, r, "/bin/sh", "-c", tc.script)
		if !res.HaveWorkload || !tc.check(res.Workload) {
			t.Errorf("sh -c %q: status %#x", tc.script, uint32(res.Workload))
		}
		r.balanced(t)
	}
	r := newRecorder()
	res, _ := launch(t, r, "/nonexistent/program")
	if !res.Workload.Exited() || res.Workload.ExitStatus() != 127 {
		t.Errorf("missing program: status %#x, want exit 127", uint32(res.Workload))
	}
}

func TestExecFromThread(t *testing.T) {
	r := newRecorder()
	res, lines := launch(t, r, bin+"/execthread", "20")
	if !res.Workload.Exited() || res.Workload.ExitStatus() != 0 {
		t.Fatalf("status %#x, output %q", uint32(res.Workload), lines)
	}
	if len(r.execs) < 2 {
		t.Errorf("execs %v: want the launch and the thread's exec", r.execs)
	}
	r.checkProcs(t)
	if res.Stats.Left != 0 {
		t.Errorf("%d tasks left", res.Stats.Left)
	}
	r.balanced(t)
}

// startTarget starts a workload that is not traced (a child of the test,
// reaped by the test's own goroutine).
func startTarget(t *testing.T, argv ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "ready ") {
			return cmd, sc
		}
	}
	t.Fatalf("%v did not get ready", argv)
	return nil, nil
}

func procState(t *testing.T, tid int) (state string, tracer string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return "gone", ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "State:"); ok {
			state = strings.Fields(v)[0]
		}
		if v, ok := strings.CutPrefix(l, "TracerPid:"); ok {
			tracer = strings.TrimSpace(v)
		}
	}
	return state, tracer
}

func TestAttachThenDetach(t *testing.T) {
	cmd, sc := startTarget(t, bin+"/sigtarget", "2")
	go func() {
		for sc.Scan() {
		}
	}()
	pid := cmd.Process.Pid
	r := newRecorder()
	tr, err := Start(Options{Hooks: r})
	if err != nil {
		t.Fatal(err)
	}
	a, err := tr.Attach(pid, AttachOptions{}, r.arm)
	if err != nil || a.ArmErr != nil {
		t.Fatal(err, a.ArmErr)
	}
	if len(a.TIDs) != 3 {
		t.Errorf("attached %v, want the 3 threads of sigtarget 2", a.TIDs)
	}
	tr.Run()
	time.Sleep(350 * time.Millisecond) // sigtarget forks every 100 ms
	stopAndWait(t, tr)
	res := tr.Wait()
	if res.Stats.Left != 0 || res.Stats.Forks == 0 {
		t.Errorf("stats %+v: want forks followed and nothing left", res.Stats)
	}
	for _, tid := range a.TIDs {
		if st, tp := procState(t, tid); st == "t" || st == "T" || tp != "0" {
			t.Errorf("task %d after detach: state %s, tracer %s", tid, st, tp)
		}
	}
	r.balanced(t)
	// It still runs: SIGTERM makes it finish cleanly.
	cmd.Process.Signal(unix.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("target after detach: %v", err)
	}
}

func TestDetachKeepsGroupStop(t *testing.T) {
	cmd, _ := startTarget(t, bin+"/stopme")
	pid := cmd.Process.Pid
	deadline := time.Now().Add(2 * time.Second)
	for st, _ := procState(t, pid); st != "T"; st, _ = procState(t, pid) {
		if time.Now().After(deadline) {
			t.Fatalf("stopme never stopped (state %s)", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := newRecorder()
	tr, _ := Start(Options{Hooks: r, Log: logWriter{t}})
	if _, err := tr.Attach(pid, AttachOptions{}, r.arm); err != nil {
		t.Fatal(err)
	}
	tr.Run()
	time.Sleep(100 * time.Millisecond)
	stopAndWait(t, tr)
	// A task detached in group-stop is woken to re-enter the stop: it is
	// R for a moment, then T.
	deadline = time.Now().Add(time.Second)
	st, tp := procState(t, pid)
	for st != "T" && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		st, tp = procState(t, pid)
	}
	if st != "T" || tp != "0" {
		t.Errorf("after detach: state %s tracer %s, want T and 0", st, tp)
	}
	// And it stays stopped.
	time.Sleep(50 * time.Millisecond)
	if st, _ := procState(t, pid); st != "T" {
		t.Errorf("50ms after detach: state %s, want T", st)
	}
	cmd.Process.Signal(syscall.SIGCONT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("stopme after SIGCONT: %v", err)
	}
	r.balanced(t)
}

func TestStopKillsWorkload(t *testing.T) {
	r := newRecorder()
	tr, _ := Start(Options{Hooks: r})
	pid, err := tr.Launch(bin+"/sigtarget", []string{"sigtarget", "2"}, os.Environ(), r.arm)
	if err != nil {
		t.Fatal(err)
	}
	tr.Run()
	time.Sleep(200 * time.Millisecond)
	stopAndWait(t, tr)
	res := tr.Wait()
	if !res.Workload.Signaled() || res.Workload.Signal() != unix.SIGKILL {
		t.Errorf("workload status %#x, want killed by SIGKILL", uint32(res.Workload))
	}
	if st, _ := procState(t, pid); st != "gone" {
		t.Errorf("workload %d still there: %s", pid, st)
	}
	r.balanced(t)
}

func TestAttachErrors(t *testing.T) {
	r := newRecorder()
	tr, _ := Start(Options{Hooks: r})
	defer func() { tr.Run(); tr.Wait() }()
	_, err := tr.Attach(1<<22+1, AttachOptions{}, r.arm)
	var ae *AttachError
	if !errors.As(err, &ae) || ae.Cause != CauseNoProcess || !errors.Is(err, unix.ESRCH) {
		t.Errorf("attach to a missing pid: %v", err)
	}
	// Ourselves, and one of our own threads: say so, not "not permitted".
	for _, tid := range []int{os.Getpid(), unix.Gettid()} {
		_, err := tr.Attach(tid, AttachOptions{Thread: tid != os.Getpid()}, r.arm)
		if !errors.As(err, &ae) || ae.Cause != CauseSelf {
			t.Errorf("attach to our own task %d: %v", tid, err)
		}
	}
}

// TestBothOrders forks from grandchildren of the tracer, where the child's
// first stop and the parent's event come in either order, and checks that
// both orders were seen and handled.
func TestBothOrders(t *testing.T) {
	r := newRecorder()
	res, lines := launch(t, r, "/bin/sh", "-c", bin+"/forktree 2 16 0 0; true")
	if n := len(created(lines)); n != 16+16*16 || len(r.forks) < n {
		t.Fatalf("%d tasks created, %d followed", n, len(r.forks))
	}
	if res.Stats.ChildFirst == 0 || res.Stats.ChildFirst == res.Stats.Forks {
		t.Errorf("child stop first %d of %d forks: want both orders", res.Stats.ChildFirst, res.Stats.Forks)
	}
	r.balanced(t)
}

// logWriter sends the tracer's -v log to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// stopAndWait stops tr and waits (5s at most) for it to end.
func stopAndWait(t *testing.T, tr *Tracer) {
	t.Helper()
	tr.Stop()
	select {
	case <-tr.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Stop did not end the tracer in 5s")
	}
}

// TestStubTasks makes the launch stub create a task after it was seized:
// it is let go, not followed, not counted, and the workload runs normally.
func TestStubTasks(t *testing.T) {
	t.Setenv(stubTasksEnv, "1")
	r := newRecorder()
	res, lines := launch(t, r, bin+"/forktree", "1", "2", "1", "1")
	if !res.Workload.Exited() || res.Workload.ExitStatus() != 0 {
		t.Fatalf("status %#x, output %q", uint32(res.Workload), lines)
	}
	if len(r.forks) != 2 || res.Stats.Tasks != 3 {
		t.Errorf("%d forks reported, %d tasks: want the workload's 2 children and 3 tasks", len(r.forks), res.Stats.Tasks)
	}
	if res.Stats.Forks != 2 {
		t.Errorf("%d forks counted, want the workload's 2 (the stub's is not the workload's)", res.Stats.Forks)
	}
	r.balanced(t)
}

// TestRequestsWhileRunning: once the wait loop runs, the tracer still
// takes requests: Attach of a new process, live Stats, and Close.
func TestRequestsWhileRunning(t *testing.T) {
	r := newRecorder()
	tr, _ := Start(Options{Hooks: r})
	if tr.waker == nil {
		t.Fatal("no waker: requests would each start a process")
	}
	if _, err := tr.Launch(bin+"/sigtarget", []string{"sigtarget", "1"}, nil, r.arm); err != nil {
		t.Fatal(err)
	}
	tr.Run()
	if _, err := tr.Launch("/bin/true", []string{"true"}, nil, r.arm); !errors.Is(err, errTwoWorkloads) {
		t.Errorf("second Launch: %v, want errTwoWorkloads", err)
	}
	// A process started meanwhile, attached while following.
	cmd := exec.Command(bin+"/sigtarget", "2")
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	time.Sleep(50 * time.Millisecond) // its threads exist
	before := tr.Stats()
	a, err := tr.Attach(cmd.Process.Pid, AttachOptions{}, r.arm)
	if err != nil || len(a.TIDs) != 3 {
		t.Fatalf("Attach while running: %v, tids %v (want the 3 threads of sigtarget 2)", err, a.TIDs)
	}
	// Both go on forking (every 100 ms), and Stats sees it live; so does
	// RunStats, from this goroutine, while the tracer counts.
	time.Sleep(350 * time.Millisecond)
	rs := tr.RunStats()
	mid := tr.Stats()
	if rs.Followed < before.Tasks+3+2 || rs.Followed > mid.Tasks || rs.Created > mid.Forks || rs.Ended > mid.Ended || rs.Left != 0 {
		t.Errorf("RunStats while running %+v, stats before %+v and after %+v", rs, before, mid)
	}
	if mid.Tasks < before.Tasks+3+2 || mid.Forks <= before.Forks || mid.Left < 5 {
		t.Errorf("stats before %+v, after attach and 350 ms %+v: want 3 more tasks attached, forks counted, 5 or more followed", before, mid)
	}
	res := tr.Close()
	if !res.Stopped || res.Stats.Left != 0 || !res.HaveWorkload || res.Workload.Signal() != unix.SIGKILL {
		t.Errorf("Close: %+v; want stopped, the workload killed, nothing left", res)
	}
	// The attached process is let go, alive.
	if st, tp := procState(t, cmd.Process.Pid); st == "t" || st == "T" || st == "Z" || tp != "0" {
		t.Errorf("attached process after Close: state %s, tracer %s", st, tp)
	}
	if _, err := tr.Attach(cmd.Process.Pid, AttachOptions{}, r.arm); !errors.Is(err, errEnded) {
		t.Errorf("Attach after the end: %v, want errEnded", err)
	}
	if s := tr.Stats(); s != res.Stats {
		t.Errorf("Stats after the end %+v, want the final %+v", s, res.Stats)
	}
	r.checkCounts(t, res, tr.RunStats())
	r.balanced(t)
	r.checkProcs(t)
}

// BenchmarkRequest is the time a request takes to be served while the
// tracer follows a fork storm (a shell starting /bin/true in a loop): with
// the waker, and with a process started per request as before it.
func BenchmarkRequest(b *testing.B) {
	for _, mode := range []string{"waker", "process-per-request"} {
		b.Run(mode, func(b *testing.B) {
			r := newRecorder()
			tr, _ := Start(Options{Hooks: r})
			if mode != "waker" {
				tr.waker.dead.Store(true)
			}
			if _, err := tr.Launch("/bin/sh", []string{"sh", "-c", "while :; do /bin/true; done"}, nil, r.arm); err != nil {
				b.Fatal(err)
			}
			tr.Run()
			defer tr.Close()
			time.Sleep(100 * time.Millisecond)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				tr.Stats()
				lat = append(lat, time.Since(t0))
				time.Sleep(time.Millisecond) // the storm goes on between requests
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "µs-median")
			b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds()), "µs-p90")
		})
	}
}

// TestLinger: a lingering tracer runs with no task, attaches a target
// while it runs, goes on when that target has ended (its children may
// live on), and ends at Stop.
func TestLinger(t *testing.T) {
	r := newRecorder()
	tr, err := Start(Options{Hooks: r, Linger: true})
	if err != nil {
		t.Fatal(err)
	}
	tr.Run()
	select {
	case <-tr.Done():
		t.Fatal("a lingering tracer ended with no task")
	case <-time.After(100 * time.Millisecond):
	}
	cmd, sc := startTarget(t, bin+"/sigtarget", "1")
	go func() {
		for sc.Scan() {
		}
	}()
	a, err := tr.Attach(cmd.Process.Pid, AttachOptions{}, r.arm)
	if err != nil || a.ArmErr != nil {
		t.Fatal(err, a.ArmErr)
	}
	time.Sleep(250 * time.Millisecond) // sigtarget forks every 100 ms
	// Not cmd.Wait: the test is the target's parent and its tracer's
	// process, and a wait of its own would take the exit from the tracer.
	cmd.Process.Signal(unix.SIGTERM)
	for end := time.Now().Add(5 * time.Second); tr.Stats().Left > 0 && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	if left := tr.Stats().Left; left > 0 {
		t.Fatalf("%d tasks still followed 5 s after the target ended", left)
	}
	time.Sleep(100 * time.Millisecond)
	select {
	case <-tr.Done():
		t.Fatal("a lingering tracer ended when its last task did")
	default:
	}
	if st := tr.Stats(); st.Forks == 0 || st.Exits == 0 {
		t.Errorf("stats %+v: want forks and exits followed", st)
	}
	stopAndWait(t, tr)
	r.balanced(t)
}

// TestAttachCauses gives each Cause of a refused attach its real case,
// and checks the short message of each.
func TestAttachCauses(t *testing.T) {
	r := newRecorder()
	tr, _ := Start(Options{Hooks: r})
	defer func() { tr.Close() }()
	attach := func(pid int, thread bool) *AttachError {
		t.Helper()
		_, err := tr.Attach(pid, AttachOptions{Thread: thread}, r.arm)
		var ae *AttachError
		if !errors.As(err, &ae) {
			t.Fatalf("Attach(%d): %v, want an *AttachError", pid, err)
		}
		return ae
	}

	// A zombie: a child killed and not reaped.
	cmd := exec.Command(bin+"/sigtarget", "0")
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	zpid := cmd.Process.Pid
	cmd.Process.Kill()
	var info unix.Siginfo
	for unix.Waitid(unix.P_PID, zpid, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
	}
	defer cmd.Wait()

	// A process another tracer holds.
	other, _ := Start(Options{Hooks: newRecorder()})
	defer func() { other.Close() }()
	held, sc := startTarget(t, bin+"/sigtarget", "0")
	go func() {
		for sc.Scan() {
		}
	}()
	if _, err := other.Attach(held.Process.Pid, AttachOptions{}, r.arm); err != nil {
		t.Fatal(err)
	}
	tracer, _ := strconv.Atoi(func() string { _, tp := procState(t, held.Process.Pid); return tp }())

	for _, tc := range []struct {
		name   string
		pid    int
		thread bool
		cause  Cause
		errno  error
		msg    string
	}{
		{"missing", 1<<22 + 1, false, CauseNoProcess, unix.ESRCH, fmt.Sprintf("attach to %d: no such process", 1<<22+1)},
		{"itself", os.Getpid(), false, CauseSelf, unix.EPERM, fmt.Sprintf("attach to %d: perfprof's own process", os.Getpid())},
		{"zombie", zpid, false, CauseZombie, unix.EPERM, fmt.Sprintf("attach to %d: zombie", zpid)},
		{"kernel thread", 2, true, CauseNotPermitted, unix.EPERM, "attach to 2: not permitted"},
		{"traced", held.Process.Pid, false, CauseTraced, unix.EPERM,
			fmt.Sprintf("attach to %d: already traced by process %d", held.Process.Pid, tracer)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "kernel thread" && Comm(2) != "kthreadd" {
				t.Skipf("task 2 is %q, not kthreadd", Comm(2))
			}
			if tc.name == "traced" && tracer == os.Getpid() {
				// The other tracer's thread is the main thread: that is
				// perfprof itself to the tracer.
				t.Skip("the other tracer runs on the main thread")
			}
			ae := attach(tc.pid, tc.thread)
			if ae.Cause != tc.cause || ae.PID != tc.pid || !errors.Is(ae, tc.errno) || ae.Error() != tc.msg {
				t.Errorf("%+v (%q), want cause %v, errno %v, %q", ae, ae.Error(), tc.cause, tc.errno, tc.msg)
			}
			if tc.cause == CauseTraced && (ae.TracerPID != tracer || ae.TracerComm != Comm(tracer)) {
				t.Errorf("tracer %d %q, want %d %q", ae.TracerPID, ae.TracerComm, tracer, Comm(tracer))
			}
		})
	}
}
