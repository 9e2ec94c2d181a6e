package stream

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perfprof/perfprof/internal/sdnotify"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/runstats"
)

// Options are a Stream's, all given to New.
type Options struct {
	// Events are the run's events, in -e order: the report's columns
	// (a time event, Spec.Unit() == perfevent.Nanoseconds, in ms) and
	// the event names of the samples.
	Events []perfevent.Spec
	// JSON writes JSON lines (docs/usage.md's records), not tables.
	JSON bool
	// Queued sends every write through the writer goroutine, tables too:
	// set it when samples are written, so that a table never comes out
	// in the middle of them. JSON is always queued.
	Queued bool
	// Retry keeps writing after a write failed (a daemon's report on a
	// full disk): the bytes that could not be written are let go and
	// counted, the next write tries again, and the report says how much
	// was lost once writing works again. Without it, the first failed
	// write stops all writing, and Failed is closed.
	Retry bool
	// Reopen, if not nil, opens the report again for Stream.Reopen (a
	// daemon's SIGHUP, after logrotate). With it, the Stream owns its
	// writer if it is an io.Closer: it is closed when Reopen switches to
	// the new one, or by Close.
	Reopen func() (io.WriteCloser, error)
}

// Stream is a run's report stream: tables or JSON records of counts,
// sample lines, task events, messages and the summary, all to one writer.
//
// In JSON, every record goes through one channel to the Stream's writer
// goroutine, and takes its time as it enters the channel, under seq: the
// records come out in the order of their times, and a record's time is
// never less than the one before it. Task events (fork, exec, exit) come
// from the tracer goroutine, which never waits for a write: the channel
// holds 4096 items, and only a writer that far behind makes it wait (no
// record is dropped). Reports and the summary come from the main
// goroutine.
//
// A table is written by its caller, under mu, unless the Stream is queued
// (Options.Queued: samples are written, from the ring owner's goroutine);
// then tables go through the channel as well, so that nothing
// interleaves. Sample lines are written by the ring owner itself, under
// mu, when nothing is queued (see line). A sample carries the kernel's
// time of the sample, not one the channel gives.
//
// The first write error stops all writing (without Options.Retry);
// Failed is closed then, so that the run can stop (a reader that closed
// the pipe wants no more), and Close returns it.
//
// All methods may be called from any goroutine, except Close, after
// which nothing may be written.
type Stream struct {
	json  bool
	names []string // Options.Events' names
	units []perfevent.Unit
	w     *bufio.Writer
	dst   io.Writer // w's
	open  func() (io.WriteCloser, error)
	file  io.Closer // dst, when the Stream owns it: closed by Reopen and Close

	// A daemon's report survives a full disk: with retry, a failed write
	// is let go and counted, and the next one tries again. Under mu.
	retry         bool
	failing       bool  // the last write failed
	failErr       error // the first error of the failing run
	lost          int64 // bytes let go in the failing run
	partial       bool  // a failed write may have left a line cut short
	writeFailures atomic.Int64
	enc           *json.Encoder

	seq   sync.Mutex // orders the times and the sends of JSON items
	last  int64      // the time of the last item sent
	items chan item
	done  chan struct{}

	mu sync.Mutex // guards w: the writer goroutine, tables, samples

	errMu  sync.Mutex
	err    error
	failed chan struct{}
}

// item is one task event, the records of one report (they share a
// time), or bytes already made (samples, a table).
type item struct {
	r     record
	batch []record
	raw   []byte
	reuse bool // raw came from getLineBuf: put it back once written
}

// lineBufs recycles the sample writer's buffers of lines: a million
// samples a second would otherwise allocate megabytes a second for the
// collector.
var lineBufs sync.Pool

// getLineBuf returns an empty buffer for lines, of at least size bytes.
func getLineBuf(size int) []byte {
	if p, ok := lineBufs.Get().(*[]byte); ok && cap(*p) >= size {
		return (*p)[:0]
	}
	return make([]byte, 0, size)
}

