package pidtree

import (
	"math/rand/v2"
	"testing"
)

// fakeDev is a Device that counts its uses. A refusing device fails Use,
// as a prof_dev that is being closed does.
type fakeDev struct {
	name   string
	refuse bool
	uses   int
	unuses int
}

func (d *fakeDev) Use() bool {
	if d.refuse {
		return false
	}
	d.uses++
	return true
}

func (d *fakeDev) Unuse() { d.unuses++ }

// live is the number of links d still has.
func (d *fakeDev) live() int { return d.uses - d.unuses }

// checkBalanced fails unless every device was unused exactly as often as it
// was used and the tree saw no Put without a reference.
func checkBalanced(t *testing.T, tr *Tree, devs []*fakeDev) {
	t.Helper()
	for _, d := range devs {
		if d.uses != d.unuses {
			t.Errorf("device %s: %d uses, %d unuses", d.name, d.uses, d.unuses)
		}
	}
	if n := tr.OverPuts(); n != 0 {
		t.Errorf("OverPuts() = %d, want 0", n)
	}
}

// root inserts an attached task with one device of its own.
func root(t *testing.T, tr *Tree, tid int, workload bool) (*Node, *fakeDev) {
	t.Helper()
	n, added := tr.Insert(tid, tid, 1, workload)
	if !added {
		t.Fatalf("Insert(%d): already known", tid)
	}
	d := &fakeDev{name: "root"}
	if !tr.Link(n, d) {
		t.Fatalf("Link(%d): refused", tid)
	}
	return n, d
}

// cloneDevs does what the tracer does once a child is ready: one clone of
// each of the parent's devices, linked to the child.
func cloneDevs(t *testing.T, tr *Tree, parent, child *Node) []*fakeDev {
	t.Helper()
	var out []*fakeDev
	for _, pd := range parent.Devs {
		pd := pd.(*fakeDev)
		if pd.live() <= 0 {
			t.Errorf("cloning %s of %v: device already unused", pd.name, parent)
		}
		c := &fakeDev{name: pd.name}
		if !tr.Link(child, c) {
			t.Fatalf("Link(%v): refused", child)
		}
		out = append(out, c)
	}
	return out
}

func TestHandshake(t *testing.T) {
	const ptid, ctid = 17645, 17646
	tests := []struct {
		name        string
		announce1st bool
		firstPhase  Phase // the child's phase after the first half
	}{
		{name: "fork event before first stop", announce1st: true, firstPhase: Announced},
		{name: "first stop before fork event", announce1st: false, firstPhase: NewStopped},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New()
			parent, pdev := root(t, tr, ptid, false)
			refs0 := parent.Refs()

			announce := func() (*Node, bool) { return tr.Announce(parent, ctid) }
			stop := func() (*Node, bool) { return tr.FirstStop(ctid) }
			first, second := stop, announce
			if tc.announce1st {
				first, second = announce, stop
			}

			c1, ready1 := first()
			if ready1 {
				t.Fatal("first half returned ready")
			}
			if c1.Phase != tc.firstPhase {
				t.Fatalf("phase after first half = %v, want %v", c1.Phase, tc.firstPhase)
			}
			c2, ready2 := second()
			if !ready2 {
				t.Fatal("second half did not return ready")
			}
			if c1 != c2 {
				t.Fatalf("halves returned different nodes %p and %p", c1, c2)
			}
			child := c2
			if child.Phase != NewStopped {
				t.Errorf("phase when ready = %v, want %v", child.Phase, NewStopped)
			}
			if child.Parent != parent {
				t.Errorf("Parent = %v, want %v", child.Parent, parent)
			}
			if got := parent.Refs(); got != refs0+1 {
				t.Errorf("parent refs during handshake = %d, want %d", got, refs0+1)
			}

			// Repeating either half changes nothing.
			if _, ready := tr.FirstStop(ctid); ready {
				t.Error("repeated FirstStop returned ready")
			}
			if _, ready := tr.Announce(parent, ctid); ready {
				t.Error("repeated Announce returned ready")
			}
			if got := parent.Refs(); got != refs0+1 {
				t.Errorf("parent refs after repeats = %d, want %d", got, refs0+1)
			}

			cdevs := cloneDevs(t, tr, parent, child)
			tr.Complete(child)
			if child.Phase != Running {
				t.Errorf("phase after Complete = %v, want %v", child.Phase, Running)
			}
			if child.Parent != nil {
				t.Errorf("Parent after Complete = %v, want nil", child.Parent)
			}
			if got := parent.Refs(); got != refs0 {
				t.Errorf("parent refs after Complete = %d, want %d", got, refs0)
			}
			if _, ready := tr.FirstStop(ctid); ready {
				t.Error("FirstStop of a running task returned ready")
			}
			if n, ready := tr.Announce(parent, ctid); ready || n != child || parent.Refs() != refs0 {
				t.Errorf("Announce of a running task = %v, %v (parent refs %d)", n, ready, parent.Refs())
			}

			tr.Remove(child)
			tr.Remove(parent)
			if tr.Len() != 0 || tr.Released() != 2 {
				t.Errorf("Len() = %d, Released() = %d, want 0, 2", tr.Len(), tr.Released())
			}
			checkBalanced(t, tr, append(cdevs, pdev))
		})
	}
}

