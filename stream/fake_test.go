package stream

import (
	"bytes"
	"sync"
	"syscall"
)

// disk is a fake destination: a buffer that can be made to fail (full:
// ENOSPC, after writing partial bytes of the write; or err, any error)
// and that tells each write call on calls.
type disk struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	full    bool
	partial int   // with full: the bytes a failed write still writes
	err     error // if not nil (and not full), every write fails with it
	failed  int   // the bytes of the failed writes that were not written
	writes  int   // write calls
	closed  bool
	calls   chan struct{} // one send per write call, if not nil
}

func newDisk() *disk { return &disk{calls: make(chan struct{}, 1<<16)} }

func (d *disk) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer func() {
		d.mu.Unlock()
		if d.calls != nil {
			d.calls <- struct{}{}
		}
	}()
	d.writes++
	switch {
	case d.full:
		n := min(d.partial, len(p))
		d.buf.Write(p[:n])
		d.failed += len(p) - n
		return n, syscall.ENOSPC
	case d.err != nil:
		return 0, d.err
	}
	return d.buf.Write(p)
}

func (d *disk) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	return nil
}

func (d *disk) set(f func(d *disk)) {
	d.mu.Lock()
	f(d)
	d.mu.Unlock()
}

func (d *disk) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.buf.String()
}
