package profdev

import (
	"encoding/binary"
	"os/exec"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"golang.org/x/sys/unix"
)

// heldChild starts argv stopped right after its exec (PTRACE_TRACEME), so
// that a counter opened now sees all it does; go lets it run. Call it on a
// locked thread: only the thread that started it may let it go.
func heldChild(t *testing.T, argv ...string) (pid int, run func(), wait func()) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &unix.SysProcAttr{Ptrace: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid = cmd.Process.Pid
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || !ws.Stopped() {
		t.Fatalf("child not stopped at its exec: %v %v", ws, err)
	}
	run = func() {
		if err := unix.PtraceDetach(pid); err != nil {
			t.Fatal(err)
		}
	}
	return pid, run, func() { cmd.Wait() }
}

// sampler opens a page-fault event sampling every fault of pid (its tid in
// each sample) and maps its ring.
func sampler(t *testing.T, pid int) (int, *perfevent.Ring) {
	t.Helper()
	attr := unix.PerfEventAttr{
		Type:        unix.PERF_TYPE_SOFTWARE,
		Config:      unix.PERF_COUNT_SW_PAGE_FAULTS,
		Size:        uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
		Sample:      1,
		Sample_type: unix.PERF_SAMPLE_TID,
		Wakeup:      1,
	}
	fd, err := unix.PerfEventOpen(&attr, pid, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		t.Fatalf("perf_event_open: %v", err)
	}
	r, err := perfevent.MapRing(fd, 4)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	return fd, r
}

// ownerTest is a ring owner for tests, over rings of devices that belong
// to no set: it counts the samples it reads, by task, and runs the then
// of a device's retire once the owner served it.
type ownerTest struct {
	*ringOwner
	mu      sync.Mutex
	samples map[int]int // by tid
	then    map[*Dev]func()
}

// newOwnerTest starts a ring owner with a batch of batch (0: Batch ms).
// The samples of a ring must be of its task (tid), or t fails.
func newOwnerTest(t testing.TB, batch time.Duration) *ownerTest {
	t.Helper()
	ot := &ownerTest{samples: map[int]int{}, then: map[*Dev]func(){}}
	o, err := newRingOwner(ownerOptions{
		record: func(d *Dev, rec []byte) {
			if binary.NativeEndian.Uint32(rec) != unix.PERF_RECORD_SAMPLE {
				return
			}
			if got := int(binary.NativeEndian.Uint32(rec[8:])); got != d.task.TID {
				t.Errorf("a sample of %d in the ring of %d", got, d.task.TID)
			}
			ot.mu.Lock()
			ot.samples[d.task.TID]++
			ot.mu.Unlock()
		},
		retired: func(d *Dev) {
			ot.mu.Lock()
			then := ot.then[d]
			delete(ot.then, d)
			ot.mu.Unlock()
			if then != nil {
				then()
			}
		},
		batch: batch,
	})
	if err != nil {
		t.Fatal(err)
	}
	ot.ringOwner = o
	return ot
}

// add gives the owner ring, the ring of fd, for a device of task tid.
func (ot *ownerTest) add(fd int, ring *perfevent.Ring, tid int) *Dev {
	d := &Dev{task: pidtree.Task{TID: tid, TGID: tid}}
	ot.ringOwner.add(d, fd, ring)
	return d
}

// retire retires d; then (if not nil) runs once the owner served it.
func (ot *ownerTest) retire(d *Dev, then func()) {
	ot.mu.Lock()
	ot.then[d] = then
	ot.mu.Unlock()
	ot.ringOwner.retire(d)
}

// count returns the samples read of task tid.
func (ot *ownerTest) count(tid int) int {
	ot.mu.Lock()
	defer ot.mu.Unlock()
	return ot.samples[tid]
}

