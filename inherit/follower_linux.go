package inherit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/perfprof/perfprof/follow"
	"github.com/perfprof/perfprof/internal/procfs"
	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"github.com/perfprof/perfprof/runstats"
	"golang.org/x/sys/unix"
)

// Options configure a Follower. All are read once, by New.
type Options struct {
	// Specs are the events, counting or sampling (perfevent.Sampling).
	Specs []perfevent.Spec
	// Sink learns of each task's start and end (the report model).
	Sink profdev.Sink
	// Samples receives the samples, when Specs sample; a SideBandSink
	// gets the mappings and execs too.
	Samples profdev.SampleSink
	// Events receives the task records (nil: none).
	Events TaskEvents
	// RingOrder: each CPU's ring has 2^RingOrder data pages.
	RingOrder int
	// Linger keeps the run going while no task is followed (--cgroup).
	Linger bool
	// Log, if set, gets a line per target opened (-v).
	Log io.Writer
	// Pulse, if not 0 (counting Specs only), gives Read live counts: each
	// task's counts as of its last Pulse of CPU time (see
	// perfevent.InheritedAttrs). Without, a live task reads as not
	// Valid: the kernel tells its counts at its end.
	Pulse time.Duration
}

// Follower follows targets and every task they create by kernel
// inheritance. See the package doc.
type Follower struct {
	opt Options
	// The two groups opened on each target and CPU (perfevent
	// SideBandAttrs, CountingAttrs), their events' names for errors, and
	// the layouts of their rings' records.
	sideAttrs, countAttrs []unix.PerfEventAttr
	sideNames, countNames []string
	sideFormat            perfevent.RecordFormat
	countFormat           perfevent.RecordFormat
	cpus                  []int
	ringBytes0            uint32 // a ring's data bytes

	// mu guards the table and the targets; the reader holds it while it
	// hands a round's records on.
	mu       sync.Mutex
	tb       *table
	targets  []*target
	side     []*perfevent.RingOwner // per CPU: the side band and the samples
	count    []*countRing           // per CPU: the READ records and the pulses
	epfd     int
	wake     int // an eventfd: Stop, the workload's end and ReadRingsNow write it
	workload int
	wtarget  *target // the workload's
	status   unix.WaitStatus
	reaped   atomic.Bool

	replaced atomic.Int64 // counting rings replaced
	running  atomic.Bool
	stopping atomic.Bool
	drainReq chan chan struct{}
	done     chan struct{}
	result   follow.Result

	// For Stats and RunStats, on any goroutine.
	opened, bad, lost atomic.Int64
	live              atomic.Int64
	ringBytes         atomic.Int64
	statsMu           sync.Mutex
	tasks             runstats.Tasks
	incomplete        int
	sideBand          profdev.SideBandSink
}

// New returns a Follower with no target. Its resources are released when
// the run ends: call Run (and Stop), or Close.
func New(opt Options) (*Follower, error) {
	cpus, err := onlineCPUs()
	if err != nil {
		return nil, err
	}
	sampled := perfevent.Sampled(opt.Specs)
	if sampled {
		opt.Pulse = 0 // the samples are the pulse
	}
	f := &Follower{opt: opt, cpus: cpus, drainReq: make(chan chan struct{}, 1), done: make(chan struct{}),
		sideAttrs:  perfevent.SideBandAttrs(opt.Specs, opt.Specs[0].Attr.Bits&unix.PerfBitMmap2 != 0),
		countAttrs: perfevent.CountingAttrs(opt.Specs, uint64(opt.Pulse)),
		ringBytes0: uint32((1 << opt.RingOrder) * os.Getpagesize())}
	if opt.Pulse > 0 {
		f.countNames = append(f.countNames, "task-clock (pulse)")
	}
	for i := range opt.Specs {
		f.countNames = append(f.countNames, opt.Specs[i].Name)
		if sampled {
			f.sideNames = append(f.sideNames, opt.Specs[i].Name)
		}
	}
	if !sampled {
		f.sideNames = []string{opt.Specs[0].Name}
	}
	if f.sideFormat, err = perfevent.NewRecordFormat(&f.sideAttrs[0]); err != nil {
		return nil, err
	}
	if f.countFormat, err = perfevent.NewRecordFormat(&f.countAttrs[0]); err != nil {
		return nil, err
	}
	f.countFormat.ReadFormat = f.countAttrs[0].Read_format
	f.tb = newTable(len(opt.Specs), len(cpus), opt.Sink, opt.Events)
	f.sideBand, _ = opt.Samples.(profdev.SideBandSink)
	if f.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if f.wake, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		unix.Close(f.epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	if err := epollAdd(f.epfd, f.wake); err != nil {
		unix.Close(f.epfd)
		unix.Close(f.wake)
		return nil, err
	}
	return f, nil
}

func epollAdd(epfd, fd int) error {
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	return nil
}

// onlineCPUs lists the CPUs the events are opened on: every possible one
// that is online now (/sys/devices/system/cpu/online).
func onlineCPUs() ([]int, error) {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return nil, fmt.Errorf("inherit: which CPUs are online: %w", err)
	}
	return parseCPUList(string(b))
}

