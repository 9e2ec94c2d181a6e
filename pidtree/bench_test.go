package pidtree

import (
	"fmt"
	"testing"
)

var benchSizes = []int{10_000, 100_000}

// BenchmarkFind looks up tasks of a populated tree in random order.
func BenchmarkFind(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			tr, tids := populated(size)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if tr.Find(tids[i]) == nil {
					b.Fatal("not found")
				}
				if i++; i == len(tids) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkInsertRemove attaches a task and reaps it, at TIDs spread over
// the tree.
func BenchmarkInsertRemove(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			tr, tids := populated(size)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				n, _ := tr.Insert(tids[i]+1, tids[i]+1, 1, false)
				tr.Remove(n)
				if i++; i == len(tids) {
					i = 0
				}
			}
			if tr.Len() != size {
				b.Fatalf("Len() = %d, want %d", tr.Len(), size)
			}
		})
	}
}

// BenchmarkHandshake is the birth and death of a child: Announce and
// FirstStop (in alternating order), one device cloned, Complete, Remove.
func BenchmarkHandshake(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			tr, tids := populated(size)
			dev := &fakeDev{}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				parent := tr.Find(tids[i])
				tid := tids[(i+1)%len(tids)] + 1
				var c *Node
				var ready bool
				if i&1 == 0 {
					tr.Announce(parent, tid)
					c, ready = tr.FirstStop(tid)
				} else {
					tr.FirstStop(tid)
					c, ready = tr.Announce(parent, tid)
				}
				if !ready {
					b.Fatal("not ready")
				}
				tr.Link(c, dev)
				tr.Complete(c)
				tr.Remove(c)
				if i++; i == len(tids) {
					i = 0
				}
			}
			if tr.Len() != size || dev.live() != 0 || tr.OverPuts() != 0 {
				b.Fatalf("Len() = %d, device live %d, OverPuts() = %d", tr.Len(), dev.live(), tr.OverPuts())
			}
		})
	}
}

func BenchmarkGetPut(b *testing.B) {
	tr, tids := populated(1000)
	n := tr.Find(tids[0])
	b.ReportAllocs()
	for b.Loop() {
		tr.Put(tr.Get(n))
	}
	if n.Refs() != 1 {
		b.Fatalf("refs = %d, want 1", n.Refs())
	}
}
