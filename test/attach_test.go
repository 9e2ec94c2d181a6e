package test

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Tests that check timing or signals around a live target; not parallel.

// startTarget starts sigtarget with n worker threads and waits for its
// "ready PID" line.
func startTarget(t *testing.T, n int) (*proc, int) {
	t.Helper()
	tgt := start(t, workload("sigtarget"), strconv.Itoa(n))
	pid := tgt.expectPID("ready", 5*time.Second)
	if pid != tgt.pid() {
		t.Fatalf("sigtarget says ready %d, but its pid is %d", pid, tgt.pid())
	}
	return tgt, pid
}

// waitAllTraced waits until every thread of pid is traced by a thread of
// the process tracer.
func waitAllTraced(t *testing.T, pid, tracer int) {
	t.Helper()
	ok := waitFor(5*time.Second, func() bool {
		for _, tid := range threads(pid) {
			if _, tr := taskState(pid, tid); !threadOf(tr, tracer) {
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("threads of %d not all traced by perfprof (%d) after 5s: %s", pid, tracer, threadStates(pid))
	}
}

func threadStates(pid int) string {
	var s []string
	for _, tid := range threads(pid) {
		st, tr := taskState(pid, tid)
		s = append(s, fmt.Sprintf("%d:%s(tracer %d)", tid, st, tr))
	}
	return strings.Join(s, " ")
}

// stopTarget ends a sigtarget with SIGTERM and checks that it exits 0.
func stopTarget(t *testing.T, tgt *proc) {
	t.Helper()
	tgt.signal(syscall.SIGTERM)
	if code := tgt.wait(5 * time.Second); code != 0 {
		t.Errorf("sigtarget exit status %d after SIGTERM, want 0 (it should have run on unharmed)\nstderr:\n%s", code, tgt.stderr())
	}
	tgt.expect("done ", time.Second)
}

// checkAlive fails the test if the process has ended.
func (p *proc) checkAlive() {
	p.t.Helper()
	select {
	case <-p.done:
		p.t.Fatalf("%s (pid %d) died: %v\nstdout:\n%s\nstderr:\n%s", p.name, p.pid(), p.err, strings.Join(p.out.all(), "\n"), p.stderr())
	case <-time.After(20 * time.Millisecond):
	}
}

// skipToEnd marks every line read so far as consumed.
func (p *proc) skipToEnd() {
	p.out.mu.Lock()
	p.out.next = len(p.out.l)
	p.out.mu.Unlock()
}

func TestAttachDetach(t *testing.T) {
	requires(t)
	tgt, pid := startTarget(t, 2)
	out := reportPath(t)
	pp := start(t, ppBin, "-p", strconv.Itoa(pid), "--json", "-o", out)
	waitAllTraced(t, pid, pp.pid())
	t0 := time.Now()
	for i := 0; i < 20; i++ {
		if err := unix.Kill(pid, unix.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Until(t0.Add(time.Second)))
	pp.signal(os.Interrupt)
	if code := pp.wait(2 * time.Second); code != 0 {
		t.Errorf("perfprof exit status %d after SIGINT, want 0\nstderr:\n%s", code, pp.stderr())
	}
	assertNotStopped(t, pid)
	if _, tr := taskState(pid, pid); tr != 0 {
		t.Errorf("TracerPid of %d is %d after perfprof exited", pid, tr)
	}

	tgt.checkAlive()
	// Every SIGUSR1 sent while traced was delivered, none lost or doubled.
	tgt.skipToEnd()
	tgt.signal(syscall.SIGUSR2)
	line := tgt.expect("usr1 ", 2*time.Second)
	if n, _ := strconv.Atoi(strings.TrimPrefix(line, "usr1 ")); n != 20 {
		t.Errorf("the target counted %d SIGUSR1, want 20", n)
	}
	// It still forks after the detach.
	tgt.expect("created fork ", 2*time.Second)

	rep := readReport(t, out)
	cs := parseCreated(t, tgt.out.all())
	index := map[int]int{} // created pid -> position
	for i, c := range cs {
		index[c.tid] = i
	}
	forks := rep.forksByTID(t)
	final := rep.finalByPID(t)
	exits := rep.exitsByTID()
	if len(forks) < 5 {
		t.Errorf("%d fork records in ~1s of tracing, want >= 5 (sigtarget forks every <= 100 ms)", len(forks))
	}
	first, last := len(cs), -1
	lastExited, firstAlive := -1, len(cs)
	for tid, f := range forks {
		i, ok := index[tid]
		if !ok || cs[i].kind != "fork" || f.Kind != "fork" || f.ParentTID != pid || f.PID != tid {
			t.Errorf("fork record %s does not match a created line of the target", f)
			continue
		}
		first, last = min(first, i), max(last, i)
		r, ok := final[tid]
		if !ok {
			t.Errorf("no counts record for the child %d", tid)
			continue
		}
		if !*r.Exited {
			// Still burning when perfprof let go (a loaded machine
			// stretches its 3 ms): detached alive, so no exit record.
			firstAlive = min(firstAlive, i)
			if e := exits[tid]; len(e) != 0 {
				t.Errorf("child %d: exit records %v, but its counts say it did not exit", tid, e)
			}
			continue
		}
		lastExited = max(lastExited, i)
		if tc := value(t, r, "task-clock"); tc < ms(3) {
			t.Errorf("child %d: task-clock %d ns, want >= %d (it burns 3 ms)", tid, tc, ms(3))
		}
		if e := exits[tid]; len(e) != 1 || e[0].Code == nil || *e[0].Code != 0 {
			t.Errorf("child %d: exit records %v, want one with code 0", tid, e)
		}
	}
	// Only the newest children can have been alive at the detach.
	if firstAlive < lastExited {
		t.Errorf("child %d was reported alive at the detach, but the later child %d had exited", cs[firstAlive].tid, cs[lastExited].tid)
	}
	// No fork in the middle of the traced stretch was missed.
	for i := first + 1; i < last; i++ {
		if _, ok := forks[cs[i].tid]; !ok {
			t.Errorf("fork of %d (between traced forks) has no fork record", cs[i].tid)
		}
	}
	if r, ok := final[pid]; !ok {
		t.Errorf("no counts record for the target %d", pid)
	} else if value(t, r, "task-clock") == 0 || *r.Exited {
		t.Errorf("target: %s, want task-clock > 0 and exited false", r)
	}
	stopTarget(t, tgt)
}

func TestAttachGroupStopped(t *testing.T) {
	requires(t)
	tgt := start(t, workload("stopme"))
	pid := tgt.expectPID("ready", 5*time.Second)
	if !waitFor(2*time.Second, func() bool { st, _ := taskState(pid, pid); return st == "T" }) {
		t.Fatalf("stopme not stopped: %s", stateList([]int{pid}))
	}
	out := reportPath(t)
	t0 := time.Now()
	pp := start(t, ppBin, "-p", strconv.Itoa(pid), "--json", "-o", out)
	waitTracer(t, pid, pp.pid())
	time.Sleep(time.Until(t0.Add(300 * time.Millisecond)))
	if st, _ := taskState(pid, pid); st != "T" && st != "t" {
		t.Errorf("attaching resumed the stopped target: state %s", st)
	}
	pp.signal(os.Interrupt)
	if code := pp.wait(2 * time.Second); code != 0 {
		t.Errorf("perfprof exit status %d after SIGINT, want 0\nstderr:\n%s", code, pp.stderr())
	}
	if st, tr := taskState(pid, pid); st != "T" || tr != 0 {
		t.Errorf("after detach: state %s TracerPid %d, want T (still group-stopped) and 0", st, tr)
	}
	rep := readReport(t, out)
	if _, ok := rep.finalByPID(t)[pid]; !ok || len(rep.final) != 1 {
		t.Errorf("final counts records %v, want one for %d", rep.final, pid)
	}
	tgt.signal(syscall.SIGCONT)
	tgt.expect("resumed", 2*time.Second)
	if code := tgt.wait(5 * time.Second); code != 0 {
		t.Errorf("stopme exit status %d, want 0\nstderr:\n%s", code, tgt.stderr())
	}
}

func TestStopContTraced(t *testing.T) {
	requires(t)
	out := reportPath(t)
	pp := start(t, ppBin, "--json", "-o", out, "--", workload("sigtarget"), "1")
	pid := pp.expectPID("ready", 5*time.Second)
	pp.expect("created fork ", 2*time.Second)

	stopped := func() bool {
		for _, tid := range threads(pid) {
			if st, _ := taskState(pid, tid); st != "T" && st != "t" {
				return false
			}
		}
		return true
	}
	if err := unix.Kill(pid, unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if !waitFor(time.Second, stopped) {
		t.Fatalf("not stopped 1s after SIGSTOP: %s", threadStates(pid))
	}
	time.Sleep(50 * time.Millisecond)
	n := len(parseCreated(t, pp.out.all()))
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if !stopped() {
			t.Fatalf("resumed by itself after SIGSTOP: %s", threadStates(pid))
		}
	}
	if m := len(parseCreated(t, pp.out.all())); m != n {
		t.Errorf("%d forks while stopped", m-n)
	}

	pp.skipToEnd()
	if err := unix.Kill(pid, unix.SIGCONT); err != nil {
		t.Fatal(err)
	}
	pp.expect("created fork ", time.Second)
	if !waitFor(time.Second, func() bool {
		for _, tid := range threads(pid) {
			if st, _ := taskState(pid, tid); st == "T" || st == "t" {
				return false
			}
		}
		return true
	}) {
		t.Errorf("still stopped after SIGCONT: %s", threadStates(pid))
	}

	pp.signal(os.Interrupt)
	code := pp.wait(3 * time.Second)
	pp.waitEOF(2 * time.Second)
	assertGone(t, time.Second, pid)
	rep := readReport(t, out)
	e := rep.exitsByTID()[pid]
	if len(e) != 1 {
		t.Fatalf("exit records for the workload: %v, want 1", e)
	}
	switch {
	case e[0].Signal != nil && code != 128+*e[0].Signal:
		t.Errorf("exit status %d, want %d (the workload died of signal %d)", code, 128+*e[0].Signal, *e[0].Signal)
	case e[0].Code != nil && code != *e[0].Code:
		t.Errorf("exit status %d, want the workload's %d", code, *e[0].Code)
	case code != 137:
		t.Logf("exit status %d (the workload's), not 137", code)
	}
}

func TestDurationAttach(t *testing.T) {
	requires(t)
	tgt, pid := startTarget(t, 1)
	out := reportPath(t)
	pp := start(t, ppBin, "--duration", "300ms", "-p", strconv.Itoa(pid), "--json", "-o", out)
	code := pp.wait(5 * time.Second)
	if code != 0 {
		t.Errorf("exit status %d, want 0\nstderr:\n%s", code, pp.stderr())
	}
	if w := pp.wall(); w < 300*time.Millisecond || w > 2*time.Second {
		t.Errorf("--duration 300ms ran %v", w)
	}
	assertNotStopped(t, pid)
	if !alive(pid) {
		t.Fatalf("the target %d did not survive perfprof --duration", pid)
	}
	rep := readReport(t, out)
	if r, ok := rep.finalByPID(t)[pid]; !ok || *r.Exited || value(t, r, "task-clock") == 0 {
		t.Errorf("target's counts record %v, want exited false and task-clock > 0", r)
	}
	stopTarget(t, tgt)
}

// fdCount counts the open fds of pid.
func fdCount(t *testing.T, pid int) (all, perf int) {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("fds of perfprof: %v", err)
	}
	for _, e := range ents {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); strings.Contains(l, "perf_event") {
			perf++
		}
	}
	return len(ents), perf
}

func TestNoFDGrowth(t *testing.T) {
	requires(t)
	tgt, pid := startTarget(t, 2)
	out := reportPath(t)
	pp := start(t, ppBin, "-p", strconv.Itoa(pid), "-i", "100", "--json", "-o", out)
	waitAllTraced(t, pid, pp.pid())
	t0 := time.Now()
	time.Sleep(time.Until(t0.Add(500 * time.Millisecond)))
	n1, p1 := fdCount(t, pp.pid())
	time.Sleep(time.Until(t0.Add(1400 * time.Millisecond)))
	n2, p2 := fdCount(t, pp.pid())
	time.Sleep(time.Until(t0.Add(1500 * time.Millisecond)))
	pp.signal(os.Interrupt)
	if code := pp.wait(2 * time.Second); code != 0 {
		t.Errorf("exit status %d, want 0\nstderr:\n%s", code, pp.stderr())
	}
	t.Logf("perfprof fds: %d (%d perf) at 0.5s, %d (%d perf) at 1.4s", n1, p1, n2, p2)
	if n2 > n1+3 {
		t.Errorf("perfprof's fds grew from %d to %d (perf_event: %d to %d) while children came and went", n1, n2, p1, p2)
	}
	rep := readReport(t, out)
	if len(rep.forks) < 5 {
		t.Errorf("%d forks in 1.5s, want >= 5", len(rep.forks))
	}
	if *rep.summary.CounterFailures != 0 {
		t.Errorf("counter_failures %d", *rep.summary.CounterFailures)
	}
	assertNotStopped(t, pid)
	stopTarget(t, tgt)
}

// TestAttachTree attaches with --tree to a shell that already runs two
// sigtargets: both, with all their threads, are counted, and all three
// processes are detached unharmed.
func TestAttachTree(t *testing.T) {
	requires(t)
	sh := start(t, "/bin/sh", "-c", workload("sigtarget")+" 1 & "+workload("sigtarget")+" 2 & wait")
	var pids []int
	for len(pids) < 2 {
		pids = append(pids, sh.expectPID("ready", 5*time.Second))
	}
	out := reportPath(t)
	pp := start(t, ppBin, "--tree", "-p", strconv.Itoa(sh.pid()), "--duration", "300ms", "--json", "-o", out)
	if code := pp.wait(5 * time.Second); code != 0 {
		t.Fatalf("exit status %d, want 0\nstderr:\n%s", code, pp.stderr())
	}
	rep := readReport(t, out)
	final := rep.finalByPID(t)
	for _, pid := range append([]int{sh.pid()}, pids...) {
		r, ok := final[pid]
		if !ok {
			t.Errorf("process %d not counted", pid)
			continue
		}
		if *r.Exited {
			t.Errorf("process %d reported exited", pid)
		}
		assertNotStopped(t, pid)
	}
	if r := final[pids[1]]; value(t, r, "task-clock") == 0 {
		t.Errorf("sigtarget %d: no task-clock", pids[1])
	}
	// 1 + 2 + 3 threads attached, plus what the sigtargets forked.
	if n := *rep.summary.TasksFollowed; n < 6 {
		t.Errorf("tasks followed %d, want at least 6", n)
	}
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	if code := sh.wait(5 * time.Second); code != 0 {
		t.Errorf("shell exit status %d after its children ended", code)
	}
}

// TestNoFollowAttach counts a running process without ptrace: the run
// lasts until --duration (not less), the target is never traced, and a
// target that exits ends the run.
func TestNoFollowAttach(t *testing.T) {
	requires(t)
	tgt, pid := startTarget(t, 1)
	out := reportPath(t)
	pp := start(t, ppBin, "--no-follow", "-p", strconv.Itoa(pid), "--duration", "300ms", "--json", "-o", out)
	if code := pp.wait(5 * time.Second); code != 0 {
		t.Fatalf("exit status %d\n%s", code, pp.stderr())
	}
	if w := pp.wall(); w < 300*time.Millisecond {
		t.Errorf("--no-follow --duration 300ms ended after %v", w)
	}
	rep := readReport(t, out)
	if r, ok := rep.finalByPID(t)[pid]; !ok || value(t, r, "task-clock") == 0 {
		t.Errorf("target's counts %v, want task-clock > 0", r)
	}
	stopTarget(t, tgt)

	sleeper := start(t, "/bin/sleep", "0.3")
	pp = start(t, ppBin, "--no-follow", "-p", strconv.Itoa(sleeper.pid()), "-o", os.DevNull)
	if code := pp.wait(5 * time.Second); code != 0 {
		t.Fatalf("exit status %d\n%s", code, pp.stderr())
	}
	if w := pp.wall(); w > 2*time.Second {
		t.Errorf("the run went on %v after a 0.3 s target", w)
	}
}

// TestThreadTarget: -t of a thread that is not its process's leader
// counts that thread alone, reported in its process, with and without
// following.
func TestThreadTarget(t *testing.T) {
	requires(t)
	t.Parallel()
	tgt, pid := startTarget(t, 2)
	var tid int
	for _, id := range threads(pid) {
		if id != pid {
			tid = id
			break
		}
	}
	if tid == 0 {
		t.Fatalf("sigtarget 2 has no thread besides its leader: %s", threadStates(pid))
	}
	for _, mode := range [][]string{nil, {"--no-follow"}} {
		out := reportPath(t)
		args := append([]string{"-t", strconv.Itoa(tid), "--duration", "200ms", "--json", "-o", out, "--per-thread"}, mode...)
		p, code := runPP(t, 10*time.Second, args...)
		if code != 0 {
			t.Fatalf("perfprof %v: status %d\n%s", mode, code, p.stderr())
		}
		rep := readReport(t, out)
		if len(rep.final) != 1 || rep.final[0].TID != tid || rep.final[0].PID != pid || value(t, rep.final[0], "task-clock") == 0 {
			t.Errorf("perfprof %v: final counts %v, want thread %d of process %d, counted", mode, rep.final, tid, pid)
		}
	}
	stopTarget(t, tgt)
}
