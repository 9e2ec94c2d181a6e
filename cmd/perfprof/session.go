package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/internal/daemon"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/profdev"
	"github.com/perfprof/perfprof/profiles"
	"github.com/perfprof/perfprof/report"
	"github.com/perfprof/perfprof/runstats"
	"github.com/perfprof/perfprof/stream"
	"golang.org/x/sys/unix"
)

// session is one run of perfprof.
type session struct {
	cfg            *config
	stdout, stderr io.Writer

	set   *profdev.Set
	model *report.Model
	out   *stream.Stream
	sigc  chan os.Signal   // stop signals, caught from the start
	hupc  chan os.Signal   // a daemon's SIGHUP: reopen the report (nil otherwise)
	usr1c chan os.Signal   // SIGUSR1: a report now
	pid   *daemon.PidFile  // --pidfile, locked
	msgs  *stream.Messages // stderr, which a daemon swaps for its report
	pdir  *profiles.Dir    // --pprof-dir
	// tasks is the follower's RunStats once it started, for the metrics
	// (they may read it before).
	tasks atomic.Pointer[func() runstats.Tasks]

	samples  *stream.SampleWriter // nil when counting
	profiles *profiles.Builder    // nil without --pprof, --folded, --top
	limitc   chan struct{}        // closed when -N samples were written
	start    time.Time
	left     int // tasks the tracer still held at its end (zombies left to the kernel)
}

func (s *session) errorf(format string, args ...any) {
	fmt.Fprintf(s.stderr, "perfprof: "+format+"\n", args...)
}

// fail prints err and its hint, if any.
func (s *session) fail(err error) {
	s.errorf("%s", attachMessage(err))
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
		case ae.Cause == follow.CauseTraced:
			return fmt.Sprintf("a task has only one tracer: stop process %d, or count without following: --no-follow", ae.TracerPID)
		case ae.Cause == follow.CauseNoProcess:
			return "check the id with 'ps -L -p ID'"
		case errors.Is(err, unix.EPERM) && os.Geteuid() != 0:
			return "run perfprof as root (ptrace needs CAP_SYS_PTRACE for processes that are not its children)"
		}
	}
	return eventHint(err)
}

func (s *session) run() int {
	c := s.cfg
	// Messages come from several goroutines (the ring owner's warnings),
	// and a daemon redirects them once attached.
	s.msgs = stream.NewMessages(s.stderr)
	s.stderr = s.msgs
	s.sigc, s.hupc, s.usr1c = setupSignals(len(c.argv) > 0, c.daemon)
	defer releaseSignals(s.sigc, s.hupc, s.usr1c)
	if c.pidFile != "" {
		pf, err := daemon.LockPidFile(c.pidFile)
		if err != nil {
			s.pidFileError(err)
			return exitFailure
		}
		s.pid = pf
		defer pf.Remove()
	}
	if lim := perfevent.RaiseFileLimit(); c.verbose {
		fmt.Fprintf(s.stderr, "RLIMIT_NOFILE %d\n", lim)
	}
	specs, fields, code := s.events()
	if code != exitOK {
		return code
	}
	// Keep one instance of each event open for the whole run, so that no
	// per-task open or close is the first or last of its kind.
	pin, err := perfevent.Pin(specs)
	if err != nil {
		s.fail(err)
		return exitFailure
	}
	defer pin.Close()
	closeOut, code := s.openStream(specs)
	if code != exitOK {
		return code
	}
	defer closeOut()
	if code := s.build(specs, fields); code != exitOK {
		return code
	}
	if c.listen != "" {
		stop, err := s.serveMetrics(specs)
		if err != nil {
			s.errorf("cannot serve metrics: %v", err)
			return exitFailure
		}
		defer stop()
	}
	s.start = time.Now()
	code = s.follow()
	err = s.out.Close()
	// A daemon's messages went into the report: not any more.
	s.msgs.Redirect(os.Stderr)
	if err != nil {
		s.errorf("write report: %v", writeReason(err))
		code = exitFailure
	}
	return code
}

