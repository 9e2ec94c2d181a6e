package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/perfprof/perfprof/internal/daemon"
	"github.com/perfprof/perfprof/internal/version"
	"github.com/perfprof/perfprof/metrics"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/report"
	"github.com/spf13/pflag"
)

const usageText = `Usage: perfprof [options] -p PID[,PID...]
       perfprof [options] -t TID[,TID...]
       perfprof [options] --cgroup DIR
       perfprof [options] -- COMMAND [ARGS...]

Counts events for a process tree. Every child process and thread the
targets create gets counters of its own, opened before it runs its first
instruction, and is followed for as long as it lives.

Examples:
  perfprof -p 1234 -e task-clock,page-faults   attach; Ctrl-C detaches and prints the totals
  perfprof -e task-clock,cs -- make -j2        run a command, followed from its start
  perfprof -i 1000 -p 1234,5678                report every second
  perfprof --json -- ./server                  one JSON object per line
  perfprof -N 10 -c 1 -e page-faults -- ./w    the first 10 sampled page faults, then stop
  perfprof -F 99 -g --pprof out.pb.gz -p 1234  a symbolized profile of every process (go tool pprof)
  perfprof -D --pidfile /run/pp.pid -o pp.jsonl --json -i 10000 --listen 127.0.0.1:9464 -p 1234
                                               a daemon, with Prometheus metrics (docs/daemon.md)

Options:
`

// config is the parsed command line.
type config struct {
	pids, tids []int
	cgroup     string // --cgroup: a cgroup v2 directory whose processes are followed
	tree       bool
	events     []string
	noFollow   bool
	interval   time.Duration
	duration   time.Duration
	killAfter  time.Duration // how long a workload has to exit after a stop signal
	exitN      int           // interval reports, or samples when sampling
	// Sampling: a period or a frequency (one of them), call chains, the
	// ring's data pages and its wake-up watermark.
	period, freq uint64
	callGraph    bool
	ringPages    int
	watermark    int
	order        bool // samples of all tasks merged in time order
	// Profiles instead of sample lines: files to write, and the top.
	pprofFile, foldedFile string
	top                   bool
	pprofDir              string // a profile per interval (see profdir.go)
	keep                  int    // the newest profiles kept in pprofDir
	perThread             bool
	byComm                bool
	foldAfter             int // ended rows kept before they are folded
	output                string
	json                  bool
	verbose               bool
	version               bool   // --version: print it and exit
	cpuProfile            string // write a pprof CPU profile of perfprof itself here
	daemon                bool   // --daemon: run in the background (see daemon.go)
	pidFile               string // --pidfile
	// Prometheus metrics (see metrics.go): the address, a series per
	// process, the command names with series of their own, how long an
	// ended process keeps its series.
	listen       string
	metricsPID   bool
	metricsComms int
	metricsKeep  time.Duration
	argv         []string // workload
	path         string   // the workload, resolved in $PATH
}

// defaultKeep is how many interval profiles --pprof-dir keeps.
const defaultKeep = 100

// defaultKillAfter is how long a workload has to exit after a stop
// signal before perfprof kills what is left of it.
const defaultKillAfter = 10 * time.Second

// maxInterval is the longest -i, in ms: a year.
const maxInterval = 365 * 24 * 3600 * 1000

// sampling reports whether the run samples (-F or -c) rather than counts.
func (c *config) sampling() bool { return c.freq > 0 || c.period > 0 }

// profiles reports whether samples go into profiles rather than lines.
func (c *config) profiles() bool {
	return c.pprofFile != "" || c.foldedFile != "" || c.top || c.pprofDir != ""
}

// profileWatermark is the rings' watermark (percent) when samples go to
// profiles, unless --watermark says otherwise: no line waits for them, and
// a wake-up at every sample costs the sampled task an interrupt (in a
// virtual machine, a VM exit: 20 µs). perf record wakes at half too.
const profileWatermark = 50

// ringWatermark is the rings' watermark in percent, 0: a wake-up at every
// sample.
func (c *config) ringWatermark() int {
	if c.watermark == 0 && c.profiles() {
		return profileWatermark
	}
	return c.watermark
}

// ringOrder is the order (log2) of the rings' data pages.
func (c *config) ringOrder() int {
	pages := c.ringPages
	if pages == 0 {
		pages = 2 // perf-prof's, so that thousands of tasks fit
		if c.callGraph {
			pages = 4
		}
	}
	order := 0
	for 1<<order < pages {
		order++
	}
	return order
}

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

