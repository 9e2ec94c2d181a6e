package session

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/perfprof/perfprof/cgroup"
	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/inherit"
	"github.com/perfprof/perfprof/internal/daemon"
	"github.com/perfprof/perfprof/internal/sdnotify"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"github.com/perfprof/perfprof/runstats"
	"golang.org/x/sys/unix"
)

// follower takes the targets over and follows them until they end or the
// run is stopped: the ptrace tracer (follow.Tracer), which gives every
// task they create devices of its own, or, with --no-follow, the untraced
// watch of the targets alone (follow.Untraced). Both arm each task through
// the devices' ArmFunc and end their devices on their own goroutine; the
// run does not know which one runs.
type follower interface {
	Launch(path string, argv, env []string, arm follow.ArmFunc) (int, error)
	Attach(id int, opt follow.AttachOptions, arm follow.ArmFunc) (follow.Attached, error)
	Run()
	Stop()
	Forward(sig unix.Signal, at time.Time)
	Done() <-chan struct{}
	Wait() follow.Result
	Close() follow.Result
	RunStats() runstats.Tasks
}

var (
	_ follower = (*follow.Tracer)(nil)
	_ follower = (*follow.Untraced)(nil)
	_ follower = (*inherit.Follower)(nil)
)

// observer is what the reports read of the tasks' devices: the ptrace
// follower's profdev.Set, or the inherit follower itself.
type observer interface {
	Read(dst []profdev.Counts) []profdev.Counts
	Stats() runstats.Devices
	ReadRingsNow()
}

// buildInherit makes the inherit follower (--follow inherit): it is both
// the follower and what the reports read; the model, the profiles and the
// sample writer take from it what they take from the ptrace follower's
// devices.
func (s *Session) buildInherit(specs []perfevent.Spec, sink profdev.Sink) error {
	c := s.cfg
	opt := inherit.Options{Specs: specs, Sink: sink, RingOrder: max(c.RingOrder(), inheritRingOrder),
		Linger: c.Cgroup != ""}
	if s.samples != nil {
		opt.Samples = s.samples
	}
	if c.JSON {
		opt.Events = s.out
	}
	if c.Verbose {
		opt.Log = s.stderr
	}
	if c.Interval > 0 || c.Listen != "" || c.Daemon {
		// Live counts for the interval reports and the metrics: each
		// task's as of its last tenth of an interval of CPU time.
		opt.Pulse = min(max(c.Interval/10, 10*time.Millisecond), 100*time.Millisecond)
	}
	f, err := inherit.New(opt)
	if err != nil {
		return err
	}
	s.inh, s.obs = f, f
	return nil
}

// inheritRingOrder is the least order of the inherit follower's rings:
// one per CPU for every task, 512 KiB with 4 KiB pages, perf record's
// default.
const inheritRingOrder = 7

// startFollower starts the follower the command line asks for.
func (s *Session) startFollower() (follower, error) {
	c := s.cfg
	if s.inh != nil {
		return s.inh, nil
	}
	if c.NoFollow {
		return follow.NewUntraced(follow.UntracedOptions{Exit: func(ev follow.ExitEvent, devs []pidtree.Device) {
			s.set.Exit(ev.Status, devs)
		}})
	}
	s.set.FollowChildren()
	var log io.Writer
	if c.Verbose {
		log = s.stderr
	}
	h := &hooks{set: s.set}
	if c.JSON {
		h.out = s.out
	}
	// With --cgroup the run goes on while the cgroup is empty.
	return follow.Start(follow.Options{Hooks: h, Log: log, Linger: c.Cgroup != ""})
}

// follow takes the targets over, follows them until the run ends, and
// says how it ended. An error ended it before it followed anything (see
// run).
func (s *Session) follow() (Result, error) {
	c := s.cfg
	if c.Cgroup != "" {
		if err := cgroup.Check(c.Cgroup); err != nil {
			return Result{}, err
		}
	}
	f, err := s.startFollower()
	if err != nil {
		return Result{}, err
	}
	tasks := f.RunStats
	s.tasks.Store(&tasks)
	take := s.attachTraced
	if c.NoFollow {
		take = s.attachUntraced
	}
	forward, ok := s.launch(f)
	if ok && forward == nil {
		ok = take(f)
	}
	if !ok {
		f.Close()
		return Result{}, errReported
	}
	f.Run()
	if err := s.attached(); err != nil {
		f.Close()
		return Result{}, err
	}
	var watch *cgroup.Watch
	if c.Cgroup != "" {
		watch = s.followCgroup(c.Cgroup, f, s.armer(false))
	}
	stopping := false
	s.watch(func() {
		if !stopping {
			stopping = true
			sdnotify.Notify("STOPPING=1")
			watch.Stop() // no attach after the stop
		}
		f.Stop()
	}, forward, f.Done())
	if !stopping {
		watch.Stop() // the run ended by itself
	}
	res := f.Wait()
	return s.finish(res), nil
}

