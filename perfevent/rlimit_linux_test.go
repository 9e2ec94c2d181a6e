package perfevent

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRaiseFileLimit: the soft limit goes up (to fs.nr_open as root), and
// a child still gets the limit this process was started with.
func TestRaiseFileLimit(t *testing.T) {
	var before unix.Rlimit
	if err := prlimit(nil, &before); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", "ulimit -n").Output()
	if err != nil {
		t.Fatal(err)
	}
	child := strings.TrimSpace(string(out))
	got := RaiseFileLimit()
	var after unix.Rlimit
	if err := prlimit(nil, &after); err != nil {
		t.Fatal(err)
	}
	if got != after.Cur || got < before.Cur {
		t.Errorf("RaiseFileLimit = %d; soft limit %d -> %d", got, before.Cur, after.Cur)
	}
	if hasSysResource(t) {
		if nrOpen, ok := readIntFile("/proc/sys/fs/nr_open"); ok && after.Max < uint64(nrOpen) {
			t.Errorf("as root, hard limit %d, want fs.nr_open %d", after.Max, nrOpen)
		}
	}
	out, err = exec.Command("sh", "-c", "ulimit -n").Output()
	if err != nil {
		t.Fatal(err)
	}
	if now := strings.TrimSpace(string(out)); now != child {
		t.Errorf("a child's limit went from %s to %s: it must stay the one perfprof was started with", child, now)
	}
}

// hasSysResource reports whether this process has CAP_SYS_RESOURCE, which
// raising the hard limit needs (root in a container may lack it).
func hasSysResource(t *testing.T) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), "CapEff:\t")
	hex, _, _ := strings.Cut(rest, "\n")
	caps, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return caps&(1<<unix.CAP_SYS_RESOURCE) != 0
}
