package test

// Reliability conformance suite: the edge cases of ptrace following and
// of every way a run can end (docs/reliability.md maps each guarantee to
// its test). Cases that other tests in this package already cover are not
// repeated here; docs/reliability.md names those tests.
//
// The fork-storm soak (20,000 tasks) runs only with PERFPROF_SOAK=1:
//
//	PERFPROF_SOAK=1 go test -run Soak -timeout 30m ./test/

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perfprof/perfprof/internal/testenv"
	"golang.org/x/sys/unix"
)

// Case 1: the parent's fork event and the child's first stop come in
// either order when the forking task is not perfprof's own child. Run
// the creators below a shell (grandchildren of perfprof) with CPU hogs
// competing for the two CPUs.
func TestConformanceForkOrder(t *testing.T) {
	requires(t)
	startHogs(t, 2)
	for _, tc := range []struct {
		name      string
		script    string
		perThread bool
		verbose   bool
		min       int // created lines, at least
	}{
		// 16 + 256 processes, created as fast as fork goes.
		{name: "ForkTree", script: workload("forktree") + " 2 16 0 0; true", verbose: true, min: 272},
		// posix_spawn (CLONE_VFORK) and vfork from a grandchild, in a pipeline.
		{name: "SpawnPipeline", script: workload("spawn") + " 30 | cat", min: 31},
		{name: "Threads", script: workload("threadtree") + " 40 1 1; true", perThread: true, verbose: true, min: 41},
		{name: "Clone3", script: workload("clone3") + "; true", perThread: true, min: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requires(t)
			out := reportPath(t)
			args := []string{"--json", "-o", out}
			if tc.perThread {
				args = append(args, "--per-thread")
			}
			if tc.verbose {
				args = append(args, "-v")
			}
			p, code := runPP(t, 60*time.Second, append(args, "--", "sh", "-c", tc.script)...)
			if code != 0 {
				t.Fatalf("exit status %d, want 0\n%s", code, tail(dump(p, out)))
			}
			cs := parseCreated(t, p.out.all())
			if len(cs) < tc.min {
				t.Fatalf("%d created lines, want >= %d", len(cs), tc.min)
			}
			rep := readReport(t, out)
			root := workloadRoot(t, rep)
			checkFollowed(t, rep, cs, 1, followCheck{perThread: tc.perThread, extraParents: map[int]bool{root: true}, exits: true})
			if tc.verbose {
				first, forks := childFirst(p.stderr())
				t.Logf("%d of %d new tasks reported their first stop before their parent's event", first, forks)
				if forks >= 40 && first == 0 {
					t.Errorf("no child stop came before its parent's event in %d forks: the out-of-order path was not exercised", forks)
				}
			}
			assertGone(t, time.Second, append([]int{root}, tids(cs)...)...)
		})
	}
}

