package cgroup

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/perfprof/perfprof/internal/testenv"
	"golang.org/x/sys/unix"
)

// sleeper starts a process that sleeps until the test ends.
func sleeper(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

// enter moves process pid into the cgroup dir.
func enter(t *testing.T, dir string, pid int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		t.Fatalf("move %d into %s: %v", pid, dir, err)
	}
}

func TestCheck(t *testing.T) {
	tmp := t.TempDir()
	var ne *NotCgroupError
	if err := Check(tmp); !errors.As(err, &ne) || ne.Dir != tmp || ne.Missing != "cgroup.procs" {
		t.Errorf("Check(%s) = %v, want a *NotCgroupError for cgroup.procs", tmp, err)
	}
	os.WriteFile(filepath.Join(tmp, "cgroup.procs"), nil, 0o644)
	if err := Check(tmp); !errors.As(err, &ne) || ne.Missing != "cgroup.events" {
		t.Errorf("Check(%s) = %v, want a *NotCgroupError for cgroup.events", tmp, err)
	}
	if err := Check(testenv.Cgroup(t)); err != nil {
		t.Errorf("Check(a cgroup) = %v", err)
	}
}

// TestUntraced reads a cgroup's processes: all of them (Procs), and those
// no tracer holds (Untraced).
func TestUntraced(t *testing.T) {
	cg := testenv.Cgroup(t)
	if pids, err := Procs(cg); err != nil || len(pids) != 0 {
		t.Errorf("Procs(empty) = %v, %v", pids, err)
	}
	free, held := sleeper(t), sleeper(t)
	enter(t, cg, free)
	enter(t, cg, held)
	// Trace held from a thread of this test.
	traced := make(chan error)
	release := make(chan struct{})
	go func() {
		runtime.LockOSThread() // for good: its tracee dies with the test
		traced <- unix.PtraceSeize(held)
		<-release
	}()
	if err := <-traced; err != nil {
		t.Fatalf("seize %d: %v", held, err)
	}
	defer close(release)
	pids, err := Procs(cg)
	slices.Sort(pids)
	if want := []int{min(free, held), max(free, held)}; err != nil || !slices.Equal(pids, want) {
		t.Errorf("Procs = %v, %v; want %v", pids, err, want)
	}
	if pids, err := Untraced(cg); err != nil || !slices.Equal(pids, []int{free}) {
		t.Errorf("Untraced = %v, %v; want [%d] (%d is traced)", pids, err, free, held)
	}
	if _, err := Procs(filepath.Join(cg, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Procs(missing) = %v", err)
	}
}

// recorder is a watch's Attach and Warn.
type recorder struct {
	mu       sync.Mutex
	attached []int
	warnings []error
	fail     map[int]error // Attach's error for a pid
}

func (r *recorder) attach(pid int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attached = append(r.attached, pid)
	return r.fail[pid]
}

func (r *recorder) warn(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.warnings = append(r.warnings, err)
}

func (r *recorder) seen(pid int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.attached, pid)
}

func (r *recorder) calls() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.attached), len(r.warnings)
}

// await waits (5 s at most) until pid was attached.
func (r *recorder) await(t *testing.T, pid int, why string) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !r.seen(pid); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("process %d not attached in 5 s (%s)", pid, why)
		}
	}
}

// TestWatchEvents: a process that enters an empty cgroup changes its
// cgroup.events, and is attached at once, with no rescan.
func TestWatchEvents(t *testing.T) {
	cg := testenv.Cgroup(t)
	r := &recorder{}
	w := Start(cg, Options{Attach: r.attach, Warn: r.warn, Rescan: time.Hour})
	defer w.Stop()
	time.Sleep(50 * time.Millisecond) // nothing happens in an empty cgroup
	if a, warns := r.calls(); a != 0 || warns != 0 {
		t.Errorf("%d attaches, %d warnings with the cgroup empty", a, warns)
	}
	pid := sleeper(t)
	enter(t, cg, pid)
	r.await(t, pid, "the cgroup became populated")
	w.Stop()
	if len(r.warnings) != 0 {
		t.Errorf("warnings %v", r.warnings)
	}
}

// TestWatchRescan: a process that enters a cgroup that was not empty
// changes no cgroup.events; the rescan finds it. A process whose attach
// fails is warned of once.
func TestWatchRescan(t *testing.T) {
	cg := testenv.Cgroup(t)
	first, second := sleeper(t), sleeper(t)
	enter(t, cg, first)
	fail := errors.New("not now")
	r := &recorder{fail: map[int]error{first: fail}}
	w := Start(cg, Options{Attach: r.attach, Warn: r.warn, Rescan: 20 * time.Millisecond})
	defer w.Stop()
	r.await(t, first, "rescan")
	enter(t, cg, second)
	r.await(t, second, "rescan of a populated cgroup")
	time.Sleep(100 * time.Millisecond) // more rescans: first fails each time
	w.Stop()
	var pe *ProcessError
	if len(r.warnings) != 1 || !errors.As(r.warnings[0], &pe) || pe.PID != first || !errors.Is(pe, fail) {
		t.Errorf("warnings %v, want one *ProcessError for %d", r.warnings, first)
	}
	n := len(r.attached)
	if n < 4 {
		t.Errorf("%d attaches: want first and second at each of several rescans", n)
	}
	// Stopped: no more calls.
	time.Sleep(60 * time.Millisecond)
	if a, _ := r.calls(); a != n {
		t.Errorf("%d attaches after Stop", a-n)
	}
}

// TestWatchWarnings: a directory without cgroup.events cannot be watched
// for changes, and one whose cgroup.procs cannot be read is warned of at
// each rescan; neither ends the watch.
func TestWatchWarnings(t *testing.T) {
	r := &recorder{}
	dir := filepath.Join(t.TempDir(), "gone")
	w := Start(dir, Options{Attach: r.attach, Warn: r.warn, Rescan: 10 * time.Millisecond})
	time.Sleep(100 * time.Millisecond)
	w.Stop()
	w.Stop() // twice is fine
	var ie *InotifyError
	if len(r.warnings) < 3 || !errors.As(r.warnings[0], &ie) || ie.Dir != dir || ie.Rescan != 10*time.Millisecond || !errors.Is(ie, unix.ENOENT) {
		t.Fatalf("warnings %v, want an *InotifyError, then read errors", r.warnings)
	}
	for _, err := range r.warnings[1:] {
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("warning %v, want the failed read of cgroup.procs", err)
		}
	}
	if len(r.attached) != 0 {
		t.Errorf("attached %v", r.attached)
	}
}
