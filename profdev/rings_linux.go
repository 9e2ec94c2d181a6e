package profdev

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/perfprof/perfprof/perfevent"
	"golang.org/x/sys/unix"
)

// ringOwner reads the rings of every followed task on one goroutine: one
// epoll for all of them, and an eventfd that wakes it for requests.
//
// The tracer's goroutine adds a ring when a task is born (add) and retires
// it when the task is gone or let go (retire). Adding only queues work for
// the owner, without a system call and, while the owner is busy anyway,
// without waking it; so does retiring a ring that still holds records.
// An empty ring (the common case) is unmapped by retire itself, on the
// tracer's thread. The owner does the queued work in rounds, which come
// at least every Batch ms while work is queued (a young ring waits
// Batch/youngDiv at most; the owner's first ring, none), and never
// otherwise: with no records to read and nothing queued, it costs no CPU.
//
// In a round the owner registers the rings added since the last one with
// its epoll, and then the kernel wakes it when a ring has records to read
// (at every sample, or at the watermark). A task that is born and gone
// between two rounds (a thread of a thread pool, a short command) never
// costs an epoll_ctl nor wakes the owner at its exit: its ring is read
// once, when it is retired. A retired ring is read to its end, then
// unmapped, then what the retirement asked for is done (closing the task's
// counters, for instance): no record is lost to the unmap.
type ringOwner struct {
	epfd, evfd int
	handle     func(cookie any, rec []byte) // on the owner goroutine

	// With rounds set, every wake-up is a round: the owner reads every
	// ring, not only those that woke it, then calls rounds.end with the
	// round's start (CLOCK_MONOTONIC ns); while rounds.held, a round also
	// comes at least every Batch ms. rounds.end(^uint64(0)) ends the last
	// round, when the owner stops.
	rounds *roundHooks
	flush  func()       // after each round, if not nil (owner goroutine)
	all    []*ownedRing // the rings of a round (owner goroutine)

	// The owner lingers between rounds while records flow, so that the
	// kernel's wake-ups (one per sample without a watermark) find no
	// waiter and cost no context switch, and a round reads many records.
	// The linger is scaled so that the fullest ring of a round is half
	// full (Batch at most), as perf record's rings wake it, and dropped
	// when it was three quarters full.
	// Owner goroutine only.
	linger int64   // ns
	fill   float64 // the fullest ring of the round, as a fraction of its size
	batch  int64   // Batch, in ns (tests may change it before the first add)

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
	noLinger bool // the kernel wakes the owner at a watermark: it batches

	mu       sync.Mutex
	rings    map[int32]*ownedRing // by fd
	young    []*ownedRing         // added, not yet in the epoll set
	reqs     []func()             // for the owner goroutine
	sleeping bool                 // the owner waits with no timer: queued work must wake it
	urgent   bool                 // queued work must be done now, not at the round's time

	wakes   atomic.Int64 // epoll_wait returns, for tests
	watched atomic.Int64 // rings put in the epoll set, for tests
	done    chan struct{}
}

// Batch is the longest a ring owner lets queued work wait, in ms: a new
// task's ring is watched by epoll, and an ended task's ring read, unmapped
// and its counters closed, at most this long after.
const Batch = 10

// youngDiv divides Batch into the longest a young ring waits to be
// watched: 1 ms. A task sampled at every page fault fills a ring of 2
// pages in 3 ms with the kernel's wake-up at every sample (in a virtual
// machine), 10 times as fast without; a ring is read at once, whatever
// its age, when its task ends.
const youngDiv = 10

// roundHooks are what a ring owner that reads in rounds calls.
type roundHooks struct {
	end  func(start uint64)
	held func() bool
}

// ownedRing is a ring and what it belongs to.
type ownedRing struct {
	fd     int
	ring   *perfevent.Ring
	cookie any
	busy   bool // the owner reads it (under mu)
	err    error
}

// newRingOwner starts the owner goroutine. handle receives every record
// read, on that goroutine, with the cookie its ring was added with; the
// bytes are valid until it returns.
func newRingOwner(handle func(cookie any, rec []byte), rounds *roundHooks) (*ringOwner, error) {
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
	o := &ringOwner{epfd: epfd, evfd: evfd, handle: handle, rounds: rounds, batch: Batch * 1e6,
		rawSleep: runtime.GOMAXPROCS(0) >= 2,
		rings:    map[int32]*ownedRing{}, done: make(chan struct{})}
	go o.loop()
	return o, nil
}