// Case 2: job control of an attached target: SIGTSTP stops it for real
// while traced, SIGCONT resumes it; perfprof stopped while the target is
// group-stopped leaves it stopped and untraced, and SIGCONT resumes it.
// (A traced workload's SIGSTOP/SIGCONT: TestStopContTraced; attaching to
// an already stopped process: TestAttachGroupStopped.)
func TestConformanceGroupStop(t *testing.T) {
	requires(t)
	// In a process group of its own, whose parent (the test) is in another
	// group of the session: the kernel discards SIGTSTP sent to a process
	// of an orphaned group, which the test's own group is when it runs
	// under setsid (as CI may).
	tgt := startWith(t, &syscall.SysProcAttr{Setpgid: true}, workload("sigtarget"), "2")
	pid := tgt.expectPID("ready", 5*time.Second)
	out := reportPath(t)
	pp := start(t, ppBin, "-p", strconv.Itoa(pid), "--json", "-o", out)
	waitAllTraced(t, pid, pp.pid())
	tgt.skipToEnd()
	tgt.expect("created fork ", 2*time.Second)

	stoppedFor := func(sig syscall.Signal, d time.Duration) {
		t.Helper()
		if err := unix.Kill(pid, sig); err != nil {
			t.Fatal(err)
		}
		if !waitFor(2*time.Second, func() bool { return allStopped(pid) }) {
			t.Fatalf("not stopped 2s after %v: %s", sig, threadStates(pid))
		}
		time.Sleep(50 * time.Millisecond)
		n := len(tgt.out.all())
		for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if !allStopped(pid) {
				t.Fatalf("resumed by itself after %v: %s", sig, threadStates(pid))
			}
		}
		if m := len(tgt.out.all()); m != n {
			t.Errorf("%d lines of output while stopped by %v", m-n, sig)
		}
	}
	resumes := func() {
		t.Helper()
		tgt.skipToEnd()
		if err := unix.Kill(pid, unix.SIGCONT); err != nil {
			t.Fatal(err)
		}
		tgt.expect("created fork ", 2*time.Second)
		if !waitFor(time.Second, func() bool {
			for _, tid := range threads(pid) {
				if st, _ := taskState(pid, tid); st == "T" {
					return false
				}
			}
			return true
		}) {
			t.Errorf("still stopped after SIGCONT: %s", threadStates(pid))
		}
	}

	stoppedFor(unix.SIGTSTP, 300*time.Millisecond)
	resumes()
	stoppedFor(unix.SIGSTOP, 100*time.Millisecond)
	pp.signal(os.Interrupt)
	if code := pp.wait(3 * time.Second); code != 0 {
		t.Errorf("perfprof exit status %d after SIGINT, want 0\nstderr:\n%s", code, pp.stderr())
	}
	time.Sleep(100 * time.Millisecond)
	for _, tid := range threads(pid) {
		if st, tr := taskState(pid, tid); st != "T" || tr != 0 {
			t.Errorf("thread %d after the detach: state %s TracerPid %d, want T (still stopped) and 0", tid, st, tr)
		}
	}
	resumes()
	assertNotStopped(t, pid)

	rep := readReport(t, out)
	if r, ok := rep.finalByPID(t)[pid]; !ok || *r.Exited {
		t.Errorf("target's final counts %v, want one, not exited", r)
	}
	checkTraced(t, rep, tgt, pid)
	stopTarget(t, tgt)
}

// checkTraced checks an attach run's fork records against the target's
// created lines: each record matches a line and has its counts.
func checkTraced(t *testing.T, rep *report, tgt *proc, pid int) {
	t.Helper()
	cs := parseCreated(t, tgt.out.all())
	byTID := map[int]created{}
	for _, c := range cs {
		byTID[c.tid] = c
	}
	final := rep.finalByPID(t)
	for _, f := range rep.forks {
		c, ok := byTID[f.TID]
		if !ok || f.ParentTID != c.parent || f.PID != c.tgid {
			t.Errorf("fork record %s matches no created line of the target", f)
			continue
		}
		if _, ok := final[c.tgid]; !ok {
			t.Errorf("no counts record for the child %d", c.tgid)
		}
	}
	if len(rep.forks) == 0 {
		t.Errorf("no fork record: the target forks every 100 ms")
	}
	if *rep.summary.TasksFollowed != len(threads(pid))+len(rep.forks) || *rep.summary.Forks != len(rep.forks) {
		t.Errorf("summary %s: want tasks_followed %d (threads + forks) and forks %d", rep.summary, len(threads(pid))+len(rep.forks), len(rep.forks))
	}
}

