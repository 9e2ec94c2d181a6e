package follow

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/runstats"
	"github.com/perfprof/perfprof/sigstart"
	"golang.org/x/sys/unix"
)

// maxEarly bounds Tracer.early: entries whose parent never reports (it was
// killed too) would otherwise stay.
const maxEarly = 1024

// Options configure a Tracer.
type Options struct {
	Hooks Hooks
	// Log, if set, receives one line per ptrace event and per action (-v).
	Log io.Writer
	// Linger keeps the tracer running with no task left, until Stop: for
	// targets attached while it runs (a cgroup's processes, which may all
	// be gone for a while between two restarts of a service).
	Linger bool
}

// Stats are the tracer's counters.
type Stats struct {
	Tasks        int // tasks followed: attached, launched and created
	Forks        int // tasks created by followed tasks: one per ForkEvent given to Hooks.Fork or Hooks.Died
	Ended        int // followed tasks that ended: one per Hooks.Died or Hooks.Exit
	ChildFirst   int // new children whose first stop came before the parent's event
	Execs        int
	Exits        int // tasks reaped
	Detached     int // tasks let go alive
	ForkFailures int // Hooks.Fork errors
	Left         int // tasks still in the tree when the tracer ended (zombies left to the kernel)
}

// Tracer follows a set of tasks and every task they create. All its ptrace
// requests and waits run on one goroutine locked to one OS thread: the
// kernel accepts ptrace requests for a tracee only from the thread that
// attached it.
type Tracer struct {
	opt  Options
	log  io.Writer
	self int

	reqs  chan request
	done  chan struct{}
	waker *waker // nil if it could not be started

	// owned by the tracer goroutine
	tree    *pidtree.Tree
	waiting []*pidtree.Node // new-stopped children whose parent event has not come
	// early holds children reaped before their parent's event named them,
	// so that the late event is not taken for a new task.
	early      map[int]struct{}
	stopping   bool
	graceTimer *time.Timer
	workload   int
	procs      procIDs
	stats      Stats // but Tasks, Forks and Ended: those are counts'
	lastYield  time.Time
	// sigSeen[sig] is when a task of the workload's process last stopped
	// to take delivery of sig (see Forward).
	sigSeen [unix.SIGSYS + 1]time.Time

	// written by the tracer goroutine before done is closed
	result Result

	// written by the tracer goroutine, read by RunStats from any
	counts taskCounts

	running  atomic.Bool
	stopOnce sync.Once
}

// Result is how the followed tasks ended.
type Result struct {
	// Workload is the launched command's wait status; valid if HaveWorkload.
	Workload     unix.WaitStatus
	HaveWorkload bool
	// Stopped is true if Stop ended the run (rather than the tasks exiting).
	Stopped bool
	Stats   Stats
}

// Start starts the tracer goroutine and returns once it is ready.
func Start(opt Options) (*Tracer, error) {
	if opt.Hooks == nil {
		return nil, errors.New("follow: Options.Hooks is nil")
	}
	t := &Tracer{
		opt:   opt,
		log:   opt.Log,
		self:  os.Getpid(),
		reqs:  make(chan request, 16),
		done:  make(chan struct{}),
		tree:  pidtree.New(),
		early: map[int]struct{}{},
	}
	ready := make(chan struct{})
	go t.serve(ready)
	<-ready
	return t, nil
}

// errEnded is returned by requests to a tracer that has ended.
var errEnded = errors.New("follow: the tracer has ended")

// do queues r for the tracer thread and waits until it was answered (its
// done channel closed): before Run, or while the wait loop runs (a waker
// wakes it). It fails once the tracer ended.
func (t *Tracer) do(r request, done <-chan struct{}) error {
	select {
	case t.reqs <- r:
	case <-t.done:
		return errEnded
	}
	if t.running.Load() {
		t.wake()
	}
	select {
	case <-done:
		return nil
	case <-t.done:
		select {
		case <-done: // served as the loop ended
			return nil
		default:
			return errEnded
		}
	}
}

// serve is the tracer goroutine. It locks its thread for good: the thread
// is the tracer of every task, and if the goroutine returned while tracees
// exist, Go would end the thread and the kernel would detach them (and kill
// the workload, which carries PTRACE_O_EXITKILL).
func (t *Tracer) serve(ready chan<- struct{}) {
	runtime.LockOSThread()
	// With Go's SIGCHLD handler installed, every tracee stop also raises a
	// signal in this process; with the default disposition the kernel
	// drops it (SIG_IGN would auto-reap our children: never that).
	sigstart.SetDefault(unix.SIGCHLD)
	if w, err := startWaker(); err != nil {
		t.logf("WAKER not started (%v): each request starts a process", err)
	} else {
		t.waker = w
	}
	close(ready)
	for r := range t.reqs {
		t.answer(r)
		if _, ok := r.(*runRequest); ok {
			break
		}
	}
	t.loop()
	if t.waker != nil {
		t.waker.close()
	}
	t.result.Stats = t.snapshot()
	close(t.done)
	// Nothing is traced any more (or what is left is a zombie the kernel
	// releases when we exit): the goroutine may return and its thread die.
}

// Run starts following. It returns at once; Done is closed when no
// followed task is left or Stop completed.
func (t *Tracer) Run() {
	if t.running.Swap(true) {
		return
	}
	r := &runRequest{call: newCall()}
	select {
	case t.reqs <- r:
		<-r.done
	case <-t.done:
	}
}