// countRing is a CPU's counting ring, and the time of the newest record
// read from it: one that stays silent while a task's READ records are
// due in it stalled (see perfevent's doc of the two rings).
type countRing struct {
	*perfevent.RingOwner
	last uint64
}

// newRing maps a ring for CPU index i and has the reader watch it.
func (f *Follower) newRing(i int) (*perfevent.RingOwner, error) {
	// Woken at half a ring; the reader reads every ring every tick anyway.
	o, err := perfevent.NewRingOwner(f.cpus[i], f.opt.RingOrder, f.ringBytes0/2, f.opt.Specs[0].Attr.Bits)
	if err != nil {
		return nil, err
	}
	if err := epollAdd(f.epfd, o.FD); err != nil {
		o.Close()
		return nil, err
	}
	f.ringBytes.Add(int64(o.Ring.Size()))
	return o, nil
}

// mapRings maps the rings of every CPU, once. Precondition: f.mu held.
func (f *Follower) mapRings() error {
	for i := len(f.count); i < len(f.cpus); i++ {
		side, err := f.newRing(i)
		if err != nil {
			return err
		}
		count, err := f.newRing(i)
		if err != nil {
			side.Close()
			return err
		}
		f.side = append(f.side, side)
		f.count = append(f.count, &countRing{RingOwner: count})
	}
	return nil
}

// open opens the groups on task tid, two per CPU, and maps the rings if
// they are not yet. Precondition: f.mu held.
func (f *Follower) open(tg *target, tid int, enableOnExec bool) error {
	if err := f.mapRings(); err != nil {
		return err
	}
	anchor, err := perfevent.Anchor(tid, f.opt.Specs[0].Name)
	if err != nil {
		return err
	}
	tg.anchor = anchor
	for i, cpu := range f.cpus {
		side, err := perfevent.OpenInherited(f.sideAttrs, f.sideNames, tid, cpu, f.side[i].FD, enableOnExec)
		if err != nil {
			tg.close()
			return err
		}
		tg.side = append(tg.side, side)
		count, err := perfevent.OpenInherited(f.countAttrs, f.countNames, tid, cpu, f.count[i].FD, enableOnExec)
		if err != nil {
			tg.close()
			return err
		}
		tg.count = append(tg.count, count)
	}
	first := 0
	if f.opt.Pulse > 0 {
		first = 1
	}
	sideFirst := 1 // the dummy
	if perfevent.Sampled(f.opt.Specs) {
		sideFirst = 0
	}
	for cpu := range f.cpus {
		for j, id := range tg.side[cpu].IDs {
			f.tb.event[id] = eventRef{target: tg, spec: j - sideFirst, cpu: cpu}
		}
		for j, id := range tg.count[cpu].IDs {
			f.tb.event[id] = eventRef{target: tg, spec: j - first, cpu: cpu, counting: true}
		}
	}
	f.opened.Add(int64(len(f.cpus)))
	f.targets = append(f.targets, tg)
	return nil
}

