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
	"github.com/perfprof/perfprof/session"
	"github.com/perfprof/perfprof/stream"
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

// config is the parsed command line: the run's Config, or --version.
type config struct {
	session.Config
	version bool // --version: print it and exit
}

// defaultKeep is how many interval profiles --pprof-dir keeps.
const defaultKeep = 100

// defaultKillAfter is how long a workload has to exit after a stop
// signal before perfprof kills what is left of it.
const defaultKillAfter = 10 * time.Second

// maxInterval is the longest -i, in ms: a year.
const maxInterval = 365 * 24 * 3600 * 1000

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
	if c.PIDs, err = parseIDs(raw.pids, "-p"); err != nil {
		return nil, err
	}
	if c.TIDs, err = parseIDs(raw.tids, "-t"); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		c.Argv = fs.Args()
	}
	killAfterSet := fs.Changed("kill-after")
	for _, check := range []func(*config, rawFlags, bool) error{checkTargets, checkOutputs, checkRun, checkSampling} {
		if err := check(&c, raw, killAfterSet); err != nil {
			return nil, err
		}
	}
	c.Interval = time.Duration(raw.interval) * time.Millisecond
	if len(c.Events) == 0 {
		c.Events = []string{"task-clock"}
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
	fs.BoolVar(&c.Tree, "tree", false, "with -p: also attach to the processes each target already has below it")
	fs.StringVar(&c.Cgroup, "cgroup", "", "attach to every process of the cgroup v2 `DIR`, and to those that enter it later (a restarted service); run until stopped")
	fs.StringArrayVarP(&c.Events, "event", "e", nil, "events to count, comma-separated, repeatable (default task-clock)")
	fs.BoolVar(&c.NoFollow, "no-follow", false, "count the initial tasks only: no ptrace, new children are not counted")
	fs.StringVar(&c.Follow, "follow", session.FollowPtrace, "how new tasks are followed: `ptrace` (each held in its first stop: exit statuses, live counts) or inherit (the kernel copies the events, no stop: perf's cost; see docs/usage.md)")
	fs.IntVarP(&raw.interval, "interval", "i", 0, "print a report every `MS` milliseconds")
	fs.DurationVar(&c.Duration, "duration", 0, "stop after `D` (e.g. 10s, 1m); the workload is killed")
	fs.DurationVar(&c.KillAfter, "kill-after", defaultKillAfter, "after Ctrl-C (or SIGTERM, SIGHUP, SIGQUIT), give the workload `D` to exit before its tasks are killed; 0 kills at once")
	fs.IntVarP(&c.ExitN, "exit-N", "N", 0, "stop after `N` samples (when sampling), or N interval reports")
	fs.Uint64VarP(&c.Freq, "freq", "F", 0, "sample each event `HZ` times a second (instead of counting)")
	fs.Uint64VarP(&c.Period, "period", "c", 0, "sample every `N` events (instead of counting)")
	fs.BoolVarP(&c.CallGraph, "call-graph", "g", false, "record the call chain of each sample")
	fs.IntVarP(&c.RingPages, "mmap-pages", "m", 0, "data pages of each task's ring, a power of two (default 2, 4 with -g)")
	fs.IntVar(&c.Watermark, "watermark", 0, "wake when a ring is `PCT` percent full, not at every sample")
	fs.BoolVar(&c.Order, "order", false, "write the samples of all tasks in time order (held 10 ms or more)")
	fs.StringVar(&c.PprofFile, "pprof", "", "write a symbolized pprof profile of every process to `FILE` (go tool pprof FILE), instead of sample lines")
	fs.StringVar(&c.FoldedFile, "folded", "", "write the stacks of every process folded to `FILE` (flamegraph.pl, speedscope), instead of sample lines")
	fs.BoolVar(&c.Top, "top", false, "print the hottest functions of each process at the end, instead of sample lines")
	fs.StringVar(&c.PprofDir, "pprof-dir", "", "write a pprof profile of every interval (-i) to `DIR`, named by time (continuous profiles)")
	fs.IntVar(&c.Keep, "keep", defaultKeep, "with --pprof-dir: keep the newest `N` profiles, remove the older ones (0: keep all)")
	fs.BoolVar(&c.PerThread, "per-thread", false, "report per thread instead of per process")
	fs.BoolVar(&c.ByComm, "by-comm", false, "report per command name, with the number of processes")
	fs.IntVar(&c.FoldAfter, "fold-after", report.DefaultKeep, "keep `N` ended processes as rows of their own; fold the older ones by command name")
	fs.StringVarP(&c.Output, "output", "o", "", "write the report to `FILE` instead of standard output")
	fs.BoolVar(&c.JSON, "json", false, "write one JSON object per line")
	fs.BoolVarP(&c.Verbose, "verbose", "v", false, "log every ptrace event and action on standard error")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a pprof CPU profile of perfprof itself to `FILE` (go tool pprof FILE)")
	fs.BoolVarP(&c.Daemon, "daemon", "D", false, "run in the background once attached (needs -o); SIGHUP reopens the output, SIGUSR1 writes a report, SIGTERM detaches and exits")
	fs.StringVar(&c.PidFile, "pidfile", "", "write perfprof's pid to `FILE` once attached, locked; removed at exit")
	fs.StringVar(&c.Listen, "listen", "", "serve Prometheus metrics at http://`ADDR`/metrics (e.g. 127.0.0.1:9464)")
	fs.BoolVar(&c.MetricsPID, "metrics-pid", false, "with --listen: a series per process too (pids churn: mind the series)")
	fs.IntVar(&c.MetricsComms, "metrics-comms", metrics.DefaultMaxComms, "with --listen: at most `N` command names get series of their own; the rest are summed under comm=\"other\"")
	fs.DurationVar(&c.MetricsKeep, "metrics-keep", metrics.DefaultKeepEnded, "with --metrics-pid: an ended process keeps its series for `D`")
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
	case len(c.PIDs)+len(c.TIDs) == 0 && len(c.Argv) == 0 && c.Cgroup == "":
		return usagef("no target: give -p PID, -t TID, --cgroup DIR or -- COMMAND (see perfprof -h)")
	case c.Cgroup != "" && len(c.Argv) > 0:
		return usagef("give either --cgroup or a command, not both (the command %q would not be run)", c.Argv[0])
	case c.Follow != session.FollowPtrace && c.Follow != session.FollowInherit:
		return usagef("--follow %q: give ptrace or inherit", printable(c.Follow))
	case c.Inherit() && c.NoFollow:
		return usagef("--follow inherit and --no-follow do not go together: inherit follows every new task")
	case c.Cgroup != "" && c.NoFollow:
		return usagef("--cgroup and --no-follow do not go together: --cgroup attaches with ptrace")
	case len(c.PIDs)+len(c.TIDs) > 0 && len(c.Argv) > 0:
		return usagef("give either -p/-t or a command, not both (the command %q would not be run)", c.Argv[0])
	case c.Tree && len(c.PIDs) == 0:
		return usagef("--tree needs -p PID")
	case c.Daemon && len(c.Argv) > 0:
		return usagef("--daemon attaches to running processes (-p, -t): run a command in the foreground")
	}
	return nil
}

