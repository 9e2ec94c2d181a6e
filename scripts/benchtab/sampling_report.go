package main

import (
	"fmt"
	"math"
	"os"
	"strings"
)

// sampling prints the sampling section (4c) and adds its checks.
func (r *report) sampling(res *samplingResult) {
	r.p("4c. Sampling: perfprof -F / -c, one ring per task")
	r.p("")
	r.samplingFollow(res.follow)
	r.samplingDrain(res.drain)
	r.samplingIdle(res.idle)
	r.samplingLive(res.live, res.sizes)
	r.samplingProfiles(res.prof)
}

// samplingFollow prints the following cost with rings: sampling's added
// µs/op against counting's, same run, interleaved rounds.
func (r *report) samplingFollow(wls []*workload) {
	r.p("Following cost with rings: µs/op added over bare by counting (perfprof -o /dev/null -e %s) and by sampling", events1)
	r.p("(perfprof -F %s -e %s -o /dev/null); %d interleaved rounds, the order rotated each round; added = median of", samplingFreq, events1, r.cfg.rounds)
	r.p("per-round (tool - bare); ratio = median(sampling added) / median(counting added); [r] = median of per-round ratios.")
	r.p("")
	r.p("%-18s %9s %9s %9s %9s %9s | %12s | %s", "workload", "bare", "count", "sample", "count", "sample", "ratio [r]", "verdict")
	r.p("%-18s %9s %9s %9s %9s %9s | %12s | %s", "", "µs/op", "µs/op", "µs/op", "+µs/op", "+µs/op", "", fmt.Sprintf("(<= %.2f)", samplingTarget))
	r.p("%s", strings.Repeat("-", 100))
	for _, w := range wls {
		bareMed, _ := w.addedOverBare("bare")
		cntMed, cntAdded := w.addedOverBare("pp1")
		smpMed, smpAdded := w.addedOverBare("pps")
		ratio := smpAdded / cntAdded
		rr := median(w.roundRatios("pps", "pp1"))
		ok := ratio <= samplingTarget && len(w.errs["pp1"]) == 0 && len(w.errs["pps"]) == 0
		v := verdict(ok)
		noisy := !resolved(smpAdded, cntAdded)
		if noisy {
			v = "NOISY"
		}
		r.p("%-18s %9s %9s %9s %9s %9s | %5s [%4s] | %s", w.label, fmtF(bareMed, 1), fmtF(cntMed, 1), fmtF(smpMed, 1),
			fmtAdded(cntAdded), fmtAdded(smpAdded), fmtF(ratio, 2), fmtF(rr, 2), v)
		name := w.label + ", sampling added / counting added"
		val := fmt.Sprintf("%s [%s] (%s vs %s µs/op)", fmtF(ratio, 2), fmtF(rr, 2), fmtAdded(smpAdded), fmtAdded(cntAdded))
		for _, k := range []string{"pp1", "pps"} {
			if n := len(w.errs[k]); n > 0 {
				val += fmt.Sprintf(" (%s: %d runs failed: %s)", k, n, firstLine(w.errs[k][0]))
			}
		}
		tgt := fmt.Sprintf("<= %.2f", samplingTarget)
		if noisy {
			r.checks = append(r.checks, check{name: name, value: val + " (added cost <= 0: noise)", target: tgt, noisy: true})
		} else {
			r.check(name, val, tgt, ok)
		}
	}
	r.p("")
	r.p("Context: the same with page-faults, counted (perfprof -e page-faults) and sampled with a period never reached")
	r.p("(-c %s): sampling adds the ring (mmap, munmap, the owner's work) and no timer. A sampling task-clock arms an", samplingNever)
	r.p("hrtimer at every switch-in of its task, which counting does not: a VM exit per timer programmed, here.")
	for _, w := range wls {
		_, cntAdded := w.addedOverBare("ppcf")
		_, smpAdded := w.addedOverBare("ppsf")
		r.p("  %-18s count %s, sample %s µs/op added: ratio %s [%s]", w.label, fmtAdded(cntAdded), fmtAdded(smpAdded),
			fmtF(smpAdded/cntAdded, 2), fmtF(median(w.roundRatios("ppsf", "ppcf")), 2))
	}
	r.p("")
	r.p("Raw: median µs/op [25th-75th percentile]")
	for _, w := range wls {
		var parts []string
		for _, k := range w.tools {
			v := nonNaN(w.vals[k])
			if len(v) == 0 {
				parts = append(parts, k+" n/a")
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %.1f [%.1f-%.1f]", map[string]string{"bare": "bare", "pp1": "count", "pps": "sample", "ppcf": "count-pf", "ppsf": "sample-pf"}[k],
				median(v), quantile(v, 0.25), quantile(v, 0.75)))
		}
		r.p("  %-18s %s", w.label, strings.Join(parts, ", "))
	}
	r.p("")
}

