package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/perfprof/perfprof/internal/testenv"
)

// sample is one JSON sample record.
type sample struct {
	Type      string         `json:"type"`
	Time      int64          `json:"time"`
	PID       int            `json:"pid"`
	TID       int            `json:"tid"`
	Comm      string         `json:"comm"`
	CPU       int            `json:"cpu"`
	Event     string         `json:"event"`
	Period    uint64         `json:"period"`
	IP        string         `json:"ip"`
	Callchain []string       `json:"callchain"`
	Fields    map[string]any `json:"fields"`
	Lost      int64          `json:"lost"`
}

// samplingReport splits a --json sampling report: its samples and lost
// records, and the rest as readReport reads it.
func samplingReport(t *testing.T, path string) (samples []sample, lost int64, rep *report) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rest []string
	for _, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		var s sample
		if err := json.Unmarshal([]byte(l), &s); err != nil {
			t.Fatalf("not JSON (%v): %q", err, l)
		}
		switch s.Type {
		case "sample":
			samples = append(samples, s)
		case "lost":
			lost += s.Lost
			if s.PID == 0 || s.TID == 0 || s.Lost <= 0 {
				t.Errorf("lost record %q: want pid, tid and lost", l)
			}
		default:
			rest = append(rest, l)
		}
	}
	f := path + ".rest"
	os.WriteFile(f, []byte(strings.Join(rest, "\n")+"\n"), 0o644)
	return samples, lost, readReport(t, f)
}

// TestSampleEveryTask: every task of a forking workload is sampled from
// its first instruction, and its samples (with what the kernel lost) add
// up to what its own sampling event counted.
func TestSampleEveryTask(t *testing.T) {
	requires(t)
	t.Parallel()
	checkSampleEveryTask(t)
}

// TestSampleEveryTaskInherit: the same with the inherit follower, whose
// samples come from a ring per CPU.
func TestSampleEveryTaskInherit(t *testing.T) {
	requires(t)
	t.Parallel()
	checkSampleEveryTask(t, "--follow", "inherit")
}

func checkSampleEveryTask(t *testing.T, extra ...string) {
	t.Helper()
	out := reportPath(t)
	p, code := runPP(t, 30*time.Second, append(extra, "--json", "-o", out, "-c", "1", "-e", "page-faults", "--", workload("forktree"), "2", "2", "1", "1")...)
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr())
	}
	samples, lost, rep := samplingReport(t, out)
	perPID := map[int]uint64{}
	for _, s := range samples {
		if s.Event != "page-faults" || s.Period != 1 || s.PID == 0 || s.TID == 0 || !strings.HasPrefix(s.IP, "0x") || s.Comm == "" {
			t.Fatalf("sample %+v", s)
		}
		perPID[s.PID]++
	}
	cs := parseCreated(t, p.out.all())
	if len(cs) == 0 {
		t.Fatal("the workload created nothing")
	}
	var counted uint64
	for _, r := range rep.final {
		n := value(t, r, "page-faults")
		counted += n
		if perPID[r.PID] == 0 {
			t.Errorf("process %d (%s): %d page faults counted, no sample", r.PID, r.Comm, n)
		}
	}
	for _, c := range cs {
		if c.kind == "fork" && perPID[c.tid] == 0 {
			t.Errorf("child %d: no sample", c.tid)
		}
	}
	if got := uint64(len(samples)) + uint64(lost); got != counted {
		t.Errorf("%d samples + %d lost, %d page faults counted by the sampling events", len(samples), lost, counted)
	}
	if s := rep.summary; s.Samples == nil || *s.Samples != int64(len(samples)) {
		t.Errorf("summary samples %v, %d sample records", s.Samples, len(samples))
	}
}

// TestSamplePeriod: -c N samples every N-th event, with period N, on a
// software event and a tracepoint alike (Linux 6.18 samples every event
// of a fixed-period software event or tracepoint whose samples carry
// their period): each task's samples, with what was lost, are its events
// counted / N, rounded down.
func TestSamplePeriod(t *testing.T) {
	requires(t)
	for _, c := range []struct {
		event string
		argv  []string
	}{
		{"page-faults", []string{workload("pagetouch"), "3", "3000"}},
		{"raw_syscalls:sys_enter", []string{"dd", "if=/dev/zero", "of=/dev/null", "bs=1", "count=5000", "status=none"}},
	} {
		ev := c.event
		t.Run(ev, func(t *testing.T) {
			t.Parallel()
			out := reportPath(t)
			p, code := runPP(t, 30*time.Second, append([]string{"--json", "-o", out, "-c", "100", "-e", ev, "--"}, c.argv...)...)
			if code != 0 {
				t.Fatalf("exit status %d\n%s", code, p.stderr())
			}
			samples, lost, rep := samplingReport(t, out)
			for _, s := range samples {
				if s.Period != 100 || s.Event != ev {
					t.Fatalf("sample %+v: want %s, period 100", s, ev)
				}
			}
			// Each task leaves 0 to 99 of its events unsampled.
			var counted, tasks int64
			for _, r := range rep.final {
				counted += int64(value(t, r, ev))
				tasks++
			}
			got := int64(len(samples)) + lost
			if low := (counted - 99*tasks) / 100; got < low || got > counted/100 || got == 0 {
				t.Errorf("%d samples + %d lost, %d events counted in %d processes: want %d to %d",
					len(samples), lost, counted, tasks, max(low, 1), counted/100)
			}
		})
	}
}

