package session

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/inherit"
	"github.com/perfprof/perfprof/internal/daemon"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/profdev"
	"github.com/perfprof/perfprof/profiles"
	"github.com/perfprof/perfprof/report"
	"github.com/perfprof/perfprof/runstats"
	"github.com/perfprof/perfprof/stream"
	"golang.org/x/sys/unix"
)

// Session is one run of perfprof. See the package doc.
type Session struct {
	cfg    *Config
	stdout io.Writer
	stderr io.Writer // msgs
	msgs   *stream.Messages
	rep    Reporter
	sig    Signals

	set      *profdev.Set      // the ptrace follower's devices; nil with --follow inherit
	inh      *inherit.Follower // --follow inherit
	obs      observer          // set or inh: what reports read
	model    *report.Model
	out      *stream.Stream
	pid      *daemon.PidFile      // --pidfile, locked
	pdir     *profiles.Dir        // --pprof-dir
	samples  *stream.SampleWriter // nil when counting
	profiles *profiles.Builder    // nil without --pprof, --folded, --top
	limitc   chan struct{}        // closed when -N samples were written
	start    time.Time
	failed   bool // a failure was reported that fails the run (Result.Failed)
	// tasks is the follower's RunStats once it started, for the metrics
	// (they may read it before).
	tasks atomic.Pointer[func() runstats.Tasks]
}

// Signals are the channels the caller's signal handling feeds: the stop
// signals, a daemon's SIGHUP (reopen the report), SIGUSR1 (a report now).
// A nil channel is never ready.
type Signals struct {
	Stop, Hup, Usr1 <-chan os.Signal
}

// New returns the run cfg describes: its report goes to stdout (or
// cfg.Output), its messages and -v log to msgs (which a daemon redirects
// into its report once attached), and what it has to say to rep. sig are
// the signals that stop the run, reopen its report, or ask for a report.
func New(cfg *Config, stdout io.Writer, msgs *stream.Messages, rep Reporter, sig Signals) *Session {
	return &Session{cfg: cfg, stdout: stdout, stderr: msgs, msgs: msgs, rep: rep, sig: sig}
}

