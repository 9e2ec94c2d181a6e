package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/perfprof/perfprof/profiles"
)

// profileDir is --pprof-dir: a pprof profile of each interval, written
// into a directory, atomically (a temporary file renamed), named by the
// time its interval ended (perfprof-20261129T202300.000Z.pb.gz: names
// sort by time), the newest --keep kept. This is what Pyroscope, Parca
// and go tool pprof read (see docs/daemon.md).
type profileDir struct {
	dir   string
	keep  int
	since time.Time // the current interval's start
}

// profilePrefix and profileSuffix frame the names of the profiles.
const profilePrefix, profileSuffix = "perfprof-", ".pb.gz"

// openProfileDir makes dir if need be and checks that perfprof can write
// there, before any target is attached.
func openProfileDir(dir string, keep int, start time.Time) (*profileDir, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, ".perfprof-check-*")
	if err != nil {
		return nil, err
	}
	f.Close()
	os.Remove(f.Name())
	return &profileDir{dir: dir, keep: keep, since: start}, nil
}

// cutProfile writes the samples since the last cut (or the start) as the
// profile of the interval ending now, and removes the oldest beyond
// --keep. A failure is a warning: a daemon goes on, and tries again at
// the next interval.
func (s *session) cutProfile(now time.Time) {
	pd := s.pdir
	s.set.ReadRingsNow() // the rings may hold samples of the interval still
	procs := s.profiles.Cut()
	start := pd.since
	pd.since = now
	name := profilePrefix + now.UTC().Format("20060102T150405.000Z") + profileSuffix
	if err := pd.write(name, func(f *os.File) error {
		return profiles.WritePprof(f, s.profiles.Events(), procs, start, now.Sub(start))
	}); err != nil {
		s.warnf("--pprof-dir: %v", err)
		return
	}
	if err := pd.prune(); err != nil {
		s.warnf("--pprof-dir: %v", err)
	}
}

// write writes a file called name in the directory, atomically.
func (pd *profileDir) write(name string, fn func(*os.File) error) error {
	f, err := os.CreateTemp(pd.dir, "."+name+".*")
	if err != nil {
		return err
	}
	err = fn(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(pd.dir, name))
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", filepath.Join(pd.dir, name), err)
	}
	return nil
}

// prune removes the oldest profiles beyond keep (0: none).
func (pd *profileDir) prune() error {
	if pd.keep == 0 {
		return nil
	}
	ents, err := os.ReadDir(pd.dir)
	if err != nil {
		return err
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, profilePrefix) && strings.HasSuffix(n, profileSuffix) {
			names = append(names, n)
		}
	}
	slices.Sort(names) // by time
	for _, n := range names[:max(len(names)-pd.keep, 0)] {
		if err := os.Remove(filepath.Join(pd.dir, n)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}
