package main

import (
	"errors"
	"fmt"

	"github.com/perfprof/perfprof/cgroup"
	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/perfevent"
	"golang.org/x/sys/unix"
)

// checkCgroup says whether dir is a cgroup v2 directory perfprof can
// follow.
func checkCgroup(dir string) error {
	var ne *cgroup.NotCgroupError
	if err := cgroup.Check(dir); errors.As(err, &ne) {
		return fmt.Errorf("--cgroup %s: not a cgroup v2 directory (no %s): give one of the cgroup2 hierarchy, such as /sys/fs/cgroup/system.slice/nginx.service", ne.Dir, ne.Missing)
	}
	return nil
}

// followCgroup attaches, while the tracer runs, the processes that enter
// the cgroup dir and that no one traces (see package cgroup), until the
// watch it returns is stopped. A process that a followed task forks is
// followed by ptrace, as always.
func (s *session) followCgroup(dir string, tr *follow.Tracer, arm follow.ArmFunc) *cgroup.Watch {
	return cgroup.Start(dir, cgroup.Options{
		Attach: func(pid int) error {
			_, err := tr.Attach(pid, follow.AttachOptions{}, arm)
			if errors.Is(err, unix.ESRCH) || errors.Is(err, perfevent.ErrNoTask) {
				return nil // gone meanwhile
			}
			return err
		},
		Warn: func(err error) {
			var ie *cgroup.InotifyError
			var pe *cgroup.ProcessError
			switch {
			case errors.As(err, &ie):
				s.warnf("--cgroup: inotify: %v: reading %s every %v only", ie.Err, dir, ie.Rescan)
			case errors.As(err, &pe):
				s.warnf("--cgroup: not following process %d: %s", pe.PID, attachReason(pe.Err))
			default:
				s.warnf("--cgroup: %v", err)
			}
		},
	})
}
