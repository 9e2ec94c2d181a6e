package profdev

import (
	"container/heap"

	"github.com/perfprof/perfprof/pidtree"
)

// Ordering (SamplingOptions.Order) merges the samples of every ring in
// time order, as perf does with its rounds: the ring owner reads every
// ring in each round (a round is one epoll wake-up, or a timer while
// samples are held), copies the samples into a heap, and at the end of the
// round hands on, oldest first, those taken at least OrderWindow before the
// round began. A sample taken that long before a round whose read of its
// ring did not see it is one the kernel took that long to commit: it is
// handed on at once, out of order, and counted (OrderLate). When the held
// samples pass OrderLimit bytes the oldest are handed on early, and the
// later samples older than them are late too.
const (
	// OrderWindow is how long a sample is held at least, in ns.
	OrderWindow = 10_000_000
	// OrderLimit is the most sample bytes held, by default.
	OrderLimit = 64 << 20
)

// heldSample is a sample copied out of its ring, waiting for its turn.
type heldSample struct {
	time uint64
	seq  uint64 // ties keep the order the rings were read in
	dev  *Dev
	task pidtree.Task
	comm string
	raw  []byte
}

// reorder is the heap of held samples. Ring owner goroutine only.
type reorder struct {
	h     sampleHeap
	bytes int // of raw held
	limit int // most bytes held
	seq   uint64
	last  uint64 // time of the last sample handed on
	emit  func(*heldSample)
	late  int64 // handed on older than last: out of order
	early int64 // handed on before their time: the limit was reached
}

type sampleHeap []*heldSample

func (h sampleHeap) Len() int { return len(h) }
func (h sampleHeap) Less(i, j int) bool {
	if h[i].time != h[j].time {
		return h[i].time < h[j].time
	}
	return h[i].seq < h[j].seq
}
func (h sampleHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *sampleHeap) Push(x any)   { *h = append(*h, x.(*heldSample)) }
func (h *sampleHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return s
}

// push holds a sample: raw is copied.
func (q *reorder) push(t uint64, d *Dev, task pidtree.Task, comm string, raw []byte) {
	if t < q.last {
		// Its turn is past: hand it on now, counted.
		q.late++
		q.emit(&heldSample{time: t, dev: d, task: task, comm: comm, raw: raw})
		return
	}
	q.seq++
	heap.Push(&q.h, &heldSample{time: t, seq: q.seq, dev: d, task: task, comm: comm, raw: append([]byte(nil), raw...)})
	q.bytes += len(raw)
	for q.bytes > q.limit && len(q.h) > 0 {
		q.early++
		q.pop()
	}
}

// flush hands on, in time order, every sample taken at or before horizon.
func (q *reorder) flush(horizon uint64) {
	for len(q.h) > 0 && q.h[0].time <= horizon {
		q.pop()
	}
}

func (q *reorder) pop() {
	s := heap.Pop(&q.h).(*heldSample)
	q.bytes -= len(s.raw)
	q.last = s.time
	q.emit(s)
}

// held reports whether samples are waiting.
func (q *reorder) held() bool { return len(q.h) > 0 }
