package stream

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"github.com/perfprof/perfprof/report"
)

func specs(t testing.TB, list string) []perfevent.Spec {
	t.Helper()
	sp, err := perfevent.Parse(list)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

// line is what the tests read of a JSON record.
type line struct {
	Type    string `json:"type"`
	Time    int64  `json:"time"`
	PID     int    `json:"pid"`
	TID     int    `json:"tid"`
	Message string `json:"message"`
}

func parseLines(t *testing.T, out string) []line {
	t.Helper()
	var ls []line
	for l := range strings.Lines(out) {
		var r line
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("not a whole JSON line: %q: %v", l, err)
		}
		ls = append(ls, r)
	}
	return ls
}

// timeRE matches a record's time, which the tests cannot know.
var timeRE = regexp.MustCompile(`"time":[0-9]+`)

func noTimes(s string) string { return timeRE.ReplaceAllString(s, `"time":T`) }

// waitWrites waits for n write calls on d.
func waitWrites(t *testing.T, d *disk, n int) {
	t.Helper()
	for range n {
		select {
		case <-d.calls:
		case <-time.After(10 * time.Second):
			t.Fatal("the stream did not write in 10 s")
		}
	}
}

// Records handed over from several goroutines keep each goroutine's
// order, and their times never decrease.
func TestJSONOrder(t *testing.T) {
	d := newDisk()
	d.calls = nil
	s := New(d, Options{JSON: true, Events: specs(t, "task-clock")})
	sw := NewSampleWriter(s, SampleOptions{})
	const goroutines, each = 6, 600
	var wg sync.WaitGroup
	for g := 1; g <= goroutines; g++ {
		wg.Go(func() {
			for i := 1; i <= each; i++ {
				switch task := (pidtree.Task{TID: g, TGID: i}); i % 4 {
				case 0:
					s.Exit(task, 0)
				case 1:
					s.Fork(task, 1, "clone")
				case 2:
					s.Exec(pidtree.Task{TID: i, TGID: i}, g, "x")
				case 3:
					sw.Lost(task, 1)
				}
			}
		})
	}
	msgs := s.MessageWriter()
	for i := 1; i <= 100; i++ {
		s.Report(report.Report{Rows: []report.Row{{PID: 1000 + i, Values: make([]perfevent.Value, 1), Delta: make([]uint64, 1)}}}, 0)
		fmt.Fprintf(msgs, "perfprof: message %d\n", i)
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	next := map[int]int{}
	var last int64
	counts, messages := 0, 0
	for _, r := range parseLines(t, d.String()) {
		if r.Time < last {
			t.Fatalf("%+v: time %d before the last record's %d", r, r.Time, last)
		}
		last = r.Time
		switch r.Type {
		case "counts":
			counts++
			if r.PID != 1000+counts {
				t.Fatalf("counts of %d, want %d", r.PID, 1000+counts)
			}
		case "message":
			messages++
			if want := fmt.Sprintf("message %d", messages); r.Message != want {
				t.Fatalf("message %q, want %q", r.Message, want)
			}
		default:
			if next[r.TID]++; r.PID != next[r.TID] {
				t.Fatalf("%+v: record %d of goroutine %d, want %d", r, r.PID, r.TID, next[r.TID])
			}
		}
	}
	for g := 1; g <= goroutines; g++ {
		if next[g] != each {
			t.Errorf("goroutine %d: %d records, want %d", g, next[g], each)
		}
	}
	if counts != 100 || messages != 100 {
		t.Errorf("%d counts and %d messages, want 100 each", counts, messages)
	}
}

// Tables written by one goroutine and sample lines by the ring owner come
// out whole, each in its order.
func TestTablesAndSamplesDoNotInterleave(t *testing.T) {
	d := newDisk()
	d.calls = nil
	s := New(d, Options{Queued: true, Events: specs(t, "task-clock")})
	sw := NewSampleWriter(s, SampleOptions{})
	const samples, tables, rows = 20000, 300, 5
	done := make(chan struct{})
	go func() { // the ring owner
		defer close(done)
		rec := &perfevent.SampleRecord{PID: 1, TID: 1, Period: 1}
		sm := &profdev.Sample{Comm: "c", Record: rec}
		for i := 1; i <= samples; i++ {
			rec.IP = uint64(i)
			sw.Sample(sm)
			if i%7 == 0 {
				sw.Flush()
			}
		}
		sw.Flush()
	}()
	for k := range tables {
		s.Table(func(w io.Writer) {
			fmt.Fprintf(w, "table %d begin\n", k)
			for j := range rows {
				fmt.Fprintf(w, "table %d row %d\n", k, j)
			}
			fmt.Fprintf(w, "table %d end\n", k)
		})
	}
	<-done
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	sample := regexp.MustCompile(`^ {15}c 1/1 \[000\] 0\.000000000: 1 task-clock: ([0-9a-f]+)\n$`)
	var ip uint64
	var table []string // the table being read
	k := 0
	for l := range strings.Lines(d.String()) {
		if len(table) > 0 || strings.HasPrefix(l, "table ") {
			table = append(table, l)
			if len(table) < rows+2 {
				continue
			}
			var want strings.Builder
			fmt.Fprintf(&want, "table %d begin\n", k)
			for j := range rows {
				fmt.Fprintf(&want, "table %d row %d\n", k, j)
			}
			fmt.Fprintf(&want, "table %d end\n", k)
			if got := strings.Join(table, ""); got != want.String() {
				t.Fatalf("table %d:\n%s\nwant\n%s", k, got, want.String())
			}
			table, k = nil, k+1
			continue
		}
		m := sample.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not a whole sample line: %q", l)
		}
		if n, _ := strconv.ParseUint(m[1], 16, 64); n != ip+1 {
			t.Fatalf("sample %d after %d", n, ip)
		}
		ip++
	}
	if k != tables || ip != samples || len(table) > 0 {
		t.Errorf("%d tables and %d samples (%d table lines left), want %d and %d", k, ip, len(table), tables, samples)
	}
}

