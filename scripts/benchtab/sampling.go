package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The sampling section (4c) measures the targets of the sampling issue:
//
//  1. following cost with rings: on forkloop, threadloop and fanout, what
//     sampling (-F 999 -e task-clock) adds per operation over bare,
//     against what counting (-e task-clock) adds, in the same interleaved
//     rounds as section 1;
//  2. draining: faultpages, about a million page faults sampled one by one
//     (-c 1 -e page-faults) with the same small ring under perfprof and
//     under perf record (+ perf script): exact accounting, lost records,
//     CPU per sample;
//  3. idle: perfprof -F 999 -p on a sleeping process costs no CPU;
//  4. 10,000 live sampled threads with one-page rings: every thread
//     sampled, perfprof's peak RSS, the ring memory in the summary;
//  5. profiles (profiles.go): -g --pprof CPU per sample against perf
//     record -g + perf report, and perfprof's RSS growth on a fork tree
//     of 1,111 processes of one binary.

// samplingConfig holds the flags of the sampling section.
type samplingConfig struct {
	only bool // -sampling-only: the sampling section alone
	skip bool // -no-sampling
}

const (
	samplingTarget = 1.3          // sampling added / counting added
	samplingFreq   = "999"        // -F of the following-cost runs
	samplingNever  = "1000000000" // -c of the context runs: a period never reached
	drainRingPages = 8            // -m of the drain, for perfprof and perf record alike
	drainWatermark = "50"         // --watermark of the drain's context run
	drainCPUTarget = 0.5          // perfprof CPU per sample / perf's
	idleCPUTarget  = 10.0         // ms of perfprof CPU while the sampled target sleeps
	liveRSSTarget  = 32 << 10     // kB: perfprof's peak RSS with 10,000 live sampled threads
	liveRingPages  = 1            // -m of the live-threads run
)

// samplingSizes are the workload sizes of the sampling section.
type samplingSizes struct {
	follow      [][]string // section 1 workloads (bin/bench)
	drainPages  int        // faultpages PAGES
	drainRounds int
	idle        time.Duration
	liveThreads int
	liveHold    int // seconds
}

func samplingSizesFor(quick bool) samplingSizes {
	if quick {
		return samplingSizes{
			follow:      [][]string{{"forkloop", "300"}, {"threadloop", "600"}, {"fanout", "8", "30"}, {"fanout", "8", "30", "t"}},
			drainPages:  100000,
			drainRounds: 3,
			idle:        2 * time.Second,
			liveThreads: 2000,
			liveHold:    1,
		}
	}
	return samplingSizes{
		follow:      [][]string{{"forkloop", "1000"}, {"threadloop", "2000"}, {"fanout", "8", "100"}, {"fanout", "8", "100", "t"}},
		drainPages:  1000000,
		drainRounds: 3,
		idle:        5 * time.Second,
		liveThreads: 10000,
		liveHold:    3,
	}
}

// samplingResult is everything the sampling section measured.
type samplingResult struct {
	sizes  samplingSizes
	follow []*workload
	drain  *drainResult
	idle   *idleResult
	live   *liveResult
	prof   *profilesResult // the profiles part (profiles.go)
}

// runSampling runs the sampling section: the following cost in
// interleaved rounds (bare, counting, sampling), the drain, idle, and the
// live threads.
func runSampling(cfg *config) *samplingResult {
	res := &samplingResult{sizes: samplingSizesFor(cfg.quick)}
	for _, a := range res.sizes.follow {
		res.follow = append(res.follow, &workload{label: strings.Join(a, " "), args: a,
			tools: []string{"bare", "pp1", "pps", "ppcf", "ppsf"}, vals: map[string][]float64{}, errs: map[string][]string{}})
	}
	progress("sampling: following cost, %d rounds of bare, -e %s and -F %s -e %s", cfg.rounds, events1, samplingFreq, events1)
	runRounds(cfg, res.follow)
	res.drain = runDrain(cfg, res.sizes)
	progress("sampling: idle, perfprof -F %s -e %s -p on a sleeping process for %v", samplingFreq, events1, res.sizes.idle)
	res.idle = idleRun(cfg, res.sizes.idle, "-F", samplingFreq, "-e", events1)
	res.live = runLive(cfg, res.sizes)
	res.prof = runProfiles(cfg)
	return res
}

