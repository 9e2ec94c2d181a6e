package main

import (
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzParseArgs feeds the command-line parser arbitrary argument lists
// (NUL-separated in the fuzz input): it must never panic, and it must
// either accept the line or refuse it with a *usageError (exit status 2).
// An accepted line names a target and has a sane configuration.
//
//	go test -run '^$' -fuzz FuzzParseArgs -fuzztime 30s ./cmd/perfprof/
func FuzzParseArgs(f *testing.F) {
	for _, seed := range []string{
		"",
		"-p\x001,2\x00-p\x003",
		"-t\x007\x00-e\x00cs,faults",
		"-i\x00100\x00-N\x003\x00--\x00make\x00-j2",
		"--json\x00ls\x00-l",
		"--tree\x00-p\x005\x00--duration\x002s",
		"--tree\x00--no-follow\x00-p\x001",
		"-i\x005\x00-p\x001",
		"-N\x002\x00-p\x001",
		"--duration\x00-1s\x00-p\x001",
		"-p\x00x1",
		"-p\x000",
		"-p\x00 1 , 2 ",
		"-h",
		"--help=false\x00-p\x001",
		"-vp\x001",
		"-e\x00a:b:c\x00--\x00true",
		"--per-thread\x00-o\x00/dev/null\x00-p\x0099999999999999999999",
		"-i\x009223372036854775807\x00-p\x001",
		"--\x00-p\x001",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var args []string
		if in != "" {
			args = strings.Split(in, "\x00")
		}
		c, err := parseArgs(args, io.Discard)
		if err != nil {
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("parseArgs(%q): error %T %v, want a *usageError", args, err, err)
			}
			if c != nil {
				t.Fatalf("parseArgs(%q): a config and an error", args)
			}
			if ue.msg == "" || strings.Contains(ue.msg, "\n") {
				t.Fatalf("parseArgs(%q): usage message %q, want one non-empty line", args, ue.msg)
			}
			return
		}
		if c == nil { // -h
			return
		}
		if len(c.PIDs)+len(c.TIDs) == 0 && len(c.Argv) == 0 {
			t.Fatalf("parseArgs(%q): accepted with no target", args)
		}
		if len(c.PIDs)+len(c.TIDs) > 0 && len(c.Argv) > 0 {
			t.Fatalf("parseArgs(%q): accepted both -p/-t and a command", args)
		}
		for _, id := range append(append([]int(nil), c.PIDs...), c.TIDs...) {
			if id <= 0 {
				t.Fatalf("parseArgs(%q): id %d accepted", args, id)
			}
		}
		if c.Interval < 0 || c.Interval > 0 && c.Interval.Milliseconds() < 10 || c.Duration < 0 || c.ExitN < 0 || c.ExitN > 0 && c.Interval == 0 && !c.Sampling() {
			t.Fatalf("parseArgs(%q): accepted %+v", args, c)
		}
		if len(c.Events) == 0 {
			t.Fatalf("parseArgs(%q): no events", args)
		}
	})
}
