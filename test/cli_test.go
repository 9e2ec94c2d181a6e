package test

import (
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perfprof/perfprof/internal/testenv"
)

func TestExitStatus(t *testing.T) {
	requires(t)
	t.Parallel()
	for _, tc := range []struct {
		name    string
		argv    []string
		code    int
		signal  int    // the workload's exit record: killed by this signal
		message string // the one stderr line names this; "" if none
	}{
		{name: "Exit7", argv: []string{"sh", "-c", "exit 7"}, code: 7},
		{name: "KilledByTERM", argv: []string{"sh", "-c", "kill -TERM $$"}, code: 143, signal: 15},
		{name: "NotFound", argv: []string{"/nonexistent"}, code: 127, message: "/nonexistent"},
		{name: "NotExecutable", argv: []string{"/etc/passwd"}, code: 126, message: "/etc/passwd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requires(t)
			out := reportPath(t)
			p, code := runPP(t, 10*time.Second, append([]string{"--json", "-o", out, "--"}, tc.argv...)...)
			if code != tc.code {
				t.Errorf("exit status %d, want %d\nstderr:\n%s", code, tc.code, p.stderr())
			}
			lines := stderrLines(p)
			if tc.message == "" {
				if len(lines) != 0 {
					t.Errorf("stderr %q, want nothing", lines)
				}
				rep := readReport(t, out)
				if len(rep.final) != 1 {
					t.Fatalf("final counts %v, want one", rep.final)
				}
				e := rep.exitsByTID()[rep.final[0].PID]
				switch {
				case len(e) != 1:
					t.Errorf("exit records %v, want 1", e)
				case tc.signal != 0 && (e[0].Signal == nil || *e[0].Signal != tc.signal):
					t.Errorf("exit record %s, want signal %d", e[0], tc.signal)
				case tc.signal == 0 && (e[0].Code == nil || *e[0].Code != tc.code):
					t.Errorf("exit record %s, want code %d", e[0], tc.code)
				}
				return
			}
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "perfprof: ") || !strings.Contains(lines[0], tc.message) {
				t.Errorf("stderr %q, want one line \"perfprof: ...\" naming %s", lines, tc.message)
			}
		})
	}
}

// checkMessage checks that stderr is one "perfprof: " line containing all
// of want, optionally followed by one "perfprof: hint: " line containing
// hint (if hint is not "", the hint line must be there).
func checkMessage(t *testing.T, p *proc, want []string, hint string) {
	t.Helper()
	lines := stderrLines(p)
	if len(lines) == 0 || len(lines) > 2 || !strings.HasPrefix(lines[0], "perfprof: ") ||
		len(lines) == 2 && !strings.HasPrefix(lines[1], "perfprof: hint: ") {
		t.Errorf("stderr %q, want \"perfprof: ...\" and at most a \"perfprof: hint: ...\" line", lines)
		return
	}
	for _, w := range want {
		if !strings.Contains(lines[0], w) {
			t.Errorf("message %q does not say %q", lines[0], w)
		}
	}
	if hint != "" && (len(lines) != 2 || !strings.Contains(lines[1], hint)) {
		t.Errorf("stderr %q, want a hint line with %q", lines, hint)
	}
}

