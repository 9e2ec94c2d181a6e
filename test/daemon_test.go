package test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perfprof/perfprof/internal/testenv"
	"golang.org/x/sys/unix"
)

// forkingTarget starts a process that forks a short child every 20 ms,
// not traced by anyone, killed when the test ends.
func forkingTarget(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "while :; do sleep 0.02; done")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

// readPID reads a pid file.
func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %s: %q", path, b)
	}
	return pid
}

// jsonLines reads a file of JSON lines; every line must be whole.
func jsonLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: a line that is not a JSON record (%v): %q", path, err, sc.Text())
		}
		recs = append(recs, r)
	}
	return recs
}

// countOf returns how many records of type typ recs holds.
func countOf(recs []map[string]any, typ string) int {
	n := 0
	for _, r := range recs {
		if r["type"] == typ {
			n++
		}
	}
	return n
}

// mustWait waits up to d for cond (see waitFor), or fails the test.
func mustWait(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !waitFor(d, cond) {
		t.Fatalf("after %v: %s", d, what)
	}
}

// gone reports whether process pid has ended (gone, or a zombie).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] == "Z"
}

// TestDaemon: perfprof --daemon returns once attached, in a session of its
// own, with its pid in the locked pid file; a second daemon with that
// file refuses and leaves it be; SIGUSR1 writes a report, SIGHUP reopens
// the report after it was moved (logrotate's create), the report may be
// truncated in place (copytruncate), and SIGTERM lets the target go,
// writes the final report and removes the pid file.
func TestDaemon(t *testing.T) {
	requires(t)
	t.Parallel()
	dir := t.TempDir()
	pidf, rep := filepath.Join(dir, "pp.pid"), filepath.Join(dir, "pp.jsonl")
	target := forkingTarget(t)
	p, code := runPP(t, 20*time.Second, "--daemon", "--pidfile", pidf, "--json", "-o", rep, "-e", "task-clock", "-p", strconv.Itoa(target))
	if code != 0 {
		t.Fatalf("perfprof --daemon: exit status %d\n%s", code, p.stderr())
	}
	d := readPID(t, pidf)
	t.Cleanup(func() { syscall.Kill(d, syscall.SIGKILL) })
	if !strings.Contains(p.stderr(), "daemon "+strconv.Itoa(d)+" attached") {
		t.Errorf("stderr %q: want the daemon's pid, %d", p.stderr(), d)
	}
	if sid, err := unix.Getsid(d); err != nil || sid != d {
		t.Errorf("daemon %d: session %d (%v), want a session of its own", d, sid, err)
	}

	// A second daemon with the same pid file: one line naming the first,
	// and the file untouched.
	before, _ := os.Stat(pidf)
	p2, code := runPP(t, 20*time.Second, "--daemon", "--pidfile", pidf, "-o", filepath.Join(dir, "other"), "-p", strconv.Itoa(target))
	if code == 0 || strings.Count(strings.TrimSpace(p2.stderr()), "\n") != 0 || !strings.Contains(p2.stderr(), strconv.Itoa(d)) {
		t.Errorf("a second daemon: exit status %d, stderr %q: want a failure, one line naming %d", code, p2.stderr(), d)
	}
	if after, err := os.Stat(pidf); err != nil || !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) || readPID(t, pidf) != d {
		t.Errorf("the second daemon touched the pid file")
	}

	// SIGUSR1: a report now.
	syscall.Kill(d, syscall.SIGUSR1)
	mustWait(t, 10*time.Second, "no counts record after SIGUSR1", func() bool { return countOf(jsonLines(t, rep), "counts") > 0 })

	// logrotate's create: the file moved, SIGHUP, a new file.
	rotated := rep + ".1"
	if err := os.Rename(rep, rotated); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(d, syscall.SIGHUP)
	mustWait(t, 10*time.Second, "no new report after SIGHUP", func() bool { _, err := os.Stat(rep); return err == nil })
	syscall.Kill(d, syscall.SIGUSR1)
	mustWait(t, 10*time.Second, "no counts record in the new report", func() bool { return countOf(jsonLines(t, rep), "counts") > 0 })
	// logrotate's copytruncate: the file copied, then emptied in place;
	// the daemon appends at its new end (no hole of zeros before it).
	b, err := os.ReadFile(rep)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(rep+".2", b, 0o644)
	if err := os.Truncate(rep, 0); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(d, syscall.SIGUSR1)
	mustWait(t, 10*time.Second, "no counts record after copytruncate", func() bool { return countOf(jsonLines(t, rep), "counts") > 0 })
	if gone(d) {
		t.Fatalf("the daemon ended at SIGHUP or SIGUSR1")
	}

	// SIGTERM: detach, final report, pid file removed.
	syscall.Kill(d, syscall.SIGTERM)
	mustWait(t, 20*time.Second, "the daemon still runs after SIGTERM", func() bool { return gone(d) })
	recs := jsonLines(t, rep)
	if countOf(recs, "summary") != 1 {
		t.Errorf("the final report has %d summary records, want 1", countOf(recs, "summary"))
	}
	forks := 0
	for _, r := range recs {
		if r["type"] == "summary" {
			if f, ok := r["forks"].(float64); ok {
				forks = int(f)
			}
		}
	}
	if forks == 0 {
		t.Errorf("the summary counts no fork of the target, which forks every 20 ms")
	}
	if countOf(jsonLines(t, rotated), "counts") == 0 {
		t.Errorf("the rotated report lost its records")
	}
	if _, err := os.Stat(pidf); !os.IsNotExist(err) {
		t.Errorf("the pid file is still there after the daemon ended: %v", err)
	}
	st, _ := os.ReadFile("/proc/" + strconv.Itoa(target) + "/status")
	if !strings.Contains(string(st), "TracerPid:\t0\n") || strings.Contains(string(st), "State:\tT") {
		t.Errorf("the target after the daemon:\n%s", st)
	}
}

