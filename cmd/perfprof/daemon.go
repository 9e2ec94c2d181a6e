package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The daemon. perfprof --daemon starts itself again in a session of its
// own (Go cannot fork), with the same arguments, and the command the user
// typed waits until the daemon has attached, or failed: what the daemon
// writes on standard error until then comes out on the user's, and a bad
// pid or event is an error there, with the daemon's exit status and no
// daemon left behind. Once attached, the daemon writes its pid file,
// tells systemd (sd_notify), says so to its starter through a pipe, and
// writes its messages into its report (-o) from then on.

// daemonEnv names the environment variable that tells the daemon the fd
// of its pipe to its starter.
const daemonEnv = "PERFPROF_DAEMON_FD"

// daemonFD is that fd: the first of exec.Cmd.ExtraFiles.
const daemonFD = 3

// inDaemon reports whether this process is the daemon a starter started.
func inDaemon() bool { return os.Getenv(daemonEnv) != "" }

// startDaemon starts the daemon and waits until it has attached (exit
// status 0) or ended (its exit status); it copies the daemon's standard
// error to stderr until then.
func startDaemon(stderr io.Writer) int {
	cmd, ready, errR, err := spawnDaemon()
	if err != nil {
		fmt.Fprintf(stderr, "perfprof: cannot start the daemon: %v\n", err)
		return exitFailure
	}
	copied := make(chan struct{})
	go func() {
		io.Copy(stderr, errR) // until the daemon lets go of it, or ends
		close(copied)
	}()
	msg, _ := io.ReadAll(ready) // EOF: the daemon said it is attached, or ended
	<-copied
	if pid, ok := bytes.CutPrefix(msg, []byte("ready ")); ok {
		fmt.Fprintf(stderr, "perfprof: daemon %s attached\n", bytes.TrimSpace(pid))
		return exitOK
	}
	cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		return code
	}
	return exitFailure // it ended, successfully, before it attached
}

// spawnDaemon starts perfprof again, with the same arguments, in a
// session of its own, and returns it with the read ends of its pipe to
// its starter and of its standard error.
func spawnDaemon() (cmd *exec.Cmd, ready, errR *os.File, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, nil, err
	}
	null, err := os.Open(os.DevNull)
	if err != nil {
		return nil, nil, nil, err
	}
	defer null.Close()
	ready, readyW, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	defer readyW.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		ready.Close()
		return nil, nil, nil, err
	}
	defer errW.Close()
	// Not a traced workload: the daemon is perfprof itself, and the
	// tracer thread will live in it.
	cmd = exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), daemonEnv+"="+strconv.Itoa(daemonFD))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, null, errW
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		ready.Close()
		errR.Close()
		return nil, nil, nil, err
	}
	return cmd, ready, errR, nil
}

// daemonReady tells the starter that the daemon attached, and lets go of
// the starter's standard error: fd 2 becomes /dev/null (the session's
// messages go into the report from now on).
func daemonReady() {
	f := os.NewFile(daemonFD, "ready")
	fmt.Fprintf(f, "ready %d\n", os.Getpid())
	f.Close()
	if null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		unix.Dup2(int(null.Fd()), 2)
		null.Close()
	}
}

// pidFile is a locked pid file (--pidfile): a daemon holds it locked
// (flock) for as long as it runs, so that a second one with the same file
// refuses to start, and a file whose holder is gone (stale) is taken
// over.
type pidFile struct {
	path string
	f    *os.File // locked: the file at path, once written
}

// lockPidFile takes the pid file at path: it creates it if need be (empty),
// and locks it; a file another live process holds locked is left as it
// is, and is an error naming that process.
func lockPidFile(path string) (*pidFile, error) {
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
		if pid := strings.TrimSpace(string(b)); pid != "" {
			return nil, fmt.Errorf("perfprof %s is running with the pid file %s: stop it first (kill %s), or give another --pidfile", pid, path, pid)
		}
		return nil, fmt.Errorf("another perfprof is starting with the pid file %s: give another --pidfile", path)
	}
	return &pidFile{path: path, f: f}, nil
}

// write puts pid in the file atomically: a new file, locked, renamed over
// the old one, so that a reader never sees it half written.
func (p *pidFile) write(pid int) error {
	tmp := fmt.Sprintf("%s.%d.tmp", p.path, pid)
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("cannot write the pid file: %v", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("cannot lock the pid file: %v", err)
	}
	if _, err := fmt.Fprintf(f, "%d\n", pid); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("cannot write the pid file: %v", err)
	}
	if err := os.Rename(tmp, p.path); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("cannot write the pid file: %v", err)
	}
	p.f.Close() // the old file's lock: it is gone from the path
	p.f = f
	return nil
}

// remove unlinks the file, if the path still names the one this process
// holds, and lets go of it.
func (p *pidFile) remove() {
	if a, err := os.Stat(p.path); err == nil {
		if b, err := p.f.Stat(); err == nil && os.SameFile(a, b) {
			os.Remove(p.path)
		}
	}
	p.f.Close()
}
