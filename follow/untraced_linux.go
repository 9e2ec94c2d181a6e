package follow

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/runstats"
	"golang.org/x/sys/unix"
)

// Untraced watches targets without ptrace, for a run that counts the
// targets' own tasks and not what they create (--no-follow): nothing is
// stopped or seized, so a task another tracer holds can still be counted.
// Its API is the Tracer's: Launch and Attach take the targets over and
// arm them through an ArmFunc, with process identities (Task.Proc) from
// the same allocator as the tracer's; Run starts watching; Stop, Forward,
// Done, Wait, Close and RunStats are the Tracer's too.
//
// A launched workload is started by LaunchUntraced, held before its exec
// while it is armed, and reaped by the watch; the run ends when it was.
// Attached targets are watched with pidfds (a process's pidfd polls
// readable when the process exits, a thread's, opened with PIDFD_THREAD,
// when the thread does); the run ends when every one has exited, or at
// Stop. The devices ArmFunc gives are held, not linked (no Use, no
// Unuse): untraced, the end of a task is not seen, and the caller ends
// them when the run is over.
//
// Goroutines: Launch and Attach run on the caller's goroutine, before
// Run, one at a time. Run starts the watch goroutine, which blocks in
// wait4 for the workload or in poll(2) for the pidfds and owns them.
// Stop, Forward, Done, Wait, Close and RunStats may be called from any
// goroutine.
type Untraced struct {
	opt UntracedOptions

	// Set before Run by the caller's goroutine, read-only after.
	procs        procIDs
	procOf       map[int]uint64 // TGID -> Proc
	workload     int
	workloadTask pidtree.Task
	workloadDevs []pidtree.Device
	wake         int           // an eventfd: Stop writes it to end the poll
	pidfds       []unix.PollFd // a pidfd per attached target; the watch goroutine's once it runs
	armed        atomic.Int64  // tasks armed without an error

	// mu orders Stop and Forward with the end of the watch: once over,
	// the wake eventfd is closed and the workload is reaped (or about to
	// be: its pid may be reused), and neither may be used.
	mu   sync.Mutex
	over bool

	running  atomic.Bool
	stopping atomic.Bool
	stopOnce sync.Once
	done     chan struct{}
	result   Result // written by the watch goroutine before done is closed
}

// UntracedOptions configure an Untraced watch.
type UntracedOptions struct {
	// Exit, if set, is called when the launched workload was reaped, with
	// its wait status and the devices its ArmFunc gave, on the watch
	// goroutine, before Done is closed.
	Exit func(ev ExitEvent, devs []pidtree.Device)
}

// errUntracedRunning is returned by Launch and Attach after Run.
var errUntracedRunning = errors.New("follow: the untraced watch runs already: launch and attach before Run")

// errUntracedTree is returned by Attach with AttachOptions.Tree.
var errUntracedTree = errors.New("follow: the untraced watch cannot attach a process tree: it sees no children")

// NewUntraced returns a watch with no target. Its resources (an eventfd,
// the pidfds) are released when the watch ends: call Run (and Stop) or
// Close.
func NewUntraced(opt UntracedOptions) (*Untraced, error) {
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("eventfd", err)
	}
	return &Untraced{
		opt:    opt,
		procOf: map[int]uint64{},
		wake:   wake,
		done:   make(chan struct{}),
	}, nil
}

// proc returns the Proc of process tgid: its own if a task of it was
// armed already, else a new one.
func (u *Untraced) proc(tgid int) uint64 {
	p := u.procOf[tgid]
	if p == 0 {
		p = u.procs.next()
		u.procOf[tgid] = p
	}
	return p
}

// arm arms task; it reports the devices, or the error (the task is then
// not counted: untraced, a task without devices shows nothing).
func (u *Untraced) arm(task pidtree.Task, arm ArmFunc) ([]pidtree.Device, error) {
	devs, err := arm(task)
	if err != nil {
		return nil, err
	}
	u.armed.Add(1)
	return devs, nil
}

// Launch starts path with argv and env as the workload, untraced (see
// LaunchUntraced): arm runs while it is held before its exec, on the
// caller's goroutine. An error of arm ends the launch and is returned. A
// watch launches one workload, before Run, and then has no other target.
func (u *Untraced) Launch(path string, argv, env []string, arm ArmFunc) (int, error) {
	switch {
	case u.running.Load():
		return 0, errUntracedRunning
	case u.workload != 0 || len(u.pidfds) > 0:
		return 0, errTwoWorkloads
	}
	pid, err := LaunchUntraced(path, argv, env, func(pid int) error {
		task := pidtree.Task{TID: pid, TGID: pid, Proc: u.proc(pid)}
		devs, err := u.arm(task, arm)
		u.workloadTask, u.workloadDevs = task, devs
		return err
	})
	if err != nil {
		return 0, err
	}
	u.workload = pid
	return pid, nil
}