// TestDaemonFails: a daemon that cannot attach is an error on the
// terminal, with a non-zero exit and no daemon left; a stale pid file
// (its process gone) is taken over.
func TestDaemonFails(t *testing.T) {
	requires(t)
	t.Parallel()
	dir := t.TempDir()
	pidf := filepath.Join(dir, "pp.pid")
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	p, code := runPP(t, 20*time.Second, "--daemon", "--pidfile", pidf, "-o", filepath.Join(dir, "r"), "-p", strconv.Itoa(dead.Process.Pid))
	if code == 0 || !strings.Contains(p.stderr(), strconv.Itoa(dead.Process.Pid)) {
		t.Errorf("a daemon for a gone pid: exit status %d, stderr %q: want a failure naming the pid", code, p.stderr())
	}
	if _, err := os.Stat(pidf); !os.IsNotExist(err) {
		t.Errorf("a failed daemon left its pid file: %v", err)
	}
	if n := len(findMarked(markOf(t), false)); n > 0 {
		t.Errorf("%d processes of the test left after a failed daemon", n)
	}

	// A stale pid file: taken over.
	if err := os.WriteFile(pidf, []byte(strconv.Itoa(dead.Process.Pid)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	target := forkingTarget(t)
	p, code = runPP(t, 20*time.Second, "--daemon", "--pidfile", pidf, "-o", filepath.Join(dir, "r2"), "-p", strconv.Itoa(target))
	if code != 0 {
		t.Fatalf("a daemon with a stale pid file: exit status %d\n%s", code, p.stderr())
	}
	d := readPID(t, pidf)
	t.Cleanup(func() { syscall.Kill(d, syscall.SIGKILL) })
	if d == dead.Process.Pid {
		t.Errorf("the stale pid file was not taken over")
	}
	syscall.Kill(d, syscall.SIGTERM)
	mustWait(t, 20*time.Second, "the daemon still runs after SIGTERM", func() bool { return gone(d) })

	// Usage: no -o, or a command.
	for _, args := range [][]string{{"--daemon", "-p", strconv.Itoa(target)}, {"--daemon", "-o", filepath.Join(dir, "r3"), "--", "true"}} {
		if p, code := runPP(t, 10*time.Second, args...); code != 2 || strings.Count(strings.TrimSpace(p.stderr()), "\n") != 0 {
			t.Errorf("perfprof %s: exit status %d, stderr %q: want 2 and one line", strings.Join(args, " "), code, p.stderr())
		}
	}
}

// TestSdNotify: with $NOTIFY_SOCKET, perfprof tells systemd READY=1 (and
// its pid) once attached, and STOPPING=1 when it stops.
func TestSdNotify(t *testing.T) {
	requires(t)
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	target := forkingTarget(t)
	// env execs perfprof: the same process.
	p := start(t, "env", "NOTIFY_SOCKET="+sock, ppBin, "-o", os.DevNull, "-p", strconv.Itoa(target))
	read := func() string {
		conn.SetReadDeadline(time.Now().Add(15 * time.Second))
		b := make([]byte, 256)
		n, err := conn.Read(b)
		if err != nil {
			t.Fatalf("no notification: %v\n%s", err, p.stderr())
		}
		return string(b[:n])
	}
	if got := read(); !strings.Contains(got, "READY=1") || !strings.Contains(got, "MAINPID="+strconv.Itoa(p.pid())) {
		t.Errorf("first notification %q: want READY=1 and MAINPID=%d", got, p.pid())
	}
	p.signal(syscall.SIGTERM)
	if got := read(); got != "STOPPING=1" {
		t.Errorf("second notification %q: want STOPPING=1", got)
	}
	if code := p.wait(20 * time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0\n%s", code, p.stderr())
	}
}

// TestDaemonFullDisk: a daemon whose report's file system fills up goes
// on (it does not stop, nor crash), and when there is room again it
// writes on, first a message that says how much it could not write.
func TestDaemonFullDisk(t *testing.T) {
	requires(t)
	t.Parallel()
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount a small tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	rep, pidf := filepath.Join(mnt, "pp.jsonl"), filepath.Join(t.TempDir(), "pp.pid")
	target := forkingTarget(t)
	p, code := runPP(t, 20*time.Second, "--daemon", "--pidfile", pidf, "--json", "-i", "50", "-o", rep,
		"-e", "task-clock", "-p", strconv.Itoa(target))
	if code != 0 {
		t.Fatalf("perfprof --daemon: exit status %d\n%s", code, p.stderr())
	}
	d := readPID(t, pidf)
	t.Cleanup(func() { syscall.Kill(d, syscall.SIGKILL) })
	mustWait(t, 10*time.Second, "no report", func() bool { return countOf(jsonLines(t, rep), "counts") > 0 })

	// Fill the file system.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	time.Sleep(500 * time.Millisecond) // ten reports that cannot be written
	if gone(d) {
		t.Fatalf("the daemon stopped on a full disk")
	}
	os.Remove(filler)
	mustWait(t, 10*time.Second, "no message of the lost writes after the disk had room again", func() bool {
		b, _ := os.ReadFile(rep)
		return strings.Contains(string(b), "could not be written")
	})
	time.Sleep(200 * time.Millisecond)
	syscall.Kill(d, syscall.SIGTERM)
	mustWait(t, 20*time.Second, "the daemon still runs after SIGTERM", func() bool { return gone(d) })
	// From the message on, whole records.
	b, _ := os.ReadFile(rep)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	i := len(lines) - 1
	for i >= 0 && !strings.Contains(lines[i], "could not be written") {
		i--
	}
	summary := false
	for _, l := range lines[i:] {
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("after the disk had room again, a line that is not a record (%v): %q", err, l)
		}
		summary = summary || r["type"] == "summary"
	}
	if !summary {
		t.Errorf("no summary after the disk had room again")
	}
}

// intoCgroup moves process pid into the cgroup dir.
func intoCgroup(t *testing.T, dir string, pid int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		t.Fatalf("move %d into %s: %v", pid, dir, err)
	}
}

