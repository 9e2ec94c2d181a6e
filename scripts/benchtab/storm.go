package main

// The storm memory benchmark (-storm N): perfprof -p -i 1000 on the
// conformance storm target (scripts/conformance/src/storm.c), which creates
// N short-lived processes and N threads, alternately, with at most
// -storm-alive tasks alive at once. perfprof's VmRSS and fds are sampled
// every 200 ms against the number of processes that have exited, and the
// final report is checked: its rows must hold every process once, and its
// page-fault total must match the kernel's own rusage of the storm (less
// the one fault per process that comes before its counters open).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type stormConfig struct {
	procs   int // -storm: processes; the target creates as many threads
	alive   int // -storm-alive: tasks alive at once, half of each kind
	lifeMS  int // -storm-life
	timeout time.Duration
	only    bool   // -storm-only
	follow  string // -storm-follow: perfprof's --follow
}

const (
	stormEvents      = "task-clock,page-faults"
	stormNEvents     = 2
	stormInterval    = "1000"
	stormSampleEvery = 200 * time.Millisecond
	stormTargetBytes = 16.0 // RSS growth per exited process, second half
)

func (c *config) stormBin() string {
	return filepath.Join(c.root, "scripts", "conformance", "bin", "storm")
}

// buildStorm builds the storm target where the conformance suite keeps it
// (the same rule as `make conformance`).
func buildStorm(cfg *config) error {
	progress("building the storm target (make -C scripts/conformance bin/storm)")
	if err := runQuiet(cfg.root, "make", "-s", "-C", "scripts/conformance", "bin/storm"); err != nil {
		return fmt.Errorf("building the storm target: %v", err)
	}
	if _, err := os.Stat(cfg.stormBin()); err != nil {
		return err
	}
	return nil
}

// stormSample is one look at perfprof and the storm during the run.
type stormSample struct {
	at       time.Duration // since the go signal
	exited   int           // processes created and reaped by the storm
	rssKB    int
	hwmKB    int
	fds      int
	perfFDs  int
	live     int // the storm's threads + its child processes (zombies included)
	excessPF int // perfFDs - events x live
	excess   int // fds - events x live
}

type stormResult struct {
	label, bin string // "new" / "old", perfprof binary
	procs      int
	argv       []string // perfprof's command line
	before     stormSample
	samples    []stormSample // from the go signal to stormdone, the last one at stormdone
	after      stormSample   // once the last exits have been handled (up to 2 s after stormdone)
	dur        time.Duration // go signal to stormdone
	ppExit     int
	summary    *summary
	// From the JSON report.
	jsonBytes    int64
	finalRows    int
	intervalRecs int
	reports      int              // interval reports (distinct times of non-final records)
	finalFolded  int              // folded rows among them
	finalProcs   int              // processes the final rows hold (1 per unfolded row)
	finalSum     map[string]int64 // sum of value over the final records
	deltaSum     map[string]int64 // sum of delta over every counts record
	// The kernel's view: the storm's rusage (it reaps every process it
	// forks, so its rusage covers the whole tree) minus what it had used
	// before counting began.
	kernel map[string]int64
	err    error
}

// stormTarget reads the storm target's standard output.
type stormTarget struct {
	cmd    *exec.Cmd
	forks  atomic.Int64
	ready  chan int
	traced chan struct{}
	done   chan struct{} // "stormdone"
	eof    chan struct{}
	mu     sync.Mutex
	stderr bytes.Buffer
	last   []string
}

func startStorm(cfg *config) (*stormTarget, error) {
	s := &stormTarget{ready: make(chan int, 1), traced: make(chan struct{}), done: make(chan struct{}), eof: make(chan struct{})}
	s.cmd = exec.Command(cfg.stormBin(), strconv.Itoa(2*cfg.storm.procs), strconv.Itoa(cfg.storm.alive), strconv.Itoa(cfg.storm.lifeMS))
	if cfg.storm.follow == "inherit" {
		s.cmd.Env = append(os.Environ(), "STORM_UNTRACED=1") // nothing will trace it
	}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	s.cmd.Stderr = &lockedWriter{mu: &s.mu, b: &s.stderr}
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		defer close(s.eof)
		sc := bufio.NewScanner(out)
		var tracedOnce, doneOnce sync.Once
		for sc.Scan() {
			l := sc.Text()
			switch {
			case strings.HasPrefix(l, "created fork "):
				s.forks.Add(1)
				continue
			case strings.HasPrefix(l, "created thread "):
				continue
			case strings.HasPrefix(l, "ready "):
				if pid, err := strconv.Atoi(strings.TrimPrefix(l, "ready ")); err == nil {
					s.ready <- pid
				}
			case l == "traced":
				tracedOnce.Do(func() { close(s.traced) })
			case strings.HasPrefix(l, "stormdone "):
				doneOnce.Do(func() { close(s.done) })
			}
			s.mu.Lock()
			s.last = append(s.last, l)
			if len(s.last) > 10 {
				s.last = s.last[1:]
			}
			s.mu.Unlock()
		}
	}()
	return s, nil
}

