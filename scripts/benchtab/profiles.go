package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The profiles part of the sampling section (4c) measures two targets of
// the profiles issue:
//
//  1. CPU per sample: sampling with -g and --pprof costs perfprof no more
//     CPU per sample than perf record -g followed by perf report costs on
//     the same workload (hotfuncs MS: two children and the parent each
//     burn MS ms in a function of their own), in interleaved rounds;
//  2. symbol tables: a fork tree of 1,000 processes of one binary loads
//     its symbol table once: perfprof's peak RSS (VmHWM) grows by less
//     than 2 MB from forktree 1 10 (11 processes) to forktree 3 10 (1,111
//     processes) with --pprof; the same two without --pprof for context.

const (
	profFreq      = "999"   // -F of every profiles run
	profCPUTarget = 1.0     // perfprof CPU per sample / (perf record + perf report)'s
	profRSSTarget = 2 << 10 // kB of perfprof peak RSS growth per 1,000 processes, with --pprof
	profPollEvery = 10 * time.Millisecond
)

// profSizes are the sizes of the profiles part.
type profSizes struct {
	ms        int // hotfuncs MS
	cpuRounds int
	rssRounds int
	trees     [2][]string // forktree DEPTH WIDTH MS PAGES: small, large
	procs     [2]int      // processes of each tree
}

func profSizesFor(quick bool) profSizes {
	s := profSizes{ms: 2000, cpuRounds: 3, rssRounds: 3,
		trees: [2][]string{{"1", "10", "1", "1"}, {"3", "10", "1", "1"}}, procs: [2]int{11, 1111}}
	if quick {
		s.ms, s.rssRounds = 500, 1
	}
	return s
}

// profCPURun is one run of hotfuncs MS under perfprof or perf.
type profCPURun struct {
	samples, lost int64
	cpuMs         float64 // the tool's own CPU (perf: record + report)
	recordMs      float64 // perf record's own CPU
	reportMs      float64 // perf report's CPU
	selfMs        float64 // perfprof: the CPU it reports for itself
	workMs        float64 // the workload's CPU, from cpuwrap
	err           error
}

func (p *profCPURun) cpuPerSample() float64 { return p.cpuMs * 1000 / float64(p.samples) }

// profRSSRun is one run of perfprof on a fork tree.
type profRSSRun struct {
	hwmKB    int // VmHWM at the last read before perfprof ended
	maxrssKB int // rusage maxrss (perfprof and the largest process it reaped)
	reads    int // /proc/PID/status reads
	err      error
}

// profRSSKey names the four RSS configurations: tree 0 or 1, --pprof or not.
type profRSSKey struct {
	tree  int
	pprof bool
}

// profilesResult is everything the profiles part measured.
type profilesResult struct {
	sizes profSizes
	cpu   map[string][]*profCPURun // "pp", "perf", in round order
	rss   map[profRSSKey][]*profRSSRun
}

// profCPUTools are the runs of a CPU round, rotated each round.
var profCPUTools = []struct{ key, label string }{
	{"pp", "perfprof -g --pprof FILE"},
	{"perf", "perf record -g; perf report"},
}

// runProfiles runs the CPU rounds, then the fork trees.
func runProfiles(cfg *config) *profilesResult {
	p := &profilesResult{sizes: profSizesFor(cfg.quick), cpu: map[string][]*profCPURun{}, rss: map[profRSSKey][]*profRSSRun{}}
	sz := p.sizes
	progress("sampling: profiles, CPU per sample on hotfuncs %d, %d rounds", sz.ms, sz.cpuRounds)
	for r := 0; r < sz.cpuRounds; r++ {
		t0 := time.Now()
		for i := range profCPUTools {
			k := profCPUTools[(i+r)%len(profCPUTools)].key
			var run *profCPURun
			switch k {
			case "pp":
				run = profPerfprof(cfg, sz.ms)
			case "perf":
				if cfg.perf == "" {
					continue
				}
				run = profPerf(cfg, sz.ms)
			}
			if run.err != nil {
				if k == "perf" {
					cfg.failHarness("profiles, perf, round %d: %v", r+1, run.err)
				} else {
					progress("profiles, perfprof, round %d failed: %v", r+1, run.err)
				}
			}
			p.cpu[k] = append(p.cpu[k], run)
		}
		progress("sampling: profiles CPU round %d/%d done in %.1f s", r+1, sz.cpuRounds, time.Since(t0).Seconds())
	}
	progress("sampling: profiles, perfprof peak RSS on forktree %s and %s, %d rounds", strings.Join(sz.trees[0], " "),
		strings.Join(sz.trees[1], " "), sz.rssRounds)
	keys := profRSSKeys()
	for r := 0; r < sz.rssRounds; r++ {
		for i := range keys {
			k := keys[(i+r)%len(keys)]
			run := profRSS(cfg, sz.trees[k.tree], k.pprof)
			if run.err != nil {
				progress("profiles, forktree %s pprof=%v, round %d failed: %v", strings.Join(sz.trees[k.tree], " "), k.pprof, r+1, run.err)
			}
			p.rss[k] = append(p.rss[k], run)
		}
	}
	return p
}

