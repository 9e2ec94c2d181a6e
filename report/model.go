package report

import (
	"sort"
	"sync"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"golang.org/x/sys/unix"
)

// DefaultKeep is how many ended rows a Model keeps as rows of their own by
// default.
const DefaultKeep = 1000

// Options say what rows a Model makes.
type Options struct {
	// Events are the counted events, in order.
	Events []perfevent.Spec
	// PerThread makes one row per thread instead of one per process.
	PerThread bool
	// ByComm makes one row per command name instead of one per process.
	ByComm bool
	// Keep is how many ended rows are kept as rows of their own; beyond
	// it, the oldest are folded. 0 means DefaultKeep.
	Keep int
}

// Model is the report model of a run. See the package doc.
type Model struct {
	opt Options
	n   int // events

	readMu   sync.Mutex // one reading of the live devices at a time: Report, Snapshot
	mu       sync.Mutex
	rows     map[key]*row        // live rows and the ended ones kept
	devRow   map[uint64]*row     // the row of each live device
	commLast map[string][]uint64 // ByComm: each name's values at its last report
	folded   map[foldKey]*row    // folded rows
	under    map[key][]*row      // folded rows by the key of the row they are under
	ended    []*row              // ended rows in the order they ended (FIFO); may hold stale entries
	head     int                 // ended[head:] are the entries still to look at
	kept     int                 // ended rows still in rows
	reading  bool                // a Report is reading the live devices
	recent   map[uint64]struct{} // devices that ended while reading
	scratch  []profdev.Counts
}

// key identifies a process row (tid 0) or, with PerThread, a thread row.
type key struct {
	proc uint64
	tid  int
}

// foldKey identifies a folded row: the ended rows of one command name under
// one row (the zero key: at the top).
type foldKey struct {
	parent  key
	comm    string
	threads bool // thread rows (PerThread) folded under their process
}

// row is one row of the model.
type row struct {
	key              key
	fold             *foldKey // set for a folded row
	pid, ppid, tid   int
	proc, parentProc uint64
	comm             string

	done []perfevent.Value // the counts of its ended tasks (Raw scaled)
	live int               // its devices started and not ended

	leaderSeen bool // a task of it led its process (or, per thread, is it)
	exited     bool // its leader was reaped; status is valid
	status     unix.WaitStatus
	letGo      bool // a task of it ended alive (detached, or the run ended)
	unknown    bool // a task of it ended with counts that could not be read
	noStatus   bool // its leader ended, and how is not known (profdev.Final.Ended)
	isEnded    bool // in m.ended, waiting to be folded
	processes  int  // the processes (or threads) it holds: 1, or more when folded

	last     []uint64 // its values at the last report that showed it
	shown    bool     // shown ended in an interval report
	lastProc int      // processes at the last report that showed it (folded rows)
	depth    int      // scratch: its depth in the report being made
}

// NewModel returns an empty Model.
func NewModel(opt Options) *Model {
	if opt.Keep <= 0 {
		opt.Keep = DefaultKeep
	}
	return &Model{
		opt:      opt,
		n:        len(opt.Events),
		rows:     map[key]*row{},
		devRow:   map[uint64]*row{},
		commLast: map[string][]uint64{},
		folded:   map[foldKey]*row{},
		under:    map[key][]*row{},
	}
}

// Options returns the Model's options.
func (m *Model) Options() Options { return m.opt }

func (m *Model) keyOf(t pidtree.Task) key {
	k := key{proc: t.Proc}
	if m.opt.PerThread {
		k.tid = t.TID
	}
	return k
}

// rowOf returns the row of task t, made if it is new.
// Precondition: m.mu held.
func (m *Model) rowOf(t pidtree.Task, comm string) *row {
	k := m.keyOf(t)
	r := m.rows[k]
	if r == nil {
		r = &row{key: k, pid: t.TGID, ppid: t.PPID, proc: t.Proc, parentProc: t.ParentProc,
			comm: comm, done: make([]perfevent.Value, m.n), processes: 1}
		if m.opt.PerThread {
			r.tid = t.TID
		}
		m.rows[k] = r
	}
	return r
}