// launch starts the workload, if there is one, and returns its Forward;
// ok is false if it could not be started.
func (s *Session) launch(f follower) (forward func(unix.Signal, time.Time), ok bool) {
	c := s.cfg
	if len(c.Argv) == 0 {
		return nil, true
	}
	comm := filepath.Base(c.Path)
	if _, err := f.Launch(c.Path, c.Argv, os.Environ(), func(t pidtree.Task) ([]pidtree.Device, error) {
		d, err := s.set.Arm(t, comm, true)
		if err != nil {
			return nil, err
		}
		return []pidtree.Device{d}, nil
	}); err != nil {
		s.rep.Error(err)
		return nil, false
	}
	return f.Forward, true
}

// armer arms a task the follower took over with a device of the set.
// With report, each task that cannot be armed is said, and not counted;
// without, a task that exited meanwhile is no error.
func (s *Session) armer(report bool) follow.ArmFunc {
	return func(t pidtree.Task) ([]pidtree.Device, error) {
		d, err := s.set.Arm(t, follow.Comm(t.TID), false)
		switch {
		case err != nil && report:
			s.rep.Error(err)
			return nil, err
		case errors.Is(err, perfevent.ErrNoTask):
			return nil, nil // it exited while we attached
		case err != nil:
			return nil, err
		}
		return []pidtree.Device{d}, nil
	}
}

// target is a process or thread to attach.
type target struct {
	id     int
	thread bool
	cgroup bool // from --cgroup: it may be gone already, that is no error
}

// targets lists -p, -t and --cgroup's processes.
func (s *Session) targets() ([]target, error) {
	c := s.cfg
	var ts []target
	for _, p := range c.PIDs {
		ts = append(ts, target{id: p})
	}
	for _, t := range c.TIDs {
		ts = append(ts, target{id: t, thread: true})
	}
	if c.Cgroup != "" {
		pids, err := cgroup.Untraced(c.Cgroup)
		if err != nil {
			return nil, err
		}
		for _, p := range pids {
			ts = append(ts, target{id: p, cgroup: true})
		}
	}
	return ts, nil
}

// attachUntraced attaches the -p and -t targets without ptrace, saying
// what fails; it fails if none could be counted.
func (s *Session) attachUntraced(f follower) bool {
	ts, _ := s.targets() // no --cgroup without ptrace
	arm := s.armer(true)
	for _, t := range ts {
		if _, err := f.Attach(t.id, follow.AttachOptions{Thread: t.thread}, arm); err != nil {
			s.rep.Error(err)
		}
	}
	return f.RunStats().Followed > 0
}

// attachTraced attaches the targets with ptrace, saying what fails. It
// fails if none could be attached (unless --cgroup: the run waits for
// processes to enter it), or if not one ring could be mapped: the run
// would sample nothing.
func (s *Session) attachTraced(f follower) bool {
	ts, err := s.targets()
	if err != nil {
		s.rep.Error(&CgroupError{Dir: s.cfg.Cgroup, Err: err})
		return false
	}
	arm, attached := s.armer(false), 0
	for _, t := range ts {
		a, err := f.Attach(t.id, follow.AttachOptions{Thread: t.thread, Tree: s.cfg.Tree}, arm)
		if err != nil {
			if !t.cgroup || !errors.Is(err, unix.ESRCH) {
				s.rep.Error(err)
			}
			continue
		}
		if re := (*perfevent.RingError)(nil); errors.As(a.ArmErr, &re) {
			s.rep.Error(a.ArmErr) // let go of what is attached, as it was
			return false
		}
		if a.ArmErr != nil && !errors.Is(a.ArmErr, perfevent.ErrNoTask) {
			s.rep.Error(a.ArmErr)
		}
		for _, ae := range a.Skipped {
			// A process that exited meanwhile, or a zombie, had nothing
			// left to count.
			if ae.Cause != follow.CauseNoProcess && ae.Cause != follow.CauseZombie {
				s.rep.Warn(&Skipped{Target: t.id, Err: ae})
			}
		}
		attached++
	}
	switch {
	case attached == 0 && s.cfg.Cgroup == "":
		if len(ts) > 1 {
			s.rep.Error(ErrNoTarget)
		}
		return false
	case attached < len(ts):
		s.rep.Warn(&PartialAttach{Attached: attached, Of: len(ts)})
	}
	return true
}

// attached is called once the targets are attached and armed: the pid
// file gets perfprof's pid, systemd hears READY=1, and a daemon lets its
// starter go (its messages go into the report from now on).
func (s *Session) attached() error {
	if s.pid != nil {
		if err := s.pid.Write(os.Getpid()); err != nil {
			return err
		}
	}
	sdnotify.Notify("READY=1\nMAINPID=" + strconv.Itoa(os.Getpid()))
	if s.cfg.Daemon && daemon.InDaemon() {
		s.msgs.Redirect(s.out.MessageWriter())
		daemon.Ready()
	}
	return nil
}