// Case 3: signals while traced.
func TestConformanceSignals(t *testing.T) {
	requires(t)
	t.Run("CountedAndQueued", func(t *testing.T) {
		requires(t)
		t.Parallel()
		// 100 acknowledged SIGUSR1 + 100 SIGUSR2, 300 queued SIGRTMIN+1
		// with values (delivered in order), 100 children exiting together.
		p, out := runJSON(t, 60*time.Second, "--", confBin(t, "sigcount"), "100", "300")
		line := p.expect("usr1 ", time.Second)
		if countLine(line, "usr1") != 100 || countLine(line, "usr2") != 100 || countLine(line, "rt") != 300 || !strings.HasSuffix(line, "order OK") {
			t.Errorf("the target's handlers saw %q, want usr1 100 usr2 100 rt 300 order OK", line)
		}
		rep := readReport(t, out)
		checkFollowed(t, rep, parseCreated(t, p.out.all()), 1, followCheck{exits: true})
	})
	t.Run("KillWhileGroupStopped", func(t *testing.T) {
		requires(t)
		// A traced task in group-stop sits in PTRACE_LISTEN; SIGKILL it.
		out := reportPath(t)
		pp := start(t, ppBin, "--json", "-o", out, "--", workload("sigtarget"), "2")
		pid := pp.expectPID("ready", 5*time.Second)
		unix.Kill(pid, unix.SIGSTOP)
		if !waitFor(2*time.Second, func() bool { return allStopped(pid) }) {
			t.Fatalf("not stopped: %s", threadStates(pid))
		}
		unix.Kill(pid, unix.SIGKILL)
		if code := pp.wait(3 * time.Second); code != 137 {
			t.Errorf("exit status %d, want 137 (the workload was SIGKILLed)\n%s", code, pp.stderr())
		}
		pp.waitEOF(2 * time.Second)
		assertGone(t, time.Second, pid)
		rep := readReport(t, out)
		if e := rep.exitsByTID()[pid]; len(e) != 1 || e[0].Signal == nil || *e[0].Signal != 9 {
			t.Errorf("exit records of the workload %v, want one with signal 9", e)
		}
		if r, ok := rep.finalByPID(t)[pid]; !ok || !*r.Exited {
			t.Errorf("workload counts %v, want exited", r)
		}
	})
	t.Run("KillRightAfterFork", func(t *testing.T) {
		requires(t)
		t.Parallel()
		// Children SIGKILLed by their parent at once (often while held in
		// their first stop, or before they reach it), after a yield, or
		// not at all. Each created child must be reported.
		p, out := runJSON(t, 60*time.Second, "--", confBin(t, "exitrace"), "kill", "90")
		rep := readReport(t, out)
		cs := parseCreated(t, p.out.all())
		// A child killed before its first stop never ran: no counts needed.
		checkFollowed(t, rep, cs, 1, followCheck{noCounts: true, exits: true})
		exits := rep.exitsByTID()
		for i, c := range cs {
			e := exits[c.tid]
			if len(e) != 1 {
				continue
			}
			if i%3 == 2 && (e[0].Code == nil || *e[0].Code != 0) || i%3 != 2 && (e[0].Signal == nil || *e[0].Signal != 9) {
				t.Errorf("child %d (round %d): exit record %s", c.tid, i, e[0])
			}
		}
	})
}

// Case 4: exec in multi-threaded processes, and a failing exec.
func TestConformanceExec(t *testing.T) {
	requires(t)
	for _, mode := range []string{"leader", "thread", "fail"} {
		t.Run(mode, func(t *testing.T) {
			requires(t)
			t.Parallel()
			p, out := runJSON(t, 30*time.Second, "--per-thread", "--", confBin(t, "execmt"), mode)
			stdout := p.out.all()
			root := donePID(t, stdout)
			cs := parseCreated(t, stdout)
			rep := readReport(t, out)
			// The threads killed by the exec may end uncounted
			// (they are reported; the exec'ing thread becomes root).
			checkFollowed(t, rep, cs, 1, followCheck{perThread: true, noCounts: true})
			var child created
			for _, c := range cs {
				if c.kind == "fork" {
					child = c
				}
			}
			final := rep.finalByTID(t)
			if r, ok := final[child.tid]; child.tid == 0 || !ok || r.PID != child.tid || r.PPID != root {
				t.Errorf("the new image's child %+v: counts %v, want pid %d ppid %d", child, r, child.tid, root)
			}
			if r, ok := final[root]; !ok || r.Comm != "execmt" || value(t, r, "task-clock") == 0 {
				t.Errorf("root %d: final counts %v, want comm execmt and task-clock > 0", root, r)
			}
			for _, r := range rep.final {
				if !*r.Exited {
					t.Errorf("counts record not exited at the end: %s", r)
				}
			}
			wantExecs := 2 // the workload's own, then the one under test
			if mode == "fail" {
				var fails int
				for _, l := range stdout {
					if l == "execfail 2" {
						fails++
					}
				}
				if fails != 2 {
					t.Errorf("%d \"execfail 2\" lines, want 2 (from the leader and a thread)", fails)
				}
			}
			if len(rep.execs) != wantExecs {
				t.Fatalf("exec records %v, want %d", rep.execs, wantExecs)
			}
			e := rep.execs[1]
			if mode == "thread" {
				// One of the two threads execs; its tid becomes root.
				if e.PID != root || e.TID == root || !parentsOf(cs, "thread")[e.TID] || e.Comm != "execmt" {
					t.Errorf("exec record %s, want pid %d, the tid of a created thread, comm execmt", e, root)
				}
			} else if e.PID != root || e.TID != root || e.Comm != "execmt" {
				t.Errorf("exec record %s, want pid and tid %d, comm execmt", e, root)
			}
			assertGone(t, time.Second, root)
		})
	}
}