// PTRACE 17645 FORK 17646 / CONT 17645 / CHILD 17645 EXITED /
// PTRACE 17646 initial new / CONT 17646.
func TestParentExitsBeforeChildFirstStop(t *testing.T) {
	tr := New()
	parent, pdev := root(t, tr, 17645, false)
	child, ready := tr.Announce(parent, 17646)
	if ready {
		t.Fatal("Announce returned ready")
	}

	tr.Remove(parent)
	if n := tr.Find(17645); n != nil {
		t.Fatalf("Find(17645) after Remove = %v, want nil", n)
	}
	if pdev.unuses != 0 {
		t.Fatalf("parent device unused %d times while the child still waits", pdev.unuses)
	}
	if parent.Refs() != 1 || child.Parent != parent {
		t.Fatalf("parent refs %d, child.Parent %v: the child's reference is gone", parent.Refs(), child.Parent)
	}
	released := tr.Released()

	c, ready := tr.FirstStop(17646)
	if !ready || c != child {
		t.Fatalf("FirstStop = %v, %v, want %v, true", c, ready, child)
	}
	cdevs := cloneDevs(t, tr, child.Parent, child)
	if pdev.unuses != 0 {
		t.Fatalf("parent device unused before Complete")
	}
	tr.Complete(child)
	if pdev.unuses != 1 {
		t.Errorf("parent device unused %d times after Complete, want 1", pdev.unuses)
	}
	if got := tr.Released(); got != released+1 {
		t.Errorf("Released() = %d, want %d", got, released+1)
	}
	if tr.Len() != 1 || tr.Find(17646) != child {
		t.Errorf("Len() = %d, Find(17646) = %v; want only the child", tr.Len(), tr.Find(17646))
	}

	tr.Remove(child)
	checkBalanced(t, tr, append(cdevs, pdev))
}

func TestChildDiesBeforeFirstStop(t *testing.T) {
	tr := New()
	parent, pdev := root(t, tr, 100, false)
	child, _ := tr.Announce(parent, 101)
	if parent.Refs() != 2 {
		t.Fatalf("parent refs = %d, want 2", parent.Refs())
	}
	tr.Remove(child)
	if parent.Refs() != 1 {
		t.Errorf("parent refs after the child died = %d, want 1", parent.Refs())
	}
	if tr.Find(101) != nil || tr.Len() != 1 || tr.Released() != 1 {
		t.Errorf("Find(101) = %v, Len() = %d, Released() = %d; want nil, 1, 1",
			tr.Find(101), tr.Len(), tr.Released())
	}
	if pdev.unuses != 0 {
		t.Errorf("parent device unused while the parent runs")
	}
	tr.Remove(parent)
	checkBalanced(t, tr, []*fakeDev{pdev})
	if tr.Len() != 0 {
		t.Errorf("Len() = %d, want 0", tr.Len())
	}
}