func parseArgs(args []string, stderr io.Writer) (*config, error) {
	var (
		c   config
		raw rawFlags
	)
	fs := newFlagSet(&c, &raw, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			fs.Usage()
			return nil, nil
		}
		return nil, usagef("%s", printable(err.Error()))
	}
	if raw.help {
		fs.Usage()
		return nil, nil
	}
	if raw.version {
		return &config{version: true}, nil
	}
	var err error
	if c.pids, err = parseIDs(raw.pids, "-p"); err != nil {
		return nil, err
	}
	if c.tids, err = parseIDs(raw.tids, "-t"); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		c.argv = fs.Args()
	}
	killAfterSet := fs.Changed("kill-after")
	for _, check := range []func(*config, rawFlags, bool) error{checkTargets, checkOutputs, checkRun, checkSampling} {
		if err := check(&c, raw, killAfterSet); err != nil {
			return nil, err
		}
	}
	c.interval = time.Duration(raw.interval) * time.Millisecond
	if len(c.events) == 0 {
		c.events = []string{"task-clock"}
	}
	return &c, nil
}

// rawFlags are the flags that parseArgs turns into config fields.
type rawFlags struct {
	pids, tids    []string
	interval      int
	help, version bool
}

// newFlagSet defines perfprof's flags on c and raw.
func newFlagSet(c *config, raw *rawFlags, stderr io.Writer) *pflag.FlagSet {
	fs := pflag.NewFlagSet("perfprof", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SetInterspersed(false)
	fs.StringSliceVarP(&raw.pids, "pid", "p", nil, "attach to process `PID` (all its threads); comma-separated, repeatable")
	fs.StringSliceVarP(&raw.tids, "tid", "t", nil, "attach to thread `TID` only; comma-separated, repeatable")
	fs.BoolVar(&c.tree, "tree", false, "with -p: also attach to the processes each target already has below it")
	fs.StringVar(&c.cgroup, "cgroup", "", "attach to every process of the cgroup v2 `DIR`, and to those that enter it later (a restarted service); run until stopped")
	fs.StringArrayVarP(&c.events, "event", "e", nil, "events to count, comma-separated, repeatable (default task-clock)")
	fs.BoolVar(&c.noFollow, "no-follow", false, "count the initial tasks only: no ptrace, new children are not counted")
	fs.IntVarP(&raw.interval, "interval", "i", 0, "print a report every `MS` milliseconds")
	fs.DurationVar(&c.duration, "duration", 0, "stop after `D` (e.g. 10s, 1m); the workload is killed")
	fs.DurationVar(&c.killAfter, "kill-after", defaultKillAfter, "after Ctrl-C (or SIGTERM, SIGHUP, SIGQUIT), give the workload `D` to exit before its tasks are killed; 0 kills at once")
	fs.IntVarP(&c.exitN, "exit-N", "N", 0, "stop after `N` samples (when sampling), or N interval reports")
	fs.Uint64VarP(&c.freq, "freq", "F", 0, "sample each event `HZ` times a second (instead of counting)")
	fs.Uint64VarP(&c.period, "period", "c", 0, "sample every `N` events (instead of counting)")
	fs.BoolVarP(&c.callGraph, "call-graph", "g", false, "record the call chain of each sample")
	fs.IntVarP(&c.ringPages, "mmap-pages", "m", 0, "data pages of each task's ring, a power of two (default 2, 4 with -g)")
	fs.IntVar(&c.watermark, "watermark", 0, "wake when a ring is `PCT` percent full, not at every sample")
	fs.BoolVar(&c.order, "order", false, "write the samples of all tasks in time order (held 10 ms or more)")
	fs.StringVar(&c.pprofFile, "pprof", "", "write a symbolized pprof profile of every process to `FILE` (go tool pprof FILE), instead of sample lines")
	fs.StringVar(&c.foldedFile, "folded", "", "write the stacks of every process folded to `FILE` (flamegraph.pl, speedscope), instead of sample lines")
	fs.BoolVar(&c.top, "top", false, "print the hottest functions of each process at the end, instead of sample lines")
	fs.StringVar(&c.pprofDir, "pprof-dir", "", "write a pprof profile of every interval (-i) to `DIR`, named by time (continuous profiles)")
	fs.IntVar(&c.keep, "keep", defaultKeep, "with --pprof-dir: keep the newest `N` profiles, remove the older ones (0: keep all)")
	fs.BoolVar(&c.perThread, "per-thread", false, "report per thread instead of per process")
	fs.BoolVar(&c.byComm, "by-comm", false, "report per command name, with the number of processes")
	fs.IntVar(&c.foldAfter, "fold-after", report.DefaultKeep, "keep `N` ended processes as rows of their own; fold the older ones by command name")
	fs.StringVarP(&c.output, "output", "o", "", "write the report to `FILE` instead of standard output")
	fs.BoolVar(&c.json, "json", false, "write one JSON object per line")
	fs.BoolVarP(&c.verbose, "verbose", "v", false, "log every ptrace event and action on standard error")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a pprof CPU profile of perfprof itself to `FILE` (go tool pprof FILE)")
	fs.BoolVarP(&c.daemon, "daemon", "D", false, "run in the background once attached (needs -o); SIGHUP reopens the output, SIGUSR1 writes a report, SIGTERM detaches and exits")
	fs.StringVar(&c.pidFile, "pidfile", "", "write perfprof's pid to `FILE` once attached, locked; removed at exit")
	fs.StringVar(&c.listen, "listen", "", "serve Prometheus metrics at http://`ADDR`/metrics (e.g. 127.0.0.1:9464)")
	fs.BoolVar(&c.metricsPID, "metrics-pid", false, "with --listen: a series per process too (pids churn: mind the series)")
	fs.IntVar(&c.metricsComms, "metrics-comms", metrics.DefaultMaxComms, "with --listen: at most `N` command names get series of their own; the rest are summed under comm=\"other\"")
	fs.DurationVar(&c.metricsKeep, "metrics-keep", metrics.DefaultKeepEnded, "with --metrics-pid: an ended process keeps its series for `D`")
	fs.BoolVarP(&raw.help, "help", "h", false, "show this help")
	fs.BoolVar(&raw.version, "version", false, "print perfprof's version (module version, VCS revision, Go version) and exit")
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// checkTargets checks the targets: pids, threads, a cgroup or a command.
func checkTargets(c *config, raw rawFlags, killAfterSet bool) error {
	switch {
	case len(c.pids)+len(c.tids) == 0 && len(c.argv) == 0 && c.cgroup == "":
		return usagef("no target: give -p PID, -t TID, --cgroup DIR or -- COMMAND (see perfprof -h)")
	case c.cgroup != "" && len(c.argv) > 0:
		return usagef("give either --cgroup or a command, not both (the command %q would not be run)", c.argv[0])
	case c.cgroup != "" && c.noFollow:
		return usagef("--cgroup and --no-follow do not go together: --cgroup attaches with ptrace")
	case len(c.pids)+len(c.tids) > 0 && len(c.argv) > 0:
		return usagef("give either -p/-t or a command, not both (the command %q would not be run)", c.argv[0])
	case c.tree && len(c.pids) == 0:
		return usagef("--tree needs -p PID")
	case c.daemon && len(c.argv) > 0:
		return usagef("--daemon attaches to running processes (-p, -t): run a command in the foreground")
	}
	return nil
}

// checkOutputs checks what is written: profiles, metrics, a daemon's report.
func checkOutputs(c *config, raw rawFlags, killAfterSet bool) error {
	switch {
	case c.pprofDir != "" && (c.pprofFile != "" || c.foldedFile != "" || c.top):
		return usagef("--pprof-dir writes a profile of each interval, --pprof, --folded and --top the whole run's: give one of them")
	case c.pprofDir != "" && raw.interval == 0:
		return usagef("--pprof-dir needs -i MS: it writes a profile of each interval")
	case c.keep < 0:
		return usagef("--keep %d: a number of profiles, 0 for all", c.keep)
	case c.metricsComms < 1:
		return usagef("--metrics-comms %d: at least 1", c.metricsComms)
	case c.metricsKeep < 0:
		return usagef("--metrics-keep %v: must be positive", c.metricsKeep)
	case c.daemon && (c.output == "" || c.output == "-"):
		return usagef("--daemon needs -o FILE: a daemon has no terminal to write its reports to")
	}
	return nil
}

// checkRun checks how the run goes: intervals, its end, the rows.
func checkRun(c *config, raw rawFlags, killAfterSet bool) error {
	switch {
	case c.tree && c.noFollow:
		return usagef("--tree and --no-follow do not go together: --tree attaches with ptrace")
	case raw.interval < 0:
		return usagef("-i %d: the interval must be positive", raw.interval)
	case raw.interval > 0 && raw.interval < 10:
		return usagef("-i %d: the interval must be at least 10 ms", raw.interval)
	case raw.interval > maxInterval:
		return usagef("-i %d: the interval must be at most %d ms (a year)", raw.interval, maxInterval)
	case c.duration < 0:
		return usagef("--duration %v: must be positive", c.duration)
	case c.killAfter < 0:
		return usagef("--kill-after %v: must be positive or 0", c.killAfter)
	case killAfterSet && len(c.argv) == 0:
		return usagef("--kill-after needs a COMMAND: attached processes are detached, never killed")
	case c.byComm && c.perThread:
		return usagef("--by-comm and --per-thread do not go together: one row per command, or one per thread")
	case c.foldAfter < 1:
		return usagef("--fold-after %d: must be at least 1", c.foldAfter)
	case c.exitN < 0:
		return usagef("-N %d: must be positive", c.exitN)
	case c.exitN > 0 && raw.interval == 0 && !c.sampling():
		return usagef("-N %d counts interval reports (or samples, with -F or -c): give -i MS too", c.exitN)
	}
	return nil
}

// checkSampling checks sampling's flags.
func checkSampling(c *config, raw rawFlags, killAfterSet bool) error {
	switch {
	case c.freq > 0 && c.period > 0:
		return usagef("give -F HZ or -c N, not both")
	case c.ringPages < 0 || c.ringPages&(c.ringPages-1) != 0 || c.ringPages > 1<<20:
		return usagef("-m %d: the ring's pages must be a power of two", c.ringPages)
	case c.watermark < 0 || c.watermark > perfevent.MaxWatermark:
		return usagef("--watermark %d: a percentage of the ring, 1 to %d", c.watermark, perfevent.MaxWatermark)
	case !c.sampling() && (c.callGraph || c.ringPages > 0 || c.watermark > 0 || c.order):
		return usagef("-g, -m, --watermark and --order are for sampling: give -F HZ or -c N")
	case !c.sampling() && c.profiles():
		return usagef("--pprof, --pprof-dir, --folded and --top profile samples: give -F HZ or -c N (and -g for call stacks)")
	case c.sampling() && c.noFollow:
		return usagef("sampling needs following (a ring per task): drop --no-follow")
	}
	return nil
}

// printable escapes control characters, so that a message that quotes the
// user's input stays on one line.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// parseIDs parses "1,2" lists of positive ids.
func parseIDs(list []string, flag string) ([]int, error) {
	var ids []int
	for _, s := range list {
		s = strings.TrimSpace(s)
		id, err := strconv.Atoi(s)
		if err != nil || id <= 0 {
			return nil, usagef("%s %q: not a process id (a positive number)", flag, s)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Exit statuses.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNoExec   = 126
	exitNotFound = 127
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole program; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseArgs(args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "perfprof: %v\n", err)
		return exitUsage
	}
	if c == nil { // -h
		return exitOK
	}
	if c.version {
		fmt.Fprintln(stdout, version.String())
		return exitOK
	}
	if len(c.argv) > 0 {
		path, err := exec.LookPath(c.argv[0])
		if err != nil {
			fmt.Fprintf(stderr, "perfprof: cannot run %q: %v\n", c.argv[0], lookPathReason(err))
			if errors.Is(err, os.ErrPermission) {
				return exitNoExec
			}
			return exitNotFound
		}
		c.path = path
	}
	if c.daemon && !daemon.InDaemon() {
		return startDaemon(stderr)
	}
	s := &session{cfg: c, stdout: stdout, stderr: stderr}
	return s.run()
}

// startDaemon starts the daemon and waits until it has attached (exit
// status 0) or ended (its exit status).
func startDaemon(stderr io.Writer) int {
	pid, status, err := daemon.Start(stderr)
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "perfprof: cannot start the daemon: %v\n", err)
		return exitFailure
	case pid == 0:
		return status
	}
	fmt.Fprintf(stderr, "perfprof: daemon %d attached\n", pid)
	return exitOK
}

func lookPathReason(err error) string {
	var ee *exec.Error
	if errors.As(err, &ee) {
		switch {
		case errors.Is(ee.Err, exec.ErrNotFound):
			return "command not found"
		case errors.Is(ee.Err, os.ErrPermission):
			return "permission denied (not executable)"
		}
		return ee.Err.Error()
	}
	return err.Error()
}
