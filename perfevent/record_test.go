package perfevent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/bits"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/perfprof/perfprof/internal/testenv"
	"golang.org/x/sys/unix"
)

// recWriteSeeds makes TestDecodeRecordKernel write the records it reads
// to testdata/fuzz/FuzzDecodeRecord as seeds of the fuzz target.
var recWriteSeeds = flag.Bool("record.seeds", false, "write kernel records as FuzzDecodeRecord seeds")

// recBuf builds a record word by word, stating its layout. done sets the
// header's size to the length, unless setSize gave another.
type recBuf struct {
	b    []byte
	size int // -1: the length
}

func recB(typ uint32, misc uint16) *recBuf {
	b := &recBuf{size: -1}
	return b.u32(typ).u16(misc).u16(0)
}

func (b *recBuf) u16(v uint16) *recBuf {
	b.b = binary.NativeEndian.AppendUint16(b.b, v)
	return b
}

func (b *recBuf) u32(v uint32) *recBuf {
	b.b = binary.NativeEndian.AppendUint32(b.b, v)
	return b
}

func (b *recBuf) u64(v uint64) *recBuf {
	b.b = binary.NativeEndian.AppendUint64(b.b, v)
	return b
}

// pair writes two u32 (pid, tid; cpu, res).
func (b *recBuf) pair(x, y uint32) *recBuf { return b.u32(x).u32(y) }

func (b *recBuf) bytes(p []byte) *recBuf {
	b.b = append(b.b, p...)
	return b
}

// str writes s, its NUL and NULs up to a multiple of 8 bytes.
func (b *recBuf) str(s string) *recBuf {
	b.b = append(b.b, s...)
	b.b = append(b.b, make([]byte, 8-len(s)%8)...)
	return b
}

// sampleID writes a struct sample_id trailer of sample_type st.
func (b *recBuf) sampleID(st uint64, id SampleID) *recBuf {
	if st&unix.PERF_SAMPLE_TID != 0 {
		b.pair(uint32(id.PID), uint32(id.TID))
	}
	if st&unix.PERF_SAMPLE_TIME != 0 {
		b.u64(id.Time)
	}
	if st&unix.PERF_SAMPLE_ID != 0 {
		b.u64(id.ID)
	}
	if st&unix.PERF_SAMPLE_STREAM_ID != 0 {
		b.u64(id.StreamID)
	}
	if st&unix.PERF_SAMPLE_CPU != 0 {
		b.pair(uint32(id.CPU), 0)
	}
	if st&unix.PERF_SAMPLE_IDENTIFIER != 0 {
		b.u64(id.ID)
	}
	return b
}

// read writes a struct read_format of layout rf.
func (b *recBuf) read(rf uint64, sr *SampleRead) *recBuf {
	times := func() {
		if rf&unix.PERF_FORMAT_TOTAL_TIME_ENABLED != 0 {
			b.u64(sr.TimeEnabled)
		}
		if rf&unix.PERF_FORMAT_TOTAL_TIME_RUNNING != 0 {
			b.u64(sr.TimeRunning)
		}
	}
	value := func(v ReadValue, withTimes bool) {
		b.u64(v.Value)
		if withTimes {
			times()
		}
		if rf&unix.PERF_FORMAT_ID != 0 {
			b.u64(v.ID)
		}
		if rf&unix.PERF_FORMAT_LOST != 0 {
			b.u64(v.Lost)
		}
	}
	if rf&unix.PERF_FORMAT_GROUP != 0 {
		// nr, times, then each value.
		b.u64(uint64(len(sr.Values)))
		times()
		for _, v := range sr.Values {
			value(v, false)
		}
		return b
	}
	// The value, then the times.
	if len(sr.Values) != 1 {
		panic("recEncode: not one read value without PERF_FORMAT_GROUP")
	}
	value(sr.Values[0], true)
	return b
}

func (b *recBuf) setSize(n int) *recBuf {
	b.size = n
	return b
}

func (b *recBuf) done() []byte {
	n := b.size
	if n < 0 {
		n = len(b.b)
	}
	binary.NativeEndian.PutUint16(b.b[6:], uint16(n))
	return b.b
}

// recEncode encodes r as the kernel writes it for format f: the inverse
// of DecodeRecord for the types it knows (nil for the others). A sample's
// Read must hold exactly one value without PERF_FORMAT_GROUP.
func recEncode(f *RecordFormat, r *Record) []byte {
	b := recB(r.Type, r.Misc)
	switch r.Type {
	case unix.PERF_RECORD_SAMPLE:
		s := &r.Sample
		st := f.SampleType
		if st&unix.PERF_SAMPLE_IDENTIFIER != 0 {
			b.u64(s.ID)
		}
		if st&unix.PERF_SAMPLE_IP != 0 {
			b.u64(s.IP)
		}
		if st&unix.PERF_SAMPLE_TID != 0 {
			b.pair(uint32(s.PID), uint32(s.TID))
		}
		if st&unix.PERF_SAMPLE_TIME != 0 {
			b.u64(s.Time)
		}
		if st&unix.PERF_SAMPLE_ADDR != 0 {
			b.u64(s.Addr)
		}
		if st&unix.PERF_SAMPLE_ID != 0 {
			b.u64(s.ID)
		}
		if st&unix.PERF_SAMPLE_STREAM_ID != 0 {
			b.u64(s.StreamID)
		}
		if st&unix.PERF_SAMPLE_CPU != 0 {
			b.pair(uint32(s.CPU), 0)
		}
		if st&unix.PERF_SAMPLE_PERIOD != 0 {
			b.u64(s.Period)
		}
		if st&unix.PERF_SAMPLE_READ != 0 {
			b.read(f.ReadFormat, &s.Read)
		}
		if st&unix.PERF_SAMPLE_CALLCHAIN != 0 {
			b.u64(uint64(len(s.Callchain)))
			for _, ip := range s.Callchain {
				b.u64(ip)
			}
		}
		if st&unix.PERF_SAMPLE_RAW != 0 {
			b.u32(uint32(len(s.Raw))).bytes(s.Raw)
		}
		return b.done()
	case unix.PERF_RECORD_LOST:
		b.u64(r.Lost.ID).u64(r.Lost.Count)
	case unix.PERF_RECORD_LOST_SAMPLES:
		b.u64(r.Lost.Count)
	case unix.PERF_RECORD_EXIT, unix.PERF_RECORD_FORK:
		t := &r.Task
		b.pair(uint32(t.PID), uint32(t.PPID)).pair(uint32(t.TID), uint32(t.PTID)).u64(t.Time)
	case unix.PERF_RECORD_THROTTLE, unix.PERF_RECORD_UNTHROTTLE:
		b.u64(r.Throttle.Time).u64(r.Throttle.ID).u64(r.Throttle.StreamID)
	case unix.PERF_RECORD_COMM:
		b.pair(uint32(r.Comm.PID), uint32(r.Comm.TID)).str(string(r.Comm.Name))
	case unix.PERF_RECORD_READ:
		b.pair(uint32(r.Read.PID), uint32(r.Read.TID)).read(f.ReadFormat, &r.Read.Values)
	case unix.PERF_RECORD_MMAP2:
		m := &r.Mmap2
		b.pair(uint32(m.PID), uint32(m.TID)).u64(m.Addr).u64(m.Len).u64(m.PgOff)
		if r.Misc&MiscMmapBuildID != 0 {
			var id [20]byte
			copy(id[:], m.BuildID)
			b.b = append(b.b, byte(len(m.BuildID)), 0, 0, 0)
			b.bytes(id[:])
		} else {
			b.pair(m.Maj, m.Min).u64(m.Ino).u64(m.InoGeneration)
		}
		b.pair(m.Prot, m.Flags).str(string(m.Filename))
	default:
		return nil
	}
	if f.SampleIDAll {
		b.sampleID(f.SampleType, r.SampleID)
	}
	return b.done()
}

// recNorm returns r with empty slices nil, for comparisons.
func recNorm(r Record) Record {
	if len(r.Sample.Callchain) == 0 {
		r.Sample.Callchain = nil
	}
	if len(r.Sample.Read.Values) == 0 {
		r.Sample.Read.Values = nil
	}
	if len(r.Sample.Raw) == 0 {
		r.Sample.Raw = nil
	}
	if len(r.Read.Values.Values) == 0 {
		r.Read.Values.Values = nil
	}
	if len(r.Comm.Name) == 0 {
		r.Comm.Name = nil
	}
	if len(r.Mmap2.Filename) == 0 {
		r.Mmap2.Filename = nil
	}
	if len(r.Mmap2.BuildID) == 0 {
		r.Mmap2.BuildID = nil
	}
	return r
}

func recEqual(a, b Record) bool { return reflect.DeepEqual(recNorm(a), recNorm(b)) }

// Formats and records used across the tests.
const (
	// recTypical is the sample_type of a plain sampling profile.
	recTypical = unix.PERF_SAMPLE_TID | unix.PERF_SAMPLE_TIME | unix.PERF_SAMPLE_CPU |
		unix.PERF_SAMPLE_PERIOD | unix.PERF_SAMPLE_IP | unix.PERF_SAMPLE_ID
	// recGroupRead is perfprof's read_format, with ID.
	recGroupRead = unix.PERF_FORMAT_GROUP | unix.PERF_FORMAT_TOTAL_TIME_ENABLED |
		unix.PERF_FORMAT_TOTAL_TIME_RUNNING | unix.PERF_FORMAT_ID
)

