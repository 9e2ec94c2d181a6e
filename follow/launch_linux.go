package follow

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/sigstart"
	"golang.org/x/sys/unix"
)

// The launch stub and the wakers are this same binary, re-executed. The
// package's init recognises them by their environment and never returns
// into the program's main.
const (
	// stubEnv holds "READY,CORK" or "READY,CORK,IGNORED,BLOCKED": the
	// stub's two pipe fds, and the signal dispositions and mask to give
	// the workload (sigstart sets).
	stubEnv = "PERFPROF_LAUNCH_STUB"
	// wakeEnv starts a one-shot waker (see Tracer.wake).
	wakeEnv = "PERFPROF_WAKE"
	// stubTasksEnv makes the stub create a task while held (tests).
	stubTasksEnv = "PERFPROF_TEST_STUB_TASKS"
)

func init() {
	if v, ok := os.LookupEnv(stubEnv); ok {
		runStub(v)
	}
}

// stubConfig is what the launch stub is told in stubEnv.
type stubConfig struct {
	ready, cork      int // the stub writes a byte on ready, then waits on cork
	signals          bool
	ignored, blocked sigstart.Set
}

func (c stubConfig) String() string {
	s := fmt.Sprintf("%d,%d", c.ready, c.cork)
	if c.signals {
		s += "," + c.ignored.String() + "," + c.blocked.String()
	}
	return s
}

func parseStubConfig(v string) (stubConfig, error) {
	var c stubConfig
	f := strings.Split(v, ",")
	if len(f) != 2 && len(f) != 4 {
		return c, fmt.Errorf("bad %s %q", stubEnv, v)
	}
	var err1, err2 error
	c.ready, err1 = strconv.Atoi(f[0])
	c.cork, err2 = strconv.Atoi(f[1])
	if err := errors.Join(err1, err2); err != nil {
		return c, fmt.Errorf("bad %s %q", stubEnv, v)
	}
	if len(f) == 4 {
		c.signals = true
		c.ignored, err1 = sigstart.ParseSet(f[2])
		c.blocked, err2 = sigstart.ParseSet(f[3])
		if err := errors.Join(err1, err2); err != nil {
			return c, err
		}
	}
	return c, nil
}

// runStub is the launch stub: it waits to be released, then execs the
// workload from its main thread, the one the tracer seized, with the
// signal dispositions and mask perfprof was started with. Package init
// runs on the main thread with the goroutine locked to it.
func runStub(config string) {
	runtime.LockOSThread()
	setComm("perfprof-launch") // until the workload's exec names it
	c, err := parseStubConfig(config)
	if err != nil {
		fmt.Fprintf(os.Stderr, "perfprof: launch stub: %v\n", err)
		os.Exit(125)
	}
	unix.Write(c.ready, []byte{1})
	unix.Close(c.ready)
	var b [1]byte
	n, _ := unix.Read(c.cork, b[:])
	unix.Close(c.cork)
	if n != 1 {
		// The tracer gave up on the launch.
		os.Exit(125)
	}
	if os.Getenv(stubTasksEnv) != "" {
		// Tests: a task created by the seized stub before its exec is
		// not the workload's; the tracer must let it go unharmed. (The Go
		// runtime's own new threads come from its template thread, which
		// is not traced.)
		if pid, err := syscall.ForkExec("/bin/true", []string{"true"}, nil); err == nil {
			var ws syscall.WaitStatus
			syscall.Wait4(pid, &ws, 0, nil)
		}
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, stubEnv+"=")
	})
	path, argv := os.Args[1], os.Args[2:]
	if c.signals {
		// From here on a signal acts on the stub as it would on the
		// workload: the Go runtime's handlers are gone.
		if err := sigstart.Apply(c.ignored, c.blocked); err != nil {
			fmt.Fprintf(os.Stderr, "perfprof: cannot give %q the signal state perfprof was started with: %v\n", path, err)
			os.Exit(126)
		}
	}
	err = syscall.Exec(path, argv, env)
	if errors.Is(err, unix.ENOEXEC) {
		// No #! line and not a binary the kernel knows: run it with the
		// shell, as execvp(3), env(1) and the shells do.
		err = syscall.Exec(shell, append([]string{shell, path}, argv[1:]...), env)
	}
	fmt.Fprintf(os.Stderr, "perfprof: cannot run %q: %v\n", path, err)
	if errors.Is(err, unix.ENOENT) {
		os.Exit(127)
	}
	os.Exit(126)
}

// shell runs a workload file that the kernel cannot exec (ENOEXEC).
const shell = "/bin/sh"

// ArmFunc opens the devices for a task the tracer just took over (and
// holds stopped, or for a launched workload, held before its exec). It runs
// on the tracer thread.
type ArmFunc func(task pidtree.Task) ([]pidtree.Device, error)