func TestErrors(t *testing.T) {
	requires(t)
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want []string
		hint string
	}{
		{name: "NoSuchProcess", args: []string{"-p", "999999999"}, code: 1, want: []string{"999999999", "no such process"}},
		{name: "UnknownEvent", args: []string{"-e", "task-clok", "--", "true"}, code: 2, want: []string{"task-clok"}, hint: `"task-clock"`},
		{name: "HardwareEvent", args: []string{"-e", "instructions", "--", "true"}, code: 1, want: []string{"instructions", "not supported"}, hint: "PMU"},
		{name: "BogusFlag", args: []string{"--bogus"}, code: 2, want: []string{"--bogus"}},
		{name: "BadPID", args: []string{"-p", "abc"}, code: 2, want: []string{"abc"}},
		{name: "NoTarget", args: nil, code: 2, want: []string{"no target"}},
		{name: "ExitNWithoutInterval", args: []string{"-N", "3", "--", "true"}, code: 2, want: []string{"-N", "-i"}},
		{name: "PIDAndCommand", args: []string{"-p", "1", "--", "true"}, code: 2, want: []string{"true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requires(t)
			if tc.name == "HardwareEvent" && hasPMU() {
				t.Skip("this machine has a hardware PMU: instructions can be counted")
			}
			p, code := runPP(t, 10*time.Second, tc.args...)
			if code != tc.code {
				t.Errorf("exit status %d, want %d", code, tc.code)
			}
			checkMessage(t, p, tc.want, tc.hint)
			if out := p.out.all(); len(out) != 0 {
				t.Errorf("stdout %q, want nothing", out)
			}
		})
	}
	t.Run("CyclesFallsBack", func(t *testing.T) {
		requires(t)
		if hasPMU() {
			t.Skip("this machine has a hardware PMU: cycles does not fall back")
		}
		out := reportPath(t)
		p, code := runPP(t, 10*time.Second, "-e", "cycles", "--json", "-o", out, "--", "true")
		if code != 0 {
			t.Errorf("exit status %d, want 0", code)
		}
		lines := stderrLines(p)
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "perfprof: warning: ") || !strings.Contains(lines[0], "cpu-clock") {
			t.Errorf("stderr %q, want one \"perfprof: warning: \" line naming cpu-clock", lines)
		}
		rep := readReport(t, out)
		if len(rep.final) != 1 || value(t, rep.final[0], "cpu-clock") == 0 {
			t.Errorf("final counts %v, want one with cpu-clock > 0", rep.final)
		}
	})
	t.Run("AlreadyTraced", func(t *testing.T) {
		requires(t)
		strace := testenv.Tool(t, "strace")
		st := start(t, strace, "-o", os.DevNull, workload("sigtarget"), "1")
		pid := st.expectPID("ready", 5*time.Second)
		p, code := runPP(t, 10*time.Second, "-p", strconv.Itoa(pid))
		if code != 1 {
			t.Errorf("exit status %d, want 1", code)
		}
		checkMessage(t, p, []string{strconv.Itoa(pid), strconv.Itoa(st.pid()), "strace"}, "")
		if _, tr := taskState(pid, pid); tr != st.pid() {
			t.Errorf("TracerPid of %d is %d, want strace (%d) still", pid, tr, st.pid())
		}
		syscall.Kill(pid, syscall.SIGTERM)
		if code := st.wait(5 * time.Second); code != 0 {
			t.Errorf("strace of sigtarget: exit status %d after SIGTERM, want 0\n%s", code, st.stderr())
		}
	})
	t.Run("OneOfTwoPIDs", func(t *testing.T) {
		requires(t)
		tgt, pid := startTarget(t, 1)
		out := reportPath(t)
		pp := start(t, ppBin, "-p", "999999999,"+strconv.Itoa(pid), "--json", "-o", out)
		waitAllTraced(t, pid, pp.pid())
		time.Sleep(200 * time.Millisecond)
		pp.signal(os.Interrupt)
		if code := pp.wait(2 * time.Second); code != 0 {
			t.Errorf("exit status %d, want 0\nstderr:\n%s", code, pp.stderr())
		}
		lines := stderrLines(pp)
		if len(lines) == 0 || !strings.Contains(lines[0], "999999999") || !strings.HasPrefix(lines[0], "perfprof: ") {
			t.Errorf("stderr %q, want an error about 999999999 first", lines)
		}
		for _, l := range lines {
			if strings.Contains(l, strconv.Itoa(pid)) {
				t.Errorf("stderr complains about the live target: %q", l)
			}
		}
		rep := readReport(t, out)
		if _, ok := rep.finalByPID(t)[pid]; !ok {
			t.Errorf("no counts record for the live target %d", pid)
		}
		assertNotStopped(t, pid)
		stopTarget(t, tgt)
	})
}

// hasPMU reports whether this machine has a hardware PMU.
func hasPMU() bool {
	_, err := os.Stat("/sys/bus/event_source/devices/cpu")
	return err == nil
}

