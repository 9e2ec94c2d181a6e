package profdev

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/perfprof/perfprof/perfevent"
	"golang.org/x/sys/unix"
)

// ringOwner reads the rings of every device of a sampling Set on one
// goroutine: one epoll for all of them, and an eventfd that wakes it for
// requests. It alone reads and watches the rings, and it ends every
// device of its set; it never unmaps a ring (the package doc's "Who does
// what").
//
// Other goroutines talk to it with four typed requests, queued in order:
// add (the tracer, when a task is born or armed), retire (whoever
// releases a device: the tracer, or Set.Close's caller), drain (read
// every ring now and reply) and stop. Adding and retiring only queue the
// request, without a system call and, while the owner is awake or waits
// with a timer, without waking it. The owner serves the queue in rounds,
// at least every Batch ms while requests wait (an added ring youngWait at
// most; the first ring, a drain and a stop at once), and never otherwise:
// with no records to read and nothing queued, it costs no CPU.
//
// Serving an add puts the ring in the owner's epoll set, and from then on
// the kernel wakes the owner when the ring has records to read (at every
// sample, or at the watermark). Serving a retire drains the ring (reads
// it to its end), ends its device (ownerOptions.retired) and hands the
// ring back: the next retire, or stop, unmaps it on its caller's
// goroutine. No record is lost to the unmap, and the unmap (which takes
// the address space's lock, and interrupts the CPUs that run perfprof's
// other threads to flush their TLBs) happens on the thread that maps the
// rings, the tracer, which is running anyway, while the owner mostly
// waits: threadloop 2000 under -F 999 -e task-clock, on 2 vCPUs, took
// 27% more time per thread and 19% more of perfprof's CPU with the owner
// unmapping. A task that is born and gone between two rounds (a thread of a
// thread pool, a short command) never costs an epoll_ctl nor wakes the
// owner at its exit: its ring is drained once, when its retire is served.
type ringOwner struct {
	opt        ownerOptions
	epfd, evfd int

	// rawSleep has the owner linger in a nanosleep the Go scheduler does
	// not see (a raw system call), keeping its P for the linger (Batch at
	// most). The scheduler's ways cost more than the samples of a round:
	// a parked goroutine wakes another thread to look for work and the
	// runtime's monitor, which then polls every 20 µs for a while; in a
	// system call it sees, the monitor may take the P and hand it off.
	// faultpages 300000 sampled at every fault (-m 8, three runs each):
	// 0.84 µs of perfprof's CPU per sample with a raw sleep, 0.99 µs in a
	// plain system call, 1.19 µs parked. Only when there is another P for
	// everything else: the tracer must not wait a linger for a P to serve
	// a stop with. A stop-the-world of the collector may wait a linger.
	rawSleep bool

	// The queue, shared with the goroutines that send requests.
	mu       sync.Mutex
	reqs     []request
	soon     urgency      // the most pressing request queued; 0: none
	live     int          // rings added and not retired: 0 makes the next add the first
	sleeping bool         // the owner waits with no timer: a request must wake it
	back     []*ownedRing // retired and drained, handed back to be unmapped
	spare    []*ownedRing // back's other buffer, while no sender unmaps

	// The ring memory mapped (data pages), now and at its peak.
	bytes, peak atomic.Int64

	// Owner goroutine only.
	rings  map[int32]*ownedRing // by fd: the rings added and not retired
	young  []*ownedRing         // added in this round, to watch at its end
	served []request            // the queue's other buffer
	handed []*ownedRing         // drained in this round, to hand back at its end
	// The owner lingers between rounds while records flow, so that the
	// kernel's wake-ups (one per sample without a watermark) find no
	// waiter and cost no context switch, and a round reads many records.
	// The linger is scaled so that the fullest ring of a round is half
	// full (Batch at most), as perf record's rings wake it, and dropped
	// when it was three quarters full.
	linger int64   // ns
	fill   float64 // the fullest ring of the round, as a fraction of its size

	wakes   atomic.Int64 // epoll_wait returns, for tests
	watched atomic.Int64 // rings put in the epoll set, for tests
	done    chan struct{}
}

