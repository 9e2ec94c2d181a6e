package test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a process started by a test: its stdout is read line by line as
// it comes (for handshakes), its stderr is collected.
type proc struct {
	t     *testing.T
	name  string
	cmd   *exec.Cmd
	out   *lines
	errb  *lockedBuffer
	start time.Time
	end   time.Time
	done  chan struct{}
	err   error // from Wait, valid once done is closed
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// start starts argv with the test's marker in its environment. The
// process is killed and reaped when the test ends, if it is still running.
func start(t *testing.T, argv ...string) *proc {
	t.Helper()
	return startWith(t, nil, argv...)
}

// startWith is start with attributes for the new process (its process
// group, its session and terminal).
func startWith(t *testing.T, attr *syscall.SysProcAttr, argv ...string) *proc {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = attr
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	p := startCmd(t, cmd, r)
	w.Close()
	return p
}

// startCmd starts cmd, whose output the test reads line by line from out
// (nil: the caller reads it), with the test's marker in its environment.
// Its stderr is collected unless cmd already says where it goes. The
// process is killed and reaped when the test ends, if it is still
// running.
func startCmd(t *testing.T, cmd *exec.Cmd, out *os.File) *proc {
	t.Helper()
	cmd.Env = append(os.Environ(), markVar+"="+markOf(t))
	if raceBinary {
		// The race runtime sleeps 1s at exit by default.
		cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0 exitcode=66")
	}
	p := &proc{t: t, name: filepath.Base(cmd.Path), cmd: cmd, out: newLines(), errb: &lockedBuffer{}, done: make(chan struct{})}
	if cmd.Stderr == nil {
		cmd.Stderr = p.errb
	}
	cmd.WaitDelay = 2 * time.Second // stderr may be held by a leftover child
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		if out != nil {
			out.Close()
		}
		t.Fatalf("start %q: %v", cmd.Args, err)
	}
	if out != nil {
		go p.out.read(out)
	}
	go func() {
		p.err = cmd.Wait()
		p.end = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				t.Errorf("%s (pid %d) not reaped 5s after SIGKILL", p.name, p.pid())
			}
		}
	})
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Errorf("send %v to %s (pid %d): %v", sig, p.name, p.pid(), err)
	}
}

// wait waits at most d for the process to exit and returns its exit
// status (128+N if killed by signal N); it fails the test on a timeout.
func (p *proc) wait(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("%s (pid %d) still running %v after it should have exited (killed)\nstderr:\n%s", p.name, p.pid(), d, p.errb)
	}
	if sig := signalOf(p.err); sig != 0 {
		return 128 + int(sig)
	}
	return p.cmd.ProcessState.ExitCode()
}

// wall is how long the process ran (valid after wait).
func (p *proc) wall() time.Duration { return p.end.Sub(p.start) }

func (p *proc) stderr() string { return p.errb.String() }

// lines collects the lines of a stream and wakes up waiters.
type lines struct {
	mu     sync.Mutex
	l      []string
	eof    bool
	notify chan struct{}
	next   int // first line not yet consumed by expect
}

func newLines() *lines { return &lines{notify: make(chan struct{}, 1)} }

func (l *lines) read(r *os.File) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l.mu.Lock()
		l.l = append(l.l, sc.Text())
		l.mu.Unlock()
		l.wake()
	}
	l.mu.Lock()
	l.eof = true
	l.mu.Unlock()
	l.wake()
}

func (l *lines) wake() {
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

// all returns the lines read so far.
func (l *lines) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.l...)
}

// expect waits at most d for the next line that starts with prefix,
// consuming the lines before it, and returns it.
func (p *proc) expect(prefix string, d time.Duration) string {
	p.t.Helper()
	l := p.out
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		l.mu.Lock()
		for ; l.next < len(l.l); l.next++ {
			if strings.HasPrefix(l.l[l.next], prefix) {
				s := l.l[l.next]
				l.next++
				l.mu.Unlock()
				return s
			}
		}
		eof := l.eof
		l.mu.Unlock()
		if eof {
			p.t.Fatalf("%s: output ended without a %q line\nstdout:\n%s\nstderr:\n%s", p.name, prefix, strings.Join(l.all(), "\n"), p.stderr())
		}
		select {
		case <-l.notify:
		case <-timer.C:
			p.t.Fatalf("%s: no %q line after %v\nstdout:\n%s\nstderr:\n%s", p.name, prefix, d, strings.Join(l.all(), "\n"), p.stderr())
		}
	}
}

// expectPID waits for a "WORD PID" line and returns PID.
func (p *proc) expectPID(word string, d time.Duration) int {
	p.t.Helper()
	s := p.expect(word+" ", d)
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(s, word+" ")))
	if err != nil {
		p.t.Fatalf("%s: bad line %q", p.name, s)
	}
	return pid
}

