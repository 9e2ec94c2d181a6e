package test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/perfprof/perfprof/internal/testenv"
)

// hotTree is a run of hotfuncs MS STATIC GO: the pids of its parent
// (PIE, hot in hot_gamma) and of its children: alpha (the static build,
// exec'd: hot_alpha), beta (PIE, forked: hot_beta) and delta (the Go
// binary goBin, exec'd: main.hotDelta).
type hotTree struct {
	parent, alpha, beta, delta int
	goBin                      string
}

// hot returns each process's hot function and command name, by pid.
func (h hotTree) hot() map[int][2]string {
	return map[int][2]string{
		h.parent: {"hot_gamma", "hotfuncs"},
		h.alpha:  {"hot_alpha", "hotfuncs-static"},
		h.beta:   {"hot_beta", "hotfuncs"},
		h.delta:  {"main.hotDelta", h.goBin},
	}
}

// hotArgv is hotfuncs MS STATIC GO's command line, with goBin the Go
// binary (hotgo, or hotgo-stripped: only .gopclntab names its functions).
func hotArgv(ms int, goBin string) []string {
	return []string{workload("hotfuncs"), strconv.Itoa(ms), workload("hotfuncs-static"), workload(goBin)}
}

// hotProfile runs hotfuncs MS STATIC GO under perfprof -F 999 -g with the
// profile flags args, through sh's exec when viaExec.
func hotProfile(t *testing.T, ms int, viaExec bool, goBin string, args ...string) hotTree {
	t.Helper()
	argv := append([]string{"-F", "999", "-g", "-e", "task-clock"}, args...)
	w := hotArgv(ms, goBin)
	if viaExec {
		w = []string{"/bin/sh", "-c", "exec " + strings.Join(w, " ")}
	}
	p, code := runPP(t, 30*time.Second, append(append(argv, "--"), w...)...)
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr())
	}
	cs := parseCreated(t, p.out.all())
	if len(cs) != 3 {
		t.Fatalf("%d children created, want 3", len(cs))
	}
	return hotTree{parent: cs[0].parent, alpha: cs[0].tid, beta: cs[1].tid, delta: cs[2].tid, goBin: goBin}
}

// topByPID returns the function with the most self samples of each pid
// of a pprof profile.
func topByPID(t *testing.T, prof *profile.Profile) map[int64]string {
	t.Helper()
	self := map[int64]map[string]int64{}
	for _, s := range prof.Sample {
		pid := s.NumLabel["pid"]
		if len(pid) != 1 || len(s.Label["comm"]) != 1 || len(s.NumLabel["tid"]) != 1 {
			t.Fatalf("sample labels %v %v: want one pid, tid and comm", s.Label, s.NumLabel)
		}
		if len(s.Location) == 0 {
			continue
		}
		if self[pid[0]] == nil {
			self[pid[0]] = map[string]int64{}
		}
		self[pid[0]][s.Location[0].Line[0].Function.Name] += s.Value[0]
	}
	top := map[int64]string{}
	for pid, fns := range self {
		var best int64
		for fn, n := range fns {
			if n > best {
				best, top[pid] = n, fn
			}
		}
	}
	return top
}