// checkOutputs checks what is written: profiles, metrics, a daemon's report.
func checkOutputs(c *config, raw rawFlags, killAfterSet bool) error {
	switch {
	case c.PprofDir != "" && (c.PprofFile != "" || c.FoldedFile != "" || c.Top):
		return usagef("--pprof-dir writes a profile of each interval, --pprof, --folded and --top the whole run's: give one of them")
	case c.PprofDir != "" && raw.interval == 0:
		return usagef("--pprof-dir needs -i MS: it writes a profile of each interval")
	case c.Keep < 0:
		return usagef("--keep %d: a number of profiles, 0 for all", c.Keep)
	case c.MetricsComms < 1:
		return usagef("--metrics-comms %d: at least 1", c.MetricsComms)
	case c.MetricsKeep < 0:
		return usagef("--metrics-keep %v: must be positive", c.MetricsKeep)
	case c.Daemon && (c.Output == "" || c.Output == "-"):
		return usagef("--daemon needs -o FILE: a daemon has no terminal to write its reports to")
	}
	return nil
}

// checkRun checks how the run goes: intervals, its end, the rows.
func checkRun(c *config, raw rawFlags, killAfterSet bool) error {
	switch {
	case c.Tree && c.NoFollow:
		return usagef("--tree and --no-follow do not go together: --tree attaches with ptrace")
	case raw.interval < 0:
		return usagef("-i %d: the interval must be positive", raw.interval)
	case raw.interval > 0 && raw.interval < 10:
		return usagef("-i %d: the interval must be at least 10 ms", raw.interval)
	case raw.interval > maxInterval:
		return usagef("-i %d: the interval must be at most %d ms (a year)", raw.interval, maxInterval)
	case c.Duration < 0:
		return usagef("--duration %v: must be positive", c.Duration)
	case c.KillAfter < 0:
		return usagef("--kill-after %v: must be positive or 0", c.KillAfter)
	case killAfterSet && len(c.Argv) == 0:
		return usagef("--kill-after needs a COMMAND: attached processes are detached, never killed")
	case c.ByComm && c.PerThread:
		return usagef("--by-comm and --per-thread do not go together: one row per command, or one per thread")
	case c.FoldAfter < 1:
		return usagef("--fold-after %d: must be at least 1", c.FoldAfter)
	case c.ExitN < 0:
		return usagef("-N %d: must be positive", c.ExitN)
	case c.ExitN > 0 && raw.interval == 0 && !c.Sampling():
		return usagef("-N %d counts interval reports (or samples, with -F or -c): give -i MS too", c.ExitN)
	}
	return nil
}

