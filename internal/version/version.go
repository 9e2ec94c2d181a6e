// Package version says which perfprof this is, from the build
// information Go puts into the binary.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// String says which perfprof this is: its module version, the VCS
// revision it was built from (and whether the tree had changes), and the
// Go that built it, as `go version -m` would find them in the binary.
func String() string {
	v := "perfprof (unknown version)"
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v + " " + runtime.Version()
	}
	v = "perfprof " + info.Main.Version
	var rev, when string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev != "" {
		var parts []string
		parts = append(parts, "revision "+rev[:min(12, len(rev))])
		if when != "" {
			parts = append(parts, when)
		}
		if modified {
			parts = append(parts, "with local changes")
		}
		v += " (" + strings.Join(parts, ", ") + ")"
	}
	return fmt.Sprintf("%s %s %s/%s", v, info.GoVersion, runtime.GOOS, runtime.GOARCH)
}