// leads reports whether t is the task that stands for its row: the
// process's leader, or with PerThread the row's own thread.
func (m *Model) leads(t pidtree.Task) bool { return m.opt.PerThread || !t.Thread() }

// Started records that device id started observing task t (profdev's
// sink). The device stays in the row it started in, whatever its task's
// TID becomes (an exec from a thread gives it the leader's).
func (m *Model) Started(id uint64, t pidtree.Task, comm string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rowOf(t, comm)
	m.devRow[id] = r
	r.live++
	if r.isEnded {
		// A task of a row that had ended (an exec from a thread made a
		// new leader): it is live again.
		r.isEnded = false
		m.kept--
	}
	if m.leads(t) {
		r.leaderSeen = true
		r.comm, r.ppid, r.parentProc = comm, t.PPID, t.ParentProc
	}
}

// Ended records the end of a device (profdev's sink): its counts go into
// its task's row, and a row whose tasks have all ended may be folded.
func (m *Model) Ended(f profdev.Final) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.reading {
		m.recent[f.ID] = struct{}{}
	}
	r := m.devRow[f.ID]
	delete(m.devRow, f.ID)
	if r == nil || m.rows[r.key] != r {
		r = m.rowOf(f.Task, f.Comm) // never started, or its row folded
		r.live++
	}
	if f.Valid {
		add(r.done, f.Values)
	} else {
		r.unknown = true
	}
	if r.live > 0 {
		r.live--
	}
	if m.leads(f.Task) {
		r.leaderSeen = true
		if f.Comm != "" {
			r.comm = f.Comm
		}
		if f.Exited {
			r.exited, r.status = true, f.Status
		}
		r.noStatus = f.Ended
	}
	if !f.Exited && !f.Ended {
		r.letGo = true
	}
	if r.live == 0 && !r.isEnded {
		r.isEnded = true
		m.ended = append(m.ended, r)
		m.kept++
		m.trim()
	}
}

// add adds the scaled values of v into sum.
func add(sum, v []perfevent.Value) {
	for i := range sum {
		if i >= len(v) {
			return
		}
		sum[i].Raw += v[i].Scaled()
		sum[i].Enabled += v[i].Enabled
		sum[i].Running += v[i].Running
	}
}

// trim folds the oldest ended rows while more than Keep are kept.
// Precondition: m.mu held.
func (m *Model) trim() {
	for m.kept > m.opt.Keep && m.head < len(m.ended) {
		r := m.ended[m.head]
		m.ended[m.head] = nil
		m.head++
		if !r.isEnded || m.rows[r.key] != r {
			continue // live again, or already gone
		}
		m.fold(r)
	}
	if m.head > 1024 && m.head*2 > len(m.ended) {
		m.ended = append(m.ended[:0], m.ended[m.head:]...)
		m.head = 0
	}
}

// parentKey returns the key of the row r is shown under, if that row is
// still a row of its own.
func (m *Model) parentKey(r *row) (key, bool) {
	var k key
	if m.opt.PerThread && r.tid != r.pid {
		k = key{proc: r.proc, tid: r.pid} // a thread, under its leader
	} else {
		k = key{proc: r.parentProc}
		if m.opt.PerThread {
			k.tid = r.ppid
		}
	}
	if k.proc == 0 {
		return key{}, false
	}
	_, ok := m.rows[k]
	return k, ok
}

// fold folds ended row r into the folded row of its command name under
// its parent, and the folded rows under r into those under r's parent:
// a folded row lives only under a row of its own, or at the top.
// Precondition: m.mu held.
func (m *Model) fold(r *row) {
	parent, ok := m.parentKey(r)
	if !ok {
		parent = key{}
	}
	threads := m.opt.PerThread && r.tid != r.pid
	dst := m.foldInto(foldKey{parent: parent, comm: r.comm, threads: threads}, r.ppid)
	add2(dst.done, r.done)
	dst.processes += r.processes
	delete(m.rows, r.key)
	r.isEnded = false
	m.kept--
	for _, f := range m.under[r.key] {
		delete(m.folded, *f.fold)
		d := m.foldInto(foldKey{parent: parent, comm: f.comm, threads: f.fold.threads}, r.ppid)
		add2(d.done, f.done)
		d.processes += f.processes
	}
	delete(m.under, r.key)
}

