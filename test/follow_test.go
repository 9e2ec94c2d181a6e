package test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// checkTasks asserts, for each created process or thread, exactly one fork
// record of the given kind from the right parent and exactly one exit
// record with status 0.
func checkTasks(t *testing.T, rep *report, cs []created, kind func(i int, c created) string) {
	t.Helper()
	forks := rep.forksByTID(t)
	exits := rep.exitsByTID()
	if len(rep.forks) != len(cs) {
		t.Errorf("%d fork records, want %d (one per created task)", len(rep.forks), len(cs))
	}
	for i, c := range cs {
		f, ok := forks[c.tid]
		switch {
		case !ok:
			t.Errorf("no fork record for %+v", c)
		case f.Kind != kind(i, c) || f.ParentTID != c.parent || f.PID != c.tgid:
			t.Errorf("fork record %s, want kind %q parent_tid %d pid %d", f, kind(i, c), c.parent, c.tgid)
		}
		if e := exits[c.tid]; len(e) != 1 || e[0].Code == nil || *e[0].Code != 0 {
			t.Errorf("exit records for tid %d: %v, want one with code 0", c.tid, e)
		}
	}
}

func TestForkTree(t *testing.T) {
	requires(t)
	t.Parallel()
	p, cs, root, rep := runTree(t, 3+9, "-e", "task-clock,page-faults", "--", workload("forktree"), "2", "3", "20", "100")
	checkTasks(t, rep, cs, func(int, created) string { return "fork" })
	final := rep.finalByPID(t)
	if len(final) != len(cs)+1 {
		t.Errorf("%d final counts records, want %d", len(final), len(cs)+1)
	}
	ppid := map[int]int{root: p.pid()}
	for _, c := range cs {
		ppid[c.tid] = c.parent
	}
	for pid, parent := range ppid {
		r, ok := final[pid]
		if !ok {
			t.Errorf("no final counts record for pid %d", pid)
			continue
		}
		// Every process burns 20 ms and touches 100 pages of its own.
		if tc, pf := value(t, r, "task-clock"), value(t, r, "page-faults"); tc < ms(20) || pf < 100 {
			t.Errorf("pid %d: task-clock %d ns, page-faults %d; want >= %d ns and >= 100", pid, tc, pf, ms(20))
		}
		if r.PPID != parent || !*r.Exited {
			t.Errorf("pid %d: ppid %d exited %v, want ppid %d exited true", pid, r.PPID, *r.Exited, parent)
		}
	}
	checkSummary(t, rep, len(cs)+1, len(cs))
	assertGone(t, time.Second, append([]int{root}, tids(cs)...)...)
}

func tids(cs []created) []int {
	var ids []int
	for _, c := range cs {
		ids = append(ids, c.tid)
	}
	return ids
}

func TestThreadTree(t *testing.T) {
	requires(t)
	t.Parallel()
	// 4 threads and a sub-thread.
	_, cs, root, rep := runTree(t, 5, "--per-thread", "-e", "task-clock,page-faults", "--", workload("threadtree"), "4", "20", "100")
	checkTasks(t, rep, cs, func(int, created) string { return "clone" })
	final := rep.finalByTID(t)
	if len(final) != len(cs)+1 {
		t.Errorf("%d final counts records, want %d (one per thread)", len(final), len(cs)+1)
	}
	if r, ok := final[root]; !ok || r.PID != root {
		t.Errorf("main thread %d: counts record %v", root, r)
	}
	for _, c := range cs {
		r, ok := final[c.tid]
		if !ok {
			t.Errorf("no counts record for thread %d", c.tid)
			continue
		}
		if r.PID != root || c.tgid != root {
			t.Errorf("thread %d: pid %d (created line says %d), want %d", c.tid, r.PID, c.tgid, root)
		}
		if tc, pf := value(t, r, "task-clock"), value(t, r, "page-faults"); tc < ms(20) || pf < 100 {
			t.Errorf("thread %d: task-clock %d ns, page-faults %d; want >= %d ns and >= 100", c.tid, tc, pf, ms(20))
		}
	}
	checkSummary(t, rep, len(cs)+1, len(cs))
	assertGone(t, time.Second, root)
}