// Launch starts path with argv and env as the workload: its events are
// opened while it is held before its exec, and count from the exec. arm
// is not called: the kernel arms every task. A Follower launches one
// workload, before Run.
func (f *Follower) Launch(path string, argv, env []string, _ follow.ArmFunc) (int, error) {
	if f.running.Load() || f.workload != 0 {
		return 0, errors.New("inherit: launch one workload, before Run")
	}
	comm := filepath.Base(path)
	pid, err := follow.LaunchUntraced(path, argv, env, func(pid int) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		tg := f.tb.addTarget(pid, pid, os.Getpid(), comm)
		if err := f.open(tg, pid, true); err != nil {
			f.tb.end(tg.task, false, false)
			return err
		}
		f.wtarget = tg
		return nil
	})
	if err != nil {
		return 0, err
	}
	f.workload = pid
	f.logf("LAUNCH %d %q", pid, path)
	go f.reap(pid)
	return pid, nil
}

// reap waits for the workload and wakes the reader.
func (f *Follower) reap(pid int) {
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			break
		}
	}
	f.mu.Lock()
	f.status = ws
	f.reaped.Store(true)
	f.mu.Unlock()
	f.poke()
}

// poke wakes the reader.
func (f *Follower) poke() {
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	unix.Write(f.wake, one)
}

// Attach opens the events on a running process (every thread of it), or
// with opt.Thread on one thread; with opt.Tree, on the processes below
// it too. arm is not called. A task that is followed already (it
// inherited the events) is left as it is.
func (f *Follower) Attach(id int, opt follow.AttachOptions, _ follow.ArmFunc) (follow.Attached, error) {
	var a follow.Attached
	st, err := procfs.ReadStat(id)
	if err != nil || st.Zombie() {
		cause := follow.CauseNoProcess
		if err == nil {
			cause = follow.CauseZombie
		}
		return a, &follow.AttachError{PID: id, Cause: cause, Err: unix.ESRCH}
	}
	if id == os.Getpid() {
		return a, &follow.AttachError{PID: id, Cause: follow.CauseSelf, Err: unix.EINVAL}
	}
	pids := []int{id}
	if opt.Tree && !opt.Thread {
		pids = append(pids, descendants(id)...)
	}
	for _, pid := range pids {
		tids := []int{pid}
		if !opt.Thread {
			if tids, err = procfs.Threads(pid); err != nil {
				continue
			}
		}
		for _, tid := range tids {
			if err := f.attachTask(tid, pid); err != nil {
				if pid == id && len(a.TIDs) == 0 {
					return a, attachError(id, err)
				}
				continue
			}
			a.TIDs = append(a.TIDs, tid)
		}
	}
	return a, nil
}

// attachError says why the events could not be opened on target id: it
// is gone (an *follow.AttachError, as the tracer says it), or the open's
// own error (a *perfevent.OpenError: not permitted, not supported...).
func attachError(id int, err error) error {
	if errors.Is(err, perfevent.ErrNoTask) {
		return &follow.AttachError{PID: id, Cause: follow.CauseNoProcess, Err: err}
	}
	return err
}

// attachTask opens the events on task tid of process pid, unless it is
// followed already.
func (f *Follower) attachTask(tid, pid int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tb.tasks[tid] != nil {
		return nil
	}
	ppid := 0
	if st, err := procfs.ReadStat(pid); err == nil {
		ppid = st.PPID
	}
	tg := f.tb.addTarget(tid, pid, ppid, procfs.Comm(pid))
	if err := f.open(tg, tid, false); err != nil {
		f.tb.end(tg.task, false, false)
		return err
	}
	f.logf("ATTACH %d/%d", pid, tid)
	return nil
}

// descendants lists the processes below pid, from /proc.
func descendants(pid int) []int {
	all, err := procfs.PIDs()
	if err != nil {
		return nil
	}
	children := map[int][]int{}
	for _, p := range all {
		if st, err := procfs.ReadStat(p); err == nil && !st.Zombie() {
			children[st.PPID] = append(children[st.PPID], p)
		}
	}
	var out []int
	queue := slices.Clone(children[pid])
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, p)
		queue = append(queue, children[p]...)
	}
	return out
}

func (f *Follower) logf(format string, args ...any) {
	if f.opt.Log != nil {
		fmt.Fprintf(f.opt.Log, "inherit: "+format+"\n", args...)
	}
}

// Run starts the reader goroutine.
func (f *Follower) Run() {
	if f.running.Swap(true) {
		return
	}
	go f.loop()
}

