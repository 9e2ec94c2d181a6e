package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// record is one JSON line.
type record struct {
	Type      string      `json:"type"`
	Time      int64       `json:"time"`
	Kind      string      `json:"kind,omitempty"`
	ParentTID int         `json:"parent_tid,omitempty"`
	PID       int         `json:"pid,omitempty"`
	PPID      int         `json:"ppid,omitempty"`
	TID       int         `json:"tid,omitempty"`
	Comm      string      `json:"comm,omitempty"`
	Message   string      `json:"message,omitempty"` // a daemon's message (a warning, an error)
	Lost      *int64      `json:"lost,omitempty"`    // a lost record; the summary's total
	Code      *int        `json:"code,omitempty"`
	Signal    *int        `json:"signal,omitempty"`
	Processes int         `json:"processes,omitempty"`
	Folded    bool        `json:"folded,omitempty"`
	Exited    *bool       `json:"exited,omitempty"`
	Final     *bool       `json:"final,omitempty"`
	Events    *jsonEvents `json:"events,omitempty"`

	TasksFollowed   *int   `json:"tasks_followed,omitempty"`
	Forks           *int   `json:"forks,omitempty"`
	CounterFailures *int   `json:"counter_failures,omitempty"`
	DurationNS      *int64 `json:"duration_ns,omitempty"`
	CPUNS           *int64 `json:"perfprof_cpu_ns,omitempty"`
	TasksLeft       *int   `json:"tasks_left,omitempty"`
	Samples         *int64 `json:"samples,omitempty"`
	RingFailures    *int   `json:"ring_failures,omitempty"`
	RingBytes       *int64 `json:"ring_bytes_max,omitempty"`
	LateSamples     *int64 `json:"late_samples,omitempty"`
}

type jsonValue struct {
	Value     uint64 `json:"value"`
	Delta     uint64 `json:"delta"`
	EnabledNS uint64 `json:"enabled_ns"`
	RunningNS uint64 `json:"running_ns"`
}

// jsonEvents keeps the events in the order the user gave them.
type jsonEvents struct {
	names []string
	vals  []jsonValue
}

func (e *jsonEvents) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range e.names {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(name)
		v, _ := json.Marshal(e.vals[i])
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return []byte(b.String()), nil
}

// output owns the report stream.
//
// In JSON, every record goes through one channel to one writer goroutine,
// and takes its time as it enters the channel, under seq: the records come
// out in the order of their times, and a record's time is never less than
// the one before it. Task events (fork, exec, exit) come from the tracer
// goroutine, which never waits for a write: the channel holds 4096 items,
// and only a writer that far behind makes it wait (no record is dropped).
// Reports and the summary come from the main goroutine.
//
// A table is written by the main goroutine alone, under mu; when samples
// are written too (they come from the ring owner's goroutine), tables go
// through the channel as well, so that nothing interleaves. Samples are
// written by the ring owner itself, under mu, when nothing is queued
// (see line). A sample carries the kernel's time of the sample, not one
// the channel gives.
//
// The first write error stops all writing; Failed is closed then, so that
// the run can stop (a reader that closed the pipe wants no more), and close
// returns it.
type output struct {
	json bool
	w    *bufio.Writer
	dst  io.Writer // w's
	path string    // the report file, which reopen opens again ("" for none)
	file *os.File  // the file reopen opened, closed by close

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
	items chan outItem
	done  chan struct{}

	mu sync.Mutex // guards w: the writer goroutine, tables, samples

	errMu  sync.Mutex
	err    error
	failed chan struct{}
}

// outItem is one task event, the records of one report (they share a
// time), or bytes already made (a sample, a table).
type outItem struct {
	r     record
	batch []record
	raw   []byte
	reuse bool // raw came from getLineBuf: put it back once written
}

// lineBufs recycles the sampler's buffers of lines: a million samples a
// second would otherwise allocate megabytes a second for the collector.
var lineBufs sync.Pool

// getLineBuf returns an empty buffer for lines, of at least size bytes.
func getLineBuf(size int) []byte {
	if p, ok := lineBufs.Get().(*[]byte); ok && cap(*p) >= size {
		return (*p)[:0]
	}
	return make([]byte, 0, size)
}

func putLineBuf(b []byte) { lineBufs.Put(&b) }

// newOutput returns the stream of w. queued makes every write go through
// the channel, tables too: samples are written.
func newOutput(w io.Writer, asJSON, queued bool) *output {
	o := &output{json: asJSON, w: bufio.NewWriterSize(w, 64<<10), dst: w, failed: make(chan struct{})}
	o.enc = json.NewEncoder(o.w)
	if asJSON || queued {
		o.items = make(chan outItem, 4096)
		o.done = make(chan struct{})
		go o.drain()
	}
	return o
}

// stamp returns the time for the next item: now, or the last item's time
// if the wall clock went back. Precondition: seq held.
func (o *output) stamp() int64 {
	now := time.Now().UnixNano()
	if now < o.last {
		now = o.last
	}
	o.last = now
	return now
}

// event queues a task event (JSON only).
func (o *output) event(r record) {
	o.seq.Lock()
	r.Time = o.stamp()
	o.items <- outItem{r: r}
	o.seq.Unlock()
}

// emit queues records that share one time (JSON only): a report, or the
// summary.
func (o *output) emit(rs []record) {
	o.seq.Lock()
	now := o.stamp()
	for i := range rs {
		rs[i].Time = now
	}
	o.items <- outItem{batch: rs}
	o.seq.Unlock()
}

