package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"github.com/perfprof/perfprof/profiles"
	"github.com/perfprof/perfprof/report"
	"golang.org/x/sys/unix"
)

// session is one run of perfprof.
type session struct {
	cfg            *config
	stdout, stderr io.Writer

	set   *profdev.Set
	model *report.Model
	names []string // the events' names, in -e order
	out   *output
	sigc  chan os.Signal // stop signals, caught from the start
	hupc  chan os.Signal // a daemon's SIGHUP: reopen the report (nil otherwise)
	usr1c chan os.Signal // SIGUSR1: a report now
	pid   *pidFile       // --pidfile, locked
	msgs  *swapWriter    // stderr, which a daemon swaps for its report
	tasks taskCounts     // for the metrics
	pdir  *profileDir    // --pprof-dir

	sampler  *sampler          // nil when counting
	profiles *profiles.Builder // nil without --pprof, --folded, --top
	limitc   chan struct{}     // closed when -N samples were written
	start    time.Time
	left     int // tasks the tracer still held at its end (zombies left to the kernel)
}

func (s *session) errorf(format string, args ...any) {
	fmt.Fprintf(s.stderr, "perfprof: "+format+"\n", args...)
}

// fail prints err and its hint, if any.
func (s *session) fail(err error) {
	s.errorf("%v", err)
	if h := hint(err); h != "" {
		s.errorf("hint: %s", h)
	}
}

func (s *session) warnf(format string, args ...any) {
	s.errorf("warning: "+format, args...)
}

// startCPUProfile starts Go's CPU profiler writing to path, for
// --cpuprofile; stop ends it and closes the file.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cannot write the CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot start the CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// hint says what to do about err, or "".
func hint(err error) string {
	var ae *follow.AttachError
	if errors.As(err, &ae) {
		switch {
		case ae.TracerPID != 0:
			return fmt.Sprintf("a task has only one tracer: stop process %d, or count without following: --no-follow", ae.TracerPID)
		case errors.Is(err, unix.ESRCH):
			return "check the id with 'ps -L -p ID'"
		case errors.Is(err, unix.EPERM) && os.Geteuid() != 0:
			return "run perfprof as root (ptrace needs CAP_SYS_PTRACE for processes that are not its children)"
		}
	}
	return perfevent.Hint(err)
}

