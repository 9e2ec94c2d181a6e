package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/perfprof/perfprof/internal/procfs"
	"golang.org/x/sys/unix"
)

// Rescan is how often a watch reads cgroup.procs with no event, unless
// Options.Rescan says otherwise.
const Rescan = 5 * time.Second

// NotCgroupError says that a directory is not a cgroup v2 directory: it
// lacks Missing, one of the files every cgroup2 directory has.
type NotCgroupError struct {
	Dir, Missing string
}

func (e *NotCgroupError) Error() string {
	return fmt.Sprintf("%s: not a cgroup v2 directory (no %s)", e.Dir, e.Missing)
}

// Check says whether dir is a cgroup v2 directory that can be watched:
// it has cgroup.procs and cgroup.events. Its error is a *NotCgroupError.
func Check(dir string) error {
	for _, f := range []string{"cgroup.procs", "cgroup.events"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return &NotCgroupError{Dir: dir, Missing: f}
		}
	}
	return nil
}

// Procs reads the processes of cgroup dir (its cgroup.procs). Its error is
// that of the read.
func Procs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// Untraced reads the processes of cgroup dir that no tracer holds: not
// those a tracer already follows (perfprof's own, once it followed them
// in, as the children of a followed task), nor those gone.
func Untraced(dir string) ([]int, error) {
	pids, err := Procs(dir)
	if err != nil {
		return nil, err
	}
	untraced := pids[:0]
	for _, pid := range pids {
		if !traced(pid) {
			untraced = append(untraced, pid)
		}
	}
	return untraced, nil
}

// traced reports whether pid has a tracer, or is gone (nothing to
// attach).
func traced(pid int) bool {
	st, err := procfs.ReadStatus(pid)
	return err != nil || st.TracerPID != 0
}

// Options configure a watch.
type Options struct {
	// Attach takes over process pid, which entered the cgroup and which
	// no one traces. It returns nil, or an error that the watch hands to
	// Warn (once per process) in a *ProcessError: return nil for a
	// failure not worth a warning, such as a process that exited
	// meanwhile. It is called on the watch's goroutine.
	Attach func(pid int) error
	// Warn, if set, receives what the watch could not do, on the watch's
	// goroutine; the watch goes on. The errors are an *InotifyError
	// (changes are not watched: cgroup.procs is read every Rescan only), a
	// *ProcessError, or the error of a read of cgroup.procs.
	Warn func(error)
	// Rescan is how often cgroup.procs is read with no event; 0 means
	// the package's Rescan.
	Rescan time.Duration
}

// InotifyError says that the changes of a cgroup cannot be watched: its
// processes are read every Rescan only.
type InotifyError struct {
	Dir    string
	Rescan time.Duration
	Err    error
}

func (e *InotifyError) Error() string {
	return fmt.Sprintf("inotify on %s: %v", e.Dir, e.Err)
}

func (e *InotifyError) Unwrap() error { return e.Err }

// ProcessError says that a process of the cgroup could not be attached.
type ProcessError struct {
	PID int
	Err error // Options.Attach's
}

func (e *ProcessError) Error() string {
	return fmt.Sprintf("process %d: %v", e.PID, e.Err)
}

func (e *ProcessError) Unwrap() error { return e.Err }

// A Watch hands the processes that enter a cgroup to Options.Attach.
type Watch struct {
	dir  string
	opt  Options
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// Start starts watching cgroup dir (see Check) and returns at once;
// opt.Attach must be set. The processes in it now are not attached: read
// them with Untraced. Attach is first called at the first change or
// rescan.
func Start(dir string, opt Options) *Watch {
	if opt.Rescan <= 0 {
		opt.Rescan = Rescan
	}
	w := &Watch{dir: dir, opt: opt, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// Stop ends the watch and returns once its goroutine has: no Attach or
// Warn runs after it. It may be called more than once.
func (w *Watch) Stop() {
	w.once.Do(func() { close(w.stop) })
	<-w.done
}

func (w *Watch) warn(err error) {
	if w.opt.Warn != nil {
		w.opt.Warn(err)
	}
}

// run is the watch's goroutine.
func (w *Watch) run() {
	defer close(w.done)
	changed := make(chan struct{}, 1)
	if f, err := w.inotify(changed); err != nil {
		w.warn(&InotifyError{Dir: w.dir, Rescan: w.opt.Rescan, Err: err})
	} else {
		defer f.Close() // ends the reader
	}
	tick := time.NewTicker(w.opt.Rescan)
	defer tick.Stop()
	warned := map[int]bool{}
	for {
		select {
		case <-w.stop:
			return
		case <-changed:
		case <-tick.C:
		}
		pids, err := Untraced(w.dir)
		if err != nil {
			w.warn(err)
			continue
		}
		for _, pid := range pids {
			if err := w.opt.Attach(pid); err != nil && !warned[pid] {
				warned[pid] = true
				w.warn(&ProcessError{PID: pid, Err: err})
			}
		}
	}
}

// inotify watches the cgroup's cgroup.events: a goroutine reads the
// events and signals changed (one pending signal stands for any number
// of events) until the returned file is closed.
func (w *Watch) inotify(changed chan<- struct{}) (*os.File, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, err
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Join(w.dir, "cgroup.events"), unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "inotify") // non-blocking: Go's poller waits
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, err := f.Read(buf); err != nil {
				return // closed
			}
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}()
	return f, nil
}