// TestSampleLostExact: a one-page ring flooded with samples loses records,
// and says how many, exactly: samples + lost = the events counted.
func TestSampleLostExact(t *testing.T) {
	requires(t)
	t.Parallel()
	out := reportPath(t)
	p, code := runPP(t, 60*time.Second, "--json", "-o", out, "-m", "1", "-c", "1", "-e", "page-faults", "--", workload("pagetouch"), "1", "20000")
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr())
	}
	samples, lost, rep := samplingReport(t, out)
	var counted uint64
	for _, r := range rep.final {
		counted += value(t, r, "page-faults")
	}
	t.Logf("%d samples, %d lost, %d page faults", len(samples), lost, counted)
	if lost == 0 {
		t.Errorf("no record lost with a one-page ring: the test does not test losses")
	}
	if got := uint64(len(samples)) + uint64(lost); got != counted {
		t.Errorf("%d samples + %d lost = %d, %d page faults counted", len(samples), lost, got, counted)
	}
	if s := rep.summary; s.Lost == nil || *s.Lost != lost {
		t.Errorf("summary lost %v, %d in lost records", s.Lost, lost)
	}
	if !strings.Contains(p.stderr(), "lost") {
		t.Errorf("stderr %q: no warning of the losses", p.stderr())
	}
}

// TestSampleExitN: -N 10 prints exactly 10 samples, then stops as
// --duration does: the workload is killed, an attached target is let go,
// running, and nothing is left stopped.
func TestSampleExitN(t *testing.T) {
	requires(t)
	t.Parallel()
	count := func(t *testing.T, path string) int {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), " page-faults: ")
	}
	t.Run("Launch", func(t *testing.T) {
		requires(t)
		t.Parallel()
		out := reportPath(t)
		p, code := runPP(t, 20*time.Second, "-N", "10", "-c", "1", "-e", "page-faults", "-o", out, "--", workload("sigtarget"), "1")
		if code != 137 {
			t.Errorf("exit status %d, want 137 (the workload killed)\n%s", code, p.stderr())
		}
		if n := count(t, out); n != 10 {
			t.Errorf("%d samples printed, want 10", n)
		}
	})
	t.Run("Attach", func(t *testing.T) {
		requires(t)
		t.Parallel()
		tgt, pid := startTarget(t, 1)
		out := reportPath(t)
		p, code := runPP(t, 20*time.Second, "-N", "10", "-c", "1", "-e", "page-faults", "-o", out, "-p", strconv.Itoa(pid))
		if code != 0 {
			t.Errorf("exit status %d, want 0\n%s", code, p.stderr())
		}
		if n := count(t, out); n != 10 {
			t.Errorf("%d samples printed, want 10", n)
		}
		assertNotStopped(t, pid)
		if _, tr := taskState(pid, pid); tr != 0 {
			t.Errorf("target still traced by %d", tr)
		}
		stopTarget(t, tgt)
	})
}

// TestSampleTracepoint: sched:sched_switch samples carry their fields,
// decoded by name: the switching-out task is the sampled one.
func TestSampleTracepoint(t *testing.T) {
	requires(t)
	t.Parallel()
	out := reportPath(t)
	p, code := runPP(t, 20*time.Second, "--json", "-o", out, "-c", "1", "-e", "sched:sched_switch", "--", "sh", "-c", "sleep 0.01; sleep 0.01")
	if code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr())
	}
	samples, _, _ := samplingReport(t, out)
	if len(samples) < 3 {
		t.Fatalf("%d samples, want a switch for each sleep at least", len(samples))
	}
	for _, s := range samples {
		prev, ok1 := s.Fields["prev_pid"].(float64)
		comm, ok2 := s.Fields["prev_comm"].(string)
		if !ok1 || !ok2 || int(prev) != s.TID || comm == "" {
			t.Errorf("sample %+v: want prev_pid = tid and prev_comm a string", s)
		}
		if _, ok := s.Fields["next_pid"].(float64); !ok {
			t.Errorf("sample %+v: no next_pid", s)
		}
	}
}

