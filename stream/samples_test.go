package stream

import (
	"encoding/binary"
	"sync/atomic"
	"testing"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/pidtree"
	"github.com/perfprof/perfprof/profdev"
	"github.com/perfprof/perfprof/runstats"
)

// demoFormat is a tracepoint's format with two fields of its own.
const demoFormat = `name: demo
ID: 1
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:int value;	offset:8;	size:4;	signed:1;
	field:char name[8];	offset:12;	size:8;	signed:0;

print fmt: "value=%d name=%s", REC->value, REC->name
`

func demoRaw() []byte {
	raw := make([]byte, 20)
	binary.NativeEndian.PutUint32(raw[8:], uint32(0xfffffffd)) // -3
	copy(raw[12:], "ab")
	return raw
}

// The sample lines, against golden strings: perf script's style, and the
// JSON sample record; a tracepoint's fields with its decoder, none
// without (a nil decoder, or no decoders at all).
func TestSampleLines(t *testing.T) {
	tf, err := perfevent.ParseFormat([]byte(demoFormat))
	if err != nil {
		t.Fatal(err)
	}
	kernel, user := uint64(perfevent.ContextKernel), uint64(perfevent.ContextUser)
	withStack := &profdev.Sample{Comm: "true", Event: 0, Record: &perfevent.SampleRecord{
		PID: 12, TID: 13, CPU: 1, Time: 5, Period: 1000, IP: 0x4011aa,
		Callchain: []uint64{kernel, 0xffffffff81000010, user, 0x4011aa, 0x401000}}}
	tracepoint := &profdev.Sample{Comm: "a-rather-long-command", Event: 1, Record: &perfevent.SampleRecord{
		PID: 7, TID: 7, CPU: 123, Time: 999_999_999, Period: 1, IP: 0xffffffff81234567, Raw: demoRaw()}}
	for _, tc := range []struct {
		name   string
		json   bool
		fields []*perfevent.FieldDecoder
		want   string
	}{
		{"text", false, []*perfevent.FieldDecoder{nil, perfevent.NewFieldDecoder(tf)},
			"            true 12/13 [001] 1.000000005: 1000 task-clock: 4011aa\n" +
				"\t    ffffffff81000010 [k]\n\t    4011aa\n\t    401000\n" +
				"a-rather-long-command 7/7 [123] 1.999999999: 1 sched:demo: ffffffff81234567 value=-3 name=ab\n"},
		{"text without decoders", false, nil,
			"            true 12/13 [001] 1.000000005: 1000 task-clock: 4011aa\n" +
				"\t    ffffffff81000010 [k]\n\t    4011aa\n\t    401000\n" +
				"a-rather-long-command 7/7 [123] 1.999999999: 1 sched:demo: ffffffff81234567\n"},
		{"json", true, []*perfevent.FieldDecoder{nil, perfevent.NewFieldDecoder(tf)},
			`{"type":"sample","time":1000000005,"pid":12,"tid":13,"comm":"true","cpu":1,"event":"task-clock","period":1000,"ip":"0x4011aa","callchain":["0xffffffff81000010","0x4011aa","0x401000"]}` + "\n" +
				`{"type":"sample","time":1999999999,"pid":7,"tid":7,"comm":"a-rather-long-command","cpu":123,"event":"sched:demo","period":1,"ip":"0xffffffff81234567","fields":{"value":-3,"name":"ab"}}` + "\n"},
		{"json without decoders", true, nil,
			`{"type":"sample","time":1000000005,"pid":12,"tid":13,"comm":"true","cpu":1,"event":"task-clock","period":1000,"ip":"0x4011aa","callchain":["0xffffffff81000010","0x4011aa","0x401000"]}` + "\n" +
				`{"type":"sample","time":1999999999,"pid":7,"tid":7,"comm":"a-rather-long-command","cpu":123,"event":"sched:demo","period":1,"ip":"0xffffffff81234567"}` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDisk()
			d.calls = nil
			// A tracepoint's Spec only names it here: the writer needs
			// its name, its decoder decodes it.
			events := append(specs(t, "task-clock"), perfevent.Spec{Name: "sched:demo"})
			s := New(d, Options{JSON: tc.json, Queued: true, Events: events})
			w := NewSampleWriter(s, SampleOptions{Fields: tc.fields, Wall: 1e9})
			w.Sample(withStack)
			w.Sample(tracepoint)
			if d.String() != "" {
				t.Errorf("written before Flush: %q", d.String())
			}
			w.Flush()
			if got := d.String(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if got := w.Stats(); got != (runstats.Samples{Sampling: true, Written: 2}) {
				t.Errorf("Stats = %+v", got)
			}
		})
	}
}

