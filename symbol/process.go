package symbol

import (
	"fmt"
	"github.com/perfprof/perfprof/internal/procfs"
	"sort"
	"strings"
	"sync"
	"time"
)

// MmapEvent is a new mapping of a process, with the fields of a
// PERF_RECORD_MMAP2 (or PERF_RECORD_MMAP, with zero device and inode).
type MmapEvent struct {
	// Addr, Len and Pgoff: the mapping covers [Addr, Addr+Len) and maps
	// the file from byte offset Pgoff (perf's pgoff is a byte offset).
	Addr, Len, Pgoff uint64
	// Maj, Min and Ino identify the file (zero when the record carries a
	// build id instead).
	Maj, Min uint32
	Ino      uint64
	// BuildID is the file's build id, when the record carries one
	// (PERF_RECORD_MISC_MMAP_BUILD_ID).
	BuildID []byte
	// Prot and Flags are mmap(2)'s protection and flags.
	Prot, Flags uint32
	// Filename is the mapped file, "//anon" or "" for an anonymous
	// mapping, or a pseudo path such as "[vdso]"; a " (deleted)" suffix
	// is stripped.
	Filename string
}

// mapShared is MAP_SHARED.
const mapShared = 0x1

// Mapping returns the mapping e describes.
func (e *MmapEvent) Mapping() Mapping {
	m := Mapping{Mapping: procfs.Mapping{
		Start:  e.Addr,
		End:    e.Addr + e.Len,
		Prot:   e.Prot,
		Shared: e.Flags&mapShared != 0,
		Offset: e.Pgoff,
		Major:  e.Maj,
		Minor:  e.Min,
		Inode:  e.Ino,
		Path:   e.Filename,
	}, BuildID: e.BuildID}
	if m.Path == "//anon" {
		m.Path = ""
	}
	if p, ok := strings.CutSuffix(m.Path, deletedSuffix); ok && strings.HasPrefix(p, "/") {
		m.Path, m.Deleted = p, true
	}
	return m
}

// Process is one process instance (from its start or last exec to its
// exit) as the symbolizer sees it: its executable mappings, sorted by
// address and never overlapping, each with the symbol table of its file,
// loaded from the Cache when first needed. It is safe for concurrent use.
type Process struct {
	pid   int
	cache *Cache

	mu sync.Mutex
	// maps may be shared with another Process (see LoadMapsSharing):
	// never changed in place, only replaced.
	maps []*procMap
	// With reload (ReloadOnMiss), a miss makes p read /proc/PID/maps
	// again; reloaded is when it last did.
	reload   bool
	reloaded time.Time
}

// ReloadOnMiss has Symbolize read /proc/PID/maps again when an address
// falls in no mapping, at most every reloadGap: for a live process whose
// mapping records may come after its samples.
func (p *Process) ReloadOnMiss() {
	p.mu.Lock()
	p.reload = true
	p.mu.Unlock()
}

// reloadGap is the least time between two reads of /proc/PID/maps after
// misses (see Symbolize).
const reloadGap = 50 * time.Millisecond

// procMap is an executable mapping and what symbolizing in it needs.
type procMap struct {
	Mapping
	sym *mapSymbols // shared by the pieces of a split, and with forks
}

// mapSymbols is what symbolizing in a mapping needs, loaded once.
type mapSymbols struct {
	once    sync.Once
	table   *Table // nil when the file could not be read
	err     error
	bias    uint64 // runtime address + bias = ELF virtual address
	buildID string
}

// newMap returns the procMap of m, its symbols not loaded yet.
func newMap(m Mapping) *procMap { return &procMap{Mapping: m, sym: &mapSymbols{}} }

// NewProcess returns a Process for pid with no mappings yet; fill it with
// LoadMaps, SetMaps or Map. Its tables come from c.
func NewProcess(pid int, c *Cache) *Process {
	return &Process{pid: pid, cache: c}
}

