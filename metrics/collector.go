package metrics

import (
	"strconv"
	"sync"
	"time"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/report"
	"github.com/perfprof/perfprof/runstats"
)

// Options configure a Collector, and the Server that serves it.
type Options struct {
	// Events are the run's events, in the order of a row's values: their
	// names label the series, and the time events (perfevent.Nanoseconds)
	// are exported in seconds.
	Events   []perfevent.Spec
	Snapshot func() []report.SnapshotRow // the report model's counts so far
	// Run returns the run's own figures at a scrape (nil: none are
	// exported).
	Run func() runstats.Run
	// MaxComms bounds the command names with series of their own (0:
	// DefaultMaxComms); the others are summed under comm="other".
	MaxComms int
	// PerPID adds a series per process; an ended one stays KeepEnded
	// (0: DefaultKeepEnded) after the collector first saw it ended.
	PerPID    bool
	KeepEnded time.Duration
	// Now is the clock (nil: time.Now), for tests.
	Now func() time.Time
	// OnError, if not nil, is told why the Server stopped serving before
	// it was closed (an accept that failed for good). It runs on the
	// Server's goroutine.
	OnError func(error)
}

// DefaultMaxComms is how many command names get series of their own.
const DefaultMaxComms = 100

// DefaultKeepEnded is how long an ended process keeps its series with
// PerPID.
const DefaultKeepEnded = 5 * time.Minute

// Other is the command name of the counts of the command names past
// MaxComms.
const Other = "other"

// The help texts of the run's families.
const (
	eventHelp     = "Events counted in the followed processes, by command name (seconds for task-clock and cpu-clock)."
	procEventHelp = "Events counted in each followed process (seconds for task-clock and cpu-clock)."
)

// Collector makes the metrics of a run at each scrape: the run's counts
// and figures, and perfprof's own process and Go runtime. It is safe for
// concurrent use: each scrape reads the model's snapshot itself.
type Collector struct {
	opt     Options
	names   []string // by event: the event label
	seconds []bool   // by event: counted in ns, exported in seconds

	mu    sync.Mutex
	comms map[string]bool   // the command names with series of their own
	endAt map[int]time.Time // PerPID: when each ended process was first seen ended
}

// New returns the Collector of a run.
func New(opt Options) *Collector {
	if opt.MaxComms <= 0 {
		opt.MaxComms = DefaultMaxComms
	}
	if opt.KeepEnded <= 0 {
		opt.KeepEnded = DefaultKeepEnded
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	c := &Collector{opt: opt, comms: map[string]bool{}, endAt: map[int]time.Time{}}
	for _, e := range opt.Events {
		c.names = append(c.names, e.Name)
		c.seconds = append(c.seconds, e.Unit() == perfevent.Nanoseconds)
	}
	return c
}

// AppendText appends a scrape's page to b, in the Prometheus text format
// 0.0.4: the run's families, process_* and go_* (see the package doc).
func (c *Collector) AppendText(b []byte) []byte {
	fams := c.collect()
	fams = append(fams, processFamilies()...)
	fams = append(fams, goFamilies()...)
	return appendText(b, fams)
}

// collect reads the snapshot and the run's figures: the run's families.
func (c *Collector) collect() []family {
	rows := c.opt.Snapshot()
	n := len(c.names)
	byComm := map[string][]float64{}
	// By pid: the rows of one process's threads (--per-thread), and of
	// two processes that had the same pid, make one series.
	type proc struct {
		comm    string
		running bool
		sum     []float64
	}
	byPID := map[int]*proc{}
	event := family{name: "perfprof_event_total", help: eventHelp, kind: counter}
	procEvent := family{name: "perfprof_process_event_total", help: procEventHelp, kind: counter}
	c.mu.Lock()
	now := c.opt.Now()
	for _, r := range rows {
		comm := c.commLocked(r.Comm)
		sum := byComm[comm]
		if sum == nil {
			sum = make([]float64, n)
			byComm[comm] = sum
		}
		for i := 0; i < n && i < len(r.Values); i++ {
			sum[i] += c.value(i, r.Values[i].Raw)
		}
		if !c.opt.PerPID || r.PID == 0 {
			continue
		}
		p := byPID[r.PID]
		if p == nil {
			p = &proc{comm: r.Comm, sum: make([]float64, n)}
			byPID[r.PID] = p
		}
		if r.Running {
			p.running, p.comm = true, r.Comm
		}
		for i := 0; i < n && i < len(r.Values); i++ {
			p.sum[i] += c.value(i, r.Values[i].Raw)
		}
	}
	for pid, p := range byPID {
		if !p.running {
			at, ok := c.endAt[pid]
			if !ok {
				at = now
				c.endAt[pid] = at
			}
			if now.Sub(at) > c.opt.KeepEnded {
				continue
			}
		} else {
			delete(c.endAt, pid) // a pid used again
		}
		id := strconv.Itoa(pid)
		for i, v := range p.sum {
			procEvent.series = append(procEvent.series, series{
				labels: []label{{"comm", p.comm}, {"event", c.names[i]}, {"pid", id}}, value: v})
		}
	}
	// Processes the snapshot no longer has (folded) are forgotten: the
	// map stays as small as the model.
	for pid := range c.endAt {
		if _, ok := byPID[pid]; !ok {
			delete(c.endAt, pid)
		}
	}
	c.mu.Unlock()
	for comm, sum := range byComm {
		for i, v := range sum {
			event.series = append(event.series, series{labels: []label{{"comm", comm}, {"event", c.names[i]}}, value: v})
		}
	}
	fams := []family{event, procEvent}
	if c.opt.Run == nil {
		return fams
	}
	return append(fams, runFamilies(c.opt.Run())...)
}

// runFamilies are the run's own figures.
func runFamilies(r runstats.Run) []family {
	one := func(name, help string, k kind, v float64) family {
		return family{name: name, help: help, kind: k, series: []series{{value: v}}}
	}
	fams := []family{
		one("perfprof_tasks", "Tasks (threads) followed now.", gauge, float64(r.Devices.Live)),
		one("perfprof_tasks_created_total", "Tasks the followed ones created (forks, clones).", counter, float64(r.Tasks.Created)),
		one("perfprof_tasks_ended_total", "Followed tasks that ended.", counter, float64(r.Tasks.Ended)),
		one("perfprof_event_open_failures_total", "Counters that could not be opened for a task.", counter, float64(r.Devices.Failures)),
		one("perfprof_report_write_failures_total", "Times the report could not be written (a full disk), each run of failed writes once.", counter, float64(r.Report.WriteFailures)),
	}
	if r.Samples.Sampling {
		fams = append(fams,
			one("perfprof_samples_total", "Samples taken.", counter, float64(r.Samples.Written)),
			one("perfprof_lost_samples_total", "Samples the kernel dropped: a ring was full.", counter, float64(r.Samples.Lost)))
	}
	return fams
}

// value is the exported value of event i's count raw.
func (c *Collector) value(i int, raw uint64) float64 {
	if c.seconds[i] {
		return float64(raw) / 1e9
	}
	return float64(raw)
}

// commLocked returns the series' command name for comm: comm itself if it
// has a series, or gets one now (MaxComms not reached), else Other.
// Precondition: c.mu held.
func (c *Collector) commLocked(comm string) string {
	if comm == "" {
		comm = "?"
	}
	if c.comms[comm] {
		return comm
	}
	if len(c.comms) < c.opt.MaxComms && comm != Other {
		c.comms[comm] = true
		return comm
	}
	return Other
}
