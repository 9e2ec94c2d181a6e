package perfevent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Ring is the ring buffer of one perf event, mmapped: the kernel writes
// records at data_head, and the reader reads them up to there and frees
// their space by moving data_tail. A Ring belongs to one goroutine.
//
// Reading goes in rounds: Begin takes the kernel's head (a load-acquire:
// the records before it are complete), Next returns the records one by
// one, and End hands the space back (a store-release of the tail: the
// kernel may overwrite the records only after the reader is done with
// them). A record that wraps the end of the data area is copied out into
// a buffer the Ring keeps, so Next always returns one contiguous record,
// valid until the next call.
//
// A Ring does not own its event's fd; Close unmaps it.
type Ring struct {
	mem        []byte // the mapping: the metadata page, then the data area
	data       []byte // the data area: a power of two pages
	mask       uint64 // len(data) - 1
	head, tail uint64 // this round: the kernel's head, and the next record
	buf        []byte // a record that wraps, copied out
}

// Offsets in struct perf_event_mmap_page (include/uapi/linux/perf_event.h).
const (
	pageDataHead   = 1024
	pageDataTail   = 1032
	pageDataOffset = 1040
	pageDataSize   = 1048
)

// recordHeaderSize is sizeof(struct perf_event_header): type u32, misc
// u16, size u16.
const recordHeaderSize = 8

// ErrRingCorrupt says a record header in a ring makes no sense (a size
// below the header's, or past the head): the ring was reset, its records
// up to the head dropped.
var ErrRingCorrupt = errors.New("perf ring: corrupt record header")

// MapRing maps the ring buffer of perf event fd with 2^order data pages
// (the kernel requires a power of two), writable so that the reader can
// move the tail. The pages are pinned memory, charged to
// kernel.perf_event_mlock_kb per user and beyond it to RLIMIT_MEMLOCK
// (EPERM when both are spent, unless CAP_IPC_LOCK).
func MapRing(fd, order int) (*Ring, error) {
	if order < 0 || order > 20 {
		return nil, fmt.Errorf("perf ring: %d is not an order of pages (0 to 20)", order)
	}
	page := os.Getpagesize()
	mem, err := unix.Mmap(fd, 0, (1+1<<order)*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		if err == unix.EPERM || err == unix.ENOMEM {
			return nil, newRingError(1<<order, page, err)
		}
		return nil, os.NewSyscallError("mmap", err)
	}
	return newRing(mem, page), nil
}

// RingError says that a ring could not be mapped because the pinned
// memory it needs is refused, and gives the limits in force when it was.
type RingError struct {
	Pages    int   // data pages asked for
	PageSize int   // bytes
	MlockKB  int   // kernel.perf_event_mlock_kb, per CPU (-1: unknown)
	CPUs     int   // online CPUs: the sysctl's limit is per user, times these
	Memlock  int64 // RLIMIT_MEMLOCK, bytes (-1: unlimited)
	PinnedKB int64 // the process's pinned memory then (VmPin), KiB (-1: unknown)
	Err      error // EPERM: both limits spent; ENOMEM
}

func newRingError(pages, page int, err error) *RingError {
	e := &RingError{Pages: pages, PageSize: page, MlockKB: -1, CPUs: runtimeCPUs(), Memlock: -1, PinnedKB: -1, Err: err}
	if v, ok := readIntFile("/proc/sys/kernel/perf_event_mlock_kb"); ok {
		e.MlockKB = v
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim) == nil && lim.Cur != unix.RLIM_INFINITY {
		e.Memlock = int64(lim.Cur)
	}
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmPin:"); ok {
				v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
				if n, err := strconv.ParseInt(v, 10, 64); err == nil {
					e.PinnedKB = n
				}
			}
		}
	}
	return e
}

// Error names the numbers and the ways out, on one line.
func (e *RingError) Error() string {
	kb := func(n int64) string { return strconv.FormatInt(n, 10) + " KiB" }
	ring := int64(1+e.Pages) * int64(e.PageSize) / 1024
	var b strings.Builder
	fmt.Fprintf(&b, "cannot map a %d-page ring (%s, -m %d): mmap: %v", 1+e.Pages, kb(ring), e.Pages, e.Err)
	if e.Err == unix.EPERM {
		b.WriteString("; the pinned memory for rings is spent: kernel.perf_event_mlock_kb ")
		if e.MlockKB >= 0 {
			fmt.Fprintf(&b, "%s × %d CPUs per user", kb(int64(e.MlockKB)), e.CPUs)
		} else {
			b.WriteString("(unreadable)")
		}
		b.WriteString(", then RLIMIT_MEMLOCK ")
		if e.Memlock >= 0 {
			b.WriteString(kb(e.Memlock / 1024))
		} else {
			b.WriteString("unlimited")
		}
		if e.PinnedKB >= 0 {
			fmt.Fprintf(&b, " (%s pinned already)", kb(e.PinnedKB))
		}
		b.WriteString("; use a smaller -m, raise 'ulimit -l', or raise kernel.perf_event_mlock_kb (sysctl -w)")
	}
	return b.String()
}

