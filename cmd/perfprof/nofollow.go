package main

import (
	"os"
	"path/filepath"
	"time"

	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/internal/sdnotify"
	"github.com/perfprof/perfprof/pidtree"
	"golang.org/x/sys/unix"
)

// runNoFollow counts the initial tasks only: no ptrace, so tasks they
// create are not counted (and targets that cannot be traced still can be
// counted).
func (s *session) runNoFollow() int {
	c := s.cfg
	var devs []pidtree.Device
	procs := map[int]uint64{} // a Proc for each process, as the tracer would give
	open := func(tid, tgid int, comm string, enableOnExec bool) error {
		if procs[tgid] == 0 {
			procs[tgid] = uint64(len(procs) + 1)
		}
		d, err := s.set.Arm(pidtree.Task{TID: tid, TGID: tgid, Proc: procs[tgid]}, comm, enableOnExec)
		if err != nil {
			return err
		}
		devs = append(devs, d)
		return nil
	}
	workload := 0
	if len(c.argv) > 0 {
		pid, err := follow.LaunchUntraced(c.path, c.argv, os.Environ(), func(pid int) error {
			return open(pid, pid, filepath.Base(c.path), true)
		})
		if err != nil {
			s.fail(err)
			return exitFailure
		}
		workload = pid
	}
	for _, pid := range c.pids {
		tids, err := follow.Threads(pid)
		if err != nil {
			s.errorf("attach to %d: no such process", pid)
			continue
		}
		for _, tid := range tids {
			if err := open(tid, pid, follow.Comm(tid), false); err != nil {
				s.fail(err)
			}
		}
	}
	for _, tid := range c.tids {
		tgid := follow.ProcessOf(tid) // a thread is reported in its process
		if tgid == 0 {
			s.errorf("attach to %d: no such process", tid)
			continue
		}
		if err := open(tid, tgid, follow.Comm(tid), false); err != nil {
			s.fail(err)
		}
	}
	if len(devs) == 0 {
		return exitFailure
	}

	// The run ends when every target has exited, or when asked to stop.
	// A pidfd polls readable when its process (or, with PIDFD_THREAD,
	// its thread) exits; a perf fd without a ring cannot tell (it always
	// polls POLLHUP).
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		s.fail(os.NewSyscallError("eventfd", err))
		return exitFailure
	}
	defer unix.Close(wake)
	fds := []unix.PollFd{{Fd: int32(wake), Events: unix.POLLIN}}
	watch := func(id, flags int) {
		fd, err := unix.PidfdOpen(id, flags)
		if err == nil {
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
	}
	for _, pid := range c.pids {
		watch(pid, 0)
	}
	for _, tid := range c.tids {
		watch(tid, unix.PIDFD_THREAD)
	}
	defer func() {
		for _, p := range fds[1:] {
			if p.Fd >= 0 {
				unix.Close(int(p.Fd))
			}
		}
	}()
	done := make(chan struct{})
	var status unix.WaitStatus
	go func() {
		defer close(done)
		if workload != 0 {
			unix.Wait4(workload, &status, 0, nil)
			return
		}
		live := len(fds) - 1
		for live > 0 {
			if _, err := unix.Poll(fds, -1); err != nil && err != unix.EINTR {
				return
			}
			if fds[0].Revents != 0 {
				return
			}
			for i := 1; i < len(fds); i++ {
				if fds[i].Fd >= 0 && fds[i].Revents != 0 {
					fds[i].Fd = ^fds[i].Fd // poll skips negative fds; the defer restores nothing, so close now
					unix.Close(int(^fds[i].Fd))
					live--
				}
			}
		}
	}()
	stop := func() {
		if workload != 0 {
			unix.Kill(workload, unix.SIGKILL)
			return
		}
		unix.Write(wake, []byte{1, 0, 0, 0, 0, 0, 0, 0})
	}
	var forward func(unix.Signal, time.Time)
	if workload != 0 {
		forward = func(sig unix.Signal, _ time.Time) {
			// Untraced, the workload's deliveries cannot be seen: a
			// keyboard signal while perfprof's group (the workload's) is
			// in the terminal's foreground is taken to be the terminal's,
			// which the workload got too.
			if (sig == unix.SIGINT || sig == unix.SIGQUIT) && inForeground() {
				return
			}
			unix.Kill(workload, sig)
		}
	}
	if code := s.attached(); code != exitOK {
		stop()
		<-done
		return code
	}
	s.watch(func() {
		sdnotify.Notify("STOPPING=1")
		stop()
	}, forward, done)
	<-done
	code := exitOK
	if workload != 0 {
		s.set.Exit(status, devs[:1])
		if status.Signaled() {
			code = 128 + int(status.Signal())
		} else {
			code = status.ExitStatus()
		}
	}
	return s.finish(len(devs), 0, code)
}

// inForeground reports whether perfprof's process group is the foreground
// group of its controlling terminal.
func inForeground() bool {
	fd, err := unix.Open("/dev/tty", unix.O_RDONLY|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false // no controlling terminal
	}
	defer unix.Close(fd)
	fg, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	return err == nil && fg == unix.Getpgrp()
}