// ownerOptions are a ring owner's: all given to newRingOwner, none
// changed after.
type ownerOptions struct {
	// record receives every record read, with the device of its ring,
	// on the owner goroutine; the bytes are valid until it returns.
	record func(d *Dev, rec []byte)
	// retired ends a device once its retire is served: its ring (if it
	// has one) was drained, and is mapped until the next retire or stop.
	// Owner goroutine.
	retired func(d *Dev)
	// With rounds set, every wake-up is a round: the owner drains every
	// ring, not only those that woke it, then calls rounds.end with the
	// round's start (CLOCK_MONOTONIC ns); while rounds.held, a round also
	// comes at least every Batch ms. rounds.end(^uint64(0)) ends the last
	// round, when the owner stops.
	rounds *roundHooks
	// flush, if not nil, runs after each round (the sink's Flush).
	flush func()
	// noLinger: the kernel wakes the owner at a watermark, batching the
	// records itself; the owner reads them as soon as it wakes.
	noLinger bool
	// batch is the longest a retire waits to be served (0: Batch ms).
	batch time.Duration
}

// Batch is the longest a ring owner lets a request wait, in ms: a new
// task's ring is watched by epoll, and an ended task's ring drained and
// its device ended, at most this long after.
const Batch = 10

// youngDiv divides the batch into the longest a new ring waits to be
// watched (youngWait): 1 ms. A task sampled at every page fault fills a
// ring of 2 pages in 3 ms with the kernel's wake-up at every sample (in a
// virtual machine), 10 times as fast without; a ring is drained at once,
// whatever its age, when its retire is served.
const youngDiv = 10

// roundHooks are what a ring owner that reads in rounds calls.
type roundHooks struct {
	end  func(start uint64)
	held func() bool
}

// ownedRing is a device's ring. Its fields are set by add; from then on
// the ring is the owner's.
type ownedRing struct {
	dev  *Dev
	fd   int // the group leader's: the epoll key
	ring *perfevent.Ring
}

// op is what a request asks of the owner.
type op uint8

const (
	opAdd    op = iota + 1 // watch dev's ring
	opRetire               // drain dev's ring, end dev, hand the ring back
	opDrain                // drain every ring, then close done
	opStop                 // drain every ring, hand them back, end the goroutine
)

// request is one request to the owner.
type request struct {
	op   op
	dev  *Dev          // add, retire
	done chan struct{} // drain
}

// urgency is how soon a request must be served.
type urgency uint8

const (
	withinBatch     urgency = iota + 1 // retire
	withinYoungWait                    // add
	atOnce                             // the first add, drain, stop
)

