package main

import (
	"errors"
	"fmt"

	"github.com/perfprof/perfprof/internal/daemon"
	"github.com/perfprof/perfprof/perfevent"
)

// eventHint says what the user can do about err, an error of perfevent
// (an event that could not be opened), or "".
func eventHint(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, perfevent.ErrNotSupported):
		var oe *perfevent.OpenError
		if errors.As(err, &oe) && oe.Hardware() {
			return "this machine has no hardware PMU (common in VMs); try -e task-clock or -e cpu-clock"
		}
		return ""
	case errors.Is(err, perfevent.ErrPermission):
		p := "kernel.perf_event_paranoid"
		if v, ok := perfevent.Paranoid(); ok {
			p = fmt.Sprintf("kernel.perf_event_paranoid is %d", v)
		}
		return p + "; lower it (sysctl -w kernel.perf_event_paranoid=1) or run as root or with CAP_PERFMON"
	case errors.Is(err, perfevent.ErrTooManyFiles):
		return "each followed task needs one fd per event; raise the limit with 'ulimit -n' (hard limit) or count fewer events"
	case errors.Is(err, perfevent.ErrBusy):
		return "another tool holds the PMU exclusively; stop it or count software events"
	}
	return ""
}

// pidFileError says why --pidfile cannot be taken.
func (s *session) pidFileError(err error) {
	var be *daemon.BusyError
	switch {
	case !errors.As(err, &be):
		s.errorf("%v", err)
	case be.PID == "":
		s.errorf("another perfprof is starting with the pid file %s: give another --pidfile", be.Path)
	default:
		s.errorf("perfprof %s is running with the pid file %s: stop it first (kill %s), or give another --pidfile", be.PID, be.Path, be.PID)
	}
}

// eventError says why -e could not be parsed, and returns the exit status.
func (s *session) eventError(err error) int {
	var ue *perfevent.UnknownEventError
	var se *perfevent.SyntaxError
	switch {
	case errors.As(err, &ue):
		s.errorf("%v", err)
		if len(ue.Suggestions) > 0 {
			s.errorf("hint: did you mean %s? 'perf list' shows the events of this machine", quoteList(ue.Suggestions))
		} else {
			s.errorf("hint: 'perf list' shows the events of this machine")
		}
		return exitUsage
	case errors.As(err, &se):
		s.errorf("%v", err)
		return exitUsage
	}
	s.fail(err)
	return exitFailure
}
