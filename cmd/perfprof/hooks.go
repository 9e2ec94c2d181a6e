package main

import (
	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"golang.org/x/sys/unix"
)

// hooks connects the tracer to the profiling devices: at each new task it
// clones the parent's devices, at each exec and exit it updates them.
// Every method runs on the tracer goroutine, on the stop path.
type hooks struct {
	set *profdev.Set
	out *output // nil unless task events are written (--json)
}

var _ follow.Hooks = (*hooks)(nil)

func (h *hooks) Fork(ev follow.ForkEvent, parent []pidtree.Device) ([]pidtree.Device, error) {
	if h.out != nil {
		h.out.event(record{Type: "fork", Kind: ev.Kind.String(), ParentTID: ev.ParentTID, TID: ev.TID, PID: ev.TGID})
	}
	if len(parent) == 0 {
		// The parent has no counters (its open failed): try afresh, so
		// that one failure does not cost a whole subtree its counts.
		d, err := h.set.OpenNew(ev.TID, ev.TGID, ev.PPID)
		if err != nil {
			return nil, err
		}
		return []pidtree.Device{d}, nil
	}
	devs := make([]pidtree.Device, 0, len(parent))
	var firstErr error
	for _, p := range parent {
		d, err := p.(*profdev.Dev).Clone(ev.TID, ev.TGID, ev.PPID)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		devs = append(devs, d)
	}
	return devs, firstErr
}

func (h *hooks) Exec(pid, oldTID int, devs []pidtree.Device) {
	comm := follow.Comm(pid)
	for _, d := range devs {
		// After an exec from a non-leader thread, that thread is the
		// leader: it took the leader's TID.
		d.(*profdev.Dev).Rename(pid, comm)
	}
	if h.out != nil {
		h.out.event(record{Type: "exec", PID: pid, TID: oldTID, Comm: comm})
	}
}

func (h *hooks) Died(ev follow.ForkEvent, ws unix.WaitStatus) {
	if h.out == nil {
		return
	}
	r := record{Type: "fork", ParentTID: ev.ParentTID, TID: ev.TID, PID: ev.TGID}
	if ev.Kind != 0 { // else its parent's event never came, and it is no thread
		r.Kind = ev.Kind.String()
	}
	h.out.event(r)
	h.exitRecord(ev.TGID, ev.TID, ws)
}

func (h *hooks) Exit(ev follow.ExitEvent, devs []pidtree.Device) {
	for _, d := range devs {
		d.(*profdev.Dev).SetExit(ev.Status)
	}
	if h.out != nil {
		h.exitRecord(ev.TGID, ev.TID, ev.Status)
	}
}

func (h *hooks) exitRecord(pid, tid int, ws unix.WaitStatus) {
	r := record{Type: "exit", PID: pid, TID: tid}
	if ws.Signaled() {
		sig := int(ws.Signal())
		r.Signal = &sig
	} else {
		code := ws.ExitStatus()
		r.Code = &code
	}
	h.out.event(r)
}