// PID returns the process id p was made for.
func (p *Process) PID() int { return p.pid }

// LoadMaps replaces p's mappings with those of /proc/PID/maps.
func (p *Process) LoadMaps() error {
	ms, err := readMaps(p.pid, true)
	if err != nil {
		return err
	}
	p.SetMaps(ms)
	return nil
}

// LoadMapsSharing is LoadMaps, for a process that other (its creator,
// say) may map alike: when p's executable mappings are other's, p shares
// other's, and their loaded tables, instead of holding copies. A fork
// tree of a thousand processes of one binary holds its mappings once.
func (p *Process) LoadMapsSharing(other *Process) error {
	ms, err := readMaps(p.pid, true)
	if err != nil {
		return err
	}
	other.mu.Lock()
	shared := other.maps
	other.mu.Unlock()
	same := len(shared) > 0
	n := 0
	for i := range ms {
		m := &ms[i]
		if !m.Exec() || m.End <= m.Start {
			continue
		}
		if n >= len(shared) || !shared[n].sameAs(m) {
			same = false
			break
		}
		n++
	}
	if !same || n != len(shared) {
		p.SetMaps(ms)
		return nil
	}
	p.mu.Lock()
	p.maps = shared[:len(shared):len(shared)]
	p.mu.Unlock()
	return nil
}

// sameAs reports whether pm maps what m does.
func (pm *procMap) sameAs(m *Mapping) bool {
	return pm.Start == m.Start && pm.End == m.End && pm.Offset == m.Offset && pm.Inode == m.Inode &&
		pm.Major == m.Major && pm.Minor == m.Minor && pm.Prot == m.Prot && pm.Path == m.Path
}

// SetMaps replaces p's mappings with the executable ones of ms, which must
// not overlap (as /proc/PID/maps gives them).
func (p *Process) SetMaps(ms []Mapping) {
	maps := make([]*procMap, 0, len(ms))
	for i := range ms {
		if ms[i].Exec() && ms[i].End > ms[i].Start {
			maps = append(maps, newMap(ms[i]))
		}
	}
	sort.Slice(maps, func(i, j int) bool { return maps[i].Start < maps[j].Start })
	p.mu.Lock()
	p.maps = maps
	p.mu.Unlock()
}

