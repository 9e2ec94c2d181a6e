package follow

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/runstats"
	"golang.org/x/sys/unix"
)

// waitUntraced waits (5 s at most) for the watch to end.
func waitUntraced(t *testing.T, u *Untraced) Result {
	t.Helper()
	select {
	case <-u.Done():
	case <-time.After(5 * time.Second):
		u.Stop()
		t.Fatal("the untraced watch did not end in 5 s")
	}
	return u.Wait()
}

// running reports whether the watch is still running after a moment.
func running(u *Untraced) bool {
	select {
	case <-u.Done():
		return false
	case <-time.After(100 * time.Millisecond):
		return true
	}
}

// TestUntracedLaunch launches a workload untraced: it is armed before its
// exec, runs with no tracer, and the watch ends when it exits, with its
// status, handing its devices to Options.Exit.
func TestUntracedLaunch(t *testing.T) {
	var exits []ExitEvent
	var exitDevs []pidtree.Device
	u, err := NewUntraced(UntracedOptions{Exit: func(ev ExitEvent, devs []pidtree.Device) {
		exits = append(exits, ev)
		exitDevs = devs
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := newRecorder()
	pid, err := u.Launch("/bin/sh", []string{"sh", "-c", "exec sleep 60"}, os.Environ(), r.arm)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.armed) != 1 || r.armed[0] != (pidtree.Task{TID: pid, TGID: pid, Proc: 1}) {
		t.Errorf("armed %+v, want the workload %d as Proc 1", r.armed, pid)
	}
	if _, tracer := procState(t, pid); tracer != "0" {
		t.Errorf("workload's TracerPid %s, want 0", tracer)
	}
	if _, err := u.Attach(os.Getpid(), AttachOptions{}, r.arm); !errors.Is(err, errTwoWorkloads) {
		t.Errorf("Attach with a workload: %v, want errTwoWorkloads", err)
	}
	u.Run()
	if !running(u) {
		t.Fatal("the watch ended while the workload runs")
	}
	if _, err := u.Launch("/bin/true", []string{"true"}, nil, r.arm); !errors.Is(err, errUntracedRunning) {
		t.Errorf("Launch after Run: %v, want errUntracedRunning", err)
	}
	// End it with a signal of its own (not forwarded: sent by the test).
	unix.Kill(pid, unix.SIGUSR1)
	res := waitUntraced(t, u)
	if !res.HaveWorkload || !res.Workload.Signaled() || res.Workload.Signal() != unix.SIGUSR1 || res.Stopped {
		t.Errorf("result %+v, want the workload killed by SIGUSR1, not stopped", res)
	}
	if len(exits) != 1 || exits[0].TID != pid || exits[0].Status != res.Workload || len(exitDevs) != 1 || exitDevs[0] != r.devs[0] {
		t.Errorf("Exit got %+v with %v; want the workload's status and device", exits, exitDevs)
	}
	if rs := u.RunStats(); rs != (runstats.Tasks{Followed: 1}) {
		t.Errorf("RunStats %+v, want 1 followed", rs)
	}
	if st, _ := procState(t, pid); st != "gone" {
		t.Errorf("workload not reaped: %s", st)
	}
}

// TestUntracedStopAndForward: Forward hands a signal to the workload,
// Stop kills it.
func TestUntracedStopAndForward(t *testing.T) {
	for _, tc := range []struct {
		name  string
		act   func(u *Untraced)
		check func(unix.WaitStatus) bool
		stop  bool
	}{
		{"forward", func(u *Untraced) { u.Forward(unix.SIGTERM, time.Now()) },
			func(ws unix.WaitStatus) bool { return ws.Exited() && ws.ExitStatus() == 3 }, false},
		{"stop", func(u *Untraced) { u.Stop() },
			func(ws unix.WaitStatus) bool { return ws.Signaled() && ws.Signal() == unix.SIGKILL }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := NewUntraced(UntracedOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r := newRecorder()
			if _, err := u.Launch("/bin/sh", []string{"sh", "-c", `trap "exit 3" TERM; while :; do sleep 0.02; done`},
				os.Environ(), r.arm); err != nil {
				t.Fatal(err)
			}
			u.Run()
			if !running(u) {
				t.Fatal("the watch ended while the workload runs")
			}
			tc.act(u)
			res := waitUntraced(t, u)
			if !tc.check(res.Workload) || res.Stopped != tc.stop {
				t.Errorf("status %#x, stopped %v", uint32(res.Workload), res.Stopped)
			}
			// Once it has ended, neither signals anything.
			u.Forward(unix.SIGTERM, time.Now())
			u.Stop()
		})
	}
}

// TestUntracedAttach watches two processes, one whole and one by a
// thread: its threads are armed untraced, each process with a Proc of its
// own, and the watch ends when both are gone.
func TestUntracedAttach(t *testing.T) {
	var cmds []*exec.Cmd
	for range 2 {
		cmd, sc := startTarget(t, bin+"/sigtarget", "2")
		go func() {
			for sc.Scan() {
			}
		}()
		cmds = append(cmds, cmd)
	}
	p1, p2 := cmds[0].Process.Pid, cmds[1].Process.Pid
	tids2, err := Threads(p2)
	if err != nil || len(tids2) != 3 {
		t.Fatalf("threads of %d: %v, %v", p2, tids2, err)
	}
	thread := slices.DeleteFunc(tids2, func(tid int) bool { return tid == p2 })[0]

	u, err := NewUntraced(UntracedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := newRecorder()
	a, err := u.Attach(p1, AttachOptions{}, r.arm)
	if err != nil || len(a.TIDs) != 3 || a.ArmErr != nil {
		t.Fatalf("Attach(%d) = %+v, %v; want its 3 threads", p1, a, err)
	}
	if a, err := u.Attach(thread, AttachOptions{Thread: true}, r.arm); err != nil || !slices.Equal(a.TIDs, []int{thread}) {
		t.Fatalf("Attach(thread %d) = %+v, %v", thread, a, err)
	}
	want := []pidtree.Task{{TID: thread, TGID: p2, Proc: 2}}
	for _, tid := range r.armed[:3] {
		if tid.TGID != p1 || tid.Proc != 1 {
			t.Errorf("armed %+v, want process %d as Proc 1", tid, p1)
		}
	}
	if !slices.Equal(r.armed[3:], want) {
		t.Errorf("armed %+v, want %+v", r.armed[3:], want)
	}
	r.checkProcs(t)
	u.Run()
	if !running(u) {
		t.Fatal("the watch ended with both targets alive")
	}
	for _, pid := range []int{p1, p2} {
		if st, tracer := procState(t, pid); tracer != "0" || st == "t" || st == "T" {
			t.Errorf("target %d: state %s, tracer %s", pid, st, tracer)
		}
	}
	cmds[0].Process.Kill()
	if !running(u) {
		t.Fatal("the watch ended with one target alive")
	}
	cmds[1].Process.Kill()
	res := waitUntraced(t, u)
	if res.Stopped || res.HaveWorkload {
		t.Errorf("result %+v: want neither stopped nor a workload", res)
	}
	if rs := u.RunStats(); rs != (runstats.Tasks{Followed: 4}) {
		t.Errorf("RunStats %+v, want 4 followed", rs)
	}
	for _, d := range r.devs {
		if d.uses != 0 || d.unuses != 0 {
			t.Errorf("device of %d used %d, unused %d times: untraced devices are held, not linked", d.tid, d.uses, d.unuses)
		}
	}
}

// TestUntracedStopAttached: Stop ends the watch at once and leaves the
// attached process running.
func TestUntracedStopAttached(t *testing.T) {
	cmd := exec.Command(bin+"/sigtarget", "1")
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	u, err := NewUntraced(UntracedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := newRecorder()
	if _, err := u.Attach(cmd.Process.Pid, AttachOptions{}, r.arm); err != nil {
		t.Fatal(err)
	}
	u.Run()
	if !running(u) {
		t.Fatal("the watch ended with its target alive")
	}
	u.Stop()
	if res := waitUntraced(t, u); !res.Stopped {
		t.Errorf("result %+v, want stopped", res)
	}
	if st, _ := procState(t, cmd.Process.Pid); st == "gone" || st == "Z" {
		t.Errorf("target after Stop: %s, want it running", st)
	}
}

// TestUntracedAttachErrors: a missing target, a tree, an arm that fails.
func TestUntracedAttachErrors(t *testing.T) {
	u, err := NewUntraced(UntracedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := newRecorder()
	for _, opt := range []AttachOptions{{}, {Thread: true}} {
		_, err := u.Attach(1<<22+1, opt, r.arm)
		var ae *AttachError
		if !errors.As(err, &ae) || ae.Cause != CauseNoProcess || ae.PID != 1<<22+1 || !errors.Is(err, unix.ESRCH) {
			t.Errorf("Attach(missing, %+v): %v, want CauseNoProcess", opt, err)
		}
	}
	if _, err := u.Attach(os.Getpid(), AttachOptions{Tree: true}, r.arm); !errors.Is(err, errUntracedTree) {
		t.Errorf("Attach with Tree: %v", err)
	}
	armErr := errors.New("no counters")
	a, err := u.Attach(os.Getpid(), AttachOptions{}, func(pidtree.Task) ([]pidtree.Device, error) { return nil, armErr })
	if err != nil || a.ArmErr != armErr || len(a.TIDs) != 0 {
		t.Errorf("Attach with a failing arm: %+v, %v", a, err)
	}
	if rs := u.RunStats(); rs.Followed != 0 {
		t.Errorf("RunStats %+v: a task whose arm failed is not followed", rs)
	}
	// The watch's own process is a target: Stop ends the watch.
	u.Run()
	if !running(u) {
		t.Fatal("the watch ended with its target alive")
	}
	res := u.Close()
	if !res.Stopped {
		t.Errorf("Close: %+v, want stopped", res)
	}
	if _, err := u.Attach(os.Getpid(), AttachOptions{}, r.arm); !errors.Is(err, errUntracedRunning) {
		t.Errorf("Attach after the end: %v", err)
	}
}

// TestUntracedEmpty: a watch with no target ends at once, and Close
// before Run releases it.
func TestUntracedEmpty(t *testing.T) {
	u, err := NewUntraced(UntracedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	u.Run()
	if res := waitUntraced(t, u); res.Stopped {
		t.Errorf("result %+v", res)
	}
	u2, _ := NewUntraced(UntracedOptions{})
	if res := u2.Close(); !res.Stopped {
		t.Errorf("Close before Run: %+v", res)
	}
}