func TestSpawnVfork(t *testing.T) {
	requires(t)
	t.Parallel()
	p, out := runJSON(t, 30*time.Second, "--", workload("spawn"), "20")
	stdout := p.out.all()
	cs := parseCreated(t, stdout)
	root := donePID(t, stdout)
	if len(cs) != 21 {
		t.Fatalf("%d created lines, want 21", len(cs))
	}
	rep := readReport(t, out)
	checkTasks(t, rep, cs, func(int, created) string { return "vfork" })
	final := rep.finalByPID(t)
	for i, c := range cs {
		r, ok := final[c.tid]
		if !ok {
			t.Errorf("no counts record for child %d", c.tid)
			continue
		}
		min := uint64(1)
		if i == 20 {
			min = ms(5) // the vfork() child burns 5 ms
		}
		if tc := value(t, r, "task-clock"); tc < min {
			t.Errorf("child %d: task-clock %d ns, want >= %d", c.tid, tc, min)
		}
	}
	if _, ok := final[root]; !ok {
		t.Errorf("no counts record for the workload %d", root)
	}
	// One exec record per /bin/true child (the first 20), and none for the
	// vfork() child, which only _exit()s; the root's own exec may be there.
	execs := map[int]int{}
	for _, e := range rep.execs {
		if e.PID == root {
			continue
		}
		execs[e.PID]++
		if e.Comm != "true" {
			t.Errorf("exec record %s, want comm \"true\"", e)
		}
	}
	for i, c := range cs {
		want := 1
		if i == 20 {
			want = 0
		}
		if execs[c.tid] != want {
			t.Errorf("child %d: %d exec records, want %d", c.tid, execs[c.tid], want)
		}
	}
	checkSummary(t, rep, len(cs)+1, len(cs))
}

func TestClone3(t *testing.T) {
	requires(t)
	t.Parallel()
	p, out := runJSON(t, 30*time.Second, "--per-thread", "--", workload("clone3"))
	stdout := p.out.all()
	cs := parseCreated(t, stdout)
	root := donePID(t, stdout)
	if len(cs) != 3 {
		t.Fatalf("%d created lines, want 3", len(cs))
	}
	rep := readReport(t, out)
	// (a) raw clone thread, (b) clone3 with SIGCHLD: a fork, (c) clone()
	// with exit signal SIGUSR1: a clone.
	wantKind := []string{"clone", "fork", "clone"}
	checkTasks(t, rep, cs, func(i int, _ created) string { return wantKind[i] })
	final := rep.finalByTID(t)
	for _, c := range cs {
		r, ok := final[c.tid]
		if !ok {
			t.Errorf("no counts record for %+v", c)
			continue
		}
		if r.PID != c.tgid {
			t.Errorf("tid %d: pid %d, want %d", c.tid, r.PID, c.tgid)
		}
		if tc := value(t, r, "task-clock"); tc < ms(5) {
			t.Errorf("tid %d: task-clock %d ns, want >= %d (it burns 5 ms)", c.tid, tc, ms(5))
		}
	}
	if _, ok := final[root]; !ok {
		t.Errorf("no counts record for the workload %d", root)
	}
	checkSummary(t, rep, len(cs)+1, len(cs))
}

// readPidfile reads daemonize's PIDFILE.
func readPidfile(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pidfile: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pidfile: %q", b)
	}
	return pid
}

func TestDaemonize(t *testing.T) {
	requires(t)
	t.Parallel()
	t.Run("WaitsForGrandchild", func(t *testing.T) {
		requires(t)
		dir := t.TempDir()
		out, pidfile := filepath.Join(dir, "report.json"), filepath.Join(dir, "pid")
		p, code := runPP(t, 30*time.Second, "--json", "-o", out, "--", workload("daemonize"), "300", pidfile)
		gc := readPidfile(t, pidfile)
		// perfprof ends when the daemon does, not when its parent does.
		if alive(gc) {
			t.Errorf("perfprof exited while the daemon %d still runs (%s)", gc, stateList([]int{gc}))
		}
		if code != 0 {
			t.Fatalf("exit status %d, want 0\n%s", code, dump(p, out))
		}
		if p.wall() < 300*time.Millisecond {
			t.Errorf("perfprof ran %v, less than the daemon's 300 ms", p.wall())
		}
		cs := parseCreated(t, p.out.all())
		if len(cs) != 2 || cs[1].tid != gc {
			t.Fatalf("created lines %+v, want 2, the second for the daemon %d", cs, gc)
		}
		rep := readReport(t, out)
		checkTasks(t, rep, cs, func(int, created) string { return "fork" })
		r, ok := rep.finalByPID(t)[gc]
		if !ok {
			t.Fatalf("no counts record for the daemon %d\n%s", gc, dump(p, out))
		}
		if tc := value(t, r, "task-clock"); tc < 200e6 {
			t.Errorf("daemon: task-clock %d ns, want > 200 ms (it burns 300)", tc)
		}
		checkSummary(t, rep, 3, 2)
	})
	t.Run("DurationKillsDaemon", func(t *testing.T) {
		requires(t)
		dir := t.TempDir()
		out, pidfile := filepath.Join(dir, "report.json"), filepath.Join(dir, "pid")
		p, code := runPP(t, 10*time.Second, "--duration", "100ms", "--json", "-o", out,
			"--", workload("daemonize"), "5000", pidfile)
		gc := readPidfile(t, pidfile)
		assertGone(t, time.Second, gc)
		t.Logf("exit status %d after %v", code, p.wall())
		if p.wall() > 3*time.Second {
			t.Errorf("perfprof --duration 100ms ran %v", p.wall())
		}
		rep := readReport(t, out)
		e := rep.exitsByTID()[gc]
		if len(e) != 1 || e[0].Signal == nil || *e[0].Signal != 9 {
			t.Errorf("daemon %d: exit records %v, want one with signal 9", gc, e)
		}
	})
}

