package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// helperEnv tells a re-executed test binary what daemon to play: "ready"
// says a line on stderr and attaches, "exit N" says a line and exits N.
const helperEnv = "PERFPROF_DAEMON_TEST"

func TestMain(m *testing.M) {
	if what := os.Getenv(helperEnv); what != "" && InDaemon() {
		fmt.Fprintln(os.Stderr, "daemon says:", what)
		if what == "ready" {
			Ready()
			fmt.Fprintln(os.Stderr, "after ready: nobody hears this")
			os.Exit(0)
		}
		code, _ := strconv.Atoi(strings.TrimPrefix(what, "exit "))
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func TestStart(t *testing.T) {
	for _, tc := range []struct {
		what       string
		wantPID    bool
		wantStatus int
	}{
		{"ready", true, 0},
		{"exit 3", false, 3},
		{"exit 0", false, 1}, // ended before it attached: a failure all the same
	} {
		t.Run(tc.what, func(t *testing.T) {
			t.Setenv(helperEnv, tc.what)
			var stderr bytes.Buffer
			pid, status, err := Start(&stderr)
			if err != nil {
				t.Fatal(err)
			}
			if (pid > 0) != tc.wantPID || status != tc.wantStatus {
				t.Errorf("Start = pid %d, status %d; want a pid %v, status %d", pid, status, tc.wantPID, tc.wantStatus)
			}
			if got := stderr.String(); got != "daemon says: "+tc.what+"\n" {
				t.Errorf("the starter's stderr = %q, want the daemon's line until it attached, only", got)
			}
		})
	}
}

func TestPidFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pp.pid")
	p, err := LockPidFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Locked before it is written: a second start is told someone is
	// starting.
	var be *BusyError
	if _, err := LockPidFile(path); !errors.As(err, &be) || be.PID != "" {
		t.Fatalf("second lock before the write = %v, want a *BusyError with no pid", err)
	}
	if err := p.Write(4242); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "4242\n" {
		t.Errorf("pid file = %q, want 4242", b)
	}
	if _, err := LockPidFile(path); !errors.As(err, &be) || be.PID != "4242" || be.Path != path {
		t.Fatalf("second lock = %v, want a *BusyError naming 4242", err)
	}
	if m, _ := filepath.Glob(path + ".*.tmp"); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
	p.Remove()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("after Remove: %v, want the file gone", err)
	}

	// A stale file (its holder gone: no lock) is taken over.
	os.WriteFile(path, []byte("999999\n"), 0o644)
	p, err = LockPidFile(path)
	if err != nil {
		t.Fatalf("stale pid file: %v", err)
	}
	// A file put in its place by someone else is not removed.
	other := path + ".other"
	os.WriteFile(other, []byte("1\n"), 0o644)
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	p.Remove()
	if b, _ := os.ReadFile(path); string(b) != "1\n" {
		t.Errorf("Remove removed another's file (now %q)", b)
	}
}
