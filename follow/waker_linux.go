package follow

import (
	"os"
	"strconv"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// The waker wakes the tracer's blocking wait4 for a request. It is a child
// process that perfprof starts once per Tracer (this binary again, found
// by wakerEnv in its environment): it sleeps on a pipe, and for each byte
// it reads it stops itself with SIGSTOP. The stop of an untraced child is
// a state change that wait4 reports with WUNTRACED; the tracer continues
// the waker (SIGCONT) and serves its requests. A request thus costs a pipe
// write and two context switches, not a process start.
//
// The waker is in a process group of its own, so that no terminal signal
// reaches it, and keeps no fd of perfprof's but its pipe: it ends at the
// pipe's end of file, when the tracer closes it or perfprof dies.
const wakerEnv = "PERFPROF_WAKER"

func init() {
	if os.Getenv(wakerEnv) != "" {
		runWaker()
	}
	if os.Getenv(wakeEnv) != "" {
		// A one-shot waker (see Tracer.wake): exit_group at once. os.Exit
		// would run exit hooks (and a race build's would sleep).
		unix.Exit(0)
	}
}

// runWaker is the waker process; it reads its pipe on fd 0.
func runWaker() {
	setComm("perfprof-waker") // not "exe" (from /proc/self/exe) in ps and in samples
	var buf [64]byte
	for {
		n, err := unix.Read(0, buf[:])
		if err == unix.EINTR {
			continue
		}
		if n <= 0 {
			unix.Exit(0)
		}
		unix.Kill(unix.Getpid(), unix.SIGSTOP)
	}
}

// waker is the tracer's handle on its waker process.
type waker struct {
	pid  int
	w    int         // the pipe's write end, non-blocking
	dead atomic.Bool // it exited: Tracer.wake falls back to one-shot wakers
}

// startWaker starts the waker process.
func startWaker() (*waker, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	if err := unix.SetNonblock(p[1], true); err != nil {
		unix.Close(p[0])
		unix.Close(p[1])
		return nil, os.NewSyscallError("fcntl", err)
	}
	// The pipe on fd 0, and every other fd closed, down to those
	// perfprof inherited (which are not close-on-exec).
	files := []uintptr{uintptr(p[0])}
	for fd := 1; fd <= maxFD(); fd++ {
		files = append(files, ^uintptr(0))
	}
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"perfprof-waker"}, &syscall.ProcAttr{
		Env:   []string{wakerEnv + "=1"},
		Files: files,
		Sys:   &syscall.SysProcAttr{Setpgid: true},
	})
	unix.Close(p[0])
	if err != nil {
		unix.Close(p[1])
		return nil, err
	}
	return &waker{pid: pid, w: p[1]}, nil
}

// maxFD returns the highest fd open in this process.
func maxFD() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 2
	}
	m := 2
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > m {
			m = fd
		}
	}
	return m
}

// poke asks the waker to stop; it reports false if the waker is gone.
// Pokes that come while one is pending are one wake-up: a full pipe is
// fine.
func (w *waker) poke() bool {
	if w.dead.Load() {
		return false
	}
	_, err := unix.Write(w.w, []byte{1})
	return err == nil || err == unix.EAGAIN
}

// handle acts on a wait status of the waker. Precondition: on the tracer
// thread.
func (w *waker) handle(ws unix.WaitStatus) {
	switch {
	case ws.Stopped():
		unix.Kill(w.pid, unix.SIGCONT)
	case ws.Exited() || ws.Signaled():
		w.dead.Store(true)
	}
}

// close ends the waker and reaps it. Precondition: on the tracer thread,
// once the wait loop has ended.
func (w *waker) close() {
	unix.Close(w.w)
	if !w.dead.Load() {
		unix.Kill(w.pid, unix.SIGKILL)
		var ws unix.WaitStatus
		for {
			_, err := unix.Wait4(w.pid, &ws, unix.WALL, nil)
			if err != unix.EINTR {
				break
			}
		}
		w.dead.Store(true)
	}
}