// Map adds the mapping e describes, as mmap(2) would: whatever it overlaps
// is unmapped first (the parts of a mapping outside e stay), then e is
// kept if it is executable.
func (p *Process) Map(e MmapEvent) {
	m := e.Mapping()
	if m.End <= m.Start {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unmapLocked(m.Start, m.End)
	if !m.Exec() {
		return
	}
	i := sort.Search(len(p.maps), func(i int) bool { return p.maps[i].Start >= m.Start })
	p.maps = append(p.maps, nil)
	copy(p.maps[i+1:], p.maps[i:])
	p.maps[i] = newMap(m)
}

// Unmap removes [start, end) from p's mappings, as munmap(2) would.
func (p *Process) Unmap(start, end uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.unmapLocked(start, end)
}

// unmapLocked removes [start, end), trimming or splitting the mappings it
// overlaps. The pieces that remain keep their loaded table.
func (p *Process) unmapLocked(start, end uint64) {
	out := p.maps[:0:0]
	for _, pm := range p.maps {
		if pm.End <= start || pm.Start >= end {
			out = append(out, pm)
			continue
		}
		if pm.Start < start { // the left piece
			l := *pm
			l.End = start
			out = append(out, &l)
		}
		if pm.End > end { // the right piece
			r := *pm
			r.Offset += end - pm.Start
			r.Start = end
			// The bias is a property of the file's layout and the
			// mapping's start-offset pair, which the split preserves.
			out = append(out, &r)
		}
	}
	p.maps = out
}

// Reset drops every mapping, as exec(2) does.
func (p *Process) Reset() {
	p.mu.Lock()
	p.maps = nil
	p.mu.Unlock()
}

// Mappings returns a copy of p's executable mappings, sorted by address.
func (p *Process) Mappings() []Mapping {
	p.mu.Lock()
	defer p.mu.Unlock()
	ms := make([]Mapping, len(p.maps))
	for i, pm := range p.maps {
		ms[i] = pm.Mapping
	}
	return ms
}

// Preload loads the symbol table of every mapping now, while the process
// lives and its files can be opened through /proc; Symbolize would
// otherwise load each on first use. It returns the errors of the mappings
// whose file could not be read, joined; those resolve to file+offset.
func (p *Process) Preload() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []string
	for _, pm := range p.maps {
		if s := p.load(pm); s.err != nil {
			errs = append(errs, s.err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("pid %d: %s", p.pid, strings.Join(errs, "; "))
	}
	return nil
}

// load returns pm's symbols, loading its table on first use.
func (p *Process) load(pm *procMap) *mapSymbols {
	s := pm.sym
	s.once.Do(func() {
		if pm.Anonymous() && pm.Path != "[vdso]" {
			return // JIT code, [vsyscall]: no file to read, and no error
		}
		s.table, s.err = p.cache.Table(p.pid, &pm.Mapping)
		if s.table != nil {
			s.bias = s.table.Bias(pm.Start, pm.Offset)
			s.buildID = s.table.BuildID
		}
	})
	return s
}

// Symbolize returns the frame of addr in p: a kernel address resolves
// through the Cache's Kernel, a user address through the mapping holding
// it and its file's symbols. An address no mapping holds, or that no
// symbol covers, gives a Frame with no Func (see Frame).
func (p *Process) Symbolize(addr uint64) Frame {
	if IsKernel(addr) {
		k, err := p.cache.Kernel()
		if err != nil || k.Restricted() {
			return Frame{Addr: addr, Path: KernelPath, Kernel: true}
		}
		return k.Lookup(addr)
	}
	pm := p.mapAt(addr)
	if pm == nil && p.reloadAfterMiss() {
		pm = p.mapAt(addr)
	}
	if pm == nil {
		return Frame{Addr: addr}
	}
	s := p.load(pm)
	f := Frame{Addr: addr, Path: pm.Path}
	if s.table == nil {
		f.Offset = addr - pm.Start + pm.Offset
		if len(pm.BuildID) > 0 {
			f.BuildID = fmt.Sprintf("%x", pm.BuildID)
		}
		return f
	}
	f.BuildID = s.buildID
	vaddr := addr + s.bias
	if sym, ok := s.table.Lookup(vaddr); ok {
		f.Func = sym.Name
		f.Offset = vaddr - sym.Addr
	} else {
		f.Offset = vaddr
	}
	return f
}

// reloadAfterMiss reads /proc/PID/maps again after an address no mapping
// holds (with ReloadOnMiss), at most every reloadGap, and says whether it
// did. The records
// that tell p's mappings may lag behind its samples: they come in the
// ring of the process's first thread, and another thread's ring may be
// read first (a Go program's main goroutine runs on any thread). While
// the process lives, /proc tells them.
func (p *Process) reloadAfterMiss() bool {
	now := time.Now()
	p.mu.Lock()
	if !p.reload || now.Sub(p.reloaded) < reloadGap {
		p.mu.Unlock()
		return false
	}
	p.reloaded = now
	p.mu.Unlock()
	// A process that exited (a zombie, or one held at its exit) has no
	// mappings left: keep those known.
	ms, err := readMaps(p.pid, true)
	if err != nil || len(ms) == 0 {
		return false
	}
	p.SetMaps(ms)
	return true
}

// mapAt returns the mapping holding addr, or nil.
func (p *Process) mapAt(addr uint64) *procMap {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := sort.Search(len(p.maps), func(i int) bool { return p.maps[i].End > addr })
	if i == len(p.maps) || addr < p.maps[i].Start {
		return nil
	}
	return p.maps[i]
}
