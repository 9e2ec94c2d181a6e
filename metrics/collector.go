package metrics

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/perfprof/perfprof/report"
	"github.com/prometheus/client_golang/prometheus"
)

// Stats are a run's own figures at a scrape.
type Stats struct {
	Tasks           int   // followed now
	Created, Ended  int64 // tasks created (forks, clones) and ended so far
	Samples, Lost   int64
	CounterFailures int
	Sampling        bool  // Samples and Lost mean something
	ReportFailures  int64 // runs of failed writes of the report (a full disk)
}

// Options configure a Collector.
type Options struct {
	Events   []string                    // the events, in the order of a row's values
	Snapshot func() []report.SnapshotRow // the report model's counts so far
	Stats    func() Stats
	// MaxComms bounds the command names with series of their own (0:
	// DefaultMaxComms); the others are summed under comm="other".
	MaxComms int
	// PerPID adds a series per process; an ended one stays KeepEnded
	// (0: DefaultKeepEnded) after the collector first saw it ended.
	PerPID    bool
	KeepEnded time.Duration
	// Now is the clock (nil: time.Now), for tests.
	Now func() time.Time
}

// DefaultMaxComms is how many command names get series of their own.
const DefaultMaxComms = 100

// DefaultKeepEnded is how long an ended process keeps its series with
// PerPID.
const DefaultKeepEnded = 5 * time.Minute

// Other is the command name of the counts of the command names past
// MaxComms.
const Other = "other"

// Collector is the prometheus.Collector of a run.
type Collector struct {
	opt     Options
	seconds []bool // by event: counted in ns, exported in seconds

	event, procEvent                                         *prometheus.Desc
	tasks, created, ended, samples, lost, fails, reportFails *prometheus.Desc

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
		name, _, _ := strings.Cut(e, ":")
		c.seconds = append(c.seconds, name == "task-clock" || name == "cpu-clock")
	}
	c.event = prometheus.NewDesc("perfprof_event_total",
		"Events counted in the followed processes, by command name (seconds for task-clock and cpu-clock).",
		[]string{"comm", "event"}, nil)
	c.procEvent = prometheus.NewDesc("perfprof_process_event_total",
		"Events counted in each followed process (seconds for task-clock and cpu-clock).",
		[]string{"pid", "comm", "event"}, nil)
	c.tasks = prometheus.NewDesc("perfprof_tasks", "Tasks (threads) followed now.", nil, nil)
	c.created = prometheus.NewDesc("perfprof_tasks_created_total", "Tasks the followed ones created (forks, clones).", nil, nil)
	c.ended = prometheus.NewDesc("perfprof_tasks_ended_total", "Followed tasks that ended.", nil, nil)
	c.samples = prometheus.NewDesc("perfprof_samples_total", "Samples taken.", nil, nil)
	c.lost = prometheus.NewDesc("perfprof_lost_samples_total", "Samples the kernel dropped: a ring was full.", nil, nil)
	c.fails = prometheus.NewDesc("perfprof_event_open_failures_total", "Counters that could not be opened for a task.", nil, nil)
	c.reportFails = prometheus.NewDesc("perfprof_report_write_failures_total", "Times the report could not be written (a full disk), each run of failed writes once.", nil, nil)
	return c
}

var _ prometheus.Collector = (*Collector)(nil)

// Describe sends the descriptors of every metric c may send.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.event, c.procEvent, c.tasks, c.created, c.ended, c.samples, c.lost, c.fails, c.reportFails} {
		ch <- d
	}
}

// Collect reads the snapshot and the run's figures and sends them.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	rows := c.opt.Snapshot()
	n := len(c.opt.Events)
	byComm := map[string][]float64{}
	// By pid: the rows of one process's threads (--per-thread), and of
	// two processes that had the same pid, make one series.
	type proc struct {
		comm    string
		running bool
		sum     []float64
	}
	byPID := map[int]*proc{}
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
		label := strconv.Itoa(pid)
		for i, v := range p.sum {
			ch <- prometheus.MustNewConstMetric(c.procEvent, prometheus.CounterValue, v, label, p.comm, c.opt.Events[i])
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
			ch <- prometheus.MustNewConstMetric(c.event, prometheus.CounterValue, v, comm, c.opt.Events[i])
		}
	}
	if c.opt.Stats == nil {
		return
	}
	st := c.opt.Stats()
	ch <- prometheus.MustNewConstMetric(c.tasks, prometheus.GaugeValue, float64(st.Tasks))
	ch <- prometheus.MustNewConstMetric(c.created, prometheus.CounterValue, float64(st.Created))
	ch <- prometheus.MustNewConstMetric(c.ended, prometheus.CounterValue, float64(st.Ended))
	ch <- prometheus.MustNewConstMetric(c.fails, prometheus.CounterValue, float64(st.CounterFailures))
	ch <- prometheus.MustNewConstMetric(c.reportFails, prometheus.CounterValue, float64(st.ReportFailures))
	if st.Sampling {
		ch <- prometheus.MustNewConstMetric(c.samples, prometheus.CounterValue, float64(st.Samples))
		ch <- prometheus.MustNewConstMetric(c.lost, prometheus.CounterValue, float64(st.Lost))
	}
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