func (e *RingError) Unwrap() error { return e.Err }

// runtimeCPUs is the number of online CPUs, as the kernel multiplies
// perf_event_mlock_kb by.
func runtimeCPUs() int {
	if b, err := os.ReadFile("/sys/devices/system/cpu/online"); err == nil {
		n := 0
		for _, r := range strings.Split(strings.TrimSpace(string(b)), ",") {
			lo, hi, ok := strings.Cut(r, "-")
			a, err1 := strconv.Atoi(lo)
			z := a
			var err2 error
			if ok {
				z, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil || z < a {
				return runtime.NumCPU()
			}
			n += z - a + 1
		}
		if n > 0 {
			return n
		}
	}
	return runtime.NumCPU()
}

// readIntFile reads a file holding one integer, as /proc/sys files do.
func readIntFile(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return v, err == nil
}

// newRing makes a Ring of a mapping (or, in tests, of any buffer laid out
// the same way).
func newRing(mem []byte, page int) *Ring {
	off := binary.NativeEndian.Uint64(mem[pageDataOffset:])
	size := binary.NativeEndian.Uint64(mem[pageDataSize:])
	if off == 0 || size == 0 || off+size > uint64(len(mem)) {
		// Kernels before 4.1 leave them 0: the data follows the page.
		off, size = uint64(page), uint64(len(mem)-page)
	}
	r := &Ring{mem: mem, data: mem[off : off+size], mask: size - 1}
	r.tail = r.loadTail()
	r.head = r.tail
	return r
}

func (r *Ring) loadTail() uint64 { return atomic.LoadUint64(r.tailPtr()) }

// Size returns the size of the data area in bytes.
func (r *Ring) Size() int { return len(r.data) }

// Begin starts a round: it takes the kernel's head and reports whether
// there are records to read.
func (r *Ring) Begin() bool {
	r.head = atomic.LoadUint64(r.headPtr())
	return r.head != r.tail
}

// Next returns the next record of the round, header included, or nil at
// the end of the round. The bytes are valid until the next call to Next
// or End. A corrupt header ends the round with ErrRingCorrupt: the
// records up to the head are dropped.
func (r *Ring) Next() ([]byte, error) {
	if r.head-r.tail < recordHeaderSize {
		return nil, nil
	}
	start := r.tail & r.mask
	var hdr [recordHeaderSize]byte
	r.copyOut(hdr[:], start)
	size := uint64(binary.NativeEndian.Uint16(hdr[6:]))
	if size < recordHeaderSize || size > r.head-r.tail {
		r.tail = r.head
		return nil, ErrRingCorrupt
	}
	r.tail += size
	if start+size <= uint64(len(r.data)) {
		return r.data[start : start+size], nil
	}
	if uint64(cap(r.buf)) < size {
		r.buf = make([]byte, size, max(size, 256))
	}
	b := r.buf[:size]
	r.copyOut(b, start)
	return b, nil
}

// copyOut copies len(dst) bytes from data position start, wrapping.
func (r *Ring) copyOut(dst []byte, start uint64) {
	n := copy(dst, r.data[start:])
	copy(dst[n:], r.data)
}

// End ends the round: the space of the records read is the kernel's again.
func (r *Ring) End() {
	atomic.StoreUint64(r.tailPtr(), r.tail)
}

// Drain reads every record up to the kernel's head, in rounds until a
// round finds none, handing each to fn (the bytes are valid until fn
// returns). It returns ErrRingCorrupt if a round ended on a corrupt
// header, after reading the rest.
func (r *Ring) Drain(fn func(rec []byte)) error {
	var corrupt error
	for r.Begin() {
		for {
			rec, err := r.Next()
			if err != nil {
				corrupt = err
				break
			}
			if rec == nil {
				break
			}
			fn(rec)
		}
		r.End()
	}
	return corrupt
}

// Pending returns how many bytes of records the kernel has written that
// are not read yet (as of the last Begin).
func (r *Ring) Pending() int { return int(r.head - r.tail) }

// Close unmaps the ring. Read what is left first: the records are gone
// with the mapping.
func (r *Ring) Close() error {
	if r.mem == nil {
		return nil
	}
	err := unix.Munmap(r.mem)
	r.mem, r.data = nil, nil
	if err != nil {
		return os.NewSyscallError("munmap", err)
	}
	return nil
}