// add starts reading ring, the ring of perf event fd, for cookie: the
// owner watches it from its next round on.
func (o *ringOwner) add(fd int, ring *perfevent.Ring, cookie any) {
	r := &ownedRing{fd: fd, ring: ring, cookie: cookie}
	o.mu.Lock()
	// The first ring, a workload's first task or an attached target's,
	// is watched at once: a busy task fills its ring in well under a
	// round's wait (32 KiB in 0.6 ms at every page fault of faultpages).
	first := len(o.rings) == 0
	o.rings[int32(fd)] = r
	o.young = append(o.young, r)
	wake := o.queued() || first
	o.urgent = o.urgent || first
	o.mu.Unlock()
	if wake {
		o.wake()
	}
}

// retire ends the ring of fd: what is left in it is read, it is unmapped,
// and then then (if not nil) runs. It returns at once.
//
// A ring with nothing left to read (most are: a task's records are read
// as they come), which the owner is not reading, is done with at once, on
// the caller's goroutine: then runs there. Unmapping it there, on the
// thread that was running anyway, costs no TLB shoot-down of the other
// CPUs, which an unmap by the owner's thread would while the caller's
// runs. Any other ring is retired by the owner in its next round, after
// it read what is left; then runs on the owner goroutine.
func (o *ringOwner) retire(fd int, then func()) {
	o.mu.Lock()
	r := o.rings[int32(fd)]
	delete(o.rings, int32(fd)) // not watched, nor read on a wake-up, any more
	if r != nil && !r.busy && o.rounds == nil && !r.ring.Begin() {
		o.mu.Unlock()
		// The fd's close (in then) takes it out of the epoll set: the
		// mapping holds its file until the unmap.
		r.ring.Close()
		if then != nil {
			then()
		}
		return
	}
	if r != nil {
		r.busy = true // for the owner only, from now on
	}
	o.mu.Unlock()
	o.later(func() {
		if r != nil {
			o.drain(r)
			r.ring.Close()
		}
		if then != nil {
			then()
		}
	})
}

// later queues fn for the owner's next round.
func (o *ringOwner) later(fn func()) {
	o.mu.Lock()
	o.reqs = append(o.reqs, fn)
	wake := o.queued()
	o.mu.Unlock()
	if wake {
		o.wake()
	}
}

// queued notes that work is queued, and says whether the owner must be
// woken for it: only if it waits with no timer. Precondition: o.mu held.
func (o *ringOwner) queued() bool {
	if o.sleeping {
		o.sleeping = false
		return true
	}
	return false
}

// post queues fn for the owner goroutine and has it run now.
func (o *ringOwner) post(fn func()) {
	o.mu.Lock()
	o.reqs = append(o.reqs, fn)
	o.urgent = true
	o.mu.Unlock()
	o.wake()
}

func (o *ringOwner) wake() {
	var one = [8]byte{1}
	unix.Write(o.evfd, one[:]) // EAGAIN: the counter is full, a wake is pending anyway
}

// stop does the queued work, reads every ring to its end, unmaps them,
// ends the owner goroutine and waits for it. Retire first the rings whose
// retirement must do something.
func (o *ringOwner) stop() {
	o.post(nil) // nil: stop
	<-o.done
}

// drainNow reads every ring to its end, on the owner goroutine, and
// returns once it has: what the rings held has been handed on. After
// stop, which read them all, it returns at once.
func (o *ringOwner) drainNow() {
	done := make(chan struct{})
	o.post(func() {
		o.mu.Lock()
		fds := make([]int32, 0, len(o.rings))
		for fd := range o.rings {
			fds = append(fds, fd)
		}
		o.mu.Unlock()
		for _, fd := range fds {
			// Taken, so that the tracer does not unmap it meanwhile.
			if r := o.take(fd); r != nil {
				o.drain(r)
				o.release(r)
			}
		}
		close(done)
	})
	select {
	case <-done:
	case <-o.done: // stopped: the request may never run
	}
}

// errStop ends the loop.
var errStop = errors.New("stop")