func (s *stormTarget) messages() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "stdout: " + strings.Join(s.last, " | ") + "; stderr: " + tail(s.stderr.String(), 300)
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// procStat returns a process's minflt+majflt (whole thread group) and its
// leader's run time in ns (schedstat).
func procStat(pid int) (faults, runNs int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// f[0] is field 3 (state): minflt is field 10, majflt 12.
	minflt, _ := strconv.ParseInt(f[7], 10, 64)
	majflt, _ := strconv.ParseInt(f[9], 10, 64)
	b, err = os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		return
	}
	runNs, _ = strconv.ParseInt(strings.Fields(string(b))[0], 10, 64)
	return minflt + majflt, runNs, nil
}

// stormLive returns the storm's threads and its child processes (the
// main thread forks them all; zombies not yet reaped are included).
func stormLive(pid int) (threads, children int) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Threads:") {
				threads, _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(l, "Threads:")))
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid)); err == nil {
		children = len(strings.Fields(string(b)))
	}
	return
}

func (s *stormTarget) sample(ppPid, stormPid, procs int, t0 time.Time) (stormSample, error) {
	forks := int(s.forks.Load())
	threads, children := stormLive(stormPid)
	ps, err := sampleProc(ppPid)
	smp := stormSample{at: time.Since(t0), exited: min(max(forks-children, 0), procs),
		rssKB: ps.rssKB, hwmKB: ps.hwmKB, fds: ps.fds, perfFDs: ps.perfFDs, live: threads + children}
	smp.excessPF = smp.perfFDs - stormNEvents*smp.live
	smp.excess = smp.fds - stormNEvents*smp.live
	return smp, err
}

// runStorm runs one storm under the perfprof binary bin.
func runStorm(cfg *config, bin, label string) *stormResult {
	res := &stormResult{label: label, bin: bin, procs: cfg.storm.procs}
	res.err = res.run(cfg)
	if res.err != nil {
		cfg.failHarness("storm under %s perfprof: %v", label, res.err)
	}
	return res
}

