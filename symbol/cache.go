package symbol

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
)

// Cache loads the symbol table of each ELF file once and shares it between
// every Process that maps the file. A table is keyed by the file's GNU
// build id when it has one, else by the device and inode of the mapping.
// It also holds the kernel's symbols, read once. A Cache is safe for
// concurrent use; its zero value is not usable, call NewCache.
type Cache struct {
	mu      sync.Mutex
	entries map[cacheKey]*entry
	loads   atomic.Int64

	kernelOnce sync.Once
	kernel     *Kernel
	kernelErr  error
}

// cacheKey identifies a file: by build id, or by device and inode, or, for
// a file with neither, by process and address (not shared).
type cacheKey struct {
	buildID  string
	dev, ino uint64
	pid      int
	start    uint64
}

// entry is one table, loaded by the first caller that needs it while the
// others for the same key wait.
type entry struct {
	ready chan struct{} // closed once t and err are set
	t     *Table
	err   error
}

// NewCache returns an empty Cache.
func NewCache() *Cache { return &Cache{entries: map[cacheKey]*entry{}} }

// Loads returns how many tables the cache has read from files: a table
// shared by many processes counts once.
func (c *Cache) Loads() int64 { return c.loads.Load() }

// Len returns the number of tables in the cache (a table found by build
// id and by inode counts once).
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	tables := map[*entry]bool{}
	seen := map[*Table]bool{}
	for _, e := range c.entries {
		select {
		case <-e.ready:
			if e.t != nil && seen[e.t] {
				continue
			}
			seen[e.t] = true
		default:
		}
		tables[e] = true
	}
	return len(tables)
}

// Kernel returns the kernel's symbols, reading /proc/kallsyms on the first
// call only.
func (c *Cache) Kernel() (*Kernel, error) {
	c.kernelOnce.Do(func() { c.kernel, c.kernelErr = ReadKallsyms() })
	return c.kernel, c.kernelErr
}

// loaded returns the table of key if the cache has it (waiting for a
// load under way), or nil.
func (c *Cache) loaded(key cacheKey) *Table {
	c.mu.Lock()
	e := c.entries[key]
	c.mu.Unlock()
	if e == nil {
		return nil
	}
	<-e.ready
	return e.t
}

// table returns the table for key, building it from f (with its debug
// file, if found under root for path) when the cache does not have it
// yet; callers for the same key wait for that one load.
func (c *Cache) table(key cacheKey, f *elf.File, root, path string) (*Table, error) {
	c.mu.Lock()
	e := c.entries[key]
	if e != nil {
		c.mu.Unlock()
		<-e.ready
		return e.t, e.err
	}
	e = &entry{ready: make(chan struct{})}
	c.entries[key] = e
	c.mu.Unlock()
	df, debug := openDebug(f, root, path)
	e.t, e.err = newTable(f, debug)
	if df != nil {
		df.Close()
	}
	c.loads.Add(1)
	close(e.ready)
	return e.t, e.err
}