// Case 5: tasks that end while perfprof is still taking them over.
func TestConformanceExitRace(t *testing.T) {
	requires(t)
	t.Run("ThreadThenExitGroup", func(t *testing.T) {
		requires(t)
		t.Parallel()
		// Five events: the process often dies between two opens.
		p, out := runJSON(t, 60*time.Second, "--per-thread", "-e", "task-clock,page-faults,context-switches,cpu-migrations,minor-faults",
			"--", confBin(t, "exitrace"), "thread", "60")
		rep := readReport(t, out)
		cs := parseCreated(t, p.out.all())
		// Odd rounds' threads print no line; they must still not leak.
		checkFollowed(t, rep, cs, 1, followCheck{perThread: true, noCounts: true, extraParents: parentsOf(cs, "fork")})
		// A task that dies while its counters are opened is no failure.
		if *rep.summary.CounterFailures != 0 {
			t.Errorf("counter failures: %d (tasks that died while their counters were opened)", *rep.summary.CounterFailures)
		}
		if lines := stderrLines(p); len(lines) != 0 {
			t.Errorf("stderr %q, want nothing", lines)
		}
		if n := len(rep.forks); n != 120 {
			t.Errorf("%d fork records, want 120 (60 processes, 60 threads)", n)
		}
	})
	// The same race with two events, many times: a member opened on a
	// task that exit_group is killing fails with ENODEV on Linux 6.18,
	// which must read as no such task, not as a counter failure. Before
	// perfevent knew it, about 3 of 20 such runs had a failure.
	for i := range 20 {
		t.Run("ThreadThenExitGroup2Events/"+strconv.Itoa(i), func(t *testing.T) {
			requires(t)
			t.Parallel()
			p, out := runJSON(t, 60*time.Second, "-e", "task-clock,page-faults", "--", confBin(t, "exitrace"), "thread", "200")
			rep := readReport(t, out)
			if n := *rep.summary.CounterFailures; n != 0 {
				t.Errorf("counter failures: %d, want 0 (tasks that died while their counters were opened)", n)
			}
			if lines := stderrLines(p); len(lines) != 0 {
				t.Errorf("stderr %q, want nothing", lines)
			}
			if n := len(rep.forks); n != 400 {
				t.Errorf("%d fork records, want 400 (200 processes, 200 threads)", n)
			}
		})
	}
	t.Run("ParentExitsAfterFork", func(t *testing.T) {
		requires(t)
		t.Parallel()
		p, out := runJSON(t, 60*time.Second, "--", confBin(t, "exitrace"), "orphan", "40")
		rep := readReport(t, out)
		cs := parseCreated(t, p.out.all())
		if len(cs) != 80 {
			t.Fatalf("%d created lines, want 80", len(cs))
		}
		checkFollowed(t, rep, cs, 1, followCheck{exits: true})
	})
	t.Run("AttachZombieLeader", func(t *testing.T) {
		requires(t)
		// -p of a process whose leader is already a zombie.
		tgt := start(t, confBin(t, "zleader"), "0", "1500")
		pid := tgt.expectPID("ready", 5*time.Second)
		if !waitFor(2*time.Second, func() bool { st, _ := taskState(pid, pid); return st == "Z" }) {
			t.Fatalf("leader not a zombie: %s", threadStates(pid))
		}
		zombieLeaderRun(t, tgt, pid)
	})
	t.Run("LeaderExitsWhileTraced", func(t *testing.T) {
		requires(t)
		tgt := start(t, confBin(t, "zleader"), "300", "1500")
		pid := tgt.expectPID("ready", 5*time.Second)
		zombieLeaderRun(t, tgt, pid)
	})
}

// parentsOf returns the tids of the created lines of a kind.
func parentsOf(cs []created, kind string) map[int]bool {
	m := map[int]bool{}
	for _, c := range cs {
		if c.kind == kind {
			m[c.tid] = true
		}
	}
	return m
}