func (s *session) run() int {
	c := s.cfg
	// Messages come from several goroutines (the ring owner's warnings),
	// and a daemon redirects them once attached.
	s.msgs = &swapWriter{w: s.stderr}
	s.stderr = s.msgs
	s.sigc, s.hupc, s.usr1c = setupSignals(len(c.argv) > 0, c.daemon)
	defer func() {
		for _, ch := range []chan os.Signal{s.sigc, s.hupc, s.usr1c} {
			if ch != nil {
				signal.Stop(ch)
			}
		}
	}()
	if c.pidFile != "" {
		pf, err := lockPidFile(c.pidFile)
		if err != nil {
			s.errorf("%v", err)
			return exitFailure
		}
		s.pid = pf
		defer pf.remove()
	}
	if lim := raiseFileLimit(); c.verbose {
		fmt.Fprintf(s.stderr, "RLIMIT_NOFILE %d\n", lim)
	}
	specs, err := perfevent.Parse(c.events...)
	if err != nil {
		var ue *perfevent.UnknownEventError
		if errors.As(err, &ue) {
			s.errorf("%v", err)
			if len(ue.Suggestions) > 0 {
				s.errorf("hint: did you mean %s? 'perf list' shows the events of this machine", quoteList(ue.Suggestions))
			} else {
				s.errorf("hint: 'perf list' shows the events of this machine")
			}
			return exitUsage
		}
		var se *perfevent.SyntaxError
		if errors.As(err, &se) {
			s.errorf("%v", err)
			return exitUsage
		}
		s.fail(err)
		return exitFailure
	}
	if specs, err = s.probe(specs); err != nil {
		s.fail(err)
		return exitFailure
	}
	var fields []*perfevent.FieldDecoder
	if c.sampling() {
		if specs, fields, err = s.samplingSpecs(specs); err != nil {
			s.fail(err)
			return exitFailure
		}
	}
	// Keep one instance of each event open for the whole run, so that no
	// per-task open or close is the first or last of its kind.
	pin, err := perfevent.Pin(specs)
	if err != nil {
		s.fail(err)
		return exitFailure
	}
	defer pin.Close()

	w := s.stdout
	if c.output != "" {
		f, err := openReport(c.output, c.daemon)
		if err != nil {
			s.errorf("cannot write the report: %v", err)
			return exitFailure
		}
		defer f.Close()
		w = f
	}
	if c.cpuProfile != "" {
		stop, err := startCPUProfile(c.cpuProfile)
		if err != nil {
			s.errorf("%v", err)
			return exitFailure
		}
		defer stop()
	}
	s.out = newOutput(w, c.json, c.sampling())
	if c.daemon {
		// SIGHUP reopens it: the output closes the first file then. A
		// full disk does not stop a daemon: it writes again when it can.
		s.out.path = c.output
		s.out.file, _ = w.(*os.File)
		s.out.retry = true
	}
	for _, sp := range specs {
		s.names = append(s.names, sp.Name)
	}
	s.model = report.NewModel(report.Options{Events: s.names, PerThread: c.perThread, ByComm: c.byComm, Keep: c.foldAfter})
	var sink profdev.Sink = s.model
	if c.profiles() {
		events := make([]profiles.Event, len(s.names))
		for i, n := range s.names {
			events[i] = profiles.EventOf(n)
		}
		s.profiles = profiles.NewBuilder(events)
		sink = profileSink{s.model, s.profiles}
	}
	s.set = profdev.NewSet(specs, sink)
	s.set.CommOf = follow.Comm
	if c.sampling() {
		s.sampler = &sampler{out: s.out, names: s.names, fields: fields, json: c.json, wall: perfevent.MonotonicToWall(),
			limit: int64(c.exitN), onStop: func() { close(s.limitc) }, warn: s.warnf, profiles: s.profiles}
		s.limitc = make(chan struct{})
		if err := s.set.EnableSampling(profdev.SamplingOptions{RingOrder: c.ringOrder(), Sink: s.sampler, Order: c.order,
			Watermark: c.ringWatermark() > 0}); err != nil {
			s.fail(err)
			return exitFailure
		}
	}
	if c.pprofDir != "" {
		if s.pdir, err = openProfileDir(c.pprofDir, c.keep, time.Now()); err != nil {
			s.errorf("cannot write profiles into --pprof-dir: %v", err)
			return exitFailure
		}
	}
	if c.listen != "" {
		stop, err := s.serveMetrics()
		if err != nil {
			s.errorf("cannot serve metrics: %v", err)
			return exitFailure
		}
		defer stop()
	}
	s.start = time.Now()

	var code int
	if c.noFollow {
		code = s.runNoFollow()
	} else {
		code = s.runFollow()
	}
	err = s.out.close()
	// A daemon's messages went into the report: not any more.
	s.msgs.set(os.Stderr)
	if err != nil {
		s.errorf("write report: %v", writeReason(err))
		code = exitFailure
	}
	return code
}

// writeReason explains a write error of the report.
func writeReason(err error) string {
	if errors.Is(err, unix.EPIPE) {
		return err.Error() + " (the report's reader is gone)"
	}
	return err.Error()
}

