package follow

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/perfprof/perfprof/pidtree"
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
}

// Stats are the tracer's counters.
type Stats struct {
	Tasks        int // tasks followed: attached, launched and created
	Forks        int // tasks created by followed tasks: one per ForkEvent given to Hooks.Fork or Hooks.Died
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

	reqs chan request
	done chan struct{}

	// owned by the tracer goroutine
	tree    *pidtree.Tree
	waiting []*pidtree.Node // new-stopped children whose parent event has not come
	// early holds children reaped before their parent's event named them,
	// so that the late event is not taken for a new task.
	early      map[int]struct{}
	stopping   bool
	graceTimer *time.Timer
	workload   int
	stats      Stats
	lastYield  time.Time
	// sigSeen[sig] is when a task of the workload's process last stopped
	// to take delivery of sig (see Forward).
	sigSeen [unix.SIGSYS + 1]time.Time

	// written by the tracer goroutine before done is closed
	result Result

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

type request struct {
	fn    func()
	reply chan struct{}
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

// errRunning is returned by Launch and Attach after Run.
var errRunning = errors.New("follow: Launch and Attach must come before Run")

// do runs fn on the tracer thread and waits for it. Once Run started the
// wait loop, requests are served only when it wakes: do refuses them.
func (t *Tracer) do(fn func()) error {
	if t.running.Load() {
		return errRunning
	}
	r := request{fn: fn, reply: make(chan struct{})}
	t.reqs <- r
	<-r.reply
	return nil
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
	defaultSIGCHLD()
	close(ready)
	for r := range t.reqs {
		if r.fn == nil { // Run
			close(r.reply)
			break
		}
		r.fn()
		close(r.reply)
	}
	t.loop()
	t.result.Stats = t.stats
	t.result.Stats.Left = t.tree.Len()
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
	r := request{reply: make(chan struct{})}
	t.reqs <- r
	<-r.reply
}

// Done is closed when the tracer has ended.
func (t *Tracer) Done() <-chan struct{} { return t.done }

// Wait waits for the tracer to end and returns the result.
func (t *Tracer) Wait() Result {
	<-t.done
	return t.result
}

// Stop lets go of every followed task: workload tasks are killed, attached
// tasks are detached and left as they were (a task in group-stop stays
// stopped). It returns at once; Wait tells when it is done. Stop may be
// called from any goroutine, any number of times.
func (t *Tracer) Stop() {
	t.stopOnce.Do(func() { t.post(t.beginStop) })
}

// post queues fn for the tracer thread and returns without waiting for it.
// Before Run, fn runs when Run starts the loop; after, a waker wakes the
// loop for it. Nothing runs once the tracer has ended.
func (t *Tracer) post(fn func()) {
	select {
	case t.reqs <- request{fn: fn, reply: make(chan struct{}, 1)}:
	case <-t.done:
		return
	}
	if t.running.Load() {
		t.wake()
	}
}

// forwardWindow is how long before Forward was asked a signal delivery to
// the workload still counts as the delivery of the same signal.
const forwardWindow = time.Second

// Forward delivers sig to the launched workload's process unless it has
// received sig already: a terminal's Ctrl-C signals the whole foreground
// process group, perfprof and the workload alike, while kill(1) signals
// perfprof alone. at is when perfprof received sig. The workload counts as
// having received it if sig is pending for its process (blocked, or not
// yet taken), or if one of its threads stopped to take delivery of it
// since forwardWindow before at. Like Stop, it returns at once and may be
// called from any goroutine. Without a workload, or once it exited or the
// tracer is stopping, it does nothing.
func (t *Tracer) Forward(sig unix.Signal, at time.Time) {
	t.post(func() { t.forward(sig, at) })
}

// forward runs on the tracer thread.
func (t *Tracer) forward(sig unix.Signal, at time.Time) {
	w := t.workload
	if w == 0 || t.stopping || t.tree.Find(w) == nil || int(sig) >= len(t.sigSeen) {
		return
	}
	// Pending first, then the stops: a signal taken after the /proc read
	// left its pending set and put its thread in a signal-delivery-stop
	// (both under the task's siglock), which the drain then reports.
	pending := signalPending(w, sig)
	t.drain()
	if t.tree.Find(w) == nil {
		return // it exited meanwhile
	}
	if pending || t.sigSeen[sig].After(at.Add(-forwardWindow)) {
		if t.log != nil {
			t.logf("FORWARD %s: %d has it already", unix.SignalName(sig), w)
		}
		return
	}
	err := unix.Kill(w, sig)
	t.logf("FORWARD %s to %d (%v)", unix.SignalName(sig), w, errOrOK(err))
}

// drain handles the stops and exits that are already waiting, without
// blocking. Precondition: on the tracer thread.
func (t *Tracer) drain() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WALL|unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		t.handle(pid, ws)
	}
}