func (res *stormResult) run(cfg *config) error {
	n := cfg.storm.procs
	progress("storm (%s perfprof): %d processes and %d threads, at most %d tasks alive, %d ms each",
		res.label, n, n, cfg.storm.alive, cfg.storm.lifeMS)
	if err := os.MkdirAll(cfg.benchDir, 0o755); err != nil {
		return err
	}
	jsonFile := filepath.Join(cfg.benchDir, "storm-"+res.label+".json")
	os.Remove(jsonFile)

	st, err := startStorm(cfg)
	if err != nil {
		return err
	}
	defer func() { // whatever happened, leave nothing running
		st.cmd.Process.Signal(syscall.SIGKILL)
		<-st.eof
		st.cmd.Wait()
	}()
	var stormPid int
	select {
	case stormPid = <-st.ready:
	case <-st.eof:
		return fmt.Errorf("storm ended before ready: %s", st.messages())
	case <-time.After(10 * time.Second):
		return fmt.Errorf("no ready line from the storm in 10 s: %s", st.messages())
	}

	res.argv = []string{res.bin, "--follow", cfg.storm.follow, "-p", strconv.Itoa(stormPid), "-i", stormInterval, "--json", "-o", jsonFile, "-e", stormEvents}
	pp := exec.Command(res.argv[0], res.argv[1:]...)
	var ppErr bytes.Buffer
	pp.Stderr = &ppErr
	if err := pp.Start(); err != nil {
		return err
	}
	ppDone := make(chan struct{})
	go func() { pp.Wait(); close(ppDone) }()
	defer func() {
		select {
		case <-ppDone:
		default:
			pp.Process.Signal(syscall.SIGKILL)
			<-ppDone
		}
	}()
	traced := st.traced
	if cfg.storm.follow == "inherit" {
		// Nothing traces the storm: give perfprof a second to open its
		// events.
		c := make(chan struct{})
		time.AfterFunc(time.Second, func() { close(c) })
		traced = c
	}
	select {
	case <-traced:
	case <-st.eof:
		return fmt.Errorf("storm ended before traced: %s", st.messages())
	case <-ppDone:
		return fmt.Errorf("perfprof ended before attaching: %s", tail(ppErr.String(), 300))
	case <-time.After(15 * time.Second):
		return fmt.Errorf("storm not traced in 15 s: %s", st.messages())
	}
	// Let perfprof open the storm's counters, then take the reference
	// point: the storm's faults and run time before counting, and
	// perfprof's fds with one task followed.
	time.Sleep(300 * time.Millisecond)
	faults0, run0, err := procStat(stormPid)
	if err != nil {
		return err
	}
	ppPid := pp.Process.Pid
	t0 := time.Now()
	res.before, err = st.sample(ppPid, stormPid, n, t0)
	if err != nil {
		return fmt.Errorf("sampling perfprof before the storm: %v", err)
	}
	res.before.at = 0

	syscall.Kill(stormPid, syscall.SIGUSR1) // go
	t0 = time.Now()
	tick := time.NewTicker(stormSampleEvery)
	defer tick.Stop()
	deadline := time.After(cfg.storm.timeout)
	lastProgress := time.Now()
loop:
	for {
		select {
		case <-tick.C:
			s, err := st.sample(ppPid, stormPid, n, t0)
			if err != nil {
				return fmt.Errorf("sampling perfprof: %v", err)
			}
			res.samples = append(res.samples, s)
			if time.Since(lastProgress) >= 15*time.Second {
				progress("storm (%s): %d of %d processes exited after %.0f s; perfprof RSS %.1f MB, %d fds",
					res.label, s.exited, n, s.at.Seconds(), float64(s.rssKB)/1024, s.fds)
				lastProgress = time.Now()
			}
		case <-st.done:
			break loop
		case <-st.eof:
			return fmt.Errorf("storm ended before stormdone: %s", st.messages())
		case <-ppDone:
			return fmt.Errorf("perfprof ended during the storm: %v; stderr: %s", pp.ProcessState, tail(ppErr.String(), 300))
		case <-deadline:
			return fmt.Errorf("storm not done after %v (raise -storm-timeout)", cfg.storm.timeout)
		}
	}
	res.dur = time.Since(t0)
	last, err := st.sample(ppPid, stormPid, n, t0)
	if err != nil {
		return fmt.Errorf("sampling perfprof at stormdone: %v", err)
	}
	last.exited = n // every process has been reaped
	res.samples = append(res.samples, last)
	// The last exits may still be on their way to perfprof.
	for end := time.Now().Add(2 * time.Second); ; {
		res.after, err = st.sample(ppPid, stormPid, n, t0)
		if err != nil || (res.after.fds <= res.before.fds && res.after.perfFDs <= res.before.perfFDs) || time.Now().After(end) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	progress("storm (%s): done in %.1f s; perfprof RSS %.1f MB; waiting for its final report", res.label, res.dur.Seconds(), float64(last.rssKB)/1024)

	// The storm's exit empties the tree: perfprof ends by itself.
	syscall.Kill(stormPid, syscall.SIGTERM)
	select {
	case <-ppDone:
	case <-time.After(5 * time.Minute):
		return fmt.Errorf("perfprof did not end within 5 minutes of the storm's exit")
	}
	res.ppExit = pp.ProcessState.ExitCode()
	<-st.eof
	if err := st.cmd.Wait(); err != nil {
		return fmt.Errorf("storm: %v; %s", err, st.messages())
	}
	if res.ppExit != 0 {
		return fmt.Errorf("perfprof exit status %d after the storm ended; stderr: %s", res.ppExit, tail(ppErr.String(), 300))
	}
	ru, ok := st.cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return fmt.Errorf("no rusage for the storm")
	}
	cpuNs := (ru.Utime.Sec+ru.Stime.Sec)*1e9 + (ru.Utime.Usec+ru.Stime.Usec)*1e3
	res.kernel = map[string]int64{
		"task-clock":  cpuNs - run0,
		"page-faults": ru.Minflt + ru.Majflt - faults0,
	}
	progress("storm (%s): reading the report", res.label)
	if err := res.readReport(jsonFile); err != nil {
		return err
	}
	os.Remove(jsonFile) // hundreds of MB at N = 200,000
	return nil
}