// samplingSpecs makes specs sample as the command line says, checks that
// this machine can (a frequency above kernel.perf_event_max_sample_rate is
// refused, for one), and returns the field decoders of the tracepoints.
func (s *session) samplingSpecs(specs []perfevent.Spec) ([]perfevent.Spec, []*perfevent.FieldDecoder, error) {
	c := s.cfg
	opt := perfevent.SampleOptions{Period: c.period, Freq: c.freq, CallGraph: c.callGraph,
		Watermark: c.ringWatermark(), RingPages: 1 << c.ringOrder(), LostCount: true, Mappings: c.profiles()}
	sampled, err := perfevent.Sampling(specs, opt)
	if err != nil {
		return nil, nil, err
	}
	if err := perfevent.Probe(sampled); err != nil {
		// Before Linux 6.0 the kernel does not count lost records: the
		// PERF_RECORD_LOST records are all there is.
		opt.LostCount = false
		var err2 error
		if sampled, err2 = perfevent.Sampling(specs, opt); err2 != nil || perfevent.Probe(sampled) != nil {
			return nil, nil, err
		}
	}
	specs = sampled
	fields := make([]*perfevent.FieldDecoder, len(specs))
	for i, sp := range specs {
		if sp.Attr.Type != unix.PERF_TYPE_TRACEPOINT {
			continue
		}
		subsys, name, _ := strings.Cut(sp.Name, ":")
		f, err := perfevent.ReadFormat(subsys, name)
		if err != nil {
			return nil, nil, err
		}
		fields[i] = perfevent.NewFieldDecoder(f)
	}
	return specs, fields, nil
}

// probe opens each event once on perfprof itself, so that an event this
// machine lacks fails now, with a clear message, and not on every task.
// cycles falls back to cpu-clock, as perf does.
func (s *session) probe(specs []perfevent.Spec) ([]perfevent.Spec, error) {
	for i := range specs {
		err := perfevent.Probe(specs[i : i+1])
		if err == nil {
			continue
		}
		if errors.Is(err, perfevent.ErrPermission) && os.Geteuid() != 0 {
			// What perf does: kernel.perf_event_paranoid >= 2 still
			// lets a user count user space.
			if u, ok := perfevent.UserOnly(specs[i]); ok && perfevent.Probe([]perfevent.Spec{u}) == nil {
				s.warnf("not allowed to count the kernel (kernel.perf_event_paranoid): counting %q", u.Name)
				specs[i] = u
				continue
			}
		}
		if errors.Is(err, perfevent.ErrNotSupported) {
			if fb, ok := perfevent.Fallback(specs[i]); ok {
				s.warnf("%q not supported here, counting %q instead", specs[i].Name, fb.Name)
				specs[i] = fb
				if err := perfevent.Probe(specs[i : i+1]); err != nil {
					return nil, err
				}
				continue
			}
		}
		return nil, err
	}
	return specs, nil
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, " or ")
}