// zombieLeaderRun attaches to a zleader, waits until its leader is a
// zombie, stops perfprof and checks that the worker runs on untraced.
func zombieLeaderRun(t *testing.T, tgt *proc, pid int) {
	t.Helper()
	out := reportPath(t)
	pp := start(t, ppBin, "--per-thread", "-p", strconv.Itoa(pid), "--json", "-o", out)
	var worker int
	if !waitFor(5*time.Second, func() bool {
		for _, tid := range threads(pid) {
			if _, tr := taskState(pid, tid); tid != pid && threadOf(tr, pp.pid()) {
				worker = tid
				return true
			}
		}
		return false
	}) {
		t.Fatalf("the worker thread of %d is not traced by perfprof: %s\n%s", pid, threadStates(pid), pp.stderr())
	}
	tgt.expect("leader-exit", 2*time.Second)
	if !waitFor(2*time.Second, func() bool { st, _ := taskState(pid, pid); return st == "Z" }) {
		t.Fatalf("leader not a zombie: %s", threadStates(pid))
	}
	tgt.skipToEnd()
	tgt.expect("created fork ", 2*time.Second) // forks while the leader is a zombie
	t0 := time.Now()
	pp.signal(os.Interrupt)
	if code := pp.wait(3 * time.Second); code != 0 {
		t.Errorf("perfprof exit status %d, want 0\n%s", code, pp.stderr())
	}
	if d := time.Since(t0); d > 1500*time.Millisecond {
		t.Errorf("perfprof took %v to let go of a process with a zombie leader", d)
	}
	if st, tr := taskState(pid, worker); st == "T" || st == "t" || tr != 0 {
		t.Errorf("worker %d after the detach: state %s TracerPid %d", worker, st, tr)
	}
	if code := tgt.wait(5 * time.Second); code != 0 {
		t.Errorf("zleader exit status %d, want 0 (it runs to its end)\n%s", code, tgt.stderr())
	}
	tgt.expect("done ", time.Second)
	rep := readReport(t, out)
	final := rep.finalByTID(t)
	if r, ok := final[worker]; !ok || r.PID != pid || value(t, r, "task-clock") == 0 {
		t.Errorf("worker %d: counts %v, want pid %d and task-clock > 0", worker, r, pid)
	}
	checkForksMatch(t, rep, tgt)
}

// checkForksMatch: every fork record of an attach run names a created
// line of the target, with its counts.
func checkForksMatch(t *testing.T, rep *report, tgt *proc) {
	t.Helper()
	byTID := map[int]created{}
	for _, c := range parseCreated(t, tgt.out.all()) {
		byTID[c.tid] = c
	}
	final := rep.final
	has := map[int]bool{}
	for _, r := range final {
		has[r.TID] = true
		has[r.PID] = true
	}
	if len(rep.forks) == 0 {
		t.Errorf("no fork record while attached")
	}
	for _, f := range rep.forks {
		c, ok := byTID[f.TID]
		if !ok || f.ParentTID != c.parent || f.PID != c.tgid || !has[f.TID] {
			t.Errorf("fork record %s: no matching created line or no counts", f)
		}
	}
	if *rep.summary.Forks != len(rep.forks) {
		t.Errorf("summary forks %d, %d fork records", *rep.summary.Forks, len(rep.forks))
	}
}

// Case 7: perfprof killed by SIGKILL.
func TestConformanceTracerKilled(t *testing.T) {
	requires(t)
	t.Run("Attached", func(t *testing.T) {
		requires(t)
		tgt, pid := startTarget(t, 2)
		pp := start(t, ppBin, "-p", strconv.Itoa(pid))
		waitAllTraced(t, pid, pp.pid())
		time.Sleep(150 * time.Millisecond)
		pp.signal(syscall.SIGKILL)
		pp.wait(2 * time.Second)
		if !waitFor(time.Second, func() bool { return untraced(pid) }) {
			t.Errorf("still traced 1s after perfprof was killed: %s", threadStates(pid))
		}
		assertNotStopped(t, pid)
		tgt.skipToEnd()
		tgt.expect("created fork ", 2*time.Second)
		stopTarget(t, tgt)
	})
	t.Run("AttachedGroupStopped", func(t *testing.T) {
		requires(t)
		tgt, pid := startTarget(t, 2)
		pp := start(t, ppBin, "-p", strconv.Itoa(pid))
		waitAllTraced(t, pid, pp.pid())
		unix.Kill(pid, unix.SIGSTOP)
		if !waitFor(2*time.Second, func() bool { return allStopped(pid) }) {
			t.Fatalf("not stopped: %s", threadStates(pid))
		}
		pp.signal(syscall.SIGKILL)
		pp.wait(2 * time.Second)
		if !waitFor(time.Second, func() bool { return untraced(pid) }) {
			t.Errorf("still traced 1s after perfprof was killed: %s", threadStates(pid))
		}
		time.Sleep(200 * time.Millisecond)
		n := len(tgt.out.all())
		for _, tid := range threads(pid) {
			if st, _ := taskState(pid, tid); st != "T" {
				// The kernel's exit_ptrace() may not keep a group-stop
				// (ptrace(2) "historically buggy"): report what it did.
				t.Errorf("thread %d: state %s after the tracer died, want T (the SIGSTOP is kept)", tid, st)
			}
		}
		if m := len(tgt.out.all()); m != n {
			t.Errorf("the target ran after its tracer died while it was stopped")
		}
		tgt.skipToEnd()
		unix.Kill(pid, unix.SIGCONT)
		tgt.expect("created fork ", 2*time.Second)
		stopTarget(t, tgt)
	})
	t.Run("Workload", func(t *testing.T) {
		requires(t)
		pp := start(t, ppBin, "--", "sh", "-c", workload("sigtarget")+" 2 & "+workload("sigtarget")+" 1; wait")
		a := pp.expectPID("ready", 5*time.Second)
		b := pp.expectPID("ready", 5*time.Second)
		sh, _ := strconv.Atoi(statusField(t, a, "PPid"))
		pp.expect("created fork ", 2*time.Second)
		pids := []int{sh, a, b}
		for _, c := range parseCreated(t, pp.out.all()) {
			pids = append(pids, c.tgid)
		}
		pp.signal(syscall.SIGKILL)
		pp.wait(2 * time.Second)
		assertGone(t, time.Second, pids...)
	})
}

