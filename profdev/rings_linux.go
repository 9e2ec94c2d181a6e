package profdev

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"

	"github.com/perfprof/perfprof/perfevent"
	"golang.org/x/sys/unix"
)

// ringOwner reads the rings of every followed task on one goroutine: one
// epoll for all of them, and an eventfd that wakes it for requests. It
// never polls on a timer: with no records to read, it costs no CPU.
//
// The tracer's goroutine adds a ring when a task is born (add) and retires
// it when the task is gone or let go (retire); both are cheap there. The
// owner drains a ring whenever the kernel wakes it, drains it completely
// when its task exits (its fd polls EPOLLHUP, and then leaves the epoll set,
// so that a hung-up fd never makes the loop spin), and, once retired,
// unmaps it and runs what the retirement asked for (closing the task's
// counters, for instance) only after its last record was read: no record
// is lost to the unmap.
type ringOwner struct {
	epfd, evfd int
	handle     func(cookie any, rec []byte) // on the owner goroutine

	// With rounds set, every wake-up is a round: the owner reads every
	// ring, not only those that woke it, then calls rounds.end with the
	// round's start (CLOCK_MONOTONIC ns); while rounds.held, a round also
	// comes at least every rounds.every ms. rounds.end(^uint64(0)) ends
	// the last round, when the owner stops.
	rounds *roundHooks
	all    []*ownedRing // the rings of a round (owner goroutine)

	mu    sync.Mutex
	rings map[int32]*ownedRing // by fd
	reqs  []func()             // for the owner goroutine

	wakes atomic.Int64 // epoll_wait returns, for tests
	done  chan struct{}
}

// roundHooks are what a ring owner that reads in rounds calls.
type roundHooks struct {
	end   func(start uint64)
	held  func() bool
	every int // ms
}

// ownedRing is a ring and what it belongs to.
type ownedRing struct {
	fd     int
	ring   *perfevent.Ring
	cookie any
	hup    bool // its fd hung up and left the epoll set
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
	o := &ringOwner{epfd: epfd, evfd: evfd, handle: handle, rounds: rounds, rings: map[int32]*ownedRing{}, done: make(chan struct{})}
	go o.loop()
	return o, nil
}

// add starts reading ring, the ring of perf event fd, for cookie.
func (o *ringOwner) add(fd int, ring *perfevent.Ring, cookie any) error {
	o.mu.Lock()
	o.rings[int32(fd)] = &ownedRing{fd: fd, ring: ring, cookie: cookie}
	o.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(o.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		o.mu.Lock()
		delete(o.rings, int32(fd))
		o.mu.Unlock()
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// retire ends the ring of fd: the owner reads what is left in it, takes it
// out of the epoll set, unmaps it and then runs then (if not nil), on the
// owner goroutine. It returns at once.
func (o *ringOwner) retire(fd int, then func()) {
	o.post(func() {
		o.mu.Lock()
		r := o.rings[int32(fd)]
		delete(o.rings, int32(fd))
		o.mu.Unlock()
		if r != nil {
			o.drain(r)
			if !r.hup {
				unix.EpollCtl(o.epfd, unix.EPOLL_CTL_DEL, r.fd, nil)
			}
			r.ring.Close()
		}
		if then != nil {
			then()
		}
	})
}

// post queues fn for the owner goroutine and wakes it.
func (o *ringOwner) post(fn func()) {
	o.mu.Lock()
	o.reqs = append(o.reqs, fn)
	o.mu.Unlock()
	var one = [8]byte{1}
	unix.Write(o.evfd, one[:]) // EAGAIN: the counter is full, a wake is pending anyway
}

// stop reads every ring to its end, unmaps them, ends the owner goroutine
// and waits for it. Retire first the rings whose retirement must do
// something.
func (o *ringOwner) stop() {
	o.post(nil) // nil: stop
	<-o.done
}

// errStop ends the loop.
var errStop = errors.New("stop")

func (o *ringOwner) loop() {
	defer close(o.done)
	events := make([]unix.EpollEvent, 64)
	for {
		wait := -1
		if o.rounds != nil && o.rounds.held() {
			wait = o.rounds.every
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
				if o.serve() == errStop {
					o.finish()
					return
				}
				continue
			}
			o.mu.Lock()
			r := o.rings[ev.Fd]
			o.mu.Unlock()
			if r == nil {
				continue // retired meanwhile
			}
			if o.rounds == nil {
				o.drain(r)
			}
			if ev.Events&(unix.EPOLLHUP|unix.EPOLLERR) != 0 && !r.hup {
				// Its task is gone: nothing more will come. A hung-up fd
				// stays readable: out of the set, or the loop would spin.
				r.hup = true
				unix.EpollCtl(o.epfd, unix.EPOLL_CTL_DEL, r.fd, nil)
			}
		}
		if o.rounds != nil {
			o.rounds.end(start)
		}
	}
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

// serve runs the queued requests; errStop if one asks to stop.
func (o *ringOwner) serve() error {
	var b [8]byte
	unix.Read(o.evfd, b[:])
	o.mu.Lock()
	reqs := o.reqs
	o.reqs = nil
	o.mu.Unlock()
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

// drain reads every record of r up to the kernel's head, in rounds, until
// a round finds none.
func (o *ringOwner) drain(r *ownedRing) {
	if err := r.ring.Drain(func(rec []byte) { o.handle(r.cookie, rec) }); err != nil {
		r.err = err
	}
}

// finish drains and unmaps what is left, and closes the owner's fds.
func (o *ringOwner) finish() {
	o.mu.Lock()
	rings := o.rings
	o.rings = map[int32]*ownedRing{}
	o.mu.Unlock()
	for _, r := range rings {
		o.drain(r)
		r.ring.Close()
	}
	if o.rounds != nil {
		o.rounds.end(^uint64(0))
	}
	unix.Close(o.epfd)
	unix.Close(o.evfd)
}