// TestProfilePprof: --pprof writes a profile that go tool pprof reads,
// in which each process of the tree, by its pid label, has its own hot
// function on top; the processes that live 20 ms too; kernel frames are
// named as /proc/kallsyms names them.
func TestProfilePprof(t *testing.T) {
	requires(t)
	// Not in parallel with the other tests: on 2 CPUs they preempt the
	// workload, and what this test checks then moves with the load (the
	// kernel's switch-in takes the samples; see usage.md).
	for _, ms := range []int{300, 20} {
		t.Run(strconv.Itoa(ms)+"ms", func(t *testing.T) {
			requires(t)
			file := filepath.Join(t.TempDir(), "out.pb.gz")
			h := hotProfile(t, ms, false, "hotgo-stripped", "--pprof", file)
			prof := readProfile(t, file)
			if st := prof.SampleType; len(st) != 2 || st[1].Type != "cpu" || st[1].Unit != "nanoseconds" {
				t.Errorf("sample types %v, want samples/count and cpu/nanoseconds", st)
			}
			top := topByPID(t, prof)
			for pid, want := range h.hot() {
				if top[int64(pid)] != want[0] {
					t.Errorf("process %d (%s): top function %q, want %q (all: %v)", pid, want[1], top[int64(pid)], want[0], top)
				}
			}
			if ms < 300 {
				return
			}
			// go tool pprof reads it, and its tag filter shows one process.
			gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
			if _, err := os.Stat(gobin); err != nil {
				gobin = testenv.Tool(t, "go")
			}
			out, err := exec.Command(gobin, "tool", "pprof", "-top", "-tagfocus=pid="+strconv.Itoa(h.alpha), file).CombinedOutput()
			if err != nil {
				t.Fatalf("go tool pprof: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "hot_alpha") || strings.Contains(string(out), "hot_beta") {
				t.Errorf("go tool pprof -top -tagfocus=pid=%d: want hot_alpha alone:\n%s", h.alpha, out)
			}
			// Every kernel function is one of /proc/kallsyms.
			ksyms := kallsymNames(t)
			kernel := 0
			for _, fn := range prof.Function {
				if fn.Filename == "[kernel.kallsyms]" {
					kernel++
					name, _, _ := strings.Cut(fn.Name, " [")
					if !ksyms[name] {
						t.Errorf("kernel frame %q is not in /proc/kallsyms", fn.Name)
					}
				}
			}
			if kernel == 0 {
				t.Errorf("no kernel frame in the profile: the kernel part of the call chains is lost")
			}
		})
	}
}

// TestProfileUserClockUnit: the profile of task-clock:u (what perfprof
// counts for a user without privileges) has its periods in nanoseconds
// of CPU, as task-clock's: go tool pprof -top totals them in ms or s, not
// as a bare count ("Total samples = 156312624", issue 17).
func TestProfileUserClockUnit(t *testing.T) {
	requires(t)
	t.Parallel()
	file := filepath.Join(t.TempDir(), "out.pb.gz")
	p, code := runPP(t, 30*time.Second, "-F", "499", "-e", "task-clock:u", "--pprof", file, "--",
		"/bin/sh", "-c", workload("hotfuncs")+" 300")
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr())
	}
	prof := readProfile(t, file)
	if st := prof.SampleType; len(st) != 2 || st[1].Type != "cpu" || st[1].Unit != "nanoseconds" || prof.DefaultSampleType != "cpu" {
		t.Errorf("sample types %v (default %q), want samples/count and cpu/nanoseconds", st, prof.DefaultSampleType)
	}
	gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = testenv.Tool(t, "go")
	}
	out, err := exec.Command(gobin, "tool", "pprof", "-top", file).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof: %v\n%s", err, out)
	}
	total := regexp.MustCompile(`Total samples = ([0-9.]+)([a-z]*)`).FindStringSubmatch(string(out))
	if total == nil || (total[2] != "ms" && total[2] != "s") {
		t.Errorf("go tool pprof -top: want \"Total samples = N ms\" (or s):\n%s", out)
	}
}

// kallsymNames returns the names of /proc/kallsyms.
func kallsymNames(t *testing.T) map[string]bool {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) >= 3 {
			names[fs[2]] = true
		}
	}
	return names
}

// TestProfileFolded: --folded writes one line per stack, rooted at
// comm-pid, the hot function of each process its leaf, kernel frames
// marked _[k]; an exec switches the symbols (sh becomes hotfuncs).
func TestProfileFolded(t *testing.T) {
	requires(t)
	t.Parallel()
	checkFoldedHot(t)
}