// runFollow counts the targets and every task they create.
func (s *session) runFollow() int {
	c := s.cfg
	s.set.FollowChildren()
	var log io.Writer
	if c.verbose {
		log = s.stderr
	}
	h := &hooks{set: s.set, tasks: &s.tasks}
	if c.json {
		h.out = s.out
	}
	if c.cgroup != "" {
		if err := checkCgroup(c.cgroup); err != nil {
			s.errorf("%v", err)
			return exitFailure
		}
	}
	// With --cgroup the run goes on while the cgroup is empty.
	tr, err := follow.Start(follow.Options{Hooks: h, Log: log, Linger: c.cgroup != ""})
	if err != nil {
		s.fail(err)
		return exitFailure
	}
	arm := func(t pidtree.Task) ([]pidtree.Device, error) {
		d, err := s.set.Arm(t, follow.Comm(t.TID), false)
		if errors.Is(err, perfevent.ErrNoTask) {
			return nil, nil // it exited while we attached
		}
		if err != nil {
			return nil, err
		}
		return []pidtree.Device{d}, nil
	}
	attached := 0
	var forward func(unix.Signal, time.Time) // the workload's, nil when attaching
	if len(c.argv) > 0 {
		comm := filepath.Base(c.path)
		_, err := tr.Launch(c.path, c.argv, os.Environ(), func(t pidtree.Task) ([]pidtree.Device, error) {
			d, err := s.set.Arm(t, comm, true)
			if err != nil {
				return nil, err
			}
			return []pidtree.Device{d}, nil
		})
		if err != nil {
			s.fail(err)
			tr.Close()
			return exitFailure
		}
		attached++
		forward = tr.Forward
	}
	type target struct {
		id     int
		thread bool
		cgroup bool // from --cgroup: it may be gone already, that is no error
	}
	var targets []target
	for _, p := range c.pids {
		targets = append(targets, target{p, false, false})
	}
	for _, t := range c.tids {
		targets = append(targets, target{t, true, false})
	}
	if c.cgroup != "" {
		pids, err := cgroupPIDs(c.cgroup)
		if err != nil {
			s.errorf("--cgroup: %v", err)
			tr.Close()
			return exitFailure
		}
		for _, p := range pids {
			if !traced(p) {
				targets = append(targets, target{p, false, true})
			}
		}
	}
	for _, t := range targets {
		a, err := tr.Attach(t.id, follow.AttachOptions{Thread: t.thread, Tree: c.tree}, arm)
		if err != nil {
			if !t.cgroup || !errors.Is(err, unix.ESRCH) {
				s.fail(err)
			}
			continue
		}
		var re *perfevent.RingError
		if errors.As(a.ArmErr, &re) {
			// Not one ring: the run would sample nothing. Let go of what
			// is attached, as it was.
			s.fail(a.ArmErr)
			tr.Run()
			tr.Stop()
			tr.Wait()
			return exitFailure
		}
		if a.ArmErr != nil && !errors.Is(a.ArmErr, perfevent.ErrNoTask) {
			s.fail(a.ArmErr)
		}
		for _, ae := range a.Skipped {
			s.skipped(t.id, ae)
		}
		attached++
	}
	if attached == 0 && c.cgroup == "" {
		tr.Run()
		tr.Wait()
		if len(targets) > 1 {
			s.errorf("no target could be attached")
		}
		return exitFailure
	}
	if attached < len(targets) {
		s.warnf("following %d of %d targets", attached, len(targets))
	}
	if code := s.attached(); code != exitOK {
		tr.Run()
		tr.Stop()
		tr.Wait()
		return code
	}
	tr.Run()
	var stopping sync.Once
	stopCgroup := func() {}
	if c.cgroup != "" {
		cgDone, cgStopped := make(chan struct{}), make(chan struct{})
		go func() {
			s.followCgroup(c.cgroup, tr, arm, cgDone)
			close(cgStopped)
		}()
		stopCgroup = func() { close(cgDone); <-cgStopped }
	}
	s.watch(func() {
		stopping.Do(func() {
			sdNotify("STOPPING=1")
			stopCgroup() // no attach after the stop
		})
		tr.Stop()
	}, forward, tr.Done())
	stopping.Do(stopCgroup) // the run ended by itself
	res := tr.Wait()
	s.left = res.Stats.Left
	return s.finish(res.Stats.Tasks, res.Stats.Forks, func() int {
		switch {
		case res.HaveWorkload && res.Workload.Signaled():
			return 128 + int(res.Workload.Signal())
		case res.HaveWorkload:
			return res.Workload.ExitStatus()
		}
		return exitOK
	}())
}

// skipped warns of a process below target that --tree could not attach:
// one another tracer holds, or one perfprof may not trace. A process that
// exited meanwhile, or a zombie, had nothing left to count.
func (s *session) skipped(target int, ae *follow.AttachError) {
	if errors.Is(ae, unix.ESRCH) || strings.Contains(ae.Reason, "zombie") {
		return
	}
	s.warnf("not following process %d (below %d) or its children: %s", ae.PID, target, ae.Reason)
	if h := hint(ae); h != "" {
		s.errorf("hint: %s", h)
	}
}

