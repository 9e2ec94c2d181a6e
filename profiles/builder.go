package profiles

import (
	"encoding/binary"
	"io"
	"sync"
	"time"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"github.com/perfprof/perfprof/symbol"
)

// Builder aggregates samples into per-process profiles. It is safe for
// concurrent use.
type Builder struct {
	events []perfevent.Spec
	cache  *symbol.Cache
	start  time.Time

	mu    sync.Mutex
	procs map[uint64]*Process // by pidtree.Task.Proc
	order []*Process          // in the order they were started
	key   []byte              // scratch: a stack's key

	frames *Frames // every frame of every stack, once
}

// Frames holds every distinct frame once; stacks refer to them by index
// (4 bytes a frame, where a symbol.Frame takes 96). It is safe for
// concurrent use.
type Frames struct {
	mu    sync.Mutex
	all   []symbol.Frame
	index map[frameKey]int32
}

// frameKey tells frames apart: where, and what it resolved to.
type frameKey struct {
	addr     uint64
	fn, path string
	kernel   bool
}

// NewFrames returns an empty frame table.
func NewFrames() *Frames { return &Frames{index: map[frameKey]int32{}} }

// ID returns the index of f, adding it if it is new.
func (t *Frames) ID(f symbol.Frame) int32 {
	k := frameKey{addr: f.Addr, fn: f.Func, path: f.Path, kernel: f.Kernel}
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.index[k]; ok {
		return id
	}
	id := int32(len(t.all))
	t.all = append(t.all, f)
	t.index[k] = id
	return id
}

// Frame returns frame id.
func (t *Frames) Frame(id int32) symbol.Frame {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.all[id]
}

// Process is the profile of one process instance.
type Process struct {
	PID  int
	Comm string // its command name, as of its last exec
	sym  *symbol.Process
	live int    // its tasks started and not ended; at 0, sym is let go
	proc uint64 // its key in Builder.procs

	// Stacks by tid and instruction pointers; their frames in Frames.
	Stacks map[string]*Stack
	Frames *Frames
	// Samples is the number of samples, Values their periods summed by
	// event.
	Samples int64
	Values  []int64
}

// Stack is one distinct call stack of a thread, symbolized.
type Stack struct {
	TID    int
	Frames []int32 // innermost first, in the Process's Frames
	Count  int64   // samples
	Values []int64 // periods summed, by event
}

// NewBuilder returns a Builder for samples of events (the run's, in the
// order of the samples' Event index), with its own symbol cache.
func NewBuilder(events []perfevent.Spec) *Builder {
	b := &Builder{events: events, cache: symbol.NewCache(), start: time.Now(), procs: map[uint64]*Process{},
		frames: NewFrames()}
	// The kernel's symbols take 0.1 s to read: from now on, rather than
	// at the first kernel frame.
	go b.cache.Kernel()
	return b
}

// Events returns the events the Builder was made for.
func (b *Builder) Events() []perfevent.Spec { return b.events }

// Start records task t, just armed (comm is its command name). The first
// task of a process makes its Process, with the mappings of its
// /proc/PID/maps: call it while the task is held.
func (b *Builder) Start(t pidtree.Task, comm string) {
	b.mu.Lock()
	p, ok := b.procs[t.Proc]
	if ok {
		p.live++
		b.mu.Unlock()
		return
	}
	parent := b.creator(t)
	b.mu.Unlock()
	p = b.newProcess(t, comm, parent) // reads /proc: not under the lock
	b.mu.Lock()
	defer b.mu.Unlock()
	if q, ok := b.procs[t.Proc]; ok {
		p = q
	} else {
		b.add(t, p)
	}
	p.live++
}

// End records that task t ended: when the last task of its process has,
// its mappings are let go (its stacks were symbolized as they came).
func (b *Builder) End(t pidtree.Task) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.procs[t.Proc]
	if !ok {
		return
	}
	if p.live--; p.live <= 0 {
		p.sym = nil
		if p.Samples == 0 {
			delete(b.procs, t.Proc)
		}
	}
}