// tracerOf returns the TracerPid of process pid (0: none, -1: gone).
func tracerOf(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	_, rest, _ := strings.Cut(string(b), "TracerPid:\t")
	n, _ := strconv.Atoi(strings.Fields(rest)[0])
	return n
}

// TestDaemonCgroup: a daemon with --cgroup follows the cgroup's process,
// keeps running while the cgroup is empty, and follows the process that
// enters it next, as when systemd restarts a service.
func TestDaemonCgroup(t *testing.T) {
	requires(t)
	t.Parallel()
	cg, first, d, rep := startCgroupDaemon(t)
	if tr := tracerOf(first); tr <= 0 || !threadOf(tr, d) {
		t.Fatalf("the cgroup's process %d: tracer %d, want a thread of the daemon %d", first, tr, d)
	}
	stopService(t, cg, first, d)
	// The service comes back: followed.
	second := forkingTarget(t)
	intoCgroup(t, cg, second)
	mustWait(t, 10*time.Second, "the process that entered the cgroup is not followed", func() bool {
		tr := tracerOf(second)
		return tr > 0 && threadOf(tr, d)
	})
	mustWait(t, 10*time.Second, "no report of the second process", func() bool {
		for _, r := range jsonLines(t, rep) {
			if r["type"] == "counts" && r["pid"] == float64(second) {
				return true
			}
		}
		return false
	})
	syscall.Kill(d, syscall.SIGTERM)
	mustWait(t, 20*time.Second, "the daemon still runs after SIGTERM", func() bool { return gone(d) })
	if tr := tracerOf(second); tr != 0 {
		t.Errorf("the second process after the daemon: tracer %d, want none", tr)
	}
}