// TestRingOwner samples the page faults of three processes, each into a
// ring of its own, all read by one owner: every sample is read, those
// read after a task exited too (its ring hangs up and is drained), a
// retire ends its device after the last record, and a hung-up ring does
// not make the owner spin.
func TestRingOwner(t *testing.T) {
	requireRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	o := newOwnerTest(t, 0)
	type child struct {
		pid, fd    int
		dev        *Dev
		run, wait  func()
		faults     uint64
		retiredOK  bool
		retireDone chan struct{}
	}
	var kids []*child
	for range 3 {
		c := &child{retireDone: make(chan struct{})}
		c.pid, c.run, c.wait = heldChild(t, "/bin/sh", "-c", "for i in 1 2 3; do :; done")
		var ring *perfevent.Ring
		c.fd, ring = sampler(t, c.pid)
		c.dev = o.add(c.fd, ring, c.pid)
		kids = append(kids, c)
	}
	for _, c := range kids {
		c.run()
	}
	for _, c := range kids {
		c.wait()
	}
	// The tasks are gone: their rings hang up and are drained.
	time.Sleep(100 * time.Millisecond)
	w := o.wakes.Load()
	time.Sleep(200 * time.Millisecond)
	// A spinning owner wakes thousands of times; a late round on a loaded
	// machine (its rings' hang-ups, a linger's end) a few.
	if again := o.wakes.Load(); again-w > 4 {
		t.Errorf("the owner woke %d times in 200 ms with nothing to read: it spins on a hung-up fd", again-w)
	}
	for _, c := range kids {
		o.retire(c.dev, func() {
			var b [8]byte
			unix.Read(c.fd, b[:])
			c.faults = binary.NativeEndian.Uint64(b[:])
			unix.Close(c.fd)
			c.retiredOK = o.count(c.pid) > 0
			close(c.retireDone)
		})
	}
	for _, c := range kids {
		select {
		case <-c.retireDone:
		case <-time.After(5 * time.Second):
			t.Fatal("the owner did not serve a retire")
		}
	}
	o.stop()
	for _, c := range kids {
		if n := o.count(c.pid); !c.retiredOK || uint64(n) != c.faults {
			t.Errorf("process %d: %d samples read, %d page faults counted", c.pid, n, c.faults)
		}
	}
}

// A ring retired while its task still runs is read to its end first.
func TestRingOwnerRetireLive(t *testing.T) {
	requireRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	o := newOwnerTest(t, 0)
	defer o.stop()
	pid, run, wait := heldChild(t, "/bin/sh", "-c", "for i in 1 2 3; do :; done; sleep 2")
	fd, ring := sampler(t, pid)
	d := o.add(fd, ring, pid)
	run()
	defer func() { unix.Kill(pid, unix.SIGKILL); wait() }()
	time.Sleep(100 * time.Millisecond) // faults of sh and of sleep's start
	retireAndCheck(t, o, d, fd, true)
}

// retireAndCheck retires d, whose ring is that of fd (a sampler),
// disabling its event first if disable, and checks, once the owner served
// the retire, that it read as many samples of d's task as the event
// counted page faults.
func retireAndCheck(t *testing.T, o *ownerTest, d *Dev, fd int, disable bool) {
	t.Helper()
	got := make(chan [2]uint64, 1)
	o.retire(d, func() {
		if disable {
			unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_DISABLE, 0)
		}
		var b [8]byte
		unix.Read(fd, b[:])
		unix.Close(fd)
		got <- [2]uint64{uint64(o.count(d.task.TID)), binary.NativeEndian.Uint64(b[:])}
	})
	r := <-got
	if r[0] == 0 || r[0] != r[1] {
		t.Errorf("%d samples read of %d page faults", r[0], r[1])
	}
}

// BenchmarkRingOwnerAddRetire is what a ring adds to a task's birth and
// end on the tracer's side: add and retire, two queued requests, and the
// unmap of the rings the owner handed back. With no other ring, every
// add is the owner's first, which it serves at once; beside a live ring
// (a workload's first task), the adds and retires wait for the owner's
// rounds.
func BenchmarkRingOwnerAddRetire(b *testing.B) {
	benchmarkAddRetire(b, false)
}

func BenchmarkRingOwnerAddRetireBeside(b *testing.B) {
	benchmarkAddRetire(b, true)
}

func benchmarkAddRetire(b *testing.B, beside bool) {
	if unix.Geteuid() != 0 {
		b.Skip("needs root")
	}
	o := newOwnerTest(b, 0)
	defer o.stop()
	if beside {
		fd, d := dummyRing(b, o)
		defer o.retire(d, func() { unix.Close(fd) })
	}
	add := func(d *Dev, fd int, r *perfevent.Ring) { o.ringOwner.add(d, fd, r) }
	retire := func(d *Dev, fd int) { o.ringOwner.retire(d) }
	benchRings(b, add, retire, o.drain)
}

