package session

import (
	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"github.com/perfprof/perfprof/stream"
	"golang.org/x/sys/unix"
)

// hooks connects the tracer to the devices and to the JSON stream: at each
// new task the set gives it its creator's observation, at each exec and
// exit it records them. Every method runs on the tracer goroutine, on the
// stop path.
type hooks struct {
	set *profdev.Set
	out *stream.Stream // nil unless task events are written (--json)
}

var _ follow.Hooks = (*hooks)(nil)

func (h *hooks) Fork(ev follow.ForkEvent, parent []pidtree.Device) ([]pidtree.Device, error) {
	if h.out != nil {
		h.fork(ev)
	}
	return h.set.Fork(ev.Task, parent)
}

func (h *hooks) Exec(ev follow.ExecEvent, devs []pidtree.Device) {
	comm := follow.Comm(ev.TID)
	h.set.Exec(ev.Task, comm, devs)
	if h.out != nil {
		h.out.Exec(ev.Task, ev.OldTID, comm)
	}
}

func (h *hooks) Died(ev follow.ForkEvent, ws unix.WaitStatus) {
	if h.out == nil {
		return
	}
	h.fork(ev)
	h.out.Exit(ev.Task, ws)
}

func (h *hooks) Exit(ev follow.ExitEvent, devs []pidtree.Device) {
	h.set.Exit(ev.Status, devs)
	if h.out != nil {
		h.out.Exit(ev.Task, ev.Status)
	}
}

// fork writes the record of a new task. A task whose parent's event never
// came has no kind unless it is a thread.
func (h *hooks) fork(ev follow.ForkEvent) {
	kind := ""
	if ev.Kind != 0 {
		kind = ev.Kind.String()
	}
	h.out.Fork(ev.Task, ev.ParentTID, kind)
}
