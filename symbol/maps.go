package symbol

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/perfprof/perfprof/internal/procfs"
)

// Protection bits of a mapping, as mmap(2)'s prot and PERF_RECORD_MMAP2's
// prot field give them.
const (
	ProtRead  = procfs.ProtRead
	ProtWrite = procfs.ProtWrite
	ProtExec  = procfs.ProtExec
)

// deletedSuffix is what the kernel appends to the path of a mapped file
// that was unlinked.
const deletedSuffix = procfs.DeletedSuffix

// Mapping is one mapping of a process's address space, as a line of
// /proc/PID/maps (procfs.Mapping) or a PERF_RECORD_MMAP2 describes it.
type Mapping struct {
	procfs.Mapping
	// BuildID is the file's GNU build id when the source of the mapping
	// gave it (a PERF_RECORD_MMAP2 with PERF_RECORD_MISC_MMAP_BUILD_ID),
	// else nil. /proc/PID/maps never does.
	BuildID []byte
}

// Exec reports whether the mapping is executable.
func (m *Mapping) Exec() bool { return m.Prot&ProtExec != 0 }

// Anonymous reports whether no file backs the mapping: no path, or a
// pseudo path such as [heap], [stack] or [vdso].
func (m *Mapping) Anonymous() bool {
	return m.Path == "" || (strings.HasPrefix(m.Path, "[") && strings.HasSuffix(m.Path, "]") && m.Inode == 0)
}

// Contains reports whether addr lies in the mapping.
func (m *Mapping) Contains(addr uint64) bool { return addr >= m.Start && addr < m.End }

// ReadMaps reads and parses /proc/PID/maps.
func ReadMaps(pid int) ([]Mapping, error) { return readMaps(pid, false) }

// scanBufs recycles the line buffers of readMaps: a fork tree reads the
// maps of every process it makes.
var scanBufs = sync.Pool{New: func() any { b := make([]byte, 4096); return &b }}

// readMaps reads /proc/PID/maps; with execOnly, its executable mappings
// alone, the others skipped before they cost an allocation.
func readMaps(pid int, execOnly bool) ([]Mapping, error) {
	name := "/proc/" + strconv.Itoa(pid) + "/maps"
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("read maps: %w", err)
	}
	defer f.Close()
	buf := scanBufs.Get().(*[]byte)
	defer scanBufs.Put(buf)
	ms, err := parseMaps(f, execOnly, *buf)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return ms, nil
}

// parseMaps parses the text of a maps file, scanning it with buf (nil: a
// buffer of its own); with execOnly, the executable mappings alone, the
// others skipped before they cost an allocation.
func parseMaps(r io.Reader, execOnly bool, buf []byte) ([]Mapping, error) {
	if buf == nil {
		buf = make([]byte, 0, 4096)
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(buf, 1<<20)
	var ms []Mapping
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		if execOnly && !procfs.ExecLine(line) {
			continue
		}
		m, err := ParseMapsLine(string(line))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		ms = append(ms, m)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return ms, nil
}

// ParseMaps parses the text of a /proc/PID/maps file, one Mapping per
// line, in the file's order (by address).
func ParseMaps(r io.Reader) ([]Mapping, error) { return parseMaps(r, false, nil) }

// ParseMapsLine parses one line of /proc/PID/maps (see
// procfs.ParseMapsLine):
//
//	55d4c2a00000-55d4c2a01000 r-xp 00001000 08:01 1234567    /usr/bin/my app (deleted)
func ParseMapsLine(line string) (Mapping, error) {
	m, err := procfs.ParseMapsLine(line)
	if err != nil {
		return Mapping{}, err
	}
	return Mapping{Mapping: m}, nil
}