// notifySocket listens where $NOTIFY_SOCKET says, as systemd does.
func notifySocket(t *testing.T) *net.UnixConn {
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return c
}

func readNotify(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 4096)
	n, err := c.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:n])
}

// A daemon's stream on a full disk lets the records go and counts them,
// once per run of failures, tells systemd, and says in the report how
// much was lost once writing works again.
func TestRetryDropsAndRecovers(t *testing.T) {
	notify := notifySocket(t)
	d := newDisk()
	s := New(d, Options{JSON: true, Retry: true})
	exit := func(tid int) { s.Exit(pidtree.Task{TID: tid, TGID: tid}, 0) }
	var lost []int // the bytes each run of failures lost
	for run := range 2 {
		exit(10 * run)
		waitWrites(t, d, 1)
		d.set(func(d *disk) { d.full, d.failed = true, 0 })
		for i := 1; i <= 3; i++ {
			exit(10*run + i)
			waitWrites(t, d, 1)
		}
		if got := s.Stats().WriteFailures; got != int64(run+1) {
			t.Errorf("run %d: %d write failures, want %d", run, got, run+1)
		}
		if got := readNotify(t, notify); got != "STATUS=cannot write the report: no space left on device" {
			t.Errorf("sd_notify %q", got)
		}
		d.set(func(d *disk) { d.full = false; lost = append(lost, d.failed) })
		exit(10*run + 4)
		waitWrites(t, d, 2) // the record, then the message
		if got := readNotify(t, notify); got != "STATUS=" {
			t.Errorf("sd_notify %q", got)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case <-s.Failed():
		t.Error("Failed closed")
	default:
	}
	want := ""
	for run := range 2 {
		want += fmt.Sprintf(`{"type":"exit","time":T,"pid":%d,"tid":%d,"code":0}`+"\n", 10*run, 10*run)
		want += fmt.Sprintf(`{"type":"exit","time":T,"pid":%d,"tid":%d,"code":0}`+"\n", 10*run+4, 10*run+4)
		want += fmt.Sprintf(`{"type":"message","time":T,"message":"warning: %d bytes of the report could not be written (no space left on device); writing again"}`+"\n", lost[run])
	}
	want = strings.Replace(want, `"pid":0,"tid":0,`, "", 1) // omitempty
	if got := noTimes(d.String()); got != want {
		t.Errorf("report:\n%s\nwant\n%s", got, want)
	}
	for run := range 2 { // what was lost is the three records of the run
		want := 0
		for i := 1; i <= 3; i++ {
			tid := 10*run + i
			want += len(fmt.Sprintf(`{"type":"exit","time":%d,"pid":%d,"tid":%d,"code":0}`+"\n", time.Now().UnixNano(), tid, tid))
		}
		if lost[run] != want {
			t.Errorf("run %d lost %d bytes, want %d", run, lost[run], want)
		}
	}
}

// A write cut short leaves a line cut short: the message of the recovery
// starts on a line of its own.
func TestRetryPartialWrite(t *testing.T) {
	d := newDisk()
	d.calls = nil
	d.full, d.partial = true, 4
	s := New(d, Options{Retry: true})
	s.Table(func(w io.Writer) { io.WriteString(w, "line one\n") })
	d.set(func(d *disk) { d.full = false })
	s.Table(func(w io.Writer) { io.WriteString(w, "line two\n") })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := d.String()
	msg := "\nperfprof: warning: 5 bytes of the report could not be written (no space left on device); writing again\n"
	if !strings.HasPrefix(got, "line") || !strings.HasSuffix(got, msg) || !strings.Contains(got, "line two\n") {
		t.Errorf("report %q, want \"line\" cut short, \"line two\", and %q", got, msg)
	}
	if n := s.Stats().WriteFailures; n != 1 {
		t.Errorf("%d write failures, want 1", n)
	}
}

// A daemon's stream on a disk that stays full never blocks its writers:
// neither the task events (far more than the queue holds) nor the ring
// owner's lines.
func TestRetryNeverBlocks(t *testing.T) {
	d := newDisk()
	d.calls = nil
	d.full = true
	s := New(d, Options{JSON: true, Queued: true, Retry: true, Events: specs(t, "task-clock")})
	sw := NewSampleWriter(s, SampleOptions{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 3 * 4096 {
			s.Exit(pidtree.Task{TID: i + 1, TGID: i + 1}, 0)
		}
		sm := &profdev.Sample{Comm: "c", Record: &perfevent.SampleRecord{PID: 1, TID: 1}}
		for range 1000 {
			sw.Sample(sm)
			sw.Flush()
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("writing blocked on a full disk")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := s.Stats().WriteFailures; n != 1 {
		t.Errorf("%d write failures, want 1 (one run of them)", n)
	}
	if got := d.String(); got != "" {
		t.Errorf("wrote %q on a full disk", got)
	}
}

// Without Retry, the first failed write stops all writing: Failed is
// closed, nothing more is written, Close returns the error. The same from
// the writer goroutine, a table and the ring owner's lines.
func TestFirstErrorStops(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opt   Options
		write func(s *Stream)
	}{
		{"records", Options{JSON: true}, func(s *Stream) { s.Exit(pidtree.Task{TID: 1, TGID: 1}, 0) }},
		{"table", Options{}, func(s *Stream) { s.Table(func(w io.Writer) { io.WriteString(w, "a table\n") }) }},
		{"queued table", Options{Queued: true}, func(s *Stream) { s.Table(func(w io.Writer) { io.WriteString(w, "a table\n") }) }},
		{"samples", Options{Queued: true}, func(s *Stream) {
			sw := NewSampleWriter(s, SampleOptions{})
			sw.Sample(&profdev.Sample{Comm: "c", Record: &perfevent.SampleRecord{PID: 1, TID: 1}})
			sw.Flush()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDisk()
			d.calls = nil
			d.err = syscall.EPIPE
			tc.opt.Events = specs(t, "task-clock")
			s := New(d, tc.opt)
			tc.write(s)
			select {
			case <-s.Failed():
			case <-time.After(10 * time.Second):
				t.Fatal("Failed not closed")
			}
			for range 10 {
				tc.write(s)
			}
			if err := s.Close(); !errors.Is(err, syscall.EPIPE) {
				t.Errorf("Close = %v, want EPIPE", err)
			}
			if !errors.Is(s.Err(), syscall.EPIPE) {
				t.Errorf("Err = %v, want EPIPE", s.Err())
			}
			if d.writes != 1 {
				t.Errorf("%d writes, want 1: none after the failure", d.writes)
			}
		})
	}
}

// Reopen switches to the new destination while records keep coming: the
// old one holds whole lines, the old one is closed, and the records are
// all there, in order, across the destinations.
func TestReopen(t *testing.T) {
	first := newDisk()
	first.calls = nil
	dests := []*disk{first}
	s := New(first, Options{JSON: true, Retry: true, Reopen: func() (io.WriteCloser, error) {
		d := newDisk()
		d.calls = nil
		dests = append(dests, d)
		return d, nil
	}})
	const n = 20000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= n; i++ {
			s.Exit(pidtree.Task{TID: i, TGID: i}, 0)
		}
	}()
	for range 3 {
		time.Sleep(time.Millisecond)
		if err := s.Reopen(); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(dests) != 4 {
		t.Fatalf("%d destinations, want 4", len(dests))
	}
	next := 1
	for i, d := range dests {
		if !d.closed {
			t.Errorf("destination %d not closed", i)
		}
		out := d.String()
		if out != "" && !strings.HasSuffix(out, "\n") {
			t.Errorf("destination %d ends in a line cut short: %q", i, out[max(0, len(out)-40):])
		}
		for _, r := range parseLines(t, out) {
			if r.TID != next {
				t.Fatalf("destination %d: record %d, want %d", i, r.TID, next)
			}
			next++
		}
	}
	if next != n+1 {
		t.Errorf("%d records, want %d", next-1, n)
	}
}

// A failed reopen leaves the stream on its destination; a stream without
// Options.Reopen does not reopen, and does not close what it was given.
func TestReopenFailsOrNone(t *testing.T) {
	d := newDisk()
	d.calls = nil
	errOpen := errors.New("no such directory")
	s := New(d, Options{Reopen: func() (io.WriteCloser, error) { return nil, errOpen }})
	if err := s.Reopen(); !errors.Is(err, errOpen) {
		t.Errorf("Reopen = %v, want %v", err, errOpen)
	}
	s.Table(func(w io.Writer) { io.WriteString(w, "still here\n") })
	if d.closed || d.String() != "still here\n" {
		t.Errorf("after a failed Reopen: closed %v, wrote %q", d.closed, d.String())
	}
	if err := s.Close(); err != nil || !d.closed {
		t.Errorf("Close = %v, closed %v; want nil, closed", err, d.closed)
	}

	d = newDisk()
	d.calls = nil
	s = New(d, Options{})
	if err := s.Reopen(); err != nil {
		t.Errorf("Reopen without Options.Reopen = %v", err)
	}
	s.Table(func(w io.Writer) { io.WriteString(w, "x\n") })
	if err := s.Close(); err != nil || d.closed || d.String() != "x\n" {
		t.Errorf("Close = %v, closed %v, wrote %q; want nil, not closed, \"x\\n\"", err, d.closed, d.String())
	}
}

// The message writer: each Write whole, to the destination of the moment;
// a daemon's into its report, as a line or a message record.
func TestMessages(t *testing.T) {
	var stderr strings.Builder
	m := NewMessages(&stderr)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				fmt.Fprintf(m, "perfprof: warning: goroutine %d message %d\n", g, i)
			}
		})
	}
	wg.Wait()
	sc := bufio.NewScanner(strings.NewReader(stderr.String()))
	lines := 0
	for sc.Scan() {
		var g, i int
		if _, err := fmt.Sscanf(sc.Text(), "perfprof: warning: goroutine %d message %d", &g, &i); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		lines++
	}
	if lines != 800 {
		t.Errorf("%d lines, want 800", lines)
	}

	for _, asJSON := range []bool{false, true} {
		d := newDisk()
		d.calls = nil
		s := New(d, Options{JSON: asJSON})
		stderr.Reset()
		m.Redirect(s.MessageWriter())
		fmt.Fprintf(m, "perfprof: warning: into the report\n")
		m.Redirect(&stderr)
		fmt.Fprintf(m, "perfprof: back\n")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		want := "perfprof: warning: into the report\n"
		if asJSON {
			want = `{"type":"message","time":T,"message":"warning: into the report"}` + "\n"
		}
		if got := noTimes(d.String()); got != want {
			t.Errorf("json %v: report %q, want %q", asJSON, got, want)
		}
		if stderr.String() != "perfprof: back\n" {
			t.Errorf("json %v: stderr %q after Redirect", asJSON, stderr.String())
		}
	}
}
