package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// The inherit section (4d): perfprof --follow inherit against perf's own
// tools, which follow by inheritance too, on the same workloads, in
// interleaved rounds: counting against perf stat -e task-clock, sampling
// at -F samplingFreq against perf record.

// inheritTools are the section's tools beyond bare and the ptrace
// follower's pp1 and pps (main.go).
var inheritTools = []tool{
	{"ppi1", "perfprof --follow inherit -e " + events1, func(c *config, w []string) []string {
		return append([]string{c.perfprof, "--follow", "inherit", "-o", "/dev/null", "-e", events1, "--"}, w...)
	}},
	// With -i, the pulse: live counts for the interval reports.
	{"ppii", "perfprof --follow inherit -i 1000 -e " + events1, func(c *config, w []string) []string {
		return append([]string{c.perfprof, "--follow", "inherit", "-i", "1000", "-o", "/dev/null", "-e", events1, "--"}, w...)
	}},
	{"ppis", "perfprof --follow inherit -F " + samplingFreq + " -e " + events1, func(c *config, w []string) []string {
		return append([]string{c.perfprof, "--follow", "inherit", "-o", "/dev/null", "-F", samplingFreq, "-e", events1, "--"}, w...)
	}},
	{"pstat1", "perf stat -e " + events1, func(c *config, w []string) []string {
		if c.perf == "" {
			return nil
		}
		return append([]string{c.perf, "stat", "-o", "/dev/null", "-e", events1, "--"}, w...)
	}},
	{"precord", "perf record -F " + samplingFreq + " -e " + events1, func(c *config, w []string) []string {
		if c.perf == "" {
			return nil
		}
		data := filepath.Join(os.TempDir(), "benchtab-perf.data")
		return append([]string{c.perf, "record", "-q", "-o", data, "-F", samplingFreq, "-e", events1, "--"}, w...)
	}},
}

func init() { tools = append(tools, inheritTools...) }

// Targets of the section (issue 18): counting adds at most 2% of the bare
// time per operation beyond perf stat's; sampling adds at most 1.1 times
// what perf record adds.
const (
	inheritCountTarget  = 0.02
	inheritSampleTarget = 1.1
)

// runInherit runs the section's rounds.
func runInherit(cfg *config) []*workload {
	sizes := [][]string{{"forkloop", "1000"}, {"threadloop", "2000"}, {"spawnloop", "300"}, {"fanout", "8", "100"}}
	if cfg.quick {
		sizes = [][]string{{"forkloop", "300"}, {"threadloop", "600"}, {"spawnloop", "100"}, {"fanout", "8", "30"}}
	}
	var wls []*workload
	for _, a := range sizes {
		wls = append(wls, &workload{label: strings.Join(a, " "), args: a,
			tools: []string{"bare", "pstat1", "pp1", "ppi1", "ppii", "precord", "pps", "ppis"},
			vals:  map[string][]float64{}, errs: map[string][]string{}})
	}
	progress("inherit: %d rounds of bare, perf stat, perfprof (ptrace, inherit), perf record, perfprof -F (ptrace, inherit)", cfg.rounds)
	runRounds(cfg, wls)
	return wls
}

// inherit prints the section and adds its checks.
func (r *report) inherit(wls []*workload) {
	r.p("4d. The inherit follower: perfprof --follow inherit beside perf stat and perf record (which inherit too)")
	r.p("")
	r.p("µs/op added over bare (median of per-round tool - bare), %d interleaved rounds. count: -e %s; sample: -F %s -e %s.", r.cfg.rounds, events1, samplingFreq, events1)
	r.p("Targets: inherit counting within %.0f%% of bare beyond perf stat's; inherit sampling <= %.1fx perf record's added.", inheritCountTarget*100, inheritSampleTarget)
	r.p("")
	r.p("%-16s %8s | %8s %8s %8s %8s | %8s %8s %8s | %s", "workload", "bare", "perfstat", "ptrace", "inherit", "inh -i", "record", "ptrace-F", "inherit-F", "verdicts")
	r.p("%-16s %8s | %8s %8s %8s %8s | %8s %8s %8s |", "", "µs/op", "+µs/op", "+µs/op", "+µs/op", "+µs/op", "+µs/op", "+µs/op", "+µs/op")
	r.p("%s", strings.Repeat("-", 120))
	for _, w := range wls {
		bare, _ := w.addedOverBare("bare")
		add := map[string]float64{}
		for _, k := range []string{"pstat1", "pp1", "ppi1", "ppii", "precord", "pps", "ppis"} {
			_, add[k] = w.addedOverBare(k)
		}
		countShare := (add["ppi1"] - add["pstat1"]) / bare
		countOK := countShare <= inheritCountTarget && len(w.errs["ppi1"]) == 0
		sampleRatio := add["ppis"] / add["precord"]
		sampleOK := (sampleRatio <= inheritSampleTarget || add["ppis"] <= 0) && len(w.errs["ppis"]) == 0
		if add["precord"] <= 0 {
			sampleRatio, sampleOK = math.NaN(), false // perf record added nothing measurable: no ratio
		}
		if math.IsNaN(add["pstat1"]) || math.IsNaN(add["precord"]) {
			countOK, sampleOK = false, false // perf is needed for the comparison
		}
		r.p("%-16s %8s | %8s %8s %8s %8s | %8s %8s %8s | count %+.1f%% %s, sample %.2fx %s", w.label, fmtF(bare, 1),
			fmtF(add["pstat1"], 1), fmtF(add["pp1"], 1), fmtF(add["ppi1"], 1), fmtF(add["ppii"], 1),
			fmtF(add["precord"], 1), fmtF(add["pps"], 1), fmtF(add["ppis"], 1),
			countShare*100, verdict(countOK), sampleRatio, verdict(sampleOK))
		r.check(w.label+", inherit counting beyond perf stat", fmt.Sprintf("%+.1f%% of bare", countShare*100),
			fmt.Sprintf("<= %.0f%%", inheritCountTarget*100), countOK)
		r.check(w.label+", inherit sampling / perf record (added)", fmt.Sprintf("%.2fx", sampleRatio),
			fmt.Sprintf("<= %.1fx", inheritSampleTarget), sampleOK)
		for _, k := range []string{"ppi1", "ppis"} {
			for _, e := range w.errs[k] {
				r.p("    %s error: %s", k, e)
			}
		}
	}
	r.p("")
}