// events parses -e, checks each event on perfprof itself, and makes them
// sample when sampling; it returns the tracepoints' field decoders too.
func (s *session) events() ([]perfevent.Spec, []*perfevent.FieldDecoder, int) {
	c := s.cfg
	specs, err := perfevent.Parse(c.events...)
	if err != nil {
		return nil, nil, s.eventError(err)
	}
	if specs, err = s.probe(specs); err != nil {
		s.fail(err)
		return nil, nil, exitFailure
	}
	var fields []*perfevent.FieldDecoder
	if c.sampling() {
		opt := perfevent.SampleOptions{Period: c.period, Freq: c.freq, CallGraph: c.callGraph,
			Watermark: c.ringWatermark(), RingPages: 1 << c.ringOrder(), LostCount: true, Mappings: c.profiles()}
		if specs, fields, err = perfevent.ResolveSampling(specs, opt); err != nil {
			s.fail(err)
			return nil, nil, exitFailure
		}
	}
	return specs, fields, exitOK
}

// openStream opens the report stream (-o, or standard output), and
// --cpuprofile's file; closeOut closes both.
func (s *session) openStream(specs []perfevent.Spec) (closeOut func(), code int) {
	c := s.cfg
	w, closers := s.stdout, []func(){}
	closeOut = func() {
		for _, fn := range closers {
			fn()
		}
	}
	if c.output != "" {
		f, err := openReport(c.output, c.daemon)
		if err != nil {
			s.errorf("cannot write the report: %v", err)
			return closeOut, exitFailure
		}
		closers, w = append(closers, func() { f.Close() }), f
	}
	if c.cpuProfile != "" {
		stop, err := startCPUProfile(c.cpuProfile)
		if err != nil {
			s.errorf("%v", err)
			return closeOut, exitFailure
		}
		closers = append(closers, stop)
	}
	opt := stream.Options{Events: specs, JSON: c.json, Queued: c.sampling()}
	if c.daemon {
		// SIGHUP reopens it: the stream closes the first file then. A
		// full disk does not stop a daemon: it writes again when it can.
		opt.Retry = true
		opt.Reopen = func() (io.WriteCloser, error) { return openReport(c.output, true) }
	}
	s.out = stream.New(w, opt)
	return closeOut, exitOK
}

// build makes the devices, the model and what takes the samples: the
// sample writer, and the profiles.
func (s *session) build(specs []perfevent.Spec, fields []*perfevent.FieldDecoder) int {
	c := s.cfg
	s.model = report.NewModel(report.Options{Events: specs, PerThread: c.perThread, ByComm: c.byComm, Keep: c.foldAfter})
	var sink profdev.Sink = s.model
	if c.profiles() {
		s.profiles = profiles.NewBuilder(specs)
		sink = s.profiles.Sink(s.model)
	}
	s.set = profdev.NewSet(specs, sink)
	s.set.CommOf = follow.Comm
	if c.sampling() {
		s.limitc = make(chan struct{})
		opt := stream.SampleOptions{Fields: fields, Wall: perfevent.MonotonicToWall(), Limit: int64(c.exitN),
			OnLimit: func() { close(s.limitc) },
			OnLost: func(n int64) {
				s.warnf("%d records lost so far: the rings were full (a larger -m, or a longer period)", n)
			}}
		if s.profiles != nil {
			opt.Profiles = s.profiles
		}
		s.samples = stream.NewSampleWriter(s.out, opt)
		if err := s.set.EnableSampling(profdev.SamplingOptions{RingOrder: c.ringOrder(), Sink: s.samples, Order: c.order,
			Watermark: c.ringWatermark() > 0}); err != nil {
			s.fail(err)
			return exitFailure
		}
	}
	if c.pprofDir != "" {
		var err error
		if s.pdir, err = profiles.OpenDir(c.pprofDir, c.keep, time.Now()); err != nil {
			s.errorf("cannot write profiles into --pprof-dir: %v", err)
			return exitFailure
		}
	}
	return exitOK
}