// proc returns t's Process, making it if it is the first task of its
// process and Start did not. Precondition: b.mu held.
func (b *Builder) proc(t pidtree.Task, comm string) *Process {
	if p, ok := b.procs[t.Proc]; ok {
		return p
	}
	p := b.newProcess(t, comm, b.creator(t))
	b.add(t, p)
	return p
}

// newProcess returns a Process for t's process, with the mappings of its
// /proc/PID/maps: a created process is held before its first
// instruction, with its creator's mappings (the records of its creator's
// ring may not be read yet, so they are not taken from them). When they
// are the creator's, the two share them (symbol.Process.LoadMapsSharing):
// a fork tree of a thousand processes holds them once. A process gone
// already has nothing to sample.
// parent is the symbolizer of t's creator, if t was forked and its
// creator's process lives (see creator).
func (b *Builder) newProcess(t pidtree.Task, comm string, parent *symbol.Process) *Process {
	p := &Process{PID: t.TGID, Comm: comm, Stacks: map[string]*Stack{}, Frames: b.frames, Values: make([]int64, len(b.events))}
	p.sym = symbol.NewProcess(t.TGID, b.cache)
	p.sym.ReloadOnMiss() // its mapping records may come after samples of another thread's ring
	if parent != nil {
		p.sym.LoadMapsSharing(parent)
	} else {
		p.sym.LoadMaps()
	}
	return p
}

// creator returns the symbolizer of the process that forked t's, if it
// did and that process lives; nil otherwise. Precondition: b.mu held.
func (b *Builder) creator(t pidtree.Task) *symbol.Process {
	if !t.Forked || t.ParentProc == 0 {
		return nil
	}
	if p := b.procs[t.ParentProc]; p != nil {
		return p.sym
	}
	return nil
}

// add makes p t's process. Precondition: b.mu held.
func (b *Builder) add(t pidtree.Task, p *Process) {
	p.proc = t.Proc
	b.procs[t.Proc] = p
	b.order = append(b.order, p)
}

// symbols returns p's symbolizer: an empty one once p ended (its kernel
// frames still resolve).
func (b *Builder) symbols(p *Process) *symbol.Process {
	if p.sym == nil {
		p.sym = symbol.NewProcess(p.PID, b.cache)
	}
	return p.sym
}

// Sample adds a sample. A stack new to its process is symbolized without
// the Builder's lock: loading a file's symbols (or the kernel's, 0.1 s)
// must not hold up Start, that is, a new task held in its first stop.
func (b *Builder) Sample(s *profdev.Sample) {
	r := s.Record
	b.mu.Lock()
	p := b.proc(s.Task, s.Comm)
	key := binary.LittleEndian.AppendUint32(b.key[:0], uint32(r.TID))
	if len(r.Callchain) > 0 {
		// With its context markers: they tell kernel frames from user
		// ones (see symbolize).
		for _, ip := range r.Callchain {
			key = binary.LittleEndian.AppendUint64(key, ip)
		}
	} else {
		key = binary.LittleEndian.AppendUint64(key, r.IP)
	}
	b.key = key
	st, ok := p.Stacks[string(key)]
	if !ok {
		k, sym := string(key), b.symbols(p)
		b.mu.Unlock()
		frames := b.symbolize(sym, k[4:])
		b.mu.Lock()
		if st, ok = p.Stacks[k]; !ok {
			st = &Stack{TID: r.TID, Frames: frames, Values: make([]int64, len(b.events))}
			p.Stacks[k] = st
		}
	}
	st.Count++
	p.Samples++
	if s.Event < len(b.events) {
		st.Values[s.Event] += int64(r.Period)
		p.Values[s.Event] += int64(r.Period)
	}
	b.mu.Unlock()
}