// checkFoldedHot profiles the hot tree with --folded and the extra
// arguments, and checks each process's hottest function.
func checkFoldedHot(t *testing.T, extra ...string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "out.folded")
	h := hotProfile(t, 300, true, "hotgo-stripped", append(extra, "--folded", file)...)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	leaf := map[string]map[string]int{} // root: leaf: count
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		// The count follows the last space: frames may hold spaces
		// (Go's "go.shape.interface {}"), as flamegraph.pl allows.
		i := strings.LastIndexByte(l, ' ')
		stack, n := l[:max(i, 0)], l[i+1:]
		count, err := strconv.Atoi(n)
		if i <= 0 || err != nil || count <= 0 {
			t.Fatalf("folded line %q: want \"stack count\"", l)
		}
		frames := strings.Split(stack, ";")
		if leaf[frames[0]] == nil {
			leaf[frames[0]] = map[string]int{}
		}
		// The hottest user function: the innermost frame not in the kernel.
		for i := len(frames) - 1; i > 0; i-- {
			if !strings.HasSuffix(frames[i], "_[k]") {
				leaf[frames[0]][frames[i]] += count
				break
			}
		}
	}
	for pid, want := range h.hot() {
		root := want[1] + "-" + strconv.Itoa(pid)
		best, top := 0, ""
		for fn, n := range leaf[root] {
			if n > best {
				best, top = n, fn
			}
		}
		if top != want[0] {
			t.Errorf("%s: hottest %q, want %q (roots: %v)", root, top, want[0], leaf)
		}
	}
}

// TestProfileTop: --top prints each process's hottest functions, at the
// end and at every -i.
func TestProfileTop(t *testing.T) {
	requires(t)
	t.Parallel()
	out := filepath.Join(t.TempDir(), "report.txt")
	beta := hotProfile(t, 400, false, "hotgo-stripped", "--top", "-i", "150", "-o", out).beta
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	head := " hotfuncs " + strconv.Itoa(beta) + ":"
	if n := strings.Count(string(b), head); n < 2 {
		t.Errorf("process %d: %d tops, want one at each -i report and one at the end:\n%s", beta, n, b)
	}
	i := strings.LastIndex(string(b), head)
	_, after, ok := strings.Cut(string(b)[max(i, 0):], head)
	if !ok {
		t.Fatalf("no top for process %d:\n%s", beta, b)
	}
	lines := strings.Split(after, "\n")
	if len(lines) < 3 || !strings.HasSuffix(strings.TrimSpace(lines[2]), "hot_beta") {
		t.Errorf("process %d: the first function is not hot_beta:\n%s", beta, after)
	}
}

// burnPy is a Python program nobody here wrote the interpreter of: about
// 2 s of CPU spread over the interpreter's loop, its integers, lists,
// sorting and strings.
const burnPy = `import time
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
end = time.monotonic() + 2
while time.monotonic() < end:
    fib(18)
    sorted(range(3000, 0, -1), key=lambda x: x % 7)
    "-".join(str(i * i) for i in range(800))
`

// sameRun runs perf record -F 4999 -e task-clock on perfprof -F 4999 -g
// --pprof on argv: perf samples the processes perfprof samples, in the
// same run, for their whole lives, so that the two tools see one
// execution and differ only by what each makes of its samples (and by
// sampling noise). It returns perfprof's profile and perf's data file.
func sameRun(t *testing.T, argv ...string) (*profile.Profile, string) {
	t.Helper()
	perf := testenv.Tool(t, "perf")
	dir := t.TempDir()
	data, file := filepath.Join(dir, "perf.data"), filepath.Join(dir, "out.pb.gz")
	p := start(t, append([]string{perf, "record", "-q", "-F", "4999", "-e", "task-clock", "-o", data, "--",
		ppBin, "-F", "4999", "-g", "-e", "task-clock", "--pprof", file, "-o", filepath.Join(dir, "report.txt"), "--"}, argv...)...)
	if code := p.wait(60 * time.Second); code != 0 {
		t.Fatalf("perf record -- perfprof: exit status %d\n%s", code, p.stderr())
	}
	return readProfile(t, file), data
}

// readProfile reads a pprof profile, which must parse.
func readProfile(t *testing.T, path string) *profile.Profile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	prof, err := profile.Parse(f)
	if err != nil {
		t.Fatalf("%s does not parse: %v", path, err)
	}
	return prof
}

