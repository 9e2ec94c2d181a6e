package test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/perfprof/perfprof/internal/testenv"
)

// hotProfile runs hotfuncs MS under perfprof -F 999 -g with the profile
// flags args, through sh's exec when viaExec, and returns the pids of its
// parent and its two children (hot_alpha's, hot_beta's).
func hotProfile(t *testing.T, ms int, viaExec bool, args ...string) (parent, alpha, beta int) {
	t.Helper()
	argv := append([]string{"-F", "999", "-g", "-e", "task-clock"}, args...)
	w := []string{workload("hotfuncs"), strconv.Itoa(ms)}
	if viaExec {
		w = []string{"/bin/sh", "-c", "exec " + strings.Join(w, " ")}
	}
	p, code := runPP(t, 30*time.Second, append(append(argv, "--"), w...)...)
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr())
	}
	cs := parseCreated(t, p.out.all())
	if len(cs) != 2 {
		t.Fatalf("%d children created, want 2", len(cs))
	}
	return cs[0].parent, cs[0].tid, cs[1].tid
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
	t.Parallel()
	for _, ms := range []int{300, 20} {
		t.Run(strconv.Itoa(ms)+"ms", func(t *testing.T) {
			requires(t)
			file := filepath.Join(t.TempDir(), "out.pb.gz")
			parent, alpha, beta := hotProfile(t, ms, false, "--pprof", file)
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			prof, err := profile.Parse(f)
			if err != nil {
				t.Fatalf("the profile does not parse: %v", err)
			}
			if st := prof.SampleType; len(st) != 2 || st[1].Type != "cpu" || st[1].Unit != "nanoseconds" {
				t.Errorf("sample types %v, want samples/count and cpu/nanoseconds", st)
			}
			top := topByPID(t, prof)
			for pid, want := range map[int]string{alpha: "hot_alpha", beta: "hot_beta", parent: "hot_gamma"} {
				if top[int64(pid)] != want {
					t.Errorf("process %d: top function %q, want %q (all: %v)", pid, top[int64(pid)], want, top)
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
			out, err := exec.Command(gobin, "tool", "pprof", "-top", "-tagfocus=pid="+strconv.Itoa(alpha), file).CombinedOutput()
			if err != nil {
				t.Fatalf("go tool pprof: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "hot_alpha") || strings.Contains(string(out), "hot_beta") {
				t.Errorf("go tool pprof -top -tagfocus=pid=%d: want hot_alpha alone:\n%s", alpha, out)
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
	file := filepath.Join(t.TempDir(), "out.folded")
	parent, alpha, beta := hotProfile(t, 300, true, "--folded", file)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	leaf := map[string]map[string]int{} // root: leaf: count
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		stack, n, ok := strings.Cut(l, " ")
		count, err := strconv.Atoi(n)
		if !ok || err != nil || count <= 0 {
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
	for pid, want := range map[int]string{alpha: "hot_alpha", beta: "hot_beta", parent: "hot_gamma"} {
		root := "hotfuncs-" + strconv.Itoa(pid)
		best, top := 0, ""
		for fn, n := range leaf[root] {
			if n > best {
				best, top = n, fn
			}
		}
		if top != want {
			t.Errorf("%s: hottest %q, want %q (roots: %v)", root, top, want, leaf)
		}
	}
}

// TestProfileTop: --top prints each process's hottest functions, at the
// end and at every -i.
func TestProfileTop(t *testing.T) {
	requires(t)
	t.Parallel()
	out := filepath.Join(t.TempDir(), "report.txt")
	_, alpha, _ := hotProfile(t, 400, false, "--top", "-i", "150", "-o", out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	head := " hotfuncs " + strconv.Itoa(alpha) + ":"
	if n := strings.Count(string(b), head); n < 2 {
		t.Errorf("process %d: %d tops, want one at each -i report and one at the end:\n%s", alpha, n, b)
	}
	i := strings.LastIndex(string(b), head)
	_, after, ok := strings.Cut(string(b)[max(i, 0):], head)
	if !ok {
		t.Fatalf("no top for process %d:\n%s", alpha, b)
	}
	lines := strings.Split(after, "\n")
	if len(lines) < 3 || !strings.HasSuffix(strings.TrimSpace(lines[2]), "hot_alpha") {
		t.Errorf("process %d: the first function is not hot_alpha:\n%s", alpha, after)
	}
}

// userShares returns, for each pid, the share of its samples whose
// innermost user frame is in each function, in percent: the profile
// without the kernel frames above it.
func userShares(t *testing.T, prof *profile.Profile) map[int64]map[string]float64 {
	t.Helper()
	counts := map[int64]map[string]float64{}
	totals := map[int64]float64{}
	for _, s := range prof.Sample {
		pid := s.NumLabel["pid"][0]
		for _, l := range s.Location {
			if l.Mapping != nil && l.Mapping.File == "[kernel.kallsyms]" {
				continue
			}
			if counts[pid] == nil {
				counts[pid] = map[string]float64{}
			}
			counts[pid][l.Line[0].Function.Name] += float64(s.Value[0])
			totals[pid] += float64(s.Value[0])
			break
		}
	}
	for pid, fns := range counts {
		for fn := range fns {
			fns[fn] *= 100 / totals[pid]
		}
	}
	return counts
}

// perfUserShares runs perf record -g on hotfuncs and returns what
// perf report gives as userShares does: for each pid, the share of its
// user-space samples in each symbol.
func perfUserShares(t *testing.T, ms int) map[int]map[string]float64 {
	t.Helper()
	perf := testenv.Tool(t, "perf")
	data := filepath.Join(t.TempDir(), "perf.data")
	if out, err := exec.Command(perf, "record", "-q", "-F", "999", "-g", "-e", "task-clock", "-o", data, "--",
		workload("hotfuncs"), strconv.Itoa(ms)).CombinedOutput(); err != nil {
		t.Fatalf("perf record: %v\n%s", err, out)
	}
	out, err := exec.Command(perf, "report", "-i", data, "--stdio", "--sort", "pid,sym", "--no-children", "-g", "none").Output()
	if err != nil {
		t.Fatalf("perf report: %v", err)
	}
	shares := map[int]map[string]float64{}
	totals := map[int]float64{}
	for _, l := range strings.Split(string(out), "\n") {
		// "    39.63%    32706:hotfuncs  [.] hot_alpha"
		f := strings.Fields(l)
		if len(f) < 4 || !strings.HasSuffix(f[0], "%") || f[2] != "[.]" {
			continue
		}
		pct, err1 := strconv.ParseFloat(strings.TrimSuffix(f[0], "%"), 64)
		pid, err2 := strconv.Atoi(strings.SplitN(f[1], ":", 2)[0])
		if err1 != nil || err2 != nil {
			continue
		}
		if shares[pid] == nil {
			shares[pid] = map[string]float64{}
		}
		shares[pid][f[3]] += pct
		totals[pid] += pct
	}
	for pid, fns := range shares {
		for fn := range fns {
			fns[fn] *= 100 / totals[pid]
		}
	}
	return shares
}

// TestProfileMatchesPerf: on the same workload, each process's share of
// samples in its hot function agrees with perf record -g + perf report
// within 3 percentage points, counted over user-space frames (the kernel
// frames of preemption differ between the two tools' runs; see
// docs/usage.md, Profiles).
func TestProfileMatchesPerf(t *testing.T) {
	requires(t)
	t.Parallel()
	const ms = 300
	want := perfUserShares(t, ms)
	file := filepath.Join(t.TempDir(), "out.pb.gz")
	parent, alpha, beta := hotProfile(t, ms, false, "--pprof", file)
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	prof, err := profile.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	got := userShares(t, prof)
	for pid, fn := range map[int]string{alpha: "hot_alpha", beta: "hot_beta", parent: "hot_gamma"} {
		var perfShare float64
		found := false
		for _, fns := range want { // perf's run has other pids: the one hot in fn
			if s, ok := fns[fn]; ok && s > 50 {
				perfShare, found = s, true
			}
		}
		if !found {
			t.Fatalf("perf report has no process mostly in %s: %v", fn, want)
		}
		ours := got[int64(pid)][fn]
		t.Logf("%s: perfprof %.1f%%, perf %.1f%%", fn, ours, perfShare)
		if d := ours - perfShare; d > 3 || d < -3 {
			t.Errorf("%s: perfprof %.1f%% of process %d's user samples, perf %.1f%%: more than 3 points apart", fn, ours, pid, perfShare)
		}
	}
}