// prepareSampling builds the sampling workloads of scripts/ (faultpages,
// holdfaults, and hotfuncs and forktree for the profiles part), the rule
// of `make workloads`.
func prepareSampling(cfg *config) error {
	progress("building scripts/bin/faultpages, holdfaults, hotfuncs and forktree")
	return runQuiet(cfg.root, "make", "-s", "-C", "scripts", "bin/faultpages", "bin/holdfaults", "bin/hotfuncs", "bin/forktree")
}

func (c *config) script(name string) string { return filepath.Join(c.root, "scripts", "bin", name) }

// runsMain reports whether sections 1 to 4 run: not with -storm-only or
// -sampling-only.
func (c *config) runsMain() bool { return !c.storm.only && !c.sampling.only }

// runsSampling reports whether the sampling section runs: by default,
// unless -no-sampling or -storm-only leave it out; -sampling-only always.
func (c *config) runsSampling() bool { return c.sampling.only || (!c.sampling.skip && !c.storm.only) }

// ---- running a command: CPU, stderr, no process left behind ----

// cmdResult is one run of a command.
type cmdResult struct {
	cpu    time.Duration // user + system of the process and of everything it reaped
	stderr string
	err    error
}

// runCmd runs argv in a process group of its own with stdout to out (nil:
// discarded) and stderr captured. On timeout the whole group is killed, so
// that a tool's workload does not outlive it.
func runCmd(argv []string, timeout time.Duration, out io.Writer) cmdResult {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout = out
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var r cmdResult
	if err := cmd.Start(); err != nil {
		r.err = fmt.Errorf("start %s: %v", argv[0], err)
		return r
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	err := cmd.Wait()
	stop()
	r.stderr = stderr.String()
	if cmd.ProcessState != nil {
		r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	switch {
	case ctx.Err() != nil:
		r.err = fmt.Errorf("%s: timed out after %v", filepath.Base(argv[0]), timeout)
	case err != nil:
		r.err = fmt.Errorf("%s: %v; stderr: %s", filepath.Base(argv[0]), err, tail(r.stderr, 400))
	}
	return r
}

// ---- 2. draining ----

// drainTools are the runs of a drain round, rotated each round.
var drainTools = []struct{ key, label string }{
	{"bare", "faultpages alone"},
	{"pp", fmt.Sprintf("perfprof -m %d -o FILE", drainRingPages)},
	{"perf", fmt.Sprintf("perf record -m %d -o FILE2; perf script", drainRingPages)},
	{"ppwm", fmt.Sprintf("perfprof -m %d --watermark %s (context)", drainRingPages, drainWatermark)},
	{"ppi", "perfprof --follow inherit -o FILE (a ring of 128 pages per CPU)"},
}

// drainRun is one run of faultpages under a tool.
type drainRun struct {
	usPerFault float64 // the workload's own µs per fault
	loop       int64   // page faults the workload's loop counted itself
	samples    int64   // samples written (perfprof) or recorded (perf)
	lost       int64   // records the kernel lost
	count      int64   // perfprof: the final page-faults total of the report
	lines      int64   // perfprof: sample lines in the report file
	cpuMs      float64 // the tool's own CPU (perf: record + script)
	recordMs   float64 // perf record's own CPU
	scriptMs   float64 // perf script's CPU
	selfMs     float64 // perfprof: the CPU it reports for itself
	err        error
}

func (d *drainRun) cpuPerSample() float64 { return d.cpuMs * 1000 / float64(d.samples) }

// drainResult holds the drain's runs, per tool, in round order.
type drainResult struct {
	pages, ringPages int
	runs             map[string][]*drainRun
}

var (
	faultsRe   = regexp.MustCompile(`(?m)^FAULTS pages=(\d+) counted=(-?\d+) rusage=(\d+)`)
	ppSampleRe = regexp.MustCompile(`^ (\d+) samples?, (\d+) lost, (\d+) tasks? without a ring`)
	ppCPURe    = regexp.MustCompile(`perfprof used ([0-9.]+) s CPU`)
	ppTotalRe  = regexp.MustCompile(`^\s+total\s+(\d+)\s*$`)
)

// runDrain runs faultpages bare, under perfprof, under perf record (then
// perf script) and under perfprof with a watermark, in rounds, the order
// rotated each round.
func runDrain(cfg *config, sz samplingSizes) *drainResult {
	d := &drainResult{pages: sz.drainPages, ringPages: drainRingPages, runs: map[string][]*drainRun{}}
	progress("sampling: drain, faultpages %d, %d rounds", d.pages, sz.drainRounds)
	for r := 0; r < sz.drainRounds; r++ {
		t0 := time.Now()
		for i := range drainTools {
			k := drainTools[(i+r)%len(drainTools)].key
			var run *drainRun
			switch k {
			case "bare":
				run = drainBare(cfg, d.pages)
			case "pp":
				run = drainPerfprof(cfg, d.pages)
			case "ppwm":
				run = drainPerfprof(cfg, d.pages, "--watermark", drainWatermark)
			case "ppi":
				run = drainPerfprof(cfg, d.pages, "--follow", "inherit")
			case "perf":
				if cfg.perf == "" {
					continue
				}
				run = drainPerf(cfg, d.pages)
			}
			if run.err != nil {
				if k == "bare" || k == "perf" {
					cfg.failHarness("drain, %s, round %d: %v", k, r+1, run.err)
				} else {
					progress("drain, %s, round %d failed: %v", k, r+1, run.err)
				}
			}
			d.runs[k] = append(d.runs[k], run)
		}
		progress("sampling: drain round %d/%d done in %.1f s", r+1, sz.drainRounds, time.Since(t0).Seconds())
	}
	return d
}

// parseWorkload reads faultpages' FAULTS and RESULT lines, and cpuwrap's
// line when wrapped, from stderr.
func parseWorkload(stderr string, wrapped bool) (run *drainRun, wrapMs float64, err error) {
	run = &drainRun{}
	m := faultsRe.FindStringSubmatch(stderr)
	if m == nil {
		return run, 0, fmt.Errorf("no FAULTS line from faultpages: %s", tail(stderr, 300))
	}
	run.loop, _ = strconv.ParseInt(m[2], 10, 64)
	if m := resultRe.FindStringSubmatch(stderr); m != nil {
		run.usPerFault, _ = strconv.ParseFloat(m[2], 64)
	}
	if wrapped {
		w := cpuwrapRe.FindStringSubmatch(stderr)
		if w == nil {
			return run, 0, fmt.Errorf("no CPUWRAP line: %s", tail(stderr, 300))
		}
		self, _ := strconv.ParseFloat(w[1], 64)
		kids, _ := strconv.ParseFloat(w[2], 64)
		wrapMs = (self + kids) / 1000
	}
	return run, wrapMs, nil
}

func drainBare(cfg *config, pages int) *drainRun {
	res := runCmd([]string{cfg.script("faultpages"), strconv.Itoa(pages)}, cfg.timeout, nil)
	if res.err != nil {
		return &drainRun{err: res.err}
	}
	run, _, err := parseWorkload(res.stderr, false)
	run.err = err
	return run
}

// drainPerfprof runs perfprof -c 1 -e page-faults -m M [extra] -o FILE on
// cpuwrap faultpages, and reads the report file. perfprof's own CPU is
// its rusage minus what cpuwrap reports for itself and the workload
// (perfprof reaps cpuwrap, so the kernel adds their CPU to perfprof's).
func drainPerfprof(cfg *config, pages int, extra ...string) *drainRun {
	file := filepath.Join(cfg.benchDir, "drain-perfprof.txt")
	defer os.Remove(file)
	argv := []string{cfg.perfprof, "-c", "1", "-e", "page-faults", "-m", strconv.Itoa(drainRingPages)}
	argv = append(argv, extra...)
	argv = append(argv, "-o", file, "--", cfg.bin("cpuwrap"), cfg.script("faultpages"), strconv.Itoa(pages))
	res := runCmd(argv, cfg.timeout, nil)
	if res.err != nil {
		return &drainRun{err: res.err}
	}
	run, wrapMs, err := parseWorkload(res.stderr, true)
	if err != nil {
		run.err = err
		return run
	}
	run.cpuMs = float64(res.cpu.Microseconds())/1000 - wrapMs
	f, err := os.Open(file)
	if err != nil {
		run.err = err
		return run
	}
	defer f.Close()
	rep, err := parsePerfprofText(f, "page-faults")
	if err != nil {
		run.err = fmt.Errorf("%s: %v", file, err)
		return run
	}
	run.samples, run.lost, run.count, run.lines, run.selfMs = rep.samples, rep.lost, rep.total, rep.lines, rep.cpuMs
	return run
}

// ppText is what the sampling benchmark reads from perfprof's text report.
type ppText struct {
	lines                  int64 // sample lines of the event
	total                  int64 // the report's total row (one event)
	samples, lost          int64
	cpuMs                  float64
	haveTotal, haveSummary bool
}

// parsePerfprofText reads a text report of perfprof sampling one event:
// it counts the sample lines of event, and reads the final report's total
// row and the summary's CPU, samples and lost.
func parsePerfprofText(r io.Reader, event string) (ppText, error) {
	var t ppText
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	mark := []byte(" " + event + ": ")
	for sc.Scan() {
		line := sc.Bytes()
		if bytes.Contains(line, mark) {
			t.lines++
			continue
		}
		s := string(line)
		if m := ppTotalRe.FindStringSubmatch(s); m != nil {
			t.total, _ = strconv.ParseInt(m[1], 10, 64)
			t.haveTotal = true
		}
		if m := ppCPURe.FindStringSubmatch(s); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			t.cpuMs = v * 1000
		}
		if m := ppSampleRe.FindStringSubmatch(s); m != nil {
			t.samples, _ = strconv.ParseInt(m[1], 10, 64)
			t.lost, _ = strconv.ParseInt(m[2], 10, 64)
			t.haveSummary = true
		}
	}
	if err := sc.Err(); err != nil {
		return t, err
	}
	if !t.haveTotal || !t.haveSummary {
		return t, fmt.Errorf("no total row or no samples line in the report (total %v, samples %v)", t.haveTotal, t.haveSummary)
	}
	return t, nil
}

// drainPerf runs perf record on cpuwrap faultpages, then perf script on
// its file, and reads the samples and lost samples with perf report
// --stats (not timed). perf record's own CPU is its rusage minus what
// cpuwrap reports (perf record forks the workload and reaps it).
func drainPerf(cfg *config, pages int) *drainRun {
	data := filepath.Join(cfg.benchDir, "drain-perf.data")
	defer os.Remove(data)
	defer os.Remove(data + ".old")
	argv := []string{cfg.perf, "record", "-q", "-c", "1", "-e", "page-faults", "-m", strconv.Itoa(drainRingPages),
		"-o", data, "--", cfg.bin("cpuwrap"), cfg.script("faultpages"), strconv.Itoa(pages)}
	res := runCmd(argv, cfg.timeout, nil)
	if res.err != nil {
		return &drainRun{err: res.err}
	}
	run, wrapMs, err := parseWorkload(res.stderr, true)
	if err != nil {
		run.err = err
		return run
	}
	run.recordMs = float64(res.cpu.Microseconds())/1000 - wrapMs
	sres := runCmd([]string{cfg.perf, "script", "-i", data}, cfg.timeout, nil)
	if sres.err != nil {
		run.err = sres.err
		return run
	}
	run.scriptMs = float64(sres.cpu.Microseconds()) / 1000
	run.cpuMs = run.recordMs + run.scriptMs
	var stats bytes.Buffer
	if st := runCmd([]string{cfg.perf, "report", "-i", data, "--stats"}, cfg.timeout, &stats); st.err != nil {
		run.err = st.err
		return run
	}
	run.samples, run.lost, run.err = parsePerfStats(stats.String(), "page-faults")
	return run
}

// parsePerfStats reads the samples and lost samples of event from `perf
// report --stats`: its "EVENT stats:" part, whose LOST_SAMPLES line is the
// number of samples lost (the aggregated part above it counts records).
func parsePerfStats(out, event string) (samples, lost int64, err error) {
	in := false
	found := false
	for _, line := range strings.Split(out, "\n") {
		s := strings.TrimSpace(line)
		if strings.HasSuffix(s, " stats:") || s == "stats:" {
			in = s == event+" stats:"
			found = found || in
			continue
		}
		if !in {
			continue
		}
		f := strings.Fields(s)
		if len(f) != 3 || f[1] != "events:" {
			continue
		}
		n, perr := strconv.ParseInt(f[2], 10, 64)
		if perr != nil {
			continue
		}
		switch f[0] {
		case "SAMPLE":
			samples = n
		case "LOST_SAMPLES":
			lost = n
		}
	}
	if !found {
		return 0, 0, fmt.Errorf("perf report --stats has no %q part: %s", event+" stats:", tail(out, 300))
	}
	return samples, lost, nil
}

// ---- 4. live sampled threads ----

// liveResult is one run of perfprof on holdfaults T S.
type liveResult struct {
	threads     int
	alive       procSample // perfprof at the workload's ALIVE line
	hwmKB       int        // VmHWM at the last read before perfprof ended
	rssAnonKB   int        // RssAnon and RssFile at that read
	rssFileKB   int
	summary     *summary
	tids        int   // distinct TIDs in the sample records
	countTotal  int64 // page-faults summed over the final counts records
	sampleRecs  int64
	lostRecs    int64 // lost summed over the lost records
	elapsed     time.Duration
	err         error
	hasSampling bool
}

// runLive runs perfprof -c 1 -e page-faults -m 1 --json -o FILE on
// holdfaults T S, reading perfprof's /proc/PID/status every 100 ms until
// it ends (VmHWM only grows: the last read is its peak), and then the
// JSON report.
func runLive(cfg *config, sz samplingSizes) *liveResult {
	l := &liveResult{threads: sz.liveThreads}
	file := filepath.Join(cfg.benchDir, "live-sampling.json")
	os.Remove(file)
	defer os.Remove(file)
	argv := []string{cfg.perfprof, "-c", "1", "-e", "page-faults", "-m", strconv.Itoa(liveRingPages), "--json", "-o", file,
		"--", cfg.script("holdfaults"), strconv.Itoa(sz.liveThreads), strconv.Itoa(sz.liveHold)}
	progress("sampling: live threads, perfprof -c 1 -e page-faults -m %d on holdfaults %d %d", liveRingPages, sz.liveThreads, sz.liveHold)
	t0 := time.Now()
	stderr, err := liveRun(argv, l, cfg.timeout)
	l.elapsed = time.Since(t0)
	if err != nil {
		l.err = err
		return l
	}
	f, err := os.Open(file)
	if err != nil {
		l.err = err
		return l
	}
	defer f.Close()
	if err := l.readJSON(f); err != nil {
		l.err = fmt.Errorf("%s: %v (perfprof stderr: %s)", file, err, tail(stderr, 200))
	}
	return l
}

// liveRun starts argv, samples the process at the workload's ALIVE line
// and its status until it ends, and returns its stderr.
func liveRun(argv []string, l *liveResult, timeout time.Duration) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("start perfprof: %v", err)
	}
	pid := cmd.Process.Pid
	var mu sync.Mutex
	var buf bytes.Buffer
	var aliveErr error
	gotAlive := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			mu.Lock()
			buf.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.HasPrefix(sc.Text(), "ALIVE ") && !gotAlive {
				gotAlive = true
				l.alive, aliveErr = sampleProc(pid)
			}
		}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	timedOut := false
