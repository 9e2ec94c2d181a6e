package pidtree

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// mnode is the model of one task: what the tracer has seen of it.
type mnode struct {
	id        int // creation order, for messages
	tid       int
	real      *Node
	inIndex   bool
	announced bool // the parent's fork event was seen
	stopped   bool // the child's first stop was seen
	completed bool // Complete ran, or the task was attached
	parent    *mnode
	waiting   int // children that still reference this node
	devs      []*fakeDev
	freed     bool
}

func (m *mnode) refs() int {
	r := m.waiting
	if m.inIndex {
		r++
	}
	return r
}

func (m *mnode) phase() Phase {
	switch {
	case m.completed:
		return Running
	case m.stopped:
		return NewStopped
	}
	return Announced
}

func (m *mnode) String() string {
	return fmt.Sprintf("#%d(tid %d, %v, refs %d)", m.id, m.tid, m.phase(), m.refs())
}

// model is a map-based reference for Tree, driven by random events.
type model struct {
	t       *testing.T
	rng     *rand.Rand
	tree    *Tree
	index   map[int]*mnode
	live    []*mnode // not freed
	devs    []*fakeDev
	created int
	freed   int
	log     []string
}

const modelTIDs = 12 // TIDs 1..modelTIDs

func (m *model) newNode(tid int, real *Node) *mnode {
	m.created++
	n := &mnode{id: m.created, tid: tid, real: real, inIndex: true}
	m.index[tid] = n
	m.live = append(m.live, n)
	return n
}

// put drops one reference of n, as Tree.Put does.
func (m *model) put(n *mnode) {
	if n.refs() > 0 {
		return
	}
	n.freed = true
	m.freed++
	for _, d := range n.devs {
		if d.live() != 0 {
			m.t.Errorf("%v freed: device %s live %d", n, d.name, d.live())
		}
	}
	for i, l := range m.live {
		if l == n {
			m.live = append(m.live[:i], m.live[i+1:]...)
			break
		}
	}
	if p := n.parent; p != nil {
		n.parent = nil
		p.waiting--
		m.put(p)
	}
}

func (m *model) pick(filter func(*mnode) bool) *mnode {
	var c []*mnode
	for _, n := range m.live {
		if filter(n) {
			c = append(c, n)
		}
	}
	if len(c) == 0 {
		return nil
	}
	return c[m.rng.IntN(len(c))]
}

func (m *model) logf(format string, args ...any) {
	m.log = append(m.log, fmt.Sprintf(format, args...))
}

func (m *model) fail(format string, args ...any) {
	m.t.Helper()
	m.t.Fatalf("%s\nevents:\n%v", fmt.Sprintf(format, args...), m.log)
}

func (m *model) attach(tid int) {
	real, added := m.tree.Insert(tid, tid, 0, false)
	m.logf("Insert(%d)", tid)
	if !added {
		m.fail("Insert(%d) of an unknown TID: not added", tid)
	}
	n := m.newNode(tid, real)
	n.completed = true
	d := &fakeDev{name: fmt.Sprintf("root%d", n.id)}
	m.tree.Link(real, d)
	n.devs = append(n.devs, d)
	m.devs = append(m.devs, d)
}

func (m *model) announce(parent *mnode, tid int) {
	child, ready := m.tree.Announce(parent.real, tid)
	m.logf("Announce(%v, %d) = %v, %v", parent, tid, child, ready)
	c := m.index[tid]
	want := false
	switch {
	case c == nil:
		c = m.newNode(tid, child)
		c.announced = true
	case c.stopped && !c.announced:
		c.announced = true
		want = true
	}
	if c.real != child {
		m.fail("Announce(%d) returned node %p, want %p", tid, child, c.real)
	}
	if ready != want {
		m.fail("Announce(%d) ready = %v, want %v", tid, ready, want)
	}
	if c.announced && c.parent == nil && !c.completed {
		c.parent = parent
		parent.waiting++
	}
}