// wake makes the tracer's blocking wait4 return: it starts a child of this
// process that exits at once. Its exit is a state change wait4 reports,
// after which the loop serves pending requests. It costs a process start,
// and is used only for rare requests (stop, shutdown checks).
func (t *Tracer) wake() {
	// /proc/self/exe works even if the binary was replaced on disk.
	_, err := syscall.ForkExec("/proc/self/exe", []string{"perfprof-wake"}, &syscall.ProcAttr{
		Env: []string{wakeEnv + "=1"},
	})
	if err != nil {
		// Without a waker the request waits for the next tracee event.
		t.logf("WAKE failed: %v", err)
	}
}

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
			return
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
		t.handle(pid, ws)
		if now := time.Now(); now.Sub(t.lastYield) > yieldEvery {
			t.lastYield = now
			runtime.Gosched()
		}
	}
}

func (t *Tracer) serveRequests() {
	for {
		select {
		case r := <-t.reqs:
			if r.fn != nil {
				r.fn()
			}
			close(r.reply)
		default:
			return
		}
	}
}

// handle acts on one wait result. Precondition: on the tracer thread.
func (t *Tracer) handle(pid int, ws unix.WaitStatus) {
	n := t.tree.Find(pid)
	if ws.Exited() || ws.Signaled() {
		if n == nil {
			// A waker, or a child that died before its first stop and
			// before its parent's event named it.
			return
		}
		t.exited(n, ws)
		return
	}
	kind, sig := decode(ws)
	switch kind {
	case StopFork, StopVFork, StopClone:
		t.forked(n, pid, ForkKind(kind-StopFork+1))
	case StopExec:
		t.execed(pid)
	case StopEvent:
		t.eventStop(n, pid)
	case StopGroup:
		t.groupStop(n, pid, sig)
	case StopSignal:
		if t.log != nil {
			t.logf("PTRACE %d SIGNAL %d", pid, sig)
		}
		if n != nil && n.TGID == t.workload && int(sig) < len(t.sigSeen) {
			t.sigSeen[sig] = time.Now()
		}
		if n == nil || n.Detach {
			t.release(n, pid, int(sig))
			return
		}
		t.cont(pid, int(sig))
	case StopNone:
		// WCONTINUED is never asked for.
	default:
		if t.log != nil {
			t.logf("PTRACE %d %v", pid, kind)
		}
		if n != nil && n.Detach {
			t.release(n, pid, 0)
			return
		}
		t.cont(pid, 0)
	}
}

func (t *Tracer) cont(pid, sig int) {
	if err := cont(pid, sig); err != nil {
		// ESRCH: killed while stopped; its death is reported next.
		t.logf("  CONT %d signo %d: %v", pid, sig, err)
		return
	}
	if t.log != nil {
		t.logf("  CONT %d signo %d", pid, sig)
	}
}

// release lets go of a task in a ptrace-stop: while stopping, workload
// tasks are resumed to die of SIGKILL; the others (and the launch stub's
// own threads, which its exec will end) are detached with sig.
func (t *Tracer) release(n *pidtree.Node, pid, sig int) {
	if n != nil && n.Workload && t.stopping {
		// A task forked after the stop began never got the SIGKILL.
		if n.TGID > 0 {
			unix.Tgkill(n.TGID, pid, unix.SIGKILL)
		}
		t.cont(pid, 0)
		return
	}
	err := detach(pid, sig)
	if t.log != nil {
		t.logf("  DETACH %d signo %d (%v)", pid, sig, errOrOK(err))
	}
	if n != nil {
		if err == nil {
			t.stats.Detached++
		}
		t.forget(n)
	}
}

func errOrOK(err error) any {
	if err == nil {
		return "ok"
	}
	return err
}

// forget removes n from the tree; it no longer reports to us.
func (t *Tracer) forget(n *pidtree.Node) {
	t.dropWaiting(n)
	t.tree.Remove(n)
}