// Task 1234 is reaped while its announced child still references it; the
// next fork that hands out 1234 again must get a fresh node.
func TestTIDReuseAfterReap(t *testing.T) {
	tr := New()
	old, olddev := root(t, tr, 1234, false)
	child, _ := tr.Announce(old, 2000)
	tr.Remove(old)

	other, otherdev := root(t, tr, 300, true)
	reused, ready := tr.Announce(other, 1234)
	if ready {
		t.Fatal("Announce of a reused TID returned ready")
	}
	if reused == old {
		t.Fatal("reused TID 1234 got the old, reaped node")
	}
	if reused.Phase != Announced || reused.Parent != other || !reused.Workload || len(reused.Devs) != 0 {
		t.Errorf("reused node = %v (parent %v, workload %v, %d devs); want a fresh announced child of 300",
			reused, reused.Parent, reused.Workload, len(reused.Devs))
	}
	if tr.Find(1234) != reused {
		t.Errorf("Find(1234) = %v, want the new node", tr.Find(1234))
	}
	if old.TID != 1234 || old.Refs() != 1 || olddev.live() != 1 {
		t.Errorf("old node = %v, device live %d; want it kept alive by 2000", old, olddev.live())
	}

	// The old node's child is born from the old node's devices.
	c, ready := tr.FirstStop(2000)
	if !ready || c.Parent != old {
		t.Fatalf("FirstStop(2000) = %v, %v; parent %v", c, ready, c.Parent)
	}
	devs := cloneDevs(t, tr, old, child)
	tr.Complete(child)
	n, ready := tr.FirstStop(1234)
	if !ready || n != reused {
		t.Fatalf("FirstStop(1234) = %v, %v", n, ready)
	}
	devs = append(devs, cloneDevs(t, tr, other, reused)...)
	tr.Complete(reused)
	if olddev.live() != 0 || otherdev.live() != 1 {
		t.Errorf("live devices: old %d, other %d; want 0, 1", olddev.live(), otherdev.live())
	}

	for _, n := range tr.Nodes() {
		tr.Remove(n)
	}
	checkBalanced(t, tr, append(devs, olddev, otherdev))
}

func TestInheritAtAnnounce(t *testing.T) {
	tests := []struct {
		name           string
		workload       bool // parent's
		parentDetach   bool
		stopFirst      bool // the child's first stop comes before the fork event
		childDetach    bool // set on the NewStopped child before Announce
		wantWorkload   bool
		wantDetach     bool
		wantReadyOnAnn bool
	}{
		{name: "plain parent", wantReadyOnAnn: false},
		{name: "workload parent", workload: true, wantWorkload: true},
		{name: "detaching parent", parentDetach: true, wantDetach: true},
		{name: "workload parent, first stop first", workload: true, stopFirst: true, wantWorkload: true, wantReadyOnAnn: true},
		{name: "detaching parent, first stop first", parentDetach: true, stopFirst: true, wantDetach: true, wantReadyOnAnn: true},
		{name: "detach set on new-stopped child stays", stopFirst: true, childDetach: true, wantDetach: true, wantReadyOnAnn: true},
		{name: "detach set on new-stopped child, detaching parent", parentDetach: true, stopFirst: true, childDetach: true, wantDetach: true, wantReadyOnAnn: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New()
			parent, _ := tr.Insert(10, 10, 1, tc.workload)
			parent.Detach = tc.parentDetach
			if tc.stopFirst {
				n, _ := tr.FirstStop(11)
				n.Detach = tc.childDetach
			}
			child, ready := tr.Announce(parent, 11)
			if ready != tc.wantReadyOnAnn {
				t.Errorf("Announce ready = %v, want %v", ready, tc.wantReadyOnAnn)
			}
			if child.Workload != tc.wantWorkload || child.Detach != tc.wantDetach {
				t.Errorf("child Workload, Detach = %v, %v; want %v, %v",
					child.Workload, child.Detach, tc.wantWorkload, tc.wantDetach)
			}
			if parent.Detach != tc.parentDetach || parent.Workload != tc.workload {
				t.Errorf("Announce changed the parent: %+v", parent)
			}
		})
	}
}