func statusField(t *testing.T, pid int, name string) string {
	t.Helper()
	m, err := procStatus(pid, pid)
	if err != nil {
		t.Fatalf("status of %d: %v", pid, err)
	}
	return m[name]
}

// Case 8: targets already traced by strace or gdb.
func TestConformanceAlreadyTraced(t *testing.T) {
	requires(t)
	t.Run("StraceAndLive", func(t *testing.T) {
		requires(t)
		strace := testenv.Tool(t, "strace")
		st := start(t, strace, "-o", os.DevNull, workload("sigtarget"), "1")
		spid := st.expectPID("ready", 5*time.Second)
		tgt, pid := startTarget(t, 1)
		out := reportPath(t)
		pp := start(t, ppBin, "-p", strconv.Itoa(spid)+","+strconv.Itoa(pid), "--json", "-o", out)
		waitAllTraced(t, pid, pp.pid())
		tgt.skipToEnd()
		tgt.expect("created fork ", 2*time.Second)
		pp.signal(os.Interrupt)
		if code := pp.wait(3 * time.Second); code != 0 {
			t.Errorf("exit status %d, want 0 (one target was attached)\n%s", code, pp.stderr())
		}
		msg := pp.stderr()
		want := "already traced by process " + strconv.Itoa(st.pid()) + " (strace)"
		if !strings.Contains(msg, want) || !strings.Contains(msg, "following 1 of 2 targets") {
			t.Errorf("stderr %q: want %q and the 1-of-2 warning", msg, want)
		}
		for _, l := range stderrLines(pp) {
			if !strings.HasPrefix(l, "perfprof: ") {
				t.Errorf("stderr line %q does not start with \"perfprof: \"", l)
			}
		}
		if _, tr := taskState(spid, spid); tr != st.pid() {
			t.Errorf("the straced target's TracerPid is %d, want strace %d", tr, st.pid())
		}
		rep := readReport(t, out)
		if _, ok := rep.finalByPID(t)[pid]; !ok {
			t.Errorf("no counts for the live target %d", pid)
		}
		if _, ok := rep.finalByPID(t)[spid]; ok {
			t.Errorf("counts record for the straced target %d", spid)
		}
		checkForksMatch(t, rep, tgt)
		assertNotStopped(t, pid)
		stopTarget(t, tgt)
		unix.Kill(spid, unix.SIGTERM)
		if code := st.wait(5 * time.Second); code != 0 {
			t.Errorf("strace exit status %d, want 0\n%s", code, st.stderr())
		}
	})
	t.Run("Gdb", func(t *testing.T) {
		requires(t)
		gdb := testenv.Tool(t, "gdb")
		tgt, pid := startTarget(t, 1)
		g := start(t, gdb, "-batch", "-nx", "-p", strconv.Itoa(pid), "-ex", "shell sleep 2")
		if !waitFor(5*time.Second, func() bool { _, tr := taskState(pid, pid); return threadOf(tr, g.pid()) }) {
			t.Fatalf("gdb did not attach: %s\n%s", threadStates(pid), g.stderr())
		}
		p, code := runPP(t, 10*time.Second, "-p", strconv.Itoa(pid))
		if code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
		checkMessage(t, p, []string{strconv.Itoa(pid), strconv.Itoa(g.pid()), "gdb"}, "--no-follow")
		if _, tr := taskState(pid, pid); !threadOf(tr, g.pid()) {
			t.Errorf("TracerPid %d, want gdb's", tr)
		}
		g.wait(10 * time.Second)
		if !waitFor(time.Second, func() bool { return untraced(pid) }) {
			t.Errorf("still traced after gdb ended: %s", threadStates(pid))
		}
		stopTarget(t, tgt)
	})
}