func profRSSKeys() []profRSSKey {
	return []profRSSKey{{0, true}, {1, true}, {0, false}, {1, false}}
}

// wrapCPU reads cpuwrap's line: the CPU of the workload and of cpuwrap.
func wrapCPU(stderr string) (float64, error) {
	w := cpuwrapRe.FindStringSubmatch(stderr)
	if w == nil {
		return 0, fmt.Errorf("no CPUWRAP line: %s", tail(stderr, 300))
	}
	self, _ := strconv.ParseFloat(w[1], 64)
	kids, _ := strconv.ParseFloat(w[2], 64)
	return (self + kids) / 1000, nil
}

// profPerfprof runs perfprof -F 999 -g -e task-clock --pprof FILE -o
// REPORT on cpuwrap hotfuncs MS: its own CPU is its rusage minus what
// cpuwrap reports; the samples come from the report's summary.
func profPerfprof(cfg *config, ms int) *profCPURun {
	pb := filepath.Join(cfg.benchDir, "profiles.pb.gz")
	rep := filepath.Join(cfg.benchDir, "profiles-report.txt")
	defer os.Remove(pb)
	defer os.Remove(rep)
	argv := []string{cfg.perfprof, "-F", profFreq, "-g", "-e", events1, "--pprof", pb, "-o", rep,
		"--", cfg.bin("cpuwrap"), cfg.script("hotfuncs"), strconv.Itoa(ms)}
	work, own, err := runWrapped(cfg, argv)
	if err != nil {
		return &profCPURun{err: err}
	}
	run := &profCPURun{workMs: work, cpuMs: own}
	if st, err := os.Stat(pb); err != nil || st.Size() == 0 {
		run.err = fmt.Errorf("no pprof profile written: %v", err)
		return run
	}
	f, err := os.Open(rep)
	if err != nil {
		run.err = err
		return run
	}
	defer f.Close()
	run.samples, run.lost, run.selfMs, run.err = parsePerfprofSummary(f)
	return run
}

// parsePerfprofSummary reads the samples, lost and perfprof's own CPU
// from the summary of a text report.
func parsePerfprofSummary(r io.Reader) (samples, lost int64, cpuMs float64, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	found := false
	for sc.Scan() {
		s := sc.Text()
		if m := ppCPURe.FindStringSubmatch(s); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			cpuMs = v * 1000
		}
		if m := ppSampleRe.FindStringSubmatch(s); m != nil {
			samples, _ = strconv.ParseInt(m[1], 10, 64)
			lost, _ = strconv.ParseInt(m[2], 10, 64)
			found = true
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, 0, err
	}
	if !found {
		return 0, 0, 0, fmt.Errorf("no \"N samples, M lost\" line in the report")
	}
	if samples == 0 {
		return 0, lost, cpuMs, fmt.Errorf("0 samples")
	}
	return samples, lost, cpuMs, nil
}

// profPerf runs perf record -g on cpuwrap hotfuncs MS, then perf report
// --stdio on its file (output discarded), and reads the samples with perf
// report --stats (not timed).
func profPerf(cfg *config, ms int) *profCPURun {
	data := filepath.Join(cfg.benchDir, "profiles-perf.data")
	defer os.Remove(data)
	defer os.Remove(data + ".old")
	argv := []string{cfg.perf, "record", "-q", "-F", profFreq, "-g", "-e", events1, "-o", data,
		"--", cfg.bin("cpuwrap"), cfg.script("hotfuncs"), strconv.Itoa(ms)}
	work, own, err := runWrapped(cfg, argv)
	if err != nil {
		return &profCPURun{err: err}
	}
	run := &profCPURun{workMs: work, recordMs: own}
	rres := runCmd([]string{cfg.perf, "report", "-i", data, "--stdio", "--sort", "comm,pid,sym"}, cfg.timeout, nil)
	if rres.err != nil {
		run.err = rres.err
		return run
	}
	run.reportMs = float64(rres.cpu.Microseconds()) / 1000
	run.cpuMs = run.recordMs + run.reportMs
	var stats bytes.Buffer
	if st := runCmd([]string{cfg.perf, "report", "-i", data, "--stats"}, cfg.timeout, &stats); st.err != nil {
		run.err = st.err
		return run
	}
	run.samples, run.lost, run.err = parsePerfStats(stats.String(), events1)
	if run.err == nil && run.samples == 0 {
		run.err = fmt.Errorf("perf recorded 0 samples")
	}
	return run
}