// waitEOF waits at most d for the end of stdout and returns all lines.
func (p *proc) waitEOF(d time.Duration) []string {
	p.t.Helper()
	if !waitFor(d, func() bool { p.out.mu.Lock(); defer p.out.mu.Unlock(); return p.out.eof }) {
		p.t.Errorf("%s: stdout still open %v after exit (held by a leftover task?)", p.name, d)
	}
	return p.out.all()
}

// created is a workload's "created KIND TID TGID PARENT_TID" line.
type created struct {
	kind              string
	tid, tgid, parent int
}

func parseCreated(t *testing.T, out []string) []created {
	t.Helper()
	var cs []created
	for _, l := range out {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "created" {
			continue
		}
		if len(f) != 5 {
			t.Fatalf("bad created line %q", l)
		}
		c := created{kind: f[1]}
		for i, p := range []*int{&c.tid, &c.tgid, &c.parent} {
			n, err := strconv.Atoi(f[i+2])
			if err != nil {
				t.Fatalf("bad created line %q", l)
			}
			*p = n
		}
		cs = append(cs, c)
	}
	return cs
}

// donePID returns the pid of the workload's "done PID" line.
func donePID(t *testing.T, out []string) int {
	t.Helper()
	for _, l := range out {
		if s, ok := strings.CutPrefix(l, "done "); ok {
			pid, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("bad done line %q", l)
			}
			return pid
		}
	}
	t.Fatalf("no done line in the workload's output:\n%s", strings.Join(out, "\n"))
	return 0
}

// eventValue is one event of a counts record.
type eventValue struct {
	Value     uint64 `json:"value"`
	Delta     uint64 `json:"delta"`
	EnabledNS uint64 `json:"enabled_ns"`
	RunningNS uint64 `json:"running_ns"`
}

// record is one line of perfprof --json.
type record struct {
	Type      string                `json:"type"`
	Time      int64                 `json:"time"`
	Kind      string                `json:"kind"`
	ParentTID int                   `json:"parent_tid"`
	PID       int                   `json:"pid"`
	PPID      int                   `json:"ppid"`
	TID       int                   `json:"tid"`
	Comm      string                `json:"comm"`
	Processes int                   `json:"processes"`
	Folded    bool                  `json:"folded"`
	Unknown   bool                  `json:"unknown"`
	Code      *int                  `json:"code"`
	Signal    *int                  `json:"signal"`
	Exited    *bool                 `json:"exited"`
	Final     *bool                 `json:"final"`
	Events    map[string]eventValue `json:"events"`

	TasksFollowed   *int   `json:"tasks_followed"`
	Forks           *int   `json:"forks"`
	CounterFailures *int   `json:"counter_failures"`
	TasksLeft       *int   `json:"tasks_left"`
	Samples         *int64 `json:"samples"`
	Lost            *int64 `json:"lost"`
	LateSamples     *int64 `json:"late_samples"`
	RingFailures    *int   `json:"ring_failures"`
	DurationNS      *int64 `json:"duration_ns"`
}

func (r record) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// report is a parsed --json report.
type report struct {
	all     []record
	forks   []record
	execs   []record
	exits   []record
	counts  []record // all counts records, in order
	final   []record // the final ones
	summary record
}

// readReport parses the --json report in path; it requires exactly one
// summary record.
func readReport(t *testing.T, path string) *report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read the report: %v", err)
	}
	rep := &report{}
	nsum := 0
	for i, l := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		var r record
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("report line %d is not JSON (%v): %q", i+1, err, l)
		}
		rep.all = append(rep.all, r)
		switch r.Type {
		case "fork":
			rep.forks = append(rep.forks, r)
		case "exec":
			rep.execs = append(rep.execs, r)
		case "exit":
			rep.exits = append(rep.exits, r)
		case "counts":
			rep.counts = append(rep.counts, r)
			if r.Final == nil || r.Exited == nil || r.Events == nil {
				t.Errorf("counts record without final, exited or events: %s", l)
			} else if *r.Final {
				rep.final = append(rep.final, r)
			}
		case "summary":
			nsum++
			rep.summary = r
			if r.TasksFollowed == nil || r.Forks == nil || r.CounterFailures == nil || r.DurationNS == nil || r.TasksLeft == nil {
				t.Errorf("summary record with fields missing: %s", l)
			}
		default:
			t.Errorf("report line %d: unknown record type %q", i+1, r.Type)
		}
	}
	if nsum != 1 {
		t.Fatalf("report has %d summary records, want 1:\n%s", nsum, b)
	}
	if rep.summary.TasksFollowed == nil {
		zero := 0
		rep.summary.TasksFollowed, rep.summary.Forks, rep.summary.CounterFailures, rep.summary.TasksLeft = &zero, &zero, &zero, &zero
	}
	return rep
}