func putLineBuf(b []byte) { lineBufs.Put(&b) }

// New returns the stream of w. A JSON or queued Stream starts its writer
// goroutine, which Close ends.
func New(w io.Writer, opt Options) *Stream {
	s := &Stream{json: opt.JSON, w: bufio.NewWriterSize(w, 64<<10), dst: w, open: opt.Reopen,
		retry: opt.Retry, failed: make(chan struct{})}
	for _, sp := range opt.Events {
		s.names = append(s.names, sp.Name)
		s.units = append(s.units, sp.Unit())
	}
	if opt.Reopen != nil {
		s.file, _ = w.(io.Closer)
	}
	s.enc = json.NewEncoder(s.w)
	if opt.JSON || opt.Queued {
		s.items = make(chan item, 4096)
		s.done = make(chan struct{})
		go s.writeLoop()
	}
	return s
}

// stamp returns the time for the next item: now, or the last item's time
// if the wall clock went back. Precondition: seq held.
func (s *Stream) stamp() int64 {
	now := time.Now().UnixNano()
	if now < s.last {
		now = s.last
	}
	s.last = now
	return now
}

// event queues one record (JSON only), with its time: it blocks only if
// the writer goroutine is 4096 items behind.
func (s *Stream) event(r record) {
	s.seq.Lock()
	r.Time = s.stamp()
	s.items <- item{r: r}
	s.seq.Unlock()
}

// emit queues records that share one time (JSON only): a report, or the
// summary.
func (s *Stream) emit(rs []record) {
	s.seq.Lock()
	now := s.stamp()
	for i := range rs {
		rs[i].Time = now
	}
	s.items <- item{batch: rs}
	s.seq.Unlock()
}

// writeLoop writes the queued items, and what w holds whenever the queue
// is empty. The writer goroutine.
func (s *Stream) writeLoop() {
	defer close(s.done)
	for it := range s.items {
		s.mu.Lock()
		if s.Err() != nil {
			s.mu.Unlock()
			continue // discard: nothing more can be written
		}
		switch {
		case it.raw != nil:
			s.w.Write(it.raw)
			if it.reuse {
				putLineBuf(it.raw)
			}
		case it.batch == nil:
			s.enc.Encode(it.r)
		}
		for i := range it.batch {
			s.enc.Encode(it.batch[i])
		}
		if len(s.items) == 0 {
			s.flush()
		}
		s.mu.Unlock()
	}
}

// flush writes what w holds. With retry, a write that works after
// failed ones is a recovery; holding nothing, it writes nothing, and
// recovers nothing (Close or Reopen on a disk still full). Precondition:
// mu held.
func (s *Stream) flush() {
	if !s.retry {
		if err := s.w.Flush(); err != nil {
			s.fail(err)
		}
		return
	}
	if s.w.Buffered() > 0 && s.flushOrDrop() {
		s.recovered()
	}
}

// flushOrDrop writes what w holds and says whether it could; if not, what
// w holds is let go (bufio keeps its error) and counted (dropped), and
// the next write tries again. Precondition: mu held, retry.
func (s *Stream) flushOrDrop() bool {
	held := s.w.Buffered()
	if err := s.w.Flush(); err != nil {
		left := s.w.Buffered()
		s.dropped(err, left, held-left)
		s.w.Reset(s.dst)
		return false
	}
	return true
}

// dropped notes that n bytes of the report could not be written (err),
// after written others of the same write: a daemon's report on a full
// disk. The first failure of a run of them is counted (WriteFailures)
// and told to systemd (STATUS=); the report itself says it once writing
// works again (recovered). Precondition: mu held.
func (s *Stream) dropped(err error, n, written int) {
	s.lost += int64(n)
	if written > 0 {
		s.partial = true // a line may have been cut short
	}
	if !s.failing {
		s.failing, s.failErr = true, err
		s.writeFailures.Add(1)
		sdnotify.Notify("STATUS=cannot write the report: " + err.Error())
	}
}

