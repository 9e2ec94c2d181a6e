package perfevent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"sync/atomic"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fakeRing is a buffer laid out as a perf mapping, written as the kernel
// would: records at the head, the head published after them.
type fakeRing struct {
	mem  []byte
	data []byte
	head uint64
	rec  []byte
}

// metaPage is the size of the fake metadata page.
const metaPage = 4096

// newFakeRing makes a fake mapping whose data area is size bytes (a power
// of two, as small as the test wants).
func newFakeRing(size int) *fakeRing {
	mem := make([]byte, metaPage+size)
	binary.NativeEndian.PutUint64(mem[pageDataOffset:], metaPage)
	binary.NativeEndian.PutUint64(mem[pageDataSize:], uint64(size))
	return &fakeRing{mem: mem, data: mem[metaPage:]}
}

// write appends a record of type typ whose payload is payload (a multiple
// of 8 bytes) and publishes it.
func (f *fakeRing) write(typ uint32, payload []byte) {
	rec := append(f.rec[:0], make([]byte, recordHeaderSize)...)
	rec = append(rec, payload...)
	f.rec = rec
	binary.NativeEndian.PutUint32(rec, typ)
	binary.NativeEndian.PutUint16(rec[6:], uint16(len(rec)))
	copy(rec[recordHeaderSize:], payload)
	mask := uint64(len(f.data) - 1)
	for i, b := range rec {
		f.data[(f.head+uint64(i))&mask] = b
	}
	f.head += uint64(len(rec))
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&f.mem[pageDataHead])), f.head)
}

func (f *fakeRing) tail() uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(&f.mem[pageDataTail])))
}

// payload makes a recognisable payload of n bytes (n a multiple of 8).
func payload(seq, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(seq + i)
	}
	return p
}

// TestRingWrap reads records of many sizes through a small ring, many
// times round: each comes out whole and in order, those that straddle the
// end of the data area too, and the tail frees exactly what was read.
func TestRingWrap(t *testing.T) {
	f := newFakeRing(512) // small: the ring wraps often
	r := newRing(f.mem, metaPage)
	if r.Size() != 512 {
		t.Fatalf("data area %d bytes, want 512", r.Size())
	}
	wrapped, seq := 0, 0
	for round := 0; round < 200; round++ {
		// The writer fills what the reader freed, records of 8 to 200 bytes.
		var want [][]byte
		for {
			n := 8 * (1 + (seq*7)%25)
			if f.head+uint64(recordHeaderSize+n)-f.tail() > uint64(r.Size()) {
				break
			}
			if (f.head&uint64(r.Size()-1))+uint64(recordHeaderSize+n) > uint64(r.Size()) {
				wrapped++
			}
			p := payload(seq, n)
			f.write(uint32(seq%100+1), p)
			want = append(want, p)
			seq++
		}
		if !r.Begin() {
			t.Fatalf("round %d: no records after %d were written", round, len(want))
		}
		for i, p := range want {
			rec, err := r.Next()
			if err != nil || rec == nil {
				t.Fatalf("round %d record %d: %v, %v", round, i, rec, err)
			}
			if !bytes.Equal(rec[recordHeaderSize:], p) || int(binary.NativeEndian.Uint16(rec[6:])) != len(rec) {
				t.Fatalf("round %d record %d: got % x, want payload % x", round, i, rec, p)
			}
		}
		if rec, err := r.Next(); rec != nil || err != nil || r.Pending() != 0 {
			t.Fatalf("round %d: more than was written: %v, %v", round, rec, err)
		}
		r.End()
		if f.tail() != f.head {
			t.Fatalf("round %d: tail %d, head %d: the space read is not freed", round, f.tail(), f.head)
		}
	}
	if wrapped < 50 {
		t.Errorf("only %d records straddled the end: the test does not test wrapping", wrapped)
	}
}

// A record whose size makes no sense ends the round: the ring is reset to
// the head, not read out of bounds.
func TestRingCorrupt(t *testing.T) {
	f := newFakeRing(256)
	r := newRing(f.mem, metaPage)
	f.write(9, payload(0, 16))
	// A header claiming more than was written.
	bad := make([]byte, recordHeaderSize)
	binary.NativeEndian.PutUint16(bad[6:], 200)
	copy(f.data[f.head:], bad)
	f.head += 8
	atomic.StoreUint64((*uint64)(unsafe.Pointer(&f.mem[pageDataHead])), f.head)
	r.Begin()
	if rec, err := r.Next(); err != nil || len(rec) != 24 {
		t.Fatalf("first record: %v, %v", rec, err)
	}
	if rec, err := r.Next(); !errors.Is(err, ErrRingCorrupt) || rec != nil {
		t.Fatalf("corrupt record: %v, %v; want ErrRingCorrupt", rec, err)
	}
	r.End()
	if f.tail() != f.head {
		t.Errorf("tail %d after a corrupt record, want the head %d", f.tail(), f.head)
	}
}

// TestRingReal samples the page faults of a real process and reads them
// from its ring: one sample per fault, each naming the process.
func TestRingReal(t *testing.T) {
	requires(t, root, swPMU)
	// The child stops after its exec (PTRACE_TRACEME), and only the thread
	// that started it may let it go.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &unix.SysProcAttr{Ptrace: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil || !ws.Stopped() {
		t.Fatalf("child not stopped at its exec: %v %v", ws, err)
	}
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
	defer unix.Close(fd)
	r, err := MapRing(fd, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Let the child run.
	if err := unix.PtraceDetach(pid); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	var count uint64
	if err := unix.IoctlSetInt(fd, unix.PERF_EVENT_IOC_DISABLE, 0); err != nil {
		t.Fatal(err)
	}
	var buf [8]byte
	unix.Read(fd, buf[:])
	count = binary.NativeEndian.Uint64(buf[:])
	samples := 0
	err = r.Drain(func(rec []byte) {
		if typ := binary.NativeEndian.Uint32(rec); typ == unix.PERF_RECORD_SAMPLE {
			samples++
			if got := binary.NativeEndian.Uint32(rec[8:]); int(got) != pid {
				t.Errorf("sample of pid %d, want %d", got, pid)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if samples == 0 || uint64(samples) != count {
		t.Errorf("%d samples for %d page faults counted", samples, count)
	}
	t.Logf("%d page faults, %d samples, ring of %d bytes", count, samples, r.Size())
}

// BenchmarkRingNext is the reader's cost per record, 1 in 16 wrapping.
func BenchmarkRingNext(b *testing.B) {
	f := newFakeRing(os.Getpagesize())
	r := newRing(f.mem, metaPage)
	p := payload(0, 40) // a sample of TID|TIME|CPU|PERIOD|IP: 48 bytes
	b.ReportAllocs()
	for b.Loop() {
		if f.head-f.tail() >= uint64(r.Size()-48) {
			r.End()
		}
		f.write(9, p)
		r.Begin()
		if rec, _ := r.Next(); rec == nil {
			b.Fatal("no record")
		}
	}
}
