package symbol

import (
	"bytes"
	"debug/elf"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
)

// DebugDirs are where separate debug files are looked for, as gdb and
// perf look: DIR/.build-id/xx/yyyy.debug by build id, and DIR/PATHDIR/NAME
// by .gnu_debuglink. Distributions install them there (Debian's -dbg and
// -dbgsym packages).
var DebugDirs = []string{"/usr/lib/debug"}

// openDebug opens the separate debug file of f, the file at path in the
// file system under root ("" or /proc/PID/root): by f's build id in
// DebugDirs, else by its .gnu_debuglink (NAME and its CRC-32) next to the
// file, in its .debug directory, and under DebugDirs. It returns nil when
// f has a .symtab already, or when no debug file is found. A debug file
// must have f's build id, or, without one, the link's CRC.
func openDebug(f *elf.File, root, path string) (*os.File, *elf.File) {
	if f.Section(".symtab") != nil {
		return nil, nil
	}
	id := BuildID(f)
	var names []string
	if len(id) > 2 {
		for _, d := range DebugDirs {
			names = append(names, filepath.Join(d, ".build-id", id[:2], id[2:]+".debug"))
		}
	}
	name, crc, linked := debugLink(f)
	if linked && filepath.IsAbs(path) {
		dir := filepath.Dir(path)
		names = append(names, filepath.Join(dir, name), filepath.Join(dir, ".debug", name))
		for _, d := range DebugDirs {
			names = append(names, filepath.Join(d, dir, name))
		}
	}
	for _, n := range names {
		for _, r := range uniq(root, "") {
			df, err := os.Open(r + n)
			if err != nil {
				continue
			}
			ef, err := elf.NewFile(df)
			if err == nil && ef.Section(".symtab") != nil && matches(f, id, ef, df, crc, linked) {
				return df, ef
			}
			df.Close()
		}
	}
	return nil, nil
}

// matches reports whether ef (in df) is the debug file of a file with
// build id id (or "") and debug link CRC crc (if linked).
func matches(f *elf.File, id string, ef *elf.File, df *os.File, crc uint32, linked bool) bool {
	if id != "" {
		return BuildID(ef) == id
	}
	if !linked {
		return false
	}
	h := crc32.NewIEEE()
	if _, err := io.Copy(h, io.NewSectionReader(df, 0, 1<<62)); err != nil {
		return false
	}
	return h.Sum32() == crc
}

// debugLink returns the file name and CRC-32 of f's .gnu_debuglink.
func debugLink(f *elf.File) (name string, crc uint32, ok bool) {
	s := f.Section(".gnu_debuglink")
	if s == nil {
		return "", 0, false
	}
	data, err := s.Data()
	if err != nil {
		return "", 0, false
	}
	end := bytes.IndexByte(data, 0)
	if end <= 0 {
		return "", 0, false
	}
	off := align4(uint64(end) + 1)
	if off+4 > uint64(len(data)) {
		return "", 0, false
	}
	name = string(data[:end])
	if filepath.Base(name) != name {
		return "", 0, false // a name, not a path
	}
	return name, f.ByteOrder.Uint32(data[off:]), true
}

// uniq returns its arguments, without a repeated one.
func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}