// Stop ends the run: the attached tasks go on uncounted; what is left of
// a launched workload is killed (as the ptrace follower does). The
// records written so far are read first.
func (f *Follower) Stop() {
	f.stopping.Store(true)
	if f.workload != 0 {
		f.mu.Lock()
		for tgid := range f.tb.procs {
			unix.Kill(tgid, unix.SIGKILL)
		}
		f.mu.Unlock()
	}
	f.poke()
}

// Forward passes sig on to the launched workload's process.
func (f *Follower) Forward(sig unix.Signal, _ time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.workload != 0 && !f.reaped.Load() {
		unix.Kill(f.workload, sig)
	}
}

// Done is closed when the run is over.
func (f *Follower) Done() <-chan struct{} { return f.done }

// Wait waits for the end of the run and says how it ended.
func (f *Follower) Wait() follow.Result {
	<-f.done
	return f.result
}

// Close ends the run (Stop) and waits for it; without Run, it releases
// what Launch and Attach opened.
func (f *Follower) Close() follow.Result {
	if !f.running.Swap(true) {
		if f.workload != 0 {
			f.Stop()
		}
		go f.loop()
	}
	f.Stop()
	return f.Wait()
}

// RunStats returns the follower's figures so far.
func (f *Follower) RunStats() runstats.Tasks {
	f.statsMu.Lock()
	defer f.statsMu.Unlock()
	return f.tasks
}

// Stats returns the devices' figures so far: the groups opened (one per
// target and CPU), the records that could not be decoded.
func (f *Follower) Stats() runstats.Devices {
	return runstats.Devices{Opened: int(f.opened.Load()), Live: int(f.live.Load()),
		RingBytesPeak: f.ringBytes.Load(), BadRecords: f.bad.Load()}
}

// Lost returns the records the kernel said it dropped (a ring was full),
// the counting rings replaced because they stalled, and the tasks that
// ended with READ records missing: their counts are unknown. The figures
// are final once the run is over.
func (f *Follower) Lost() (records, stalls int64, tasks int) {
	f.statsMu.Lock()
	defer f.statsMu.Unlock()
	return f.lost.Load(), f.replaced.Load(), f.incomplete
}

// Read returns a Counts for every live task: with a pulse, its counts as
// of its last pulse on each CPU; without, or before its first pulse, not
// Valid (the kernel gives a task's counts at its end only).
func (f *Follower) Read(dst []profdev.Counts) []profdev.Counts {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.opt.Specs)
	dst = dst[:0]
	for _, t := range f.tb.tasks {
		c := profdev.Counts{ID: t.id, Task: t.Task, Comm: t.proc.comm}
		if f.opt.Pulse > 0 && t.live != nil {
			c.Valid, c.Values = true, make([]perfevent.Value, n)
			t.liveValues(c.Values)
		}
		dst = append(dst, c)
	}
	return dst
}

// ReadRingsNow has the reader read every ring now, and returns once it
// has (at once if the run is over).
func (f *Follower) ReadRingsNow() {
	ch := make(chan struct{})
	select {
	case f.drainReq <- ch:
	case <-f.done:
		return
	}
	f.poke()
	select {
	case <-ch:
	case <-f.done:
	}
}

// tick is how often the reader reads every ring, woken or not.
const tick = 100 * time.Millisecond

// loop is the reader: it reads the rings each tick, at each wakeup,
// hands the records on in time order, and ends the run when every target
// and every task they created ended (each target's events hang up), or
// at Stop.
func (f *Follower) loop() {
	var m merger
	events := make([]unix.EpollEvent, 8)
	var stopAt time.Time
	for {
		n, err := unix.EpollWait(f.epfd, events, int(tick/time.Millisecond))
		if err != nil && err != unix.EINTR {
			break
		}
		for i := 0; i < n; i++ {
			if int(events[i].Fd) == f.wake {
				var b [8]byte
				unix.Read(f.wake, b[:])
			}
		}
		var req chan struct{}
		select {
		case req = <-f.drainReq:
		default:
		}
		hup := f.hungUp()
		horizon := monotonicNow()
		f.readRings(&m)
		f.mu.Lock()
		f.handOn(&m, horizon)
		for _, tg := range hup {
			f.retire(tg)
		}
		f.unstall(horizon)
		gone := f.opened.Load() > 0 && len(f.targets) == 0
		f.updateStats()
		f.mu.Unlock()
		if req != nil {
			close(req)
		}
		if f.stopping.Load() && stopAt.IsZero() {
			stopAt = time.Now()
		}
		workloadDone := f.workload == 0 || f.reaped.Load()
		switch {
		case gone && workloadDone && !f.opt.Linger:
		case f.stopping.Load() && (workloadDone || time.Since(stopAt) > 2*time.Second):
		default:
			continue
		}
		break
	}
	f.end(&m)
}

