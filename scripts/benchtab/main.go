// Command benchtab measures perfprof's overhead against the reference C
// follower of ../shared/bench, interleaved and side by side, and prints
// one plain-text report: `go run ./scripts/benchtab [-rounds N] [-quick]`.
//
// Every figure is a ratio taken within one run: the machines are noisy and
// absolute times move from run to run. The main figure is perfprof's added
// µs per operation over the bare workload (same round) divided by the
// reference follower's (`follower -p`: one task-clock counter per task).
//
// The harness exits non-zero only when it cannot measure (set-up failed,
// the bare workload or the reference follower failed). A missed target is
// printed as a FAIL line.
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

var nan = math.NaN()

type config struct {
	rounds     int
	ctxRounds  int // rounds that also run the context tools (strace, perf stat)
	quick      bool
	root       string
	shared     string
	benchDir   string
	perfprof   string
	strace     string
	perf       string
	tracepoint bool
	timeout    time.Duration
	notes      []string
	harnessErr []string
}

func (c *config) bin(name string) string { return filepath.Join(c.benchDir, name) }
func (c *config) follower() string       { return filepath.Join(c.benchDir, "follower", "follower") }
func (c *config) followerExec() string   { return filepath.Join(c.benchDir, "follower", "follower-exec") }

func (c *config) failHarness(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	c.harnessErr = append(c.harnessErr, msg)
	progress("HARNESS ERROR: %s", msg)
}

const (
	events1 = "task-clock"
	events3 = "task-clock,page-faults,context-switches"
	target  = 1.25
)

// A tool runs a workload; argv returns nil when the tool is unavailable.
type tool struct {
	key, label string
	argv       func(c *config, w []string) []string
}

var tools = []tool{
	{"bare", "bare", func(c *config, w []string) []string { return w }},
	{"ref", "follower -p", func(c *config, w []string) []string {
		return append([]string{c.follower(), "-p", "--"}, w...)
	}},
	{"refx", "follower -p with PTRACE_O_TRACEEXEC", func(c *config, w []string) []string {
		if _, err := os.Stat(c.followerExec()); err != nil {
			return nil
		}
		return append([]string{c.followerExec(), "-p", "--"}, w...)
	}},
	{"pp1", "perfprof -e " + events1, func(c *config, w []string) []string {
		return append([]string{c.perfprof, "-o", "/dev/null", "-e", events1, "--"}, w...)
	}},
	{"pp3", "perfprof -e " + events3, func(c *config, w []string) []string {
		return append([]string{c.perfprof, "-o", "/dev/null", "-e", events3, "--"}, w...)
	}},
	{"pptp", "perfprof -e sched:sched_switch", func(c *config, w []string) []string {
		if !c.tracepoint {
			return nil
		}
		return append([]string{c.perfprof, "-o", "/dev/null", "-e", "sched:sched_switch", "--"}, w...)
	}},
	{"strace", "strace -f -qq -e trace=none", func(c *config, w []string) []string {
		if c.strace == "" {
			return nil
		}
		return append([]string{c.strace, "-f", "-qq", "-e", "trace=none", "-o", "/dev/null"}, w...)
	}},
	{"perfstat", "perf stat -e task-clock,page-faults", func(c *config, w []string) []string {
		if c.perf == "" {
			return nil
		}
		return append([]string{c.perf, "stat", "-o", "/dev/null", "-e", "task-clock,page-faults", "--"}, w...)
	}},
}

func toolByKey(k string) tool {
	for _, t := range tools {
		if t.key == k {
			return t
		}
	}
	panic("no tool " + k)
}

type workload struct {
	label string
	args  []string // program name in bin/bench, then arguments
	tools []string
	vals  map[string][]float64 // per tool, per round; NaN = failed
	errs  map[string][]string
}

func (w *workload) argv(c *config) []string {
	return append([]string{c.bin(w.args[0])}, w.args[1:]...)
}

func newWorkload(args []string, tracepoint bool) *workload {
	ts := []string{"bare", "ref", "pp1", "pp3", "strace", "perfstat"}
	if tracepoint {
		ts = append(ts, "pptp")
	}
	if args[0] == "spawnloop" { // the only workload whose tasks exec
		ts = append(ts, "refx")
	}
	return &workload{label: strings.Join(args, " "), args: args, tools: ts,
		vals: map[string][]float64{}, errs: map[string][]string{}}
}