// Case 9, attached: counter opens fail mid-run under a low RLIMIT_NOFILE;
// following goes on and detaching leaves nothing stopped. (The workload
// case is TestFDLimit.)
func TestConformanceFDLimitAttach(t *testing.T) {
	requires(t)
	prlimit := testenv.Tool(t, "prlimit")
	r := stormRun(t, stormOpts{total: 400, alive: 80, lifeMS: 40, timeout: 60 * time.Second,
		wrap: []string{prlimit, "--nofile=24:24", "--"}, stopPerfprof: true})
	if *r.rep.summary.CounterFailures == 0 {
		t.Errorf("no counter failures with 24 fds and ~40 live tasks")
	}
	if msg := r.pp.stderr(); !strings.Contains(msg, "too many open files") {
		t.Errorf("stderr %q: want the cause of the failures", msg)
	}
}

// Case 10: fork storm under -p, CI size.
func TestConformanceStorm(t *testing.T) {
	requires(t)
	stormRun(t, stormOpts{total: 2000, alive: 300, lifeMS: 1500, timeout: 90 * time.Second})
}

// TestSoakForkStorm is the full-size storm: 20,000 processes and threads,
// up to 600 alive at once. PERFPROF_SOAK=1 go test -run Soak ./test/
func TestSoakForkStorm(t *testing.T) {
	if os.Getenv("PERFPROF_SOAK") != "1" {
		t.Skip("set PERFPROF_SOAK=1 to run the 20,000-task soak")
	}
	requires(t)
	stormRun(t, stormOpts{total: 20000, alive: 600, lifeMS: 2000, timeout: 15 * time.Minute})
}

type stormOpts struct {
	total, alive, lifeMS int
	timeout              time.Duration
	wrap                 []string // command prefix for perfprof (prlimit)
	// stopPerfprof: SIGINT perfprof once the storm is over (detach),
	// instead of ending the target and letting perfprof end by itself.
	stopPerfprof bool
}

type stormResult struct {
	rep *report
	pp  *proc
}

