package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// errNoResult: a run ended well but printed no RESULT line (a workload
// that is not a bench workload, as cpuwrap's /bin/true).
var errNoResult = errors.New("no RESULT line")

var resultRe = regexp.MustCompile(`(?m)^RESULT name=\S+ n=(\d+) total_s=\S+ us_per_op=([0-9.eE+-]+)`)

// runResult is one run of a workload under a tool.
type runResult struct {
	usPerOp float64
	stderr  string
	cpu     time.Duration // the tool's process tree CPU (rusage of the direct child)
	err     error
}

// runOnce runs argv with stdout discarded and stderr captured, and parses
// the workload's RESULT line.
func runOnce(argv []string, timeout time.Duration) runResult {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	r := runResult{stderr: stderr.String()}
	if cmd.ProcessState != nil {
		r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if ctx.Err() != nil {
		r.err = fmt.Errorf("timed out after %v", timeout)
		return r
	}
	if err != nil {
		r.err = fmt.Errorf("%v; stderr: %s", err, tail(r.stderr, 400))
		return r
	}
	m := resultRe.FindStringSubmatch(r.stderr)
	if m == nil {
		r.err = fmt.Errorf("%w on stderr: %s", errNoResult, tail(r.stderr, 400))
		return r
	}
	r.usPerOp, err = strconv.ParseFloat(m[2], 64)
	if err != nil {
		r.err = fmt.Errorf("bad us_per_op %q", m[2])
	}
	return r
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	if s == "" {
		return "(empty)"
	}
	return s
}

var errNA = errors.New("n/a")

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return nan
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// quantile with linear interpolation; q in [0,1].
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return nan
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	f := pos - float64(i)
	return s[i]*(1-f) + s[i+1]*f
}