// An execve from thread 1235 of process 1234: the thread takes over the
// leader's TID.
func TestRekey(t *testing.T) {
	tests := []struct {
		name         string
		pendingChild bool // the leader has an announced child when it is replaced
	}{
		{name: "leader idle"},
		{name: "leader with a child waiting for its first stop", pendingChild: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New()
			leader, ldev := root(t, tr, 1234, false)
			thread, tdev := root(t, tr, 1235, false)
			var child *Node
			if tc.pendingChild {
				child, _ = tr.Announce(leader, 1300)
			}

			if r := tr.Rekey(thread, 1235); r != nil {
				t.Fatalf("Rekey to its own TID replaced %v", r)
			}
			replaced := tr.Rekey(thread, 1234)
			if replaced != leader {
				t.Fatalf("Rekey replaced %p, want the leader %p", replaced, leader)
			}
			if tr.Find(1234) != thread || tr.Find(1235) != nil || thread.TID != 1234 {
				t.Fatalf("Find(1234) = %v, Find(1235) = %v", tr.Find(1234), tr.Find(1235))
			}
			wantLen := 1
			if tc.pendingChild {
				wantLen = 2
				if ldev.live() != 1 {
					t.Errorf("leader device live = %d, want 1 while 1300 waits", ldev.live())
				}
				tr.FirstStop(1300)
				tr.Complete(child)
			}
			if tr.Len() != wantLen {
				t.Errorf("Len() = %d, want %d", tr.Len(), wantLen)
			}
			if ldev.unuses != 1 || tdev.unuses != 0 {
				t.Errorf("unuses: leader %d, thread %d; want 1, 0", ldev.unuses, tdev.unuses)
			}

			// The rekeyed node is removed under its new TID.
			tr.Remove(thread)
			if tdev.unuses != 1 || tr.Find(1234) != nil {
				t.Errorf("after Remove: thread device unuses %d, Find(1234) %v", tdev.unuses, tr.Find(1234))
			}
			for _, n := range tr.Nodes() {
				tr.Remove(n)
			}
			checkBalanced(t, tr, []*fakeDev{ldev, tdev})
			if tr.Len() != 0 {
				t.Errorf("Len() = %d, want 0", tr.Len())
			}
		})
	}
}

func TestLink(t *testing.T) {
	tests := []struct {
		name     string
		refuse   []bool // one device each
		teardown func(tr *Tree, n *Node)
	}{
		{name: "unlink", refuse: []bool{false, false, false}, teardown: (*Tree).Unlink},
		{name: "refused device, unlink", refuse: []bool{false, true, false}, teardown: (*Tree).Unlink},
		{name: "remove", refuse: []bool{false, false}, teardown: (*Tree).Remove},
		{name: "refused device, remove", refuse: []bool{true, false, true}, teardown: (*Tree).Remove},
		{name: "unlink then remove", refuse: []bool{false, true}, teardown: func(tr *Tree, n *Node) {
			tr.Unlink(n)
			tr.Remove(n)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New()
			n, _ := tr.Insert(1, 1, 0, false)
			var devs []*fakeDev
			linked := 0
			for i, r := range tc.refuse {
				d := &fakeDev{name: string(rune('a' + i)), refuse: r}
				devs = append(devs, d)
				if got := tr.Link(n, d); got == r {
					t.Errorf("Link(%s) = %v with refuse %v", d.name, got, r)
				}
				if !r {
					linked++
				}
			}
			if tr.Link(n, nil) {
				t.Error("Link(nil) = true")
			}
			if len(n.Devs) != linked {
				t.Fatalf("%d devices linked, want %d", len(n.Devs), linked)
			}
			tc.teardown(tr, n)
			for _, d := range devs {
				want := 1
				if d.refuse {
					want = 0
				}
				if d.uses != want || d.unuses != want {
					t.Errorf("device %s: %d uses, %d unuses; want %d each", d.name, d.uses, d.unuses, want)
				}
			}
			checkBalanced(t, tr, devs)
		})
	}
}

