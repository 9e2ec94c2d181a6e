package metrics

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/perfprof/perfprof/internal/testenv"
	"github.com/perfprof/perfprof/report"
	"github.com/perfprof/perfprof/runstats"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The tests use client_golang, which perfprof served its metrics with
// before: its process and Go collectors are the reference for the
// process_* and go_* families, its parser and linter check the page. The
// perfprof binary does not link it.

// parse parses a page with Prometheus's own text parser, or fails t.
func parse(t *testing.T, page string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatalf("the page does not parse: %v\n%s", err, page)
	}
	return fams
}

// lint fails t if page does not parse, or if promlint finds fault with
// it (as testutil.CollectAndLint did of the collector).
func lint(t *testing.T, page string) {
	t.Helper()
	parse(t, page)
	problems, err := promlint.New(strings.NewReader(page)).Lint()
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// reference returns the page client_golang's process and Go collectors
// (with their defaults, as perfprof registered them) write now.
func reference(t *testing.T) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// shape is a page's lines without their values: HELP and TYPE lines, and
// each sample's name and labels.
func shape(page string) []string {
	var out []string
	for line := range strings.Lines(page) {
		line = strings.TrimSuffix(line, "\n")
		if !strings.HasPrefix(line, "#") {
			line = line[:strings.LastIndexByte(line, ' ')]
		}
		out = append(out, line)
	}
	return out
}

// TestRuntimeFamilies: the process_* and go_* families are those of
// client_golang's process and Go collectors: the same names, help texts,
// types, labels and order, and the same values where they do not move
// between two reads.
func TestRuntimeFamilies(t *testing.T) {
	c := New(Options{Snapshot: func() []report.SnapshotRow { return nil }})
	ours, ref := string(c.AppendText(nil)), reference(t)
	if a, b := shape(ours), shape(ref); !slices.Equal(a, b) {
		t.Errorf("the page's lines:\n%s\nclient_golang's:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	got, want := parse(t, ours), parse(t, ref)
	for _, name := range []string{"go_info", "go_gc_gogc_percent", "go_gc_gomemlimit_bytes", "go_sched_gomaxprocs_threads",
		"process_max_fds", "process_virtual_memory_max_bytes", "process_start_time_seconds"} {
		g, w := got[name], want[name]
		if g == nil || w == nil || len(g.Metric) != 1 || len(w.Metric) != 1 {
			t.Errorf("%s: %v; client_golang: %v", name, g, w)
			continue
		}
		if gv, wv := g.Metric[0].GetGauge().GetValue(), w.Metric[0].GetGauge().GetValue(); gv != wv {
			t.Errorf("%s = %v, client_golang: %v", name, gv, wv)
		}
	}
	// The moving ones are at least plausible.
	for _, name := range []string{"process_resident_memory_bytes", "process_open_fds", "go_goroutines", "go_threads", "go_memstats_sys_bytes"} {
		if m := got[name]; m == nil || m.Metric[0].GetGauge().GetValue() <= 0 {
			t.Errorf("%s: %v, want a positive value", name, m)
		}
	}
	lint(t, ours)
}

// TestPromtool: Prometheus's promtool finds nothing wrong with a page of
// a sampling run with per-process series.
func TestPromtool(t *testing.T) {
	bin := testenv.Tool(t, "promtool")
	rows := []report.SnapshotRow{row(10, "nginx", true, 2e9, 5), row(12, "sh", false, 5e8, 2)}
	c := New(Options{Events: specs(t, "task-clock,page-faults"), PerPID: true,
		Snapshot: func() []report.SnapshotRow { return rows },
		Run:      func() runstats.Run { return runstats.Run{Samples: runstats.Samples{Sampling: true, Written: 5}} }})
	cmd := exec.Command(bin, "check", "metrics")
	cmd.Stdin = bytes.NewReader(c.AppendText(nil))
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