func TestIntervalExitN(t *testing.T) {
	requires(t)
	out := reportPath(t)
	p, code := runPP(t, 10*time.Second, "-i", "100", "-N", "3", "--json", "-o", out, "--", workload("sigtarget"), "1")
	root := 0
	for _, l := range p.out.all() {
		if s, ok := strings.CutPrefix(l, "ready "); ok {
			root, _ = strconv.Atoi(s)
		}
	}
	if root == 0 {
		t.Fatalf("no ready line from the workload:\n%s", dump(p, out))
	}
	assertGone(t, time.Second, root)
	if code != 137 {
		t.Errorf("exit status %d, want 137 (the workload is killed)", code)
	}
	if w := p.wall(); w < 250*time.Millisecond || w > 3*time.Second {
		t.Errorf("-i 100 -N 3 ran %v, want about 300 ms", w)
	}
	rep := readReport(t, out)
	// Batches: consecutive counts records with the same time.
	type batch struct {
		final bool
		pids  []int
	}
	var batches []batch
	var last int64
	for i, r := range rep.counts {
		if i == 0 || r.Time != last {
			batches = append(batches, batch{final: *r.Final})
			last = r.Time
		}
		b := &batches[len(batches)-1]
		if *r.Final != b.final {
			t.Errorf("a batch mixes final and non-final records: %s", r)
		}
		b.pids = append(b.pids, r.PID)
	}
	if len(batches) != 4 || batches[0].final || batches[1].final || batches[2].final || !batches[3].final {
		t.Fatalf("counts batches %+v, want 3 non-final then 1 final", batches)
	}
	for i, b := range batches {
		if !slices.Contains(b.pids, root) {
			t.Errorf("batch %d has no record for the workload %d: %v", i, root, b.pids)
		}
	}
	e := rep.exitsByTID()[root]
	if len(e) != 1 || e[0].Signal == nil || *e[0].Signal != 9 {
		t.Errorf("workload exit records %v, want one with signal 9", e)
	}
}

func TestManyThreadsNoCounterFailures(t *testing.T) {
	requires(t)
	t.Parallel()
	p, out := runJSON(t, 30*time.Second, "--", workload("threadtree"), "50", "1", "1")
	cs := parseCreated(t, p.out.all())
	if len(cs) != 51 {
		t.Fatalf("%d created lines, want 51", len(cs))
	}
	rep := readReport(t, out)
	checkSummary(t, rep, 52, 51)
	if lines := stderrLines(p); len(lines) != 0 {
		t.Errorf("stderr %q, want nothing", lines)
	}
}

// pageFaults runs the workload under perf stat and perfprof and returns
// their page-faults totals.
func perfStatFaults(t *testing.T, perf string, argv []string) uint64 {
	t.Helper()
	p := start(t, append([]string{perf, "stat", "-x,", "-e", "page-faults", "--"}, argv...)...)
	if code := p.wait(30 * time.Second); code != 0 {
		t.Fatalf("perf stat: exit status %d\n%s", code, p.stderr())
	}
	for _, l := range stderrLines(p) {
		f := strings.Split(l, ",")
		if len(f) > 2 && strings.HasPrefix(f[2], "page-faults") {
			n, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				t.Fatalf("perf stat: %q", l)
			}
			return n
		}
	}
	t.Fatalf("no page-faults in perf stat's output:\n%s", p.stderr())
	return 0
}

func perfprofFaults(t *testing.T, argv []string) uint64 {
	t.Helper()
	out := reportPath(t)
	p, code := runPP(t, 30*time.Second, append([]string{"-e", "page-faults", "--json", "-o", out, "--"}, argv...)...)
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, dump(p, out))
	}
	rep := readReport(t, out)
	if len(rep.final) != 5 {
		t.Errorf("%d final counts records, want 5", len(rep.final))
	}
	var n uint64
	for _, r := range rep.final {
		n += value(t, r, "page-faults")
	}
	return n
}

func median(v []uint64) uint64 {
	slices.Sort(v)
	return v[len(v)/2]
}

func TestPageFaultsMatchPerf(t *testing.T) {
	requires(t)
	t.Parallel()
	perf, err := exec.LookPath("perf")
	if err != nil {
		t.Skip("perf is not in $PATH: no reference to compare page-faults with (optional, also under PERFPROF_TEST_STRICT)")
	}
	argv := []string{workload("pagetouch"), "4", "2000"}
	var ref, got []uint64
	for i := 0; i < 3; i++ {
		ref = append(ref, perfStatFaults(t, perf, argv))
		got = append(got, perfprofFaults(t, argv))
	}
	r, g := median(ref), median(got)
	t.Logf("page-faults: perf stat %v (median %d), perfprof %v (median %d)", ref, r, got, g)
	if g*100 < r*98 || g*100 > r*102 {
		t.Errorf("perfprof counts %d page-faults, perf stat %d: more than 2%% apart", g, r)
	}
}