func TestNoFollow(t *testing.T) {
	requires(t)
	t.Parallel()
	p, out := runJSON(t, 30*time.Second, "--no-follow", "--", workload("forktree"), "1", "2", "10", "50")
	root := donePID(t, p.out.all())
	rep := readReport(t, out)
	if len(rep.counts) != 1 || rep.counts[0].PID != root {
		t.Fatalf("counts records %v, want exactly one, for the root %d", rep.counts, root)
	}
	if tc := value(t, rep.counts[0], "task-clock"); tc < ms(10) {
		t.Errorf("root: task-clock %d ns, want >= %d", tc, ms(10))
	}
	if len(rep.forks) != 0 {
		t.Errorf("fork records under --no-follow: %v", rep.forks)
	}
	checkSummary(t, rep, 1, 0)
}

func TestExecFromThread(t *testing.T) {
	requires(t)
	t.Parallel()
	p, out := runJSON(t, 30*time.Second, "--", workload("execthread"), "50")
	cs := parseCreated(t, p.out.all())
	if len(cs) != 1 {
		t.Fatalf("created lines %+v, want 1", cs)
	}
	pid := cs[0].tgid
	rep := readReport(t, out)
	final := rep.finalByPID(t)
	r, ok := final[pid]
	if !ok || len(final) != 1 {
		t.Fatalf("final counts records %v, want one for pid %d", rep.final, pid)
	}
	// The thread burns 50 ms before its exec; the leader spins meanwhile.
	if tc := value(t, r, "task-clock"); tc < ms(50) {
		t.Errorf("task-clock %d ns, want >= %d", tc, ms(50))
	}
	var execd bool
	for _, e := range rep.execs {
		if e.PID == pid && e.TID == cs[0].tid && e.Comm == "true" {
			execd = true
		}
	}
	if !execd {
		t.Errorf("no exec record for pid %d from thread %d with comm \"true\": %v", pid, cs[0].tid, rep.execs)
	}
	checkSummary(t, rep, len(cs)+1, len(cs))
	assertGone(t, time.Second, pid)
}

// TestExecFromThreadComm checks that the process's counts record carries
// the comm of the program it exec'd, as for an exec from the leader.
func TestExecFromThreadComm(t *testing.T) {
	requires(t)
	t.Parallel()
	_, out := runJSON(t, 30*time.Second, "--", workload("execthread"), "20")
	rep := readReport(t, out)
	if len(rep.final) != 1 || rep.final[0].Comm != "true" {
		t.Errorf("final counts records %v, want one with comm \"true\" (the process exec'd /bin/true from a thread)", rep.final)
	}
}

func TestZombieLeader(t *testing.T) {
	requires(t)
	t.Parallel()
	p, out := runJSON(t, 30*time.Second, "--per-thread", "--", workload("zombieleader"), "200")
	stdout := p.out.all()
	cs := parseCreated(t, stdout)
	root := donePID(t, stdout)
	if len(cs) != 1 {
		t.Fatalf("created lines %+v, want 1", cs)
	}
	rep := readReport(t, out)
	final := rep.finalByTID(t)
	w, ok := final[cs[0].tid]
	if !ok {
		t.Fatalf("no counts record for the worker thread %d\n%s", cs[0].tid, dump(p, out))
	}
	if w.PID != root {
		t.Errorf("worker: pid %d, want %d", w.PID, root)
	}
	if tc := value(t, w, "task-clock"); tc < ms(200) {
		t.Errorf("worker: task-clock %d ns, want >= %d", tc, ms(200))
	}
	if _, ok := final[root]; !ok {
		t.Errorf("no counts record for the leader %d", root)
	}
	checkSummary(t, rep, 2, 1)
	assertGone(t, time.Second, root)
}

// TestJSONSummaryIsLast checks the output contract that the summary record
// is the last line of a --json report, after every task event.
func TestJSONSummaryIsLast(t *testing.T) {
	requires(t)
	t.Parallel()
	for i := 0; i < 20; i++ { // the race it finds shows in about one run in six
		p, out := runJSON(t, 30*time.Second, "--", workload("forktree"), "1", "2", "1", "1")
		rep := readReport(t, out)
		if last := rep.all[len(rep.all)-1]; last.Type != "summary" {
			t.Fatalf("run %d: the last record is %s, not the summary\n%s", i, last, dump(p, out))
		}
	}
}