// fail reports err, which fails the run.
func (s *Session) fail(err error) {
	s.rep.Error(err)
	s.failed = true
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

// Run runs the session until its targets end or it is stopped, and says
// how it ended. Whatever went wrong was told to the Reporter.
func (s *Session) Run() Result {
	res, err := s.run()
	if err != nil {
		if !errors.Is(err, errReported) {
			s.rep.Error(err)
		}
		return Result{Err: err}
	}
	res.Failed = res.Failed || s.failed
	return res
}

// run builds the pipeline and follows the targets. An error it returns
// ended the run before it followed anything, and is not reported yet
// unless it is errReported.
func (s *Session) run() (Result, error) {
	c := s.cfg
	if c.PidFile != "" {
		pf, err := daemon.LockPidFile(c.PidFile)
		if err != nil {
			return Result{}, err
		}
		s.pid = pf
		defer pf.Remove()
	}
	if lim := perfevent.RaiseFileLimit(); c.Verbose {
		fmt.Fprintf(s.stderr, "RLIMIT_NOFILE %d\n", lim)
	}
	specs, fields, err := s.events()
	if err != nil {
		return Result{}, err
	}
	// Keep one instance of each event open for the whole run, so that no
	// per-task open or close is the first or last of its kind.
	pin, err := perfevent.Pin(specs)
	if err != nil {
		return Result{}, err
	}
	defer pin.Close()
	closeOut, err := s.openStream(specs)
	defer closeOut()
	if err != nil {
		return Result{}, err
	}
	if err := s.build(specs, fields); err != nil {
		return Result{}, err
	}
	s.start = time.Now() // before the metrics' goroutine may read it
	if c.Listen != "" {
		stop, err := s.serveMetrics(specs)
		if err != nil {
			return Result{}, fmt.Errorf("cannot serve metrics: %w", err)
		}
		defer stop()
	}
	res, err := s.follow()
	cerr := s.out.Close()
	// A daemon's messages went into the report: not any more.
	s.msgs.Redirect(os.Stderr)
	if cerr != nil {
		s.fail(fmt.Errorf("write report: %w", cerr))
	}
	return res, err
}

// events parses -e, checks each event on perfprof itself, and makes them
// sample when sampling; it returns the tracepoints' field decoders too.
func (s *Session) events() ([]perfevent.Spec, []*perfevent.FieldDecoder, error) {
	c := s.cfg
	specs, err := perfevent.Parse(c.Events...)
	if err != nil {
		return nil, nil, err
	}
	specs, subs, err := perfevent.Resolve(specs, os.Geteuid() != 0)
	for _, sub := range subs {
		s.rep.Warn(&Substituted{sub})
	}
	if err != nil {
		return nil, nil, err
	}
	var fields []*perfevent.FieldDecoder
	if c.Sampling() {
		opt := perfevent.SampleOptions{Period: c.Period, Freq: c.Freq, CallGraph: c.CallGraph,
			Watermark: c.RingWatermark(), RingPages: 1 << c.RingOrder(), LostCount: true, Mappings: c.Profiles()}
		if specs, fields, err = perfevent.ResolveSampling(specs, opt); err != nil {
			return nil, nil, err
		}
	}
	return specs, fields, nil
}

// openStream opens the report stream (-o, or standard output), and
// --cpuprofile's file; closeOut closes both.
func (s *Session) openStream(specs []perfevent.Spec) (closeOut func(), err error) {
	c := s.cfg
	w, closers := s.stdout, []func(){}
	closeOut = func() {
		for _, fn := range closers {
			fn()
		}
	}
	if c.Output != "" {
		f, err := openReport(c.Output, c.Daemon)
		if err != nil {
			return closeOut, fmt.Errorf("cannot write the report: %w", err)
		}
		closers, w = append(closers, func() { f.Close() }), f
	}
	if c.CPUProfile != "" {
		stop, err := startCPUProfile(c.CPUProfile)
		if err != nil {
			return closeOut, err
		}
		closers = append(closers, stop)
	}
	opt := stream.Options{Events: specs, JSON: c.JSON, Queued: c.Sampling()}
	if c.Daemon {
		// SIGHUP reopens it: the stream closes the first file then. A
		// full disk does not stop a daemon: it writes again when it can.
		opt.Retry = true
		opt.Reopen = func() (io.WriteCloser, error) { return openReport(c.Output, true) }
	}
	s.out = stream.New(w, opt)
	return closeOut, nil
}

// build makes the devices, the model and what takes the samples: the
// sample writer, and the profiles.
func (s *Session) build(specs []perfevent.Spec, fields []*perfevent.FieldDecoder) error {
	c := s.cfg
	s.model = report.NewModel(report.Options{Events: specs, PerThread: c.PerThread, ByComm: c.ByComm, Keep: c.FoldAfter})
	var sink profdev.Sink = s.model
	if c.Profiles() {
		s.profiles = profiles.NewBuilder(specs)
		sink = s.profiles.Sink(s.model)
	}
	if c.Sampling() {
		s.limitc = make(chan struct{})
		opt := stream.SampleOptions{Fields: fields, Wall: perfevent.MonotonicToWall(), Limit: int64(c.ExitN),
			OnLimit: func() { close(s.limitc) },
			OnLost:  func(n int64) { s.rep.Warn(&LostRecords{Total: n}) }}
		if s.profiles != nil {
			opt.Profiles = s.profiles
		}
		s.samples = stream.NewSampleWriter(s.out, opt)
	}
	if c.Inherit() {
		if err := s.buildInherit(specs, sink); err != nil {
			return err
		}
	} else {
		s.set = profdev.NewSet(specs, sink)
		s.set.CommOf = follow.Comm
		s.obs = s.set
		if s.samples != nil {
			if err := s.set.EnableSampling(profdev.SamplingOptions{RingOrder: c.RingOrder(), Sink: s.samples, Order: c.Order,
				Watermark: c.RingWatermark() > 0}); err != nil {
				return err
			}
		}
	}
	if c.PprofDir != "" {
		var err error
		if s.pdir, err = profiles.OpenDir(c.PprofDir, c.Keep, time.Now()); err != nil {
			return &ProfileDirError{Open: true, Err: err}
		}
	}
	return nil
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
func (s *Session) report(final bool) {
	if !final && s.cfg.Top {
		s.obs.ReadRingsNow() // at a watermark, they may hold samples of this interval
		s.out.Table(func(w io.Writer) { s.profiles.WriteTop(w, topN) })
	} else if !final && s.inh != nil {
		s.inh.ReadRingsNow() // the pulses and the ends of this interval
	}
	if s.pdir != nil {
		s.cutProfile(time.Now())
	}
	s.out.Report(s.model.Report(s.obs.Read, final), time.Since(s.start))
}

// finish writes the profiles, the final report and the summary, warns of
// what the run lacked, and says how it ended: res, the follower's.
func (s *Session) finish(res follow.Result) Result {
	if s.set != nil {
		s.set.Close()
	}
	if s.profiles != nil {
		s.writeProfiles()
	}
	s.report(true)
	run := s.runStats()
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru) // perfprof's own threads, not the workload's
	run.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	d := &run.Devices
	s.out.Summary(run, s.cfg.Order)
	if d.Late > 0 {
		s.rep.Warn(&OutOfOrder{Late: d.Late, Early: d.Early})
	}
	if s.inh != nil {
		if records, stalls, tasks := s.inh.Lost(); tasks > 0 || records > 0 && s.samples == nil {
			s.rep.Warn(&CountsLost{Records: records, Stalls: stalls, Tasks: tasks})
		}
	}
	if d.RingFailures > 0 {
		s.rep.Warn(&WithoutDevices{Tasks: d.RingFailures, Rings: true, Err: d.FirstRingErr})
	}
	if d.Failures > 0 {
		s.rep.Warn(&WithoutDevices{Tasks: d.Failures, Err: d.FirstErr})
	}
	return Result{Workload: res.Workload, HaveWorkload: res.HaveWorkload}
}

// runStats gathers the run's own figures, each part from its owner: the
// follower (once it started), the devices, the sample writer, the report
// stream. Any goroutine may call it (the metrics do, at each scrape).
func (s *Session) runStats() runstats.Run {
	r := runstats.Run{Devices: s.obs.Stats(), Report: s.out.Stats(), Elapsed: time.Since(s.start)}
	if tasks := s.tasks.Load(); tasks != nil {
		r.Tasks = (*tasks)()
	}
	if s.samples != nil {
		r.Samples = s.samples.Stats()
	}
	return r
}

// writeProfiles writes --pprof, --folded and --top; a file it cannot
// write fails the run.
func (s *Session) writeProfiles() {
	c := s.cfg
	if s.pdir != nil {
		return // the final report cuts the last interval's
	}
	for _, f := range []struct {
		path   string
		format profiles.Format
	}{{c.PprofFile, profiles.Pprof}, {c.FoldedFile, profiles.Folded}} {
		if f.path == "" {
			continue
		}
		if err := s.profiles.WriteFile(f.path, f.format, s.start, time.Since(s.start)); err != nil {
			s.fail(fmt.Errorf("write profile: %w", err))
		}
	}
	if c.Top {
		s.out.Table(func(w io.Writer) { s.profiles.WriteTop(w, topN) })
	}
}

// topN is how many functions --top shows for each process.
const topN = 10
