package inherit

import (
	"os"
	"sync"
	"testing"

	"github.com/perfprof/perfprof/internal/testenv"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
)

// finals collects the Finals a Follower hands its sink.
type finals struct {
	mu      sync.Mutex
	started int
	byComm  map[string][]profdev.Final
}

func (f *finals) Started(uint64, pidtree.Task, string) {
	f.mu.Lock()
	f.started++
	f.mu.Unlock()
}

func (f *finals) Ended(fi profdev.Final) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fi.Values = append([]perfevent.Value(nil), fi.Values...)
	f.byComm[fi.Comm] = append(f.byComm[fi.Comm], fi)
}

// TestFollowerLaunch launches a shell that forks a subshell and execs a
// child: three processes, each with its own page faults, the shell with
// its exit status, the others ended with no status.
//
// Twenty times: without perfevent.Anchor, Linux swapped the shell's
// context with a child's about once in thirty runs, and the child's counts
// went missing (TestFollowerLaunch failed within 20 runs).
func TestFollowerLaunch(t *testing.T) {
	testenv.RequireRoot(t, "counting the kernel part of task-clock and page-faults at perf_event_paranoid 2")
	specs, err := perfevent.Parse("task-clock,page-faults")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20 && !t.Failed(); i++ {
		launchShell(t, specs)
	}
}

// launchShell is one run of TestFollowerLaunch.
func launchShell(t *testing.T, specs []perfevent.Spec) {
	t.Helper()
	sink := &finals{byComm: map[string][]profdev.Final{}}
	f, err := New(Options{Specs: specs, Sink: sink, RingOrder: 4})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Launch("/bin/sh", []string{"sh", "-c", "(true); /bin/true; exit 3"}, os.Environ(), nil); err != nil {
		t.Fatal(err)
	}
	f.Run()
	res := f.Wait()
	if !res.HaveWorkload || res.Workload.ExitStatus() != 3 {
		t.Errorf("workload status %v (have %v), want exit 3", res.Workload, res.HaveWorkload)
	}
	sh, tr := sink.byComm["sh"], sink.byComm["true"]
	if len(sh) != 2 || len(tr) != 1 || sink.started != 3 {
		t.Fatalf("finals %v, %d started; want 2 sh and 1 true", sink.byComm, sink.started)
	}
	for _, fi := range append(sh, tr...) {
		if !fi.Valid || fi.Values[0].Raw == 0 || fi.Values[1].Raw < 10 {
			t.Errorf("%s %d: %+v, want its own task-clock and page faults", fi.Comm, fi.TID, fi)
		}
		leader := fi.Exited
		if leader == fi.Ended || leader && fi.Status.ExitStatus() != 3 {
			t.Errorf("%s %d: exited %v (status %v) ended %v: only the workload has a status", fi.Comm, fi.TID, fi.Exited, fi.Status, fi.Ended)
		}
	}
	if st := f.RunStats(); st.Followed != 3 || st.Created != 2 || st.Ended != 3 {
		t.Errorf("run stats %+v", st)
	}
	if d := f.Stats(); d.Opened == 0 || d.BadRecords != 0 {
		t.Errorf("device stats %+v", d)
	}
}
