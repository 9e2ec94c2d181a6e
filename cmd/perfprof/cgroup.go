package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/perfevent"
	"golang.org/x/sys/unix"
)

// cgroupRescan is how often --cgroup reads cgroup.procs with no event: a
// process moved into a cgroup that was not empty changes no
// cgroup.events.
const cgroupRescan = 5 * time.Second

// checkCgroup says whether dir is a cgroup v2 directory perfprof can
// follow.
func checkCgroup(dir string) error {
	for _, f := range []string{"cgroup.procs", "cgroup.events"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("--cgroup %s: not a cgroup v2 directory (no %s): give one of the cgroup2 hierarchy, such as /sys/fs/cgroup/system.slice/nginx.service", dir, f)
		}
	}
	return nil
}

// cgroupPIDs reads the processes of a cgroup.
func cgroupPIDs(dir string) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// traced reports whether pid has a tracer (perfprof, once it followed it
// in: a child of a followed task, or a process attached before).
func traced(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return true // gone: nothing to attach
	}
	_, rest, ok := strings.Cut(string(b), "TracerPid:\t")
	return !ok || !strings.HasPrefix(rest, "0\n")
}

// followCgroup attaches, while the tracer runs, the processes that enter
// the cgroup dir: at each change of its cgroup.events (inotify: it
// changes when the cgroup becomes populated or empty, as when systemd
// restarts a service) and every cgroupRescan, it reads cgroup.procs and
// attaches every process no one traces. A process that a followed task
// forks is followed by ptrace, as always. It returns when stop is closed.
func (s *session) followCgroup(dir string, tr *follow.Tracer, arm follow.ArmFunc, stop <-chan struct{}) {
	changed := make(chan struct{}, 1)
	if fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK); err != nil {
		s.warnf("--cgroup: inotify: %v: reading %s every %v only", err, dir, cgroupRescan)
	} else if _, err := unix.InotifyAddWatch(fd, filepath.Join(dir, "cgroup.events"), unix.IN_MODIFY); err != nil {
		unix.Close(fd)
		s.warnf("--cgroup: inotify: %v: reading %s every %v only", err, dir, cgroupRescan)
	} else {
		f := os.NewFile(uintptr(fd), "inotify") // non-blocking: Go's poller waits
		defer f.Close()
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := f.Read(buf); err != nil {
					return // closed
				}
				select {
				case changed <- struct{}{}:
				default:
				}
			}
		}()
	}
	tick := time.NewTicker(cgroupRescan)
	defer tick.Stop()
	warned := map[int]bool{}
	for {
		select {
		case <-stop:
			return
		case <-changed:
		case <-tick.C:
		}
		pids, err := cgroupPIDs(dir)
		if err != nil {
			s.warnf("--cgroup: %v", err)
			continue
		}
		for _, pid := range pids {
			if traced(pid) {
				continue
			}
			_, err := tr.Attach(pid, follow.AttachOptions{}, arm)
			var ae *follow.AttachError
			switch {
			case err == nil, errors.Is(err, unix.ESRCH), errors.Is(err, perfevent.ErrNoTask):
			case errors.As(err, &ae) && !warned[pid]:
				warned[pid] = true
				s.warnf("--cgroup: not following process %d: %s", pid, ae.Reason)
			case !warned[pid]:
				warned[pid] = true
				s.warnf("--cgroup: not following process %d: %v", pid, err)
			}
		}
	}
}
