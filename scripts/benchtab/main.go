// Command benchtab measures perfprof's overhead against the reference C
// follower of ../shared/bench, interleaved and side by side, and prints
// one plain-text report: `go run ./scripts/benchtab [-rounds N] [-quick]`.
//
// With -baseline PATH, a second perfprof binary (the "old" one) runs with
// the same events beside the measured one (the "new" one) in every round,
// and an A/B table gives new/old per workload. With -storm N, a fork storm
// of N short-lived processes (and as many threads) runs under perfprof -p
// -i 1000, and its memory and fds are sampled (see storm.go).
//
// Section 4c measures sampling (-F, -c; see sampling.go): what sampling
// adds to following over counting, draining a million page faults against
// perf record, an idle sampled target, and 10,000 live sampled threads.
// -sampling-only runs it alone, -no-sampling leaves it out.
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
	rounds    int
	ctxRounds int // rounds that also run the context tools (strace, perf stat)
	quick     bool
	root      string
	shared    string
	benchDir  string
	perfprof  string
	baseline  string // -baseline: the "old" perfprof of the A/B, or ""
	// -inherit-only runs the inherit section (4d) alone; -no-inherit
	// leaves it out.
	inheritOnly, noInherit bool
	strace                 string
	perf                   string
	tracepoint             bool
	timeout                time.Duration
	storm                  stormConfig
	sampling               samplingConfig
	notes                  []string
	harnessErr             []string
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
	{"pps", "perfprof -F " + samplingFreq + " -e " + events1, func(c *config, w []string) []string {
		return append([]string{c.perfprof, "-o", "/dev/null", "-F", samplingFreq, "-e", events1, "--"}, w...)
	}},
	// Context for the sampling section: an event sampled without a timer
	// (its period is never reached), so that what sampling adds is the
	// ring's, not a sampling task-clock's hrtimer at every switch.
	{"ppcf", "perfprof -e page-faults", func(c *config, w []string) []string {
		return append([]string{c.perfprof, "-o", "/dev/null", "-e", "page-faults", "--"}, w...)
	}},
	{"ppsf", "perfprof -c " + samplingNever + " -e page-faults", func(c *config, w []string) []string {
		return append([]string{c.perfprof, "-o", "/dev/null", "-c", samplingNever, "-e", "page-faults", "--"}, w...)
	}},
	{"pptp", "perfprof -e sched:sched_switch", func(c *config, w []string) []string {
		if !c.tracepoint {
			return nil
		}
		return append([]string{c.perfprof, "-o", "/dev/null", "-e", "sched:sched_switch", "--"}, w...)
	}},
	// The baseline binary of an A/B (-baseline), with the same events.
	{"ob1", "baseline perfprof -e " + events1, func(c *config, w []string) []string {
		if c.baseline == "" {
			return nil
		}
		return append([]string{c.baseline, "-o", "/dev/null", "-e", events1, "--"}, w...)
	}},
	{"ob3", "baseline perfprof -e " + events3, func(c *config, w []string) []string {
		if c.baseline == "" {
			return nil
		}
		return append([]string{c.baseline, "-o", "/dev/null", "-e", events3, "--"}, w...)
	}},
	{"obtp", "baseline perfprof -e sched:sched_switch", func(c *config, w []string) []string {
		if c.baseline == "" || !c.tracepoint {
			return nil
		}
		return append([]string{c.baseline, "-o", "/dev/null", "-e", "sched:sched_switch", "--"}, w...)
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

// abPairs maps each tool of the measured perfprof to the same tool run
// with the baseline binary (-baseline).
var abPairs = []struct{ new, old, events string }{
	{"pp1", "ob1", "1 ev"},
	{"pp3", "ob3", "3 ev"},
	{"pptp", "obtp", "sched_switch"},
}

func abPartner(k string) string {
	for _, p := range abPairs {
		if p.new == k {
			return p.old
		}
	}
	return ""
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

func newWorkload(args []string, tracepoint, ab bool) *workload {
	ts := []string{"bare", "ref", "pp1", "pp3", "strace", "perfstat"}
	if tracepoint {
		ts = append(ts, "pptp")
	}
	if args[0] == "spawnloop" { // the only workload whose tasks exec
		ts = append(ts, "refx")
	}
	if ab { // the baseline's runs, each paired with the new binary's
		for _, k := range ts {
			if o := abPartner(k); o != "" {
				ts = append(ts, o)
			}
		}
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
	flag.StringVar(&cfg.baseline, "baseline", "", "A/B: a second (\"old\") perfprof binary, run with the same events beside the measured one in every round")
	flag.IntVar(&cfg.storm.procs, "storm", 0, "run the storm memory benchmark with N short-lived processes (and N threads) under perfprof -p -i 1000 (0: off)")
	flag.IntVar(&cfg.storm.alive, "storm-alive", 200, "storm: at most this many tasks alive at once (half processes, half threads)")
	flag.IntVar(&cfg.storm.lifeMS, "storm-life", 5, "storm: how long each task lives, in ms")
	flag.DurationVar(&cfg.storm.timeout, "storm-timeout", 30*time.Minute, "storm: limit for one storm run")
	flag.StringVar(&cfg.storm.follow, "storm-follow", "ptrace", "storm: perfprof's --follow (ptrace or inherit)")
	flag.BoolVar(&cfg.storm.only, "storm-only", false, "run the storm benchmark alone (with -storm N), none of the other sections")
	flag.BoolVar(&cfg.sampling.only, "sampling-only", false, "run the sampling section (4c) alone, none of sections 1 to 4 (with -storm N, the storm too)")
	flag.BoolVar(&cfg.sampling.skip, "no-sampling", false, "leave out the sampling section (4c)")
	flag.BoolVar(&cfg.inheritOnly, "inherit-only", false, "run the inherit section (4d) alone")
	flag.BoolVar(&cfg.noInherit, "no-inherit", false, "leave out the inherit section (4d)")
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
	if cfg.storm.procs < 0 || (cfg.storm.only && cfg.storm.procs == 0) {
		fmt.Fprintln(os.Stderr, "benchtab: -storm N needs N > 0 (and -storm-only needs -storm N)")
		os.Exit(2)
	}
	if cfg.sampling.only && cfg.sampling.skip {
		fmt.Fprintln(os.Stderr, "benchtab: -sampling-only and -no-sampling exclude each other")
		os.Exit(2)
	}
	if cfg.storm.procs > 0 && (cfg.storm.alive < 4 || cfg.storm.lifeMS < 0) {
		fmt.Fprintln(os.Stderr, "benchtab: -storm-alive must be at least 4 and -storm-life at least 0")
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

	load0 := loadavg()
	var wls []*workload
	var cpu []*cpuRow
	var hold []*holdResult
	var idle *idleResult
	if cfg.inheritOnly {
		cfg.storm.only, cfg.sampling.skip = false, true
	}
	if cfg.runsMain() && !cfg.inheritOnly {
		ab := cfg.baseline != ""
		if cfg.quick {
			wls = []*workload{
				newWorkload([]string{"forkloop", "300"}, cfg.tracepoint, ab),
				newWorkload([]string{"threadloop", "600"}, false, ab),
				newWorkload([]string{"spawnloop", "100"}, false, ab),
				newWorkload([]string{"fanout", "8", "30"}, false, ab),
				newWorkload([]string{"fanout", "8", "30", "t"}, false, ab),
			}
		} else {
			wls = []*workload{
				newWorkload([]string{"forkloop", "1000"}, cfg.tracepoint, ab),
				newWorkload([]string{"threadloop", "2000"}, false, ab),
				newWorkload([]string{"spawnloop", "300"}, false, ab),
				newWorkload([]string{"fanout", "8", "100"}, false, ab),
				newWorkload([]string{"fanout", "8", "100", "t"}, false, ab),
			}
		}
		runRounds(cfg, wls)
		cpu = measureCPU(cfg)
		hold = measureHold(cfg)
		idle = measureIdle(cfg)
	}
	var samp *samplingResult
	if cfg.runsSampling() {
		samp = runSampling(cfg)
	}
	var inh []*workload
	if cfg.inheritOnly || (!cfg.noInherit && !cfg.storm.only && !cfg.sampling.only) {
		inh = runInherit(cfg)
	}
	load1 := loadavg() // the storm loads the machine by design: not counted
	var storms []*stormResult
	if cfg.storm.procs > 0 {
		storms = append(storms, runStorm(cfg, cfg.perfprof, "new"))
		if cfg.baseline != "" {
			storms = append(storms, runStorm(cfg, cfg.baseline, "old"))
		}
	}

	rep := &report{cfg: cfg}
	rep.header(os.Args[1:], start, load0, load1)
	if cfg.runsMain() && !cfg.inheritOnly {
		rep.mainTable(wls)
		if cfg.baseline != "" {
			rep.abTable(wls)
		}
		rep.cpuPerTask(cpu)
		rep.holdThreads(hold)
		rep.idle(idle)
	}
	if len(storms) > 0 {
		rep.storm(storms)
	}
	if samp != nil {
		rep.sampling(samp)
	}
	if inh != nil {
		rep.inherit(inh)
	}
	if cfg.runsMain() && !cfg.inheritOnly {
		rep.rawMedians(wls)
	}
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
// With -baseline, each perfprof tool and its baseline counterpart form a
// pair that rotates as one and runs back to back, the new binary first in
// even rounds (0, 2, ...) and the old one first in odd rounds.
func runRounds(cfg *config, wls []*workload) {
	// Warm-up: page cache, first-use costs of the binaries.
	for _, w := range wls {
		small := append([]string{}, w.args...)
		small[len(small)-1-boolInt(small[len(small)-1] == "t")] = "10"
		ws := (&workload{args: small}).argv(cfg)
		runOnce(ws, cfg.timeout)
		runOnce(toolByKey("pp1").argv(cfg, ws), cfg.timeout)
		if cfg.baseline != "" {
			runOnce(toolByKey("ob1").argv(cfg, ws), cfg.timeout)
		}
	}
	for _, w := range wls {
		for _, k := range w.tools {
			w.vals[k] = make([]float64, cfg.rounds)
		}
	}
	for r := 0; r < cfg.rounds; r++ {
		t0 := time.Now()
		for _, w := range wls {
			for _, k := range w.order(r) {
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

// order returns the tools of w in the order they run in round r: the
// units (a tool, or a tool and its A/B partner) rotated by r, and within a
// pair the new binary first in even rounds, the old one in odd rounds.
// Without A/B partners this is w.tools rotated by r.
func (w *workload) order(r int) []string {
	in := map[string]bool{}
	for _, k := range w.tools {
		in[k] = true
	}
	var units [][]string
	for _, k := range w.tools {
		if isABOld(k) && in[abNewOf(k)] {
			continue // runs with its partner
		}
		u := []string{k}
		if o := abPartner(k); o != "" && in[o] {
			u = append(u, o)
			if r%2 == 1 {
				u[0], u[1] = u[1], u[0]
			}
		}
		units = append(units, u)
	}
	var out []string
	for i := range units {
		out = append(out, units[(i+r)%len(units)]...)
	}
	return out
}

func isABOld(k string) bool { return abNewOf(k) != "" }

func abNewOf(k string) string {
	for _, p := range abPairs {
		if p.old == k {
			return p.new
		}
	}
	return ""
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