// Callchain markers as entries.
const (
	recKern = uint64(ContextKernel)
	recUser = uint64(ContextUser)
)

type recCase struct {
	name string
	f    RecordFormat
	raw  []byte
	want Record // Size is filled in from raw
}

// recCases are records built field by field, in the order of
// include/uapi/linux/perf_event.h, with what they decode to.
func recCases() []recCase {
	idAll := RecordFormat{SampleType: recTypical, SampleIDAll: true}
	trailer := SampleID{PID: 42, TID: 43, Time: 1000, ID: 7, CPU: 1}
	// The trailer of idAll, in the order TID, TIME, ID, CPU.
	tr := func(b *recBuf) []byte { return b.pair(42, 43).u64(1000).u64(7).pair(1, 0).done() }
	all := RecordFormat{
		SampleType: RecordSampleTypes,
		ReadFormat: recGroupRead,
	}
	return []recCase{{
		name: "sample typical",
		f:    RecordFormat{SampleType: recTypical},
		raw: recB(unix.PERF_RECORD_SAMPLE, MiscUser).
			u64(0x401000). // ip
			pair(42, 43).  // pid, tid
			u64(123456).   // time
			u64(7).        // id
			pair(1, 0).    // cpu, res
			u64(1).        // period
			done(),
		want: Record{Type: unix.PERF_RECORD_SAMPLE, Misc: MiscUser, Sample: SampleRecord{
			IP: 0x401000, PID: 42, TID: 43, Time: 123456, ID: 7, CPU: 1, Period: 1,
		}},
	}, {
		name: "sample every supported field",
		f:    all,
		raw: recB(unix.PERF_RECORD_SAMPLE, MiscKernel).
			u64(7).                                                                 // identifier
			u64(0xffffffff81000000).                                                // ip
			pair(42, 43).                                                           // pid, tid
			u64(123456).                                                            // time
			u64(0xdead000).                                                         // addr
			u64(7).                                                                 // id
			u64(6).                                                                 // stream_id
			pair(1, 0).                                                             // cpu, res
			u64(10000).                                                             // period
			u64(2).u64(5000).u64(4000).                                             // read: nr, time_enabled, time_running
			u64(100).u64(7).u64(200).u64(8).                                        // values: {value, id} × 2
			u64(4).u64(recKern).u64(0xffffffff81000000).u64(recUser).u64(0x401000). // callchain
			u32(12).bytes([]byte("tracepoint\x00\x00")).                            // raw: size, data
			done(),
		want: Record{Type: unix.PERF_RECORD_SAMPLE, Misc: MiscKernel, Sample: SampleRecord{
			ID: 7, IP: 0xffffffff81000000, PID: 42, TID: 43, Time: 123456, Addr: 0xdead000,
			StreamID: 6, CPU: 1, Period: 10000,
			Read: SampleRead{TimeEnabled: 5000, TimeRunning: 4000, Values: []ReadValue{
				{Value: 100, ID: 7}, {Value: 200, ID: 8},
			}},
			Callchain: []uint64{recKern, 0xffffffff81000000, recUser, 0x401000},
			Raw:       []byte("tracepoint\x00\x00"),
		}},
	}, {
		name: "sample read without group",
		f: RecordFormat{
			SampleType: unix.PERF_SAMPLE_TID | unix.PERF_SAMPLE_READ,
			ReadFormat: unix.PERF_FORMAT_TOTAL_TIME_ENABLED | unix.PERF_FORMAT_TOTAL_TIME_RUNNING |
				unix.PERF_FORMAT_ID | unix.PERF_FORMAT_LOST,
		},
		raw: recB(unix.PERF_RECORD_SAMPLE, 0).
			pair(42, 42).
			u64(100).            // value
			u64(5000).u64(4000). // time_enabled, time_running
			u64(7).u64(3).       // id, lost
			done(),
		want: Record{Type: unix.PERF_RECORD_SAMPLE, Sample: SampleRecord{
			PID: 42, TID: 42,
			Read: SampleRead{TimeEnabled: 5000, TimeRunning: 4000, Values: []ReadValue{{Value: 100, ID: 7, Lost: 3}}},
		}},
	}, {
		name: "sample group read with lost, no times",
		f: RecordFormat{
			SampleType: unix.PERF_SAMPLE_READ,
			ReadFormat: unix.PERF_FORMAT_GROUP | unix.PERF_FORMAT_LOST,
		},
		raw: recB(unix.PERF_RECORD_SAMPLE, 0).
			u64(3).                      // nr
			u64(1).u64(0).u64(2).u64(5). // {value, lost} × 3
			u64(3).u64(0).done(),
		want: Record{Type: unix.PERF_RECORD_SAMPLE, Sample: SampleRecord{
			Read: SampleRead{Values: []ReadValue{{Value: 1}, {Value: 2, Lost: 5}, {Value: 3}}},
		}},
	}, {
		name: "sample empty callchain, software raw",
		f:    RecordFormat{SampleType: unix.PERF_SAMPLE_CALLCHAIN | unix.PERF_SAMPLE_RAW},
		raw:  recB(unix.PERF_RECORD_SAMPLE, 0).u64(0).u32(4).u32(0).done(),
		want: Record{Type: unix.PERF_RECORD_SAMPLE, Sample: SampleRecord{Raw: []byte{0, 0, 0, 0}}},
	}, {
		name: "sample no fields",
		f:    RecordFormat{},
		raw:  recB(unix.PERF_RECORD_SAMPLE, 0).done(),
		want: Record{Type: unix.PERF_RECORD_SAMPLE},
	}, {
		name: "sample pid -1",
		f:    RecordFormat{SampleType: unix.PERF_SAMPLE_TID},
		raw:  recB(unix.PERF_RECORD_SAMPLE, 0).pair(0xffffffff, 0xffffffff).done(),
		want: Record{Type: unix.PERF_RECORD_SAMPLE, Sample: SampleRecord{PID: -1, TID: -1}},
	}, {
		name: "lost",
		f:    idAll,
		raw:  tr(recB(unix.PERF_RECORD_LOST, 0).u64(7).u64(99)),
		want: Record{Type: unix.PERF_RECORD_LOST, Lost: LostRecord{ID: 7, Count: 99}, SampleID: trailer},
	}, {
		name: "lost without sample_id_all",
		f:    RecordFormat{SampleType: recTypical},
		raw:  recB(unix.PERF_RECORD_LOST, 0).u64(7).u64(99).done(),
		want: Record{Type: unix.PERF_RECORD_LOST, Lost: LostRecord{ID: 7, Count: 99}},
	}, {
		name: "lost samples",
		f:    idAll,
		raw:  tr(recB(unix.PERF_RECORD_LOST_SAMPLES, 0).u64(5)),
		want: Record{Type: unix.PERF_RECORD_LOST_SAMPLES, Lost: LostRecord{Count: 5}, SampleID: trailer},
	}, {
		name: "exit",
		f:    idAll,
		raw:  tr(recB(unix.PERF_RECORD_EXIT, 0).pair(42, 1).pair(43, 1).u64(999)),
		want: Record{Type: unix.PERF_RECORD_EXIT, Task: TaskRecord{PID: 42, PPID: 1, TID: 43, PTID: 1, Time: 999}, SampleID: trailer},
	}, {
		name: "fork",
		f:    idAll,
		raw:  tr(recB(unix.PERF_RECORD_FORK, 0).pair(44, 42).pair(44, 43).u64(998)),
		want: Record{Type: unix.PERF_RECORD_FORK, Task: TaskRecord{PID: 44, PPID: 42, TID: 44, PTID: 43, Time: 998}, SampleID: trailer},
	}, {
		name: "comm exec",
		f:    idAll,
		raw:  tr(recB(unix.PERF_RECORD_COMM, MiscCommExec).pair(42, 43).bytes([]byte("dd\x00\x00\x00\x00\x00\x00"))),
		want: Record{Type: unix.PERF_RECORD_COMM, Misc: MiscCommExec, Comm: CommRecord{PID: 42, TID: 43, Name: []byte("dd")}, SampleID: trailer},
	}, {
		name: "comm of 15 bytes",
		f:    RecordFormat{},
		raw:  recB(unix.PERF_RECORD_COMM, 0).pair(42, 43).bytes([]byte("kworker/u8:1-ev\x00")).done(),
		want: Record{Type: unix.PERF_RECORD_COMM, Comm: CommRecord{PID: 42, TID: 43, Name: []byte("kworker/u8:1-ev")}},
	}, {
		name: "comm of 8 bytes",
		f:    RecordFormat{},
		raw:  recB(unix.PERF_RECORD_COMM, 0).pair(42, 43).bytes([]byte("abcdefgh\x00\x00\x00\x00\x00\x00\x00\x00")).done(),
		want: Record{Type: unix.PERF_RECORD_COMM, Comm: CommRecord{PID: 42, TID: 43, Name: []byte("abcdefgh")}},
	}, {
		name: "throttle",
		f:    idAll,
		raw:  tr(recB(unix.PERF_RECORD_THROTTLE, 0).u64(500).u64(7).u64(6)),
		want: Record{Type: unix.PERF_RECORD_THROTTLE, Throttle: ThrottleRecord{Time: 500, ID: 7, StreamID: 6}, SampleID: trailer},
	}, {
		name: "unthrottle",
		f:    idAll,
		raw:  tr(recB(unix.PERF_RECORD_UNTHROTTLE, 0).u64(501).u64(7).u64(6)),
		want: Record{Type: unix.PERF_RECORD_UNTHROTTLE, Throttle: ThrottleRecord{Time: 501, ID: 7, StreamID: 6}, SampleID: trailer},
	}, {
		name: "mmap2 inode",
		f:    idAll,
		raw: tr(recB(unix.PERF_RECORD_MMAP2, MiscUser).
			pair(42, 43).
			u64(0x7f0000000000).u64(0x2000).u64(0x1000). // addr, len, pgoff
			pair(8, 1).u64(1234).u64(5).                 // maj, min, ino, ino_generation
			pair(unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE).
			bytes([]byte("/usr/bin/dd\x00\x00\x00\x00\x00"))),
		want: Record{Type: unix.PERF_RECORD_MMAP2, Misc: MiscUser, Mmap2: Mmap2Record{
			PID: 42, TID: 43, Addr: 0x7f0000000000, Len: 0x2000, PgOff: 0x1000,
			Maj: 8, Min: 1, Ino: 1234, InoGeneration: 5,
			Prot: unix.PROT_READ | unix.PROT_EXEC, Flags: unix.MAP_PRIVATE,
			Filename: []byte("/usr/bin/dd"),
		}, SampleID: trailer},
	}, {
		name: "mmap2 build id",
		f:    idAll,
		raw: tr(recB(unix.PERF_RECORD_MMAP2, MiscUser|MiscMmapBuildID).
			pair(42, 43).
			u64(0x7f0000000000).u64(0x2000).u64(0).
			bytes([]byte{20, 0xee, 0xee, 0xee}). // build_id_size, reserved
			bytes([]byte("0123456789abcdefghij")).
			pair(unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE).
			bytes([]byte("/usr/lib/x86_64-linux-gnu/libc.so.6\x00\x00\x00\x00\x00"))),
		want: Record{Type: unix.PERF_RECORD_MMAP2, Misc: MiscUser | MiscMmapBuildID, Mmap2: Mmap2Record{
			PID: 42, TID: 43, Addr: 0x7f0000000000, Len: 0x2000,
			BuildID: []byte("0123456789abcdefghij"),
			Prot:    unix.PROT_READ | unix.PROT_EXEC, Flags: unix.MAP_PRIVATE,
			Filename: []byte("/usr/lib/x86_64-linux-gnu/libc.so.6"),
		}, SampleID: trailer},
	}, {
		name: "mmap2 short build id, anonymous",
		f:    RecordFormat{},
		raw: recB(unix.PERF_RECORD_MMAP2, MiscMmapData|MiscMmapBuildID).
			pair(42, 42).u64(0x1000).u64(0x1000).u64(0).
			bytes([]byte{3, 0, 0, 0}).bytes([]byte("abc\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")).
			pair(unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS).
			bytes([]byte("//anon\x00\x00")).done(),
		want: Record{Type: unix.PERF_RECORD_MMAP2, Misc: MiscMmapData | MiscMmapBuildID, Mmap2: Mmap2Record{
			PID: 42, TID: 42, Addr: 0x1000, Len: 0x1000, BuildID: []byte("abc"),
			Prot: unix.PROT_READ, Flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS,
			Filename: []byte("//anon"),
		}},
	}, {
		name: "trailer of every field",
		f: RecordFormat{
			SampleType:  RecordSampleTypes,
			SampleIDAll: true,
		},
		raw: recB(unix.PERF_RECORD_LOST_SAMPLES, 0).u64(5).
			pair(42, 43).u64(1000).u64(7).u64(6).pair(1, 0).u64(7). // tid, time, id, stream_id, cpu, identifier
			done(),
		want: Record{Type: unix.PERF_RECORD_LOST_SAMPLES, Lost: LostRecord{Count: 5},
			SampleID: SampleID{PID: 42, TID: 43, Time: 1000, ID: 7, StreamID: 6, CPU: 1}},
	}, {
		name: "unknown type: header only",
		f:    idAll,
		raw:  recB(200, 0x1234).u64(1).u32(2).done(),
		want: Record{Type: 200, Misc: 0x1234},
	}, {
		name: "switch: header only",
		f:    idAll,
		raw:  tr(recB(unix.PERF_RECORD_SWITCH, 1<<13)),
		want: Record{Type: unix.PERF_RECORD_SWITCH, Misc: 1 << 13},
	}, {
		name: "mmap: header only",
		f:    RecordFormat{},
		raw:  recB(unix.PERF_RECORD_MMAP, 0).pair(1, 1).u64(0).u64(0).u64(0).str("x").done(),
		want: Record{Type: unix.PERF_RECORD_MMAP},
	}}
}