// TestFDLimit runs out of file descriptors mid-run: perfprof counts the
// tasks it could not open counters for, keeps following them, leaves no
// task stopped, and says what to do.
func TestFDLimit(t *testing.T) {
	requires(t)
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	t.Parallel()
	out := reportPath(t)
	// 51 threads alive at once (each burns 30 ms); perfprof gets 24 fds.
	p := start(t, prlimit, "--nofile=24:24", "--", ppBin, "--json", "-o", out, "--", workload("threadtree"), "50", "30", "1")
	code := p.wait(30 * time.Second)
	p.waitEOF(2 * time.Second)
	if code != 0 {
		t.Fatalf("exit status %d, want the workload's 0\n%s", code, dump(p, out))
	}
	cs := parseCreated(t, p.out.all())
	if len(cs) != 51 {
		t.Fatalf("%d created lines, want 51", len(cs))
	}
	rep := readReport(t, out)
	forks := rep.forksByTID(t)
	for _, c := range cs {
		if _, ok := forks[c.tid]; !ok {
			t.Errorf("thread %d not followed", c.tid)
		}
	}
	if rep.summary.CounterFailures == nil || *rep.summary.CounterFailures == 0 {
		t.Fatalf("summary %v: want counter failures", rep.summary)
	}
	if *rep.summary.TasksFollowed != 52 {
		t.Errorf("tasks followed %d, want 52", *rep.summary.TasksFollowed)
	}
	msg := p.stderr()
	if !strings.Contains(msg, "too many open files") || !strings.Contains(msg, "hint:") || !strings.Contains(msg, "ulimit -n") {
		t.Errorf("stderr %q: want the failure count, the cause and a hint", msg)
	}
}

// TestNotPermitted attaches, as an unprivileged user, to a process of
// root's: a one-line error naming the cause, a hint, exit status 1, and
// the target untouched.
func TestNotPermitted(t *testing.T) {
	requires(t)
	t.Parallel()
	// A copy of the binary that user nobody can run.
	dir, err := os.MkdirTemp("", "perfprof-nobody")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "perfprof")
	data, err := os.ReadFile(ppBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	tgt, pid := startTarget(t, 1)
	defer stopTarget(t, tgt)

	cmd := exec.Command(bin, "-p", strconv.Itoa(pid), "--duration", "1s")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1; stderr %q", err, stderr.String())
	}
	// A warning that it falls back to :u may come first.
	msg := stderr.String()
	i := strings.Index(msg, "perfprof: attach to")
	lines := strings.Split(strings.TrimSpace(msg[max(i, 0):]), "\n")
	if i < 0 || len(lines) != 2 || !strings.Contains(lines[0], "not permitted") || !strings.HasPrefix(lines[1], "perfprof: hint: ") || !strings.Contains(lines[1], "root") {
		t.Errorf("stderr %q: want the cause and a hint naming root", msg)
	}
	if st := threadStates(pid); strings.Contains(st, ":t") || strings.Contains(st, ":T") {
		t.Errorf("target states %q after a refused attach", st)
	}
}

// TestWorkloadKeepsFileLimit checks that perfprof raises its own fd limit
// but starts the workload with the limits perfprof itself was given.
func TestWorkloadKeepsFileLimit(t *testing.T) {
	requires(t)
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed")
	}
	t.Parallel()
	p := start(t, prlimit, "--nofile=1024:4096", "--", ppBin, "-o", os.DevNull, "--", "/bin/sh", "-c", "ulimit -Sn; ulimit -Hn")
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit status %d: %s", code, p.stderr())
	}
	if got := p.waitEOF(2 * time.Second); !slices.Equal(got, []string{"1024", "4096"}) {
		t.Errorf("workload's soft and hard fd limits %q, want 1024 and 4096", got)
	}
}

