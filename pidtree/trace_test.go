package pidtree

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// tracer plays the part of perf-prof's ptrace.c on top of a Tree: it takes
// the events of a trace (as ptrace.c's debug output writes them) and logs
// the actions it takes (CONT, DETACH).
type tracer struct {
	t       *testing.T
	tree    *Tree
	devs    []*fakeDev
	actions []string
	created int
}

func (tc *tracer) find(tid int) *Node {
	tc.t.Helper()
	n := tc.tree.Find(tid)
	if n == nil {
		tc.t.Fatalf("task %d is not in the tree", tid)
	}
	return n
}

func (tc *tracer) act(verb string, tid int) {
	tc.actions = append(tc.actions, fmt.Sprintf("%s %d", verb, tid))
}

// detach lets n go at one of its stops: __detach() in ptrace.c.
func (tc *tracer) detach(n *Node) {
	tc.act("DETACH", n.TID)
	tc.tree.Remove(n)
}

// birth handles a child whose handshake is complete: __fork__new().
func (tc *tracer) birth(child *Node) {
	tc.t.Helper()
	parent := child.Parent
	if parent == nil {
		tc.t.Fatalf("ready child %v has no parent", child)
	}
	if child.Detach {
		tc.detach(child)
		return
	}
	tc.devs = append(tc.devs, cloneDevs(tc.t, tc.tree, parent, child)...)
	tc.tree.Complete(child)
	tc.act("CONT", child.TID)
}

func (tc *tracer) event(ev string) {
	tc.t.Helper()
	var a, b int
	f := strings.Fields(ev)
	switch {
	case len(f) == 2 && (f[0] == "ATTACH" || f[0] == "WORKLOAD"):
		fmt.Sscan(f[1], &a)
		n, added := tc.tree.Insert(a, a, 1, f[0] == "WORKLOAD")
		if !added {
			tc.t.Fatalf("%s: already known", ev)
		}
		tc.created++
		d := &fakeDev{name: fmt.Sprint("dev", a)}
		tc.tree.Link(n, d)
		tc.devs = append(tc.devs, d)

	case len(f) == 4 && f[0] == "PTRACE" && (f[2] == "FORK" || f[2] == "VFORK" || f[2] == "CLONE"):
		fmt.Sscan(f[1], &a)
		fmt.Sscan(f[3], &b)
		parent := tc.find(a)
		if tc.tree.Find(b) == nil {
			tc.created++
		}
		child, ready := tc.tree.Announce(parent, b)
		if parent.Detach {
			tc.detach(parent)
		} else {
			tc.act("CONT", a)
		}
		if ready {
			tc.birth(child)
		}

	case strings.HasPrefix(ev, "PTRACE ") && strings.HasSuffix(ev, "initial new"):
		// PTRACE_EVENT_STOP: a child's first stop or the stop of
		// PTRACE_INTERRUPT: __new_or_interrupt().
		fmt.Sscan(f[1], &a)
		if tc.tree.Find(a) == nil {
			tc.created++
		}
		n, ready := tc.tree.FirstStop(a)
		switch {
		case ready:
			tc.birth(n)
		case n.Phase != Running:
			// KEEP_STOP until the parent's event arrives.
		case n.Detach:
			tc.detach(n)
		default:
			tc.act("CONT", a)
		}

	case len(f) == 3 && f[0] == "CHILD" && f[2] == "EXITED":
		fmt.Sscan(f[1], &a)
		tc.tree.Remove(tc.find(a))

	case len(f) == 2 && f[0] == "PTRACE_INTERRUPT":
		// ptrace_detach(): let a go, and the children that still wait
		// on it, whether or not a was reaped already.
		fmt.Sscan(f[1], &a)
		for _, n := range tc.tree.Nodes() {
			if n.TID == a || (n.Parent != nil && n.Parent.TID == a) {
				n.Detach = true
			}
		}

	default:
		tc.t.Fatalf("unknown event %q", ev)
	}
}

