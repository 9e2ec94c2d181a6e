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
// counted). follow.Untraced watches the targets.
func (s *session) runNoFollow() int {
	w, err := follow.NewUntraced(follow.UntracedOptions{Exit: func(ev follow.ExitEvent, devs []pidtree.Device) {
		s.set.Exit(ev.Status, devs)
	}})
	if err != nil {
		s.fail(err)
		return exitFailure
	}
	tasks := w.RunStats
	s.tasks.Store(&tasks)
	forward, ok := s.untracedTargets(w)
	if !ok || w.RunStats().Followed == 0 {
		w.Close()
		return exitFailure
	}
	w.Run()
	if code := s.attached(); code != exitOK {
		w.Close()
		return code
	}
	s.watch(func() {
		sdnotify.Notify("STOPPING=1")
		w.Stop()
	}, forward, w.Done())
	return s.finish(w.RunStats().Followed, 0, exitCode(w.Wait()))
}

// untracedTargets launches the workload into w, or attaches the -p and -t
// targets, saying what fails. It returns the workload's Forward (nil when
// attaching), and false if the workload could not be started.
func (s *session) untracedTargets(w *follow.Untraced) (forward func(unix.Signal, time.Time), ok bool) {
	c := s.cfg
	if len(c.argv) > 0 {
		comm := filepath.Base(c.path)
		if _, err := w.Launch(c.path, c.argv, os.Environ(), func(t pidtree.Task) ([]pidtree.Device, error) {
			d, err := s.set.Arm(t, comm, true)
			if err != nil {
				return nil, err
			}
			return []pidtree.Device{d}, nil
		}); err != nil {
			s.fail(err)
			return nil, false
		}
		return w.Forward, true
	}
	// Each task that cannot be armed is said, and not counted.
	arm := func(t pidtree.Task) ([]pidtree.Device, error) {
		d, err := s.set.Arm(t, follow.Comm(t.TID), false)
		if err != nil {
			s.fail(err)
			return nil, err
		}
		return []pidtree.Device{d}, nil
	}
	attach := func(id int, thread bool) {
		if _, err := w.Attach(id, follow.AttachOptions{Thread: thread}, arm); err != nil {
			s.errorf("%s", attachMessage(err))
		}
	}
	for _, p := range c.pids {
		attach(p, false)
	}
	for _, t := range c.tids {
		attach(t, true)
	}
	return nil, true
}
