package test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// daemonSoak is how long TestDaemonSoak runs: $PERFPROF_DAEMON_SOAK
// seconds (make soak: 200), else 30.
func daemonSoak() time.Duration {
	if s, err := strconv.Atoi(os.Getenv("PERFPROF_DAEMON_SOAK")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 30 * time.Second
}

// procStat reads a process's VmRSS (kB) and its number of open fds.
func procStat(pid int) (rssKB, fds int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, found := strings.CutPrefix(l, "VmRSS:"); found {
			rssKB, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, 0, false
	}
	return rssKB, len(ents), true
}

// seriesCount scrapes a /metrics page and counts its perfprof_ series.
func seriesCount(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "perfprof_") {
			n++
		}
	}
	io.Copy(io.Discard, resp.Body)
	return n, sc.Err()
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	if d := n*sxx - sx*sx; d != 0 {
		return (n*sxy - sx*sy) / d
	}
	return 0
}

// TestDaemonSoak: a daemon follows a service that forks 100 short-lived
// children a second, with metrics served and scraped every second, for
// 30 s (make soak: 200 s). After a warm-up of a third of the run, its RSS,
// its fds and its metric series stay flat (a bound and a slope), and its
// final report accounts for every child the service made.
func TestDaemonSoak(t *testing.T) {
	requires(t)
	t.Parallel()
	total := daemonSoak()
	dir := t.TempDir()
	rep, pidf := filepath.Join(dir, "pp.jsonl"), filepath.Join(dir, "pp.pid")
	svc := start(t, workload("forkrate"), "100")
	svc.expect("READY", 10*time.Second)
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p, code := runPP(t, 20*time.Second, "--daemon", "--pidfile", pidf, "--listen", listen, "--by-comm", "--json",
		"-i", "1000", "-o", rep, "-e", "task-clock,page-faults", "-p", strconv.Itoa(svc.pid()))
	if code != 0 {
		t.Fatalf("perfprof --daemon: exit status %d\n%s", code, p.stderr())
	}
	d := readPID(t, pidf)
	t.Cleanup(func() { syscall.Kill(d, syscall.SIGKILL) })
	svc.signal(syscall.SIGUSR1) // start forking, followed from the first child

	warm := total / 3
	var xs, rss, fds []float64
	var warmRSS, warmFDs, warmSeries, maxRSS, maxFDs, maxSeries int
	begin := time.Now()
	for el := time.Duration(0); el < total; el = time.Since(begin) {
		time.Sleep(time.Second)
		r, f, ok := procStat(d)
		if !ok {
			t.Fatalf("the daemon is gone after %v:\n%s", time.Since(begin), tail(string(must(os.ReadFile(rep)))))
		}
		n, err := seriesCount("http://" + listen + "/metrics")
		if err != nil {
			t.Fatalf("scrape: %v", err)
		}
		if el < warm {
			warmRSS, warmFDs, warmSeries = r, f, n
			continue
		}
		xs, rss, fds = append(xs, el.Minutes()), append(rss, float64(r)/1024), append(fds, float64(f))
		maxRSS, maxFDs, maxSeries = max(maxRSS, r), max(maxFDs, f), max(maxSeries, n)
	}
	rssSlope := slope(xs, rss)
	t.Logf("after %v of warm-up: RSS %d kB, %d fds, %d series; then at most %d kB (%.2f MB/min), %d fds, %d series",
		warm, warmRSS, warmFDs, warmSeries, maxRSS, rssSlope, maxFDs, maxSeries)
	if maxRSS > warmRSS+4096 {
		t.Errorf("RSS grew from %d to %d kB after the warm-up (bound: +4 MB)", warmRSS, maxRSS)
	}
	// Over 20 s the collector's warm-up still shows (5 MB a minute was
	// seen): a short run only catches a leak of more than 10 MB a minute.
	slopeBound := 10.0
	if total >= time.Minute {
		slopeBound = 1
	}
	if rssSlope > slopeBound {
		t.Errorf("RSS grows %.2f MB a minute after the warm-up (bound: %v)", rssSlope, slopeBound)
	}
	if maxFDs > warmFDs+32 {
		t.Errorf("fds grew from %d to %d after the warm-up (bound: +32)", warmFDs, maxFDs)
	}
	if maxSeries != warmSeries {
		t.Errorf("metric series went from %d to %d after the warm-up", warmSeries, maxSeries)
	}

	// The service stops, and with it the run: every child is in the
	// final report.
	svc.signal(syscall.SIGTERM)
	line := svc.expect("FORKED ", 30*time.Second)
	forked, _ := strconv.Atoi(strings.TrimPrefix(line, "FORKED "))
	mustWait(t, 30*time.Second, "the daemon still runs after its target ended", func() bool { return gone(d) })
	var processes, forks int
	for _, r := range jsonLines(t, rep) {
		switch {
		case r["type"] == "counts" && r["final"] == true:
			processes += int(r["processes"].(float64))
		case r["type"] == "summary":
			forks = int(r["forks"].(float64))
		}
	}
	t.Logf("the service forked %d children; the daemon saw %d forks, %d processes", forked, forks, processes)
	if forked < int(total.Seconds())*50 || forks != forked || processes != forked+1 {
		t.Errorf("the service forked %d children; the final report: %d forks, %d processes (want %d and %d)",
			forked, forks, processes, forked, forked+1)
	}
	if _, err := os.Stat(pidf); !os.IsNotExist(err) {
		t.Errorf("the pid file is still there: %v", err)
	}
}

func must[T any](v T, _ error) T { return v }