// The event orderings are those in the comments of perf-prof's ptrace.c.
func TestTraces(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		want   []string         // actions
		devs   map[int][]string // devices of the tasks left, by name
		check  func(*testing.T, *Tree)
	}{
		{
			name: "fork event before child's first stop",
			events: []string{
				"ATTACH 17645",
				"PTRACE 17645 FORK 17646",
				"PTRACE 17646 PTRACE_INTERRUPT | SIGCONT | initial new",
			},
			want: []string{"CONT 17645", "CONT 17646"},
			devs: map[int][]string{17645: {"dev17645"}, 17646: {"dev17645"}},
		},
		{
			name: "child's first stop before clone event",
			events: []string{
				"ATTACH 12101",
				"PTRACE 12142 PTRACE_INTERRUPT | SIGCONT | initial new",
				"PTRACE 12101 CLONE 12142",
			},
			want: []string{"CONT 12101", "CONT 12142"},
			devs: map[int][]string{12101: {"dev12101"}, 12142: {"dev12101"}},
		},
		{
			name: "parent exits before child's first stop",
			events: []string{
				"ATTACH 17645",
				"PTRACE 17645 FORK 17646",
				"CHILD 17645 EXITED",
				"PTRACE 17646 PTRACE_INTERRUPT | SIGCONT | initial new",
			},
			want: []string{"CONT 17645", "CONT 17646"},
			devs: map[int][]string{17646: {"dev17645"}},
		},
		{
			name: "detaching parent, child's first stop before clone event",
			events: []string{
				"ATTACH 12101",
				"PTRACE_INTERRUPT 12101",
				"PTRACE 12142 PTRACE_INTERRUPT | SIGCONT | initial new",
				"PTRACE 12101 CLONE 12142",
			},
			want: []string{"DETACH 12101", "DETACH 12142"},
			devs: map[int][]string{},
		},
		{
			name: "detaching parent, clone event before child's first stop",
			events: []string{
				"ATTACH 97252",
				"PTRACE_INTERRUPT 97252",
				"PTRACE 97252 CLONE 97257",
				"PTRACE 97257 PTRACE_INTERRUPT | SIGCONT | initial new",
			},
			want: []string{"DETACH 97252", "DETACH 97257"},
			devs: map[int][]string{},
		},
		{
			name: "detach set between clone event and child's first stop",
			events: []string{
				"ATTACH 14002",
				"PTRACE 14002 CLONE 14010",
				"PTRACE_INTERRUPT 14002",
				"PTRACE 14010 PTRACE_INTERRUPT | SIGCONT | initial new",
				"CHILD 14002 EXITED",
			},
			want: []string{"CONT 14002", "DETACH 14010"},
			devs: map[int][]string{},
		},
		{
			name: "detach after the parent was reaped",
			events: []string{
				"ATTACH 32261",
				"PTRACE 32261 FORK 32307",
				"CHILD 32261 EXITED",
				"PTRACE_INTERRUPT 32261",
				"PTRACE 32307 PTRACE_INTERRUPT | SIGCONT | initial new",
			},
			want: []string{"CONT 32261", "DETACH 32307"},
			devs: map[int][]string{},
		},
		{
			name: "detach a parent with three children waiting",
			events: []string{
				"ATTACH 17645",
				"PTRACE 17645 FORK 17646",
				"PTRACE 17645 FORK 17647",
				"PTRACE 17645 FORK 17648",
				"PTRACE_INTERRUPT 17645",
				"PTRACE 17645 PTRACE_INTERRUPT | SIGCONT | initial new",
				"PTRACE 17646 PTRACE_INTERRUPT | SIGCONT | initial new",
				"PTRACE 17647 PTRACE_INTERRUPT | SIGCONT | initial new",
				"PTRACE 17648 PTRACE_INTERRUPT | SIGCONT | initial new",
			},
			want: []string{
				"CONT 17645", "CONT 17645", "CONT 17645",
				"DETACH 17645", "DETACH 17646", "DETACH 17647", "DETACH 17648",
			},
			devs: map[int][]string{},
		},
		{
			name: "pid reuse after reap",
			events: []string{
				"ATTACH 100",
				"PTRACE 100 FORK 200",
				"CHILD 100 EXITED",
				"ATTACH 300",
				"PTRACE 300 CLONE 100",
				"PTRACE 100 PTRACE_INTERRUPT | SIGCONT | initial new",
				"PTRACE 200 PTRACE_INTERRUPT | SIGCONT | initial new",
			},
			want: []string{"CONT 100", "CONT 300", "CONT 100", "CONT 200"},
			devs: map[int][]string{100: {"dev300"}, 200: {"dev100"}, 300: {"dev300"}},
		},
		{
			name: "child dies before its first stop",
			events: []string{
				"ATTACH 100",
				"PTRACE 100 FORK 101",
				"CHILD 101 EXITED",
			},
			want: []string{"CONT 100"},
			devs: map[int][]string{100: {"dev100"}},
			check: func(t *testing.T, tr *Tree) {
				if r := tr.Find(100).Refs(); r != 1 {
					t.Errorf("parent refs = %d, want 1", r)
				}
			},
		},
		{
			name: "workload grandchild",
			events: []string{
				"WORKLOAD 500",
				"PTRACE 500 VFORK 501",
				"PTRACE 501 PTRACE_INTERRUPT | SIGCONT | initial new",
				"PTRACE 502 PTRACE_INTERRUPT | SIGCONT | initial new",
				"PTRACE 501 CLONE 502",
			},
			want: []string{"CONT 500", "CONT 501", "CONT 501", "CONT 502"},
			devs: map[int][]string{500: {"dev500"}, 501: {"dev500"}, 502: {"dev500"}},
			check: func(t *testing.T, tr *Tree) {
				for _, n := range tr.Nodes() {
					if !n.Workload || n.Phase != Running || n.Refs() != 1 {
						t.Errorf("task %v: workload %v", n, n.Workload)
					}
				}
			},
		},
		{
			name: "interrupt stop of a running task",
			events: []string{
				"ATTACH 7",
				"PTRACE 7 PTRACE_INTERRUPT | SIGCONT | initial new",
				"PTRACE_INTERRUPT 7",
				"PTRACE 7 PTRACE_INTERRUPT | SIGCONT | initial new",
			},
			want: []string{"CONT 7", "DETACH 7"},
			devs: map[int][]string{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &tracer{t: t, tree: New()}
			for _, ev := range tc.events {
				tr.event(ev)
			}
			if !slices.Equal(tr.actions, tc.want) {
				t.Errorf("actions:\n got %q\nwant %q", tr.actions, tc.want)
			}
			got := map[int][]string{}
			for _, n := range tr.tree.Nodes() {
				var names []string
				for _, d := range n.Devs {
					names = append(names, d.(*fakeDev).name)
				}
				got[n.TID] = names
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.devs) {
				t.Errorf("devices:\n got %v\nwant %v", got, tc.devs)
			}
			if tc.check != nil {
				tc.check(t, tr.tree)
			}

			// Every task exits: nothing may stay linked or referenced.
			for _, n := range tr.tree.Nodes() {
				tr.tree.Remove(n)
			}
			if tr.tree.Len() != 0 || tr.tree.Released() != tr.created {
				t.Errorf("after teardown Len() = %d, Released() = %d, want 0, %d",
					tr.tree.Len(), tr.tree.Released(), tr.created)
			}
			checkBalanced(t, tr.tree, tr.devs)
		})
	}
}
