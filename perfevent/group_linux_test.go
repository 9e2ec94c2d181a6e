package perfevent

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/perfprof/perfprof/internal/procfs"
	"golang.org/x/sys/unix"
)

func mustParse(t testing.TB, lists ...string) []Spec {
	t.Helper()
	specs, err := Parse(lists...)
	if err != nil {
		t.Fatal(err)
	}
	return specs
}

// touchPages maps n fresh anonymous pages and writes to each, so that the
// calling thread takes at least n page faults.
func touchPages(t testing.TB, n int) {
	t.Helper()
	if err := touch(n); err != nil {
		t.Fatal(err)
	}
}

func touch(n int) error {
	ps := os.Getpagesize()
	mem, err := unix.Mmap(-1, 0, n*ps, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return err
	}
	for i := 0; i < len(mem); i += ps {
		mem[i] = 1
	}
	return unix.Munmap(mem)
}

// switchOut makes the calling (locked) thread block once, so that it is
// scheduled out and back in. Linux 6.18 only starts a group member whose
// PMU differs from the leader's (page-faults under task-clock) when the
// task is next scheduled in, if the group was opened while the task was
// running; see TestRunningTaskMemberLag.
// Two sleeps: members of a group opened on a running thread start counting
// at its next switch, so the first switch itself may not be counted.
func switchOut() { time.Sleep(time.Millisecond); time.Sleep(time.Millisecond) }

// spin burns CPU on the calling thread for about d.
// spin burns d of the calling thread's CPU time (not of wall time: on a
// loaded machine the thread may wait for a CPU meanwhile). The callers
// count their own thread: they are locked to it.
func spin(d time.Duration) {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	for end := ts.Nano() + d.Nanoseconds(); ts.Nano() < end; {
		unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	}
}