// profilesFake counts what it is handed.
type profilesFake struct{ samples, mmaps, execs int }

func (p *profilesFake) Sample(*profdev.Sample)                    { p.samples++ }
func (p *profilesFake) Mmap(pidtree.Task, *perfevent.Mmap2Record) { p.mmaps++ }
func (p *profilesFake) Exec(pidtree.Task, []byte)                 { p.execs++ }

// At the limit (-N) the writer calls OnLimit once, and writes no sample
// after it; to the profiles, the same.
func TestSampleLimit(t *testing.T) {
	for _, toProfiles := range []bool{false, true} {
		d := newDisk()
		d.calls = nil
		s := New(d, Options{Queued: true, Events: specs(t, "task-clock")})
		var stops atomic.Int32
		prof := &profilesFake{}
		opt := SampleOptions{Limit: 3, OnLimit: func() { stops.Add(1) }}
		if toProfiles {
			opt.Profiles = prof
		}
		w := NewSampleWriter(s, opt)
		sm := &profdev.Sample{Comm: "c", Record: &perfevent.SampleRecord{PID: 1, TID: 1}}
		for i := range 10 {
			w.Sample(sm)
			if i == 2 && stops.Load() != 1 {
				t.Errorf("profiles %v: OnLimit not called at the 3rd sample", toProfiles)
			}
		}
		w.Mmap(pidtree.Task{}, &perfevent.Mmap2Record{})
		w.Exec(pidtree.Task{}, []byte("x"))
		w.Flush()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		lines := len(d.String()) / len("               c 1/1 [000] 0.000000000: 0 task-clock: 0\n")
		if toProfiles {
			if prof.samples != 3 || prof.mmaps != 1 || prof.execs != 1 || d.String() != "" {
				t.Errorf("profiles got %+v and the report %q; want 3 samples, a mapping, an exec, no lines", *prof, d.String())
			}
		} else if lines != 3 || prof.samples != 0 {
			t.Errorf("%d lines, %d to profiles; want 3 lines:\n%s", lines, prof.samples, d.String())
		}
		if n := stops.Load(); n != 1 {
			t.Errorf("profiles %v: OnLimit called %d times, want 1", toProfiles, n)
		}
		if got := w.Stats().Written; got != 3 {
			t.Errorf("profiles %v: %d written, want 3", toProfiles, got)
		}
	}
}

// Lost records are counted, written as "lost" records in JSON, and
// warned of at most once a second.
func TestSampleLost(t *testing.T) {
	d := newDisk()
	d.calls = nil
	s := New(d, Options{JSON: true, Queued: true, Events: specs(t, "task-clock")})
	var warned []int64
	w := NewSampleWriter(s, SampleOptions{OnLost: func(n int64) { warned = append(warned, n) }})
	w.Lost(pidtree.Task{TID: 5, TGID: 4}, 7)
	w.Lost(pidtree.Task{TID: 5, TGID: 4}, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"lost","time":T,"pid":4,"tid":5,"lost":7}` + "\n" + `{"type":"lost","time":T,"pid":4,"tid":5,"lost":2}` + "\n"
	if got := noTimes(d.String()); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if len(warned) != 1 || warned[0] != 7 {
		t.Errorf("OnLost calls %v, want one, with 7", warned)
	}
	if got := w.Stats(); got != (runstats.Samples{Sampling: true, Lost: 9}) {
		t.Errorf("Stats = %+v", got)
	}
}

// Handing a round of samples over allocates nothing once the pool holds
// a buffer: the hot path's cost.
func TestSampleNoAlloc(t *testing.T) {
	d := newDisk()
	d.calls = nil
	s := New(d, Options{Queued: true, Events: specs(t, "task-clock")})
	defer s.Close()
	w := NewSampleWriter(s, SampleOptions{})
	sm := &profdev.Sample{Comm: "c", Record: &perfevent.SampleRecord{PID: 1, TID: 1, Callchain: []uint64{1, 2}}}
	w.Sample(sm)
	w.Flush()
	allocs := testing.AllocsPerRun(100, func() {
		for range 10 {
			w.Sample(sm)
		}
		w.Flush()
	})
	// One: the *[]byte the pool takes back. The race detector's pool
	// drops some buffers, which then are made again: two at most.
	if allocs > 2 {
		t.Errorf("%.1f allocations a round", allocs)
	}
}