func TestDecodeRecordTable(t *testing.T) {
	var r Record // reused across the cases, as a reader does
	for _, c := range recCases() {
		t.Run(c.name, func(t *testing.T) {
			want := c.want
			want.Size = uint16(len(c.raw))
			if err := DecodeRecord(c.raw, &c.f, &r); err != nil {
				t.Fatal(err)
			}
			if !recEqual(r, want) {
				t.Errorf("got  %+v\nwant %+v", r, want)
			}
			// The encoder agrees with the hand-built bytes (up to
			// reserved bytes and padding).
			if enc := recEncode(&c.f, &want); enc != nil {
				var r2 Record
				if err := DecodeRecord(enc, &c.f, &r2); err != nil || !recEqual(r2, want) || len(enc) != len(c.raw) {
					t.Errorf("recEncode: %d bytes, %v, %+v", len(enc), err, r2)
				}
			}
		})
	}
}

// TestDecodeRecordAliases checks that the byte slices of a Record are
// subslices of the decoded bytes, capped so that an append cannot write
// over the record.
func TestDecodeRecordAliases(t *testing.T) {
	var r Record
	for _, c := range recCases() {
		if err := DecodeRecord(c.raw, &c.f, &r); err != nil {
			t.Fatal(err)
		}
		for _, s := range [][]byte{r.Sample.Raw, r.Comm.Name, r.Mmap2.Filename, r.Mmap2.BuildID} {
			if cap(s) == 0 {
				continue
			}
			if !recWithin(s, c.raw) {
				t.Errorf("%s: %q is not a subslice of the record", c.name, s)
			}
			if cap(s) != len(s) {
				t.Errorf("%s: %q has capacity %d", c.name, s, cap(s))
			}
		}
	}
}

// recWithin reports whether s lies inside buf's memory.
func recWithin(s, buf []byte) bool {
	if cap(s) == 0 {
		return true
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(buf))
}

