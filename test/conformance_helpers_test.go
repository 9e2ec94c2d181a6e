package test

// Helpers of the reliability conformance suite (conformance_test.go). The
// suite's C targets live in scripts/conformance and are built on first use.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	confOnce sync.Once
	confErr  error
	confDir  string // scripts/conformance, absolute
)

// confBin builds scripts/conformance once and returns the path of one of
// its targets. Call requires(t) first.
func confBin(t *testing.T, name string) string {
	t.Helper()
	confOnce.Do(func() {
		confDir = filepath.Join(filepath.Dir(binDir), "conformance")
		if out, err := exec.Command("make", "-s", "-C", confDir).CombinedOutput(); err != nil {
			confErr = fmt.Errorf("make -C %s: %v\n%s", confDir, err, out)
		}
	})
	if confErr != nil {
		t.Fatal(confErr)
	}
	return filepath.Join(confDir, "bin", name)
}

// forkKinds are the fork record kinds a "created KIND" line may show as.
func forkKinds(created string) []string {
	switch created {
	case "fork":
		return []string{"fork"}
	case "thread":
		return []string{"clone"}
	case "vfork":
		return []string{"vfork"}
	case "clone": // clone(2)/clone3(2): depends on flags and exit signal
		return []string{"clone", "fork"}
	}
	return nil
}

// followCheck says what checkFollowed expects of a run.
type followCheck struct {
	// perThread: the report was made with --per-thread (counts by tid).
	perThread bool
	// extraParents may create tasks that print no created line (a shell
	// starting the workload's programs).
	extraParents map[int]bool
	// exits: every created task must have exactly one exit record.
	exits bool
	// noCounts: tasks without a counts record are only logged (tasks that
	// died before they ever ran).
	noCounts bool
}

// checkFollowed asserts that every task the target says it created has a
// fork record of the right kind, parent and process, and its own final
// counts record; that no fork record names a task the target did not
// create (unless its parent is in fc.extraParents); and that the summary
// agrees with the records (forks and tasks_followed = roots + forks).
// TIDs may be reused within a run (a storm creates more tasks than
// pid_max): records are matched as multisets, not by tid alone.
func checkFollowed(t *testing.T, rep *report, cs []created, roots int, fc followCheck) {
	t.Helper()
	bad, uncounted := 0, 0
	report := func(format string, args ...any) {
		t.Helper()
		if bad++; bad <= 20 {
			t.Errorf(format, args...)
		}
	}
	type sig struct{ tid, pid, parent int }
	want := map[sig][]string{} // created kinds
	createdTIDs := map[int]int{}
	need := map[int]int{} // counts rows needed per row key
	for _, c := range cs {
		want[sig{c.tid, c.tgid, c.parent}] = append(want[sig{c.tid, c.tgid, c.parent}], c.kind)
		createdTIDs[c.tid]++
		switch {
		case fc.perThread:
			need[c.tid]++
		case c.tid == c.tgid:
			need[c.tgid]++
		default:
			need[c.tgid] = max(need[c.tgid], 1)
		}
	}
	got := map[sig][]string{} // fork record kinds
	for _, f := range rep.forks {
		k := sig{f.TID, f.PID, f.ParentTID}
		if _, ok := want[k]; !ok {
			if createdTIDs[f.TID] > 0 || !fc.extraParents[f.ParentTID] {
				report("fork record %s matches no created line of the target", f)
			}
			continue
		}
		got[k] = append(got[k], f.Kind)
	}
	for k, kinds := range want {
		g := got[k]
		if len(g) < len(kinds) {
			report("created %v %d (process %d, parent %d): %d fork records, want %d", kinds, k.tid, k.pid, k.parent, len(g), len(kinds))
		} else if len(g) > len(kinds) {
			report("created %v %d (process %d, parent %d): %d fork records, want %d", kinds, k.tid, k.pid, k.parent, len(g), len(kinds))
		}
		for _, kind := range g {
			ok := false
			for _, ck := range kinds {
				ok = ok || slices.Contains(forkKinds(ck), kind)
			}
			if !ok {
				report("fork record for %d has kind %q, created as %v", k.tid, kind, kinds)
			}
		}
	}
	rows := map[int]int{}
	for _, r := range rep.final {
		if fc.perThread {
			rows[r.TID]++
		} else {
			rows[r.PID]++
		}
	}
	for key, n := range need {
		if rows[key] < n {
			if fc.noCounts {
				uncounted += n - rows[key]
			} else {
				report("%d final counts records for %d, want %d (one per created task)", rows[key], key, n)
			}
		}
	}
	if fc.exits {
		exits := rep.exitsByTID()
		for tid, n := range createdTIDs {
			if len(exits[tid]) != n {
				report("created task %d: exit records %v, want %d", tid, exits[tid], n)
			}
		}
	}
	if bad > 20 {
		t.Errorf("... %d problems in all", bad)
	}
	if uncounted > 0 {
		t.Logf("%d of %d created tasks have no counts record (allowed here)", uncounted, len(cs))
	}
	s := rep.summary
	if *s.Forks != len(rep.forks) {
		t.Errorf("summary forks %d, but %d fork records", *s.Forks, len(rep.forks))
	}
	if *s.TasksFollowed != roots+len(rep.forks) {
		t.Errorf("summary tasks_followed %d, want %d (%d roots + %d fork records)", *s.TasksFollowed, roots+len(rep.forks), roots, len(rep.forks))
	}
}