// profRSS runs perfprof -F 999 -g -e task-clock [--pprof FILE] -o
// /dev/null on forktree ARGS, reading its /proc/PID/status every 10 ms
// until it ends: VmHWM only grows, so the last read is its peak (up to
// that read). The rusage maxrss is kept as a cross-check: it is the
// larger of perfprof's peak and that of the largest process it reaped
// (forktree's processes are far smaller than perfprof).
func profRSS(cfg *config, tree []string, pprof bool) *profRSSRun {
	argv := []string{cfg.perfprof, "-F", profFreq, "-g", "-e", events1}
	if pprof {
		pb := filepath.Join(cfg.benchDir, "profiles-tree.pb.gz")
		defer os.Remove(pb)
		argv = append(argv, "--pprof", pb)
	}
	argv = append(argv, "-o", "/dev/null", "--", cfg.script("forktree"))
	argv = append(argv, tree...)
	return pollHWM(argv, cfg.timeout)
}

// pollHWM runs argv with stdout and stderr discarded but for stderr's
// tail, polling its VmHWM until it ends.
func pollHWM(argv []string, timeout time.Duration) *profRSSRun {
	run := &profRSSRun{}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr bytes.Buffer // read only after Wait
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		run.err = fmt.Errorf("start %s: %v", argv[0], err)
		return run
	}
	pid := cmd.Process.Pid
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	tick := time.NewTicker(profPollEvery)
	defer tick.Stop()
	var werr error
	timedOut := false
poll:
	for {
		select {
		case werr = <-done:
			break poll
		case <-timer.C:
			timedOut = true
			syscall.Kill(-pid, syscall.SIGKILL)
			werr = <-done
			break poll
		case <-tick.C:
			if hwm, _, _, err := readHWM(pid); err == nil && hwm >= run.hwmKB {
				run.hwmKB = hwm
				run.reads++
			}
		}
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru != nil {
		run.maxrssKB = int(ru.Maxrss)
	}
	errText := stderr.String()
	switch {
	case timedOut:
		run.err = fmt.Errorf("timed out after %v", timeout)
	case werr != nil:
		run.err = fmt.Errorf("%v; stderr: %s", werr, tail(errText, 300))
	case run.hwmKB == 0:
		run.err = fmt.Errorf("no VmHWM read before perfprof ended")
	}
	return run
}

// ---- report ----

// okCPU returns the runs of k that succeeded.
func (p *profilesResult) okCPU(k string) []*profCPURun {
	var out []*profCPURun
	for _, run := range p.cpu[k] {
		if run != nil && run.err == nil {
			out = append(out, run)
		}
	}
	return out
}

func (p *profilesResult) medCPU(k string, f func(*profCPURun) float64) float64 {
	var xs []float64
	for _, run := range p.okCPU(k) {
		xs = append(xs, f(run))
	}
	return median(xs)
}

// medRSS returns the median VmHWM and rusage maxrss, in kB, of the
// successful runs of k, and how many there were.
func (p *profilesResult) medRSS(k profRSSKey) (hwm, maxrss float64, n int) {
	var hs, ms []float64
	for _, run := range p.rss[k] {
		if run != nil && run.err == nil {
			hs = append(hs, float64(run.hwmKB))
			ms = append(ms, float64(run.maxrssKB))
		}
	}
	return median(hs), median(ms), len(hs)
}