func readGroup(t testing.TB, g *Group) []Value {
	t.Helper()
	v := make([]Value, g.Len())
	if err := g.Read(v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenGroupCounts(t *testing.T) {
	requires(t, swPMU)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	specs := mustParse(t, "task-clock,page-faults,context-switches")
	before := perfFDs()
	g, err := OpenGroup(specs, unix.Gettid(), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if g.Len() != 3 || len(g.FDs()) != 3 || perfFDs() != before+3 {
		t.Fatalf("Len %d, FDs %v, %d new perf fds; want 3", g.Len(), g.FDs(), perfFDs()-before)
	}
	for _, fd := range g.FDs() {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC == 0 {
			t.Errorf("fd %d: flags %#x, %v; want FD_CLOEXEC", fd, flags, err)
		}
	}

	switchOut() // also a context switch to count
	const pages = 64
	touchPages(t, pages)
	spin(2 * time.Millisecond)

	v := readGroup(t, g)
	t.Logf("task-clock %+v, page-faults %+v, context-switches %+v", v[0], v[1], v[2])
	if v[0].Raw < uint64(time.Millisecond) {
		t.Errorf("task-clock = %dns, want at least 1ms", v[0].Raw)
	}
	if v[1].Raw < pages {
		t.Errorf("page-faults = %d, want at least %d", v[1].Raw, pages)
	}
	if v[2].Raw < 1 {
		t.Errorf("context-switches = %d, want at least 1", v[2].Raw)
	}
	for i, x := range v {
		if x.Enabled == 0 || x.Running == 0 || x.Enabled != v[0].Enabled || x.Running != v[0].Running {
			t.Errorf("%s: enabled %d running %d; want the group's non-zero times", specs[i].Name, x.Enabled, x.Running)
		}
	}

	dst := make([]Value, 3)
	if allocs := testing.AllocsPerRun(100, func() {
		if err := g.Read(dst); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Errorf("Read allocates %v times", allocs)
	}
	if err := g.Read(dst[:2]); err == nil {
		t.Error("Read into a short slice succeeded")
	}

	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := g.Read(dst); err == nil {
		t.Error("Read after Close succeeded")
	}
	if perfFDs() != before {
		t.Errorf("%d perf fds left open after Close", perfFDs()-before)
	}
}

func TestEnableDisable(t *testing.T) {
	requires(t, swPMU)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	g, err := OpenGroup(mustParse(t, "task-clock,page-faults"), unix.Gettid(), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.Disable(); err != nil {
		t.Fatal(err)
	}
	v1 := readGroup(t, g)
	spin(time.Millisecond)
	touchPages(t, 8)
	if v2 := readGroup(t, g); !slices.Equal(v1, v2) {
		t.Errorf("disabled group counted: %+v then %+v", v1, v2)
	}
	if err := g.Enable(); err != nil {
		t.Fatal(err)
	}
	switchOut()
	spin(time.Millisecond)
	touchPages(t, 8)
	v3 := readGroup(t, g)
	if v3[0].Raw <= v1[0].Raw || v3[1].Raw < v1[1].Raw+8 {
		t.Errorf("enabled group did not count: %+v then %+v", v1, v3)
	}
}

func TestEnableOnExec(t *testing.T) {
	requires(t, swPMU)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	g, err := OpenGroup(mustParse(t, "task-clock,page-faults"), unix.Gettid(), OpenOptions{EnableOnExec: true})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	spin(time.Millisecond)
	touchPages(t, 8)
	for _, x := range readGroup(t, g) {
		if x != (Value{}) {
			t.Fatalf("group waiting for exec counted: %+v", x)
		}
	}
	// Enable still works on such a group.
	if err := g.Enable(); err != nil {
		t.Fatal(err)
	}
	spin(time.Millisecond)
	if v := readGroup(t, g); v[0].Raw == 0 || v[0].Running == 0 {
		t.Errorf("group did not count after Enable: %+v", v)
	}
}

// TestOpenGroupOtherThread opens a group on another thread while it is
// blocked, as the tracer does for a tracee held in a ptrace stop: every
// event counts from the task's first instruction after that.
func TestOpenGroupOtherThread(t *testing.T) {
	requires(t, swPMU)
	const pages = 64
	tids := make(chan int)
	work := make(chan struct{})
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		<-work
		spin(2 * time.Millisecond)
		done <- touch(pages)
	}()
	tid := <-tids
	// Wait until the thread sleeps (state S): it is off the CPU.
	for deadline := time.Now().Add(5 * time.Second); threadState(tid) != 'S'; {
		if time.Now().After(deadline) {
			t.Fatalf("thread %d never blocked", tid)
		}
		runtime.Gosched()
	}
	g, err := OpenGroup(mustParse(t, "task-clock,page-faults"), tid, OpenOptions{})
	if err != nil {
		close(work)
		<-done
		t.Fatal(err)
	}
	defer g.Close()
	close(work)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	v := readGroup(t, g)
	if v[0].Raw < uint64(time.Millisecond) || v[1].Raw < pages {
		t.Errorf("tid %d: task-clock %d, page-faults %d; want at least 1ms and %d", tid, v[0].Raw, v[1].Raw, pages)
	}
}

// TestRunningTaskMembersCountAtOnce: on a task that is running when the
// group is opened (here the calling thread), every member counts from the
// open. Opened enabled one by one, Linux 6.18 would start page-faults under
// a task-clock leader only at the thread's next context switch; OpenGroup
// enables the leader last to avoid that.
func TestRunningTaskMembersCountAtOnce(t *testing.T) {
	requires(t, swPMU)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	const tries, pages = 5, 16
	for i := range tries {
		g, err := OpenGroup(mustParse(t, "task-clock,page-faults"), unix.Gettid(), OpenOptions{})
		if err != nil {
			t.Fatal(err)
		}
		touchPages(t, pages)
		v := readGroup(t, g)
		g.Close()
		if v[1].Raw < pages {
			t.Fatalf("try %d: page-faults %d after touching %d new pages, want at least %d", i, v[1].Raw, pages, pages)
		}
	}
}

// threadState returns the state letter of thread tid of this process from
// /proc, or 0.
func threadState(tid int) byte {
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		return 0
	}
	// "tid (comm) S ...": the state follows the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 >= len(b) {
		return 0
	}
	return b[i+2]
}

func TestConcurrentRead(t *testing.T) {
	requires(t, swPMU)
	g, err := OpenGroup(mustParse(t, "task-clock,cs"), 0, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			v := make([]Value, 2)
			for range 1000 {
				if err := g.Read(v); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// hasHardwarePMU reports whether cycles can be counted here.
func hasHardwarePMU() bool {
	s, err := Parse("cycles")
	return err == nil && Probe(s) == nil
}

func TestOpenHardware(t *testing.T) {
	requires(t, swPMU)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()

	specs := mustParse(t, "cycles")
	g, err := OpenGroup(specs, tid, OpenOptions{})
	if err == nil {
		defer g.Close()
		t.Log("this machine has a hardware PMU")
		spin(time.Millisecond)
		if v := readGroup(t, g); v[0].Running > 0 && v[0].Raw == 0 {
			t.Errorf("cycles = 0 while running")
		}
		return
	}
	t.Logf("%v", err)
	var oe *OpenError
	if !errors.As(err, &oe) || oe.Event != "cycles" || oe.TID != tid {
		t.Fatalf("error %#v, want an *OpenError for cycles on %d", err, tid)
	}
	if !errors.Is(err, ErrNotSupported) {
		t.Errorf("errors.Is(%v, ErrNotSupported) = false", err)
	}
	var errno unix.Errno
	if !errors.As(err, &errno) || !errors.Is(err, errno) {
		t.Errorf("%v: raw errno not matchable", err)
	}
	if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.EOPNOTSUPP) {
		t.Errorf("%v: errno %d, want ENOENT, ENODEV or EOPNOTSUPP", err, errno)
	}
	if errno == unix.ENOENT {
		want := `open "cycles" for tid ` + strconv.Itoa(tid) + `: event not supported (no such file or directory)`
		if err.Error() != want {
			t.Errorf("Error() = %q, want %q", err, want)
		}
	}
	if oe := (*OpenError)(nil); !errors.As(err, &oe) || !oe.Hardware() {
		t.Errorf("%v: want an *OpenError of a hardware event (the hint names the PMU)", err)
	}
	if err := Probe(specs); !errors.Is(err, ErrNotSupported) {
		t.Errorf("Probe(cycles) = %v, want ErrNotSupported", err)
	}

	// A failing member closes the leader that was already open.
	before := perfFDs()
	if _, err := OpenGroup(mustParse(t, "task-clock,cycles:u"), tid, OpenOptions{}); !errors.Is(err, ErrNotSupported) || !strings.Contains(err.Error(), `"cycles:u"`) {
		t.Errorf("OpenGroup(task-clock,cycles:u) = %v, want ErrNotSupported for cycles:u", err)
	}
	if n := perfFDs() - before; n != 0 {
		t.Errorf("failed OpenGroup leaked %d fds", n)
	}

	// perf's fallback works.
	f, ok := Fallback(specs[0])
	if !ok {
		t.Fatal("no fallback for cycles")
	}
	g, err = OpenGroup([]Spec{f}, tid, OpenOptions{})
	if err != nil {
		t.Fatalf("fallback %s: %v", f.Name, err)
	}
	g.Close()
}

func TestOpenNoTask(t *testing.T) {
	requires(t, swPMU)
	specs := mustParse(t, "task-clock,cs")

	// pid_max is never allocated: pids are below it.
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		t.Fatal(err)
	}
	pidMax, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	before := perfFDs()
	_, err = OpenGroup(specs, pidMax, OpenOptions{})
	if !errors.Is(err, ErrNoTask) || !errors.Is(err, unix.ESRCH) {
		t.Errorf("OpenGroup on tid %d = %v, want ErrNoTask", pidMax, err)
	}

	// A reaped child.
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	if _, err := OpenGroup(specs, pid, OpenOptions{}); !errors.Is(err, ErrNoTask) {
		if _, serr := os.Stat("/proc/" + strconv.Itoa(pid)); serr == nil {
			t.Skipf("pid %d was reused", pid)
		}
		t.Errorf("OpenGroup on reaped pid %d = %v, want ErrNoTask", pid, err)
	}
	if n := perfFDs() - before; n != 0 {
		t.Errorf("failed OpenGroup leaked %d fds", n)
	}
}

func TestOpenGroupEmpty(t *testing.T) {
	if _, err := OpenGroup(nil, 0, OpenOptions{}); err == nil {
		t.Error("OpenGroup(nil) succeeded")
	}
}

func TestTracepointCount(t *testing.T) {
	requires(t, swPMU, tracefs)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	lists := []string{"sched:sched_switch", "task-clock"}
	const getpids = 100
	_, err := TracepointID("syscalls", "sys_enter_getpid")
	hasGetpid := err == nil
	if hasGetpid {
		lists = append(lists, "syscalls:sys_enter_getpid")
	} else {
		t.Logf("no syscall tracepoints: %v", err)
	}
	g, err := OpenGroup(mustParse(t, lists...), unix.Gettid(), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	for range 5 {
		time.Sleep(100 * time.Microsecond)
	}
	for range getpids {
		unix.Getpid()
	}
	v := readGroup(t, g)
	t.Logf("%+v", v)
	if v[0].Raw < 5 {
		t.Errorf("sched:sched_switch = %d, want at least 5", v[0].Raw)
	}
	if hasGetpid && v[2].Raw < getpids {
		t.Errorf("syscalls:sys_enter_getpid = %d, want at least %d", v[2].Raw, getpids)
	}
}

func TestProbe(t *testing.T) {
	requires(t, swPMU)
	before := perfFDs()
	if err := Probe(mustParse(t, "task-clock,cs,page-faults,dummy")); err != nil {
		t.Fatal(err)
	}
	if n := perfFDs() - before; n != 0 {
		t.Errorf("Probe left %d fds open", n)
	}
}

func TestPin(t *testing.T) {
	requires(t, swPMU)
	lists := []string{"task-clock,page-faults,context-switches"}
	if tracefs.check() == "" {
		lists = append(lists, "sched:sched_process_fork")
	}
	specs := mustParse(t, lists...)
	before := perfFDs()
	p, err := Pin(specs)
	if err != nil {
		t.Fatal(err)
	}
	if n := perfFDs() - before; n != len(specs) {
		t.Errorf("Pin opened %d fds, want %d", n, len(specs))
	}
	// Groups still open and count while pinned.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	g, err := OpenGroup(specs, 0, OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spin(time.Millisecond)
	if v := readGroup(t, g); v[0].Raw == 0 {
		t.Errorf("task-clock = 0 while pinned")
	}
	g.Close()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := perfFDs() - before; n != 0 {
		t.Errorf("%d fds left after Close", n)
	}
	if !hasHardwarePMU() {
		if _, err := Pin(mustParse(t, "task-clock,cycles")); !errors.Is(err, ErrNotSupported) {
			t.Errorf("Pin(task-clock,cycles) = %v, want ErrNotSupported", err)
		}
		if n := perfFDs() - before; n != 0 {
			t.Errorf("failed Pin left %d fds", n)
		}
	}
}

func BenchmarkOpenGroupClose(b *testing.B) {
	requires(b, swPMU)
	cases := []struct{ name, events string }{
		{"task-clock", "task-clock"},
		{"3-events", "task-clock,page-faults,context-switches"},
	}
	if tracefs.check() == "" {
		cases = append(cases, struct{ name, events string }{"tracepoint", "sched:sched_switch"})
	}
	for _, c := range cases {
		for _, pin := range []bool{true, false} {
			name := c.name + "/pinned"
			if !pin {
				name = c.name + "/unpinned"
			}
			b.Run(name, func(b *testing.B) {
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				specs := mustParse(b, c.events)
				if pin {
					p, err := Pin(specs)
					if err != nil {
						b.Fatal(err)
					}
					defer p.Close()
				}
				tid := unix.Gettid()
				b.ReportAllocs()
				for b.Loop() {
					g, err := OpenGroup(specs, tid, OpenOptions{})
					if err != nil {
						b.Fatal(err)
					}
					g.Close()
				}
			})
		}
	}
}

func BenchmarkGroupRead(b *testing.B) {
	requires(b, swPMU)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	g, err := OpenGroup(mustParse(b, "task-clock,page-faults,context-switches"), unix.Gettid(), OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	dst := make([]Value, g.Len())
	b.ReportAllocs()
	for b.Loop() {
		if err := g.Read(dst); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLargeGroupOrder opens a group larger than smallGroup and checks that
// values come back in spec order.
func TestLargeGroupOrder(t *testing.T) {
	requires(t, swPMU)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	specs := mustParse(t, "task-clock,dummy,minor-faults,alignment-faults,page-faults,major-faults")
	if len(specs) <= smallGroup {
		t.Fatalf("group of %d is not larger than smallGroup", len(specs))
	}
	g, err := OpenGroup(specs, unix.Gettid(), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	switchOut()
	const pages = 32
	touchPages(t, pages)
	v := readGroup(t, g)
	if v[0].Raw == 0 || v[1].Raw != 0 || v[2].Raw < pages || v[4].Raw < pages || v[4].Raw < v[2].Raw {
		t.Errorf("values out of order: %+v", v)
	}
}

// startChild starts a child that blocks, and returns it with cleanup
// registered. kill makes it a zombie: killed but not reaped.
func startChild(t *testing.T) (pid int, kill func()) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid = cmd.Process.Pid
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
		}
		cmd.Wait()
	})
	return pid, func() {
		t.Helper()
		killed = true
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		// Wait for the exit, leaving the zombie in place.
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if err != unix.EINTR {
				if err != nil {
					t.Fatal(err)
				}
				break
			}
		}
	}
}

// TestTaskEnd reads the end of real tasks from /proc: running and
// sleeping tasks are not ending, a zombie and a reaped task are.
func TestTaskEnd(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if why := taskEnd(unix.Gettid()); why != "" {
		t.Errorf("taskEnd(this thread) = %q, want none", why)
	}
	pid, kill := startChild(t)
	for deadline := time.Now().Add(5 * time.Second); ; {
		if st, err := procfs.ReadStat(pid); err == nil && st.State == 'S' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d never slept", pid)
		}
		time.Sleep(time.Millisecond)
	}
	if why := taskEnd(pid); why != "" {
		t.Errorf("taskEnd(sleeping child) = %q, want none", why)
	}
	kill()
	st, _ := procfs.ReadStat(pid)
	t.Logf("zombie: state %c, flags %#x", st.State, st.Flags)
	if st.State != 'Z' || st.Flags&pfExiting == 0 {
		t.Errorf("zombie %d: state %q flags %#x, want Z with PF_EXITING", pid, st.State, st.Flags)
	}
	if why := taskEnd(pid); why != "the task has exited" {
		t.Errorf("taskEnd(zombie) = %q, want the task has exited", why)
	}

	// A reaped child.
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if why := taskEnd(cmd.Process.Pid); why != "the task has exited" {
		if _, err := os.Stat("/proc/" + strconv.Itoa(cmd.Process.Pid)); err == nil {
			t.Skipf("pid %d was reused", cmd.Process.Pid)
		}
		t.Errorf("taskEnd(reaped child) = %q, want the task has exited", why)
	}
}

// TestOpenExitingTask reproduces the race of a task that exits while its
// group is opened, deterministically: the leader is opened on a live
// child, the child is killed (a zombie, PF_EXITING), and the member is
// opened against that leader. Linux 6.18 says ENODEV, which alone would
// read "event not supported"; on an exiting task it must be ErrNoTask.
func TestOpenExitingTask(t *testing.T) {
	requires(t, swPMU)
	specs := mustParse(t, "task-clock,page-faults")
	before := perfFDs()
	pid, kill := startChild(t)

	leader := specs[0].Attr
	leader.Size = attrSize
	leader.Read_format = readFormat
	leader.Bits = leader.Bits&^bitsSetByOpen | unix.PerfBitDisabled
	lfd, err := perfEventOpen(&leader, pid, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if lfd >= 0 {
			unix.Close(lfd)
		}
	}()
	kill()

	member := specs[1].Attr
	member.Size = attrSize
	member.Read_format = readFormat
	member.Bits &^= bitsSetByOpen
	fd, merr := perfEventOpen(&member, pid, -1, lfd)
	if merr == nil {
		unix.Close(fd)
		t.Fatalf("member opened on zombie %d", pid)
	}
	var errno unix.Errno
	if !errors.As(merr, &errno) {
		t.Fatalf("member open: %v, want an errno", merr)
	}
	t.Logf("member open on a zombie whose leader event was opened before its exit: %v", merr)
	if errno != unix.ENODEV {
		t.Logf("the kernel said %v, not ENODEV as Linux 6.18 does", errno.Error())
	}

	err = openFailed("page-faults", pid, "perf_event_open", merr)
	if !errors.Is(err, ErrNoTask) || !errors.Is(err, errno) || errors.Is(err, ErrNotSupported) {
		t.Errorf("%v: want ErrNoTask and %v, not ErrNotSupported", err, errno.Error())
	}
	want := `open "page-faults" for tid ` + strconv.Itoa(pid) + `: no such task (the task has exited; perf_event_open: ` + errno.Error() + `)`
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
	// No hint: none of the errors a user can do something about.
	for _, hinted := range []error{ErrNotSupported, ErrPermission, ErrTooManyFiles, ErrBusy} {
		if errors.Is(err, hinted) {
			t.Errorf("%v: matches %v, want no hint", err, hinted)
		}
	}
	// The fd limit is perfprof's, whatever the task does.
	if err := openFailed("page-faults", pid, "perf_event_open", openErrnoError(unix.EMFILE)); errors.Is(err, ErrNoTask) || !errors.Is(err, ErrTooManyFiles) {
		t.Errorf("EMFILE on a zombie: %v, want ErrTooManyFiles", err)
	}
	// The group's enable fails the same way.
	eerr := openFailed("task-clock", pid, "PERF_EVENT_IOC_ENABLE", fmt.Errorf("enable counter group: %w", os.NewSyscallError("ioctl", unix.ENODEV)))
	if !errors.Is(eerr, ErrNoTask) || !errors.Is(eerr, unix.ENODEV) || !strings.Contains(eerr.Error(), "no such task (the task has exited; PERF_EVENT_IOC_ENABLE: no such device)") {
		t.Errorf("enable on a zombie: %v, want ErrNoTask", eerr)
	}

	// OpenGroup on the zombie fails at the leader (ESRCH here).
	if _, err := OpenGroup(specs, pid, OpenOptions{}); !errors.Is(err, ErrNoTask) || errors.Is(err, ErrNotSupported) {
		t.Errorf("OpenGroup on zombie %d = %v, want ErrNoTask", pid, err)
	}

	// On a live task the errno keeps its meaning.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	if err := openFailed("cycles", tid, "perf_event_open", openErrnoError(unix.ENODEV)); !errors.Is(err, ErrNotSupported) || errors.Is(err, ErrNoTask) {
		t.Errorf("ENODEV on a live task: %v, want ErrNotSupported", err)
	}
	unix.Close(lfd)
	lfd = -1
	if n := perfFDs() - before; n != 0 {
		t.Errorf("%d perf fds left open", n)
	}
}