// leafShares returns, for each pid of a profile, the share of its
// user-space samples (those whose innermost frame is not the kernel's, as
// perf report's [.] lines count them) in each function, in percent; and
// each pid's command name. The kernel's samples are left out: a sampling
// task-clock opened for one task (perfprof's) stops its timer at every
// switch-out and, when the period ran out with interrupts off, restarts
// it 10 µs after the switch-in, so that a preempted process shows 1 to 10%
// of samples in the switch-in path (finish_task_switch,
// irqentry_exit_to_user_mode) that perf record's inherited events do not,
// likely because they are swapped whole between the tasks of one tree
// (docs/usage.md, Profiles).
func leafShares(prof *profile.Profile) (map[int64]map[string]float64, map[int64]string) {
	shares := map[int64]map[string]float64{}
	totals := map[int64]float64{}
	comms := map[int64]string{}
	for _, s := range prof.Sample {
		if len(s.Location) == 0 || len(s.NumLabel["pid"]) != 1 {
			continue
		}
		pid := s.NumLabel["pid"][0]
		if shares[pid] == nil {
			shares[pid] = map[string]float64{}
		}
		if c := s.Label["comm"]; len(c) == 1 {
			comms[pid] = c[0]
		}
		if l := s.Location[0]; l.Mapping == nil || l.Mapping.File != "[kernel.kallsyms]" {
			shares[pid][l.Line[0].Function.Name] += float64(s.Value[0])
			totals[pid] += float64(s.Value[0])
		}
	}
	for pid, fns := range shares {
		for fn := range fns {
			fns[fn] *= 100 / totals[pid]
		}
	}
	return shares, comms
}

// perfShares returns perf report's share of process pid's user-space
// samples (in percent) in each function, from perf record's data file:
// perf report gives shares of all the samples (perfprof's own too), made
// here shares of the process's user-space ones. Only the samples with
// the command name comm count: a process perfprof launched ran
// perfprof's own code before its exec, which perf samples and perfprof
// does not.
func perfShares(t *testing.T, data string, pid int64, comm string) map[string]float64 {
	t.Helper()
	out, err := exec.Command(testenv.Tool(t, "perf"), "report", "-i", data, "--stdio", "--sort", "sym", "--no-children",
		"-g", "none", "--pid", strconv.FormatInt(pid, 10), "--comms", comm).Output()
	if err != nil {
		t.Fatalf("perf report: %v", err)
	}
	shares := map[string]float64{}
	var total float64
	for _, l := range strings.Split(string(out), "\n") {
		// "    12.34%  [.] _PyEval_EvalFrameDefault"
		f := strings.Fields(l)
		if len(f) < 3 || !strings.HasSuffix(f[0], "%") || f[1] != "[.]" {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		if err != nil {
			continue
		}
		shares[strings.Join(f[2:], " ")] += pct
		total += pct
	}
	for fn := range shares {
		shares[fn] *= 100 / total
	}
	return shares
}

// agree checks that every function with 2% or more of process pid's
// samples in perf's report has perfprof's share within 3 points of it,
// and returns how many were compared. perf's unnamed addresses are not
// compared.
func agree(t *testing.T, pid int64, ours, theirs map[string]float64) int {
	t.Helper()
	compared := 0
	for fn, share := range theirs {
		if share < 2 {
			continue
		}
		if strings.HasPrefix(fn, "0x") || fn == "[unknown]" {
			t.Logf("process %d: perf names nothing for %.1f%% of the samples (%s): not compared", pid, share, fn)
			continue
		}
		compared++
		t.Logf("process %d: %s: perfprof %.1f%%, perf %.1f%%", pid, fn, ours[fn], share)
		if d := ours[fn] - share; d > 3 || d < -3 {
			t.Errorf("process %d: %s: perfprof %.1f%% of its samples, perf %.1f%%: more than 3 points apart", pid, fn, ours[fn], share)
		}
	}
	return compared
}

// TestProfileMatchesPerf: on hotfuncs' tree (a PIE, a static binary and a
// Go binary, each process hot in a function of its own), each process's
// share of user-space samples in each of its functions agrees with perf
// record + perf report's within 3 points, for every function with 2% or
// more (at 4999 Hz for 300 ms, sampling noise is about 1 point).
func TestProfileMatchesPerf(t *testing.T) {
	requires(t)
	// Not in parallel with the other tests: on 2 CPUs they preempt the
	// workload, and what this test checks then moves with the load (the
	// kernel's switch-in takes the samples; see usage.md).
	// Launched as a workload, so as hotProfile does, with the Go binary
	// perf can name (it reads no .gopclntab).
	prof, data := sameRun(t, hotArgv(300, "hotgo")...)
	ours, comms := leafShares(prof)
	hot := map[string]bool{}
	for pid, fns := range ours {
		theirs := perfShares(t, data, pid, comms[pid])
		if agree(t, pid, fns, theirs) == 0 {
			t.Errorf("process %d (%s): no function compared", pid, comms[pid])
		}
		for fn, share := range fns {
			if share > 50 {
				hot[fn] = true
			}
		}
	}
	for _, fn := range []string{"hot_alpha", "hot_beta", "hot_gamma", "main.hotDelta"} {
		if !hot[fn] {
			t.Errorf("no process has most of its samples in %s: %v", fn, ours)
		}
	}
}

// TestProfileRealProgram: on a real program (Python: the interpreter's
// own functions, and libc's), each function's share of the process's
// user-space samples agrees with perf report's within 3 points, for every function
// with 2% or more (at 4999 Hz for 2 s, sampling noise is about 0.7
// points). perf names libc's local functions from Debian's libc6-dbg when
// it is installed, and so does perfprof (see symbol.DebugDirs).
func TestProfileRealProgram(t *testing.T) {
	requires(t)
	// Not in parallel with the other tests: on 2 CPUs they preempt the
	// workload, and what this test checks then moves with the load (the
	// kernel's switch-in takes the samples; see usage.md).
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		python = testenv.Tool(t, "python3")
	}
	script := filepath.Join(t.TempDir(), "burn.py")
	if err := os.WriteFile(script, []byte(burnPy), 0o644); err != nil {
		t.Fatal(err)
	}
	prof, data := sameRun(t, python, script)
	ours, comms := leafShares(prof)
	var pid int64
	for p, c := range comms {
		if strings.HasPrefix(c, "python") && (pid == 0 || len(ours[p]) > len(ours[pid])) {
			pid = p
		}
	}
	if pid == 0 {
		t.Fatalf("no python process in the profile: %v", comms)
	}
	if agree(t, pid, ours[pid], perfShares(t, data, pid, comms[pid])) == 0 {
		t.Fatalf("no function with 2%% of process %d's samples in perf's report", pid)
	}
}