poll:
	for {
		select {
		case <-done:
			break poll
		case <-timer.C:
			timedOut = true
			syscall.Kill(-pid, syscall.SIGKILL)
			<-done
			break poll
		case <-tick.C:
			if hwm, anon, file, err := readHWM(pid); err == nil {
				l.hwmKB, l.rssAnonKB, l.rssFileKB = hwm, anon, file
			}
		}
	}
	werr := cmd.Wait()
	mu.Lock()
	stderr := buf.String()
	mu.Unlock()
	switch {
	case timedOut:
		return stderr, fmt.Errorf("perfprof on holdfaults timed out after %v", timeout)
	case werr != nil:
		return stderr, fmt.Errorf("perfprof on holdfaults: %v; stderr: %s", werr, tail(stderr, 300))
	case !gotAlive:
		return stderr, fmt.Errorf("holdfaults printed no ALIVE line: %s", tail(stderr, 300))
	case aliveErr != nil:
		return stderr, fmt.Errorf("reading perfprof's /proc entry at ALIVE: %v", aliveErr)
	}
	return stderr, nil
}

// readHWM returns VmHWM, RssAnon and RssFile of pid, in kB.
func readHWM(pid int) (hwm, anon, file int, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmHWM:":
			hwm, _ = strconv.Atoi(f[1])
		case "RssAnon:":
			anon, _ = strconv.Atoi(f[1])
		case "RssFile:":
			file, _ = strconv.Atoi(f[1])
		}
	}
	if hwm == 0 {
		err = errors.New("no VmHWM")
	}
	return
}

