package stream

import (
	"encoding/json"
	"strings"

	"github.com/perfprof/perfprof/pidtree"
	"golang.org/x/sys/unix"
)

// record is one JSON line (docs/usage.md names each type and field).
type record struct {
	Type      string      `json:"type"`
	Time      int64       `json:"time"`
	Kind      string      `json:"kind,omitempty"`
	ParentTID int         `json:"parent_tid,omitempty"`
	PID       int         `json:"pid,omitempty"`
	PPID      int         `json:"ppid,omitempty"`
	TID       int         `json:"tid,omitempty"`
	Comm      string      `json:"comm,omitempty"`
	Message   string      `json:"message,omitempty"` // a daemon's message (a warning, an error)
	Lost      *int64      `json:"lost,omitempty"`    // a lost record; the summary's total
	Code      *int        `json:"code,omitempty"`
	Signal    *int        `json:"signal,omitempty"`
	Processes int         `json:"processes,omitempty"`
	Folded    bool        `json:"folded,omitempty"`
	Unknown   bool        `json:"unknown,omitempty"` // counts of a task of the row could not be read: events hold the others
	Exited    *bool       `json:"exited,omitempty"`
	Final     *bool       `json:"final,omitempty"`
	Events    *jsonEvents `json:"events,omitempty"`

	TasksFollowed   *int   `json:"tasks_followed,omitempty"`
	Forks           *int   `json:"forks,omitempty"`
	CounterFailures *int   `json:"counter_failures,omitempty"`
	DurationNS      *int64 `json:"duration_ns,omitempty"`
	CPUNS           *int64 `json:"perfprof_cpu_ns,omitempty"`
	TasksLeft       *int   `json:"tasks_left,omitempty"`
	Samples         *int64 `json:"samples,omitempty"`
	RingFailures    *int   `json:"ring_failures,omitempty"`
	RingBytes       *int64 `json:"ring_bytes_max,omitempty"`
	LateSamples     *int64 `json:"late_samples,omitempty"`
}

type jsonValue struct {
	Value     uint64 `json:"value"`
	Delta     uint64 `json:"delta"`
	EnabledNS uint64 `json:"enabled_ns"`
	RunningNS uint64 `json:"running_ns"`
}

// jsonEvents keeps the events in the order the user gave them.
type jsonEvents struct {
	names []string
	vals  []jsonValue
}

func (e *jsonEvents) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range e.names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		v, _ := json.Marshal(e.vals[i])
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// The task events are JSON records ("fork", "exec", "exit"), queued with
// their time; a text Stream has none, and they do nothing there. They are
// called on the follower's goroutine, on its stop path: each costs one
// channel send, and blocks only while the writer goroutine is 4096 items
// behind.

// Fork writes the record of a new task t, created by the task parentTID
// with kind ("fork", "vfork" or "clone"). A task whose parent's event
// never came has parentTID 0 and no parent_tid, and a kind only if it is
// a thread ("" for none).
func (s *Stream) Fork(t pidtree.Task, parentTID int, kind string) {
	if s.json {
		s.event(record{Type: "fork", ParentTID: parentTID, TID: t.TID, PID: t.TGID, Kind: kind})
	}
}

// Exec writes the record of an exec: t is the task after it (its TID its
// process's leader's), oldTID the thread that called it, comm the new
// program's name.
func (s *Stream) Exec(t pidtree.Task, oldTID int, comm string) {
	if s.json {
		s.event(record{Type: "exec", PID: t.TGID, TID: oldTID, Comm: comm})
	}
}

// Exit writes the record of task t's end, with its exit code or the
// signal that killed it.
func (s *Stream) Exit(t pidtree.Task, ws unix.WaitStatus) {
	if !s.json {
		return
	}
	r := record{Type: "exit", PID: t.TGID, TID: t.TID}
	if ws.Signaled() {
		sig := int(ws.Signal())
		r.Signal = &sig
	} else {
		code := ws.ExitStatus()
		r.Code = &code
	}
	s.event(r)
}

// lostRecord writes the record of n records task t's ring lost (JSON only).
func (s *Stream) lostRecord(t pidtree.Task, n int64) {
	s.event(record{Type: "lost", PID: t.TGID, TID: t.TID, Lost: &n})
}

// Ended writes the record of task t's end when how it ended is not known
// (the inherit follower sees a task's exit, not its status): an "exit"
// record without code or signal.
func (s *Stream) Ended(t pidtree.Task) {
	if s.json {
		s.event(record{Type: "exit", PID: t.TGID, TID: t.TID})
	}
}