// benchRings times add and retire of b.N rings, in batches whose rings
// are opened and mapped (and, after drain, closed) with the timer
// stopped. cpu-µs/op is the process's CPU in all (the caller's and the
// owner's threads, the untimed open, map and close of each ring too).
func benchRings(b *testing.B, add func(*Dev, int, *perfevent.Ring), retire func(*Dev, int), drain func()) {
	attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_DUMMY,
		Size: uint32(unsafe.Sizeof(unix.PerfEventAttr{}))}
	const batch = 256
	type ring struct {
		fd int
		r  *perfevent.Ring
		d  *Dev
	}
	rings := make([]ring, 0, batch)
	closeFDs := func() {
		// After a drain: the owner served the retires.
		drain()
		for _, r := range rings {
			unix.Close(r.fd)
		}
		rings = rings[:0]
	}
	var before, after unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &before)
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		b.StopTimer()
		closeFDs()
		for range min(batch, b.N-i) {
			fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
			if err != nil {
				b.Fatal(err)
			}
			r, err := perfevent.MapRing(fd, 0)
			if err != nil {
				b.Fatal(err)
			}
			rings = append(rings, ring{fd, r, &Dev{}})
		}
		b.StartTimer()
		for _, r := range rings {
			add(r.d, r.fd, r.r)
			retire(r.d, r.fd)
		}
	}
	b.StopTimer()
	closeFDs()
	unix.Getrusage(unix.RUSAGE_SELF, &after)
	cpu := after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano()
	b.ReportMetric(float64(cpu)/1e3/float64(max(b.N, 1)), "cpu-µs/op")
}

// TestRingOwnerShortLived: a task born and gone within one round of the
// owner never enters the epoll set, and its samples are all read, when
// it is retired: a retire of a ring never read loses no record. Then the
// owner sleeps.
func TestRingOwnerShortLived(t *testing.T) {
	requireRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// The round surely comes after the retirement.
	o := newOwnerTest(t, time.Second)
	defer o.stop()
	// The owner's first ring is watched at once; the child's is not the
	// first.
	first, firstDev := dummyRing(t, o)
	waitWatched(t, o, 1)
	defer o.retire(firstDev, func() { unix.Close(first) })
	pid, run, wait := heldChild(t, "/bin/true")
	fd, ring := sampler(t, pid)
	d := o.add(fd, ring, pid)
	run()
	wait()
	retireAndCheck(t, o, d, fd, false)
	if w := o.watched.Load(); w != 1 {
		t.Errorf("%d rings put in the epoll set, want 1 (the first): the task was gone by the owner's round", w)
	}
	w := o.wakes.Load()
	time.Sleep(100 * time.Millisecond)
	if again := o.wakes.Load(); again-w > 4 {
		t.Errorf("the owner woke %d times in 100 ms with nothing to do: it polls", again-w)
	}
}

// dummyRing opens a dummy event on the calling thread, maps its ring and
// adds it to o; it returns the event's fd and its device.
func dummyRing(t testing.TB, o *ownerTest) (int, *Dev) {
	t.Helper()
	attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_DUMMY,
		Size: uint32(unsafe.Sizeof(unix.PerfEventAttr{}))}
	fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	r, err := perfevent.MapRing(fd, 0)
	if err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	return fd, o.add(fd, r, 0)
}

// waitWatched waits up to a second for o to have put n rings in its epoll
// set.
func waitWatched(t *testing.T, o *ownerTest, n int64) {
	t.Helper()
	for deadline := time.Now().Add(time.Second); o.watched.Load() < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d rings watched after 1 s, want %d", o.watched.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRingOwnerFirstRing: the owner's first ring is watched at once, not
// at the round a second later; the next one waits for the round.
func TestRingOwnerFirstRing(t *testing.T) {
	requireRoot(t)
	o := newOwnerTest(t, time.Second)
	defer o.stop()
	a, aDev := dummyRing(t, o)
	defer o.retire(aDev, func() { unix.Close(a) })
	start := time.Now()
	waitWatched(t, o, 1)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("the first ring was watched after %v, want at once", d)
	}
	b, bDev := dummyRing(t, o)
	defer o.retire(bDev, func() { unix.Close(b) })
	time.Sleep(50 * time.Millisecond) // a young ring waits 100 ms with a Batch of 1 s
	if w := o.watched.Load(); w != 1 {
		t.Errorf("%d rings watched 50 ms after the second was added, want 1: it waits for the round", w)
	}
}