// newRingOwner starts the owner goroutine.
func newRingOwner(opt ownerOptions) (*ringOwner, error) {
	if opt.batch <= 0 {
		opt.batch = Batch * time.Millisecond
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	o := &ringOwner{opt: opt, epfd: epfd, evfd: evfd,
		rawSleep: runtime.GOMAXPROCS(0) >= 2,
		rings:    map[int32]*ownedRing{}, done: make(chan struct{})}
	go o.loop()
	return o, nil
}

// add gives ring, the ring of d's perf event fd, to the owner, which
// watches it from its next round on. It returns at once.
func (o *ringOwner) add(d *Dev, fd int, ring *perfevent.Ring) {
	d.ring = &ownedRing{dev: d, fd: fd, ring: ring}
	n := o.bytes.Add(int64(ring.Size()))
	for p := o.peak.Load(); n > p && !o.peak.CompareAndSwap(p, n); p = o.peak.Load() {
	}
	o.send(request{op: opAdd, dev: d})
}

// retire has the owner drain d's ring (if it has one) and end d
// (ownerOptions.retired), on the owner goroutine, within the batch. It
// unmaps the rings the owner handed back since the last retire, and
// returns.
func (o *ringOwner) retire(d *Dev) {
	o.unmap(o.send(request{op: opRetire, dev: d}))
}

// drain has the owner serve what is queued and drain every ring now, and
// returns once it has: what the rings held has been handed on. After
// stop, which drained them all, it returns at once.
func (o *ringOwner) drain() {
	done := make(chan struct{})
	o.send(request{op: opDrain, done: done})
	select {
	case <-done:
	case <-o.done: // stopped: the request may never be served
	}
}

// stop has the owner serve what is queued, drain every ring and end its
// goroutine, waits for it, and unmaps every ring. Retire first the rings
// whose devices must end: stop only drains the others.
func (o *ringOwner) stop() {
	o.send(request{op: opStop})
	<-o.done
	o.mu.Lock()
	back := o.back
	o.back = nil
	o.mu.Unlock()
	o.unmap(back)
}

// unmap unmaps the rings that send took back from the owner, and keeps
// the slice for the owner to hand back more.
func (o *ringOwner) unmap(back []*ownedRing) {
	if len(back) == 0 {
		return
	}
	for i, r := range back {
		// The device's fds are closed: the unmap releases the event,
		// and takes its fd out of the epoll set.
		o.bytes.Add(-int64(r.ring.Size()))
		r.ring.Close()
		back[i] = nil
	}
	o.mu.Lock()
	if o.spare == nil {
		o.spare = back[:0]
	}
	o.mu.Unlock()
}

// send queues q, wakes the owner if it waits with no timer or q cannot
// wait, and returns the rings the owner handed back, for the caller to
// unmap (see unmap).
func (o *ringOwner) send(q request) (back []*ownedRing) {
	u := atOnce // drain, stop
	o.mu.Lock()
	switch q.op {
	case opAdd:
		// The first ring, a workload's first task or an attached
		// target's, is watched at once: a busy task fills its ring in
		// well under a round's wait (32 KiB in 0.6 ms at every page
		// fault of faultpages).
		if u = withinYoungWait; o.live == 0 {
			u = atOnce
		}
		o.live++
	case opRetire:
		if u = withinBatch; q.dev.ring != nil {
			o.live--
		}
	}
	o.reqs = append(o.reqs, q)
	o.soon = max(o.soon, u)
	wake := o.sleeping || u == atOnce
	o.sleeping = false
	if q.op == opRetire && len(o.back) > 0 {
		back, o.back, o.spare = o.back, o.spare, nil
	}
	o.mu.Unlock()
	if wake {
		var one = [8]byte{1}
		unix.Write(o.evfd, one[:]) // EAGAIN: the counter is full, a wake is pending anyway
	}
	return back
}

func (o *ringOwner) loop() {
	defer close(o.done)
	events := make([]unix.EpollEvent, 64)
	batch := int64(o.opt.batch)
	var due int64 // when the queue is to be served (CLOCK_MONOTONIC ns); 0: nothing queued
	for {
		held := o.opt.rounds != nil && o.opt.rounds.held()
		o.mu.Lock()
		soon := o.soon
		o.sleeping = soon == 0 && !held
		o.mu.Unlock()
		t := int64(monotonicNow())
		if soon != 0 || held {
			// Requests queued since the last round wait for more: the
			// batch at most, a new ring youngWait (its task may fill it
			// before it is watched).
			wait := batch
			if soon == withinYoungWait {
				wait = batch / youngDiv
			}
			if due == 0 || t+wait < due {
				due = t + wait
			}
		}
		wait := -1
		switch {
		case soon == atOnce:
			wait = 0
		case due != 0:
			wait = waitMS(due, t)
		}
		n, err := unix.EpollWait(o.epfd, events, wait)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			o.close()
			return
		}
		o.wakes.Add(1)
		var start uint64
		if o.opt.rounds != nil {
			start = monotonicNow()
			o.drainRings()
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(o.evfd) {
				var b [8]byte
				unix.Read(o.evfd, b[:])
				continue
			}
			if o.opt.rounds == nil {
				// Edge-triggered: a hung-up fd (its task gone) wakes the
				// owner once, then stays quiet until it is retired.
				if r := o.rings[ev.Fd]; r != nil {
					o.drainRing(r)
				}
			}
		}
		if soon == atOnce || (due != 0 && int64(monotonicNow()) >= due) {
			due = 0
			if stop := o.serve(); stop {
				o.close()
				return
			}
		}
		if o.opt.rounds != nil {
			o.opt.rounds.end(start)
		}
		if o.opt.flush != nil {
			o.opt.flush()
		}
		o.pace()
	}
}

// waitMS returns how long to wait for due from now (ns), in ms rounded
// up for epoll_wait: 0 if due passed already (during a linger), never -1
// (forever).
func waitMS(due, now int64) int {
	return max(int((due-now+1e6-1)/1e6), 0)
}

// pace lingers after a round that read records (see linger).
func (o *ringOwner) pace() {
	fill := o.fill
	o.fill = 0
	switch {
	case fill == 0 || o.opt.noLinger:
		return
	case fill >= 3.0/4:
		o.linger = 0
	default:
		// The records of a linger filled the fullest ring to fill:
		// scale it to fill half.
		o.linger = min(int64(float64(max(o.linger, lingerMin))/(2*fill)), int64(o.opt.batch))
	}
	if o.linger > 0 {
		o.sleep(o.linger)
	}
}