func TestDecodeRecordErrors(t *testing.T) {
	typical := RecordFormat{SampleType: recTypical}
	idAll := RecordFormat{SampleType: recTypical, SampleIDAll: true}
	cc := RecordFormat{SampleType: unix.PERF_SAMPLE_IP | unix.PERF_SAMPLE_CALLCHAIN}
	raw := RecordFormat{SampleType: unix.PERF_SAMPLE_RAW}
	read := RecordFormat{SampleType: unix.PERF_SAMPLE_READ, ReadFormat: recGroupRead}
	good := recB(unix.PERF_RECORD_SAMPLE, 0).u64(1).pair(2, 3).u64(4).u64(5).pair(6, 0).u64(7).done()
	cases := []struct {
		name string
		f    RecordFormat
		raw  []byte
		want error
	}{
		{"nil", typical, nil, ErrBadRecord},
		{"short header", typical, good[:7], ErrBadRecord},
		{"size below header", typical, recB(200, 0).setSize(4).done(), ErrBadRecord},
		{"size zero", typical, recB(200, 0).u64(0).setSize(0).done(), ErrBadRecord},
		{"size above bytes", typical, good[:len(good)-8], ErrBadRecord},
		{"size below bytes", typical, append(append([]byte(nil), good...), 0, 0, 0, 0, 0, 0, 0, 0), ErrBadRecord},
		{"unknown type, size above bytes", typical, recB(200, 0).u64(0).setSize(24).done(), ErrBadRecord},
		{"sample short", typical, recB(unix.PERF_RECORD_SAMPLE, 0).u64(1).pair(2, 3).done(), ErrBadRecord},
		{"sample short by 4", typical, recB(unix.PERF_RECORD_SAMPLE, 0).u64(1).pair(2, 3).u64(4).u64(5).pair(6, 0).u32(7).done(), ErrBadRecord},
		{"sample trailing word", typical, recB(unix.PERF_RECORD_SAMPLE, 0).u64(1).pair(2, 3).u64(4).u64(5).pair(6, 0).u64(7).u64(0).done(), ErrBadRecord},
		{"sample with a trailer it should not have", typical, recB(unix.PERF_RECORD_SAMPLE, 0).u64(1).pair(2, 3).u64(4).u64(5).pair(6, 0).u64(7).pair(2, 3).u64(4).u64(5).pair(6, 0).done(), ErrBadRecord},
		{"callchain past the end", cc, recB(unix.PERF_RECORD_SAMPLE, 0).u64(1).u64(3).u64(recKern).u64(1).done(), ErrBadRecord},
		{"callchain nr huge", cc, recB(unix.PERF_RECORD_SAMPLE, 0).u64(1).u64(1 << 61).u64(recKern).done(), ErrBadRecord},
		{"callchain nr -1", cc, recB(unix.PERF_RECORD_SAMPLE, 0).u64(1).u64(^uint64(0)).u64(recKern).done(), ErrBadRecord},
		{"callchain short of its nr", cc, recB(unix.PERF_RECORD_SAMPLE, 0).u64(1).done(), ErrBadRecord},
		{"callchain trailing word", cc, recB(unix.PERF_RECORD_SAMPLE, 0).u64(1).u64(1).u64(recKern).u64(0).done(), ErrBadRecord},
		{"raw past the end", raw, recB(unix.PERF_RECORD_SAMPLE, 0).u32(12).u32(0).done(), ErrBadRecord},
		{"raw size huge", raw, recB(unix.PERF_RECORD_SAMPLE, 0).u32(0xffffffff).u32(0).done(), ErrBadRecord},
		{"raw not padded", raw, recB(unix.PERF_RECORD_SAMPLE, 0).u32(2).u16(0).u16(0).done(), ErrBadRecord},
		{"raw size missing", raw, recB(unix.PERF_RECORD_SAMPLE, 0).done(), ErrBadRecord},
		{"raw trailing word", raw, recB(unix.PERF_RECORD_SAMPLE, 0).u32(4).u32(0).u64(0).done(), ErrBadRecord},
		{"read nr past the end", read, recB(unix.PERF_RECORD_SAMPLE, 0).u64(2).u64(1).u64(1).u64(5).u64(7).done(), ErrBadRecord},
		{"read nr huge", read, recB(unix.PERF_RECORD_SAMPLE, 0).u64(1 << 62).u64(1).u64(1).u64(5).u64(7).done(), ErrBadRecord},
		{"read short of its times", read, recB(unix.PERF_RECORD_SAMPLE, 0).u64(0).u64(1).done(), ErrBadRecord},
		{"lost short", idAll, recB(unix.PERF_RECORD_LOST, 0).u64(7).pair(1, 2).u64(3).u64(4).pair(5, 0).done(), ErrBadRecord},
		{"lost without its trailer", idAll, recB(unix.PERF_RECORD_LOST, 0).u64(7).u64(1).done(), ErrBadRecord},
		{"lost with a trailer it should not have", typical, recB(unix.PERF_RECORD_LOST, 0).u64(7).u64(1).pair(1, 2).u64(3).u64(4).pair(5, 0).done(), ErrBadRecord},
		{"lost shorter than a trailer", idAll, recB(unix.PERF_RECORD_LOST, 0).u64(7).done(), ErrBadRecord},
		{"lost samples long", typical, recB(unix.PERF_RECORD_LOST_SAMPLES, 0).u64(7).u64(1).done(), ErrBadRecord},
		{"exit short", typical, recB(unix.PERF_RECORD_EXIT, 0).pair(1, 2).pair(3, 4).done(), ErrBadRecord},
		{"fork long", typical, recB(unix.PERF_RECORD_FORK, 0).pair(1, 2).pair(3, 4).u64(5).u64(6).done(), ErrBadRecord},
		{"throttle short", typical, recB(unix.PERF_RECORD_THROTTLE, 0).u64(1).u64(2).done(), ErrBadRecord},
		{"side-band size not a multiple of 8", typical, recB(unix.PERF_RECORD_EXIT, 0).pair(1, 2).pair(3, 4).u64(5).u32(0).done(), ErrBadRecord},
		{"comm without NUL", typical, recB(unix.PERF_RECORD_COMM, 0).pair(1, 1).bytes([]byte("abcdefgh")).done(), ErrBadRecord},
		{"comm empty", typical, recB(unix.PERF_RECORD_COMM, 0).pair(1, 1).done(), ErrBadRecord},
		{"comm short", typical, recB(unix.PERF_RECORD_COMM, 0).u32(1).done(), ErrBadRecord},
		{"comm padded too far", typical, recB(unix.PERF_RECORD_COMM, 0).pair(1, 1).str("dd").u64(0).done(), ErrBadRecord},
		{"comm eaten by the trailer", idAll, recB(unix.PERF_RECORD_COMM, 0).pair(1, 1).str("dd").pair(1, 2).u64(3).u64(4).done(), ErrBadRecord},
		{"mmap2 short", typical, recB(unix.PERF_RECORD_MMAP2, 0).pair(1, 1).u64(0).u64(0).u64(0).u64(0).u64(0).u64(0).done(), ErrBadRecord},
		{"mmap2 without filename", typical, recB(unix.PERF_RECORD_MMAP2, 0).pair(1, 1).u64(0).u64(0).u64(0).u64(0).u64(0).u64(0).pair(0, 0).done(), ErrBadRecord},
		{"mmap2 build id too long", typical, recB(unix.PERF_RECORD_MMAP2, MiscMmapBuildID).pair(1, 1).u64(0).u64(0).u64(0).
			bytes([]byte{21, 0, 0, 0}).bytes(make([]byte, 20)).pair(0, 0).str("x").done(), ErrBadRecord},
		{"unsupported sample_type", RecordFormat{SampleType: recTypical | unix.PERF_SAMPLE_BRANCH_STACK}, good, ErrUnsupportedFormat},
		{"unsupported sample_type, side-band", RecordFormat{SampleType: unix.PERF_SAMPLE_REGS_USER}, recB(unix.PERF_RECORD_LOST_SAMPLES, 0).u64(1).done(), ErrUnsupportedFormat},
		{"unsupported read_format", RecordFormat{SampleType: unix.PERF_SAMPLE_READ, ReadFormat: unix.PERF_FORMAT_MAX}, recB(unix.PERF_RECORD_SAMPLE, 0).u64(1).done(), ErrUnsupportedFormat},
	}
	// A record full of earlier decodes, to check that an error leaves it
	// zero.
	var r Record
	full := recCases()[1]
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := DecodeRecord(full.raw, &full.f, &r); err != nil {
				t.Fatal(err)
			}
			err := DecodeRecord(c.raw, &c.f, &r)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			t.Log(err)
			if !recEqual(r, Record{}) {
				t.Errorf("record not reset on error: %+v", r)
			}
			if cap(r.Sample.Callchain) == 0 || cap(r.Sample.Read.Values) == 0 {
				t.Error("an error dropped the record's storage")
			}
		})
	}
}

// TestRecordFormatPeriod: a fixed period without PERF_SAMPLE_PERIOD is
// every sample's period; with it, or by frequency, samples carry theirs.
func TestRecordFormatPeriod(t *testing.T) {
	fixed := unix.PerfEventAttr{Sample_type: recTypical &^ unix.PERF_SAMPLE_PERIOD, Sample: 1000}
	withPeriod := unix.PerfEventAttr{Sample_type: recTypical, Sample: 1000}
	freq := unix.PerfEventAttr{Sample_type: recTypical, Sample: 99, Bits: unix.PerfBitFreq}
	for _, c := range []struct {
		name string
		attr unix.PerfEventAttr
		want uint64 // RecordFormat.Period
	}{{"fixed", fixed, 1000}, {"with PERIOD", withPeriod, 0}, {"freq", freq, 0}} {
		f, err := NewRecordFormat(&c.attr)
		if err != nil {
			t.Fatal(err)
		}
		if f.Period != c.want {
			t.Errorf("%s: Period %d, want %d", c.name, f.Period, c.want)
		}
	}
	f, _ := NewRecordFormat(&fixed)
	raw := recB(unix.PERF_RECORD_SAMPLE, MiscUser).u64(0x401000).pair(42, 43).u64(123456).u64(7).pair(1, 0).done()
	var r Record
	if err := DecodeRecord(raw, &f, &r); err != nil {
		t.Fatal(err)
	}
	if r.Sample.Period != 1000 || r.Sample.CPU != 1 || r.Sample.ID != 7 {
		t.Errorf("decoded %+v: want period 1000, cpu 1, id 7", r.Sample)
	}
}

