package daemon

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Env names the environment variable that tells the daemon the fd of its
// pipe to its starter.
const Env = "PERFPROF_DAEMON_FD"

// readyFD is that fd: the first of exec.Cmd.ExtraFiles.
const readyFD = 3

// InDaemon reports whether this process is a daemon that Start started.
func InDaemon() bool { return os.Getenv(Env) != "" }

// Start starts this program again, with the same arguments, as a daemon,
// and waits until it has attached (Ready) or ended, copying what it writes
// on its standard error to stderr until then. It returns the daemon's pid
// once it attached; otherwise pid is 0 and status is the exit status to
// give (the daemon's, 128+signal if it was killed, 1 if it ended with 0
// before it attached). err is a failure to start it.
func Start(stderr io.Writer) (pid int, status int, err error) {
	cmd, ready, errR, err := spawn()
	if err != nil {
		return 0, 0, err
	}
	defer ready.Close()
	defer errR.Close()
	copied := make(chan struct{})
	go func() {
		io.Copy(stderr, errR) // until the daemon lets go of it, or ends
		close(copied)
	}()
	msg, _ := io.ReadAll(ready) // EOF: the daemon said it is attached, or ended
	<-copied
	if p, ok := bytes.CutPrefix(msg, []byte("ready ")); ok {
		pid, _ = strconv.Atoi(string(bytes.TrimSpace(p)))
		return pid, 0, nil
	}
	cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 0, 128 + int(ws.Signal()), nil
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		return 0, code, nil
	}
	return 0, 1, nil // it ended, successfully, before it attached
}

// spawn starts this program again, with the same arguments, in a session
// of its own, and returns it with the read ends of its pipe to its
// starter and of its standard error.
func spawn() (cmd *exec.Cmd, ready, errR *os.File, err error) {
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
	cmd.Env = append(os.Environ(), Env+"="+strconv.Itoa(readyFD))
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

// Ready tells the starter that the daemon attached, and lets go of the
// starter's standard error: fd 2 becomes /dev/null (the daemon's messages
// go into its report from now on). Call it once, in the daemon.
func Ready() {
	f := os.NewFile(readyFD, "ready")
	io.WriteString(f, "ready "+strconv.Itoa(os.Getpid())+"\n")
	f.Close()
	if null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		unix.Dup2(int(null.Fd()), 2)
		null.Close()
	}
}