// writeReason explains a write error of the report.
func writeReason(err error) string {
	if errors.Is(err, unix.EPIPE) {
		return err.Error() + " (the report's reader is gone)"
	}
	return err.Error()
}

// probe checks each event on perfprof itself (perfevent.Resolve), warning
// of each substitute.
func (s *session) probe(specs []perfevent.Spec) ([]perfevent.Spec, error) {
	specs, subs, err := perfevent.Resolve(specs, os.Geteuid() != 0)
	for _, sub := range subs {
		if errors.Is(sub.Why, perfevent.ErrPermission) {
			s.warnf("not allowed to count the kernel (kernel.perf_event_paranoid): counting %q", sub.To.Name)
		} else {
			s.warnf("%q not supported here, counting %q instead", sub.From.Name, sub.To.Name)
		}
	}
	return specs, err
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, " or ")
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
		s.set.DrainRings() // at a watermark, they may hold samples of this interval
		s.out.Table(func(w io.Writer) { s.profiles.WriteTop(w, topN) })
	}
	if s.pdir != nil {
		s.cutProfile(time.Now())
	}
	s.out.Report(s.model.Report(s.set.Read, final), time.Since(s.start))
}

// finish prints the final report and the summary, and returns code.
func (s *session) finish(tasks, forks, code int) int {
	s.set.Close()
	if s.profiles != nil && !s.writeProfiles() {
		code = exitFailure
	}
	s.report(true)
	run := runstats.Run{Tasks: runstats.Tasks{Followed: tasks, Created: forks, Left: s.left}, Elapsed: time.Since(s.start)}
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru) // perfprof's own threads, not the workload's
	run.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	d := &run.Devices
	d.Failures, d.FirstErr = s.set.Failures()
	if s.samples != nil {
		run.Samples = s.samples.Stats()
		d.RingFailures, d.FirstRingErr, d.RingBytesPeak, _ = s.set.RingStats()
	}
	d.Late, d.Early = s.set.OrderStats()
	run.Report = s.out.Stats()
	s.out.Summary(run, s.cfg.order)
	if d.Late > 0 {
		why := fmt.Sprintf("the kernel wrote them more than %d ms after their time", profdev.OrderWindow/1_000_000)
		if d.Early > 0 {
			why = fmt.Sprintf("%d %s written before their time, %d MiB of samples being held", d.Early, pl(int(d.Early), "was", "were"), profdev.OrderLimit>>20)
		}
		s.warnf("%d %s written out of time order: %s", d.Late, pl(int(d.Late), "sample was", "samples were"), why)
	}
	if d.RingFailures > 0 {
		s.warnf("%d %s followed without a ring (counted, not sampled): %v", d.RingFailures, pl(d.RingFailures, "task was", "tasks were"), d.FirstRingErr)
	}
	if d.Failures > 0 {
		s.warnf("%d %s followed without counters: %v", d.Failures, pl(d.Failures, "task was", "tasks were"), d.FirstErr)
		if h := eventHint(d.FirstErr); h != "" {
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

// writeProfiles writes --pprof, --folded and --top, and says whether all
// could be written.
func (s *session) writeProfiles() bool {
	c, ok := s.cfg, true
	if s.pdir != nil {
		return true // the final report cuts the last interval's
	}
	for _, f := range []struct {
		path   string
		format profiles.Format
	}{{c.pprofFile, profiles.Pprof}, {c.foldedFile, profiles.Folded}} {
		if f.path == "" {
			continue
		}
		if err := s.profiles.WriteFile(f.path, f.format, s.start, time.Since(s.start)); err != nil {
			s.errorf("write profile: %v", err)
			ok = false
		}
	}
	if c.top {
		s.out.Table(func(w io.Writer) { s.profiles.WriteTop(w, topN) })
	}
	return ok
}

// topN is how many functions --top shows for each process.
const topN = 10
