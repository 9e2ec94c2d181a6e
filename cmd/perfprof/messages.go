package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/perfprof/perfprof/cgroup"
	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/internal/daemon"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/profdev"
	"github.com/perfprof/perfprof/session"
	"golang.org/x/sys/unix"
)

// reporter words what a run has to say (session.Reporter): one line
// "perfprof: ...", "perfprof: warning: ..." for a warning, and a
// "perfprof: hint: ..." line where there is something to do. Each line is
// one Write to w, which is safe for concurrent use.
type reporter struct{ w io.Writer }

var _ session.Reporter = (*reporter)(nil)

func (r *reporter) printf(format string, args ...any) {
	fmt.Fprintf(r.w, "perfprof: "+format+"\n", args...)
}

// Error says err and its hint.
func (r *reporter) Error(err error) {
	r.printf("%s", message(err))
	if h := hint(err); h != "" {
		r.printf("hint: %s", h)
	}
}

// Warn says w as a warning, and its hint.
func (r *reporter) Warn(w error) {
	r.printf("warning: %s", warning(w))
	if h := hint(w); h != "" {
		r.printf("hint: %s", h)
	}
}

// message words an error.
func message(err error) string {
	var (
		ae *follow.AttachError
		ue *perfevent.UnknownEventError
		ne *cgroup.NotCgroupError
		be *daemon.BusyError
		ce *session.CgroupError
		pe *session.ProfileDirError
	)
	switch {
	case errors.As(err, &ue):
		return ue.Error()
	case errors.As(err, &ne):
		return fmt.Sprintf("--cgroup %s: not a cgroup v2 directory (no %s): give one of the cgroup2 hierarchy, such as /sys/fs/cgroup/system.slice/nginx.service", ne.Dir, ne.Missing)
	case errors.As(err, &be) && be.PID == "":
		return fmt.Sprintf("another perfprof is starting with the pid file %s: give another --pidfile", be.Path)
	case errors.As(err, &be):
		return fmt.Sprintf("perfprof %s is running with the pid file %s: stop it first (kill %s), or give another --pidfile", be.PID, be.Path, be.PID)
	case errors.As(err, &ce):
		return "--cgroup: " + message(ce.Err)
	case errors.As(err, &pe) && pe.Open:
		return fmt.Sprintf("cannot write profiles into --pprof-dir: %v", pe.Err)
	case errors.Is(err, unix.EPIPE):
		return err.Error() + " (the report's reader is gone)"
	case errors.As(err, &ae):
		return fmt.Sprintf("attach to %d: %s", ae.PID, attachReason(ae))
	}
	return err.Error()
}