// watch handles signals, --duration, -i, -N and a failed report until done
// is closed, calling stop when the run must end now.
//
// With a workload (forward is not nil), a stop signal goes to the
// workload, once (forward skips it if the workload got it too, as from a
// terminal's Ctrl-C), and the run goes on while the workload shuts down:
// only --kill-after later, or at a second stop signal, does stop kill what
// is left of it. Without, a stop signal stops at once: the attached tasks
// are detached.
func (s *session) watch(stop func(), forward func(unix.Signal, time.Time), done <-chan struct{}) {
	c := s.cfg
	var tick <-chan time.Time
	if c.interval > 0 {
		t := time.NewTicker(c.interval)
		defer t.Stop()
		tick = t.C
	}
	var timeout <-chan time.Time
	if c.duration > 0 {
		t := time.NewTimer(c.duration)
		defer t.Stop()
		timeout = t.C
	}
	var (
		killTimer *time.Timer
		killAfter <-chan time.Time // armed by the first stop signal
		firstSig  os.Signal
		failed    = s.out.Failed()
		reports   int
	)
	for {
		select {
		case <-done:
			return
		case sig := <-s.sigc:
			at := time.Now()
			switch {
			case forward == nil:
				stop()
			case ignoredAtStart(sig.(unix.Signal)):
				// Started ignoring it: perfprof only passes it on.
				forward(sig.(unix.Signal), at)
			case killAfter != nil || c.killAfter == 0:
				stop()
			default:
				firstSig = sig
				forward(sig.(unix.Signal), at)
				killTimer = time.NewTimer(c.killAfter)
				defer killTimer.Stop()
				killAfter = killTimer.C
			}
		case <-s.hupc:
			// logrotate moved the report (create), or not (copytruncate):
			// what was written is in the old file, what comes in the new.
			if err := s.out.reopen(); err != nil {
				s.errorf("cannot reopen the report: %v", err)
			}
		case <-s.usr1c:
			s.report(false)
		case <-killAfter:
			s.warnf("the workload was still running %v after %v: killing it (--kill-after)", c.killAfter, unix.SignalName(firstSig.(unix.Signal)))
			stop()
		case <-timeout:
			stop()
		case <-failed:
			// Nobody reads the report any more.
			failed = nil
			stop()
		case <-s.limitc:
			// -N samples were written: stop now, as --duration does.
			s.limitc = nil
			stop()
		case <-tick:
			s.report(false)
			reports++
			if c.exitN > 0 && reports >= c.exitN && !c.sampling() {
				stop()
				tick = nil
			}
		}
	}
}

// attached is called once the targets are attached and armed: the pid
// file gets perfprof's pid, systemd hears READY=1, and a daemon lets its
// starter go (its messages go into the report from now on).
func (s *session) attached() int {
	if s.pid != nil {
		if err := s.pid.write(os.Getpid()); err != nil {
			s.errorf("%v", err)
			return exitFailure
		}
	}
	sdNotify("READY=1\nMAINPID=" + strconv.Itoa(os.Getpid()))
	if s.cfg.daemon && inDaemon() {
		s.msgs.set(reportLog{s.out})
		daemonReady()
	}
	return exitOK
}

// openReport opens the report file: a daemon appends to it (a restarted
// daemon does not wipe what its predecessor wrote), a run truncates it.
func openReport(path string, appendTo bool) (*os.File, error) {
	if appendTo {
		return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	}
	return os.Create(path)
}

// report writes a report: an interval one, or the final one.
func (s *session) report(final bool) {
	if !final && s.cfg.top {
		s.set.ReadRingsNow() // at a watermark, they may hold samples of this interval
		s.out.table(func(w io.Writer) { s.profiles.WriteTop(w, topN) })
	}
	if s.pdir != nil {
		s.cutProfile(time.Now())
	}
	writeReport(s.out, s.names, s.model.Report(s.set.Read, final), time.Since(s.start))
}

