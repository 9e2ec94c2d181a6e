package main

import (
	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"golang.org/x/sys/unix"
)

// hooks connects the tracer to the devices and to the JSON stream: at each
// new task the set gives it its creator's observation, at each exec and
// exit it records them. Every method runs on the tracer goroutine, on the
// stop path.
type hooks struct {
	set *profdev.Set
	out *output // nil unless task events are written (--json)
}

var _ follow.Hooks = (*hooks)(nil)

func (h *hooks) Fork(ev follow.ForkEvent, parent []pidtree.Device) ([]pidtree.Device, error) {
	if h.out != nil {
		h.out.event(forkRecord(ev))
	}
	return h.set.Fork(ev.Task, parent)
}

func (h *hooks) Exec(ev follow.ExecEvent, devs []pidtree.Device) {
	comm := follow.Comm(ev.TID)
	h.set.Exec(ev.Task, comm, devs)
	if h.out != nil {
		h.out.event(record{Type: "exec", PID: ev.TGID, TID: ev.OldTID, Comm: comm})
	}
}

func (h *hooks) Died(ev follow.ForkEvent, ws unix.WaitStatus) {
	if h.out == nil {
		return
	}
	h.out.event(forkRecord(ev))
	h.out.event(exitRecord(ev.Task, ws))
}

func (h *hooks) Exit(ev follow.ExitEvent, devs []pidtree.Device) {
	h.set.Exit(ev.Status, devs)
	if h.out != nil {
		h.out.event(exitRecord(ev.Task, ev.Status))
	}
}

// forkRecord is the JSON record of a new task. A task whose parent's
// event never came has no parent_tid, and no kind unless it is a thread.
func forkRecord(ev follow.ForkEvent) record {
	r := record{Type: "fork", ParentTID: ev.ParentTID, TID: ev.TID, PID: ev.TGID}
	if ev.Kind != 0 {
		r.Kind = ev.Kind.String()
	}
	return r
}

func exitRecord(t pidtree.Task, ws unix.WaitStatus) record {
	r := record{Type: "exit", PID: t.TGID, TID: t.TID}
	if ws.Signaled() {
		sig := int(ws.Signal())
		r.Signal = &sig
	} else {
		code := ws.ExitStatus()
		r.Code = &code
	}
	return r
}