// workloadRoot returns the pid of the launched workload (its first exec).
func workloadRoot(t *testing.T, rep *report) int {
	t.Helper()
	if len(rep.execs) == 0 {
		t.Fatalf("no exec record for the workload")
	}
	return rep.execs[0].PID
}

// childFirst counts, in a -v log, the new tasks whose initial stop was
// logged before their parent's fork event, and the fork events.
func childFirst(log string) (first, forks int) {
	ev := regexp.MustCompile(`(?i)^PTRACE (\d+) (fork|vfork|clone) (\d+)$`)
	st := regexp.MustCompile(`^PTRACE (\d+) initial stop$`)
	stopped := map[string]bool{}
	for _, l := range strings.Split(log, "\n") {
		l = strings.TrimSpace(l)
		if m := st.FindStringSubmatch(l); m != nil {
			stopped[m[1]] = true
		} else if m := ev.FindStringSubmatch(l); m != nil {
			forks++
			if stopped[m[3]] {
				first++
			}
		}
	}
	return first, forks
}

// allStopped reports whether every thread of pid is in a stop (T or t).
func allStopped(pid int) bool {
	tids := threads(pid)
	for _, tid := range tids {
		if st, _ := taskState(pid, tid); st != "T" && st != "t" {
			return false
		}
	}
	return len(tids) > 0
}

// untraced reports whether no thread of pid has a tracer.
func untraced(pid int) bool {
	for _, tid := range threads(pid) {
		if _, tr := taskState(pid, tid); tr != 0 {
			return false
		}
	}
	return true
}

// startHogs starts n CPU hogs (shell busy loops) for the rest of the test.
func startHogs(t *testing.T, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		start(t, "sh", "-c", "while :; do :; done")
	}
}

// livePIDs returns those of pids that are alive (not zombies).
func livePIDs(pids []int) []int {
	var live []int
	for _, p := range pids {
		if alive(p) {
			live = append(live, p)
		}
	}
	return live
}

// countLine returns the integer after word in line ("usr1 5 ..." -> 5).
func countLine(line, word string) int {
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == word {
			n, _ := strconv.Atoi(f[i+1])
			return n
		}
	}
	return -1
}

// fdSampler samples perfprof's fds every 20 ms until stopped.
type fdSampler struct {
	stop             chan struct{}
	done             chan struct{}
	maxAll, maxPerf  int
	samples          int
	lastAll, lastPrf int
}

func sampleFDs(t *testing.T, pid int) *fdSampler {
	s := &fdSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tk.C:
			}
			all, perf, ok := fdCountQuiet(pid)
			if !ok {
				return
			}
			s.samples++
			s.maxAll, s.maxPerf = max(s.maxAll, all), max(s.maxPerf, perf)
			s.lastAll, s.lastPrf = all, perf
		}
	}()
	return s
}

func (s *fdSampler) end() { close(s.stop); <-s.done }

// fdCountQuiet is fdCount for goroutines: ok is false once pid is gone.
func fdCountQuiet(pid int) (all, perf int, ok bool) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, 0, false
	}
	for _, e := range ents {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); strings.Contains(l, "perf_event") {
			perf++
		}
	}
	return len(ents), perf, true
}