// TestDaemonCgroupInherit: TestDaemonCgroup with the inherit follower: the
// cgroup's process and the one that enters it after a restart are
// followed, their children counted, and nothing traces them.
func TestDaemonCgroupInherit(t *testing.T) {
	requires(t)
	t.Parallel()
	cg, first, d, rep := startCgroupDaemon(t, "--follow", "inherit")
	childOf := func(parent int) func() bool {
		return func() bool {
			for _, r := range jsonLines(t, rep) {
				if r["type"] == "counts" && r["ppid"] == float64(parent) && r["comm"] == "sleep" {
					return true
				}
			}
			return false
		}
	}
	mustWait(t, 10*time.Second, "no report of a child of the cgroup's process", childOf(first))
	stopService(t, cg, first, d)
	// Its first target's events hung up for good: the daemon waits, it
	// does not spin on them.
	if cpu := cpuOver(t, d, time.Second); cpu > 200*time.Millisecond {
		t.Errorf("the daemon used %v of CPU in a second with its cgroup empty", cpu)
	}
	second := forkingTarget(t)
	intoCgroup(t, cg, second)
	mustWait(t, 10*time.Second, "no report of a child of the process that entered the cgroup", childOf(second))
	for _, pid := range []int{second, d} {
		if tr := tracerOf(pid); tr != 0 {
			t.Errorf("process %d: tracer %d, want none", pid, tr)
		}
	}
	syscall.Kill(d, syscall.SIGTERM)
	mustWait(t, 20*time.Second, "the daemon still runs after SIGTERM", func() bool { return gone(d) })
	if gone(second) {
		t.Errorf("the second process ended with the daemon: an attached process is let go")
	}
}

// cpuOver returns the CPU process pid uses over d.
func cpuOver(t *testing.T, pid int, d time.Duration) time.Duration {
	t.Helper()
	ticks := func() int64 {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		return u + s
	}
	before := ticks()
	time.Sleep(d)
	return time.Duration(ticks()-before) * 10 * time.Millisecond // USER_HZ is 100
}

// startCgroupDaemon starts a daemon with --cgroup (and the extra
// arguments) on a test cgroup holding a forking process, reporting in
// JSON every 200 ms. It returns the cgroup, the process, the daemon's
// pid and its report file.
func startCgroupDaemon(t *testing.T, extra ...string) (cg string, first, d int, rep string) {
	t.Helper()
	cg = testenv.Cgroup(t)
	first = forkingTarget(t)
	intoCgroup(t, cg, first)
	dir := t.TempDir()
	rep, pidf := filepath.Join(dir, "pp.jsonl"), filepath.Join(dir, "pp.pid")
	p, code := runPP(t, 20*time.Second, append(extra, "--daemon", "--pidfile", pidf, "--cgroup", cg,
		"--json", "-i", "200", "-o", rep, "-e", "task-clock")...)
	if code != 0 {
		t.Fatalf("perfprof %v --daemon --cgroup: exit status %d\n%s", extra, code, p.stderr())
	}
	d = readPID(t, pidf)
	t.Cleanup(func() { syscall.Kill(d, syscall.SIGKILL) })
	return cg, first, d, rep
}

// stopService kills the cgroup's process, as when its service stops:
// the cgroup empties, and the daemon d stays.
func stopService(t *testing.T, cg string, pid, d int) {
	t.Helper()
	syscall.Kill(pid, syscall.SIGKILL)
	mustWait(t, 10*time.Second, "the cgroup is still populated", func() bool {
		b, _ := os.ReadFile(filepath.Join(cg, "cgroup.events"))
		return strings.Contains(string(b), "populated 0")
	})
	time.Sleep(300 * time.Millisecond)
	if gone(d) {
		t.Fatalf("the daemon ended with its cgroup empty")
	}
}