type stormCounts struct {
	Type      string                                  `json:"type"`
	Time      int64                                   `json:"time"`
	Final     bool                                    `json:"final"`
	Folded    bool                                    `json:"folded"`
	Processes int                                     `json:"processes"` // on folded rows
	Events    map[string]struct{ Value, Delta int64 } `json:"events"`
}

func (res *stormResult) readReport(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		res.jsonBytes = fi.Size()
	}
	res.finalSum, res.deltaSum = map[string]int64{}, map[string]int64{}
	times := map[int64]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.Contains(line, []byte(`"type":"counts"`)):
			var c stormCounts
			if err := json.Unmarshal(line, &c); err != nil {
				return fmt.Errorf("counts record: %v: %.200s", err, line)
			}
			for e, v := range c.Events {
				res.deltaSum[e] += v.Delta
				if c.Final {
					res.finalSum[e] += v.Value
				}
			}
			if c.Final {
				res.finalRows++
				res.finalProcs += max(c.Processes, 1)
				if c.Folded {
					res.finalFolded++
				}
			} else {
				res.intervalRecs++
				times[c.Time] = true
			}
		case bytes.Contains(line, []byte(`"type":"summary"`)):
			var s summary
			if err := json.Unmarshal(line, &s); err != nil {
				return fmt.Errorf("summary record: %v", err)
			}
			res.summary = &s
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	res.reports = len(times)
	if res.summary == nil {
		return fmt.Errorf("no summary record in %s", path)
	}
	if res.finalRows == 0 {
		return fmt.Errorf("no final counts record in %s", path)
	}
	return nil
}

// atFraction returns the first sample at which at least q of the
// processes had exited.
func (res *stormResult) atFraction(q float64) stormSample {
	want := int(math.Ceil(q * float64(res.procs)))
	for _, s := range res.samples {
		if s.exited >= want {
			return s
		}
	}
	return res.samples[len(res.samples)-1]
}

// growth returns the RSS growth in bytes per exited process over the
// second half of the storm: the least-squares slope over the samples from
// 50% to 100%, and the difference of the two end samples.
func (res *stormResult) growth() (slope, ends float64) {
	half := res.atFraction(0.5)
	end := res.samples[len(res.samples)-1]
	ends = float64(end.rssKB-half.rssKB) * 1024 / float64(end.exited-half.exited)
	var xs, ys []float64
	for _, s := range res.samples {
		if s.at >= half.at {
			xs = append(xs, float64(s.exited))
			ys = append(ys, float64(s.rssKB)*1024)
		}
	}
	if len(xs) < 3 {
		return nan, ends
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(xs))
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	if sxx == 0 {
		return nan, ends
	}
	return sxy / sxx, ends
}

// faultResidual is the kernel's page-fault count less the final total and
// one fault per process: each new process faults once before its first
// stop (probably the kernel's write of its TID, CLONE_CHILD_SETTID, to a
// page fork made copy-on-write), which its counters cannot see.
func (res *stormResult) faultResidual() int64 {
	return res.kernel["page-faults"] - res.finalSum["page-faults"] - int64(res.procs)
}

func (res *stormResult) maxOf(f func(stormSample) int) (m int, at stormSample) {
	m = math.MinInt
	for _, s := range res.samples {
		if v := f(s); v > m {
			m, at = v, s
		}
	}
	return
}

