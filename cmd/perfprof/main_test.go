package main

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/perfprof/perfprof/metrics"

	"github.com/perfprof/perfprof/report"
	"github.com/perfprof/perfprof/session"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want *config // nil: error
		err  string  // in the usage error
	}{
		{"pid list", []string{"-p", "1,2", "-p", "3"}, &config{Config: session.Config{PIDs: []int{1, 2, 3}, KillAfter: defaultKillAfter, FoldAfter: report.DefaultKeep, Events: []string{"task-clock"}}}, ""},
		{"tids and events", []string{"-t", "7", "-e", "cs,faults", "-e", "task-clock"}, &config{Config: session.Config{TIDs: []int{7}, KillAfter: defaultKillAfter, FoldAfter: report.DefaultKeep, Events: []string{"cs,faults", "task-clock"}}}, ""},
		{"workload", []string{"-i", "100", "-N", "3", "--", "make", "-j2"}, &config{Config: session.Config{Argv: []string{"make", "-j2"}, Interval: 100 * time.Millisecond, ExitN: 3, KillAfter: defaultKillAfter, FoldAfter: report.DefaultKeep, Events: []string{"task-clock"}}}, ""},
		{"workload without --", []string{"--json", "ls", "-l"}, &config{Config: session.Config{Argv: []string{"ls", "-l"}, JSON: true, KillAfter: defaultKillAfter, FoldAfter: report.DefaultKeep, Events: []string{"task-clock"}}}, ""},
		{"tree", []string{"--tree", "-p", "5", "--duration", "2s"}, &config{Config: session.Config{PIDs: []int{5}, Tree: true, Duration: 2 * time.Second, KillAfter: defaultKillAfter, FoldAfter: report.DefaultKeep, Events: []string{"task-clock"}}}, ""},
		{"no target", nil, nil, "no target"},
		{"both", []string{"-p", "1", "--", "true"}, nil, "not both"},
		{"bad pid", []string{"-p", "x1"}, nil, `"x1"`},
		{"zero pid", []string{"-p", "0"}, nil, `"0"`},
		{"tree without -p", []string{"--tree", "--", "true"}, nil, "--tree needs -p"},
		{"tree and no-follow", []string{"--tree", "--no-follow", "-p", "1"}, nil, "--no-follow"},
		{"follow inherit", []string{"--follow", "inherit", "--", "make"}, &config{Config: session.Config{Argv: []string{"make"}, Follow: session.FollowInherit, KillAfter: defaultKillAfter, FoldAfter: report.DefaultKeep, Events: []string{"task-clock"}}}, ""},
		{"follow unknown", []string{"--follow", "strace", "--", "make"}, nil, "--follow"},
		{"inherit and no-follow", []string{"--follow", "inherit", "--no-follow", "-p", "1"}, nil, "--no-follow"},
		{"short interval", []string{"-i", "5", "-p", "1"}, nil, "at least 10 ms"},
		{"-N without -i", []string{"-N", "2", "-p", "1"}, nil, "give -i"},
		{"negative duration", []string{"--duration", "-1s", "-p", "1"}, nil, "positive"},
		{"unknown flag", []string{"--bogus"}, nil, "bogus"},
		{"kill-after", []string{"--kill-after", "2s", "--", "make"}, &config{Config: session.Config{Argv: []string{"make"}, KillAfter: 2 * time.Second, FoldAfter: report.DefaultKeep, Events: []string{"task-clock"}}}, ""},
		{"kill-after 0", []string{"--kill-after=0", "--", "make"}, &config{Config: session.Config{Argv: []string{"make"}, FoldAfter: report.DefaultKeep, Events: []string{"task-clock"}}}, ""},
		{"by-comm", []string{"--by-comm", "--fold-after", "5", "--", "make"}, &config{Config: session.Config{Argv: []string{"make"}, ByComm: true, KillAfter: defaultKillAfter, FoldAfter: 5, Events: []string{"task-clock"}}}, ""},
		{"by-comm per thread", []string{"--by-comm", "--per-thread", "--", "make"}, nil, "do not go together"},
		{"fold-after 0", []string{"--fold-after", "0", "--", "make"}, nil, "at least 1"},
		{"version", []string{"--version", "-p", "1"}, &config{version: true}, ""},
		{"kill-after without a command", []string{"--kill-after", "2s", "-p", "1"}, nil, "needs a COMMAND"},
		{"negative kill-after", []string{"--kill-after", "-1s", "--", "true"}, nil, "--kill-after -1s"},
		{"daemon without -o", []string{"--daemon", "-p", "1"}, nil, "--daemon needs -o FILE"},
		{"daemon with a command", []string{"-D", "-o", "f", "--", "true"}, nil, "--daemon attaches"},
		{"metrics-comms 0", []string{"--listen", ":1", "--metrics-comms", "0", "-p", "1"}, nil, "--metrics-comms 0"},
		{"pprof-dir without -i", []string{"-F", "99", "--pprof-dir", "d", "-p", "1"}, nil, "--pprof-dir needs -i"},
		{"pprof-dir and --pprof", []string{"-F", "99", "-i", "100", "--pprof-dir", "d", "--pprof", "f", "-p", "1"}, nil, "give one of them"},
		{"daemon", []string{"-D", "--pidfile", "p", "-o", "f", "--listen", "127.0.0.1:1", "--metrics-pid", "-p", "1"},
			&config{Config: session.Config{PIDs: []int{1}, Daemon: true, PidFile: "p", Output: "f", Listen: "127.0.0.1:1", MetricsPID: true,
				KillAfter: defaultKillAfter, FoldAfter: report.DefaultKeep, Events: []string{"task-clock"}}}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseArgs(tc.args, io.Discard)
			if tc.want == nil {
				var ue *usageError
				if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want a usage error about %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The metrics', --keep's and --follow's defaults, in every case
			// but --version's.
			if !tc.want.version {
				tc.want.MetricsComms, tc.want.MetricsKeep = metrics.DefaultMaxComms, metrics.DefaultKeepEnded
				tc.want.Keep = defaultKeep
				if tc.want.Follow == "" {
					tc.want.Follow = session.FollowPtrace
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
	if c, err := parseArgs([]string{"-h"}, io.Discard); c != nil || err != nil {
		t.Errorf("-h: %v, %v; want nothing to run", c, err)
	}
}