// Attach arms the threads of process pid (with opt.Thread, the one
// thread pid), on the caller's goroutine, and watches the target until it
// exits. A task whose arm fails is not counted; Attached.ArmErr is the
// first such error. A target that does not exist is an *AttachError with
// CauseNoProcess. Attach must be called before Run; AttachOptions.Tree is
// refused.
func (u *Untraced) Attach(pid int, opt AttachOptions, arm ArmFunc) (Attached, error) {
	var a Attached
	switch {
	case u.running.Load():
		return a, errUntracedRunning
	case opt.Tree:
		return a, errUntracedTree
	case u.workload != 0:
		return a, errTwoWorkloads
	}
	tgid, tids, flags := pid, []int{pid}, 0
	if opt.Thread {
		// A thread is reported in its process.
		if tgid = ProcessOf(pid); tgid == 0 {
			return a, &AttachError{PID: pid, Cause: CauseNoProcess, Err: unix.ESRCH}
		}
		flags = unix.PIDFD_THREAD
	} else {
		var err error
		if tids, err = Threads(pid); err != nil {
			return a, &AttachError{PID: pid, Cause: CauseNoProcess, Err: unix.ESRCH}
		}
	}
	proc := u.proc(tgid)
	for _, tid := range tids {
		_, err := u.arm(pidtree.Task{TID: tid, TGID: tgid, Proc: proc}, arm)
		if err != nil {
			if a.ArmErr == nil {
				a.ArmErr = err
			}
			continue
		}
		a.TIDs = append(a.TIDs, tid)
	}
	// The target is watched even if no task of it could be armed: the run
	// goes on until every target exited, as with the tracer.
	if fd, err := unix.PidfdOpen(pid, flags); err == nil {
		u.pidfds = append(u.pidfds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
	}
	return a, nil
}

// Run starts the watch goroutine. It returns at once; Done is closed when
// the workload was reaped, or every attached target exited, or Stop ended
// the run.
func (u *Untraced) Run() {
	if u.running.Swap(true) {
		return
	}
	go u.watch()
}

// watch is the watch goroutine.
func (u *Untraced) watch() {
	defer close(u.done)
	defer func() { u.result.Stopped = u.stopping.Load() }()
	if u.workload != 0 {
		// Wait for its exit without reaping it, so that its pid stays its
		// own while a Stop or Forward may still signal it.
		var info unix.Siginfo
		for unix.Waitid(unix.P_PID, u.workload, &info, unix.WEXITED|unix.WNOWAIT, nil) == unix.EINTR {
		}
		u.end()
		ws := reap(u.workload)
		u.result.Workload, u.result.HaveWorkload = ws, true
		if u.opt.Exit != nil {
			u.opt.Exit(ExitEvent{Task: u.workloadTask, Status: ws}, u.workloadDevs)
		}
		return
	}
	fds := append([]unix.PollFd{{Fd: int32(u.wake), Events: unix.POLLIN}}, u.pidfds...)
	fds = pollTargets(fds)
	for _, p := range fds[1:] {
		unix.Close(int(p.Fd))
	}
	u.end()
}

// end marks the watch over and closes the wake eventfd.
func (u *Untraced) end() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.over = true
	unix.Close(u.wake)
}

// reap waits for child pid to end and returns its wait status.
func reap(pid int) unix.WaitStatus {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			return ws
		}
	}
}

// pollTargets polls fds, the wake eventfd first and the targets' pidfds,
// until every target exited or the eventfd is written, closing the pidfd
// of each target that exits. It returns the fds still open.
func pollTargets(fds []unix.PollFd) []unix.PollFd {
	for len(fds) > 1 {
		if _, err := unix.Poll(fds, -1); err != nil {
			if err == unix.EINTR {
				continue
			}
			return fds
		}
		if fds[0].Revents != 0 {
			return fds // Stop
		}
		live := fds[:1]
		for _, p := range fds[1:] {
			if p.Revents != 0 {
				unix.Close(int(p.Fd))
				continue
			}
			live = append(live, p)
		}
		fds = live
	}
	return fds
}

// Stop ends the run: a workload is killed (SIGKILL), attached targets are
// left alone and the watch ends at once. It returns at once; Done tells
// when the watch has ended. It may be called from any goroutine, any
// number of times, before or after Run.
func (u *Untraced) Stop() {
	u.stopOnce.Do(func() {
		u.stopping.Store(true)
		if u.workload != 0 {
			u.signal(unix.SIGKILL)
			return
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		if !u.over {
			unix.Write(u.wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		}
	})
}

// signal sends sig to the workload unless it has exited.
func (u *Untraced) signal(sig unix.Signal) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.over {
		unix.Kill(u.workload, sig)
	}
}

// Forward delivers sig to the launched workload. Untraced, the workload's
// deliveries cannot be seen: a keyboard signal (SIGINT, SIGQUIT) while
// perfprof's process group, the workload's too, is in its terminal's
// foreground is taken to be the terminal's, which the workload got too,
// and is not sent again. Without a workload, or once it was reaped, it
// does nothing. at is unused: the Tracer's Forward needs it. It may be
// called from any goroutine.
func (u *Untraced) Forward(sig unix.Signal, at time.Time) {
	if u.workload == 0 {
		return
	}
	if (sig == unix.SIGINT || sig == unix.SIGQUIT) && inForeground() {
		return
	}
	u.signal(sig)
}

// inForeground reports whether perfprof's process group is the foreground
// group of its controlling terminal.
func inForeground() bool {
	fd, err := unix.Open("/dev/tty", unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false // no controlling terminal
	}
	defer unix.Close(fd)
	fg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return err == nil && fg == unix.Getpgrp()
}

// Done is closed when the watch has ended.
func (u *Untraced) Done() <-chan struct{} { return u.done }

// Wait waits for the watch to end and returns the result: the workload's
// wait status, and whether Stop ended the run. Its Stats are the
// Tracer's, and are left zero: RunStats has the watch's figures.
func (u *Untraced) Wait() Result {
	<-u.done
	return u.result
}

// Close ends the run as Stop does, and waits until the watch has ended.
// It may be called before or after Run.
func (u *Untraced) Close() Result {
	u.Stop()
	u.Run()
	return u.Wait()
}

// RunStats returns the watch's task figures; it may be called from any
// goroutine. Followed is the tasks armed; Created, Ended and Left are 0:
// untraced, no task is seen created, the end of a target is that of a
// process or a thread and not of each task, and nothing is held.
func (u *Untraced) RunStats() runstats.Tasks {
	return runstats.Tasks{Followed: int(u.armed.Load())}
}
