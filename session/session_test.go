package session

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/internal/testenv"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/sigstart"
	"github.com/perfprof/perfprof/stream"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { testenv.RootMain(m, "ptrace and perf events on other tasks") }

// said records what a run reports.
type said struct {
	mu             sync.Mutex
	errors, warned []error
}

func (r *said) Error(err error) { r.mu.Lock(); r.errors = append(r.errors, err); r.mu.Unlock() }
func (r *said) Warn(w error)    { r.mu.Lock(); r.warned = append(r.warned, w); r.mu.Unlock() }

// runSession runs cfg and returns its result, its report and what it said.
func runSession(t *testing.T, cfg *Config, sig Signals) (Result, string, *said) {
	t.Helper()
	var out, msgs bytes.Buffer
	rep := &said{}
	res := New(cfg, &out, stream.NewMessages(&msgs), rep, sig).Run()
	if msgs.Len() > 0 {
		t.Logf("messages: %s", msgs.String())
	}
	return res, out.String(), rep
}

func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunWorkload: a launched workload is followed to its end, its tasks
// counted, and the run ends with its status.
func TestRunWorkload(t *testing.T) {
	sh := lookPath(t, "sh")
	cfg := &Config{Argv: []string{"sh", "-c", "sh -c 'exit 0' & wait; exit 3"}, Path: sh, Events: []string{"task-clock"}, FoldAfter: 100}
	res, out, rep := runSession(t, cfg, Signals{})
	if res.Err != nil || res.Failed || !res.HaveWorkload || res.Workload.ExitStatus() != 3 {
		t.Errorf("Result = %+v, want the workload's exit 3", res)
	}
	if len(rep.errors)+len(rep.warned) > 0 {
		t.Errorf("said %v, warned %v; want nothing", rep.errors, rep.warned)
	}
	if !strings.Contains(out, "Performance counter stats for the process tree (2 processes)") || !strings.Contains(out, "1 fork") {
		t.Errorf("report:\n%s\nwant the two processes and their fork", out)
	}
}

// TestRunErrors: what ends a run before it follows anything is reported
// once, as the value of the package that failed, and is the Result's Err.
func TestRunErrors(t *testing.T) {
	var dead []int
	for range 2 {
		c := exec.Command("true")
		if err := c.Run(); err != nil {
			t.Fatal(err)
		}
		dead = append(dead, c.Process.Pid)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name  string
		cfg   Config
		check func(err error) bool
	}{
		{"unknown event", Config{Events: []string{"task-clok"}, PIDs: []int{os.Getpid()}},
			func(err error) bool { var ue *perfevent.UnknownEventError; return errors.As(err, &ue) }},
		{"not a cgroup", Config{Events: []string{"task-clock"}, Cgroup: dir},
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "cgroup.procs") }},
		{"no target", Config{Events: []string{"task-clock"}, PIDs: dead},
			func(err error) bool { return errors.Is(err, ErrNoTarget) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.FoldAfter = 100
			res, _, rep := runSession(t, &cfg, Signals{})
			if res.Err == nil {
				t.Fatalf("Result = %+v, want an error", res)
			}
			last := rep.errors[len(rep.errors)-1]
			if !tc.check(last) {
				t.Errorf("reported %v, want the failure's own value", rep.errors)
			}
			if tc.name == "no target" {
				var ae *follow.AttachError
				if len(rep.errors) != 3 || !errors.As(rep.errors[0], &ae) || ae.Cause != follow.CauseNoProcess {
					t.Errorf("reported %v: want each target's *follow.AttachError (no process), then ErrNoTarget", rep.errors)
				}
			}
		})
	}
}

// TestRunStopSignal: with a workload, a first stop signal is passed on to
// it; a second kills what is left, which ends the run.
func TestRunStopSignal(t *testing.T) {
	sh := lookPath(t, "sh")
	sig := stopSignal(t)
	stop := make(chan os.Signal, 2)
	ready := filepath.Join(t.TempDir(), "ready")
	cfg := &Config{Argv: []string{"sh", "-c", "trap '' INT TERM HUP QUIT; : >" + ready + "; sleep 30"}, Path: sh, Events: []string{"task-clock"},
		FoldAfter: 100, KillAfter: time.Minute}
	go func() {
		// Once the workload ignores them (on a loaded machine, 300 ms
		// were not always enough for sh to get there).
		for _, err := os.Stat(ready); err != nil; _, err = os.Stat(ready) {
			time.Sleep(10 * time.Millisecond)
		}
		stop <- sig // ignored by the workload
		time.Sleep(200 * time.Millisecond)
		stop <- sig
	}()
	start := time.Now()
	res, _, _ := runSession(t, cfg, Signals{Stop: stop})
	if !res.HaveWorkload || !res.Workload.Signaled() || res.Workload.Signal() != unix.SIGKILL {
		t.Errorf("Result = %+v, want the workload killed by SIGKILL", res)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the run took %v", d)
	}
}

// stopSignal returns a stop signal this process was not started ignoring
// (a background job of a shell without job control ignores SIGINT): one
// that perfprof may act on, not only pass on.
func stopSignal(t *testing.T) unix.Signal {
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT} {
		if !sigstart.IgnoredAtStart(sig) {
			return sig
		}
	}
	t.Fatal("every stop signal was ignored at start")
	return 0
}

// TestKiller: what each stop signal does.
func TestKiller(t *testing.T) {
	sig := stopSignal(t)
	var forwarded []unix.Signal
	stops := 0
	k := killer{after: time.Hour, stop: func() { stops++ },
		forward: func(sig unix.Signal, _ time.Time) { forwarded = append(forwarded, sig) }}
	defer k.close()
	if k.timer() != nil {
		t.Error("a --kill-after timer before any signal")
	}
	k.signal(sig)
	if len(forwarded) != 1 || stops != 0 || k.timer() == nil || k.first != sig {
		t.Errorf("first signal: forwarded %v, %d stops; want it passed on and the timer armed", forwarded, stops)
	}
	k.signal(sig)
	if len(forwarded) != 1 || stops != 1 {
		t.Errorf("second signal: forwarded %v, %d stops; want a stop", forwarded, stops)
	}
	// Without a workload, or with --kill-after 0, a signal stops at once.
	for _, k := range []killer{{after: time.Hour, stop: func() { stops++ }}, {stop: func() { stops++ },
		forward: func(unix.Signal, time.Time) { t.Error("forwarded with --kill-after 0") }}} {
		before := stops
		k.signal(sig)
		if stops != before+1 {
			t.Errorf("%+v: no stop", k)
		}
	}
}