// Table returns the symbol table of the file that mapping m of process
// pid maps, loading it on first use. The file is opened through
// /proc/PID/map_files/START-END, then /proc/PID/root/PATH, then PATH; the
// last two only when the file's inode (or build id, when m has one)
// matches the mapping's, so that a replaced binary is not read for the
// old one. The [vdso] is read from /proc/PID/mem.
func (c *Cache) Table(pid int, m *Mapping) (*Table, error) {
	if len(m.BuildID) > 0 {
		if t := c.loaded(cacheKey{buildID: hex.EncodeToString(m.BuildID)}); t != nil {
			return t, nil
		}
	}
	if m.Path == "[vdso]" {
		return c.vdso(pid, m)
	}
	if m.Anonymous() {
		return nil, fmt.Errorf("mapping %x-%x of pid %d: no file", m.Start, m.End, pid)
	}
	// A file this cache read for another process: found by its inode,
	// without opening and parsing it again (a fork tree maps one binary
	// a thousand times).
	var inode cacheKey
	if m.Inode != 0 {
		inode = cacheKey{dev: uint64(m.Major)<<32 | uint64(m.Minor), ino: m.Inode}
		if t := c.loaded(inode); t != nil {
			return t, nil
		}
	}
	f, ef, err := openMapped(pid, m)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	key := cacheKey{buildID: BuildID(ef)}
	if key.buildID == "" {
		if m.Inode != 0 {
			key.dev = uint64(m.Major)<<32 | uint64(m.Minor)
			key.ino = m.Inode
		} else {
			key.pid, key.start = pid, m.Start
		}
	}
	t, err := c.table(key, ef, "/proc/"+strconv.Itoa(pid)+"/root", m.Path)
	if err != nil {
		return nil, fmt.Errorf("load symbols of %s: %w", f.Name(), err)
	}
	if m.Inode != 0 && key != inode {
		c.alias(inode, t)
	}
	return t, nil
}

// alias makes key find t too (an inode, for a table keyed by build id).
func (c *Cache) alias(key cacheKey, t *Table) {
	e := &entry{ready: make(chan struct{}), t: t}
	close(e.ready)
	c.mu.Lock()
	if _, ok := c.entries[key]; !ok {
		c.entries[key] = e
	}
	c.mu.Unlock()
}

// openMapped opens the file behind m, as Table describes.
func openMapped(pid int, m *Mapping) (*os.File, *elf.File, error) {
	proc := "/proc/" + strconv.Itoa(pid)
	names := []string{
		proc + "/map_files/" + strconv.FormatUint(m.Start, 16) + "-" + strconv.FormatUint(m.End, 16),
		proc + "/root" + m.Path,
		m.Path,
	}
	var errs []error
	for i, name := range names {
		f, err := os.Open(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if i > 0 && m.Inode != 0 && len(m.BuildID) == 0 {
			if fi, err := f.Stat(); err == nil {
				if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Ino != m.Inode {
					f.Close()
					errs = append(errs, fmt.Errorf("%s: inode %d, not the mapped file's %d (replaced)", name, st.Ino, m.Inode))
					continue
				}
			}
		}
		ef, err := elf.NewFile(f)
		if err != nil {
			f.Close()
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			continue
		}
		if i > 0 && len(m.BuildID) > 0 && BuildID(ef) != hex.EncodeToString(m.BuildID) {
			f.Close()
			errs = append(errs, fmt.Errorf("%s: build id differs from the mapped file's (replaced)", name))
			continue
		}
		return f, ef, nil
	}
	return nil, nil, fmt.Errorf("open %s mapped by pid %d: %w", m.Path, pid, errors.Join(errs...))
}

// vdso reads the [vdso] of process pid from its memory.
func (c *Cache) vdso(pid int, m *Mapping) (*Table, error) {
	name := "/proc/" + strconv.Itoa(pid) + "/mem"
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read [vdso]: %w", err)
	}
	defer f.Close()
	if m.End-m.Start > 1<<24 {
		return nil, fmt.Errorf("read [vdso] of pid %d: %d bytes is too large", pid, m.End-m.Start)
	}
	buf := make([]byte, m.End-m.Start)
	if _, err := f.ReadAt(buf, int64(m.Start)); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read [vdso] of pid %d from %s: %w", pid, name, err)
	}
	ef, err := elf.NewFile(bytes.NewReader(buf))
	if err != nil {
		return nil, fmt.Errorf("parse [vdso] of pid %d: %w", pid, err)
	}
	key := cacheKey{buildID: BuildID(ef)}
	if key.buildID == "" {
		key.pid, key.start = pid, m.Start
	}
	t, err := c.table(key, ef, "/proc/"+strconv.Itoa(pid)+"/root", m.Path)
	if err != nil {
		return nil, fmt.Errorf("load symbols of [vdso] of pid %d: %w", pid, err)
	}
	return t, nil
}