// addedOverBare returns the median µs/op of tool k over the rounds it ran,
// and the median of its per-round added cost over bare (w.stats needs the
// reference follower, which the sampling rounds do not run).
func (w *workload) addedOverBare(k string) (med, added float64) {
	var all, add []float64
	for r, v := range w.vals[k] {
		if math.IsNaN(v) {
			continue
		}
		all = append(all, v)
		if b := w.vals["bare"][r]; !math.IsNaN(b) {
			add = append(add, v-b)
		}
	}
	return median(all), median(add)
}

// okRuns returns the runs of k that succeeded.
func (d *drainResult) okRuns(k string) []*drainRun {
	var out []*drainRun
	for _, run := range d.runs[k] {
		if run != nil && run.err == nil {
			out = append(out, run)
		}
	}
	return out
}

// med returns the median of f over the successful runs of k.
func (d *drainResult) med(k string, f func(*drainRun) float64) float64 {
	var xs []float64
	for _, run := range d.okRuns(k) {
		xs = append(xs, f(run))
	}
	return median(xs)
}

// samplingDrain prints the drain's table, its per-round figures and its
// three checks: exact accounting, lost records, CPU per sample.
func (r *report) samplingDrain(d *drainResult) {
	rounds := 0
	for _, runs := range d.runs {
		rounds = max(rounds, len(runs))
	}
	r.p("Draining: faultpages %d (one page fault per page, counted by the workload itself), every fault sampled", d.pages)
	r.p("(-c 1 -e page-faults), rings of %d data pages (-m %d) for perfprof and perf record alike; %d rounds, the order", d.ringPages, d.ringPages, rounds)
	r.p("rotated each round; medians. CPU = the tool's own user+system: perfprof's and perf record's rusage minus their")
	r.p("workload's (it runs under cpuwrap, which reports it), and perf script's whole rusage (output to /dev/null).")
	r.p("")
	r.p("%-40s %9s %9s %8s %10s %10s %9s %9s", "tool", "µs/fault", "samples", "lost", "smp+lost", "count", "CPU ms", "µs/sample")
	r.p("%s", strings.Repeat("-", 112))
	for _, t := range drainTools {
		runs := d.okRuns(t.key)
		if len(runs) == 0 {
			if all := d.runs[t.key]; len(all) > 0 && all[0] != nil && all[0].err != nil {
				r.p("%-40s error: %s", t.label, firstLine(all[0].err.Error()))
			}
			continue
		}
		us := d.med(t.key, func(x *drainRun) float64 { return x.usPerFault })
		if t.key == "bare" {
			r.p("%-40s %9s", t.label, fmtF(us, 2))
			continue
		}
		smp := d.med(t.key, func(x *drainRun) float64 { return float64(x.samples) })
		lost := d.med(t.key, func(x *drainRun) float64 { return float64(x.lost) })
		sl := d.med(t.key, func(x *drainRun) float64 { return float64(x.samples + x.lost) })
		cnt := "n/a"
		if t.key != "perf" {
			cnt = fmtF(d.med(t.key, func(x *drainRun) float64 { return float64(x.count) }), 0)
		}
		cpu := d.med(t.key, func(x *drainRun) float64 { return x.cpuMs })
		per := d.med(t.key, (*drainRun).cpuPerSample)
		r.p("%-40s %9s %9s %8s %10s %10s %9s %9s", t.label, fmtF(us, 2), fmtF(smp, 0), fmtF(lost, 0), fmtF(sl, 0), cnt, fmtF(cpu, 0), fmtF(per, 2))
	}
	if runs := d.okRuns("perf"); len(runs) > 0 {
		r.p("  perf: record %s ms + script %s ms (medians)", fmtF(d.med("perf", func(x *drainRun) float64 { return x.recordMs }), 0),
			fmtF(d.med("perf", func(x *drainRun) float64 { return x.scriptMs }), 0))
	}
	if runs := d.okRuns("pp"); len(runs) > 0 {
		r.p("  perfprof's own figure (\"perfprof used X s CPU\"): %s ms; the workload's loop counted %s faults itself",
			fmtF(d.med("pp", func(x *drainRun) float64 { return x.selfMs }), 0),
			fmtF(d.med("pp", func(x *drainRun) float64 { return float64(x.loop) }), 0))
	}
	r.p("")
	r.p("Per round (perfprof: samples + lost = count, sample lines; count - loop = the process's faults outside its loop):")
	for i := 0; i < rounds; i++ {
		var parts []string
		for _, k := range []string{"pp", "perf", "ppwm"} {
			if i >= len(d.runs[k]) || d.runs[k][i] == nil {
				continue
			}
			x := d.runs[k][i]
			if x.err != nil {
				parts = append(parts, fmt.Sprintf("%s error", k))
				continue
			}
			s := fmt.Sprintf("%s %d+%d=%d", k, x.samples, x.lost, x.samples+x.lost)
			if k != "perf" {
				s += fmt.Sprintf(" count %d lines %d (count-loop %+d)", x.count, x.lines, x.count-x.loop)
			} else {
				s += fmt.Sprintf(" (-loop %+d)", x.samples+x.lost-x.loop)
			}
			s += fmt.Sprintf(" %.0f ms", x.cpuMs)
			parts = append(parts, s)
		}
		r.p("  round %d: %s", i+1, strings.Join(parts, "; "))
	}
	r.p("")

	// (a) exact accounting, every perfprof run.
	pp := d.runs["pp"]
	if len(pp) == 0 {
		return
	}
	bad, failed := 0, 0
	var first string
	for _, x := range pp {
		switch {
		case x.err != nil:
			failed++
			if first == "" {
				first = "run failed: " + firstLine(x.err.Error())
			}
		case x.samples+x.lost != x.count || x.lines != x.samples || x.count < int64(d.pages):
			bad++
			if first == "" {
				first = fmt.Sprintf("%d+%d vs count %d, %d lines", x.samples, x.lost, x.count, x.lines)
			}
		}
		if x.err == nil && x.loop != int64(d.pages) {
			r.cfg.notes = append(r.cfg.notes, fmt.Sprintf("drain: faultpages counted %d faults in its loop of %d pages (-1: its own counter failed)", x.loop, d.pages))
		}
	}
	val := fmt.Sprintf("%d of %d runs exact", len(pp)-bad-failed, len(pp))
	if first != "" {
		val += "; " + first
	}
	r.check(fmt.Sprintf("drain %d: samples + lost = count", d.pages), val, "every run: = count, = lines, count >= pages", bad == 0 && failed == 0)

	ppRuns, perfRuns := d.okRuns("pp"), d.okRuns("perf")
	if len(ppRuns) == 0 || len(perfRuns) == 0 {
		if len(perfRuns) == 0 {
			r.cfg.notes = append(r.cfg.notes, "drain: no perf record run: the lost and CPU comparisons are left out")
		}
		return
	}
	// (b) lost, medians.
	ppLost := d.med("pp", func(x *drainRun) float64 { return float64(x.lost) })
	perfLost := d.med("perf", func(x *drainRun) float64 { return float64(x.lost) })
	r.check(fmt.Sprintf("drain %d: perfprof lost <= perf record's", d.pages),
		fmt.Sprintf("%s vs %s (medians; -m %d)", fmtF(ppLost, 0), fmtF(perfLost, 0), d.ringPages), "<= perf record's", ppLost <= perfLost)
	// (c) CPU per sample.
	ppPer := d.med("pp", (*drainRun).cpuPerSample)
	perfPer := d.med("perf", (*drainRun).cpuPerSample)
	ratio := ppPer / perfPer
	var rr []float64
	for i := range d.runs["pp"] {
		if i < len(d.runs["perf"]) {
			a, b := d.runs["pp"][i], d.runs["perf"][i]
			if a.err == nil && b != nil && b.err == nil {
				rr = append(rr, a.cpuPerSample()/b.cpuPerSample())
			}
		}
	}
	r.check(fmt.Sprintf("drain %d: perfprof CPU/sample vs perf's", d.pages),
		fmt.Sprintf("%s [%s]: %s vs %s µs/sample", fmtF(ratio, 2), fmtF(median(rr), 2), fmtF(ppPer, 2), fmtF(perfPer, 2)),
		fmt.Sprintf("<= %.2f x (record + script)", drainCPUTarget), ratio <= drainCPUTarget)
	r.p("(a) samples + lost = count: %s; (b) lost: perfprof %s, perf record %s; (c) CPU per sample: perfprof %s µs,",
		verdict(bad == 0 && failed == 0), fmtF(ppLost, 0), fmtF(perfLost, 0), fmtF(ppPer, 2))
	r.p("    perf record + perf script %s µs: ratio %s [%s], target <= %.2f: %s", fmtF(perfPer, 2), fmtF(ratio, 2), fmtF(median(rr), 2),
		drainCPUTarget, verdict(ratio <= drainCPUTarget))
	r.p("")
}

