package profiles

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
)

// recordSink records what a Sink passes on.
type recordSink struct{ calls []string }

func (r *recordSink) Started(id uint64, t pidtree.Task, comm string) {
	r.calls = append(r.calls, "started "+comm)
}
func (r *recordSink) Ended(f profdev.Final) { r.calls = append(r.calls, "ended "+f.Comm) }

// TestSinkAndWriteFile: a Builder behind Sink learns of the processes the
// next sink is told of, and WriteFile writes what it holds in each
// format.
func TestSinkAndWriteFile(t *testing.T) {
	b := NewBuilder(events(t, "task-clock"))
	next := &recordSink{}
	sink := b.Sink(next)
	pid := os.Getpid()
	task := pidtree.Task{TID: pid, TGID: pid, Proc: 1}
	sink.Started(1, task, "test")
	rec := &perfevent.SampleRecord{PID: pid, TID: pid, Period: 1e6, Callchain: []uint64{uint64(perfevent.ContextUser), 0x1000}}
	for range 3 {
		b.Sample(&profdev.Sample{Task: task, Comm: "test", Record: rec})
	}
	sink.Ended(profdev.Final{ID: 1, Task: task, Comm: "test"})
	if got := strings.Join(next.calls, ","); got != "started test,ended test" {
		t.Errorf("next sink got %q", got)
	}
	if ps := b.Processes(); len(ps) != 1 || ps[0].Samples != 3 {
		t.Fatalf("the builder holds %d processes, want 1 with 3 samples", len(ps))
	}

	dir := t.TempDir()
	pprofPath, foldedPath := filepath.Join(dir, "p.pb.gz"), filepath.Join(dir, "p.folded")
	start := time.Now()
	if err := b.WriteFile(pprofPath, Pprof, start, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.WriteFile(foldedPath, Folded, start, time.Second); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(pprofPath)
	if err != nil {
		t.Fatal(err)
	}
	p, err := profile.Parse(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Sample) == 0 || p.Sample[0].Value[0] != 3 || p.SampleType[1].Unit != "nanoseconds" {
		t.Errorf("pprof: %d samples, types %v; want 3 samples of cpu nanoseconds", len(p.Sample), p.SampleType)
	}
	folded, err := os.ReadFile(foldedPath)
	if err != nil || !strings.HasSuffix(strings.TrimSpace(string(folded)), " 3") {
		t.Errorf("folded = %q, %v; want one stack of 3 samples", folded, err)
	}
	if err := b.WriteFile(filepath.Join(dir, "no", "such", "dir"), Pprof, start, time.Second); err == nil {
		t.Error("WriteFile into a missing directory: no error")
	}
}