// foldInto returns the folded row of k, made if it is new.
// Precondition: m.mu held.
func (m *Model) foldInto(k foldKey, ppid int) *row {
	f := m.folded[k]
	if f == nil {
		kk := k
		f = &row{fold: &kk, comm: k.comm, done: make([]perfevent.Value, m.n)}
		if k.parent.proc != 0 {
			if p := m.rows[k.parent]; p != nil {
				f.ppid, f.parentProc = p.pid, p.proc
			}
		}
		m.folded[k] = f
		m.under[k.parent] = append(m.under[k.parent], f)
	}
	return f
}

// add2 adds already scaled sums.
func add2(sum, v []perfevent.Value) {
	for i := range sum {
		sum[i].Raw += v[i].Raw
		sum[i].Enabled += v[i].Enabled
		sum[i].Running += v[i].Running
	}
}

// Rows returns the number of rows the model holds: live, kept and folded
// (for tests and benchmarks of its memory).
func (m *Model) Rows() (live, kept, folded int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.rows) - m.kept, m.kept, len(m.folded)
}

// State is how a row stands at a report.
type State uint8

const (
	Running  State = iota // a task of it is followed
	Exited                // its leader was reaped: Status
	Ended                 // all its tasks ended, its leader's status unknown
	Detached              // let go alive: its counts stop there
	Folded                // a folded row: Processes ended processes
)

// Row is one row of a Report.
type Row struct {
	// PID is the process (0 for a folded or ByComm row), TID the thread
	// with PerThread, PPID the parent process.
	PID, PPID, TID int
	Comm           string
	// Processes is the number of processes the row holds: 1 for a
	// process, more for a folded or ByComm row; for a thread row (or a
	// folded row of threads), the number of threads.
	Processes int
	// Threads reports that the row is a thread (or folded threads) with
	// PerThread, under its process's leader.
	Threads bool
	State   State
	Status  unix.WaitStatus // with State Exited
	// NoStatus, with State Ended, says that the follower could not tell
	// how its leader ended (the inherit follower's tasks but the
	// workload): shown as "—".
	NoStatus bool
	Depth    int // its depth in the tree
	// Values are the counts, scaled, summed over the row's tasks, with
	// their enabled and running times; Delta the count since the last
	// report that showed the row (the whole count the first time).
	Values []perfevent.Value
	Delta  []uint64
	// Unknown says that the counts of a task of the row could not be
	// read (the inherit follower has none for a task alive at the end of
	// an attach, or alive between its pulses): Values hold the others'
	// only, and are shown as "—".
	Unknown bool
}

// Report is one report of a Model.
type Report struct {
	Final     bool
	PerThread bool
	ByComm    bool
	Rows      []Row
	// Totals sums the rows shown. Processes counts the processes of
	// the rows shown (ByComm).
	Totals    []perfevent.Value
	Processes int
}

// Report reads the live devices with read (profdev.Set.Read) and makes a
// report. An interval report (final false) leaves out the rows already
// shown ended in an interval report before, and folded rows that did not
// change; the final report shows every row.
func (m *Model) Report(read func([]profdev.Counts) []profdev.Counts, final bool) Report {
	m.readMu.Lock()
	defer m.readMu.Unlock()
	live := m.readLive(read, m.scratch)
	defer m.mu.Unlock()
	m.scratch = live
	cur, running, unknown := m.liveCounts(live)
	// A ByComm report always covers the whole run.
	all := final || m.opt.ByComm
	var shown []*row
	for _, r := range m.rows {
		if !all && r.live == 0 && r.shown {
			continue
		}
		shown = append(shown, r)
	}
	for _, f := range m.folded {
		if !all && f.processes == f.lastProc {
			continue
		}
		shown = append(shown, f)
	}
	rep := Report{Final: final, PerThread: m.opt.PerThread, ByComm: m.opt.ByComm, Totals: make([]perfevent.Value, m.n)}
	values := func(r *row) []perfevent.Value {
		v := make([]perfevent.Value, m.n)
		copy(v, r.done)
		if c := cur[r]; c != nil {
			add2(v, c)
		}
		return v
	}
	if m.opt.ByComm {
		rep.Rows = m.byComm(shown, values)
	} else {
		for _, r := range m.treeOrder(shown) {
			row := m.makeRow(r, values(r), running[r] || r.live > 0)
			row.Unknown = row.Unknown || unknown[r]
			rep.Rows = append(rep.Rows, row)
		}
	}
	for i := range rep.Rows {
		add2(rep.Totals, rep.Rows[i].Values)
		rep.Processes += rep.Rows[i].Processes
	}
	if !final {
		for _, r := range shown {
			if r.live == 0 && r.fold == nil {
				r.shown = true
			}
			r.lastProc = r.processes
		}
	}
	return rep
}