// checkSampling checks sampling's flags.
func checkSampling(c *config, raw rawFlags, killAfterSet bool) error {
	switch {
	case c.Freq > 0 && c.Period > 0:
		return usagef("give -F HZ or -c N, not both")
	case c.RingPages < 0 || c.RingPages&(c.RingPages-1) != 0 || c.RingPages > 1<<20:
		return usagef("-m %d: the ring's pages must be a power of two", c.RingPages)
	case c.Watermark < 0 || c.Watermark > perfevent.MaxWatermark:
		return usagef("--watermark %d: a percentage of the ring, 1 to %d", c.Watermark, perfevent.MaxWatermark)
	case !c.Sampling() && (c.CallGraph || c.RingPages > 0 && !c.Inherit() || c.Watermark > 0 || c.Order):
		return usagef("-g, -m, --watermark and --order are for sampling (-m also for --follow inherit's rings): give -F HZ or -c N")
	case !c.Sampling() && c.Profiles():
		return usagef("--pprof, --pprof-dir, --folded and --top profile samples: give -F HZ or -c N (and -g for call stacks)")
	case c.Sampling() && c.NoFollow:
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
	if len(c.Argv) > 0 {
		path, err := exec.LookPath(c.Argv[0])
		if err != nil {
			fmt.Fprintf(stderr, "perfprof: cannot run %q: %v\n", c.Argv[0], lookPathReason(err))
			if errors.Is(err, os.ErrPermission) {
				return exitNoExec
			}
			return exitNotFound
		}
		c.Path = path
	}
	if c.Daemon && !daemon.InDaemon() {
		return startDaemon(stderr)
	}
	// Messages come from several goroutines (the ring owner's warnings),
	// and a daemon redirects them into its report once attached.
	msgs := stream.NewMessages(stderr)
	stop, hup, usr1 := setupSignals(len(c.Argv) > 0, c.Daemon)
	defer releaseSignals(stop, hup, usr1)
	res := session.New(&c.Config, stdout, msgs, &reporter{w: msgs}, session.Signals{Stop: stop, Hup: hup, Usr1: usr1}).Run()
	return exitStatus(res)
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
