package procfs

import (
	"fmt"
	"strconv"
	"strings"
)

// Protection bits of a mapping, as mmap(2)'s prot gives them.
const (
	ProtRead  = 0x1
	ProtWrite = 0x2
	ProtExec  = 0x4
)

// DeletedSuffix is what the kernel appends to the path of a mapped file
// that was unlinked.
const DeletedSuffix = " (deleted)"

// Mapping is one line of /proc/PID/maps.
type Mapping struct {
	// Start and End bound the mapping: [Start, End).
	Start, End uint64
	// Prot holds ProtRead, ProtWrite and ProtExec.
	Prot uint32
	// Shared is true for a shared mapping ('s'), false for a private one
	// ('p').
	Shared bool
	// Offset is the file offset that Start maps.
	Offset uint64
	// Major and Minor are the device of the mapped file, Inode its inode;
	// all zero for an anonymous mapping.
	Major, Minor uint32
	Inode        uint64
	// Path is the mapped file, without the " (deleted)" suffix; a pseudo
	// path such as "[vdso]", "[heap]" or "[stack]"; or "" when anonymous.
	Path string
	// Deleted is true when the file was unlinked after it was mapped.
	Deleted bool
}

// ExecLine reports whether a maps line is that of an executable mapping,
// from its permissions alone ("start-end r-xp ..."), without parsing the
// rest: a reader that wants those alone skips the others before they cost
// an allocation.
func ExecLine(line []byte) bool {
	for i, c := range line {
		if c == ' ' {
			return len(line) >= i+4 && line[i+3] == 'x'
		}
	}
	return false
}

// ParseMapsLine parses one line of /proc/PID/maps:
//
//	55d4c2a00000-55d4c2a01000 r-xp 00001000 08:01 1234567    /usr/bin/my app (deleted)
//
// The path runs to the end of the line, spaces included. An error matches
// ErrFormat.
func ParseMapsLine(line string) (Mapping, error) {
	var m Mapping
	rest := line
	field := func() string {
		rest = strings.TrimLeft(rest, " \t")
		i := strings.IndexAny(rest, " \t")
		if i < 0 {
			f := rest
			rest = ""
			return f
		}
		f := rest[:i]
		rest = rest[i:]
		return f
	}
	addrs, perms, off, dev, ino := field(), field(), field(), field(), field()
	start, end, ok := strings.Cut(addrs, "-")
	if !ok {
		return m, mapsError("bad address range %q in %q", addrs, line)
	}
	var err error
	if m.Start, err = strconv.ParseUint(start, 16, 64); err != nil {
		return m, mapsError("bad start address in %q: %v", line, err)
	}
	if m.End, err = strconv.ParseUint(end, 16, 64); err != nil {
		return m, mapsError("bad end address in %q: %v", line, err)
	}
	if m.End < m.Start {
		return m, mapsError("end before start in %q", line)
	}
	if len(perms) != 4 {
		return m, mapsError("bad permissions %q in %q", perms, line)
	}
	if perms[0] == 'r' {
		m.Prot |= ProtRead
	}
	if perms[1] == 'w' {
		m.Prot |= ProtWrite
	}
	if perms[2] == 'x' {
		m.Prot |= ProtExec
	}
	m.Shared = perms[3] == 's'
	if m.Offset, err = strconv.ParseUint(off, 16, 64); err != nil {
		return m, mapsError("bad offset in %q: %v", line, err)
	}
	maj, min, ok := strings.Cut(dev, ":")
	if !ok {
		return m, mapsError("bad device %q in %q", dev, line)
	}
	v, err := strconv.ParseUint(maj, 16, 32)
	if err != nil {
		return m, mapsError("bad device major in %q: %v", line, err)
	}
	m.Major = uint32(v)
	if v, err = strconv.ParseUint(min, 16, 32); err != nil {
		return m, mapsError("bad device minor in %q: %v", line, err)
	}
	m.Minor = uint32(v)
	if m.Inode, err = strconv.ParseUint(ino, 10, 64); err != nil {
		return m, mapsError("bad inode in %q: %v", line, err)
	}
	// The path starts after the padding that follows the inode and runs
	// to the end of the line, spaces included.
	path := strings.TrimLeft(rest, " \t")
	if m.Inode != 0 || strings.HasPrefix(path, "/") {
		if p, ok := strings.CutSuffix(path, DeletedSuffix); ok {
			path, m.Deleted = p, true
		}
	}
	m.Path = path
	return m, nil
}

func mapsError(format string, args ...any) error {
	return &parseError{fmt.Sprintf(format, args...)}
}