func (r *report) storm(rs []*stormResult) {
	c := r.cfg.storm
	r.p("4b. Storm: perfprof -p PID -i %s --json -o FILE -e %s on the storm target (scripts/conformance/bin/storm %d %d %d):",
		stormInterval, stormEvents, 2*c.procs, c.alive, c.lifeMS)
	r.p("    %d processes and %d threads, created alternately, at most %d of each alive at once, each living %d ms;",
		c.procs, c.procs, c.alive/2, c.lifeMS)
	r.p("    perfprof's VmRSS and fds sampled every %v. \"exited\" = processes the storm has reaped.", stormSampleEvery)
	r.p("")
	var ok []*stormResult
	for _, s := range rs {
		if s.err != nil {
			r.p("%s perfprof (%s): error: %v", s.label, s.bin, s.err)
			if s.label == "new" {
				r.check(fmt.Sprintf("storm %d: run", c.procs), "error: "+firstLine(s.err.Error()), "runs", false)
			}
			continue
		}
		ok = append(ok, s)
	}
	if len(ok) == 0 {
		r.p("")
		return
	}
	row := func(name string, f func(s *stormResult) string) {
		line := fmt.Sprintf("%-46s", name)
		for _, s := range ok {
			line += fmt.Sprintf(" %22s", f(s))
		}
		r.p("%s", strings.TrimRight(line, " "))
	}
	mb := func(kb int) string { return fmt.Sprintf("%.1f MB", float64(kb)/1024) }
	hdr := fmt.Sprintf("%-46s", "")
	for _, s := range ok {
		hdr += fmt.Sprintf(" %22s", s.label+" perfprof")
	}
	r.p("%s", hdr)
	r.p("%s", strings.Repeat("-", 46+23*len(ok)))
	row("storm time (go to stormdone)", func(s *stormResult) string { return fmt.Sprintf("%.1f s", s.dur.Seconds()) })
	row("processes exited per second", func(s *stormResult) string { return fmt.Sprintf("%.0f", float64(s.procs)/s.dur.Seconds()) })
	row("perfprof CPU (summary perfprof_cpu_ns)", func(s *stormResult) string {
		return fmt.Sprintf("%.1f s", float64(s.summary.PerfprofCPUNs)/1e9)
	})
	row("samples", func(s *stormResult) string { return fmt.Sprint(len(s.samples)) })
	row("RSS after attach, before the storm", func(s *stormResult) string { return mb(s.before.rssKB) })
	for _, q := range []float64{0.25, 0.5, 0.75, 1} {
		row(fmt.Sprintf("RSS at %3.0f%% (%d exited)", q*100, int(math.Ceil(q*float64(c.procs)))), func(s *stormResult) string {
			smp := s.atFraction(q)
			return fmt.Sprintf("%s @%.1fs", mb(smp.rssKB), smp.at.Seconds())
		})
	}
	row("peak RSS (VmHWM at stormdone)", func(s *stormResult) string { return mb(s.samples[len(s.samples)-1].hwmKB) })
	row("RSS growth / exited process, 50%->100%", func(s *stormResult) string {
		slope, _ := s.growth()
		return fmt.Sprintf("%.1f B", slope)
	})
	row("  (end samples only: (RSS100-RSS50)/procs)", func(s *stormResult) string {
		_, ends := s.growth()
		return fmt.Sprintf("%.1f B", ends)
	})
	row("RSS growth / exited process, 0%->100%", func(s *stormResult) string {
		end := s.samples[len(s.samples)-1]
		return fmt.Sprintf("%.1f B", float64(end.rssKB-s.before.rssKB)*1024/float64(s.procs))
	})
	row("fds: before / max / after", func(s *stormResult) string {
		m, _ := s.maxOf(func(x stormSample) int { return x.fds })
		return fmt.Sprintf("%d / %d / %d", s.before.fds, m, s.after.fds)
	})
	row("perf fds: before / max / after", func(s *stormResult) string {
		m, _ := s.maxOf(func(x stormSample) int { return x.perfFDs })
		return fmt.Sprintf("%d / %d / %d", s.before.perfFDs, m, s.after.perfFDs)
	})
	row("live tasks: max", func(s *stormResult) string {
		m, _ := s.maxOf(func(x stormSample) int { return x.live })
		return fmt.Sprint(m)
	})
	row(fmt.Sprintf("max(fds - %d x live tasks)", stormNEvents), func(s *stormResult) string {
		m, _ := s.maxOf(func(x stormSample) int { return x.excess })
		return fmt.Sprintf("%+d (before: %+d)", m, s.before.excess)
	})
	row(fmt.Sprintf("max(perf fds - %d x live tasks)", stormNEvents), func(s *stormResult) string {
		m, _ := s.maxOf(func(x stormSample) int { return x.excessPF })
		return fmt.Sprintf("%+d (before: %+d)", m, s.before.excessPF)
	})
	row("max(other fds - before)", func(s *stormResult) string {
		m, _ := s.maxOf(func(x stormSample) int { return x.fds - x.perfFDs })
		return fmt.Sprintf("%+d", m-(s.before.fds-s.before.perfFDs))
	})
	row("summary tasks_followed / counter_failures", func(s *stormResult) string {
		return fmt.Sprintf("%d / %d", s.summary.TasksFollowed, s.summary.CounterFailures)
	})
	row("report: MB / interval records", func(s *stormResult) string {
		return fmt.Sprintf("%.0f / %d", float64(s.jsonBytes)/1e6, s.intervalRecs)
	})
	row("final rows (folded) / processes they hold", func(s *stormResult) string {
		return fmt.Sprintf("%d (%d) / %d", s.finalRows, s.finalFolded, s.finalProcs)
	})
	for _, e := range strings.Split(stormEvents, ",") {
		row(e+": final total", func(s *stormResult) string { return fmt.Sprint(s.finalSum[e]) })
		row(e+": kernel rusage of the storm", func(s *stormResult) string {
			return fmt.Sprintf("%d (%+.2f%%)", s.kernel[e], 100*float64(s.finalSum[e]-s.kernel[e])/float64(s.kernel[e]))
		})
		row(e+": sum of every delta (context)", func(s *stormResult) string { return fmt.Sprint(s.deltaSum[e]) })
	}
	row("page-faults: kernel - final - processes", func(s *stormResult) string {
		return fmt.Sprintf("%+d", s.faultResidual())
	})
	r.p("")
	r.p("RSS at X%%: the first sample with that many processes exited (@ seconds after the go signal). Growth per")
	r.p("exited process: least-squares slope of RSS over the samples from 50%% to 100%% (target <= %.0f B). live tasks =", stormTargetBytes)
	r.p("the storm's threads + its child processes in /proc (zombies included: an upper bound). The constant C of")
	r.p("the fd check is fds - %d x live tasks before the storm (1 live task): perfprof's own fds, %d pinned events", stormNEvents, stormNEvents)
	r.p("and 1 seed. Totals: the final rows must hold the storm and its %d processes, each once (a folded row holds", c.procs)
	r.p("\"processes\"). The kernel's rusage of the storm (it reaps all its processes), minus its use before counting")
	r.p("began, is the independent reference: for page-faults it is the final total plus one fault per process, which")
	r.p("each new process takes before its first stop (checked to 1 in 10,000); task-clock (context) also misses a")
	r.p("new task's kernel work before that stop. The sum of every record's delta equals the final total when")
	r.p("nothing is folded; a folded row's deltas repeat counts already reported in the processes' own rows.")
	r.p("")

	for _, s := range ok {
		if s.label != "new" {
			continue
		}
		name := fmt.Sprintf("storm %d", c.procs)
		slope, ends := s.growth()
		r.check(name+": RSS growth per exited process", fmt.Sprintf("%.1f B (end samples %.1f B)", slope, ends),
			fmt.Sprintf("<= %.0f B, 50%%->100%%", stormTargetBytes), slope <= stormTargetBytes)
		m, _ := s.maxOf(func(x stormSample) int { return x.excess })
		mp, _ := s.maxOf(func(x stormSample) int { return x.excessPF })
		_, peak := s.maxOf(func(x stormSample) int { return x.fds })
		constant := s.before.excess
		r.check(name+": fds <= 2 x live tasks + C", fmt.Sprintf("max excess %+d (perf fds %+d); peak %d fds at %d live", m-constant, mp-s.before.excessPF, peak.fds, peak.live),
			fmt.Sprintf("C = %d, before the storm", constant), m <= constant)
		r.check(name+": no fd left after the storm", fmt.Sprintf("%d fds (%d perf) after, %d (%d) before", s.after.fds, s.after.perfFDs, s.before.fds, s.before.perfFDs),
			"<= before", s.after.fds <= s.before.fds && s.after.perfFDs <= s.before.perfFDs)
		r.check(name+": final rows hold every process once", fmt.Sprintf("%d processes in %d rows (%d folded)", s.finalProcs, s.finalRows, s.finalFolded),
			fmt.Sprint(c.procs+1), s.finalProcs == c.procs+1)
		res, tol := s.faultResidual(), s.kernel["page-faults"]/10000
		r.check(name+": page-faults = kernel - 1/process", fmt.Sprintf("final %d, kernel %d: %+d", s.finalSum["page-faults"], s.kernel["page-faults"], res),
			fmt.Sprintf("|kernel - final - %d| <= %d", c.procs, tol), res >= -tol && res <= tol)
		want := 2*c.procs + 1
		r.check(name+": all followed and counted", fmt.Sprintf("tasks_followed=%d counter_failures=%d", s.summary.TasksFollowed, s.summary.CounterFailures),
			fmt.Sprintf("%d and 0", want), s.summary.TasksFollowed == want && s.summary.CounterFailures == 0)
	}
}