// TestProfileDir: --pprof-dir writes a profile of each interval, named by
// time, that the profile package parses; their samples add up to the
// run's (none lost or counted twice between intervals); --keep bounds
// how many stay.
func TestProfileDir(t *testing.T) {
	requires(t)
	// Not in parallel with the other tests: on 2 CPUs they preempt the
	// workload, and what this test checks then moves with the load (the
	// kernel's switch-in takes the samples; see usage.md).
	for _, keep := range []int{0, 2} {
		dir := filepath.Join(t.TempDir(), "profiles")
		out := reportPath(t)
		p, code := runPP(t, 30*time.Second, "--json", "-o", out, "-F", "499", "-g", "-e", "task-clock", "--pprof-dir", dir,
			"--keep", strconv.Itoa(keep), "-i", "150", "--", workload("hotfuncs"), "700")
		if code != 0 {
			t.Fatalf("exit status %d\n%s", code, p.stderr())
		}
		_, _, rep := samplingReport(t, out)
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		var last string
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), "perfprof-") || !strings.HasSuffix(e.Name(), ".pb.gz") || e.Name() <= last {
				t.Errorf("file %q in --pprof-dir (after %q)", e.Name(), last)
			}
			last = e.Name()
			prof := readProfile(t, filepath.Join(dir, e.Name()))
			if d := time.Duration(prof.DurationNanos); d <= 0 || d > 2*time.Second {
				t.Errorf("%s: duration %v, want about an interval", e.Name(), d)
			}
			for _, s := range prof.Sample {
				total += s.Value[0]
			}
		}
		switch {
		case keep == 0 && (len(ents) < 4 || rep.summary.Samples == nil || total != *rep.summary.Samples):
			t.Errorf("--keep 0: %d profiles with %d samples in all; the summary: %v samples", len(ents), total, rep.summary.Samples)
		case keep == 2 && len(ents) != 2:
			t.Errorf("--keep 2: %d profiles left, want 2", len(ents))
		}
	}
}