// TestWaitMS: the owner's wait for queued work is rounded up to whole ms,
// and is 0, not forever, once the work is overdue (a linger can pass it).
func TestWaitMS(t *testing.T) {
	for _, c := range []struct {
		due, now int64
		want     int
	}{
		{10e6, 0, 10},
		{10e6, 1, 10},
		{10e6 + 1, 0, 11},
		{5, 5, 0},
		{5, 2e6, 0}, // overdue by 2 ms: at once
		{5, 5e9, 0},
	} {
		if got := waitMS(c.due, c.now); got != c.want {
			t.Errorf("waitMS(%d, %d) = %d, want %d", c.due, c.now, got, c.want)
		}
	}
}

// TestRingOwnerDrain: a drain request drains every ring and is answered
// once it has: all the samples of a task that ran to its end are read,
// without waiting for a round.
func TestRingOwnerDrain(t *testing.T) {
	requireRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	o := newOwnerTest(t, time.Minute) // no round comes during the test
	first, firstDev := dummyRing(t, o)
	waitWatched(t, o, 1)
	defer o.retire(firstDev, func() { unix.Close(first) })
	pid, run, wait := heldChild(t, "/bin/true")
	fd, ring := sampler(t, pid)
	d := o.add(fd, ring, pid)
	defer o.retire(d, func() { unix.Close(fd) })
	run()
	wait()
	o.drain()
	var b [8]byte
	unix.Read(fd, b[:])
	if got, faults := uint64(o.count(pid)), binary.NativeEndian.Uint64(b[:]); got == 0 || got != faults {
		t.Errorf("%d samples read of %d page faults", got, faults)
	}
	o.stop()
	o.drain() // returns: the owner drained every ring as it stopped
}

// TestRingOwnerStopAfterRetire: a stop sent right after a retire, long
// before the retire's round, serves it first: the ring is drained to its
// end, and its device ended, before stop returns.
func TestRingOwnerStopAfterRetire(t *testing.T) {
	requireRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	o := newOwnerTest(t, time.Minute)
	first, firstDev := dummyRing(t, o)
	waitWatched(t, o, 1)
	pid, run, wait := heldChild(t, "/bin/true")
	fd, ring := sampler(t, pid)
	d := o.add(fd, ring, pid)
	run()
	wait()
	var faults uint64
	ended := false
	o.retire(d, func() {
		var b [8]byte
		unix.Read(fd, b[:])
		unix.Close(fd)
		faults, ended = binary.NativeEndian.Uint64(b[:]), true
	})
	o.retire(firstDev, func() { unix.Close(first) })
	o.stop()
	// faults and ended are the owner's; stop returned after it wrote them.
	if got := uint64(o.count(pid)); !ended || got == 0 || got != faults {
		t.Errorf("after stop: ended %v, %d samples read of %d page faults", ended, got, faults)
	}
	if w := o.watched.Load(); w != 1 {
		t.Errorf("%d rings watched, want 1: a ring retired in the round that adds it is not watched", w)
	}
}

// TestRingOwnerHandsBack: the owner never unmaps a ring. It drains a
// retired ring and ends its device, and hands the ring back; the next
// retire unmaps it on its caller's goroutine, and stop the last ones.
func TestRingOwnerHandsBack(t *testing.T) {
	requireRoot(t)
	o := newOwnerTest(t, time.Minute)
	a, aDev := dummyRing(t, o)
	b, bDev := dummyRing(t, o)
	size := int64(aDev.ring.ring.Size())
	if got := o.bytes.Load(); got != 2*size {
		t.Fatalf("%d bytes mapped after two adds, want %d", got, 2*size)
	}
	ended := make(chan struct{})
	o.retire(aDev, func() { unix.Close(a); close(ended) })
	o.drain() // serves the retire
	<-ended
	if got := o.bytes.Load(); got != 2*size {
		t.Errorf("%d bytes mapped once a's retire was served, want %d: the owner unmapped it", got, 2*size)
	}
	o.retire(bDev, func() { unix.Close(b) })
	if got := o.bytes.Load(); got != size {
		t.Errorf("%d bytes mapped after the next retire returned, want %d: it did not unmap a", got, size)
	}
	o.stop()
	if got := o.bytes.Load(); got != 0 || o.peak.Load() != 2*size {
		t.Errorf("after stop: %d bytes mapped (want 0), peak %d (want %d)", got, o.peak.Load(), 2*size)
	}
}
