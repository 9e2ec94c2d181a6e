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

// TestRingOwner samples the page faults of three processes, each into a
// ring of its own, all read by one owner: every sample is read, those
// read after a task exited too (its ring hangs up and is drained), retire
// runs its then after the last record, and a hung-up ring does not make
// the owner spin.
func TestRingOwner(t *testing.T) {
	requireRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var mu sync.Mutex
	samples := map[int]int{} // by pid: the cookie
	o, err := newRingOwner(func(cookie any, rec []byte) {
		if binary.NativeEndian.Uint32(rec) != unix.PERF_RECORD_SAMPLE {
			return
		}
		pid := cookie.(int)
		if got := int(binary.NativeEndian.Uint32(rec[8:])); got != pid {
			t.Errorf("a sample of %d in the ring of %d", got, pid)
		}
		mu.Lock()
		samples[pid]++
		mu.Unlock()
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	type child struct {
		pid, fd    int
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
		o.add(c.fd, ring, c.pid)
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
		c := c
		o.retire(c.fd, func() {
			var b [8]byte
			unix.Read(c.fd, b[:])
			c.faults = binary.NativeEndian.Uint64(b[:])
			unix.Close(c.fd)
			mu.Lock()
			c.retiredOK = samples[c.pid] > 0
			mu.Unlock()
			close(c.retireDone)
		})
	}
	for _, c := range kids {
		select {
		case <-c.retireDone:
		case <-time.After(5 * time.Second):
			t.Fatal("retire did not run its then")
		}
	}
	o.stop()
	for _, c := range kids {
		if !c.retiredOK || uint64(samples[c.pid]) != c.faults {
			t.Errorf("process %d: %d samples read, %d page faults counted", c.pid, samples[c.pid], c.faults)
		}
	}
}

// sampleCounter returns a ring owner that counts the samples it reads, and
// the count (to be read on the owner goroutine: in a retire's then).
func sampleCounter(t *testing.T) (*ringOwner, *int) {
	n := new(int)
	o, err := newRingOwner(func(_ any, rec []byte) {
		if binary.NativeEndian.Uint32(rec) == unix.PERF_RECORD_SAMPLE {
			*n++
		}
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return o, n
}

// A ring retired while its task still runs is read to its end first.
func TestRingOwnerRetireLive(t *testing.T) {
	requireRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	o, n := sampleCounter(t)
	defer o.stop()
	pid, run, wait := heldChild(t, "/bin/sh", "-c", "for i in 1 2 3; do :; done; sleep 2")
	fd, ring := sampler(t, pid)
	o.add(fd, ring, pid)
	run()
	defer func() { unix.Kill(pid, unix.SIGKILL); wait() }()
	time.Sleep(100 * time.Millisecond) // faults of sh and of sleep's start
	retireAndCheck(t, o, fd, n, true)
}

// retireAndCheck retires the ring of fd (a sampler), disabling its event
// first if disable, and checks, once the owner read it to its end, that
// it read as many samples (*n, the owner's count) as the event counted
// page faults.
func retireAndCheck(t *testing.T, o *ringOwner, fd int, n *int, disable bool) {
	t.Helper()
	got := make(chan [2]uint64, 1)
	o.retire(fd, func() {
		if disable {
			unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_DISABLE, 0)
		}
		var b [8]byte
		unix.Read(fd, b[:])
		unix.Close(fd)
		got <- [2]uint64{uint64(*n), binary.NativeEndian.Uint64(b[:])}
	})
	r := <-got
	if r[0] == 0 || r[0] != r[1] {
		t.Errorf("%d samples read of %d page faults", r[0], r[1])
	}
}

// BenchmarkRingOwnerAddRetire is what a ring adds to a task's birth and
// end on the tracer's side: add and retire, two queued requests.
func BenchmarkRingOwnerAddRetire(b *testing.B) {
	if unix.Geteuid() != 0 {
		b.Skip("needs root")
	}
	o, err := newRingOwner(func(any, []byte) {}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer o.stop()
	attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_SOFTWARE, Config: unix.PERF_COUNT_SW_DUMMY,
		Size: uint32(unsafe.Sizeof(unix.PerfEventAttr{}))}
	n := 0
	for b.Loop() {
		b.StopTimer()
		fd, err := unix.PerfEventOpen(&attr, 0, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			b.Fatal(err)
		}
		r, err := perfevent.MapRing(fd, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		o.add(fd, r, nil)
		o.retire(fd, func() { unix.Close(fd) })
		if n++; n%1024 == 0 {
			// The owner closes the fds in its rounds: let it catch up,
			// or they pile up past RLIMIT_NOFILE.
			b.StopTimer()
			done := make(chan struct{})
			o.post(func() { close(done) })
			<-done
			b.StartTimer()
		}
	}
}

// TestRingOwnerShortLived: a task born and gone within one round of the
// owner never enters the epoll set, and its samples are all read, when
// it is retired; then the owner sleeps.
func TestRingOwnerShortLived(t *testing.T) {
	requireRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	o, n := sampleCounter(t)
	defer o.stop()
	o.batch = int64(time.Second) // the round surely comes after the retirement
	// The owner's first ring is watched at once; the child's is not the
	// first.
	first := dummyRing(t, o)
	waitWatched(t, o, 1)
	defer o.retire(first, func() { unix.Close(first) })
	pid, run, wait := heldChild(t, "/bin/true")
	fd, ring := sampler(t, pid)
	o.add(fd, ring, pid)
	run()
	wait()
	retireAndCheck(t, o, fd, n, false)
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
// adds it to o; it returns the event's fd.
func dummyRing(t *testing.T, o *ringOwner) int {
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
	o.add(fd, r, nil)
	return fd
}

// waitWatched waits up to a second for o to have put n rings in its epoll
// set.
func waitWatched(t *testing.T, o *ringOwner, n int64) {
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
	o, _ := sampleCounter(t)
	defer o.stop()
	o.batch = int64(time.Second)
	a := dummyRing(t, o)
	defer o.retire(a, func() { unix.Close(a) })
	start := time.Now()
	waitWatched(t, o, 1)
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("the first ring was watched after %v, want at once", d)
	}
	b := dummyRing(t, o)
	defer o.retire(b, func() { unix.Close(b) })
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

// TestRingOwnerDrainNow: drainNow reads every ring and returns once it
// has: all the samples of a task that ran to its end are read, without
// waiting for a round.
func TestRingOwnerDrainNow(t *testing.T) {
	requireRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	o, n := sampleCounter(t)
	o.batch = int64(time.Minute) // no round comes during the test
	first := dummyRing(t, o)
	waitWatched(t, o, 1)
	defer o.retire(first, func() { unix.Close(first) })
	pid, run, wait := heldChild(t, "/bin/true")
	fd, ring := sampler(t, pid)
	defer o.retire(fd, func() { unix.Close(fd) })
	o.add(fd, ring, pid)
	run()
	wait()
	o.drainNow()
	var b [8]byte
	unix.Read(fd, b[:])
	// *n is the owner goroutine's; drainNow returned after it wrote it.
	if got, faults := uint64(*n), binary.NativeEndian.Uint64(b[:]); got == 0 || got != faults {
		t.Errorf("%d samples read of %d page faults", got, faults)
	}
	o.stop()
	o.drainNow() // returns: the owner read every ring as it stopped
}
