package test

import (
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perfprof/perfprof/internal/testenv"
)

// freePort returns a TCP port of 127.0.0.1 nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// promQuery asks a Prometheus server for the samples of series query
// stored in the last 10 s (a range query, which gives each sample's own
// scrape time; an instant query gives the query's) and returns the last
// one's time (unix seconds) and value; ok false if there is none.
func promQuery(t *testing.T, server, query string) (ts, value float64, ok bool) {
	t.Helper()
	resp, err := http.Get(server + "/api/v1/query?query=" + url.QueryEscape(query+"[10s]"))
	if err != nil {
		return 0, 0, false
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Values [][2]any `json:"values"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" || len(r.Data.Result) == 0 {
		return 0, 0, false
	}
	vs := r.Data.Result[0].Values
	if len(vs) == 0 {
		return 0, 0, false
	}
	v := vs[len(vs)-1]
	ts, _ = v[0].(float64)
	s, _ := v[1].(string)
	value, err = strconv.ParseFloat(s, 64)
	return ts, value, err == nil
}

// startPrometheus runs a Prometheus server scraping target every second,
// and returns its address (http://...).
func startPrometheus(t *testing.T, target string) string {
	t.Helper()
	bin := testenv.Tool(t, "prometheus")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	err := os.WriteFile(cfg, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: perfprof
    static_configs:
      - targets: ['%s']
`, target)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cmd := exec.Command(bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start prometheus: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
	server := "http://" + addr
	ok := waitFor(30*time.Second, func() bool {
		resp, err := http.Get(server + "/-/ready")
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if !ok {
		b, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
		t.Fatalf("prometheus not ready after 30 s:\n%s", tail(string(b)))
	}
	return server
}

// TestPrometheus: a real Prometheus server scrapes a daemon's --listen
// address; perfprof_event_total of the target's command name, as the
// server stored it, lies between the daemon's JSON reports (--by-comm,
// the whole run's counts per command name) around the scrape: the two
// agree within an interval (-i 500 ms).
func TestPrometheus(t *testing.T) {
	requires(t)
	t.Parallel()
	checkPrometheus(t)
}

// TestPrometheusInherit: the same with the inherit follower.
func TestPrometheusInherit(t *testing.T) {
	requires(t)
	t.Parallel()
	checkPrometheus(t, "--follow", "inherit")
}

// checkPrometheus runs a daemon with --listen and the extra arguments on
// a forking target, has a real Prometheus scrape it, and checks what it
// got against the daemon's own reports.
func checkPrometheus(t *testing.T, extra ...string) {
	t.Helper()
	dir := t.TempDir()
	rep, pidf := filepath.Join(dir, "pp.jsonl"), filepath.Join(dir, "pp.pid")
	target := forkingTarget(t)
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p, code := runPP(t, 20*time.Second, append(extra, "--daemon", "--pidfile", pidf, "--listen", listen, "--by-comm", "--json",
		"-i", "500", "-o", rep, "-e", "task-clock,page-faults", "-p", strconv.Itoa(target))...)
	if code != 0 {
		t.Fatalf("perfprof --daemon --listen: exit status %d\n%s", code, p.stderr())
	}
	d := readPID(t, pidf)
	t.Cleanup(func() { syscall.Kill(d, syscall.SIGKILL) })
	server := startPrometheus(t, listen)

	const query = `perfprof_event_total{comm="sleep",event="page-faults"}`
	var ts, value float64
	mustWait(t, 60*time.Second, "Prometheus has no "+query, func() bool {
		var ok bool
		ts, value, ok = promQuery(t, server, query)
		return ok && value > 0
	})
	// Two more scrapes, so that the value compared is a steady one.
	time.Sleep(2500 * time.Millisecond)
	ts, value, _ = promQuery(t, server, query)
	for _, q := range []string{`perfprof_tasks`, `perfprof_tasks_created_total`, `perfprof_event_total{comm="sleep",event="task-clock"}`, `process_resident_memory_bytes`} {
		if _, v, ok := promQuery(t, server, q); !ok || (q != "perfprof_tasks" && v <= 0) {
			t.Errorf("Prometheus: %s = %v (%v), want a positive value", q, v, ok)
		}
	}
	time.Sleep(1 * time.Second) // a report after the scrape
	syscall.Kill(d, syscall.SIGTERM)
	mustWait(t, 20*time.Second, "the daemon still runs after SIGTERM", func() bool { return gone(d) })

	// The daemon's reports of sleep, in time order: the scrape lies
	// between the last one stamped before it and the second after it (a
	// report is stamped just after its read: the first after the scrape
	// may have read just before it).
	var before, after float64 = -1, -1
	n := 0
	for _, r := range jsonLines(t, rep) {
		if r["type"] != "counts" || r["comm"] != "sleep" {
			continue
		}
		at := r["time"].(float64) / 1e9
		v := r["events"].(map[string]any)["page-faults"].(map[string]any)["value"].(float64)
		switch {
		case at <= ts:
			before = v
		case n < 2:
			n++
			after = v
		}
	}
	t.Logf("scrape at %.3f: %v; reports around it: %v, %v", ts, value, before, after)
	if before < 0 || after < 0 || value < before || value > after {
		t.Errorf("Prometheus has %v page faults of sleep at %.3f; the daemon's reports just before and after: %v and %v", value, ts, before, after)
	}
}

// TestIdleMemory: a counting run pays for neither the metrics nor the
// profiles. The binary links none of client_golang, protobuf, net/http or
// google/pprof (issue 17: they made it 14.5 MB, and since the kernel maps
// the page-cache folios of a binary whole, its every run 11.7 MB of RSS),
// and perfprof -e task-clock -- sleep 1 peaks under 8 MiB of RSS (about 7
// MB on the CI machine, where the old binary peaked at 11.7 MB).
func TestIdleMemory(t *testing.T) {
	requires(t)
	info, err := buildinfo.ReadFile(ppBin)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range info.Deps {
		for _, banned := range []string{"github.com/prometheus/", "google.golang.org/protobuf", "github.com/google/pprof"} {
			if strings.HasPrefix(d.Path, banned) {
				t.Errorf("perfprof links %s %s", d.Path, d.Version)
			}
		}
	}
	f, err := elf.Open(ppBin)
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.Symbols()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "net/http.") || strings.HasPrefix(s.Name, "crypto/tls.") || strings.HasPrefix(s.Name, "regexp.") {
			t.Errorf("perfprof links %s (and its package)", s.Name)
			break
		}
	}
	if raceBinary {
		t.Skip("PERFPROF_TEST_RACE=1: the RSS of a race build is the race runtime's")
	}
	// perfprof's peak is its VmHWM, read until it ends: its rusage would
	// count the test's own RSS, as the launch stub it starts with vfork
	// semantics records the hiwater of the memory it shared at its exec.
	p := start(t, ppBin, "-e", "task-clock", "--", "sleep", "1")
	var peak, anon, file int // KiB
	for {
		select {
		case <-p.done:
		case <-time.After(10 * time.Millisecond):
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid()))
			if err != nil {
				continue
			}
			for line := range strings.Lines(string(status)) {
				k, v, _ := strings.Cut(line, ":")
				n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
				switch k {
				case "VmHWM":
					peak = max(peak, n)
				case "RssAnon":
					anon = n
				case "RssFile":
					file = n
				}
			}
			continue
		}
		break
	}
	if code := p.wait(10 * time.Second); code != 0 {
		t.Fatalf("exit status %d\n%s", code, p.stderr())
	}
	t.Logf("perfprof -e task-clock -- sleep 1: peak RSS %d KiB (at the last read: RssAnon %d KiB, RssFile %d KiB)", peak, anon, file)
	if peak == 0 || peak > 8<<10 {
		t.Errorf("perfprof -e task-clock -- sleep 1: peak RSS %d KiB, want at most 8 MiB (RssAnon %d KiB, RssFile %d KiB)", peak, anon, file)
	}
}