// symbolize returns the frames of the instruction pointers ips (8 bytes
// each: a call chain, with its context markers, or a sample's ip) in sym.
// A frame is the kernel's or the user's as the marker before it says, or
// by its address without one. A user frame at a kernel address is what a
// frame-pointer walk read past the outermost frame (a static binary's
// _start keeps no frame pointer): an unknown user frame, never a kernel
// one.
func (b *Builder) symbolize(sym *symbol.Process, ips string) []int32 {
	ids := make([]int32, 0, len(ips)/8)
	ctx := perfevent.CallchainContext(0) // none yet
	for i := 0; i+8 <= len(ips); i += 8 {
		addr := binary.LittleEndian.Uint64([]byte(ips[i : i+8]))
		if c, ok := perfevent.CallchainMarker(addr); ok {
			ctx = c
			continue
		}
		kernel := symbol.IsKernel(addr)
		if ctx != 0 {
			kernel = ctx.Kernel()
		}
		var f symbol.Frame
		switch {
		case kernel:
			// Named when written (resolveKernel): the kernel's symbols
			// do not go with the process, and reading them takes 0.1 s.
			f = symbol.Frame{Addr: addr, Path: symbol.KernelPath, Kernel: true}
		case symbol.IsKernel(addr):
			f = symbol.Frame{Addr: addr}
		default:
			f = sym.Symbolize(addr)
		}
		ids = append(ids, b.frames.ID(f))
	}
	return ids
}

// Mmap records an executable mapping of t's process.
func (b *Builder) Mmap(t pidtree.Task, m *perfevent.Mmap2Record) {
	b.mu.Lock()
	sym := b.symbols(b.proc(t, ""))
	b.mu.Unlock()
	sym.Map(symbol.MmapEvent{Addr: m.Addr, Len: m.Len, Pgoff: m.PgOff, Maj: m.Maj, Min: m.Min, Ino: m.Ino,
		BuildID: append([]byte(nil), m.BuildID...), Prot: m.Prot, Flags: m.Flags, Filename: string(m.Filename)})
}

// Exec records that t's process executed comm: its mappings are gone.
func (b *Builder) Exec(t pidtree.Task, comm []byte) {
	b.mu.Lock()
	p := b.proc(t, string(comm))
	p.Comm = string(comm)
	sym := b.symbols(p)
	b.mu.Unlock()
	sym.Reset()
}

// Processes returns the processes that have samples, in the order they
// started, their kernel frames named. Do not use it while samples are
// added (WriteTop may be).
func (b *Builder) Processes() []*Process {
	b.resolveKernel()
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.withSamples()
}

// Cut returns the samples since the last Cut (or the start), by process,
// their kernel frames named, and counts anew from now: for a profile of
// each interval (--pprof-dir). Samples may be added meanwhile. A process
// that ended is forgotten once its samples were cut, so that a Builder
// cut at every interval holds the live processes only, however long it
// runs (the frame table keeps growing with the distinct frames seen).
func (b *Builder) Cut() []*Process {
	b.resolveKernel()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []*Process
	keep := b.order[:0]
	for _, p := range b.order {
		if p.Samples > 0 {
			out = append(out, &Process{PID: p.PID, Comm: p.Comm, sym: p.sym, proc: p.proc,
				Stacks: p.Stacks, Frames: p.Frames, Samples: p.Samples, Values: p.Values})
			p.Stacks, p.Samples, p.Values = map[string]*Stack{}, 0, make([]int64, len(b.events))
		}
		if p.live <= 0 {
			if b.procs[p.proc] == p {
				delete(b.procs, p.proc)
			}
			continue
		}
		keep = append(keep, p)
	}
	clear(b.order[len(keep):])
	b.order = keep
	return out
}

// WriteTop writes the top (see the function WriteTop) of the samples so
// far; samples may be added meanwhile.
func (b *Builder) WriteTop(w io.Writer, n int) error {
	b.resolveKernel()
	b.mu.Lock()
	defer b.mu.Unlock()
	return WriteTop(w, b.withSamples(), n)
}

// resolveKernel names the kernel frames of the stacks so far. It waits
// for the kernel's symbols, if they are still being read, before it
// takes a lock.
func (b *Builder) resolveKernel() {
	k, err := b.cache.Kernel()
	if err != nil || k.Restricted() {
		return
	}
	t := b.frames
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.all {
		if f := &t.all[i]; f.Kernel && f.Func == "" && f.Module == "" {
			*f = k.Lookup(f.Addr) // its index keeps its key: the address
		}
	}
}

// withSamples returns the processes that have samples. Precondition:
// b.mu held.
func (b *Builder) withSamples() []*Process {
	var ps []*Process
	for _, p := range b.order {
		if p.Samples > 0 {
			ps = append(ps, p)
		}
	}
	return ps
}