// readJSON reads perfprof's JSON report: the distinct TIDs of the sample
// records, the lost records, the final page-faults counts and the summary.
func (l *liveResult) readJSON(r io.Reader) error {
	tids := map[int]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		switch {
		case bytes.Contains(line, []byte(`"type":"sample"`)):
			var s struct {
				TID int `json:"tid"`
			}
			if err := json.Unmarshal(line, &s); err != nil {
				return fmt.Errorf("sample record: %v", err)
			}
			tids[s.TID] = true
			l.sampleRecs++
		case bytes.Contains(line, []byte(`"type":"lost"`)):
			var s struct {
				Lost int64 `json:"lost"`
			}
			if err := json.Unmarshal(line, &s); err != nil {
				return fmt.Errorf("lost record: %v", err)
			}
			l.lostRecs += s.Lost
		case bytes.Contains(line, []byte(`"type":"counts"`)):
			var c struct {
				Final  bool `json:"final"`
				Events map[string]struct {
					Value int64 `json:"value"`
				} `json:"events"`
			}
			if err := json.Unmarshal(line, &c); err != nil {
				return fmt.Errorf("counts record: %v", err)
			}
			if c.Final {
				l.countTotal += c.Events["page-faults"].Value
			}
		case bytes.Contains(line, []byte(`"type":"summary"`)):
			var s summary
			if err := json.Unmarshal(line, &s); err != nil {
				return fmt.Errorf("summary record: %v", err)
			}
			l.summary = &s
			l.hasSampling = s.Samples != nil
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if l.summary == nil {
		return errors.New("no summary record")
	}
	l.tids = len(tids)
	return nil
}