// index maps records by key; it fails on duplicates, naming them what.
func index(t *testing.T, rs []record, key func(record) int, what string) map[int]record {
	t.Helper()
	m := map[int]record{}
	for _, r := range rs {
		k := key(r)
		if _, dup := m[k]; dup {
			t.Errorf("two %s records for %d", what, k)
		}
		m[k] = r
	}
	return m
}

// finalByPID indexes the final counts records by pid (without
// --per-thread); it fails on duplicates.
func (rep *report) finalByPID(t *testing.T) map[int]record {
	t.Helper()
	return index(t, rep.final, func(r record) int { return r.PID }, "final counts (pid)")
}

// finalByTID indexes the final counts records by tid (--per-thread).
func (rep *report) finalByTID(t *testing.T) map[int]record {
	t.Helper()
	for _, r := range rep.final {
		if r.TID == 0 {
			t.Errorf("counts record without tid under --per-thread: %s", r)
		}
	}
	return index(t, rep.final, func(r record) int { return r.TID }, "final counts (tid)")
}

// forksByTID indexes the fork records by the new task's tid; it fails on
// duplicates.
func (rep *report) forksByTID(t *testing.T) map[int]record {
	t.Helper()
	return index(t, rep.forks, func(r record) int { return r.TID }, "fork")
}

// exitsByTID groups the exit records by tid.
func (rep *report) exitsByTID() map[int][]record {
	m := map[int][]record{}
	for _, r := range rep.exits {
		m[r.TID] = append(m[r.TID], r)
	}
	return m
}

// value returns event ev of a counts record, failing if it is missing.
func value(t *testing.T, r record, ev string) uint64 {
	t.Helper()
	v, ok := r.Events[ev]
	if !ok {
		t.Errorf("counts record for pid %d tid %d has no %q: %s", r.PID, r.TID, ev, r)
	}
	return v.Value
}

// checkSummary checks the summary's task and fork totals and that no
// counter failed.
func checkSummary(t *testing.T, rep *report, tasks, forks int) {
	t.Helper()
	s := rep.summary
	if *s.TasksFollowed != tasks || *s.Forks != forks || *s.CounterFailures != 0 || *s.TasksLeft != 0 {
		t.Errorf("summary: tasks_followed %d forks %d counter_failures %d tasks_left %d, want %d, %d, 0, 0",
			*s.TasksFollowed, *s.Forks, *s.CounterFailures, *s.TasksLeft, tasks, forks)
	}
}

// runPP runs perfprof with args to completion (at most d) and returns the
// process; the workload's stdout is in p.out.
func runPP(t *testing.T, d time.Duration, args ...string) (*proc, int) {
	t.Helper()
	p := start(t, append([]string{ppBin}, args...)...)
	code := p.wait(d)
	p.waitEOF(2 * time.Second)
	return p, code
}

// runJSON runs perfprof --json -o FILE args... to completion (at most d)
// and fails the test unless it exits 0. It returns the process (the
// workload's stdout is in p.out) and the report file.
func runJSON(t *testing.T, d time.Duration, args ...string) (p *proc, report string) {
	t.Helper()
	report = reportPath(t)
	p, code := runPP(t, d, append([]string{"--json", "-o", report}, args...)...)
	if code != 0 {
		t.Fatalf("exit status %d, want 0\n%s", code, tail(dump(p, report)))
	}
	return p, report
}

// ms is a task-clock threshold for a workload that burns n ms of CPU.
func ms(n int) uint64 { return uint64(n) * 1e6 * 9 / 10 }

func reportPath(t *testing.T) string { return filepath.Join(t.TempDir(), "report.json") }

// stderrLines splits perfprof's stderr into lines.
func stderrLines(p *proc) []string {
	s := strings.TrimRight(p.stderr(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func dump(p *proc, reportFile string) string {
	b, _ := os.ReadFile(reportFile)
	return fmt.Sprintf("perfprof stderr:\n%s\nworkload stdout:\n%s\nreport:\n%s", p.stderr(), strings.Join(p.out.all(), "\n"), b)
}

// runTree runs perfprof --json with args on a workload that prints a
// created line for each task it makes and a done line (forktree,
// threadtree), and fails unless it made want tasks. It returns perfprof's
// process, the tasks, the workload's pid and the report.
func runTree(t *testing.T, want int, args ...string) (p *proc, cs []created, root int, rep *report) {
	t.Helper()
	p, out := runJSON(t, 30*time.Second, args...)
	stdout := p.out.all()
	cs = parseCreated(t, stdout)
	root = donePID(t, stdout)
	if len(cs) != want {
		t.Fatalf("%d created lines, want %d", len(cs), want)
	}
	return p, cs, root, readReport(t, out)
}