// TestTeardown removes a thousand tasks caught in every phase of their
// handshake, in random order.
func TestTeardown(t *testing.T) {
	const tasks = 1000
	rng := rand.New(rand.NewPCG(1, 2))
	tr := New()
	var devs []*fakeDev
	var running []*Node
	nextTID := 100
	created := 0
	for created < tasks {
		tid := nextTID
		nextTID++
		if len(running) == 0 || rng.IntN(10) == 0 {
			n, _ := tr.Insert(tid, tid, 1, rng.IntN(2) == 0)
			for range 1 + rng.IntN(2) {
				d := &fakeDev{name: "root"}
				tr.Link(n, d)
				devs = append(devs, d)
			}
			running = append(running, n)
			created++
			continue
		}
		parent := running[rng.IntN(len(running))]
		created++
		switch rng.IntN(5) {
		case 0: // announced, first stop not seen
			tr.Announce(parent, tid)
		case 1: // new-stopped, fork event not seen
			tr.FirstStop(tid)
		case 2: // both seen, not completed
			tr.FirstStop(tid)
			if _, ready := tr.Announce(parent, tid); !ready {
				t.Fatalf("Announce(%d) not ready", tid)
			}
		default: // born and running
			c, _ := tr.Announce(parent, tid)
			tr.FirstStop(tid)
			devs = append(devs, cloneDevs(t, tr, parent, c)...)
			tr.Complete(c)
			running = append(running, c)
		}
		// Now and then a running parent exits, leaving its pending
		// children behind.
		if rng.IntN(20) == 0 {
			i := rng.IntN(len(running))
			tr.Remove(running[i])
			running = append(running[:i], running[i+1:]...)
		}
	}

	nodes := tr.Nodes()
	rng.Shuffle(len(nodes), func(i, j int) { nodes[i], nodes[j] = nodes[j], nodes[i] })
	for _, n := range nodes {
		tr.Remove(n)
	}
	if tr.Len() != 0 {
		t.Errorf("Len() = %d, want 0", tr.Len())
	}
	if tr.Released() != tasks {
		t.Errorf("Released() = %d, want %d", tr.Released(), tasks)
	}
	checkBalanced(t, tr, devs)
}

func TestAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	const size = 10000
	tr, tids := populated(size)
	n := tr.Find(tids[0])
	parent := tr.Find(tids[1])
	dev := &fakeDev{}
	i := 0
	next := func() int { i++; return tids[i%len(tids)] }
	absent := func() int { i++; return tids[i%len(tids)] + 1 }

	// Warm the free lists.
	for range 100 {
		m, _ := tr.Insert(absent(), 1, 1, false)
		tr.Remove(m)
	}

	tests := []struct {
		name string
		fn   func()
	}{
		{name: "Get+Put", fn: func() { tr.Put(tr.Get(n)) }},
		{name: "Find", fn: func() {
			if tr.Find(next()) == nil {
				panic("not found")
			}
		}},
		{name: "Insert+Remove", fn: func() {
			m, _ := tr.Insert(absent(), 1, 1, false)
			tr.Remove(m)
		}},
		{name: "Announce+FirstStop+Link+Complete+Remove", fn: func() {
			c, _ := tr.Announce(parent, absent())
			tr.FirstStop(c.TID)
			tr.Link(c, dev)
			tr.Complete(c)
			tr.Remove(c)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := testing.AllocsPerRun(1000, tc.fn); got != 0 {
				t.Errorf("%v allocations per run, want 0", got)
			}
		})
	}
	if tr.Len() != size || tr.OverPuts() != 0 || dev.live() != 0 {
		t.Errorf("Len() = %d, OverPuts() = %d, device live %d", tr.Len(), tr.OverPuts(), dev.live())
	}
}

