package perfevent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// tracefsRoots are where tracefs is looked for, in order. The debugfs path
// is the pre-4.1 location; it automounts tracefs when debugfs is mounted.
var tracefsRoots = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// tracefsMountMu serialises the mount attempt, so that two parses racing
// on an unmounted tracefs do not stack two mounts.
var tracefsMountMu sync.Mutex

// TracepointID returns the id of the tracepoint subsys:name, as read from
// tracefs: /sys/kernel/tracing/events/SUBSYS/NAME/id, or else
// /sys/kernel/debug/tracing/events/SUBSYS/NAME/id.
//
// If neither is mounted and the caller is root (euid 0), TracepointID
// mounts tracefs at /sys/kernel/tracing and tries again (the mount stays).
// Otherwise the error says how to mount it.
//
// An unknown tracepoint gives an *UnknownEventError named "subsys:name",
// whose suggestions are close tracepoints of that subsystem when the
// subsystem exists.
func TracepointID(subsys, name string) (uint64, error) {
	full := subsys + ":" + name
	if !validTracefsName(subsys) || !validTracefsName(name) {
		return 0, syntaxErrorf("event %q: malformed tracepoint name", full)
	}
	root := findTracefs()
	if root == "" {
		if err := mountTracefs(); err != nil {
			return 0, err
		}
		if root = findTracefs(); root == "" {
			return 0, errors.New("tracefs is mounted at /sys/kernel/tracing but has no events directory")
		}
	}
	path := filepath.Join(root, "events", subsys, name, "id")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, &UnknownEventError{Name: full, Suggestions: suggestTracepoint(root, subsys, name)}
	}
	if err != nil {
		return 0, fmt.Errorf("read tracepoint id of %q: %w", full, err)
	}
	id, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read tracepoint id of %q: %s: %w", full, path, err)
	}
	return id, nil
}

// findTracefs returns the first root of tracefsRoots that holds an events
// directory, or "".
func findTracefs() string {
	for _, r := range tracefsRoots {
		if fi, err := os.Stat(filepath.Join(r, "events")); err == nil && fi.IsDir() {
			return r
		}
	}
	return ""
}

// mountTracefs mounts tracefs at /sys/kernel/tracing if we are root and
// nobody else did it meanwhile.
func mountTracefs() error {
	if os.Geteuid() != 0 {
		return errors.New("tracefs is not mounted: run 'mount -t tracefs nodev /sys/kernel/tracing' as root")
	}
	tracefsMountMu.Lock()
	defer tracefsMountMu.Unlock()
	if findTracefs() != "" {
		return nil
	}
	if err := unix.Mount("nodev", tracefsRoots[0], "tracefs", 0, ""); err != nil {
		return fmt.Errorf("tracefs is not mounted, and mounting it at %s failed: %w", tracefsRoots[0], os.NewSyscallError("mount", err))
	}
	return nil
}

// suggestTracepoint returns close "subsys:event" names of the subsystem,
// or nil if the subsystem does not exist.
func suggestTracepoint(root, subsys, name string) []string {
	ents, err := os.ReadDir(filepath.Join(root, "events", subsys))
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	out := suggest(name, names)
	for i := range out {
		out[i] = subsys + ":" + out[i]
	}
	return out
}