func main() {
	cfg := &config{}
	flag.IntVar(&cfg.rounds, "rounds", 11, "interleaved rounds per workload")
	flag.IntVar(&cfg.ctxRounds, "context-rounds", 3, "how many of the rounds also run strace and perf stat (for context only; they are slow)")
	flag.BoolVar(&cfg.quick, "quick", false, "smoke run: 3 rounds and smaller workloads")
	flag.StringVar(&cfg.perfprof, "perfprof", "", "perfprof binary to measure (default: build bin/perfprof)")
	flag.StringVar(&cfg.shared, "shared", "", "shared bench directory (default ../shared/bench beside the repository)")
	flag.DurationVar(&cfg.timeout, "timeout", 120*time.Second, "limit for one workload run")
	flag.Parse()
	roundsSet := false
	flag.Visit(func(f *flag.Flag) { roundsSet = roundsSet || f.Name == "rounds" })
	if cfg.quick && !roundsSet {
		cfg.rounds = 3
	}
	if cfg.rounds < 1 {
		fmt.Fprintln(os.Stderr, "benchtab: -rounds must be at least 1")
		os.Exit(2)
	}
	root, err := findRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtab:", err)
		os.Exit(1)
	}
	cfg.root = root
	if cfg.shared == "" {
		cfg.shared = filepath.Join(root, "..", "shared", "bench")
	}
	cfg.shared, _ = filepath.Abs(cfg.shared)
	cfg.benchDir = filepath.Join(root, "bin", "bench")
	start := time.Now()
	if err := prepare(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "benchtab:", err)
		os.Exit(1)
	}

	var wls []*workload
	if cfg.quick {
		wls = []*workload{
			newWorkload([]string{"forkloop", "300"}, cfg.tracepoint),
			newWorkload([]string{"threadloop", "600"}, false),
			newWorkload([]string{"spawnloop", "100"}, false),
			newWorkload([]string{"fanout", "8", "30"}, false),
			newWorkload([]string{"fanout", "8", "30", "t"}, false),
		}
	} else {
		wls = []*workload{
			newWorkload([]string{"forkloop", "1000"}, cfg.tracepoint),
			newWorkload([]string{"threadloop", "2000"}, false),
			newWorkload([]string{"spawnloop", "300"}, false),
			newWorkload([]string{"fanout", "8", "100"}, false),
			newWorkload([]string{"fanout", "8", "100", "t"}, false),
		}
	}

	load0 := loadavg()
	runRounds(cfg, wls)
	cpu := measureCPU(cfg)
	hold := measureHold(cfg)
	idle := measureIdle(cfg)
	load1 := loadavg()

	rep := &report{cfg: cfg}
	rep.header(os.Args[1:], start, load0, load1)
	rep.mainTable(wls)
	rep.cpuPerTask(cpu)
	rep.holdThreads(hold)
	rep.idle(idle)
	rep.rawMedians(wls)
	rep.finish(time.Since(start))
	fmt.Print(rep.String())
	if len(cfg.harnessErr) > 0 {
		os.Exit(1)
	}
}

// runRounds runs every workload under every tool, round by round. Within
// a round the workloads follow each other and the tools of a workload run
// back to back, in an order rotated by one each round, so that neither a
// slow stretch of the machine nor the position in the round favours a tool.
func runRounds(cfg *config, wls []*workload) {
	// Warm-up: page cache, first-use costs of the binaries.
	for _, w := range wls {
		small := append([]string{}, w.args...)
		small[len(small)-1-boolInt(small[len(small)-1] == "t")] = "10"
		ws := (&workload{args: small}).argv(cfg)
		runOnce(ws, cfg.timeout)
		runOnce(toolByKey("pp1").argv(cfg, ws), cfg.timeout)
	}
	for _, w := range wls {
		for _, k := range w.tools {
			w.vals[k] = make([]float64, cfg.rounds)
		}
	}
	for r := 0; r < cfg.rounds; r++ {
		t0 := time.Now()
		for _, w := range wls {
			n := len(w.tools)
			for i := 0; i < n; i++ {
				k := w.tools[(i+r)%n]
				argv := toolByKey(k).argv(cfg, w.argv(cfg))
				if (k == "strace" || k == "perfstat") && r >= cfg.ctxRounds {
					argv = nil
				}
				if argv == nil {
					w.vals[k][r] = nan
					continue
				}
				res := runOnce(argv, cfg.timeout)
				if res.err != nil {
					w.vals[k][r] = nan
					w.errs[k] = append(w.errs[k], res.err.Error())
					if k == "bare" || k == "ref" {
						cfg.failHarness("%s under %s, round %d: %v", w.label, toolByKey(k).label, r+1, res.err)
					} else {
						progress("%s under %s, round %d failed: %v", w.label, toolByKey(k).label, r+1, res.err)
					}
					continue
				}
				w.vals[k][r] = res.usPerOp
			}
		}
		progress("round %d/%d done in %.1f s", r+1, cfg.rounds, time.Since(t0).Seconds())
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// stats of one tool on one workload.
type toolStats struct {
	med        float64 // median µs/op
	added      float64 // median of per-round (tool - bare)
	ratio      float64 // added / ref added (ratio of medians)
	roundRatio float64 // median of per-round (tool-bare)/(ref-bare)
	xBare      float64 // med / bare med, over the rounds the tool ran
	ok         int     // rounds that ran
	failed     int
}

func (w *workload) stats(k string) toolStats {
	v, bare, ref := w.vals[k], w.vals["bare"], w.vals["ref"]
	var s toolStats
	s.failed = len(w.errs[k])
	var all, added, addedRef, bareSame []float64
	for r := range v {
		if math.IsNaN(v[r]) {
			continue
		}
		all = append(all, v[r])
		if !math.IsNaN(bare[r]) {
			bareSame = append(bareSame, bare[r])
			added = append(added, v[r]-bare[r])
		}
	}
	for r := range ref {
		if !math.IsNaN(ref[r]) && !math.IsNaN(bare[r]) {
			addedRef = append(addedRef, ref[r]-bare[r])
		}
	}
	s.ok = len(all)
	s.med = median(all)
	s.added = median(added)
	s.ratio = s.added / median(addedRef)
	s.roundRatio = median(w.roundRatios(k, "ref"))
	s.xBare = s.med / median(bareSame)
	return s
}

// roundRatios returns, for each round where k, base and bare all ran,
// k's added cost divided by base's: (k - bare) / (base - bare).
func (w *workload) roundRatios(k, base string) []float64 {
	var rr []float64
	for r := range w.vals[k] {
		a, b, c := w.vals[k][r], w.vals[base][r], w.vals["bare"][r]
		if !math.IsNaN(a) && !math.IsNaN(b) && !math.IsNaN(c) {
			rr = append(rr, (a-c)/(b-c))
		}
	}
	return rr
}

func nonNaN(xs []float64) []float64 {
	var out []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	return out
}

// loadavg returns the 1-minute load average, or NaN.
func loadavg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nan
	}
	var l float64
	if _, err := fmt.Sscan(string(b), &l); err != nil {
		return nan
	}
	return l
}