func (o *ringOwner) loop() {
	defer close(o.done)
	events := make([]unix.EpollEvent, 64)
	var due int64 // when the queued work is to be done (CLOCK_MONOTONIC ns), 0: none queued
	for {
		o.mu.Lock()
		young := len(o.young) > 0
		queued := young || len(o.reqs) > 0 || (o.rounds != nil && o.rounds.held())
		urgent := o.urgent
		o.sleeping = !queued
		o.mu.Unlock()
		now := int64(monotonicNow())
		if queued {
			// Work queued since the last round waits for more: Batch ms
			// at most, a young ring youngWait (its task may fill it
			// before it is watched).
			wait := o.batch
			if young {
				wait = o.batch / youngDiv
			}
			if due == 0 || now+wait < due {
				due = now + wait
			}
		}
		wait := -1
		switch {
		case urgent:
			wait = 0
		case queued:
			wait = waitMS(due, now)
		}
		n, err := unix.EpollWait(o.epfd, events, wait)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			o.finish()
			return
		}
		o.wakes.Add(1)
		var start uint64
		if o.rounds != nil {
			start = monotonicNow()
			o.drainAll()
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(o.evfd) {
				var b [8]byte
				unix.Read(o.evfd, b[:])
				continue
			}
			if o.rounds == nil {
				// Edge-triggered: a hung-up fd (its task gone) wakes the
				// owner once, then stays quiet until it is retired.
				if r := o.take(ev.Fd); r != nil {
					o.drain(r)
					o.release(r)
				}
			}
		}
		if urgent || (due != 0 && int64(monotonicNow()) >= due) {
			due = 0
			if o.serve() == errStop {
				o.finish()
				return
			}
		}
		if o.rounds != nil {
			o.rounds.end(start)
		}
		if o.flush != nil {
			o.flush()
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
	case fill == 0 || o.noLinger:
		return
	case fill >= 3.0/4:
		o.linger = 0
	default:
		// The records of a linger filled the fullest ring to fill:
		// scale it to fill half.
		o.linger = min(int64(float64(max(o.linger, lingerMin))/(2*fill)), o.batch)
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

// serve does the queued work: it watches the young rings and runs the
// queued requests; errStop if one asks to stop.
func (o *ringOwner) serve() error {
	o.mu.Lock()
	young, reqs := o.young, o.reqs
	o.young, o.reqs, o.urgent = nil, nil, false
	o.mu.Unlock()
	for _, r := range young {
		o.watch(r)
	}
	stop := false
	for _, fn := range reqs {
		if fn == nil {
			stop = true
			continue
		}
		fn()
	}
	if stop {
		return errStop
	}
	return nil
}

// watch adds r to the epoll set, unless it was retired meanwhile, and
// reads what it holds already.
func (o *ringOwner) watch(r *ownedRing) {
	if o.take(int32(r.fd)) != r {
		return
	}
	defer o.release(r)
	// Edge-triggered: the owner reads a ring to its end at each wake-up,
	// and a hung-up fd, which stays readable, wakes it once, not in a
	// loop. The fd leaves the set by itself when it is closed and its
	// ring unmapped (the mapping holds the file): no EPOLL_CTL_DEL.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(r.fd)}
	if err := unix.EpollCtl(o.epfd, unix.EPOLL_CTL_ADD, r.fd, &ev); err != nil {
		// Not watched: it is read when it is retired.
		r.err = os.NewSyscallError("epoll_ctl", err)
	} else {
		o.watched.Add(1)
	}
	o.drain(r)
}

// take marks the live ring of fd busy, so that retire leaves it to the
// owner, and returns it; nil if there is none.
func (o *ringOwner) take(fd int32) *ownedRing {
	o.mu.Lock()
	defer o.mu.Unlock()
	r := o.rings[fd]
	if r != nil {
		r.busy = true
	}
	return r
}

// release ends a take.
func (o *ringOwner) release(r *ownedRing) {
	o.mu.Lock()
	r.busy = false
	o.mu.Unlock()
}

// drainAll reads every ring: a round. The rings are only unmapped on this
// goroutine, so none goes while it reads them.
func (o *ringOwner) drainAll() {
	o.mu.Lock()
	all := o.all[:0]
	for _, r := range o.rings {
		all = append(all, r)
	}
	o.mu.Unlock()
	for _, r := range all {
		o.drain(r)
	}
	clear(all)
	o.all = all[:0]
}

// monotonicNow is CLOCK_MONOTONIC, the rings' clock, in ns.
func monotonicNow() uint64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// drain reads every record of r up to the kernel's head, in rounds, until
// a round finds none.
func (o *ringOwner) drain(r *ownedRing) {
	n := 0
	if err := r.ring.Drain(func(rec []byte) { n += len(rec); o.handle(r.cookie, rec) }); err != nil {
		r.err = err
	}
	if f := float64(n) / float64(r.ring.Size()); f > o.fill {
		o.fill = f
	}
}

// finish drains and unmaps what is left, and closes the owner's fds.
func (o *ringOwner) finish() {
	o.mu.Lock()
	rings := o.rings
	o.rings = map[int32]*ownedRing{}
	o.young = nil
	o.mu.Unlock()
	for _, r := range rings {
		o.drain(r)
		r.ring.Close()
	}
	if o.rounds != nil {
		o.rounds.end(^uint64(0))
	}
	if o.flush != nil {
		o.flush()
	}
	unix.Close(o.epfd)
	unix.Close(o.evfd)
}
