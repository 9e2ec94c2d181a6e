package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// PidFile is a locked pid file: a daemon holds it locked (flock) for as
// long as it runs, so that a second one with the same file refuses to
// start, and a file whose holder is gone (stale) is taken over.
type PidFile struct {
	path string
	f    *os.File // locked: the file at path, once written
}

// BusyError is a pid file that another live process holds locked. PID is
// what the file says, "" while its holder has not written it yet.
type BusyError struct {
	Path, PID string
}

func (e *BusyError) Error() string {
	if e.PID == "" {
		return fmt.Sprintf("another process is starting with the pid file %s", e.Path)
	}
	return fmt.Sprintf("process %s holds the pid file %s", e.PID, e.Path)
}

// LockPidFile takes the pid file at path: it creates it if need be
// (empty), and locks it. A file another live process holds locked is
// left as it is: a *BusyError.
func LockPidFile(path string) (*PidFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open the pid file: %v", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		b, _ := io.ReadAll(io.LimitReader(f, 64))
		f.Close()
		if !errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("cannot lock the pid file %s: %v", path, err)
		}
		return nil, &BusyError{Path: path, PID: strings.TrimSpace(string(b))}
	}
	return &PidFile{path: path, f: f}, nil
}

// Write puts pid in the file atomically: a new file, locked, renamed over
// the old one, so that a reader never sees it half written.
func (p *PidFile) Write(pid int) error {
	tmp := fmt.Sprintf("%s.%d.tmp", p.path, pid)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("cannot write the pid file: %v", err)
	}
	fail := func(what string, err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("cannot %s the pid file: %v", what, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fail("lock", err)
	}
	if _, err := fmt.Fprintf(f, "%d\n", pid); err != nil {
		return fail("write", err)
	}
	if err := os.Rename(tmp, p.path); err != nil {
		return fail("write", err)
	}
	p.f.Close() // the old file's lock: it is gone from the path
	p.f = f
	return nil
}

// Remove unlinks the file, if the path still names the one this process
// holds, and lets go of it.
func (p *PidFile) Remove() {
	if a, err := os.Stat(p.path); err == nil {
		if b, err := p.f.Stat(); err == nil && os.SameFile(a, b) {
			os.Remove(p.path)
		}
	}
	p.f.Close()
}