func TestRecordFormatValidate(t *testing.T) {
	for _, c := range []struct {
		st, rf uint64
		ok     bool
	}{
		{0, 0, true},
		{RecordSampleTypes, RecordReadFormats, true},
		{recTypical, 1 << 40, true}, // read_format is unused without PERF_SAMPLE_READ
		{recTypical | unix.PERF_SAMPLE_READ, 1 << 40, false},
		{unix.PERF_SAMPLE_BRANCH_STACK, 0, false},
		{unix.PERF_SAMPLE_REGS_USER, 0, false},
		{unix.PERF_SAMPLE_STACK_USER, 0, false},
		{unix.PERF_SAMPLE_WEIGHT, 0, false},
		{unix.PERF_SAMPLE_MAX, 0, false},
	} {
		f := RecordFormat{SampleType: c.st, ReadFormat: c.rf}
		err := f.Validate()
		if (err == nil) != c.ok || err != nil && !errors.Is(err, ErrUnsupportedFormat) {
			t.Errorf("sample_type %#x read_format %#x: %v", c.st, c.rf, err)
		}
		attr := unix.PerfEventAttr{Sample_type: c.st, Read_format: c.rf, Bits: unix.PerfBitSampleIDAll | unix.PerfBitDisabled}
		nf, err := NewRecordFormat(&attr)
		if (err == nil) != c.ok {
			t.Errorf("NewRecordFormat(sample_type %#x read_format %#x): %v", c.st, c.rf, err)
		}
		if want := (RecordFormat{SampleType: c.st, ReadFormat: c.rf, SampleIDAll: true}); err == nil && nf != want {
			t.Errorf("NewRecordFormat: %+v, want %+v", nf, want)
		}
	}
	f, err := NewRecordFormat(&unix.PerfEventAttr{Sample_type: recTypical})
	if err != nil || f.SampleIDAll {
		t.Errorf("NewRecordFormat without sample_id_all: %+v, %v", f, err)
	}
}

// recFull is a sample with every supported field set; recSampleFor keeps
// those of sample_type st and read_format rf.
var recFull = SampleRecord{
	ID: 7, IP: 0x401234, PID: 42, TID: 43, Time: 1e9, Addr: 0xdead, StreamID: 6, CPU: 1, Period: 3,
	Read: SampleRead{TimeEnabled: 50, TimeRunning: 40, Values: []ReadValue{
		{Value: 100, ID: 7, Lost: 1}, {Value: 200, ID: 8, Lost: 2}, {Value: 300, ID: 9, Lost: 3},
	}},
	Callchain: []uint64{recKern, 0xffffffff81000010, 0xffffffff81000020, recUser, 0x401234, 0x401000},
	Raw:       []byte("0123456789ab"),
}

func recSampleFor(st, rf uint64) SampleRecord {
	s := recFull
	has := func(bit uint64) bool { return st&bit != 0 }
	if !has(unix.PERF_SAMPLE_ID | unix.PERF_SAMPLE_IDENTIFIER) {
		s.ID = 0
	}
	if !has(unix.PERF_SAMPLE_IP) {
		s.IP = 0
	}
	if !has(unix.PERF_SAMPLE_TID) {
		s.PID, s.TID = 0, 0
	}
	if !has(unix.PERF_SAMPLE_TIME) {
		s.Time = 0
	}
	if !has(unix.PERF_SAMPLE_ADDR) {
		s.Addr = 0
	}
	if !has(unix.PERF_SAMPLE_STREAM_ID) {
		s.StreamID = 0
	}
	if !has(unix.PERF_SAMPLE_CPU) {
		s.CPU = 0
	}
	if !has(unix.PERF_SAMPLE_PERIOD) {
		s.Period = 0
	}
	if !has(unix.PERF_SAMPLE_READ) {
		s.Read = SampleRead{}
	} else {
		if rf&unix.PERF_FORMAT_TOTAL_TIME_ENABLED == 0 {
			s.Read.TimeEnabled = 0
		}
		if rf&unix.PERF_FORMAT_TOTAL_TIME_RUNNING == 0 {
			s.Read.TimeRunning = 0
		}
		n := 1
		if rf&unix.PERF_FORMAT_GROUP != 0 {
			n = len(s.Read.Values)
		}
		vals := append([]ReadValue(nil), s.Read.Values[:n]...)
		for i := range vals {
			if rf&unix.PERF_FORMAT_ID == 0 {
				vals[i].ID = 0
			}
			if rf&unix.PERF_FORMAT_LOST == 0 {
				vals[i].Lost = 0
			}
		}
		s.Read.Values = vals
	}
	if !has(unix.PERF_SAMPLE_CALLCHAIN) {
		s.Callchain = nil
	}
	if !has(unix.PERF_SAMPLE_RAW) {
		s.Raw = nil
	}
	return s
}

// recBits returns the subsets of mask (all 2^popcount of them).
func recBits(mask uint64) []uint64 {
	var set []uint64
	for sub := uint64(0); ; sub = (sub - mask) & mask {
		set = append(set, sub)
		if sub == mask {
			return set
		}
	}
}

// TestDecodeRecordCombinations decodes a sample for every combination of
// the supported sample_type bits (and read_format bits, with
// PERF_SAMPLE_READ), and checks that the same record one word shorter or
// longer is refused.
func TestDecodeRecordCombinations(t *testing.T) {
	var r Record
	n := 0
	for _, st := range recBits(RecordSampleTypes) {
		rfs := []uint64{0}
		if st&unix.PERF_SAMPLE_READ != 0 {
			rfs = recBits(RecordReadFormats)
		}
		for _, rf := range rfs {
			f := RecordFormat{SampleType: st, ReadFormat: rf}
			want := Record{Type: unix.PERF_RECORD_SAMPLE, Misc: MiscUser, Sample: recSampleFor(st, rf)}
			raw := recEncode(&f, &want)
			want.Size = uint16(len(raw))
			if err := DecodeRecord(raw, &f, &r); err != nil {
				t.Fatalf("sample_type %#x read_format %#x: %v", st, rf, err)
			}
			if !recEqual(r, want) {
				t.Fatalf("sample_type %#x read_format %#x:\ngot  %+v\nwant %+v", st, rf, r, want)
			}
			n++
			if len(raw) > recHeaderSize {
				short := append([]byte(nil), raw[:len(raw)-8]...)
				binary.NativeEndian.PutUint16(short[6:], uint16(len(short)))
				if err := DecodeRecord(short, &f, &r); !errors.Is(err, ErrBadRecord) {
					t.Fatalf("sample_type %#x read_format %#x, a word short: %v", st, rf, err)
				}
			}
			long := append(append([]byte(nil), raw...), 0, 0, 0, 0, 0, 0, 0, 0)
			binary.NativeEndian.PutUint16(long[6:], uint16(len(long)))
			if err := DecodeRecord(long, &f, &r); !errors.Is(err, ErrBadRecord) {
				t.Fatalf("sample_type %#x read_format %#x, a word long: %v", st, rf, err)
			}
		}
	}
	t.Logf("%d sample layouts", n)
}

// TestDecodeRecordTrailers decodes every side-band type with every
// sample_id trailer.
func TestDecodeRecordTrailers(t *testing.T) {
	full := SampleID{PID: 42, TID: 43, Time: 1000, ID: 7, StreamID: 6, CPU: 1}
	recs := []Record{
		{Type: unix.PERF_RECORD_LOST, Lost: LostRecord{ID: 7, Count: 3}},
		{Type: unix.PERF_RECORD_LOST_SAMPLES, Lost: LostRecord{Count: 3}},
		{Type: unix.PERF_RECORD_EXIT, Task: TaskRecord{PID: 1, PPID: 2, TID: 3, PTID: 4, Time: 5}},
		{Type: unix.PERF_RECORD_FORK, Task: TaskRecord{PID: 1, PPID: 2, TID: 3, PTID: 4, Time: 5}},
		{Type: unix.PERF_RECORD_COMM, Comm: CommRecord{PID: 1, TID: 1, Name: []byte("")}},
		{Type: unix.PERF_RECORD_COMM, Comm: CommRecord{PID: 1, TID: 1, Name: []byte("1234567")}},
		{Type: unix.PERF_RECORD_COMM, Comm: CommRecord{PID: 1, TID: 1, Name: []byte("12345678")}},
		{Type: unix.PERF_RECORD_THROTTLE, Throttle: ThrottleRecord{Time: 1, ID: 2, StreamID: 3}},
		{Type: unix.PERF_RECORD_UNTHROTTLE, Throttle: ThrottleRecord{Time: 1, ID: 2, StreamID: 3}},
		{Type: unix.PERF_RECORD_MMAP2, Mmap2: Mmap2Record{PID: 1, TID: 1, Addr: 2, Len: 3, PgOff: 4, Maj: 5, Min: 6, Ino: 7, InoGeneration: 8, Prot: 9, Flags: 10, Filename: []byte("/bin/true")}},
		{Type: unix.PERF_RECORD_MMAP2, Misc: MiscMmapBuildID, Mmap2: Mmap2Record{PID: 1, TID: 1, Addr: 2, Len: 3, PgOff: 4, BuildID: []byte("0123456789abcdefghij"), Prot: 9, Flags: 10, Filename: []byte("")}},
	}
	var r Record
	for _, st := range recBits(recSampleIDTypes | unix.PERF_SAMPLE_IP) {
		for _, idAll := range []bool{false, true} {
			f := RecordFormat{SampleType: st, SampleIDAll: idAll}
			for _, want := range recs {
				if idAll {
					want.SampleID = recTrailerFor(st, full)
				}
				raw := recEncode(&f, &want)
				want.Size = uint16(len(raw))
				if err := DecodeRecord(raw, &f, &r); err != nil {
					t.Fatalf("type %d, sample_type %#x, sample_id_all %v: %v", want.Type, st, idAll, err)
				}
				if !recEqual(r, want) {
					t.Fatalf("type %d, sample_type %#x, sample_id_all %v:\ngot  %+v\nwant %+v", want.Type, st, idAll, r, want)
				}
			}
		}
	}
}