// TestSampleCallGraph: -g samples carry their call chains.
func TestSampleCallGraph(t *testing.T) {
	requires(t)
	t.Parallel()
	out := reportPath(t)
	if p, code := runPP(t, 20*time.Second, "--json", "-o", out, "-g", "-c", "1", "-e", "page-faults", "--", "/bin/true"); code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr())
	}
	samples, _, _ := samplingReport(t, out)
	if len(samples) == 0 {
		t.Fatal("no sample")
	}
	for _, s := range samples {
		if len(s.Callchain) == 0 || s.Callchain[0] != s.IP {
			t.Errorf("sample %+v: want a call chain that starts at its ip", s)
		}
	}
}

// TestSampleText: text samples in perf script's style, then the counts of
// the sampling events, then the summary with the samples.
func TestSampleText(t *testing.T) {
	requires(t)
	t.Parallel()
	out := reportPath(t)
	if p, code := runPP(t, 20*time.Second, "-o", out, "-F", "999", "-e", "task-clock", "--", workload("pagetouch"), "1", "3000"); code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr())
	}
	b, _ := os.ReadFile(out)
	text := string(b)
	lines := strings.Split(text, "\n")
	n := 0
	for _, l := range lines {
		if !strings.Contains(l, " task-clock: ") {
			continue
		}
		n++
		f := strings.Fields(l)
		// comm pid/tid [cpu] time: period event: ip
		if len(f) != 7 || !strings.Contains(f[1], "/") || !strings.HasPrefix(f[2], "[") || !strings.HasSuffix(f[3], ":") {
			t.Errorf("sample line %q", l)
		}
	}
	if n == 0 || !strings.Contains(text, "Performance counter stats") || !strings.Contains(text, strconv.Itoa(n)+" samples") {
		t.Errorf("%d sample lines; report:\n%s", n, tail(text))
	}
}

// TestSampleOrder: with --order, the samples of concurrent processes come
// in time order, every one of them (samples + lost still equal the events
// counted), and a sample written out of order is one the summary counts.
func TestSampleOrder(t *testing.T) {
	requires(t)
	t.Parallel()
	inversions := func(samples []sample) (n int) {
		for i := 1; i < len(samples); i++ {
			if samples[i].Time < samples[i-1].Time {
				n++
			}
		}
		return n
	}
	run := func(order bool) ([]sample, int64, *report) {
		out := reportPath(t)
		args := []string{"--json", "-o", out, "-c", "1", "-e", "page-faults"}
		if order {
			args = append(args, "--order")
		}
		p, code := runPP(t, 60*time.Second, append(args, "--", workload("pagetouch"), "8", "300")...)
		if code != 0 {
			t.Fatalf("exit status %d\n%s", code, p.stderr())
		}
		return samplingReport(t, out)
	}
	samples, _, _ := run(false)
	t.Logf("without --order: %d samples, %d out of time order", len(samples), inversions(samples))

	samples, lost, rep := run(true)
	pids := map[int]bool{}
	for _, s := range samples {
		pids[s.PID] = true
	}
	if len(pids) < 9 {
		t.Errorf("samples of %d processes, want 9", len(pids))
	}
	late := rep.summary.LateSamples
	if late == nil {
		t.Fatal("the summary has no late_samples with --order")
	}
	if n := inversions(samples); int64(n) > *late {
		t.Errorf("with --order: %d samples out of time order, %d counted late", n, *late)
	}
	var counted uint64
	for _, r := range rep.final {
		counted += value(t, r, "page-faults")
	}
	if got := uint64(len(samples)) + uint64(lost); got != counted {
		t.Errorf("%d samples + %d lost, %d page faults counted", len(samples), lost, counted)
	}
}

// lowMemlock returns the command that runs perfprof args... without
// CAP_IPC_LOCK and with RLIMIT_MEMLOCK at kib KiB: a root perfprof whose
// rings are limited as an unprivileged user's are
// (kernel.perf_event_mlock_kb, then RLIMIT_MEMLOCK).
func lowMemlock(t *testing.T, kib int, args ...string) []string {
	setpriv := testenv.Tool(t, "setpriv")
	prlimit := testenv.Tool(t, "prlimit")
	lim := strconv.Itoa(kib * 1024)
	return append([]string{setpriv, "--bounding-set", "-ipc_lock", "--inh-caps", "-ipc_lock",
		prlimit, "--memlock=" + lim + ":" + lim, ppBin}, args...)
}

