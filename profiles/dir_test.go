package profiles

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
)

// files returns the names in dir, sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestDirNames: a profile is named by the UTC time its interval ended,
// to the millisecond, so that names sort as times do, whatever the local
// zone.
func TestDirNames(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	times := []time.Time{
		time.Date(2026, 11, 29, 20, 23, 0, 0, time.UTC),
		time.Date(2026, 11, 29, 21, 23, 0, 1e6, paris), // 20:23:00.001 UTC
		time.Date(2026, 11, 29, 20, 23, 0, 999e6, time.UTC),
		time.Date(2026, 11, 29, 20, 23, 1, 0, time.UTC),
		time.Date(2026, 11, 30, 0, 59, 59, 0, paris), // 23:59:59 UTC
		time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
		time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	var names []string
	for _, tm := range times {
		names = append(names, fileName(tm))
	}
	if names[0] != "perfprof-20261129T202300.000Z.pb.gz" || names[1] != "perfprof-20261129T202300.001Z.pb.gz" {
		t.Errorf("names %q", names[:2])
	}
	if !slices.IsSorted(names) {
		t.Errorf("names of increasing times do not sort: %q", names)
	}
}

// TestDirWrite: a file is there whole or not at all: a write that fails
// leaves no file, neither the temporary one nor the named one, and says
// which file; one that succeeds replaces the file of that name, and
// leaves no temporary file.
func TestDirWrite(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDir(dir, 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("OpenDir left %q", got)
	}
	boom := errors.New("disk full")
	err = d.write("a.pb.gz", func(f *os.File) error {
		f.WriteString("half a profile")
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), filepath.Join(dir, "a.pb.gz")) {
		t.Errorf("failed write: %v, want the cause and the file's path", err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Errorf("a failed write left %q", got)
	}
	for _, content := range []string{"one", "two"} {
		if err := d.write("a.pb.gz", func(f *os.File) error { _, err := f.WriteString(content); return err }); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, "a.pb.gz"))
		if err != nil || string(b) != content {
			t.Errorf("a.pb.gz: %q %v, want %q", b, err, content)
		}
	}
	// Once it failed after the rename's target was there: the old one
	// stays whole.
	d.write("a.pb.gz", func(f *os.File) error { f.WriteString("three"); return boom })
	if b, _ := os.ReadFile(filepath.Join(dir, "a.pb.gz")); string(b) != "two" {
		t.Errorf("a.pb.gz after a failed write: %q, want the previous one", b)
	}
	if got := files(t, dir); !slices.Equal(got, []string{"a.pb.gz"}) {
		t.Errorf("files %q, want a.pb.gz alone", got)
	}
}

// TestDirPrune: the newest keep profiles stay, other files are left
// alone, and keep 0 keeps all.
func TestDirPrune(t *testing.T) {
	start := time.Date(2026, 11, 29, 20, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		keep, want int
	}{{0, 5}, {2, 2}, {5, 5}, {9, 5}} {
		dir := t.TempDir()
		d, err := OpenDir(dir, tc.keep, start)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for i := 4; i >= 0; i-- { // newest first: the order of writes does not matter
			names = append(names, fileName(start.Add(time.Duration(i)*time.Second)))
		}
		others := []string{"notes.txt", "perfprof-x.pb", ".perfprof-20261129T200000.000Z.pb.gz.123"}
		for _, n := range append(slices.Clone(names), others...) {
			if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.prune(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(names)
		want := append(slices.Clone(names[len(names)-tc.want:]), others...)
		slices.Sort(want)
		if got := files(t, dir); !slices.Equal(got, want) {
			t.Errorf("keep %d: %q left, want %q", tc.keep, got, want)
		}
	}
}

// TestDirCut: each Cut writes the samples of its interval, with the
// interval's start and duration, and the next interval starts where the
// last ended; beyond keep the oldest go.
func TestDirCut(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "profiles")
	pid := os.Getpid()
	start := time.Date(2026, 11, 29, 20, 0, 0, 0, time.UTC)
	d, err := OpenDir(dir, 2, start)
	if err != nil {
		t.Fatal(err)
	}
	b := NewBuilder(events(t, "task-clock:u"))
	task := pidtree.Task{TID: pid, TGID: pid, Proc: 1}
	b.Start(task, "test")
	rec := &perfevent.SampleRecord{PID: pid, TID: pid, Period: 1e6, Callchain: []uint64{uint64(perfevent.ContextUser), 0x1000}}
	for i := range 3 {
		for range i + 1 {
			b.Sample(&profdev.Sample{Task: task, Comm: "test", Record: rec})
		}
		if err := d.Cut(b, start.Add(time.Duration(i+1)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	got := files(t, dir)
	if len(got) != 2 || got[0] != fileName(start.Add(2*time.Second)) || got[1] != fileName(start.Add(3*time.Second)) {
		t.Fatalf("files %q, want the last two intervals'", got)
	}
	for i, name := range got {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		p, err := profile.Parse(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, s := range p.Sample {
			n += s.Value[0]
		}
		wantStart := start.Add(time.Duration(i+1) * time.Second)
		if n != int64(i+2) || p.TimeNanos != wantStart.UnixNano() || p.DurationNanos != 1e9 ||
			p.SampleType[1].Type != "cpu" || p.SampleType[1].Unit != "nanoseconds" {
			t.Errorf("%s: %d samples from %v for %v, sample types %v; want %d from %v for 1s, cpu/nanoseconds",
				name, n, time.Unix(0, p.TimeNanos).UTC(), time.Duration(p.DurationNanos), p.SampleType, i+2, wantStart)
		}
	}
}

// TestOpenDir: OpenDir makes the directory and its parents; one that
// cannot be made is its error.
func TestOpenDir(t *testing.T) {
	base := t.TempDir()
	if _, err := OpenDir(filepath.Join(base, "a", "b"), 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDir(filepath.Join(file, "sub"), 0, time.Now()); err == nil {
		t.Errorf("OpenDir under a file: no error")
	}
}