// warning words a warning.
func warning(w error) string {
	var (
		sub  *session.Substituted
		sk   *session.Skipped
		ka   *session.KillAfter
		lost *session.LostRecords
		cl   *session.CountsLost
		ooo  *session.OutOfOrder
		wd   *session.WithoutDevices
		ce   *session.CgroupError
		ie   *cgroup.InotifyError
		pe   *cgroup.ProcessError
		pd   *session.ProfileDirError
	)
	switch {
	case errors.As(w, &sub) && errors.Is(sub.Why, perfevent.ErrPermission):
		return fmt.Sprintf("not allowed to count the kernel (kernel.perf_event_paranoid): counting %q", sub.To.Name)
	case errors.As(w, &sub):
		return fmt.Sprintf("%q not supported here, counting %q instead", sub.From.Name, sub.To.Name)
	case errors.As(w, &sk):
		return fmt.Sprintf("not following process %d (below %d) or its children: %s", sk.Err.PID, sk.Target, attachReason(sk.Err))
	case errors.As(w, &ka):
		return fmt.Sprintf("the workload was still running %v after %v: killing it (--kill-after)", ka.After, unix.SignalName(ka.Signal))
	case errors.As(w, &lost):
		return fmt.Sprintf("%d records lost so far: the rings were full (a larger -m, or a longer period)", lost.Total)
	case errors.As(w, &cl) && cl.Stalls > 0:
		return fmt.Sprintf("the final counts of %d %s lost (shown as —): Linux writes them from the CPU a task exits on into another CPU's ring, "+
			"and two exits at once stalled that ring %d %s (replaced); for exact counts of every task, --follow ptrace",
			cl.Tasks, pl(cl.Tasks, "task were", "tasks were"), cl.Stalls, pl(int(cl.Stalls), "time", "times"))
	case errors.As(w, &cl):
		return fmt.Sprintf("%d records lost: the rings were full, and the final counts of %d %s with them (shown as —); give -m a larger power of two",
			cl.Records, cl.Tasks, pl(cl.Tasks, "task", "tasks"))
	case errors.As(w, &ooo):
		why := fmt.Sprintf("the kernel wrote them more than %d ms after their time", profdev.OrderWindow/1_000_000)
		if ooo.Early > 0 {
			why = fmt.Sprintf("%d %s written before their time, %d MiB of samples being held", ooo.Early, pl(int(ooo.Early), "was", "were"), profdev.OrderLimit>>20)
		}
		return fmt.Sprintf("%d %s written out of time order: %s", ooo.Late, pl(int(ooo.Late), "sample was", "samples were"), why)
	case errors.As(w, &wd) && wd.Rings:
		return fmt.Sprintf("%d %s followed without a ring (counted, not sampled): %v", wd.Tasks, pl(wd.Tasks, "task was", "tasks were"), wd.Err)
	case errors.As(w, &wd):
		return fmt.Sprintf("%d %s followed without counters: %v", wd.Tasks, pl(wd.Tasks, "task was", "tasks were"), wd.Err)
	case errors.As(w, &ie) && errors.As(w, &ce):
		return fmt.Sprintf("--cgroup: inotify: %v: reading %s every %v only", ie.Err, ce.Dir, ie.Rescan)
	case errors.As(w, &pe):
		return fmt.Sprintf("--cgroup: not following process %d: %s", pe.PID, attachReason(pe.Err))
	case errors.As(w, &ce):
		return fmt.Sprintf("--cgroup: %v", ce.Err)
	case errors.As(w, &pd):
		return fmt.Sprintf("--pprof-dir: %v", pd.Err)
	}
	return w.Error()
}

// hint says what to do about err, or "".
func hint(err error) string {
	var (
		ae *follow.AttachError
		sk *session.Skipped
		ue *perfevent.UnknownEventError
		wd *session.WithoutDevices
		ce *session.CgroupError
	)
	switch {
	case errors.As(err, &ce):
		return "" // a process of the cgroup: the watch goes on
	case errors.As(err, &sk):
		return hint(sk.Err)
	case errors.As(err, &ue) && len(ue.Suggestions) > 0:
		return fmt.Sprintf("did you mean %s? 'perf list' shows the events of this machine", quoteList(ue.Suggestions))
	case errors.As(err, &ue):
		return "'perf list' shows the events of this machine"
	case errors.As(err, &wd) && wd.Rings:
		return ""
	case errors.As(err, &ae) && ae.Cause == follow.CauseTraced:
		return fmt.Sprintf("a task has only one tracer: stop process %d, or count without following: --no-follow", ae.TracerPID)
	case errors.As(err, &ae) && ae.Cause == follow.CauseNoProcess:
		return "check the id with 'ps -L -p ID'"
	case errors.As(err, &ae) && errors.Is(err, unix.EPERM) && os.Geteuid() != 0:
		return "run perfprof as root (ptrace needs CAP_SYS_PTRACE for processes that are not its children)"
	case errors.As(err, &ae):
		return ""
	}
	return eventHint(err)
}

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

// exitStatus is perfprof's exit status for a run that ended with res: 2
// for a bad -e, 1 for a failure, else the workload's (128+N if signal N
// killed it), 0 without a workload.
func exitStatus(res session.Result) int {
	var (
		ue *perfevent.UnknownEventError
		se *perfevent.SyntaxError
	)
	switch {
	case errors.As(res.Err, &ue), errors.As(res.Err, &se):
		return exitUsage
	case res.Err != nil, res.Failed:
		return exitFailure
	case res.HaveWorkload && res.Workload.Signaled():
		return 128 + int(res.Workload.Signal())
	case res.HaveWorkload:
		return res.Workload.ExitStatus()
	}
	return exitOK
}

func pl(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, " or ")
}