// forked handles a parent's fork, vfork or clone event.
func (t *Tracer) forked(parent *pidtree.Node, pid int, kind ForkKind) {
	tid, err := eventMsg(pid)
	if err != nil {
		t.logf("PTRACE %d %v: GETEVENTMSG: %v", pid, kind, err)
		return
	}
	if t.log != nil {
		t.logf("PTRACE %d %s %d", pid, strings.ToUpper(kind.String()), tid)
	}
	if parent == nil {
		t.logf("BUG: event from unknown task %d", pid)
		detach(pid, 0)
		return
	}
	if _, ok := t.early[tid]; ok {
		// Reaped already: Died reported it.
		delete(t.early, tid)
		if parent.Detach {
			t.release(parent, pid, 0)
		} else {
			t.cont(pid, 0)
		}
		return
	}
	child, ready := t.tree.Announce(parent, tid)
	if child.Parent != parent {
		t.logf("BUG: task %d announced twice", tid)
		t.cont(pid, 0)
		return
	}
	child.Kind = uint8(kind)
	if kind == Clone && isThread(parent.TGID, tid) {
		child.TGID, child.PPID = parent.TGID, parent.PPID
	} else {
		child.TGID, child.PPID = tid, parent.TGID
	}
	child.Prelaunch = parent.Prelaunch
	// Resume the parent first: a parent that forks in a loop must not wait
	// for its children's counters, and a vfork parent must run so that its
	// child can.
	if parent.Detach {
		t.release(parent, pid, 0)
	} else {
		t.cont(pid, 0)
	}
	if ready {
		t.stats.ChildFirst++
		t.dropWaiting(child)
		t.start(child)
	}
}

// eventStop handles PTRACE_EVENT_STOP with SIGTRAP.
func (t *Tracer) eventStop(n *pidtree.Node, pid int) {
	if n == nil || n.Phase == pidtree.Announced {
		if t.log != nil {
			t.logf("PTRACE %d initial stop", pid)
		}
		c, ready := t.tree.FirstStop(pid)
		if ready {
			t.start(c)
			return
		}
		// Held until the parent's event names it. Its process is read
		// now: if it dies before that event comes (an exit_group of its
		// process, or its parent killed), it can no longer be read, and
		// its records must still name its process.
		c.TGID, c.PPID = processOf(pid)
		c.Detach = c.Detach || t.stopping
		t.waiting = append(t.waiting, c)
		return
	}
	if n.Phase == pidtree.NewStopped {
		t.logf("BUG: second initial stop of %d", pid)
		return
	}
	if t.log != nil {
		t.logf("PTRACE %d EVENT_STOP (interrupt or SIGCONT)", pid)
	}
	n.Listening = false
	if n.Detach {
		t.release(n, pid, 0)
		return
	}
	t.cont(pid, 0)
}

// groupStop handles PTRACE_EVENT_STOP with a stopping signal.
func (t *Tracer) groupStop(n *pidtree.Node, pid int, sig unix.Signal) {
	if t.log != nil {
		t.logf("PTRACE %d group-stop %d", pid, sig)
	}
	if n == nil || n.Phase != pidtree.Running {
		// A new child whose first stop reports the group's stop signal
		// (its process is stopped): it is still its initial stop.
		t.eventStop(n, pid)
		return
	}
	if n.Detach {
		// Detached in group-stop, the task stays stopped until SIGCONT.
		t.release(n, pid, 0)
		return
	}
	// PTRACE_CONT would resume the task and lose the stop; LISTEN keeps it
	// stopped and reports the SIGCONT.
	n.Listening = true
	if err := listen(pid); err != nil {
		t.logf("  LISTEN %d: %v", pid, err)
		return
	}
	if t.log != nil {
		t.logf("  LISTEN %d", pid)
	}
}

// start completes a new child's handshake: it clones the parent's devices
// onto it and resumes it. Precondition: child is in its first stop.
func (t *Tracer) start(c *pidtree.Node) {
	parent := c.Parent
	if !c.Prelaunch {
		t.stats.Tasks++
	}
	if parent == nil {
		t.tree.Complete(c)
		t.release(c, c.PID, 0)
		return
	}
	// Even a child let go at once (born while stopping) is reported and
	// gets its counters: every fork event has its record.
	if !c.Prelaunch {
		t.stats.Forks++
		ev := ForkEvent{Kind: ForkKind(c.Kind), ParentTID: parent.PID, TID: c.PID, TGID: c.TGID, PPID: c.PPID}
		devs, err := t.opt.Hooks.Fork(ev, parent.Devs)
		for _, d := range devs {
			t.tree.Link(c, d)
		}
		if err != nil {
			t.stats.ForkFailures++
			t.logf("  CLONE devices for %d: %v", c.PID, err)
		}
	}
	t.tree.Complete(c)
	if c.Prelaunch || c.Detach {
		// A task of the launch stub, not of the workload (the exec that
		// starts the workload ends it), or one born while stopping.
		t.release(c, c.PID, 0)
		return
	}
	t.cont(c.PID, 0)
}