// stormRun attaches perfprof to a storm generator and checks: every task
// created is reported and counted, perfprof's fds return to their level
// before the storm, no task is left stopped or traced, perfprof ends by
// itself when the target exits (or detaches cleanly on SIGINT), in time.
func stormRun(t *testing.T, o stormOpts) stormResult {
	t.Helper()
	tgt := start(t, confBin(t, "storm"), strconv.Itoa(o.total), strconv.Itoa(o.alive), strconv.Itoa(o.lifeMS))
	pid := tgt.expectPID("ready", 5*time.Second)
	out := reportPath(t)
	// Every process keeps a row of its own (none is folded), so that each
	// can be checked.
	argv := append(append([]string(nil), o.wrap...), ppBin, "-p", strconv.Itoa(pid), "--json", "-o", out, "--fold-after", "1000000")
	pp := start(t, argv...)
	tgt.expect("traced", 10*time.Second)
	waitAllTraced(t, pid, pp.pid())
	time.Sleep(50 * time.Millisecond)
	all0, perf0, _ := fdCountQuiet(pp.pid())
	fds := sampleFDs(t, pp.pid())
	t0 := time.Now()
	unix.Kill(pid, unix.SIGUSR1) // go
	tgt.expect("stormdone ", o.timeout)
	storm := time.Since(t0)
	// The last exits may still be on their way to perfprof.
	var all1, perf1 int
	waitFor(2*time.Second, func() bool {
		all1, perf1, _ = fdCountQuiet(pp.pid())
		return all1 <= all0 && perf1 <= perf0
	})
	fds.end()
	t.Logf("storm of %d tasks (%d alive at most) took %v under perfprof; perfprof fds: %d (%d perf) before, max %d (%d perf) in %d samples, %d (%d perf) after",
		o.total, o.alive, storm.Round(time.Millisecond), all0, perf0, fds.maxAll, fds.maxPerf, fds.samples, all1, perf1)
	if all1 > all0 || perf1 > perf0 {
		t.Errorf("perfprof's fds: %d (%d perf_event) before the storm, %d (%d) after it: leak", all0, perf0, all1, perf1)
	}
	if max := (o.alive + 4) * 2; fds.maxPerf > max {
		t.Errorf("perfprof held %d perf_event fds at once, more than the live tasks (~%d) need", fds.maxPerf, max)
	}
	if st := threadStates(pid); strings.Contains(st, ":t") || strings.Contains(st, ":T") {
		t.Errorf("target stopped after the storm: %s", st) // only its (traced) main thread is left
	}
	if o.stopPerfprof {
		pp.signal(os.Interrupt)
		if code := pp.wait(5 * time.Second); code != 0 {
			t.Errorf("perfprof exit status %d after SIGINT, want 0\n%s", code, tail(pp.stderr()))
		}
		if !waitFor(time.Second, func() bool { return untraced(pid) }) {
			t.Errorf("still traced after perfprof ended: %s", threadStates(pid))
		}
		assertNotStopped(t, pid)
		unix.Kill(pid, unix.SIGTERM)
	} else {
		unix.Kill(pid, unix.SIGTERM)
		// The target's exit empties the tree: perfprof ends by itself.
		// 15 s: a fresh-clone CI run saw it take over 5 s once, on a
		// machine loaded by the other packages' tests (the storm itself
		// took 11.3 s, as in runs that passed).
		if code := pp.wait(15 * time.Second); code != 0 {
			t.Errorf("perfprof exit status %d after its target exited, want 0\n%s", code, tail(pp.stderr()))
		}
	}
	if code := tgt.wait(5 * time.Second); code != 0 {
		t.Errorf("storm exit status %d, want 0\n%s", code, tgt.stderr())
	}
	tgt.expect("done ", time.Second)
	rep := readReport(t, out)
	cs := parseCreated(t, tgt.out.all())
	if len(cs) != o.total {
		t.Fatalf("%d created lines, want %d", len(cs), o.total)
	}
	// Counts: threads fold into the target's row; each process has its own.
	// Tasks that could not get counters (fd limit) have no counts record.
	checkFollowed(t, rep, cs, 1, followCheck{exits: !o.stopPerfprof, noCounts: o.wrap != nil})
	if !o.stopPerfprof && *rep.summary.CounterFailures != 0 {
		t.Errorf("counter_failures %d", *rep.summary.CounterFailures)
	}
	return stormResult{rep: rep, pp: pp}
}

// Case 11: bad command lines. Each is refused with status 2 and one
// "perfprof: " line (no hint for these), before anything is touched.
// More cases: TestErrors, and cmd/perfprof's TestParseArgs/FuzzParseArgs.
func TestConformanceUsage(t *testing.T) {
	requires(t)
	t.Parallel()
	for _, args := range [][]string{
		{"-t", "1", "--tree"},
		{"--tree", "--no-follow", "-p", "1"},
		{"-i", "5", "-p", "1"},
		{"-i", "-3", "-p", "1"},
		{"-i", "1.5", "-p", "1"},
		{"-i"},
		{"-N", "-1", "-i", "100", "-p", "1"},
		{"-N", "2", "-p", "1"},
		{"--duration", "-1s", "-p", "1"},
		{"--duration", "soon", "-p", "1"},
		{"-p", "0"},
		{"-p", "-5"},
		{"-p", "1,,2"},
		{"-p", ""},
		{"-t", "x"},
		{"-t", "1", "--", "true"},
		{"-x"},
		{"--json=maybe", "-p", "1"},
		{"-e", "task-clock:x", "-p", "1"},
		{"-e", "a:b:c", "-p", "1"},
		{"-e", "task-clock,task-clock", "-p", "1"},
		{"-e", "cs,context-switches", "-p", "1"},
		{"-e", ",", "-p", "1"},
		{"-e", "sched:sched_switch:u", "-p", "1"},
		{"--json"},
	} {
		p, code := runPP(t, 10*time.Second, args...)
		lines := stderrLines(p)
		if code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "perfprof: ") {
			t.Errorf("perfprof %q: exit status %d, stderr %q; want 2 and one \"perfprof: \" line", args, code, lines)
		}
		if len(p.out.all()) != 0 {
			t.Errorf("perfprof %q wrote to stdout: %q", args, p.out.all())
		}
	}
}

// tail keeps the end of a long dump.
func tail(s string) string {
	if len(s) > 6000 {
		return "...\n" + s[len(s)-6000:]
	}
	return s
}