// populated returns a tree of size running tasks with even TIDs, so that
// TID+1 is never in it, and its TIDs in random order.
func populated(size int) (*Tree, []int) {
	tr := New()
	tids := make([]int, size)
	for i := range tids {
		tids[i] = 2 + 2*i
		tr.Insert(tids[i], tids[i], 1, false)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	rng.Shuffle(len(tids), func(i, j int) { tids[i], tids[j] = tids[j], tids[i] })
	return tr, tids
}

func TestPhaseString(t *testing.T) {
	for p, want := range map[Phase]string{
		Announced: "announced", NewStopped: "new-stopped", Running: "running", 0: "Phase(0)", 9: "Phase(9)",
	} {
		if got := p.String(); got != want {
			t.Errorf("Phase(%d).String() = %q, want %q", uint8(p), got, want)
		}
	}
	var n *Node
	if n.String() != "<nil>" {
		t.Errorf("nil Node String() = %q", n.String())
	}
}

// Rekey of a node that was already removed but is kept alive by a waiting
// child puts it back in the index, which then needs its own reference:
// without it, Remove freed the node under the child, and the child's
// Complete was an over-put.
func TestRekeyRemovedNode(t *testing.T) {
	tr := New()
	parent, pdev := root(t, tr, 10, false)
	child, _ := tr.Announce(parent, 11)
	tr.Remove(parent)
	if r := tr.Rekey(parent, 12); r != nil {
		t.Fatalf("Rekey replaced %v", r)
	}
	if tr.Find(12) != parent || parent.Refs() != 2 {
		t.Fatalf("Find(12) = %v, refs %d; want the parent with 2 references", tr.Find(12), parent.Refs())
	}
	tr.Remove(parent)
	if parent.Refs() != 1 || pdev.live() != 1 || child.Parent != parent {
		t.Fatalf("after Remove: %v, device live %d; want it kept by the child", parent, pdev.live())
	}
	tr.FirstStop(11)
	devs := cloneDevs(t, tr, parent, child)
	tr.Complete(child)
	tr.Remove(child)
	if tr.Len() != 0 || tr.Released() != 2 {
		t.Errorf("Len() = %d, Released() = %d, want 0, 2", tr.Len(), tr.Released())
	}
	checkBalanced(t, tr, append(devs, pdev))
}

// Caller bugs must not corrupt the tree.
func TestMisuse(t *testing.T) {
	tests := []struct {
		name         string
		misuse       func(tr *Tree, n *Node)
		wantOverPuts int
	}{
		{name: "Put of the index reference", misuse: (*Tree).Put},
		{name: "Put after Remove", misuse: func(tr *Tree, n *Node) {
			tr.Remove(n)
			tr.Put(n)
		}, wantOverPuts: 1},
		{name: "Remove twice", misuse: func(tr *Tree, n *Node) {
			tr.Remove(n)
			tr.Remove(n)
		}},
		{name: "Complete twice", misuse: func(tr *Tree, n *Node) {
			tr.Complete(n)
			tr.Complete(n)
			tr.Remove(n)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New()
			other, odev := root(t, tr, 1, false)
			n, dev := root(t, tr, 2, false)
			tc.misuse(tr, n)
			if tr.Find(2) != nil || tr.Len() != 1 || tr.Find(1) != other {
				t.Errorf("Find(2) = %v, Len() = %d, Find(1) = %v", tr.Find(2), tr.Len(), tr.Find(1))
			}
			if dev.uses != 1 || dev.unuses != 1 || odev.live() != 1 {
				t.Errorf("device uses %d, unuses %d; other live %d", dev.uses, dev.unuses, odev.live())
			}
			if tr.OverPuts() != tc.wantOverPuts || tr.Released() != 1 {
				t.Errorf("OverPuts() = %d, Released() = %d; want %d, 1", tr.OverPuts(), tr.Released(), tc.wantOverPuts)
			}
		})
	}
}