// TestCPUProfile: --cpuprofile writes a pprof profile (gzipped protobuf)
// of perfprof itself, and an unwritable path is a one-line error before
// anything runs.
func TestCPUProfile(t *testing.T) {
	requires(t)
	t.Parallel()
	prof := filepath.Join(t.TempDir(), "cpu.pprof")
	p, code := runPP(t, 30*time.Second, "--cpuprofile", prof, "-o", os.DevNull, "--", workload("forktree"), "2", "3", "1", "5")
	if code != 0 {
		t.Fatalf("exit status %d, want 0\n%s", code, p.stderr())
	}
	f, err := os.Open(prof)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s is not gzip, as a pprof profile is: %v", prof, err)
	}
	if b, err := io.ReadAll(zr); err != nil || len(b) == 0 {
		t.Fatalf("%s: %d bytes after gunzip, err %v", prof, len(b), err)
	}

	p, code = runPP(t, 10*time.Second, "--cpuprofile", filepath.Join(t.TempDir(), "no", "such", "dir"), "--", "true")
	lines := stderrLines(p)
	if code != 1 || len(lines) != 1 || !strings.Contains(lines[0], "cannot write the CPU profile") {
		t.Errorf("unwritable --cpuprofile: exit status %d, stderr %q; want 1 and one line naming the cause", code, lines)
	}
}

// TestVersion: --version names the Go that built perfprof and the
// revision it was built from.
func TestVersion(t *testing.T) {
	requires(t)
	t.Parallel()
	p, code := runPP(t, 10*time.Second, "--version")
	out := strings.Join(p.out.all(), "\n")
	if code != 0 || !strings.HasPrefix(out, "perfprof ") || !strings.Contains(out, runtime.Version()) || p.stderr() != "" {
		t.Errorf("--version: status %d, stdout %q, stderr %q", code, out, p.stderr())
	}
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Logf("not in a git checkout (%v): no revision to check", err)
		return
	}
	if rev := strings.TrimSpace(string(head)); !strings.Contains(out, "revision "+rev[:12]) {
		t.Errorf("--version %q does not name revision %s", out, rev[:12])
	}
}

// TestFoldAndByComm: with --fold-after, ended processes beyond the bound
// are folded by command name and still counted; --by-comm gives one row
// per command with its number of processes.
func TestFoldAndByComm(t *testing.T) {
	requires(t)
	t.Parallel()
	loop := "for i in $(seq 20); do echo $i | cat | wc -c >/dev/null; done"
	t.Run("Fold", func(t *testing.T) {
		requires(t)
		_, out := runJSON(t, 30*time.Second, "--fold-after", "3", "-e", "task-clock,page-faults", "--", "sh", "-c", loop)
		rep := readReport(t, out)
		processes, kept, folded := 0, 0, 0
		for _, r := range rep.final {
			switch {
			case r.Folded:
				folded++
				processes += r.Processes
				if r.PID != 0 || r.Processes < 1 || value(t, r, "page-faults") == 0 {
					t.Errorf("folded row %s: want no pid, its processes and their counts", r)
				}
			default:
				kept++
				processes++
			}
		}
		forks := 0
		for _, f := range rep.forks {
			if f.PID == f.TID {
				forks++
			}
		}
		// The shell, 20 × (a subshell, cat, wc), and seq.
		if processes != forks+1 || processes != 62 {
			t.Errorf("rows hold %d processes, %d were created (+1), want 62", processes, forks)
		}
		if kept > 3+1 || folded == 0 {
			t.Errorf("%d rows of their own (the live shell and 3 ended at most), %d folded", kept, folded)
		}
	})
	t.Run("ByComm", func(t *testing.T) {
		requires(t)
		_, out := runJSON(t, 30*time.Second, "--by-comm", "-e", "task-clock", "--", "sh", "-c", loop)
		rep := readReport(t, out)
		got := map[string]int{}
		for _, r := range rep.final {
			got[r.Comm] = r.Processes
			if r.PID != 0 || value(t, r, "task-clock") == 0 {
				t.Errorf("row %s: want no pid, counted", r)
			}
		}
		if want := map[string]int{"sh": 21, "cat": 20, "wc": 20, "seq": 1}; !reflect.DeepEqual(got, want) {
			t.Errorf("processes per command %v, want %v", got, want)
		}
	})
}
