package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// ---- tracer CPU per followed task ----

var cpuwrapRe = regexp.MustCompile(`(?m)^CPUWRAP self_us=(\d+) children_us=(\d+)`)

type cpuRow struct {
	label  string // workload
	tasks  int    // tasks it creates
	ownMs  map[string][]float64
	baseMs map[string][]float64 // same tracer on cpuwrap /bin/true
}

// tracerOwn runs `TRACER cpuwrap W` and returns the tracer's own CPU: the
// rusage of the tracer process (which includes cpuwrap and everything
// cpuwrap reaped, since the tracer reaps cpuwrap) minus what cpuwrap
// reports for itself and its descendants.
func tracerOwn(cfg *config, key string, w []string) (float64, error) {
	wrapped := append([]string{cfg.bin("cpuwrap")}, w...)
	res := runOnce(toolByKey(key).argv(cfg, wrapped), cfg.timeout)
	if res.err != nil && !errors.Is(res.err, errNoResult) {
		return nan, res.err
	}
	m := cpuwrapRe.FindStringSubmatch(res.stderr)
	if m == nil {
		return nan, fmt.Errorf("no CPUWRAP line: %s", tail(res.stderr, 300))
	}
	self, _ := strconv.ParseFloat(m[1], 64)
	kids, _ := strconv.ParseFloat(m[2], 64)
	return (float64(res.cpu.Microseconds()) - self - kids) / 1000, nil
}

func measureCPU(cfg *config) []*cpuRow {
	rounds := 5
	fork, thread := []string{"forkloop", "1000"}, []string{"threadloop", "2000"}
	if cfg.quick {
		rounds, fork, thread = 3, []string{"forkloop", "300"}, []string{"threadloop", "600"}
	}
	progress("tracer CPU per task: %d rounds", rounds)
	rows := []*cpuRow{}
	for _, w := range [][]string{fork, thread} {
		n, _ := strconv.Atoi(w[1])
		rows = append(rows, &cpuRow{label: strings.Join(w, " "), tasks: n,
			ownMs: map[string][]float64{}, baseMs: map[string][]float64{}})
	}
	base := []string{"/bin/true"}
	type job struct {
		key string
		row *cpuRow // nil = baseline
	}
	var jobs []job
	for _, k := range []string{"pp1", "ref"} {
		jobs = append(jobs, job{k, nil})
		for _, r := range rows {
			jobs = append(jobs, job{k, r})
		}
	}
	baseline := map[string][]float64{}
	for r := 0; r < rounds; r++ {
		for i := range jobs {
			j := jobs[(i+r)%len(jobs)]
			var v float64
			var err error
			if j.row == nil {
				v, err = tracerOwn(cfg, j.key, base)
				if err == nil {
					baseline[j.key] = append(baseline[j.key], v)
				}
			} else {
				argv := append([]string{cfg.bin(strings.Fields(j.row.label)[0])}, strings.Fields(j.row.label)[1:]...)
				v, err = tracerOwn(cfg, j.key, argv)
				if err == nil {
					j.row.ownMs[j.key] = append(j.row.ownMs[j.key], v)
				}
			}
			if err != nil {
				cfg.failHarness("tracer CPU run (%s): %v", toolByKey(j.key).label, err)
			}
		}
	}
	for _, r := range rows {
		r.baseMs = baseline
	}
	return rows
}

// ---- many live threads: RSS and fds ----

type procSample struct {
	rssKB, hwmKB int
	fds, perfFDs int
}

func sampleProc(pid int) (procSample, error) {
	var s procSample
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			s.rssKB, _ = strconv.Atoi(f[1])
		case "VmHWM:":
			s.hwmKB, _ = strconv.Atoi(f[1])
		}
	}
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return s, err
	}
	for _, e := range ents {
		s.fds++
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.Contains(l, "perf_event") {
			s.perfFDs++
		}
	}
	return s, nil
}