// Launch starts path with argv and env as the workload: it is seized
// before it runs its first instruction, armed, and then released to exec.
// Its wait status is the Result's Workload. A tracer launches one
// workload, before or after Run.
func (t *Tracer) Launch(path string, argv, env []string, arm ArmFunc) (pid int, err error) {
	r := &launchRequest{call: newCall(), path: path, argv: argv, env: env, arm: arm}
	if err := t.do(r, r.done); err != nil {
		return 0, err
	}
	return r.pid, r.err
}

// stub is a launch stub held before its exec.
type stub struct {
	pid  int
	cork int // write a byte to release it
}

// startStub starts the launch stub for path and waits until it is ready
// to be seized. The stub gets perfprof's standard input, output and error,
// every other file descriptor perfprof was started with, and its two pipes
// on the fds they have here.
func startStub(path string, argv, env []string) (*stub, error) {
	var ready, cork [2]int
	if err := unix.Pipe2(ready[:], unix.O_CLOEXEC); err != nil {
		return nil, os.NewSyscallError("pipe2", err)
	}
	defer unix.Close(ready[0])
	if err := unix.Pipe2(cork[:], unix.O_CLOEXEC); err != nil {
		unix.Close(ready[1])
		return nil, os.NewSyscallError("pipe2", err)
	}
	c := stubConfig{ready: ready[1], cork: cork[0]}
	if sigstart.Known() {
		c.signals, c.ignored, c.blocked = true, sigstart.Ignored(), sigstart.Blocked()
	}
	args := append([]string{"perfprof-launch", path}, argv...)
	pid, err := syscall.ForkExec("/proc/self/exe", args, &syscall.ProcAttr{
		Env:   append(slices.Clip(env), stubEnv+"="+c.String()),
		Files: stubFiles(c.ready, c.cork),
	})
	unix.Close(ready[1])
	unix.Close(cork[0])
	if err != nil {
		unix.Close(cork[1])
		return nil, fmt.Errorf("start %q: %w", path, err)
	}
	s := &stub{pid: pid, cork: cork[1]}
	var b [1]byte
	if n, err := unix.Read(ready[0], b[:]); n != 1 {
		s.abort()
		return nil, fmt.Errorf("start %q: launch stub did not start (%v)", path, err)
	}
	return s, nil
}

// stubFiles is the ProcAttr.Files that starts the stub with fds 0 to 2,
// the pipes ready and cork at their own numbers, and every fd that is not
// close-on-exec: those perfprof inherited (a make jobserver's pipe, a
// socket passed by systemd), for Go opens all of its own close-on-exec.
// ForkExec leaves the fds beyond the list alone, and makes those in it
// that are not -1 survive the exec.
func stubFiles(ready, cork int) []uintptr {
	files := []uintptr{0, 1, 2}
	for fd := 3; fd <= max(ready, cork); fd++ {
		f := ^uintptr(0) // -1: closed in the stub, as exec would close it
		if fd == ready || fd == cork {
			f = uintptr(fd)
		} else if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			f = uintptr(fd)
		}
		files = append(files, f)
	}
	return files
}

// abort kills and reaps the stub.
func (s *stub) abort() {
	unix.Close(s.cork)
	unix.Kill(s.pid, unix.SIGKILL)
	var ws unix.WaitStatus
	unix.Wait4(s.pid, &ws, unix.WALL, nil)
}

// release lets the stub exec the workload.
func (s *stub) release() error {
	defer unix.Close(s.cork)
	_, err := unix.Write(s.cork, []byte{1})
	return err
}

// errTwoWorkloads is returned by a second Launch.
var errTwoWorkloads = errors.New("follow: a tracer launches one workload")

// launch runs on the tracer thread.
func (t *Tracer) launch(path string, argv, env []string, arm ArmFunc) (int, error) {
	if t.workload != 0 {
		return 0, errTwoWorkloads
	}
	s, err := startStub(path, argv, env)
	if err != nil {
		return 0, err
	}
	pid := s.pid
	if err := seize(pid, seizeOptions|unix.PTRACE_O_EXITKILL); err != nil {
		s.abort()
		return 0, fmt.Errorf("start %q: seize: %w", path, err)
	}
	n, _ := t.tree.Insert(pid, pid, t.self, true)
	n.Prelaunch = true
	n.Proc = t.newProc()
	t.workload = pid
	t.counts.followed.Add(1)
	t.logf("LAUNCH %d %q", pid, path)
	devs, err := arm(n.Task())
	for _, d := range devs {
		t.tree.Link(n, d)
	}
	if err == nil {
		err = s.release()
	}
	if err != nil {
		t.tree.Remove(n)
		t.workload = 0
		s.abort()
		return 0, err
	}
	return pid, nil
}

// LaunchUntraced starts path like Launch but does not trace it: arm opens
// its counters (enable-on-exec) while it is held before its exec. The
// caller reaps it (wait4 on the returned pid).
func LaunchUntraced(path string, argv, env []string, arm func(pid int) error) (int, error) {
	s, err := startStub(path, argv, env)
	if err != nil {
		return 0, err
	}
	if err := arm(s.pid); err != nil {
		s.abort()
		return 0, err
	}
	if err := s.release(); err != nil {
		s.abort()
		return 0, err
	}
	return s.pid, nil
}
