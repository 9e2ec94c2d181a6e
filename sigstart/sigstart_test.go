package sigstart

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The test binary plays two more parts, chosen by $SIGSTART_TEST:
// "apply" applies $SIGSTART_IGN and $SIGSTART_BLK and execs os.Args[1:];
// "report" prints what its constructor recorded.
func TestMain(m *testing.M) {
	switch os.Getenv("SIGSTART_TEST") {
	case "apply":
		runtime.LockOSThread()
		ign, err1 := ParseSet(os.Getenv("SIGSTART_IGN"))
		blk, err2 := ParseSet(os.Getenv("SIGSTART_BLK"))
		if err1 != nil || err2 != nil {
			fmt.Fprintln(os.Stderr, err1, err2)
			os.Exit(3)
		}
		env := []string{"SIGSTART_TEST=" + os.Getenv("SIGSTART_THEN")}
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "SIGSTART_TEST=") && !strings.HasPrefix(kv, "SIGSTART_THEN=") {
				env = append(env, kv)
			}
		}
		if err := Apply(ign, blk); err != nil {
			fmt.Fprintln(os.Stderr, "Apply:", err)
			os.Exit(3)
		}
		err := syscall.Exec(os.Args[1], os.Args[1:], env)
		fmt.Fprintln(os.Stderr, "exec:", err)
		os.Exit(3)
	case "report":
		fmt.Printf("%v %v %v\n", Known(), Ignored(), Blocked())
		os.Exit(0)
	case "ignored-at-start":
		fmt.Println(IgnoredAtStart(unix.SIGTERM), IgnoredAtStart(unix.SIGUSR2))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// applyAndExec runs argv after Apply(ign, blk) in a copy of the test
// binary, and returns its standard output.
func applyAndExec(t *testing.T, ign, blk Set, argv ...string) string {
	t.Helper()
	return applyAndExecThen(t, "report", ign, blk, argv...)
}

// applyAndExecThen is applyAndExec with the test binary exec'd as then
// (its $SIGSTART_TEST).
func applyAndExecThen(t *testing.T, then string, ign, blk Set, argv ...string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], argv...)
	cmd.Env = append(os.Environ(), "SIGSTART_TEST=apply", "SIGSTART_THEN="+then, "SIGSTART_IGN="+ign.String(), "SIGSTART_BLK="+blk.String())
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%v: %v\n%s", argv, err, stderr)
	}
	return strings.TrimSpace(string(out))
}

func set(sigs ...unix.Signal) Set {
	var s Set
	for _, sig := range sigs {
		s |= 1 << (sig - 1)
	}
	return s
}

var (
	// Signals the Go runtime catches or unblocks: these are the ones a Go
	// program cannot see on its own.
	testIgnored = set(unix.SIGPIPE, unix.SIGTERM, unix.SIGQUIT, unix.SIGUSR1, unix.SIGCHLD, unix.SIGHUP)
	testBlocked = set(unix.SIGTERM, unix.SIGUSR2, unix.SIGINT, unix.SIGCHLD)
)

// A program the Go runtime starts is told what it was started with.
func TestCapture(t *testing.T) {
	if !Known() {
		t.Fatal("Known() is false: this build has no cgo, so perfprof cannot give its workload the signal state it was started with (build with CGO_ENABLED=1 and a C compiler)")
	}
	got := applyAndExec(t, testIgnored, testBlocked, os.Args[0])
	want := fmt.Sprintf("true %v %v", testIgnored, testBlocked)
	if got != want {
		t.Errorf("recorded %q, want %q (known ignored blocked)", got, want)
	}
	if got := applyAndExec(t, 0, 0, os.Args[0]); got != "true 0000000000000000 0000000000000000" {
		t.Errorf("recorded %q with nothing ignored or blocked", got)
	}
}

// Apply gives a program that is not Go exactly the state asked for, as
// the kernel shows it.
func TestApplyProcStatus(t *testing.T) {
	grep, err := exec.LookPath("grep")
	if err != nil {
		t.Skip("no grep")
	}
	out := applyAndExec(t, testIgnored, testBlocked, grep, "^Sig[IB]", "/proc/self/status")
	want := fmt.Sprintf("SigBlk:\t%v\nSigIgn:\t%v", testBlocked, testIgnored)
	if out != want {
		t.Errorf("/proc/self/status of the exec'd program:\n%s\nwant\n%s", out, want)
	}
}

func TestSetString(t *testing.T) {
	s := set(unix.SIGPIPE, unix.SIGTERM)
	if s.String() != "0000000000005000" {
		t.Errorf("String() = %q", s.String())
	}
	if s.Names() != "SIGPIPE SIGTERM" {
		t.Errorf("Names() = %q", s.Names())
	}
	if p, err := ParseSet(s.String()); err != nil || p != s {
		t.Errorf("ParseSet(%q) = %v, %v", s.String(), p, err)
	}
	if _, err := ParseSet("xyz"); err == nil {
		t.Error("ParseSet(xyz) did not fail")
	}
	if !s.Has(unix.SIGPIPE) || s.Has(unix.SIGINT) || s.Has(0) || s.Has(65) {
		t.Error("Has is wrong")
	}
}

// Signals 32 and 33, which glibc keeps for itself and will not report,
// are recorded and given back too.
func TestGlibcSignals(t *testing.T) {
	ign := set(32, 33, unix.SIGPIPE)
	blk := set(33, unix.SIGTERM)
	if got, want := applyAndExec(t, ign, blk, os.Args[0]), fmt.Sprintf("true %v %v", ign, blk); got != want {
		t.Errorf("recorded %q, want %q", got, want)
	}
}

// IgnoredAtStart tells a signal the process was started ignoring, which
// the Go runtime catches all the same, from one it was not.
func TestIgnoredAtStart(t *testing.T) {
	if !Known() {
		t.Fatal("Known() is false: this build has no cgo")
	}
	if got := applyAndExecThen(t, "ignored-at-start", set(unix.SIGTERM), 0, os.Args[0]); got != "true false" {
		t.Errorf("started ignoring SIGTERM: IgnoredAtStart(SIGTERM, SIGUSR2) = %s, want true false", got)
	}
	if got := applyAndExecThen(t, "ignored-at-start", 0, 0, os.Args[0]); got != "false false" {
		t.Errorf("started ignoring nothing: IgnoredAtStart(SIGTERM, SIGUSR2) = %s, want false false", got)
	}
}