func recTrailerFor(st uint64, id SampleID) SampleID {
	if st&unix.PERF_SAMPLE_TID == 0 {
		id.PID, id.TID = 0, 0
	}
	if st&unix.PERF_SAMPLE_TIME == 0 {
		id.Time = 0
	}
	if st&(unix.PERF_SAMPLE_ID|unix.PERF_SAMPLE_IDENTIFIER) == 0 {
		id.ID = 0
	}
	if st&unix.PERF_SAMPLE_STREAM_ID == 0 {
		id.StreamID = 0
	}
	if st&unix.PERF_SAMPLE_CPU == 0 {
		id.CPU = 0
	}
	return id
}

// TestDecodeRecordReuse decodes records of every type into one Record:
// each decode leaves only its own type's fields, and the storage is
// reused.
func TestDecodeRecordReuse(t *testing.T) {
	cases := recCases()
	var r Record
	for range 2 {
		for _, c := range cases {
			if err := DecodeRecord(c.raw, &c.f, &r); err != nil {
				t.Fatal(err)
			}
			var fresh Record
			if err := DecodeRecord(c.raw, &c.f, &fresh); err != nil {
				t.Fatal(err)
			}
			if !recEqual(r, fresh) {
				t.Errorf("%s: reused record %+v, fresh %+v", c.name, r, fresh)
			}
		}
	}
	cc := &r.Sample.Callchain
	if err := DecodeRecord(cases[1].raw, &cases[1].f, &r); err != nil {
		t.Fatal(err)
	}
	p := unsafe.SliceData(*cc)
	if err := DecodeRecord(cases[1].raw, &cases[1].f, &r); err != nil {
		t.Fatal(err)
	}
	if unsafe.SliceData(*cc) != p {
		t.Error("the callchain's backing array was not reused")
	}
}

// TestDecodeRecordAllocs checks that decoding into a reused Record does
// not allocate.
func TestDecodeRecordAllocs(t *testing.T) {
	var r Record
	for _, c := range recCases() {
		if err := DecodeRecord(c.raw, &c.f, &r); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { DecodeRecord(c.raw, &c.f, &r) }); n != 0 {
			t.Errorf("%s: %v allocations per decode", c.name, n)
		}
	}
}

func TestRecordCallchainMarker(t *testing.T) {
	for _, c := range []struct {
		v      uint64
		marker bool
		kernel bool
		name   string
	}{
		{0xffffffffffffff80, true, true, "kernel"},
		{0xfffffffffffffe00, true, false, "user"},
		{0xffffffffffffffe0, true, false, "hv"},
		{0xfffffffffffff800, true, false, "guest"},
		{0xfffffffffffff780, true, true, "guest-kernel"},
		{0xfffffffffffff600, true, false, "guest-user"},
		{0xfffffffffffffd80, true, false, "user-deferred"},
		{0xfffffffffffff001, true, false, "context(-4095)"},
		{0xffffffffffffffff, true, false, "context(-1)"},
		{0xfffffffffffff000, false, false, ""},
		{0xffffffff81000000, false, false, ""},
		{0x401000, false, false, ""},
		{0, false, false, ""},
	} {
		ctx, ok := CallchainMarker(c.v)
		if ok != c.marker {
			t.Errorf("CallchainMarker(%#x) = %v, want %v", c.v, ok, c.marker)
			continue
		}
		if !ok {
			continue
		}
		if ctx.Kernel() != c.kernel || ctx.String() != c.name {
			t.Errorf("CallchainMarker(%#x): Kernel %v, String %q; want %v, %q", c.v, ctx.Kernel(), ctx, c.kernel, c.name)
		}
	}
	// The markers are the kernel's.
	for _, c := range []struct {
		ctx  CallchainContext
		want int64
	}{
		{ContextHV, unix.PERF_CONTEXT_HV},
		{ContextKernel, unix.PERF_CONTEXT_KERNEL},
		{ContextUser, unix.PERF_CONTEXT_USER},
		{ContextGuest, unix.PERF_CONTEXT_GUEST},
		{ContextGuestKernel, unix.PERF_CONTEXT_GUEST_KERNEL},
		{ContextGuestUser, unix.PERF_CONTEXT_GUEST_USER},
		{recContextMax, unix.PERF_CONTEXT_MAX},
	} {
		if int64(c.ctx) != c.want {
			t.Errorf("%v = %d, want %d", c.ctx, int64(c.ctx), c.want)
		}
	}
}

func TestSampleReadValue(t *testing.T) {
	sr := SampleRead{TimeEnabled: 100, TimeRunning: 50, Values: []ReadValue{{Value: 10}, {Value: 30}}}
	if v := sr.Value(1); v != (Value{Raw: 30, Enabled: 100, Running: 50}) || v.Scaled() != 60 {
		t.Errorf("Value(1) = %+v", v)
	}
}

// recCheck checks what a successful decode of raw into r must satisfy,
// from the bytes and the format alone.
func recCheck(t *testing.T, f *RecordFormat, raw []byte, r *Record) {
	t.Helper()
	if int(r.Size) != len(raw) || r.Type != binary.NativeEndian.Uint32(raw) || r.Misc != binary.NativeEndian.Uint16(raw[4:]) {
		t.Fatalf("header %d/%#x/%d of a %d-byte record % x", r.Type, r.Misc, r.Size, len(raw), raw[:8])
	}
	for _, s := range [][]byte{r.Sample.Raw, r.Comm.Name, r.Mmap2.Filename, r.Mmap2.BuildID} {
		if !recWithin(s, raw) || cap(s) != len(s) {
			t.Fatalf("%q is not a capped subslice of the record", s)
		}
	}
	enc := recEncode(f, r)
	if enc == nil {
		// A type DecodeRecord does not know: the header only.
		if !recEqual(*r, Record{Type: r.Type, Misc: r.Misc, Size: r.Size}) {
			t.Fatalf("unknown type %d decoded to %+v", r.Type, r)
		}
		return
	}
	// The record is the layout of what it decoded to, word for word
	// (reserved bytes and padding aside).
	if len(enc) != len(raw) {
		t.Fatalf("decoded to %+v, which encodes to %d bytes, not %d", r, len(enc), len(raw))
	}
	var again Record
	if err := DecodeRecord(enc, f, &again); err != nil || !recEqual(again, *r) {
		t.Fatalf("decoded to %+v, whose encoding decodes to %+v, %v", r, again, err)
	}
	if r.Type != unix.PERF_RECORD_SAMPLE {
		return
	}
	s := &r.Sample
	if cap(s.Read.Values) > 2*len(raw)/8+8 {
		t.Fatalf("read values of capacity %d for a record of %d bytes", cap(s.Read.Values), len(raw))
	}
	if f.SampleType&unix.PERF_SAMPLE_CALLCHAIN != 0 {
		// The callchain follows the fixed fields and the read_format.
		fixed := unix.PERF_SAMPLE_IDENTIFIER | unix.PERF_SAMPLE_IP | unix.PERF_SAMPLE_TID |
			unix.PERF_SAMPLE_TIME | unix.PERF_SAMPLE_ADDR | unix.PERF_SAMPLE_ID |
			unix.PERF_SAMPLE_STREAM_ID | unix.PERF_SAMPLE_CPU | unix.PERF_SAMPLE_PERIOD
		off := 8 + 8*bits.OnesCount64(f.SampleType&uint64(fixed))
		if f.SampleType&unix.PERF_SAMPLE_READ != 0 {
			rf := f.ReadFormat
			per := 1 + bits.OnesCount64(rf&(unix.PERF_FORMAT_ID|unix.PERF_FORMAT_LOST))
			off += 8 * (bits.OnesCount64(rf&(unix.PERF_FORMAT_GROUP|unix.PERF_FORMAT_TOTAL_TIME_ENABLED|unix.PERF_FORMAT_TOTAL_TIME_RUNNING)) +
				per*len(s.Read.Values))
		}
		if nr := binary.NativeEndian.Uint64(raw[off:]); nr != uint64(len(s.Callchain)) {
			t.Fatalf("callchain nr %d, %d entries decoded", nr, len(s.Callchain))
		}
		for i, ip := range s.Callchain {
			if got := binary.NativeEndian.Uint64(raw[off+8+8*i:]); got != ip {
				t.Fatalf("callchain[%d] = %#x, the record says %#x", i, ip, got)
			}
		}
		if cap(s.Callchain) > 2*len(raw)/8+8 {
			t.Fatalf("callchain of capacity %d for a record of %d bytes", cap(s.Callchain), len(raw))
		}
	}
	if f.SampleType&unix.PERF_SAMPLE_RAW != 0 {
		// Raw is last: it ends the record, after its u32 size.
		n := len(s.Raw)
		if n+4 > len(raw)-8 || binary.NativeEndian.Uint32(raw[len(raw)-n-4:]) != uint32(n) ||
			unsafe.SliceData(s.Raw) != &raw[len(raw)-n] && n > 0 {
			t.Fatalf("raw of %d bytes does not end the record", n)
		}
	}
}