func (o *output) drain() {
	defer close(o.done)
	for it := range o.items {
		o.mu.Lock()
		if o.Err() != nil {
			o.mu.Unlock()
			continue // discard: nothing more can be written
		}
		switch {
		case it.raw != nil:
			o.w.Write(it.raw)
			if it.reuse {
				putLineBuf(it.raw)
			}
		case it.batch == nil:
			o.enc.Encode(it.r)
		}
		for i := range it.batch {
			o.enc.Encode(it.batch[i])
		}
		if len(o.items) == 0 {
			o.flush()
		}
		o.mu.Unlock()
	}
}

// flush writes what w holds. Precondition: mu held.
func (o *output) flush() {
	if !o.retry {
		if err := o.w.Flush(); err != nil {
			o.fail(err)
		}
		return
	}
	if o.flushOrDrop() {
		o.recovered()
	}
}

// flushOrDrop writes what w holds and says whether it could; if not, what
// w holds is let go (bufio keeps its error) and counted (dropped), and
// the next write tries again. Precondition: mu held, retry.
func (o *output) flushOrDrop() bool {
	held := o.w.Buffered()
	if err := o.w.Flush(); err != nil {
		left := o.w.Buffered()
		o.dropped(err, left, held-left)
		o.w.Reset(o.dst)
		return false
	}
	return true
}

// dropped notes that n bytes of the report could not be written (err),
// after written others of the same write: a daemon's report on a full
// disk. The first failure of a run of them is told to systemd (STATUS=);
// the report itself says it once writing works again (recovered).
// Precondition: mu held.
func (o *output) dropped(err error, n, written int) {
	o.lost += int64(n)
	if written > 0 {
		o.partial = true // a line may have been cut short
	}
	if !o.failing {
		o.failing, o.failErr = true, err
		o.writeFailures.Add(1)
		sdNotify("STATUS=cannot write the report: " + err.Error())
	}
}

// recovered writes, after writes failed, that they did and how much was
// lost, starting on a line of its own. Precondition: mu held.
func (o *output) recovered() {
	if !o.failing {
		return
	}
	o.failing = false
	if o.partial {
		o.w.WriteByte('\n')
		o.partial = false
	}
	msg := fmt.Sprintf("warning: %d bytes of the report could not be written (%v); writing again", o.lost, o.failErr)
	o.lost = 0
	if o.json {
		o.enc.Encode(record{Type: "message", Time: time.Now().UnixNano(), Message: msg})
	} else {
		fmt.Fprintf(o.w, "perfprof: %s\n", msg)
	}
	if o.flushOrDrop() {
		sdNotify("STATUS=")
	}
}

// line writes bytes already made: samples (with their own times), in one
// write. They are written by the caller when nothing is queued, and
// queued otherwise, behind what is: the ring owner, which makes them,
// does not wake the writer goroutine (two context switches and more, for
// every round of samples). If b came from getLineBuf, it goes back there
// once written.
func (o *output) line(b []byte, fromPool bool) {
	o.mu.Lock()
	if len(o.items) > 0 {
		o.mu.Unlock()
		o.items <- outItem{raw: b, reuse: fromPool}
		return
	}
	switch {
	case o.Err() != nil:
	case o.w.Buffered() == 0:
		if n, err := o.dst.Write(b); err != nil {
			if o.retry {
				o.dropped(err, len(b)-n, n)
			} else {
				o.fail(err)
			}
		} else {
			o.recovered()
		}
	default:
		o.w.Write(b)
		o.flush()
	}
	o.mu.Unlock()
	if fromPool {
		putLineBuf(b)
	}
}

// table writes a table with write (not JSON).
func (o *output) table(write func(w io.Writer)) {
	if o.items != nil {
		var b bytes.Buffer
		write(&b)
		if b.Len() > 0 { // an item with no bytes would be a record
			o.items <- outItem{raw: b.Bytes()}
		}
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.Err() != nil {
		return
	}
	write(o.w)
	o.flush()
}

func (o *output) fail(err error) {
	o.errMu.Lock()
	defer o.errMu.Unlock()
	if o.err == nil {
		o.err = err
		close(o.failed)
	}
}

// Err returns the first write error.
func (o *output) Err() error {
	o.errMu.Lock()
	defer o.errMu.Unlock()
	return o.err
}

// Failed is closed at the first write error.
func (o *output) Failed() <-chan struct{} { return o.failed }

// reopen opens the report file again, by its path, and writes on there:
// after logrotate renamed it (create), a new file; after it truncated it
// (copytruncate), the same one, appended to at its new end. Whatever was
// written before is in the old file, whole lines: the buffer is flushed
// first, under mu, and nothing is written meanwhile.
func (o *output) reopen() error {
	if o.path == "" {
		return nil
	}
	f, err := openReport(o.path, true)
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.flush()
	o.w.Reset(f)
	o.dst = f
	if o.file != nil {
		o.file.Close()
	}
	o.file = f
	return nil
}

// close writes everything queued and returns the first write error. No
// record may be queued after it.
func (o *output) close() error {
	if o.items != nil {
		close(o.items)
		<-o.done
		o.items = nil
	}
	o.mu.Lock()
	o.flush()
	if o.file != nil {
		o.file.Close()
	}
	o.mu.Unlock()
	return o.Err()
}
