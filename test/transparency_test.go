package test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/perfprof/perfprof/internal/testenv"
	"golang.org/x/sys/unix"
)

// The tests of this file check that a workload runs under perfprof as it
// runs bare: its signals, its signal state, how it is started, and that
// perfprof's report never gets in its way.

// openPTY returns the master and the slave of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatalf("TIOCSPTLCK: %v", e)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("TIOCGPTN: %v", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open the pty slave: %v", err)
	}
	// No echo, so that a "^C" does not run into the next line; Ctrl-C
	// still signals (ISIG).
	tio, err := unix.IoctlGetTermios(int(s.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatalf("TCGETS: %v", err)
	}
	tio.Lflag &^= unix.ECHO | unix.ECHOCTL
	if err := unix.IoctlSetTermios(int(s.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatalf("TCSETS: %v", err)
	}
	return m, s
}

// startOnTerminal starts argv as the foreground job of a new terminal:
// a session of its own, the pty as its controlling terminal and its
// standard input, output and error. Writing "\x03" to the returned
// master is a Ctrl-C. The process's output is read from the master.
func startOnTerminal(t *testing.T, argv ...string) (*proc, *os.File) {
	t.Helper()
	master, slave := openPTY(t)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	p := startCmd(t, cmd, master) // "\r\n" line ends: expect matches prefixes
	slave.Close()
	return p, master
}

// saveCheck checks a sigsave run that was sent one signal: it caught sig
// once, saved its state while perfprof followed its new child, and
// perfprof exited with its status (3), with nothing on stderr.
func saveCheck(t *testing.T, p *proc, code int, out string, sig string, stderr string) {
	t.Helper()
	if code != 3 {
		t.Errorf("exit status %d, want the workload's 3 (it saves its state and exits 3)\n%s", code, dump(p, out))
	}
	p.expect("caught "+sig, time.Second)
	c := p.expect("created fork ", time.Second)
	if s := p.expect("saved ", time.Second); strings.TrimSpace(s) != "saved 1" {
		t.Errorf("workload said %q: want \"saved 1\": the signal must reach it exactly once", s)
	}
	if strings.TrimSpace(stderr) != "" {
		t.Errorf("stderr %q, want nothing", stderr)
	}
	child, _ := strconv.Atoi(strings.Fields(c)[2])
	rep := readReport(t, out)
	root := workloadRoot(t, rep)
	if e := rep.exitsByTID()[root]; len(e) != 1 || e[0].Code == nil || *e[0].Code != 3 {
		t.Errorf("workload %d: exit records %v, want one with code 3", root, e)
	}
	// Still following while it shut down: the child it forked then has
	// its counters and its exit.
	r, ok := rep.finalByPID(t)[child]
	if !ok {
		t.Fatalf("no counts for the child %d forked after the signal\n%s", child, dump(p, out))
	}
	if tc := value(t, r, "task-clock"); tc < ms(50) {
		t.Errorf("child %d: task-clock %d ns, want about 50 ms", child, tc)
	}
	if e := rep.exitsByTID()[child]; len(e) != 1 || e[0].Code == nil || *e[0].Code != 0 {
		t.Errorf("child %d: exit records %v, want one with code 0", child, e)
	}
	checkSummary(t, rep, 2, 1)
}

// TestCtrlC: a program that saves its state when interrupted does so
// under perfprof, whether the signal came from the terminal (to the whole
// foreground group, perfprof and the workload alike) or to perfprof alone
// (which passes it on).
func TestCtrlC(t *testing.T) {
	requires(t)
	t.Parallel()
	t.Run("Terminal", func(t *testing.T) {
		requires(t)
		t.Parallel()
		out := reportPath(t)
		p, tty := startOnTerminal(t, ppBin, "--json", "-o", out, "--", workload("sigsave"))
		p.expectPID("ready", 10*time.Second)
		if _, err := tty.Write([]byte{3}); err != nil { // Ctrl-C
			t.Fatal(err)
		}
		code := p.wait(10 * time.Second)
		// Under a terminal, stderr is the terminal too: perfprof wrote no
		// line other than the workload's.
		var other []string
		for _, l := range p.out.all() {
			l = strings.TrimSpace(l)
			if l != "" && !strings.HasPrefix(l, "ready ") && !strings.HasPrefix(l, "caught ") &&
				!strings.HasPrefix(l, "created ") && !strings.HasPrefix(l, "saved ") {
				other = append(other, l)
			}
		}
		saveCheck(t, p, code, out, "SIGINT", strings.Join(other, "\n"))
	})
	for _, tc := range []struct {
		name  string
		sig   syscall.Signal
		group bool // to perfprof's process group, else to perfprof alone
	}{
		{"KillINT", syscall.SIGINT, false},
		{"KillTERM", syscall.SIGTERM, false},
		{"KillHUP", syscall.SIGHUP, false},
		{"GroupQUIT", syscall.SIGQUIT, true},
		{"GroupTERM", syscall.SIGTERM, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requires(t)
			t.Parallel()
			out := reportPath(t)
			p := startWith(t, &syscall.SysProcAttr{Setpgid: true}, ppBin, "--json", "-o", out, "--", workload("sigsave"))
			p.expectPID("ready", 10*time.Second)
			if tc.group {
				syscall.Kill(-p.pid(), tc.sig)
			} else {
				p.signal(tc.sig)
			}
			code := p.wait(10 * time.Second)
			saveCheck(t, p, code, out, unix.SignalName(tc.sig), p.stderr())
		})
	}
}