// FuzzDecodeRecord decodes arbitrary bytes with a format taken from the
// input (masked to the supported bits): it must not panic; an error must
// match ErrBadRecord and leave the record zero; a success must be
// consistent with the bytes (recCheck); and decoding into a used Record
// must give what decoding into a fresh one gives.
func FuzzDecodeRecord(f *testing.F) {
	cases := recCases()
	for _, c := range cases {
		f.Add(c.f.SampleType, c.f.ReadFormat, c.f.SampleIDAll, c.raw)
	}
	full := cases[1] // a sample with every field, to dirty a Record
	f.Fuzz(func(t *testing.T, sampleType, readFormat uint64, idAll bool, raw []byte) {
		rf := RecordFormat{
			SampleType:  sampleType & RecordSampleTypes,
			ReadFormat:  readFormat & RecordReadFormats,
			SampleIDAll: idAll,
		}
		var fresh Record
		err := DecodeRecord(raw, &rf, &fresh)
		dirty := new(Record)
		if err := DecodeRecord(full.raw, &full.f, dirty); err != nil {
			t.Fatal(err)
		}
		err2 := DecodeRecord(raw, &rf, dirty)
		if (err == nil) != (err2 == nil) || !recEqual(fresh, *dirty) {
			t.Fatalf("fresh record: %+v, %v; used record: %+v, %v", fresh, err, *dirty, err2)
		}
		if err != nil {
			if !errors.Is(err, ErrBadRecord) {
				t.Fatalf("error %v does not match ErrBadRecord", err)
			}
			if !recEqual(fresh, Record{}) {
				t.Fatalf("error %v left %+v", err, fresh)
			}
			return
		}
		recCheck(t, &rf, raw, &fresh)
	})
}

func BenchmarkDecodeRecord(b *testing.B) {
	cc := make([]uint64, 16)
	cc[0] = recKern
	for i := 1; i < 10; i++ {
		cc[i] = 0xffffffff81000000 + uint64(i)*0x40
	}
	cc[10] = recUser
	for i := 11; i < 16; i++ {
		cc[i] = 0x401000 + uint64(i)*0x10
	}
	sample := SampleRecord{IP: 0x401234, PID: 42, TID: 42, Time: 1e9, ID: 7, CPU: 1, Period: 1}
	withCC := sample
	withCC.Callchain = cc
	withRaw := sample
	withRaw.Raw = bytes.Repeat([]byte{0xab}, 68) // a tracepoint's fields: u32 size + 68 = 72
	for _, bc := range []struct {
		name string
		st   uint64
		s    SampleRecord
	}{
		{"sample", recTypical, sample},
		{"callchain16", recTypical | unix.PERF_SAMPLE_CALLCHAIN, withCC},
		{"raw68", recTypical | unix.PERF_SAMPLE_RAW, withRaw},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := RecordFormat{SampleType: bc.st, SampleIDAll: true}
			raw := recEncode(&f, &Record{Type: unix.PERF_RECORD_SAMPLE, Misc: MiscUser, Sample: bc.s})
			var r Record
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if err := DecodeRecord(raw, &f, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// The kernel test: real records from a real ring.

// recOpen opens a software event on pid with attr (type, size and flags
// filled in) and returns its fd and id.
func recOpen(t *testing.T, attr unix.PerfEventAttr, pid, group int) (int, uint64) {
	t.Helper()
	attr.Type = unix.PERF_TYPE_SOFTWARE
	attr.Size = attrSize
	fd, err := unix.PerfEventOpen(&attr, pid, -1, group, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		t.Fatal(os.NewSyscallError("perf_event_open", err))
	}
	t.Cleanup(func() { unix.Close(fd) })
	var id uint64
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.PERF_EVENT_IOC_ID, uintptr(unsafe.Pointer(&id))); e != 0 {
		t.Fatal(os.NewSyscallError("ioctl PERF_EVENT_IOC_ID", e))
	}
	return fd, id
}

// attr.build_id (bit 34 of the flags; x/sys/unix has no name for it).
const recBitBuildID = 1 << 34

// TestDecodeRecordKernel samples the page faults of a child (a shell
// that execs dd) from a real ring and checks the decoded records against
// what the test knows: the child's pid, the event's id, the CPU it is
// pinned to, the exec's COMM, its MMAP2 records, its EXIT.
func TestDecodeRecordKernel(t *testing.T) {
	requires(t, root, swPMU)
	testenv.Tool(t, "sh")
	testenv.Tool(t, "dd")
	t.Run("typical", func(t *testing.T) {
		recKernelRun(t, false)
	})
	t.Run("callchain-read-raw", func(t *testing.T) {
		recKernelRun(t, true)
	})
}

func recKernelRun(t *testing.T, full bool) {
	cmd := exec.Command("sh", "-c", "read x; exec dd if=/dev/zero of=/dev/null bs=4M count=4 status=none")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() { stdin.Close(); cmd.Process.Kill(); <-done }()
	child := cmd.Process.Pid
	// One CPU: the child's records then come in time order.
	cpu := runtime.NumCPU() - 1
	setCPU(t, child, cpu)

	attr := unix.PerfEventAttr{
		Config:      unix.PERF_COUNT_SW_PAGE_FAULTS,
		Sample:      1, // sample_period
		Sample_type: recTypical,
		// ID and LOST for read(2): the records the ring had no room
		// for (event->lost_samples, which counts any record).
		Read_format: unix.PERF_FORMAT_ID | unix.PERF_FORMAT_LOST,
		Bits: unix.PerfBitSampleIDAll | unix.PerfBitComm | unix.PerfBitCommExec | unix.PerfBitTask |
			unix.PerfBitMmap | unix.PerfBitMmap2,
		Wakeup: 1, // wakeup_events
	}
	if full {
		attr.Sample_type = RecordSampleTypes
		attr.Read_format = recGroupRead | unix.PERF_FORMAT_LOST
		attr.Bits |= recBitBuildID
	}
	f, err := NewRecordFormat(&attr)
	if err != nil {
		t.Fatal(err)
	}
	fd, id := recOpen(t, attr, child, -1)
	var memberID uint64
	if full {
		// A counting member: PERF_SAMPLE_READ reads the group.
		_, memberID = recOpen(t, unix.PerfEventAttr{Config: unix.PERF_COUNT_SW_TASK_CLOCK, Read_format: attr.Read_format}, child, fd)
	}
	ring, err := MapRing(fd, 3) // 32 KiB: the records wrap its end
	if err != nil {
		t.Fatal(err)
	}
	defer ring.Close()
	// Read from another CPU than the child's, so that the ring seldom
	// fills up (which drops records: PERF_RECORD_LOST).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if cpu > 0 {
		setCPU(t, 0, 0)
		defer setCPU(t, 0, -1)
	}
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	stdin.Close()

	var recs [][]byte
	for exited := false; !exited; {
		select {
		case <-done:
			exited = true
		default:
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 10)
		}
		if err := ring.Drain(func(rec []byte) { recs = append(recs, append([]byte(nil), rec...)) }); err != nil {
			t.Fatal(err)
		}
	}
	if !cmd.ProcessState.Success() {
		t.Fatalf("child: %v", cmd.ProcessState)
	}
	// The records dropped because the ring was full. The kernel writes a
	// PERF_RECORD_LOST when it next has room, which it may never have if
	// the drops are the last records.
	buf := make([]byte, 256)
	n, err := unix.Read(fd, buf)
	if err != nil {
		t.Fatal(os.NewSyscallError("read", err))
	}
	lostOff := 16 // value, id, lost
	if full {
		lostOff = 40 // nr, time_enabled, time_running, then the leader's value, id, lost
	}
	if n < lostOff+8 {
		t.Fatalf("read %d bytes", n)
	}
	dropped := binary.NativeEndian.Uint64(buf[lostOff:])

	var (
		r                            Record
		samples, kernel, user, lost  int
		comms, exits, mmaps, buildID int
		lastTime                     uint64
		lastValue, lostRecords       uint64
		exited                       bool
		seeds                        = map[string][]byte{}
	)
	seed := func(name string, raw []byte) {
		if _, ok := seeds[name]; !ok {
			seeds[name] = raw
		}
	}
	for i, raw := range recs {
		if err := DecodeRecord(raw, &f, &r); err != nil {
			t.Fatalf("record %d (% x): %v", i, raw, err)
		}
		ts := r.Sample.Time
		if r.Type != unix.PERF_RECORD_SAMPLE {
			ts = r.SampleID.Time
			if r.Type != unix.PERF_RECORD_LOST && (r.SampleID.PID != child || r.SampleID.TID != child) {
				t.Errorf("record %d: trailer %+v, want pid and tid %d", i, r.SampleID, child)
			}
			if r.SampleID.ID != id || r.SampleID.CPU != cpu {
				t.Errorf("record %d: trailer %+v, want id %d, cpu %d", i, r.SampleID, id, cpu)
			}
		}
		if ts < lastTime {
			t.Errorf("record %d (type %d): time %d before %d", i, r.Type, ts, lastTime)
		}
		lastTime = ts
		switch r.Type {
		case unix.PERF_RECORD_SAMPLE:
			s := &r.Sample
			samples++
			seed("sample", raw)
			if exited {
				t.Errorf("record %d: a sample after the EXIT", i)
			}
			if s.PID != child || s.TID != child || s.ID != id || s.CPU != cpu || s.Period != 1 || s.IP == 0 {
				t.Errorf("record %d: %+v; want pid and tid %d, id %d, cpu %d, period 1, an ip", i, s, child, id, cpu)
			}
			switch r.Misc & MiscCPUModeMask {
			case MiscKernel:
				kernel++
			case MiscUser:
				user++
			default:
				t.Errorf("record %d: misc %#x", i, r.Misc)
			}
			if !full {
				break
			}
			if s.StreamID != id {
				t.Errorf("record %d: stream id %d, want %d", i, s.StreamID, id)
			}
			rd := &s.Read
			if len(rd.Values) != 2 || rd.Values[0].ID != id || rd.Values[1].ID != memberID ||
				rd.TimeRunning == 0 || rd.TimeEnabled < rd.TimeRunning || rd.Values[0].Value < lastValue {
				t.Errorf("record %d: read %+v; want ids %d, %d", i, rd, id, memberID)
			} else {
				lastValue = rd.Values[0].Value
			}
			if len(s.Raw) != 4 || binary.NativeEndian.Uint32(s.Raw) != 0 {
				t.Errorf("record %d: raw % x; want the 4 zero bytes of a software event", i, s.Raw)
			}
			if len(s.Callchain) == 0 {
				t.Errorf("record %d: empty callchain", i)
				break
			}
			if ctx, ok := CallchainMarker(s.Callchain[0]); !ok || ctx != ContextKernel && ctx != ContextUser {
				t.Errorf("record %d: callchain %#x does not start with a kernel or user marker", i, s.Callchain)
			}
			for _, v := range s.Callchain {
				if ctx, ok := CallchainMarker(v); ok && ctx != ContextKernel && ctx != ContextUser {
					t.Errorf("record %d: callchain %#x: marker %v", i, s.Callchain, ctx)
				}
			}
		case unix.PERF_RECORD_COMM:
			comms++
			seed("comm", raw)
			if string(r.Comm.Name) != "dd" || r.Comm.PID != child || r.Comm.TID != child || r.Misc&MiscCommExec == 0 {
				t.Errorf("record %d: comm %q %+v misc %#x; want the exec of dd by %d", i, r.Comm.Name, r.Comm, r.Misc, child)
			}
		case unix.PERF_RECORD_MMAP2:
			mmaps++
			m := &r.Mmap2
			if m.PID != child || m.TID != child || m.Len == 0 || len(m.Filename) == 0 {
				t.Errorf("record %d: mmap2 %+v %q", i, m, m.Filename)
			}
			// The kernel sets MiscMmapBuildID when attr.build_id is set
			// and it found a build id (none for [vdso]).
			if hasID := r.Misc&MiscMmapBuildID != 0; hasID && (!full || len(m.BuildID) == 0) || !hasID && len(m.BuildID) != 0 {
				t.Errorf("record %d: mmap2 misc %#x, build id %x", i, r.Misc, m.BuildID)
			}
			if len(m.BuildID) > 0 {
				buildID++
				seed("mmap2-buildid", raw)
			} else {
				seed("mmap2", raw)
			}
			t.Logf("mmap2 %#x+%#x %q prot %d build id %x ino %d", m.Addr, m.Len, m.Filename, m.Prot, m.BuildID, m.Ino)
		case unix.PERF_RECORD_EXIT:
			exits++
			exited = true
			seed("exit", raw)
			// PPID and PTID are both the parent's pid. The exit's own
			// time is taken apart from the trailer's (about a µs
			// later on Linux 6.18).
			tk := &r.Task
			if tk.PID != child || tk.TID != child || tk.PPID != os.Getpid() || tk.PTID != os.Getpid() ||
				tk.Time+1e9 < r.SampleID.Time || tk.Time > r.SampleID.Time+1e9 {
				t.Errorf("record %d: exit %+v, trailer %+v; want %d, child of %d", i, tk, r.SampleID, child, os.Getpid())
			}
		case unix.PERF_RECORD_LOST:
			lost++
			lostRecords += r.Lost.Count
			seed("lost", raw)
			if r.Lost.ID != id || r.Lost.Count == 0 {
				t.Errorf("record %d: lost %+v", i, r.Lost)
			}
		default:
			t.Logf("record %d: type %d", i, r.Type)
		}
	}
	t.Logf("%d records in a ring of %d bytes: %d samples (%d kernel, %d user), %d comm, %d mmap2 (%d with a build id), %d exit, %d lost (%d records)",
		len(recs), ring.Size(), samples, kernel, user, comms, mmaps, buildID, exits, lost, lostRecords)
	if samples < 20 {
		t.Errorf("%d samples, want 20 or more", samples)
	}
	if dropped > 0 {
		t.Logf("the ring was full: %d records dropped", dropped)
	}
	// A full ring drops whatever comes, side-band records too.
	if dropped == 0 && (comms != 1 || exits != 1 || mmaps == 0 || full && buildID == 0) ||
		comms > 1 || exits > 1 {
		t.Errorf("want one COMM, one EXIT, some MMAP2 (with a build id when asked for)")
	}
	if *recWriteSeeds {
		recWriteSeedFiles(t, &f, seeds)
	}
}