// TestSampleRingRefused: when not one ring can be mapped, perfprof says so
// at start in one line, with the numbers and the fixes, and exits 1
// without running the workload or keeping the target; when rings run out
// mid-run, the tasks without one are still followed and counted, the
// summary says how many, and nothing is left stopped.
func TestSampleRingRefused(t *testing.T) {
	requires(t)
	t.Parallel()
	// 1025 pages: more than kernel.perf_event_mlock_kb's default (516 KiB
	// per CPU) on any machine with fewer than 8 CPUs, and beyond it
	// RLIMIT_MEMLOCK is 0.
	if n := runtime.NumCPU(); n >= 8 {
		testenv.Skip(t, "the test's ring must exceed kernel.perf_event_mlock_kb × CPUs; too many CPUs here: "+strconv.Itoa(n))
	}
	checkLine := func(t *testing.T, p *proc) {
		t.Helper()
		lines := stderrLines(p)
		if len(lines) != 1 {
			t.Fatalf("stderr: %d lines, want 1:\n%s", len(lines), p.stderr())
		}
		for _, want := range []string{"-m 1024", "4100 KiB", "perf_event_mlock_kb", "RLIMIT_MEMLOCK 0 KiB", "a smaller -m", "ulimit -l", "sysctl"} {
			if !strings.Contains(lines[0], want) {
				t.Errorf("the error does not say %q: %s", want, lines[0])
			}
		}
	}
	t.Run("LaunchStart", func(t *testing.T) {
		requires(t)
		t.Parallel()
		ran := filepath.Join(t.TempDir(), "ran")
		p := start(t, lowMemlock(t, 0, "-m", "1024", "-c", "1", "-e", "page-faults", "--", "/bin/sh", "-c", "touch "+ran)...)
		if code := p.wait(20 * time.Second); code != 1 {
			t.Errorf("exit status %d, want 1\n%s", code, p.stderr())
		}
		checkLine(t, p)
		if _, err := os.Stat(ran); err == nil {
			t.Errorf("the workload ran")
		}
	})
	t.Run("AttachStart", func(t *testing.T) {
		requires(t)
		t.Parallel()
		tgt, pid := startTarget(t, 1)
		p := start(t, lowMemlock(t, 0, "-m", "1024", "-c", "1", "-e", "page-faults", "-p", strconv.Itoa(pid))...)
		if code := p.wait(20 * time.Second); code != 1 {
			t.Errorf("exit status %d, want 1\n%s", code, p.stderr())
		}
		checkLine(t, p)
		assertNotStopped(t, pid)
		if _, tr := taskState(pid, pid); tr != 0 {
			t.Errorf("target still traced by %d", tr)
		}
		stopTarget(t, tgt)
	})
	t.Run("MidRun", func(t *testing.T) {
		requires(t)
		t.Parallel()
		// Rings of 65 pages (260 KiB); RLIMIT_MEMLOCK for 3 of them beyond
		// what is left of the sysctl's share: at least 3 rings map,
		// at most 3 + 1032/260, and 17 processes live at once.
		out := reportPath(t)
		p := start(t, lowMemlock(t, 3*260, "--json", "-o", out, "-m", "64", "-c", "1", "-e", "page-faults",
			"--", workload("forktree"), "1", "16", "50", "1")...)
		if code := p.wait(60 * time.Second); code != 0 {
			t.Fatalf("exit status %d\n%s", code, p.stderr())
		}
		samples, _, rep := samplingReport(t, out)
		sampled := map[int]bool{}
		for _, s := range samples {
			sampled[s.PID] = true
		}
		if len(rep.final) != 17 {
			t.Errorf("%d processes in the final report, want 17 (each counted, ring or not)", len(rep.final))
		}
		for _, r := range rep.final {
			if value(t, r, "page-faults") == 0 {
				t.Errorf("process %d: no page faults counted", r.PID)
			}
		}
		s := rep.summary
		if s.RingFailures == nil || *s.RingFailures == 0 || *s.RingFailures+len(sampled) != 17 {
			t.Errorf("summary ring_failures %v, %d processes sampled: want failures > 0, adding up to 17", s.RingFailures, len(sampled))
		}
		if len(sampled) < 3 {
			t.Errorf("%d processes sampled, want 3 or more", len(sampled))
		}
		if s.TasksLeft == nil || *s.TasksLeft != 0 {
			t.Errorf("summary tasks_left %v, want 0", s.TasksLeft)
		}
		if !strings.Contains(p.stderr(), "without a ring") || !strings.Contains(p.stderr(), "ulimit -l") {
			t.Errorf("stderr %q: no warning of the tasks without a ring, with the fixes", p.stderr())
		}
	})
}