// samplingProfiles prints the profiles part and adds its checks.
func (r *report) samplingProfiles(p *profilesResult) {
	if p == nil {
		return
	}
	sz := p.sizes
	rounds := 0
	for _, runs := range p.cpu {
		rounds = max(rounds, len(runs))
	}
	r.p("Profiles, CPU per sample: hotfuncs %d (two children and the parent each burn %d ms in a function of their own)", sz.ms, sz.ms)
	r.p("under cpuwrap; perfprof -F %s -g -e %s --pprof FILE -o REPORT against perf record -q -F %s -g -e %s -o DATA then", profFreq, events1, profFreq, events1)
	r.p("perf report -i DATA --stdio --sort comm,pid,sym > /dev/null; %d rounds, the order rotated each round; medians.", rounds)
	r.p("CPU = perfprof's and perf record's rusage minus their workload's (cpuwrap reports it), plus perf report's whole")
	r.p("rusage; samples = perfprof's summary line, perf report --stats's SAMPLE events.")
	r.p("")
	r.p("%-32s %9s %7s %10s %9s %11s", "tool", "samples", "lost", "workload", "CPU ms", "µs/sample")
	r.p("%s", strings.Repeat("-", 84))
	for _, t := range profCPUTools {
		runs := p.okCPU(t.key)
		if len(runs) == 0 {
			if all := p.cpu[t.key]; len(all) > 0 && all[0] != nil && all[0].err != nil {
				r.p("%-32s error: %s", t.label, firstLine(all[0].err.Error()))
			}
			continue
		}
		r.p("%-32s %9s %7s %10s %9s %11s", t.label,
			fmtF(p.medCPU(t.key, func(x *profCPURun) float64 { return float64(x.samples) }), 0),
			fmtF(p.medCPU(t.key, func(x *profCPURun) float64 { return float64(x.lost) }), 0),
			fmtF(p.medCPU(t.key, func(x *profCPURun) float64 { return x.workMs }), 0),
			fmtF(p.medCPU(t.key, func(x *profCPURun) float64 { return x.cpuMs }), 1),
			fmtF(p.medCPU(t.key, (*profCPURun).cpuPerSample), 1))
	}
	if len(p.okCPU("perf")) > 0 {
		r.p("  perf: record %s ms + report %s ms (medians)", fmtF(p.medCPU("perf", func(x *profCPURun) float64 { return x.recordMs }), 1),
			fmtF(p.medCPU("perf", func(x *profCPURun) float64 { return x.reportMs }), 1))
	}
	if len(p.okCPU("pp")) > 0 {
		r.p("  perfprof's own figure (\"perfprof used X s CPU\"): %s ms (median)", fmtF(p.medCPU("pp", func(x *profCPURun) float64 { return x.selfMs }), 0))
	}
	for i := 0; i < rounds; i++ {
		var parts []string
		for _, t := range profCPUTools {
			if i >= len(p.cpu[t.key]) || p.cpu[t.key][i] == nil {
				continue
			}
			x := p.cpu[t.key][i]
			if x.err != nil {
				parts = append(parts, t.key+" error")
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %d samples %.1f ms %.1f µs/sample", t.key, x.samples, x.cpuMs, x.cpuPerSample()))
		}
		r.p("  round %d: %s", i+1, strings.Join(parts, "; "))
	}
	ppRuns, perfRuns := p.okCPU("pp"), p.okCPU("perf")
	cpuName := fmt.Sprintf("profiles hotfuncs %d: perfprof -g --pprof CPU/sample vs perf's", sz.ms)
	cpuTgt := fmt.Sprintf("<= %.2f x (record + report)", profCPUTarget)
	switch {
	case len(ppRuns) == 0:
		first := "no run"
		if all := p.cpu["pp"]; len(all) > 0 && all[0] != nil && all[0].err != nil {
			first = firstLine(all[0].err.Error())
		}
		r.check(cpuName, "error: "+first, cpuTgt, false)
	case len(perfRuns) == 0:
		r.cfg.notes = append(r.cfg.notes, "profiles: no perf record run: the CPU per sample comparison is left out")
	default:
		ppPer := p.medCPU("pp", (*profCPURun).cpuPerSample)
		perfPer := p.medCPU("perf", (*profCPURun).cpuPerSample)
		ratio := ppPer / perfPer
		var rr []float64
		for i, a := range p.cpu["pp"] {
			if i < len(p.cpu["perf"]) {
				if b := p.cpu["perf"][i]; a != nil && a.err == nil && b != nil && b.err == nil {
					rr = append(rr, a.cpuPerSample()/b.cpuPerSample())
				}
			}
		}
		ok := ratio <= profCPUTarget
		r.p("  CPU per sample: perfprof %s µs, perf record + perf report %s µs: ratio %s [%s], target <= %.2f: %s",
			fmtF(ppPer, 1), fmtF(perfPer, 1), fmtF(ratio, 2), fmtF(median(rr), 2), profCPUTarget, verdict(ok))
		r.check(cpuName, fmt.Sprintf("%s [%s]: %s vs %s µs/sample", fmtF(ratio, 2), fmtF(median(rr), 2), fmtF(ppPer, 1), fmtF(perfPer, 1)), cpuTgt, ok)
	}
	r.p("")

	small, large := strings.Join(sz.trees[0], " "), strings.Join(sz.trees[1], " ")
	r.p("Profiles, symbol tables: perfprof -F %s -g -e %s [--pprof FILE] -o /dev/null -- forktree %s (%d processes) and", profFreq, events1, small, sz.procs[0])
	r.p("forktree %s (%d processes), all of one binary; perfprof's VmHWM read every %v until it ends (the last read is", large, sz.procs[1], profPollEvery)
	r.p("its peak), rusage maxrss beside it as a cross-check; %d round(s), the order rotated each round; medians.", sz.rssRounds)
	r.p("")
	r.p("%-10s %14s %14s %12s   %s", "", fmt.Sprintf("%d procs", sz.procs[0]), fmt.Sprintf("%d procs", sz.procs[1]), "growth", "(VmHWM MB; rusage maxrss MB in brackets)")
	r.p("%s", strings.Repeat("-", 84))
	var growth [2]float64
	var okRuns [2]bool
	for i, pp := range []bool{true, false} {
		label := "--pprof"
		if !pp {
			label = "no --pprof"
		}
		h0, m0, n0 := p.medRSS(profRSSKey{0, pp})
		h1, m1, n1 := p.medRSS(profRSSKey{1, pp})
		okRuns[i] = n0 > 0 && n1 > 0
		growth[i] = h1 - h0
		r.p("%-10s %6s [%5s] %6s [%5s] %12s", label, fmtF(h0/1024, 1), fmtF(m0/1024, 1), fmtF(h1/1024, 1), fmtF(m1/1024, 1), fmtF(growth[i]/1024, 1))
		for _, k := range []profRSSKey{{0, pp}, {1, pp}} {
			for j, run := range p.rss[k] {
				if run != nil && run.err != nil {
					r.p("  forktree %s %s, round %d: error: %s", strings.Join(sz.trees[k.tree], " "), label, j+1, firstLine(run.err.Error()))
				}
			}
		}
	}
	perK := float64(sz.procs[1]-sz.procs[0]) / 1000
	rssName := fmt.Sprintf("profiles forktree %s vs %s: perfprof RSS growth with --pprof", small, large)
	rssTgt := fmt.Sprintf("< %d MB per 1,000 processes", profRSSTarget>>10)
	if !okRuns[0] {
		r.check(rssName, "error: no successful run", rssTgt, false)
		r.p("")
		return
	}
	perThousand := growth[0] / perK
	ok := perThousand < profRSSTarget
	r.p("  growth with --pprof: %s MB for %d more processes = %s MB per 1,000, target < %d MB: %s", fmtF(growth[0]/1024, 1),
		sz.procs[1]-sz.procs[0], fmtF(perThousand/1024, 2), profRSSTarget>>10, verdict(ok))
	if okRuns[1] {
		r.p("  of which due to profiles (growth with --pprof - growth without): %s MB; growth without --pprof %s MB",
			fmtF((growth[0]-growth[1])/1024, 1), fmtF(growth[1]/1024, 1))
	}
	val := fmt.Sprintf("%s MB per 1,000 (%s -> %s MB VmHWM)", fmtF(perThousand/1024, 2), fmtF(p.firstMed(0)/1024, 1), fmtF(p.firstMed(1)/1024, 1))
	if okRuns[1] {
		val += fmt.Sprintf("; profiles' part %s MB", fmtF((growth[0]-growth[1])/1024, 1))
	}
	r.check(rssName, val, rssTgt, ok)
	r.p("")
}

// firstMed returns the median VmHWM of tree t with --pprof.
func (p *profilesResult) firstMed(t int) float64 {
	h, _, _ := p.medRSS(profRSSKey{t, true})
	return h
}

// runWrapped runs argv, a tool running its workload under cpuwrap, and
// returns the workload's CPU (cpuwrap's report) and the tool's own: its
// rusage, which includes the workload it reaped, less the workload's; in
// ms.
func runWrapped(cfg *config, argv []string) (workMs, ownMs float64, err error) {
	res := runCmd(argv, cfg.timeout, nil)
	if res.err != nil {
		return 0, 0, res.err
	}
	if workMs, err = wrapCPU(res.stderr); err != nil {
		return 0, 0, err
	}
	return workMs, float64(res.cpu.Microseconds())/1000 - workMs, nil
}