// readLive reads the live devices with read (into scratch), noting the
// devices that end meanwhile (Ended), and returns with m.mu held.
// Precondition: m.readMu held.
func (m *Model) readLive(read func([]profdev.Counts) []profdev.Counts, scratch []profdev.Counts) []profdev.Counts {
	m.mu.Lock()
	m.reading = true
	m.recent = map[uint64]struct{}{}
	m.mu.Unlock()
	live := read(scratch)
	m.mu.Lock()
	m.reading = false
	return live
}

// liveCounts returns the live counts of each row, which rows have a live
// device, and which a live device that could not be read, from what
// readLive read; a device that ended while it was read is counted by its
// Final. Precondition: m.mu held, after readLive.
func (m *Model) liveCounts(live []profdev.Counts) (cur map[*row][]perfevent.Value, running, unknown map[*row]bool) {
	cur = map[*row][]perfevent.Value{}
	running = map[*row]bool{}
	unknown = map[*row]bool{}
	for i := range live {
		c := &live[i]
		if _, gone := m.recent[c.ID]; gone {
			continue
		}
		r := m.devRow[c.ID]
		if r == nil {
			continue // not started: never Valid (see profdev.Set.Read)
		}
		if !c.Valid {
			unknown[r] = true
			continue
		}
		v := cur[r]
		if v == nil {
			v = make([]perfevent.Value, m.n)
			cur[r] = v
		}
		add(v, c.Values)
		running[r] = true
		if m.leads(c.Task) && c.Comm != "" {
			r.comm = c.Comm // its comm after an exec
		}
	}
	m.recent = nil
	return cur, running, unknown
}

// SnapshotRow is a row's counts over the whole run so far: those of its
// ended tasks and of its live ones, scaled.
type SnapshotRow struct {
	PID       int // 0 for a folded row
	Comm      string
	Processes int  // see Row
	Running   bool // a task of it is followed
	Values    []perfevent.Value
}

// Snapshot reads the live devices with read and returns the counts so far
// of every row, folded rows too, in no order, without changing what a
// Report shows (its deltas, the rows it leaves out): for metrics, which
// are scraped while reports are written. Snapshot and Report take turns
// reading.
func (m *Model) Snapshot(read func([]profdev.Counts) []profdev.Counts) []SnapshotRow {
	m.readMu.Lock()
	defer m.readMu.Unlock()
	live := m.readLive(read, nil)
	defer m.mu.Unlock()
	cur, running, _ := m.liveCounts(live)
	out := make([]SnapshotRow, 0, len(m.rows)+len(m.folded))
	snap := func(r *row) {
		v := make([]perfevent.Value, m.n)
		copy(v, r.done)
		if c := cur[r]; c != nil {
			add2(v, c)
		}
		sr := SnapshotRow{PID: r.pid, Comm: r.comm, Processes: r.processes, Running: running[r] || r.live > 0, Values: v}
		if r.fold != nil {
			sr.PID = 0
		}
		out = append(out, sr)
	}
	for _, r := range m.rows {
		snap(r)
	}
	for _, r := range m.folded {
		snap(r)
	}
	return out
}