// finish prints the final report and the summary, and returns code.
func (s *session) finish(tasks, forks, code int) int {
	s.set.Close()
	if s.profiles != nil && !s.writeProfiles() {
		code = exitFailure
	}
	s.report(true)
	dv := s.set.Stats()
	failures, ferr := dv.Failures, dv.FirstErr
	elapsed := time.Since(s.start)
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru) // perfprof's own threads, not the workload's
	cpu := ru.Utime.Nano() + ru.Stime.Nano()
	var samples, lost, ringBytes int64
	var ringFailures int
	var ringErr error
	if s.sampler != nil {
		samples, lost = s.sampler.samples.Load(), s.sampler.lost.Load()
		ringFailures, ringErr, ringBytes = dv.RingFailures, dv.FirstRingErr, dv.RingBytesPeak
	}
	late, early := dv.Late, dv.Early
	if s.cfg.json {
		d := elapsed.Nanoseconds()
		sum := record{Type: "summary",
			TasksFollowed: &tasks, Forks: &forks, CounterFailures: &failures, DurationNS: &d, CPUNS: &cpu, TasksLeft: &s.left}
		if s.sampler != nil {
			sum.Samples, sum.Lost, sum.RingFailures, sum.RingBytes = &samples, &lost, &ringFailures, &ringBytes
			if s.cfg.order {
				sum.LateSamples = &late
			}
		}
		s.out.emit([]record{sum})
	} else {
		s.out.table(func(w io.Writer) {
			fmt.Fprintf(w, "\n %d %s followed, %d %s, %d counter %s, %.3f s elapsed, perfprof used %.3f s CPU\n",
				tasks, pl(tasks, "task", "tasks"), forks, pl(forks, "fork", "forks"),
				failures, pl(failures, "failure", "failures"), elapsed.Seconds(), float64(cpu)/1e9)
			if s.sampler != nil {
				fmt.Fprintf(w, " %d %s, %d lost, %d %s without a ring, %s of rings at most",
					samples, pl(int(samples), "sample", "samples"), lost, ringFailures, pl(ringFailures, "task", "tasks"), bytesString(ringBytes))
				if s.cfg.order {
					fmt.Fprintf(w, ", %d out of order", late)
				}
				fmt.Fprintln(w)
			}
			fmt.Fprintln(w)
		})
	}
	if late > 0 {
		why := fmt.Sprintf("the kernel wrote them more than %d ms after their time", profdev.OrderWindow/1_000_000)
		if early > 0 {
			why = fmt.Sprintf("%d %s written before their time, %d MiB of samples being held", early, pl(int(early), "was", "were"), profdev.OrderLimit>>20)
		}
		s.warnf("%d %s written out of time order: %s", late, pl(int(late), "sample was", "samples were"), why)
	}
	if ringFailures > 0 {
		s.warnf("%d %s followed without a ring (counted, not sampled): %v", ringFailures, pl(ringFailures, "task was", "tasks were"), ringErr)
	}
	if failures > 0 {
		s.warnf("%d %s followed without counters: %v", failures, pl(failures, "task was", "tasks were"), ferr)
		if h := perfevent.Hint(ferr); h != "" {
			s.errorf("hint: %s", h)
		}
	}
	return code
}

func pl(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// bytesString says n bytes in KiB or MiB.
func bytesString(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// profileSink hands the set's devices to the report model and to the
// profile builder, which learns of each process as its first task is
// armed.
type profileSink struct {
	*report.Model
	b *profiles.Builder
}

func (ps profileSink) Started(id uint64, t pidtree.Task, comm string) {
	ps.b.Start(t, comm)
	ps.Model.Started(id, t, comm)
}

func (ps profileSink) Ended(f profdev.Final) {
	ps.Model.Ended(f)
	ps.b.End(f.Task)
}

// writeProfiles writes --pprof, --folded and --top, and says whether all
// could be written.
func (s *session) writeProfiles() bool {
	c, ok := s.cfg, true
	if s.pdir != nil {
		return true // the final report cuts the last interval's
	}
	procs := s.profiles.Processes()
	write := func(path string, fn func(io.Writer) error) {
		if path == "" {
			return
		}
		f, err := os.Create(path)
		if err == nil {
			err = fn(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			s.errorf("write profile: %v", err)
			ok = false
		}
	}
	write(c.pprofFile, func(w io.Writer) error {
		return profiles.WritePprof(w, s.profiles.Events(), procs, s.start, time.Since(s.start))
	})
	write(c.foldedFile, func(w io.Writer) error { return profiles.WriteFolded(w, procs) })
	if c.top {
		s.out.table(func(w io.Writer) { s.profiles.WriteTop(w, topN) })
	}
	return ok
}

// topN is how many functions --top shows for each process.
const topN = 10
