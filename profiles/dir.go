package profiles

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Dir is a directory of profiles, one for each interval of a run
// (--pprof-dir): each written atomically (a temporary file renamed into
// place), named by the time its interval ended
// (perfprof-20261129T202300.000Z.pb.gz: names sort by time), the newest
// Keep kept. These are the files Pyroscope, Parca and go tool pprof read
// (see docs/daemon.md).
//
// A Dir is not safe for concurrent use: one goroutine cuts the intervals.
type Dir struct {
	path  string
	keep  int       // profiles kept (0: all)
	since time.Time // the current interval's start
}

// DirPrefix and DirSuffix frame the names of a Dir's profiles; the other
// files of the directory are left alone.
const DirPrefix, DirSuffix = "perfprof-", ".pb.gz"

// OpenDir makes the directory path if need be and checks that a file can
// be written there, so that a run finds out before it attaches anything.
// The first interval starts at start; keep bounds the profiles kept (0:
// all).
func OpenDir(path string, keep int, start time.Time) (*Dir, error) {
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(path, ".perfprof-check-*")
	if err != nil {
		return nil, err
	}
	f.Close()
	os.Remove(f.Name())
	return &Dir{path: path, keep: keep, since: start}, nil
}

// fileName is the name of the profile of the interval that ended at t.
func fileName(t time.Time) string {
	return DirPrefix + t.UTC().Format("20060102T150405.000Z") + DirSuffix
}

// Cut writes b's samples since the last cut (Builder.Cut) as the profile
// of the interval that ends at now, and removes the oldest profiles
// beyond the Dir's keep. The next interval starts at now whatever
// happens: a profile that could not be written is lost, and the caller
// may go on (a daemon tries again at the next interval).
func (d *Dir) Cut(b *Builder, now time.Time) error {
	procs := b.Cut()
	start := d.since
	d.since = now
	err := d.write(fileName(now), func(f *os.File) error {
		return WritePprof(f, b.Events(), procs, start, now.Sub(start))
	})
	if err != nil {
		return err
	}
	return d.prune()
}

// write writes a file called name in the directory, atomically: fn
// writes a temporary file, renamed to name once written and closed. On
// an error, nothing is left of it.
func (d *Dir) write(name string, fn func(*os.File) error) error {
	f, err := os.CreateTemp(d.path, "."+name+".*")
	if err != nil {
		return err
	}
	err = fn(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(d.path, name))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", filepath.Join(d.path, name), err)
	}
	return nil
}

// prune removes the oldest profiles beyond keep (0: none).
func (d *Dir) prune() error {
	if d.keep == 0 {
		return nil
	}
	ents, err := os.ReadDir(d.path)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, DirPrefix) && strings.HasSuffix(n, DirSuffix) {
			names = append(names, n)
		}
	}
	slices.Sort(names) // by time
	for _, n := range names[:max(len(names)-d.keep, 0)] {
		if err := os.Remove(filepath.Join(d.path, n)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}
