package test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/perfprof/perfprof/internal/testenv"
	"golang.org/x/sys/unix"
)

// markVar is set in the environment of every process the tests start;
// its value is runID + "/" + the test's name.
const markVar = "PERFPROF_TEST_MARK"

var (
	// PERFPROF_TEST_RACE=1 builds perfprof itself with -race.
	raceBinary = os.Getenv("PERFPROF_TEST_RACE") == "1"
	runID      string
	ppBin      string // the perfprof binary
	binDir     string // scripts/bin, absolute
	skipWhy    string // why the kernel tests cannot run here ("" if they can)
	setupErr   error  // the set-up failed: every test fails
)

func TestMain(m *testing.M) {
	var b [6]byte
	rand.Read(b[:])
	runID = hex.EncodeToString(b[:])

	tmp, err := os.MkdirTemp("", "perfprof-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "test: ", err)
		os.Exit(1)
	}
	skipWhy = checkRequirements()
	if skipWhy == "" {
		setupErr = build(tmp)
	}
	code := m.Run()
	if left := findMarked(runID+"/", true); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: processes left behind by the tests (killed): %s\n", describe(left))
		code = 1
	}
	os.RemoveAll(tmp)
	os.Exit(code)
}

// checkRequirements returns why perfprof cannot be tested here, or "".
func checkRequirements() string {
	if os.Geteuid() != 0 {
		return "needs root: perfprof ptraces and counts processes it did not start (run as root, as CI does)"
	}
	if b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); err == nil && strings.TrimSpace(string(b)) == "3" {
		return "ptrace is disabled (kernel.yama.ptrace_scope = 3)"
	}
	attr := unix.PerfEventAttr{
		Type:   unix.PERF_TYPE_SOFTWARE,
		Config: unix.PERF_COUNT_SW_TASK_CLOCK,
		Size:   uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Bits:   unix.PerfBitDisabled,
	}
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return fmt.Sprintf("software perf events are not available (perf_event_open task-clock: %v)", err)
	}
	unix.Close(fd)
	for _, tool := range []string{"go", "make", "cc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("needs %s in $PATH to build perfprof and the workloads", tool)
		}
	}
	return ""
}

// build builds perfprof into dir and the workloads into scripts/bin.
func build(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	if strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		if root, err = filepath.Abs(".."); err != nil {
			return err
		}
	}
	ppBin = filepath.Join(dir, "perfprof")
	// With the VCS revision, as make build does (--version prints it).
	args := []string{"build", "-buildvcs=auto", "-o", ppBin}
	if raceBinary {
		// A race-enabled perfprof exits 66 on a data race.
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "github.com/perfprof/perfprof/cmd/perfprof")...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build perfprof: %v\n%s", err, out)
	}
	cmd = exec.Command("make", "-s", "-C", filepath.Join(root, "scripts"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("make -C scripts: %v\n%s", err, out)
	}
	binDir = filepath.Join(root, "scripts", "bin")
	return nil
}

// requires skips t (fails it under PERFPROF_TEST_STRICT=1) if the kernel
// tests cannot run here, and registers the check for leftover processes.
func requires(t *testing.T) {
	t.Helper()
	if skipWhy != "" {
		testenv.Skip(t, skipWhy)
	}
	if setupErr != nil {
		t.Fatalf("set-up: %v", setupErr)
	}
	mark := markOf(t)
	t.Cleanup(func() {
		// Give processes that were just killed time to go.
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) && len(findMarked(mark, false)) > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		if left := findMarked(mark, true); len(left) > 0 {
			t.Errorf("processes left behind (killed): %s", describe(left))
		}
	})
}

func markOf(t *testing.T) string { return runID + "/" + t.Name() }

// workload returns the path of a workload in scripts/bin.
func workload(name string) string { return filepath.Join(binDir, name) }

// findMarked returns the live processes (not zombies) whose marker equals
// mark, or starts with it if mark ends in "/"; with kill, it SIGKILLs them.
func findMarked(mark string, kill bool) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			v, ok := bytes.CutPrefix(kv, []byte(markVar+"="))
			if !ok {
				continue
			}
			if string(v) == mark || strings.HasSuffix(mark, "/") && strings.HasPrefix(string(v), mark) {
				if st, _ := taskState(pid, pid); st != "" && st != "Z" && st != "X" {
					pids = append(pids, pid)
				}
			}
			break
		}
	}
	if kill {
		for _, pid := range pids {
			unix.Kill(pid, unix.SIGKILL)
		}
	}
	return pids
}

func describe(pids []int) string {
	var s []string
	for _, pid := range pids {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		s = append(s, fmt.Sprintf("%d (%s)", pid, strings.TrimSpace(string(bytes.ReplaceAll(cmd, []byte{0}, []byte{' '})))))
	}
	return strings.Join(s, ", ")
}

// procStatus reads the fields of /proc/PID/task/TID/status.
func procStatus(pid, tid int) (map[string]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/status", pid, tid))
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m, nil
}

// taskState returns the state letter of a task ("" if it is gone).
func taskState(pid, tid int) (string, int) {
	m, err := procStatus(pid, tid)
	if err != nil {
		return "", 0
	}
	tracer, _ := strconv.Atoi(m["TracerPid"])
	st, _, _ := strings.Cut(m["State"], " ")
	return st, tracer
}

// threads lists the tids of pid.
func threads(pid int) []int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var tids []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, _ := taskState(pid, pid)
	return st != "" && st != "Z" && st != "X"
}

// assertGone fails t unless every pid has exited (or is a zombie)
// within d.
func assertGone(t *testing.T, d time.Duration, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		var live []int
		for _, pid := range pids {
			if alive(pid) {
				live = append(live, pid)
			}
		}
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("still running %v after the run ended: %s", d, stateList(live))
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// assertNotStopped fails t if a thread of the pids is in a stop (T or t)
// or still has a tracer.
func assertNotStopped(t *testing.T, pids ...int) {
	t.Helper()
	for _, pid := range pids {
		for _, tid := range threads(pid) {
			st, tracer := taskState(pid, tid)
			if st == "T" || st == "t" {
				t.Errorf("task %d (of %d) left in state %s", tid, pid, st)
			}
			if tracer != 0 && st != "" {
				t.Errorf("task %d (of %d) still traced by %d", tid, pid, tracer)
			}
		}
	}
}

func stateList(pids []int) string {
	var s []string
	for _, pid := range pids {
		st, tr := taskState(pid, pid)
		s = append(s, fmt.Sprintf("%d state %s tracer %d", pid, st, tr))
	}
	return strings.Join(s, ", ")
}

// waitFor polls cond every 5 ms until it holds or d has passed.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// threadOf reports whether tid is a thread of process pid. TracerPid is
// the tid of the tracing thread, which need not be perfprof's main thread.
func threadOf(tid, pid int) bool {
	if tid <= 0 {
		return false
	}
	_, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d", pid, tid))
	return err == nil
}

// waitTracer waits until the leader of pid is traced by a thread of the
// process tracer.
func waitTracer(t *testing.T, pid, tracer int) {
	t.Helper()
	if !waitFor(5*time.Second, func() bool { _, tr := taskState(pid, pid); return threadOf(tr, tracer) }) {
		_, tr := taskState(pid, pid)
		t.Fatalf("process %d: TracerPid is %d after 5s, want perfprof (%d)", pid, tr, tracer)
	}
}

func signalOf(err error) syscall.Signal {
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ws.Signal()
		}
	}
	return 0
}