// recovered writes, after writes failed, that they did and how much was
// lost, starting on a line of its own. Precondition: mu held.
func (s *Stream) recovered() {
	if !s.failing {
		return
	}
	s.failing = false
	if s.partial {
		s.w.WriteByte('\n')
		s.partial = false
	}
	msg := fmt.Sprintf("warning: %d bytes of the report could not be written (%v); writing again", s.lost, s.failErr)
	s.lost = 0
	if s.json {
		s.enc.Encode(record{Type: "message", Time: time.Now().UnixNano(), Message: msg})
	} else {
		fmt.Fprintf(s.w, "perfprof: %s\n", msg)
	}
	if s.flushOrDrop() {
		sdnotify.Notify("STATUS=")
	}
}

// line writes bytes already made: samples (with their own times), in one
// write. They are written by the caller when nothing is queued, and
// queued otherwise, behind what is: the ring owner, which makes them,
// does not wake the writer goroutine (two context switches and more, for
// every round of samples). If b came from getLineBuf (fromPool), it goes
// back there once written.
func (s *Stream) line(b []byte, fromPool bool) {
	s.mu.Lock()
	if len(s.items) > 0 {
		s.mu.Unlock()
		s.items <- item{raw: b, reuse: fromPool}
		return
	}
	switch {
	case s.Err() != nil:
	case s.w.Buffered() == 0:
		if n, err := s.dst.Write(b); err != nil {
			if s.retry {
				s.dropped(err, len(b)-n, n)
			} else {
				s.fail(err)
			}
		} else {
			s.recovered()
		}
	default:
		s.w.Write(b)
		s.flush()
	}
	s.mu.Unlock()
	if fromPool {
		putLineBuf(b)
	}
}

// Table writes what write writes, as one piece: a table (not JSON), or
// --top's functions. A queued Stream makes it into bytes first and
// queues them; otherwise it is written at once, under the Stream's lock.
func (s *Stream) Table(write func(w io.Writer)) {
	if s.items != nil {
		var b bytes.Buffer
		write(&b)
		if b.Len() > 0 { // an item with no bytes would be a record
			s.items <- item{raw: b.Bytes()}
		}
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Err() != nil {
		return
	}
	write(s.w)
	s.flush()
}

func (s *Stream) fail(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.err == nil {
		s.err = err
		close(s.failed)
	}
}

// Err returns the first write error (nil with Options.Retry: a daemon's
// failed writes are counted, not errors).
func (s *Stream) Err() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// Failed is closed at the first write error (never with Options.Retry).
func (s *Stream) Failed() <-chan struct{} { return s.failed }

// Stats returns the Stream's figures so far.
func (s *Stream) Stats() runstats.Report {
	return runstats.Report{WriteFailures: s.writeFailures.Load()}
}

// Reopen opens the report again (Options.Reopen) and writes on there:
// after logrotate renamed the file (create), a new file; after it
// truncated it (copytruncate), the same one, appended to at its new end.
// Whatever was written before is in the old destination, whole lines:
// what w holds is flushed first, under the Stream's lock, and nothing is
// written meanwhile; the old destination is closed if the Stream owns it.
// It returns the opener's error, and the Stream writes on to the old
// destination then; without Options.Reopen it does nothing.
func (s *Stream) Reopen() error {
	if s.open == nil {
		return nil
	}
	f, err := s.open()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.flush()
	s.w.Reset(f)
	s.dst = f
	if s.file != nil {
		s.file.Close()
	}
	s.file = f
	return nil
}

// Close writes everything queued, ends the writer goroutine, closes the
// destination if the Stream owns it (Options.Reopen), and returns the
// first write error. Nothing may be written after it.
func (s *Stream) Close() error {
	if s.items != nil {
		close(s.items)
		<-s.done
		s.items = nil
	}
	s.mu.Lock()
	s.flush()
	if s.file != nil {
		s.file.Close()
	}
	s.mu.Unlock()
	return s.Err()
}
