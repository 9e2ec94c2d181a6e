package session

import (
	"errors"

	"github.com/perfprof/perfprof/cgroup"
	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/perfevent"
	"golang.org/x/sys/unix"
)

// followCgroup attaches, while the tracer runs, the processes that enter
// the cgroup dir and that no one traces (see package cgroup), until the
// watch it returns is stopped. A process that a followed task forks is
// followed by ptrace, as always.
func (s *Session) followCgroup(dir string, f follower, arm follow.ArmFunc) *cgroup.Watch {
	return cgroup.Start(dir, cgroup.Options{
		Attach: func(pid int) error {
			_, err := f.Attach(pid, follow.AttachOptions{}, arm)
			if errors.Is(err, unix.ESRCH) || errors.Is(err, perfevent.ErrNoTask) {
				return nil // gone meanwhile
			}
			return err
		},
		Warn: func(err error) { s.rep.Warn(&CgroupError{Dir: dir, Err: err}) },
	})
}