type summary struct {
	TasksFollowed   int   `json:"tasks_followed"`
	Forks           int   `json:"forks"`
	CounterFailures int   `json:"counter_failures"`
	DurationNs      int64 `json:"duration_ns"`
	PerfprofCPUNs   int64 `json:"perfprof_cpu_ns"`
	// When sampling (nil otherwise). The lost total is "lost" since
	// 5f6a752, "lost_records" before.
	Samples      *int64 `json:"samples"`
	Lost         *int64 `json:"lost"`
	LostRecords  *int64 `json:"lost_records"`
	RingFailures *int   `json:"ring_failures"`
	RingBytesMax *int64 `json:"ring_bytes_max"`
}

// lost returns the summary's lost total, under either name, and whether
// it has one.
func (s *summary) lost() (int64, bool) {
	switch {
	case s.Lost != nil:
		return *s.Lost, true
	case s.LostRecords != nil:
		return *s.LostRecords, true
	}
	return 0, false
}

type holdResult struct {
	tool     string // "perfprof" or "follower -p"
	events   string
	nEvents  int
	threads  int
	alive    procSample // at the workload's ALIVE line
	later    procSample // one second later
	summary  *summary
	follower string // the follower's FOLLOWER line
	err      error
}

// holdRun runs argv (a tracer on holdthreads), samples the tracer's
// /proc entry once the workload reports all its threads alive, and waits
// for the end.
func holdRun(argv []string) (alive, later procSample, stderr string, err error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		return
	}
	if err = cmd.Start(); err != nil {
		return
	}
	var mu sync.Mutex
	var buf bytes.Buffer
	aliveCh := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			mu.Lock()
			buf.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.HasPrefix(sc.Text(), "ALIVE ") {
				select {
				case aliveCh <- struct{}{}:
				default:
				}
			}
		}
	}()
	pid := cmd.Process.Pid
	select {
	case <-aliveCh:
		alive, err = sampleProc(pid)
		if err == nil {
			time.Sleep(time.Second)
			later, err = sampleProc(pid)
		}
	case <-done:
		err = fmt.Errorf("ended before ALIVE")
	case <-time.After(90 * time.Second):
		err = fmt.Errorf("no ALIVE line after 90 s")
		cmd.Process.Kill()
	}
	<-done
	werr := cmd.Wait()
	mu.Lock()
	stderr = buf.String()
	mu.Unlock()
	if err == nil && werr != nil {
		err = fmt.Errorf("%v; stderr: %s", werr, tail(stderr, 300))
	}
	return
}

func readSummary(path string) (*summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var last *summary
	for _, line := range bytes.Split(b, []byte("\n")) {
		if !bytes.Contains(line, []byte(`"type":"summary"`)) {
			continue
		}
		var s summary
		if err := json.Unmarshal(line, &s); err != nil {
			return nil, fmt.Errorf("summary record: %v", err)
		}
		last = &s
	}
	if last == nil {
		return nil, fmt.Errorf("no summary record in %s", path)
	}
	return last, nil
}

func measureHold(cfg *config) []*holdResult {
	hold := "5"
	if cfg.quick {
		hold = "2"
	}
	type spec struct {
		follower bool
		events   string
		threads  int
	}
	specs := []spec{{false, events1, 2000}, {false, events1, 10000}, {false, events3, 2000}, {true, events1, 10000}}
	var out []*holdResult
	for _, s := range specs {
		h := &holdResult{events: s.events, nEvents: len(strings.Split(s.events, ",")), threads: s.threads}
		w := []string{cfg.bin("holdthreads"), strconv.Itoa(s.threads), hold}
		var argv []string
		jsonFile := filepath.Join(cfg.benchDir, fmt.Sprintf("hold-%d.json", s.threads))
		if s.follower {
			h.tool = "follower -p"
			argv = append([]string{cfg.follower(), "-p", "--"}, w...)
		} else {
			h.tool = "perfprof"
			os.Remove(jsonFile)
			argv = append([]string{cfg.perfprof, "--json", "-o", jsonFile, "-e", s.events, "--"}, w...)
		}
		progress("live threads: %s -e %s, holdthreads %d %s", h.tool, s.events, s.threads, hold)
		var stderr string
		h.alive, h.later, stderr, h.err = holdRun(argv)
		if h.err == nil {
			if s.follower {
				for _, l := range strings.Split(stderr, "\n") {
					if strings.HasPrefix(l, "FOLLOWER ") {
						h.follower = l
					}
				}
			} else {
				h.summary, h.err = readSummary(jsonFile)
			}
		}
		if h.err != nil && s.follower {
			cfg.failHarness("follower on holdthreads %d: %v", s.threads, h.err)
		}
		out = append(out, h)
	}
	return out
}