// Close lets go of every followed task, as Stop does, and waits until the
// tracer has ended. It may be called before or after Run.
func (t *Tracer) Close() Result {
	t.Stop()
	t.Run()
	return t.Wait()
}

// Stats returns the tracer's counters now; Left is the number of tasks
// followed at this moment. Once the tracer has ended, they are the final
// ones.
func (t *Tracer) Stats() Stats {
	r := &statsRequest{call: newCall()}
	if err := t.do(r, r.done); err != nil {
		return t.Wait().Stats
	}
	return r.stats
}

// snapshot returns the counters now. Precondition: on the tracer thread.
func (t *Tracer) snapshot() Stats {
	s := t.stats
	s.Tasks, s.Forks, s.Ended = t.counts.read()
	s.Left = t.tree.Len()
	return s
}

// RunStats returns the task figures of the run so far. It may be called
// from any goroutine, at any time (the metrics read it at each scrape),
// and does not wait for the tracer: Followed, Created and Ended are
// counted as the tracer goes; Left is known once it has ended, and is 0
// before.
func (t *Tracer) RunStats() runstats.Tasks {
	followed, created, ended := t.counts.read()
	rs := runstats.Tasks{Followed: followed, Created: created, Ended: ended}
	select {
	case <-t.done:
		rs.Left = t.result.Stats.Left
	default:
	}
	return rs
}

// Done is closed when the tracer has ended.
func (t *Tracer) Done() <-chan struct{} { return t.done }

// Wait waits for the tracer to end and returns the result.
func (t *Tracer) Wait() Result {
	<-t.done
	return t.result
}

// post queues r for the tracer thread and returns without waiting for
// it. Before Run, r is served when Run starts the loop; after, a waker
// wakes the loop for it. Nothing is served once the tracer has ended.
func (t *Tracer) post(r request) {
	select {
	case t.reqs <- r:
	case <-t.done:
		return
	}
	if t.running.Load() {
		t.wake()
	}
}

// wake makes the tracer's blocking wait4 return, so that the loop serves
// the requests queued: it pokes the waker. If there is no waker, it
// starts a child of this process that exits at once, whose exit wait4
// reports: a process start per request.
func (t *Tracer) wake() {
	if t.waker != nil && t.waker.poke() {
		return
	}
	// /proc/self/exe works even if the binary was replaced on disk.
	_, err := syscall.ForkExec("/proc/self/exe", []string{"perfprof-wake"}, &syscall.ProcAttr{
		Env: []string{wakeEnv + "=1"},
	})
	if err != nil {
		// Without a waker the request waits for the next tracee event.
		t.logf("WAKE failed: %v", err)
	}
}

// newProc returns a new process instance id. Precondition: on the tracer
// thread.
func (t *Tracer) newProc() uint64 { return t.procs.next() }

// logf writes a -v line. On the stop path, call it under "if t.log !=
// nil": the arguments are boxed (allocated) before logf can check.
func (t *Tracer) logf(format string, args ...any) {
	if t.log != nil {
		fmt.Fprintf(t.log, format+"\n", args...)
	}
}

// yieldEvery is how long the wait loop runs before it yields.
//
// The runtime's monitor (sysmon) preempts a goroutine that has not been
// rescheduled for 10ms (forcePreemptNS), and this one rarely is: it loops
// between a blocking wait4 and ptrace calls. A preemption that finds it in
// wait4 takes its P away, and keeps doing so at the monitor's fastest rate
// until the goroutine is rescheduled: following a fork storm without
// yielding cost 40% more CPU. A yield is not free either: the P of a
// locked goroutine is handed to another thread and back (three futex
// wake-ups), so it comes as rarely as the 10ms allows. On forkloop 1000,
// yielding every 9ms rather than 5ms took the tracer's CPU from about 160
// to 155µs per task (medians of 8 and 10 interleaved rounds); threadloop
// showed no difference beyond the noise.
const yieldEvery = 9 * time.Millisecond

// loop is the wait loop. Precondition: on the tracer thread.
func (t *Tracer) loop() {
	t.lastYield = time.Now()
	for {
		t.serveRequests()
		if t.tree.Len() == 0 && len(t.waiting) == 0 {
			if !t.opt.Linger || t.stopping {
				return
			}
			// Nothing to wait for but requests (an Attach, Stop).
			t.answer(<-t.reqs)
			continue
		}
		var ws unix.WaitStatus
		pid, err := wait(&ws)
		if err != nil {
			if errors.Is(err, unix.ECHILD) {
				// No tracee and no child left: whatever the tree holds
				// cannot report any more.
				t.logf("WAIT: no children left, %d tasks in the tree", t.tree.Len())
				return
			}
			t.logf("WAIT: %v", err)
			return
		}
		t.dispatch(pid, ws)
		if now := time.Now(); now.Sub(t.lastYield) > yieldEvery {
			t.lastYield = now
			runtime.Gosched()
		}
	}
}

// dispatch acts on one wait result: the waker's, or a task's.
// Precondition: on the tracer thread.
func (t *Tracer) dispatch(pid int, ws unix.WaitStatus) {
	if t.waker != nil && pid == t.waker.pid {
		t.waker.handle(ws)
		return
	}
	t.handle(pid, ws)
}

func (t *Tracer) serveRequests() {
	for {
		select {
		case r := <-t.reqs:
			t.answer(r)
		default:
			return
		}
	}
}
