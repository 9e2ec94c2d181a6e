package perfevent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ReadFormat reads and parses the format of the tracepoint subsys:name
// from tracefs: /sys/kernel/tracing/events/SUBSYS/NAME/format, or else
// /sys/kernel/debug/tracing/events/SUBSYS/NAME/format. Like TracepointID,
// it mounts tracefs when neither is mounted and the caller is root, and
// gives an *UnknownEventError for an unknown tracepoint. A format file the
// parser rejects gives an error that wraps its *FormatError and names the
// file. The format file is readable by root only (mode 0440, unless tracefs
// is mounted with gid=): an unprivileged caller gets an error that matches
// fs.ErrPermission.
func ReadFormat(subsys, name string) (*TracepointFormat, error) {
	full := subsys + ":" + name
	if !validTracefsName(subsys) || !validTracefsName(name) {
		return nil, syntaxErrorf("event %q: malformed tracepoint name", full)
	}
	root := findTracefs()
	if root == "" {
		if err := mountTracefs(); err != nil {
			return nil, err
		}
		if root = findTracefs(); root == "" {
			return nil, errors.New("tracefs is mounted at /sys/kernel/tracing but has no events directory")
		}
	}
	path := filepath.Join(root, "events", subsys, name, "format")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &UnknownEventError{Name: full, Suggestions: suggestTracepoint(root, subsys, name)}
	}
	if err != nil {
		return nil, fmt.Errorf("read tracepoint format of %q: %w", full, err)
	}
	f, err := ParseFormat(b)
	if err != nil {
		return nil, fmt.Errorf("read tracepoint format of %q: %s: %w", full, path, err)
	}
	return f, nil
}