// hungUp returns the targets whose events all hung up: the target and
// every task that inherited them ended. Linux writes a copy's READ record
// before it takes the copy off its event's list, and an event hangs up
// when its task ended and the list is empty: their records are in the
// rings, with times before now.
func (f *Follower) hungUp() []*target {
	f.mu.Lock()
	defer f.mu.Unlock()
	var fds []unix.PollFd
	for _, tg := range f.targets {
		for _, g := range append(tg.side, tg.count...) {
			// Every event of the groups: each hangs up once its own
			// copies ended, and wrote their READ records.
			for _, fd := range g.FDs {
				fds = append(fds, unix.PollFd{Fd: int32(fd)})
			}
		}
	}
	if len(fds) == 0 {
		return nil
	}
	if _, err := unix.Poll(fds, 0); err != nil {
		return nil
	}
	var hup []*target
	i := 0
	for _, tg := range f.targets {
		all := true
		for _, g := range append(tg.side, tg.count...) {
			for range g.FDs {
				all = all && fds[i].Revents&unix.POLLHUP != 0
				i++
			}
		}
		if all {
			hup = append(hup, tg)
		}
	}
	return hup
}

// retire ends a target whose events hung up (see hungUp), and closes
// them. Precondition: f.mu held.
func (f *Follower) retire(tg *target) {
	if tg == f.wtarget {
		if !f.reaped.Load() {
			return // at a later round, with its status
		}
		ws := f.status
		tg.task.status = &ws
	}
	f.tb.retire(tg)
	f.targets = slices.DeleteFunc(f.targets, func(t *target) bool { return t == tg })
	tg.close()
}

// overdueAfter is how long after a task's end its READ records may still
// come: Linux writes them as the task exits, right after its EXIT record.
const overdueAfter = uint64(150 * time.Millisecond)

// unstall gives up on the tasks whose READ records are overdue at now, and
// replaces each counting ring that stalled: one that gave nothing since
// such a task ended, while its READ records were due there. The counting
// events of every target write into the new ring from then on; what the
// old one held is lost, and the reader says how many tasks' counts with
// it. Precondition: f.mu held.
func (f *Follower) unstall(now uint64) {
	if now < overdueAfter {
		return
	}
	late := f.tb.overdue(now - overdueAfter)
	stalled := make([]bool, len(f.count))
	for _, t := range late {
		for i, n := range t.perCPU {
			if n < f.tb.specs && f.count[i].last < t.exitAt {
				stalled[i] = true
			}
		}
		f.tb.giveUp(t)
	}
	for i, s := range stalled {
		if s {
			f.replace(i, now)
		}
	}
}

// replace gives CPU index i a new counting ring. Precondition: f.mu held.
func (f *Follower) replace(i int, now uint64) {
	o, err := f.newRing(i)
	if err != nil {
		f.logf("cannot replace the stalled counting ring of CPU %d: %v", f.cpus[i], err)
		return
	}
	for _, tg := range f.targets {
		if err := tg.count[i].Redirect(o.FD); err != nil {
			f.logf("target %d: %v", tg.task.TID, err)
		}
	}
	// The old ring publishes nothing more: unmapped now, its memory and
	// fd do not pile up over a long run.
	old := f.count[i]
	unix.EpollCtl(f.epfd, unix.EPOLL_CTL_DEL, old.FD, nil)
	f.ringBytes.Add(-int64(old.Ring.Size()))
	old.Close()
	f.count[i] = &countRing{RingOwner: o, last: now}
	f.replaced.Add(1)
	f.logf("CPU %d: counting ring stalled, replaced", f.cpus[i])
}