// samplingIdle prints the idle sampled target's line and check.
func (r *report) samplingIdle(res *idleResult) {
	name := fmt.Sprintf("sampling idle CPU over %v", res.window)
	tgt := fmt.Sprintf("<= %.0f ms", idleCPUTarget)
	if res.err != nil {
		r.p("Idle: error: %v", res.err)
		r.check(name, "error: "+firstLine(res.err.Error()), tgt, false)
		r.p("")
		return
	}
	ms := float64(res.cpuNs) / 1e6
	ok := ms <= idleCPUTarget && res.exitCode == 0
	r.p("Idle: perfprof -F %s -e %s -p PID on a sleeping process, CPU over %v: %.3f ms (its %d threads' schedstat run",
		samplingFreq, events1, res.window, ms, res.threads)
	r.p("      time; utime+stime ticks: %.0f ms); exit status %d after SIGINT: %s", res.ticksMs, res.exitCode, verdict(ok))
	r.check(name, fmt.Sprintf("%.3f ms, exit status %d", ms, res.exitCode), tgt+", exit 0", ok)
	r.p("")
}

// samplingLive prints the live sampled threads' figures and checks.
func (r *report) samplingLive(l *liveResult, sz samplingSizes) {
	name := fmt.Sprintf("live %d -m %d", l.threads, liveRingPages)
	r.p("Live sampled threads: perfprof -c 1 -e page-faults -m %d --json -o FILE -- holdfaults %d %d (each thread makes 2", liveRingPages, l.threads, sz.liveHold)
	r.p("page faults, then all wait together); perfprof's /proc/PID/status read every 100 ms until it ends.")
	if l.err != nil {
		r.p("error: %v", l.err)
		r.check(name+": run", "error: "+firstLine(l.err.Error()), "runs", false)
		r.p("")
		return
	}
	s := l.summary
	want := l.threads + 1
	ringWant := int64(want) * liveRingPages * int64(os.Getpagesize())
	var samples, ringBytes int64
	var ringFail int
	if s.Samples != nil {
		samples = *s.Samples
	}
	lost, haveLost := s.lost()
	if s.RingBytesMax != nil {
		ringBytes = *s.RingBytesMax
	}
	if s.RingFailures != nil {
		ringFail = *s.RingFailures
	}
	r.p("")
	r.p("  distinct sampled TIDs %d of %d tasks; %d sample records, %d lost; summary: samples %d, lost %d, ring_failures %d,",
		l.tids, want, l.sampleRecs, l.lostRecs, samples, lost, ringFail)
	r.p("  ring_bytes_max %d (%.1f MiB), tasks_followed %d, counter_failures %d; final page-faults total %d", ringBytes, float64(ringBytes)/(1<<20),
		s.TasksFollowed, s.CounterFailures, l.countTotal)
	r.p("  perfprof at ALIVE: VmRSS %.1f MB, %d fds (%d perf); peak VmHWM %.1f MB (RssAnon %.1f MB, RssFile %.1f MB at the last read);",
		float64(l.alive.rssKB)/1024, l.alive.fds, l.alive.perfFDs, float64(l.hwmKB)/1024, float64(l.rssAnonKB)/1024, float64(l.rssFileKB)/1024)
	r.p("  %.1f s in all", l.elapsed.Seconds())
	r.p("")
	r.check(name+": every thread sampled", fmt.Sprintf("%d TIDs in sample records", l.tids), fmt.Sprintf(">= %d", want), l.tids >= want)
	r.check(name+": followed, counted, ringed", fmt.Sprintf("followed %d, counter_failures %d, ring_failures %d", s.TasksFollowed, s.CounterFailures, ringFail),
		fmt.Sprintf("%d, 0, 0", want), s.TasksFollowed == want && s.CounterFailures == 0 && ringFail == 0)
	r.check(name+": samples + lost = count", fmt.Sprintf("%d + %d = %d, count %d; records %d + %d", samples, lost, samples+lost, l.countTotal, l.sampleRecs, l.lostRecs),
		"= count, = records", l.hasSampling && haveLost && samples+lost == l.countTotal && samples == l.sampleRecs && lost == l.lostRecs)
	r.check(name+": perfprof peak RSS", fmt.Sprintf("%.1f MB (VmHWM)", float64(l.hwmKB)/1024), fmt.Sprintf("<= %d MB", liveRSSTarget>>10), l.hwmKB > 0 && l.hwmKB <= liveRSSTarget)
	r.check(name+": ring_bytes_max in summary", fmt.Sprintf("ring_bytes_max %d", ringBytes), fmt.Sprintf("= %d (%d rings x %d page)", ringWant, want, liveRingPages),
		s.RingBytesMax != nil && ringBytes == ringWant)
}