// TestCtrlCPython: the same with a real program, Python's
// KeyboardInterrupt, on a terminal.
//
// It runs alone, not in parallel with the rest: under load, the
// interpreter now and then ignored the SIGINT perfprof passed on to it
// (the -v log shows the signal-delivery stop and PTRACE_CONT with signal
// 2), on the code before issue 18 too. Not understood yet.
func TestCtrlCPython(t *testing.T) {
	requires(t)
	// The interpreter itself: a wrapper such as pyenv's shim script may
	// leave tasks of its own running after Python exits.
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		python = testenv.Tool(t, "python3")
	}
	script := filepath.Join(t.TempDir(), "save.py")
	err := os.WriteFile(script, []byte(`import sys, time
try:
    print("ready", flush=True)
    time.sleep(20)
except KeyboardInterrupt:
    print("caught KeyboardInterrupt", flush=True)
    time.sleep(0.2)
    print("saved", flush=True)
    sys.exit(3)
print("timeout", flush=True)
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	out := reportPath(t)
	p, tty := startOnTerminal(t, ppBin, "-o", out, "--", python, script)
	p.expect("ready", 10*time.Second)
	tty.Write([]byte{3})
	if code := p.wait(10 * time.Second); code != 3 {
		t.Errorf("exit status %d, want Python's 3 (bare, it saves and exits 3)\n%s", code, dump(p, out))
	}
	p.expect("caught KeyboardInterrupt", time.Second)
	p.expect("saved", time.Second)
}

// TestKillAfter: a workload that does not exit after Ctrl-C is killed
// --kill-after later, with a word on stderr.
func TestKillAfter(t *testing.T) {
	requires(t)
	t.Parallel()
	out := reportPath(t)
	p := start(t, ppBin, "--json", "-o", out, "--kill-after", "300ms", "--", workload("sigsave"), "stubborn")
	pid := p.expectPID("ready", 10*time.Second)
	t0 := time.Now()
	p.signal(syscall.SIGINT)
	p.expect("caught SIGINT", 5*time.Second)
	code := p.wait(10 * time.Second)
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Errorf("killed %v after SIGINT, before --kill-after 300ms", d)
	}
	if code != 137 {
		t.Errorf("exit status %d, want 137 (killed)", code)
	}
	lines := stderrLines(p)
	if len(lines) != 1 || !strings.Contains(lines[0], "--kill-after") || !strings.Contains(lines[0], "SIGINT") {
		t.Errorf("stderr %q, want one line naming SIGINT and --kill-after", lines)
	}
	assertGone(t, time.Second, pid)
	rep := readReport(t, out)
	if e := rep.exitsByTID()[pid]; len(e) != 1 || e[0].Signal == nil || *e[0].Signal != 9 {
		t.Errorf("exit records %v, want one with signal 9", e)
	}
}

// TestSecondSignal: a second Ctrl-C kills the workload at once.
func TestSecondSignal(t *testing.T) {
	requires(t)
	t.Parallel()
	p := start(t, ppBin, "-o", reportPath(t), "--", workload("sigsave"), "stubborn")
	pid := p.expectPID("ready", 10*time.Second)
	p.signal(syscall.SIGINT)
	p.expect("caught SIGINT", 5*time.Second)
	t0 := time.Now()
	p.signal(syscall.SIGINT)
	if code := p.wait(5 * time.Second); code != 137 {
		t.Errorf("exit status %d, want 137 (killed)", code)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("second SIGINT: killed after %v, want at once (the default --kill-after is 10s)", d)
	}
	if s := p.stderr(); s != "" {
		t.Errorf("stderr %q, want nothing", s)
	}
	assertGone(t, time.Second, pid)
}

// sigLines returns the SigIgn and SigBlk lines of /proc/self/status as
// printed by grep, or fails.
func sigLines(t *testing.T, out []string) string {
	t.Helper()
	var got []string
	for _, l := range out {
		if strings.HasPrefix(l, "SigIgn:") || strings.HasPrefix(l, "SigBlk:") {
			got = append(got, l)
		}
	}
	if len(got) != 2 {
		t.Fatalf("no SigIgn and SigBlk lines in %q", out)
	}
	return strings.Join(got, "\n")
}

// TestSignalStateInherited: the workload starts with the signal
// dispositions and mask perfprof was started with, exactly as the same
// command run bare.
func TestSignalStateInherited(t *testing.T) {
	requires(t)
	t.Parallel()
	set := func(sigs ...syscall.Signal) string {
		var s uint64
		for _, sig := range sigs {
			s |= 1 << (sig - 1)
		}
		return fmt.Sprintf("%x", s)
	}
	sigexec := workload("sigexec")
	for _, tc := range []struct{ name, ign, blk string }{
		{"Nothing", "0", "0"},
		{"IgnoredAndBlocked", set(syscall.SIGPIPE, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGCHLD, syscall.SIGHUP, syscall.SIGINT),
			set(syscall.SIGTERM, syscall.SIGUSR2, syscall.SIGINT, syscall.SIGCHLD, syscall.SIGQUIT)},
		{"Nohup", set(syscall.SIGHUP), "0"},
	} {
		for _, mode := range []string{"follow", "no-follow"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				requires(t)
				grep := []string{"grep", "^Sig[IB]", "/proc/self/status"}
				bare, code := runPP0(t, append([]string{sigexec, tc.ign, tc.blk}, grep...)...)
				if code != 0 {
					t.Fatalf("bare run: status %d", code)
				}
				args := []string{sigexec, tc.ign, tc.blk, ppBin, "-o", reportPath(t)}
				if mode == "no-follow" {
					args = append(args, "--no-follow")
				}
				under, code := runPP0(t, append(append(args, "--"), grep...)...)
				if code != 0 {
					t.Fatalf("under perfprof: status %d\n%s", code, under.stderr())
				}
				if b, u := sigLines(t, bare.out.all()), sigLines(t, under.out.all()); b != u {
					t.Errorf("the workload's signal state under perfprof:\n%s\nbare:\n%s", u, b)
				}
			})
		}
	}
	// The case: with SIGPIPE ignored, yes gets EPIPE and exits 1.
	t.Run("IgnoredPipe", func(t *testing.T) {
		requires(t)
		script := `yes | head -1 >/dev/null; echo "${PIPESTATUS[*]}"`
		bare, _ := runPP0(t, sigexec, set(syscall.SIGPIPE), "0", "bash", "-c", script)
		under, _ := runPP0(t, sigexec, set(syscall.SIGPIPE), "0", ppBin, "-o", reportPath(t), "--", "bash", "-c", script)
		b, u := strings.Join(bare.out.all(), "|"), strings.Join(under.out.all(), "|")
		if b != "1 0" || u != b {
			t.Errorf("PIPESTATUS under perfprof %q, bare %q, want \"1 0\" for both", u, b)
		}
	})
}

// runPP0 runs argv (which need not be perfprof) to its end.
func runPP0(t *testing.T, argv ...string) (*proc, int) {
	t.Helper()
	p := start(t, argv...)
	code := p.wait(20 * time.Second)
	p.waitEOF(2 * time.Second)
	return p, code
}

// TestInheritedFDs: the workload gets the file descriptors perfprof was
// started with, as a shell's child would (a make jobserver's pipe, a
// socket handed over by systemd), and none of perfprof's own.
func TestInheritedFDs(t *testing.T) {
	requires(t)
	t.Parallel()
	dir := t.TempDir()
	var files []*os.File
	for i := range 3 {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("inherited%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	list := `for fd in /proc/self/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && echo "fd $n $(readlink $fd)"; done; true`
	run := func(argv ...string) []string {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.ExtraFiles = files // fds 3, 4, 5
		cmd.Env = append(os.Environ(), markVar+"="+markOf(t))
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("%q: %v", argv, err)
		}
		var fds []string
		for _, l := range strings.Split(string(b), "\n") {
			// Not the fd the shell listed the directory with (gone, or
			// /proc/PID/fd, by the time readlink runs).
			if f := strings.Fields(l); len(f) == 3 && f[0] == "fd" && !strings.HasPrefix(f[2], "/proc/") {
				fds = append(fds, l)
			}
		}
		return fds
	}
	// The test's own fds that are not close-on-exec (from whatever
	// started it) are inherited too, bare and under perfprof alike.
	bare := run("sh", "-c", list)
	for _, f := range files {
		if !slices.ContainsFunc(bare, func(l string) bool { return strings.HasSuffix(l, " "+f.Name()) }) {
			t.Fatalf("bare: fds %q, without %s", bare, f.Name())
		}
	}
	for _, mode := range [][]string{nil, {"--no-follow"}} {
		args := append([]string{ppBin, "-e", "task-clock,page-faults", "-o", filepath.Join(dir, "report")}, mode...)
		under := run(append(args, "--", "sh", "-c", list)...)
		if strings.Join(under, "\n") != strings.Join(bare, "\n") {
			t.Errorf("perfprof %v: the workload's fds above 2:\n%s\nbare:\n%s", mode, strings.Join(under, "\n"), strings.Join(bare, "\n"))
		}
	}
}

// TestScriptWithoutShebang: a script without a #! line is run with
// /bin/sh, as execvp(3) and the shells do.
func TestScriptWithoutShebang(t *testing.T) {
	requires(t)
	t.Parallel()
	script := filepath.Join(t.TempDir(), "script.sh")
	if err := os.WriteFile(script, []byte("echo \"args $0 $1 $2\"\nexit 4\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, mode := range [][]string{nil, {"--no-follow"}} {
		out := reportPath(t)
		p, code := runPP(t, 10*time.Second, append(append([]string{"--json", "-o", out}, mode...), "--", script, "a", "b c")...)
		if code != 4 {
			t.Errorf("perfprof %v: exit status %d, want the script's 4\n%s", mode, code, dump(p, out))
		}
		p.expect("args "+script+" a b c", time.Second)
		if s := p.stderr(); s != "" {
			t.Errorf("perfprof %v: stderr %q", mode, s)
		}
		rep := readReport(t, out)
		if len(rep.final) != 1 || value(t, rep.final[0], "task-clock") == 0 {
			t.Errorf("perfprof %v: counts %v, want the script's shell counted", mode, rep.final)
		}
	}
}

// brokenPipe runs perfprof with its standard output on a pipe whose reader
// reads lines lines and closes it (0: closes it at once). It returns
// perfprof's exit status and stderr lines.
func brokenPipe(t *testing.T, lines int, args ...string) (int, []string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ppBin, args...)
	cmd.Stdout = w
	p := startCmd(t, cmd, nil)
	w.Close()
	br := bufio.NewReader(r)
	for range lines {
		br.ReadString('\n')
	}
	r.Close()
	code := p.wait(10 * time.Second)
	return code, stderrLines(p)
}

func checkBrokenPipe(t *testing.T, code int, lines []string) {
	t.Helper()
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "perfprof: ") || !strings.Contains(lines[0], "broken pipe") {
		t.Errorf("stderr %q, want one line naming the broken pipe", lines)
	}
}

// TestBrokenPipe: a report reader that goes away stops perfprof cleanly
// (status 1, one line), in launch and in attach mode, whatever was
// written before.
func TestBrokenPipe(t *testing.T) {
	requires(t)
	t.Parallel()
	t.Run("Launch", func(t *testing.T) {
		requires(t)
		t.Parallel()
		// sigtarget forks every 100 ms: a stream of fork and exit records.
		code, lines := brokenPipe(t, 1, "--json", "--", workload("sigtarget"), "1")
		checkBrokenPipe(t, code, lines)
	})
	t.Run("Attach", func(t *testing.T) {
		requires(t)
		t.Parallel()
		tgt := start(t, workload("sigtarget"), "1")
		pid := tgt.expectPID("ready", 5*time.Second)
		code, lines := brokenPipe(t, 1, "--json", "-p", strconv.Itoa(pid))
		checkBrokenPipe(t, code, lines)
		// Detached and running on, as after Ctrl-C.
		if st, tr := taskState(pid, pid); st == "T" || st == "t" || tr != 0 || !alive(pid) {
			t.Errorf("target %d after perfprof stopped: state %s, TracerPid %d", pid, st, tr)
		}
		tgt.signal(syscall.SIGTERM)
		if code := tgt.wait(5 * time.Second); code != 0 {
			t.Errorf("target exit status %d, want 0", code)
		}
	})
	t.Run("Interval", func(t *testing.T) {
		requires(t)
		t.Parallel()
		code, lines := brokenPipe(t, 1, "-i", "50", "--", workload("sigtarget"), "1")
		checkBrokenPipe(t, code, lines)
	})
	t.Run("AtTheEnd", func(t *testing.T) {
		requires(t)
		t.Parallel()
		// perfprof -- sleep 0.3 | true: the reader is gone before the
		// only write, the final report.
		code, lines := brokenPipe(t, 0, "--", "sleep", "0.3")
		checkBrokenPipe(t, code, lines)
	})
}

// TestJSONStreamInOrder: a stream consumer reads records in order: every
// record's time is at least the previous one's, even with interval
// reports written while the tracer queues task events. Every fork and exit
// record has its pid and tid, including those of tasks killed by an
// exit_group while perfprof was taking them over (before their parent's
// event came, with Spawners), the summary counts one fork per fork record,
// and no such task is a counter failure.
func TestJSONStreamInOrder(t *testing.T) {
	requires(t)
	t.Parallel()
	for _, tc := range []struct {
		name string
		argv []string
	}{
		{"ExitGroupRace", []string{confBin(t, "exitrace"), "thread", "80"}},
		// Threads that create threads while main calls exit_group: about
		// 40 new threads per run die before their parent's event came.
		{"Spawners", []string{confBin(t, "exitrace"), "spawners", "30"}},
		{"ForkTree", []string{workload("forktree"), "3", "3", "2", "5"}},
		{"Pipeline", []string{"sh", "-c", "for i in $(seq 100); do echo $i | cat | wc -c >/dev/null; done"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requires(t)
			t.Parallel()
			args := append([]string{"-i", "20", "-e", "task-clock,page-faults", "--"}, tc.argv...)
			p, out := runJSON(t, 60*time.Second, args...)
			rep := readReport(t, out)
			checkStream(t, rep, p, out)
			if n := len(rep.counts) - len(rep.final); n == 0 {
				t.Errorf("no interval counts records: the run was too short to test the order")
			}
		})
	}
}

// checkStream checks the order and the schema of a --json stream.
func checkStream(t *testing.T, rep *report, p *proc, out string) {
	t.Helper()
	for i := 1; i < len(rep.all); i++ {
		if rep.all[i].Time < rep.all[i-1].Time {
			t.Errorf("record %d goes back in time (%d ns):\n%s\n%s", i+1, rep.all[i-1].Time-rep.all[i].Time, rep.all[i-1], rep.all[i])
		}
	}
	for _, r := range append(append([]record(nil), rep.forks...), rep.exits...) {
		if r.PID == 0 || r.TID == 0 {
			t.Errorf("%s record without pid or tid: %s", r.Type, r)
		}
	}
	if *rep.summary.Forks != len(rep.forks) {
		t.Errorf("summary forks %d, %d fork records\n%s", *rep.summary.Forks, len(rep.forks), tail(dump(p, out)))
	}
	if *rep.summary.TasksFollowed != len(rep.forks)+1 {
		t.Errorf("summary tasks_followed %d, want the workload and its %d fork records", *rep.summary.TasksFollowed, len(rep.forks))
	}
	if *rep.summary.CounterFailures != 0 {
		t.Errorf("summary counter_failures %d, want 0", *rep.summary.CounterFailures)
	}
	if s := p.stderr(); s != "" {
		t.Errorf("stderr %q, want nothing", s)
	}
}

// TestFollowItself: a process that attaches perfprof to itself is told
// that perfprof cannot follow itself, not "not permitted".
func TestFollowItself(t *testing.T) {
	requires(t)
	t.Parallel()
	p, code := runPP0(t, "sh", "-c", `exec "$0" -p $$`, ppBin)
	if code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	checkMessage(t, p, []string{"cannot follow itself"}, "")
	if strings.Contains(p.stderr(), "ptrace_scope") {
		t.Errorf("stderr %q blames ptrace_scope", p.stderr())
	}
}

// TestTreeSkipsTraced: --tree says on stderr, without -v, which process
// below the target it could not follow because another tracer holds it,
// and follows the rest.
func TestTreeSkipsTraced(t *testing.T) {
	requires(t)
	t.Parallel()
	strace := testenv.Tool(t, "strace")
	sh := start(t, "/bin/sh", "-c", strace+" -o /dev/null "+workload("sigtarget")+" 1 & "+workload("sigtarget")+" 1 & wait")
	a := sh.expectPID("ready", 5*time.Second)
	b := sh.expectPID("ready", 5*time.Second)
	straced, free := a, b
	if _, tr := taskState(b, b); tr != 0 {
		straced, free = b, a
	}
	if !waitFor(5*time.Second, func() bool { _, tr := taskState(straced, straced); return tr != 0 }) {
		t.Fatalf("sigtarget %d is not under strace", straced)
	}
	out := reportPath(t)
	pp, code := runPP(t, 10*time.Second, "--tree", "-p", strconv.Itoa(sh.pid()), "--duration", "300ms", "--json", "-o", out)
	if code != 0 {
		t.Errorf("exit status %d, want 0\n%s", code, pp.stderr())
	}
	lines := stderrLines(pp)
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "perfprof: warning: ") ||
		!strings.Contains(lines[0], strconv.Itoa(straced)) || !strings.Contains(lines[0], "(strace)") {
		t.Errorf("stderr %q, want a warning naming process %d and strace", lines, straced)
	}
	final := readReport(t, out).finalByPID(t)
	if _, ok := final[free]; !ok {
		t.Errorf("process %d (not traced by strace) not counted", free)
	}
	if _, ok := final[straced]; ok {
		t.Errorf("process %d (under strace) counted", straced)
	}
	for _, pid := range []int{a, b} {
		syscall.Kill(pid, syscall.SIGTERM)
	}
	if code := sh.wait(5 * time.Second); code != 0 {
		t.Errorf("shell exit status %d after its children ended", code)
	}
}