// readRings copies every ring's records into m. Only the reader reads
// the rings; Attach may map them meanwhile, and the reader replaces a
// counting ring that stalled (under f.mu).
func (f *Follower) readRings(m *merger) {
	f.mu.Lock()
	side, count := slices.Clip(f.side), slices.Clip(f.count)
	f.mu.Unlock()
	for _, o := range side {
		if err := o.Ring.Drain(func(raw []byte) { m.add(raw, &f.sideFormat) }); err != nil {
			f.bad.Add(1)
		}
	}
	for _, c := range count {
		if err := c.Ring.Drain(func(raw []byte) { c.last = max(c.last, m.add(raw, &f.countFormat)) }); err != nil {
			f.bad.Add(1)
		}
	}
}

// handOn hands the records up to horizon on, in time order.
// Precondition: f.mu held.
func (f *Follower) handOn(m *merger, horizon uint64) {
	var rec perfevent.Record
	m.pop(horizon, func(raw []byte, format *perfevent.RecordFormat) {
		if err := perfevent.DecodeRecord(raw, format, &rec); err != nil {
			f.bad.Add(1)
			return
		}
		f.handle(&rec)
	})
	if f.opt.Samples != nil {
		f.opt.Samples.Flush()
	}
}

// handle hands one record on. Precondition: f.mu held.
func (f *Follower) handle(rec *perfevent.Record) {
	tb := f.tb

	switch rec.Type {
	case unix.PERF_RECORD_FORK:
		tb.fork(&rec.Task)
	case unix.PERF_RECORD_EXIT:
		tb.exit(rec.Task.TID, rec.SampleID.Time)
	case unix.PERF_RECORD_READ:
		tb.read(&rec.Read, rec.SampleID.ID)
	case unix.PERF_RECORD_COMM:
		if rec.Misc&perfevent.MiscCommExec != 0 {
			tb.exec(rec.Comm.PID, rec.Comm.TID, string(rec.Comm.Name))
			if t := tb.tasks[rec.Comm.TID]; t != nil && f.sideBand != nil {
				f.sideBand.Exec(t.Task, rec.Comm.Name)
			}
		}
	case unix.PERF_RECORD_MMAP2:
		if t := tb.tasks[rec.Mmap2.TID]; t != nil && f.sideBand != nil {
			f.sideBand.Mmap(t.Task, &rec.Mmap2)
		}
	case unix.PERF_RECORD_SAMPLE:
		t := tb.tasks[rec.Sample.TID]
		ref, ok := tb.event[rec.Sample.ID]
		if ok && ref.counting {
			tb.pulse(rec.Sample.TID, &rec.Sample.Read)
			return
		}
		if t == nil || !ok || ref.spec < 0 || f.opt.Samples == nil {
			return
		}
		f.opt.Samples.Sample(&profdev.Sample{Task: t.Task, Comm: t.proc.comm, Event: ref.spec, Record: &rec.Sample})
	case unix.PERF_RECORD_LOST:
		f.lost.Add(int64(rec.Lost.Count))
		if f.opt.Samples != nil {
			f.opt.Samples.Lost(pidtree.Task{}, rec.Lost.Count)
		}
	}
}

// updateStats publishes the table's figures. Precondition: f.mu held.
func (f *Follower) updateStats() {
	tb := f.tb
	f.live.Store(int64(len(tb.tasks)))
	f.statsMu.Lock()
	f.tasks = runstats.Tasks{Followed: tb.followed, Created: tb.created, Ended: tb.ended}
	f.incomplete = tb.incomplete
	f.statsMu.Unlock()
}

// end reads what is left in the rings, ends every task, and releases the
// events and rings.
func (f *Follower) end(m *merger) {
	f.readRings(m)
	f.mu.Lock()
	f.handOn(m, ^uint64(0))
	if f.reaped.Load() {
		if tg := f.wtarget; tg != nil && f.tb.tasks[tg.task.TID] == tg.task {
			ws := f.status
			tg.task.status = &ws
		}
		f.result.Workload, f.result.HaveWorkload = f.status, true
	}
	f.tb.finish()
	f.result.Stopped = f.stopping.Load()
	f.updateStats()
	for _, tg := range f.targets {
		tg.close()
	}
	for _, o := range f.side {
		o.Close()
	}
	for _, c := range f.count {
		c.Close()
	}
	f.side, f.count, f.targets = nil, nil, nil
	f.mu.Unlock()
	unix.Close(f.epfd)
	unix.Close(f.wake)
	close(f.done)
}
