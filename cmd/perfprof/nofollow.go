package main

import (
	"os"
	"path/filepath"
	"time"

	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/pidtree"
	"golang.org/x/sys/unix"
)

// runNoFollow counts the initial tasks only: no ptrace, so tasks they
// create are not counted (and targets that cannot be traced still can be
// counted). follow.Untraced watches the targets.
func (s *session) runNoFollow() int {
	c := s.cfg
	w, err := follow.NewUntraced(follow.UntracedOptions{Exit: func(ev follow.ExitEvent, devs []pidtree.Device) {
		s.set.Exit(ev.Status, devs)
	}})
	if err != nil {
		s.fail(err)
		return exitFailure
	}
	tasks := w.RunStats
	s.tasks.Store(&tasks)
	var forward func(unix.Signal, time.Time) // the workload's, nil when attaching
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
			w.Close()
			return exitFailure
		}
		forward = w.Forward
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
	for _, p := range c.pids {
		if _, err := w.Attach(p, follow.AttachOptions{}, arm); err != nil {
			s.errorf("%s", attachMessage(err))
		}
	}
	for _, t := range c.tids {
		if _, err := w.Attach(t, follow.AttachOptions{Thread: true}, arm); err != nil {
			s.errorf("%s", attachMessage(err))
		}
	}
	if w.RunStats().Followed == 0 {
		w.Close()
		return exitFailure
	}
	w.Run()
	if code := s.attached(); code != exitOK {
		w.Close()
		return code
	}
	s.watch(func() {
		sdNotify("STOPPING=1")
		w.Stop()
	}, forward, w.Done())
	res := w.Wait()
	code := exitOK
	switch {
	case res.HaveWorkload && res.Workload.Signaled():
		code = 128 + int(res.Workload.Signal())
	case res.HaveWorkload:
		code = res.Workload.ExitStatus()
	}
	return s.finish(w.RunStats().Followed, 0, code)
}
