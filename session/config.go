package session

import "time"

// Config is what a run is to do: the command line, parsed and checked
// (cmd/perfprof).
type Config struct {
	PIDs, TIDs []int
	Cgroup     string // --cgroup: a cgroup v2 directory whose processes are followed
	Tree       bool
	Events     []string
	NoFollow   bool
	// Follow is the follower: FollowPtrace (the default, "" too) or
	// FollowInherit.
	Follow    string
	Interval  time.Duration
	Duration  time.Duration
	KillAfter time.Duration // how long a workload has to exit after a stop signal
	ExitN     int           // interval reports, or samples when sampling
	// Sampling: a period or a frequency (one of them), call chains, the
	// ring's data pages and its wake-up watermark.
	Period, Freq uint64
	CallGraph    bool
	RingPages    int
	Watermark    int
	Order        bool // samples of all tasks merged in time order
	// Profiles instead of sample lines: files to write, and the top.
	PprofFile, FoldedFile string
	Top                   bool
	PprofDir              string // a profile per interval (see profdir.go)
	Keep                  int    // the newest profiles kept in pprofDir
	PerThread             bool
	ByComm                bool
	FoldAfter             int // ended rows kept before they are folded
	Output                string
	JSON                  bool
	Verbose               bool
	CPUProfile            string // write a pprof CPU profile of perfprof itself here
	Daemon                bool   // --daemon: run in the background (see daemon.go)
	PidFile               string // --pidfile
	// Prometheus metrics (see metrics.go): the address, a series per
	// process, the command names with series of their own, how long an
	// ended process keeps its series.
	Listen       string
	MetricsPID   bool
	MetricsComms int
	MetricsKeep  time.Duration
	Argv         []string // workload
	Path         string   // the workload, resolved in $PATH
}

// Sampling reports whether the run samples (-F or -c) rather than counts.
func (c *Config) Sampling() bool { return c.Freq > 0 || c.Period > 0 }

// Profiles reports whether samples go into profiles rather than lines.
func (c *Config) Profiles() bool {
	return c.PprofFile != "" || c.FoldedFile != "" || c.Top || c.PprofDir != ""
}

// profileWatermark is the rings' watermark (percent) when samples go to
// profiles, unless --watermark says otherwise: no line waits for them, and
// a wake-up at every sample costs the sampled task an interrupt (in a
// virtual machine, a VM exit: 20 µs). perf record wakes at half too.
const profileWatermark = 50

// RingWatermark is the rings' watermark in percent, 0: a wake-up at every
// sample.
func (c *Config) RingWatermark() int {
	if c.Watermark == 0 && c.Profiles() {
		return profileWatermark
	}
	return c.Watermark
}

// RingOrder is the order (log2) of the rings' data pages.
func (c *Config) RingOrder() int {
	pages := c.RingPages
	if pages == 0 {
		pages = 2 // perf-prof's, so that thousands of tasks fit
		if c.CallGraph {
			pages = 4
		}
	}
	order := 0
	for 1<<order < pages {
		order++
	}
	return order
}

// The followers --follow names.
const (
	// FollowPtrace holds each new task in its first stop and opens its
	// own counters and ring there.
	FollowPtrace = "ptrace"
	// FollowInherit lets the kernel copy the events into each new task,
	// with no stop (package inherit).
	FollowInherit = "inherit"
)

// Inherit reports whether the run follows by kernel inheritance.
func (c *Config) Inherit() bool { return c.Follow == FollowInherit }