func (m *model) firstStop(tid int) {
	n, ready := m.tree.FirstStop(tid)
	m.logf("FirstStop(%d) = %v, %v", tid, n, ready)
	c := m.index[tid]
	want := false
	switch {
	case c == nil:
		c = m.newNode(tid, n)
		c.stopped = true
	case c.announced && !c.stopped:
		c.stopped = true
		want = true
	}
	if c.real != n {
		m.fail("FirstStop(%d) returned node %p, want %p", tid, n, c.real)
	}
	if ready != want {
		m.fail("FirstStop(%d) ready = %v, want %v", tid, ready, want)
	}
}

// complete does the tracer's part for a ready child: clone, Complete.
func (m *model) complete(c *mnode) {
	m.logf("Complete(%v)", c)
	p := c.parent
	for _, pd := range p.devs {
		if pd.live() <= 0 {
			m.fail("%v: parent %v device %s is not linked", c, p, pd.name)
		}
		d := &fakeDev{name: pd.name}
		if !m.tree.Link(c.real, d) {
			m.fail("Link refused")
		}
		c.devs = append(c.devs, d)
		m.devs = append(m.devs, d)
	}
	m.tree.Complete(c.real)
	c.completed = true
	c.parent = nil
	p.waiting--
	m.put(p)
}

func (m *model) remove(n *mnode) {
	m.logf("Remove(%v)", n)
	m.tree.Remove(n.real)
	delete(m.index, n.tid)
	n.inIndex = false
	m.put(n)
}

func (m *model) check() {
	m.t.Helper()
	if got, want := m.tree.Len(), len(m.index); got != want {
		m.fail("Len() = %d, want %d", got, want)
	}
	if got := m.tree.OverPuts(); got != 0 {
		m.fail("OverPuts() = %d", got)
	}
	if got := m.tree.Released(); got != m.freed {
		m.fail("Released() = %d, want %d", got, m.freed)
	}
	for tid := 1; tid <= modelTIDs; tid++ {
		var want *Node
		if n := m.index[tid]; n != nil {
			want = n.real
		}
		if got := m.tree.Find(tid); got != want {
			m.fail("Find(%d) = %v, want %v", tid, got, want)
		}
	}
	for _, n := range m.live {
		r := n.real
		var wantParent *Node
		if n.parent != nil {
			wantParent = n.parent.real
		}
		if r.TID != n.tid || r.Refs() != n.refs() || r.Phase != n.phase() || r.Parent != wantParent {
			m.fail("node %v (parent %v), model %v (parent %v)", r, r.Parent, n, n.parent)
		}
		if len(r.Devs) != len(n.devs) {
			m.fail("%v: %d devices, want %d", n, len(r.Devs), len(n.devs))
		}
		for _, d := range n.devs {
			if d.live() != 1 {
				m.fail("%v: device %s live %d, want 1", n, d.name, d.live())
			}
		}
	}
}

func (m *model) step() {
	tid := 1 + m.rng.IntN(modelTIDs)
	switch k := m.rng.IntN(10); {
	case k < 1: // attach
		if m.index[tid] == nil {
			m.attach(tid)
		}
	case k < 4: // a running task forks
		if p := m.pick(func(n *mnode) bool { return n.inIndex && n.completed }); p != nil {
			m.announce(p, tid)
		}
	case k < 6: // a stop of tid
		m.firstStop(tid)
	case k < 8: // the tracer completes a ready child
		if c := m.pick(func(n *mnode) bool { return n.announced && n.stopped && !n.completed }); c != nil {
			m.complete(c)
		}
	default: // a task is reaped
		if n := m.index[tid]; n != nil {
			m.remove(n)
		}
	}
	m.check()
}

func TestModel(t *testing.T) {
	for seed := range uint64(64) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			m := &model{
				t:     t,
				rng:   rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
				tree:  New(),
				index: map[int]*mnode{},
			}
			m.attach(1)
			for range 2000 {
				m.step()
				if len(m.log) > 64 {
					m.log = m.log[len(m.log)-32:]
				}
			}
			// Every task is reaped.
			for tid := 1; tid <= modelTIDs; tid++ {
				if n := m.index[tid]; n != nil {
					m.remove(n)
					m.check()
				}
			}
			if len(m.live) != 0 || m.freed != m.created {
				t.Fatalf("%d nodes live after teardown: %v", len(m.live), m.live)
			}
			checkBalanced(t, m.tree, m.devs)
		})
	}
}