// sleep lingers ns on the owner's thread, keeping its P (see rawSleep).
func (o *ringOwner) sleep(ns int64) {
	if !o.rawSleep {
		time.Sleep(time.Duration(ns))
		return
	}
	ts := unix.NsecToTimespec(ns)
	for {
		// The remaining time goes back into ts when a signal (the Go
		// runtime's preemption) interrupts the sleep.
		_, _, e := unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), uintptr(unsafe.Pointer(&ts)), 0)
		if e != unix.EINTR {
			return
		}
	}
}

// lingerMin is where the linger starts from, in ns.
const lingerMin = 100_000

// serve serves the queue, in order, and reports whether it asked to stop.
// The rings added are watched at the end, those retired meanwhile not at
// all; the drains are answered once every ring was drained.
func (o *ringOwner) serve() (stop bool) {
	o.mu.Lock()
	reqs := o.reqs
	o.reqs, o.soon = o.served[:0], 0
	o.mu.Unlock()
	drained := false
	for _, q := range reqs {
		switch q.op {
		case opAdd:
			r := q.dev.ring
			o.rings[int32(r.fd)] = r
			o.young = append(o.young, r)
		case opRetire:
			if r := q.dev.ring; r != nil && o.rings[int32(r.fd)] == r {
				delete(o.rings, int32(r.fd))
				o.drainRing(r)
				o.handed = append(o.handed, r)
			}
			if o.opt.retired != nil {
				o.opt.retired(q.dev)
			}
		case opDrain:
			drained = true
		case opStop:
			stop = true
		}
	}
	for _, r := range o.young {
		if o.rings[int32(r.fd)] == r {
			o.watch(r)
		}
	}
	clear(o.young)
	o.young = o.young[:0]
	o.handBack()
	if drained {
		if o.opt.rounds == nil {
			o.drainRings() // a round drained them already
		}
		for _, q := range reqs {
			if q.op == opDrain {
				close(q.done)
			}
		}
	}
	clear(reqs)
	o.served = reqs[:0]
	return stop
}

// handBack hands the rings drained in this round back, to be unmapped.
func (o *ringOwner) handBack() {
	if len(o.handed) == 0 {
		return
	}
	o.mu.Lock()
	o.back = append(o.back, o.handed...)
	o.mu.Unlock()
	clear(o.handed)
	o.handed = o.handed[:0]
}

// watch adds r to the epoll set and drains what it holds already.
func (o *ringOwner) watch(r *ownedRing) {
	// Edge-triggered: the owner drains a ring at each wake-up, and a
	// hung-up fd, which stays readable, wakes it once, not in a loop.
	// The fd leaves the set by itself when it is closed and its ring
	// unmapped (the mapping holds the file): no EPOLL_CTL_DEL. Until
	// then, a wake-up of a retired ring finds no ring of its fd, or
	// another one, whose drain costs nothing more.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(r.fd)}
	if err := unix.EpollCtl(o.epfd, unix.EPOLL_CTL_ADD, r.fd, &ev); err == nil {
		o.watched.Add(1)
	} // else not watched: it is drained when it is retired
	o.drainRing(r)
}

// drainRings drains every ring: a round, or a drain request.
func (o *ringOwner) drainRings() {
	for _, r := range o.rings {
		o.drainRing(r)
	}
}

// monotonicNow is CLOCK_MONOTONIC, the rings' clock, in ns.
func monotonicNow() uint64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// drainRing reads every record of r up to the kernel's head, in rounds,
// until a round finds none. A corrupt header drops the records up to the
// head (perfevent.Ring.Next); the next ones are read.
func (o *ringOwner) drainRing(r *ownedRing) {
	n := 0
	r.ring.Drain(func(rec []byte) { n += len(rec); o.opt.record(r.dev, rec) })
	if f := float64(n) / float64(r.ring.Size()); f > o.fill {
		o.fill = f
	}
}

// close drains the rings left and hands them back, ends the last round,
// and closes the owner's fds.
func (o *ringOwner) close() {
	for fd, r := range o.rings {
		o.drainRing(r)
		o.handed = append(o.handed, r)
		delete(o.rings, fd)
	}
	o.handBack()
	if o.opt.rounds != nil {
		o.opt.rounds.end(^uint64(0))
	}
	if o.opt.flush != nil {
		o.opt.flush()
	}
	unix.Close(o.epfd)
	unix.Close(o.evfd)
}