// execed handles PTRACE_EVENT_EXEC on pid.
func (t *Tracer) execed(pid int) {
	old, err := eventMsg(pid)
	if err != nil {
		old = pid
	}
	if t.log != nil {
		t.logf("PTRACE %d EXEC (was %d)", pid, old)
	}
	t.stats.Execs++
	if old != pid {
		// A non-leader thread exec'd: it took the leader's TID, and the
		// old leader is gone without an exit report of its own.
		if n := t.tree.Find(old); n != nil {
			if leader := t.tree.Find(pid); leader != nil {
				t.opt.Hooks.Exit(ExitEvent{TID: pid, TGID: leader.TGID}, leader.Devs)
			}
			t.tree.Rekey(n, pid)
		}
	}
	n := t.tree.Find(pid)
	if n == nil {
		t.logf("BUG: exec of unknown task %d", pid)
		detach(pid, 0)
		return
	}
	n.Prelaunch = false
	if n.Detach {
		t.release(n, pid, 0)
		return
	}
	// Resume first: the task cannot be reaped before this loop waits for
	// it, so Hooks.Exec can still read it in /proc.
	t.cont(pid, 0)
	t.opt.Hooks.Exec(pid, old, n.Devs)
}

// exited handles the reaping of a followed task.
func (t *Tracer) exited(n *pidtree.Node, ws unix.WaitStatus) {
	pid := n.PID
	if t.log != nil {
		if ws.Exited() {
			t.logf("EXIT %d code %d", pid, ws.ExitStatus())
		} else {
			t.logf("EXIT %d signal %d", pid, ws.Signal())
		}
	}
	t.stats.Exits++
	if ws.Signaled() && len(t.waiting) > 0 {
		t.adoptOrphans(n)
	}
	switch {
	case n.Phase == pidtree.Running:
		t.opt.Hooks.Exit(ExitEvent{TID: pid, TGID: n.TGID, Status: ws}, n.Devs)
	case n.Parent != nil:
		// Announced by its parent, killed before its first stop.
		t.stats.Tasks++
		t.stats.Forks++
		t.opt.Hooks.Died(ForkEvent{Kind: ForkKind(n.Kind), ParentTID: n.Parent.PID, TID: pid, TGID: n.TGID, PPID: n.PPID}, ws)
	default:
		// Killed in its first stop before its parent's event came: the
		// event may still come, and must not make a new task of it. Its
		// process was read at its first stop; a thread of another
		// process can only come from clone.
		t.stats.Tasks++
		t.stats.Forks++
		ev := ForkEvent{TID: pid, TGID: n.TGID, PPID: n.PPID}
		if ev.TGID != 0 && ev.TGID != pid {
			ev.Kind = Clone
		}
		if t.log != nil {
			t.logf("  DIED %d (process %d) before its parent's event", pid, n.TGID)
		}
		t.opt.Hooks.Died(ev, ws)
		if len(t.early) >= maxEarly {
			clear(t.early) // parents killed before reporting: forget them
		}
		t.early[pid] = struct{}{}
	}
	if pid == t.workload {
		t.result.Workload, t.result.HaveWorkload = ws, true
	}
	t.forget(n)
}

// adoptOrphans handles children whose parent was killed between waking
// them and reporting its fork event: that event never comes. A waiting
// child whose parent process is the killed task's is announced now.
func (t *Tracer) adoptOrphans(dead *pidtree.Node) {
	for _, c := range append([]*pidtree.Node(nil), t.waiting...) {
		st, err := readStat(c.PID)
		if err != nil || st.PPID != dead.TGID {
			continue
		}
		t.logf("ORPHAN %d of %d", c.PID, dead.PID)
		t.tree.Announce(dead, c.PID)
		c.TGID, c.PPID, c.Kind = c.PID, dead.TGID, uint8(Fork)
		t.dropWaiting(c)
		t.start(c)
	}
}

func (t *Tracer) dropWaiting(n *pidtree.Node) {
	for i, w := range t.waiting {
		if w == n {
			t.waiting = append(t.waiting[:i], t.waiting[i+1:]...)
			return
		}
	}
}