// ---- idle cost ----

type idleResult struct {
	window   time.Duration
	cpuNs    int64 // sum of the tracer's threads' run time (schedstat)
	ticksMs  float64
	threads  int
	exitCode int
	err      error
}

// threadsRuntime sums the run time of all live threads of pid, in ns
// (/proc/PID/task/*/schedstat), and returns utime+stime in ms.
func threadsRuntime(pid int) (ns int64, ticksMs float64, threads int, err error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "schedstat"))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			v, _ := strconv.ParseInt(f[0], 10, 64)
			ns += v
			threads++
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// fields after the comm: state is field 3; utime is 14, stime 15.
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	ticksMs = (ut + st) * 10 // USER_HZ = 100
	return
}

func measureIdle(cfg *config) *idleResult {
	progress("idle: perfprof -p on a sleeping process for 3s")
	return idleRun(cfg, 3*time.Second, "-e", events1)
}

// idleRun attaches `perfprof -o /dev/null ARGS -p PID` to a sleeping
// process and measures perfprof's CPU over window, then stops it with
// SIGINT.
func idleRun(cfg *config, window time.Duration, args ...string) *idleResult {
	r := &idleResult{window: window}
	sleep := exec.Command("sleep", "60")
	if r.err = sleep.Start(); r.err != nil {
		return r
	}
	defer func() { sleep.Process.Kill(); sleep.Wait() }()
	argv := append(append([]string{"-o", "/dev/null"}, args...), "-p", strconv.Itoa(sleep.Process.Pid))
	pp := exec.Command(cfg.perfprof, argv...)
	var stderr bytes.Buffer
	pp.Stderr = &stderr
	if r.err = pp.Start(); r.err != nil {
		return r
	}
	// Attached when the sleeper's TracerPid is perfprof or one of its
	// threads (TracerPid is the tracing thread's TID: perfprof's tracer is
	// a locked OS thread, not always the main one).
	deadline := time.Now().Add(15 * time.Second)
	for {
		if tracedBy(sleep.Process.Pid, pp.Process.Pid) {
			break
		}
		if time.Now().After(deadline) {
			pp.Process.Kill()
			pp.Wait()
			r.err = fmt.Errorf("perfprof did not attach within 15 s; stderr: %s", tail(stderr.String(), 300))
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // let start-up settle
	ns0, t0, _, err0 := threadsRuntime(pp.Process.Pid)
	time.Sleep(r.window)
	ns1, t1, threads, err1 := threadsRuntime(pp.Process.Pid)
	pp.Process.Signal(syscall.SIGINT)
	waitErr := make(chan error, 1)
	go func() { waitErr <- pp.Wait() }()
	select {
	case err := <-waitErr:
		if err != nil {
			r.err = fmt.Errorf("perfprof after SIGINT: %v; stderr: %s", err, tail(stderr.String(), 300))
		}
	case <-time.After(15 * time.Second):
		pp.Process.Kill()
		<-waitErr
		r.err = fmt.Errorf("perfprof did not stop within 15 s of SIGINT")
	}
	if err0 != nil || err1 != nil {
		r.err = fmt.Errorf("reading perfprof's /proc entry: %v %v", err0, err1)
	}
	r.cpuNs, r.ticksMs, r.threads = ns1-ns0, t1-t0, threads
	if pp.ProcessState != nil {
		r.exitCode = pp.ProcessState.ExitCode()
	}
	return r
}

// tracedBy reports whether pid is traced by a thread of process tracer.
func tracedBy(pid, tracer int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if t, ok := strings.CutPrefix(l, "TracerPid:"); ok {
			tid, _ := strconv.Atoi(strings.TrimSpace(t))
			if tid == 0 {
				return false
			}
			_, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d", tracer, tid))
			return err == nil
		}
	}
	return false
}