// recWriteSeedFiles writes records to the fuzz corpus of
// FuzzDecodeRecord, in the corpus file format of go test -fuzz.
func recWriteSeedFiles(t *testing.T, f *RecordFormat, seeds map[string][]byte) {
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeRecord")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	prefix := "kernel-" + strings.ReplaceAll(strings.TrimPrefix(t.Name(), "TestDecodeRecordKernel/"), "/", "-")
	for name, raw := range seeds {
		body := fmt.Sprintf("go test fuzz v1\nuint64(%d)\nuint64(%d)\nbool(%v)\n[]byte(%q)\n",
			f.SampleType, f.ReadFormat, f.SampleIDAll, raw)
		if err := os.WriteFile(filepath.Join(dir, prefix+"-"+name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote %d seeds to %s", len(seeds), dir)
}

// TestDecodeReadRecord: a PERF_RECORD_READ (inherit_stat) in the layout
// the inherit follower asks for, with and without a group, its trailer
// decoded, and a body that the read_format does not fill refused.
func TestDecodeReadRecord(t *testing.T) {
	st := uint64(unix.PERF_SAMPLE_IDENTIFIER | unix.PERF_SAMPLE_TID | unix.PERF_SAMPLE_TIME | unix.PERF_SAMPLE_CPU)
	id := SampleID{PID: 7, TID: 8, Time: 99, ID: 42, CPU: 1}
	f := RecordFormat{SampleType: st, ReadFormat: InheritReadFormat, SampleIDAll: true}
	raw := recB(unix.PERF_RECORD_READ, 0).pair(7, 8).u64(1234).u64(500).u64(400).u64(42).sampleID(st, id).done()
	var r Record
	if err := DecodeRecord(raw, &f, &r); err != nil {
		t.Fatal(err)
	}
	want := ReadRecord{PID: 7, TID: 8, Values: SampleRead{TimeEnabled: 500, TimeRunning: 400, Values: []ReadValue{{Value: 1234, ID: 42}}}}
	if r.Type != unix.PERF_RECORD_READ || !reflect.DeepEqual(r.Read, want) || r.SampleID != id {
		t.Errorf("decoded %+v %+v, want %+v %+v", r.Read, r.SampleID, want, id)
	}

	g := f
	g.ReadFormat |= unix.PERF_FORMAT_GROUP
	raw = recB(unix.PERF_RECORD_READ, 0).pair(7, 8).u64(2).u64(500).u64(400).u64(1).u64(42).u64(2).u64(43).sampleID(st, id).done()
	if err := DecodeRecord(raw, &g, &r); err != nil {
		t.Fatal(err)
	}
	if v := r.Read.Values.Values; len(v) != 2 || v[0] != (ReadValue{Value: 1, ID: 42}) || v[1] != (ReadValue{Value: 2, ID: 43}) {
		t.Errorf("group: values %+v", v)
	}

	short := recB(unix.PERF_RECORD_READ, 0).pair(7, 8).u64(1234).u64(500).sampleID(st, id).done()
	if err := DecodeRecord(short, &f, &r); !errors.Is(err, ErrBadRecord) {
		t.Errorf("a READ record shorter than its read_format: %v, want ErrBadRecord", err)
	}
	long := recB(unix.PERF_RECORD_READ, 0).pair(7, 8).u64(1234).u64(500).u64(400).u64(42).u64(0).sampleID(st, id).done()
	if err := DecodeRecord(long, &f, &r); !errors.Is(err, ErrBadRecord) {
		t.Errorf("a READ record longer than its read_format: %v, want ErrBadRecord", err)
	}
}
