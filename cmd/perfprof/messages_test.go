package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/perfprof/perfprof/perfevent"
	"golang.org/x/sys/unix"
)

func TestEventHint(t *testing.T) {
	open := func(ev string, errno unix.Errno) error {
		return fmt.Errorf("clone: %w", &perfevent.OpenError{Event: ev, TID: 1, Err: perfevent.ErrnoError(errno)})
	}
	paranoid, err := os.ReadFile("/proc/sys/kernel/perf_event_paranoid")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		err  error
		want []string // substrings; nil: no hint
	}{
		{open("cycles", unix.ENOENT), []string{"hardware PMU", "task-clock"}},
		{open("LLC-load-misses:u", unix.ENOENT), []string{"hardware PMU"}},
		{open("r1a2", unix.EOPNOTSUPP), []string{"hardware PMU"}},
		{open("sched:sched_switch", unix.ENOENT), nil},
		{open("task-clock", unix.EACCES), []string{"kernel.perf_event_paranoid is " + strings.TrimSpace(string(paranoid)), "CAP_PERFMON", "root"}},
		{open("task-clock", unix.EMFILE), []string{"ulimit -n"}},
		{open("cycles", unix.EBUSY), []string{"PMU"}},
		{open("task-clock", unix.ESRCH), nil},
		{errors.New("other"), nil},
		{nil, nil},
	} {
		got := eventHint(tc.err)
		if tc.want == nil && got != "" {
			t.Errorf("eventHint(%v) = %q, want none", tc.err, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("eventHint(%v) = %q, want it to mention %q", tc.err, got, w)
			}
		}
	}
}