// makeRow makes the Row of r with values v, and its deltas.
// Precondition: m.mu held.
func (m *Model) makeRow(r *row, v []perfevent.Value, running bool) Row {
	out := Row{PID: r.pid, PPID: r.ppid, TID: r.tid, Comm: r.comm, Processes: r.processes,
		Threads: m.opt.PerThread && (r.fold != nil && r.fold.threads || r.fold == nil && r.tid != r.pid),
		Depth:   r.depth, Values: v, Unknown: r.unknown}
	switch {
	case r.fold != nil:
		out.PID, out.TID, out.State = 0, 0, Folded
	case running:
		out.State = Running
	case r.exited:
		out.State, out.Status = Exited, r.status
	case r.letGo:
		out.State = Detached
	default:
		out.State, out.NoStatus = Ended, r.noStatus
	}
	out.Delta = deltas(&r.last, v)
	return out
}

// deltas returns v's raw counts minus *last (all of v the first time,
// and where a count went down), and makes v the new *last.
func deltas(last *[]uint64, v []perfevent.Value) []uint64 {
	d := make([]uint64, len(v))
	prev := *last
	if prev == nil {
		prev = make([]uint64, len(v))
		*last = prev
	}
	for i := range v {
		d[i] = v[i].Raw
		if prev[i] <= v[i].Raw {
			d[i] = v[i].Raw - prev[i]
		}
		prev[i] = v[i].Raw
	}
	return d
}

// treeOrder sorts rows so that each follows the row it is under, and sets
// their depth: a process under its parent process, a thread (PerThread)
// under its leader, a folded row under the row it was folded under; each
// row's threads first, then its processes, then its folded rows.
// Precondition: m.mu held.
func (m *Model) treeOrder(rows []*row) []*row {
	present := map[key]*row{}
	for _, r := range rows {
		if r.fold == nil {
			present[r.key] = r
		}
	}
	kids := map[*row][]*row{}
	var roots []*row
	for _, r := range rows {
		var parent *row
		if r.fold != nil {
			parent = present[r.fold.parent]
		} else if k, ok := m.parentKey(r); ok {
			parent = present[k]
		}
		if parent != nil && parent != r {
			kids[parent] = append(kids[parent], r)
		} else {
			roots = append(roots, r)
		}
	}
	order := func(rs []*row) {
		sort.SliceStable(rs, func(i, j int) bool {
			a, b := rs[i], rs[j]
			if ra, rb := rank(a), rank(b); ra != rb {
				return ra < rb
			}
			if a.tid != b.tid {
				return a.tid < b.tid
			}
			if a.pid != b.pid {
				return a.pid < b.pid
			}
			return a.comm < b.comm
		})
	}
	order(roots)
	out := make([]*row, 0, len(rows))
	seen := map[*row]bool{}
	var walk func(r *row, depth int)
	walk = func(r *row, depth int) {
		if seen[r] {
			return
		}
		seen[r] = true
		r.depth = depth
		out = append(out, r)
		ks := kids[r]
		order(ks)
		for _, k := range ks {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	for _, r := range rows { // cycles: never lose a row
		walk(r, 0)
	}
	return out
}

// rank orders the rows under one row: threads, processes, folded rows.
func rank(r *row) int {
	switch {
	case r.fold != nil:
		return 2
	case r.tid != 0 && r.tid != r.pid:
		return 0
	}
	return 1
}

// isProcess reports whether r stands for processes (not threads).
func (m *Model) isProcess(r *row) bool {
	if r.fold != nil {
		return !r.fold.threads
	}
	return !m.opt.PerThread || r.tid == r.pid
}

// byComm makes one row per command name of rows.
// Precondition: m.mu held.
func (m *Model) byComm(rows []*row, values func(*row) []perfevent.Value) []Row {
	byName := map[string]*Row{}
	var names []string
	for _, r := range rows {
		out := byName[r.comm]
		if out == nil {
			out = &Row{Comm: r.comm, Values: make([]perfevent.Value, m.n), State: Ended}
			byName[r.comm] = out
			names = append(names, r.comm)
		}
		add2(out.Values, values(r))
		if m.isProcess(r) {
			out.Processes += r.processes
		}
		if r.live > 0 {
			out.State = Running
		}
	}
	sort.Strings(names)
	out := make([]Row, 0, len(names))
	for _, n := range names {
		r := byName[n]
		last := m.commLast[n]
		r.Delta = deltas(&last, r.Values)
		m.commLast[n] = last
		out = append(out, *r)
	}
	return out
}
