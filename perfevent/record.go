package perfevent

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"golang.org/x/sys/unix"
)

// Record decoding. A perf ring holds records, each a struct
// perf_event_header followed by a body whose layout depends on the record
// type and, for samples and for the sample_id trailer of the other types,
// on the event's attr (sample_type, read_format, sample_id_all): see
// "MMAP layout" in perf_event_open(2) and include/uapi/linux/perf_event.h.
// DecodeRecord is a pure function of a RecordFormat and one record's
// bytes, so that it is tested and fuzzed offline; the ring reader hands it
// each record contiguous.

var (
	// ErrBadRecord: the bytes of a record contradict its header or its
	// RecordFormat (a size field that does not match the bytes, a
	// callchain or raw size running past the end, a string without its
	// NUL, trailing bytes). A record from the kernel is never bad unless
	// the RecordFormat does not describe the attr it was opened with.
	ErrBadRecord = errors.New("malformed perf record")
	// ErrUnsupportedFormat: a RecordFormat asks for sample_type or
	// read_format bits whose layout DecodeRecord does not know.
	ErrUnsupportedFormat = errors.New("unsupported perf record format")
)

// Sample and read_format bits that DecodeRecord lays out.
const (
	// RecordSampleTypes are the PERF_SAMPLE_* bits a RecordFormat may
	// hold. The others (BRANCH_STACK, REGS_USER, STACK_USER, WEIGHT,
	// DATA_SRC, TRANSACTION, REGS_INTR, PHYS_ADDR, AUX, CGROUP, page
	// sizes, WEIGHT_STRUCT) come after RAW in a sample, and some need
	// more of the attr to be laid out: they are refused.
	RecordSampleTypes = unix.PERF_SAMPLE_IDENTIFIER | unix.PERF_SAMPLE_IP |
		unix.PERF_SAMPLE_TID | unix.PERF_SAMPLE_TIME | unix.PERF_SAMPLE_ADDR |
		unix.PERF_SAMPLE_ID | unix.PERF_SAMPLE_STREAM_ID | unix.PERF_SAMPLE_CPU |
		unix.PERF_SAMPLE_PERIOD | unix.PERF_SAMPLE_READ |
		unix.PERF_SAMPLE_CALLCHAIN | unix.PERF_SAMPLE_RAW
	// RecordReadFormats are the PERF_FORMAT_* bits a RecordFormat may
	// hold: all of them as of Linux 6.18.
	RecordReadFormats = unix.PERF_FORMAT_TOTAL_TIME_ENABLED |
		unix.PERF_FORMAT_TOTAL_TIME_RUNNING | unix.PERF_FORMAT_ID |
		unix.PERF_FORMAT_GROUP | unix.PERF_FORMAT_LOST

	// recSampleIDTypes are the sample_type bits that make up the sample_id
	// trailer of non-sample records.
	recSampleIDTypes = unix.PERF_SAMPLE_TID | unix.PERF_SAMPLE_TIME |
		unix.PERF_SAMPLE_ID | unix.PERF_SAMPLE_STREAM_ID |
		unix.PERF_SAMPLE_CPU | unix.PERF_SAMPLE_IDENTIFIER
)

// PERF_RECORD_MISC_* bits of Record.Misc (x/sys/unix lacks them).
const (
	// MiscCPUModeMask selects the CPU mode of a sample's IP (and of the
	// context of a side-band record): MiscKernel, MiscUser, ...
	MiscCPUModeMask = 0x7
	MiscKernel      = 1
	MiscUser        = 2
	MiscHypervisor  = 3
	MiscGuestKernel = 4
	MiscGuestUser   = 5

	// MiscCommExec is set on a PERF_RECORD_COMM written at execve.
	MiscCommExec = 1 << 13
	// MiscMmapData is set on a PERF_RECORD_MMAP2 of a non-executable
	// mapping (attr.mmap_data).
	MiscMmapData = 1 << 13
	// MiscMmapBuildID is set on a PERF_RECORD_MMAP2 that carries a build
	// id instead of maj, min, ino and ino_generation (attr.build_id).
	MiscMmapBuildID = 1 << 14
	// MiscExactIP is set on a sample whose IP is the exact instruction
	// (precise_ip).
	MiscExactIP = 1 << 14
)

// RecordFormat describes the layout of the records an event writes to its
// ring: the attr fields that the layout depends on.
type RecordFormat struct {
	// SampleType is attr.sample_type: the fields of PERF_RECORD_SAMPLE,
	// and of the sample_id trailer. Only RecordSampleTypes bits are
	// supported.
	SampleType uint64
	// ReadFormat is attr.read_format: the layout of Sample.Read. Only
	// used with PERF_SAMPLE_READ.
	ReadFormat uint64
	// SampleIDAll is attr.sample_id_all: every record but samples ends
	// with a sample_id trailer (Record.SampleID).
	SampleIDAll bool
	// Period is the fixed sample period of an event that samples by
	// period without PERF_SAMPLE_PERIOD (see SampleTypes): every sample's
	// Period. 0 otherwise.
	Period uint64
}

// NewRecordFormat returns the RecordFormat of an event opened with attr,
// or an error matching ErrUnsupportedFormat when the attr asks for sample
// fields DecodeRecord does not lay out.
func NewRecordFormat(attr *unix.PerfEventAttr) (RecordFormat, error) {
	f := RecordFormat{
		SampleType:  attr.Sample_type,
		ReadFormat:  attr.Read_format,
		SampleIDAll: attr.Bits&unix.PerfBitSampleIDAll != 0,
	}
	if attr.Sample_type&unix.PERF_SAMPLE_PERIOD == 0 && attr.Bits&unix.PerfBitFreq == 0 {
		f.Period = attr.Sample
	}
	if err := f.Validate(); err != nil {
		return RecordFormat{}, err
	}
	return f, nil
}

// Validate returns an error matching ErrUnsupportedFormat if f holds a
// sample_type bit outside RecordSampleTypes, or, with PERF_SAMPLE_READ, a
// read_format bit outside RecordReadFormats. DecodeRecord returns the same
// error for every record of such a format.
func (f *RecordFormat) Validate() error {
	if x := f.SampleType &^ RecordSampleTypes; x != 0 {
		return fmt.Errorf("%w: sample_type %#x (bits %#x)", ErrUnsupportedFormat, f.SampleType, x)
	}
	if f.SampleType&unix.PERF_SAMPLE_READ != 0 {
		if x := f.ReadFormat &^ RecordReadFormats; x != 0 {
			return fmt.Errorf("%w: read_format %#x (bits %#x)", ErrUnsupportedFormat, f.ReadFormat, x)
		}
	}
	return nil
}

// sampleIDSize returns the size of the sample_id trailer of non-sample
// records: 0 without SampleIDAll.
func (f *RecordFormat) sampleIDSize() int {
	if !f.SampleIDAll {
		return 0
	}
	return 8 * bits.OnesCount64(f.SampleType&recSampleIDTypes)
}

// Record is one decoded record. DecodeRecord fills it in place: reuse one
// Record for a whole ring, so that decoding allocates nothing once
// Sample.Callchain and Sample.Read.Values have grown to the longest seen.
//
// Type says which of the payload fields (Sample, Lost, Task, Comm,
// Throttle, Mmap2) is set; the others are zero. Byte slices (Sample.Raw,
// Comm.Name, Mmap2.Filename, Mmap2.BuildID) alias the decoded bytes: they
// are valid as long as those are, and the next DecodeRecord forgets them.
type Record struct {
	// The struct perf_event_header.
	Type uint32 // PERF_RECORD_*
	Misc uint16 // PERF_RECORD_MISC_* bits: see MiscCPUModeMask
	Size uint16 // of the whole record, header included

	Sample   SampleRecord   // PERF_RECORD_SAMPLE
	Lost     LostRecord     // PERF_RECORD_LOST, PERF_RECORD_LOST_SAMPLES
	Task     TaskRecord     // PERF_RECORD_EXIT, PERF_RECORD_FORK
	Comm     CommRecord     // PERF_RECORD_COMM
	Throttle ThrottleRecord // PERF_RECORD_THROTTLE, PERF_RECORD_UNTHROTTLE
	Mmap2    Mmap2Record    // PERF_RECORD_MMAP2
	Read     ReadRecord     // PERF_RECORD_READ

	// SampleID is the sample_id trailer of every type above but
	// PERF_RECORD_SAMPLE, set when the RecordFormat has SampleIDAll: the
	// fields of the trailer's sample_type bits, zero for the others.
	SampleID SampleID
}

// SampleRecord is a PERF_RECORD_SAMPLE. A field whose PERF_SAMPLE_* bit
// is not in the format is zero (Callchain and Read.Values empty, Raw nil).
type SampleRecord struct {
	ID       uint64 // PERF_SAMPLE_IDENTIFIER or PERF_SAMPLE_ID: the event's id
	IP       uint64 // PERF_SAMPLE_IP
	PID, TID int    // PERF_SAMPLE_TID (-1 when the kernel could not name the task)
	Time     uint64 // PERF_SAMPLE_TIME: perf clock, ns
	Addr     uint64 // PERF_SAMPLE_ADDR
	StreamID uint64 // PERF_SAMPLE_STREAM_ID
	CPU      int    // PERF_SAMPLE_CPU
	Period   uint64 // PERF_SAMPLE_PERIOD

	// Read is the struct read_format of PERF_SAMPLE_READ.
	Read SampleRead

	// Callchain is PERF_SAMPLE_CALLCHAIN: the ips, innermost first, with
	// the context markers (see CallchainMarker) as the kernel writes
	// them. Its backing array is reused by the next DecodeRecord.
	Callchain []uint64

	// Raw is PERF_SAMPLE_RAW: the raw data (for a tracepoint, the
	// event's fields), padding included, as a subslice of the decoded
	// bytes. A software event writes 4 zero bytes.
	Raw []byte
}

// SampleRead is the struct read_format of a sample (PERF_SAMPLE_READ):
// one value without PERF_FORMAT_GROUP, one per event of the group
// (leader first) with it. TimeEnabled, TimeRunning, and each value's ID
// and Lost, are zero when their PERF_FORMAT_* bit is not set.
type SampleRead struct {
	TimeEnabled uint64 // PERF_FORMAT_TOTAL_TIME_ENABLED, ns
	TimeRunning uint64 // PERF_FORMAT_TOTAL_TIME_RUNNING, ns
	// Values' backing array is reused by the next DecodeRecord.
	Values []ReadValue
}

// ReadValue is one counter of a SampleRead.
type ReadValue struct {
	Value uint64
	ID    uint64 // PERF_FORMAT_ID
	Lost  uint64 // PERF_FORMAT_LOST
}

// Value returns counter i as a Value, for Scaled and Percent.
func (s *SampleRead) Value(i int) Value {
	return Value{Raw: s.Values[i].Value, Enabled: s.TimeEnabled, Running: s.TimeRunning}
}

// LostRecord is a PERF_RECORD_LOST (the ring was full: Count records were
// dropped; ID is the id of the event that lost them) or a
// PERF_RECORD_LOST_SAMPLES (Count samples were dropped before they reached
// the ring; ID is 0).
type LostRecord struct {
	ID    uint64
	Count uint64
}

// TaskRecord is a PERF_RECORD_EXIT or PERF_RECORD_FORK (attr.task): task
// PID, TID exited, PPID and PTID being both its parent's pid (as Linux
// writes them), or was created by thread PTID of process PPID.
type TaskRecord struct {
	PID, PPID int
	TID, PTID int
	Time      uint64
}

// CommRecord is a PERF_RECORD_COMM (attr.comm): task PID, TID took the
// name Name, at execve when Record.Misc has MiscCommExec.
type CommRecord struct {
	PID, TID int
	// Name is the comm, without its NUL, as a subslice of the decoded
	// bytes.
	Name []byte
}

// ThrottleRecord is a PERF_RECORD_THROTTLE or PERF_RECORD_UNTHROTTLE: the
// event (ID, StreamID) took more interrupts in a tick than
// kernel.perf_event_max_sample_rate allows and stopped sampling, or
// started again, at Time.
type ThrottleRecord struct {
	Time     uint64
	ID       uint64
	StreamID uint64
}

// Mmap2Record is a PERF_RECORD_MMAP2: a new mapping of the task, written
// with attr.mmap2 set and attr.mmap (executable mappings) or
// attr.mmap_data (the others; Record.Misc has MiscMmapData).
type Mmap2Record struct {
	PID, TID int
	Addr     uint64 // start of the mapping
	Len      uint64
	PgOff    uint64 // file offset of Addr, in bytes
	// Without MiscMmapBuildID: the device and inode of the file.
	Maj, Min      uint32
	Ino           uint64
	InoGeneration uint64
	// BuildID is the file's build id with MiscMmapBuildID (attr.build_id)
	// set, nil without: a subslice of the decoded bytes of up to 20
	// bytes. Maj, Min, Ino and InoGeneration are then zero.
	BuildID []byte
	Prot    uint32 // PROT_*
	Flags   uint32 // MAP_*
	// Filename is the file's path (or "[heap]", "//anon", ...) without
	// its NUL, as a subslice of the decoded bytes.
	Filename []byte
}

// ReadRecord is a PERF_RECORD_READ (attr.inherit_stat): the final counts
// of an inherited event in task PID, TID, written as the task exits, in
// the layout of RecordFormat.ReadFormat. The value's ID is the id of the
// event it was inherited from (the one perfprof opened).
type ReadRecord struct {
	PID, TID int
	Values   SampleRead
}

// SampleID is the struct sample_id trailer of non-sample records.
type SampleID struct {
	PID, TID int    // PERF_SAMPLE_TID
	Time     uint64 // PERF_SAMPLE_TIME
	ID       uint64 // PERF_SAMPLE_ID or PERF_SAMPLE_IDENTIFIER
	StreamID uint64 // PERF_SAMPLE_STREAM_ID
	CPU      int    // PERF_SAMPLE_CPU
}

// recHeaderSize is sizeof(struct perf_event_header).
const recHeaderSize = 8

// Sizes of the fixed bodies (between the header and the sample_id
// trailer) of the records DecodeRecord knows.
const (
	recLostBody        = 16 // u64 id, lost
	recLostSamplesBody = 8  // u64 lost
	recTaskBody        = 24 // u32 pid, ppid, tid, ptid; u64 time
	recThrottleBody    = 24 // u64 time, id, stream_id
	recCommFixed       = 8  // u32 pid, tid; then char comm[]
	recMmap2Fixed      = 64 // u32 pid, tid; u64 addr, len, pgoff; a 24-byte union; u32 prot, flags; then char filename[]
	recBuildIDMax      = 20
)

// DecodeRecord decodes raw, one whole record (its perf_event_header
// included, len(raw) equal to its size), of an event whose records f
// describes, into r. It reads nothing outside raw and allocates nothing
// once r's Callchain and Read.Values are long enough; byte slices in r
// alias raw.
//
// It decodes PERF_RECORD_SAMPLE, LOST, LOST_SAMPLES, EXIT, FORK, COMM,
// THROTTLE, UNTHROTTLE, MMAP2 and READ, with the sample_id trailer when
// f.SampleIDAll. A record of any other type gets its header decoded only
// (its payload and SampleID are zero), without error.
//
// A record whose bytes do not fit f or its own header returns an error
// matching ErrBadRecord; a format that Validate refuses returns an error
// matching ErrUnsupportedFormat. On error r is zero but for the storage
// it keeps for reuse (r.Type is 0, which no record has).
//
// DecodeRecord keeps no state: it may run on any goroutine, concurrently
// with other decodes into other Records. A reader of one ring does:
//
//	f, err := perfevent.NewRecordFormat(&attr) // the attr the event was opened with
//	...
//	var r perfevent.Record
//	for each record raw in the ring {
//		if err := perfevent.DecodeRecord(raw, &f, &r); err != nil {
//			... // a format mismatch or a corrupt ring: count it, skip the record
//		}
//		switch r.Type {
//		case unix.PERF_RECORD_SAMPLE:
//			kernel := r.Misc&perfevent.MiscCPUModeMask == perfevent.MiscKernel
//			... r.Sample.TID, r.Sample.IP, r.Sample.Callchain
//		case unix.PERF_RECORD_LOST:
//			... r.Lost.Count
//		}
//	}
func DecodeRecord(raw []byte, f *RecordFormat, r *Record) error {
	r.reset()
	if len(raw) < recHeaderSize {
		return fmt.Errorf("%w: %d bytes, shorter than a header", ErrBadRecord, len(raw))
	}
	typ := binary.NativeEndian.Uint32(raw)
	misc := binary.NativeEndian.Uint16(raw[4:])
	size := binary.NativeEndian.Uint16(raw[6:])
	if int(size) != len(raw) || size < recHeaderSize {
		return fmt.Errorf("%w: type %d: header size %d, %d bytes", ErrBadRecord, typ, size, len(raw))
	}
	if f.SampleType&^RecordSampleTypes != 0 ||
		f.SampleType&unix.PERF_SAMPLE_READ != 0 && f.ReadFormat&^RecordReadFormats != 0 {
		return f.Validate()
	}
	var err error
	switch typ {
	case unix.PERF_RECORD_SAMPLE:
		err = recDecodeSample(raw, f, &r.Sample)
	case unix.PERF_RECORD_LOST, unix.PERF_RECORD_LOST_SAMPLES,
		unix.PERF_RECORD_EXIT, unix.PERF_RECORD_FORK, unix.PERF_RECORD_COMM,
		unix.PERF_RECORD_THROTTLE, unix.PERF_RECORD_UNTHROTTLE,
		unix.PERF_RECORD_MMAP2:
		err = recDecodeSideBand(raw, typ, misc, f, r)
	case unix.PERF_RECORD_READ:
		err = recDecodeReadRecord(raw, f, r)
	}
	if err != nil {
		r.reset()
		return err
	}
	r.Type, r.Misc, r.Size = typ, misc, size
	return nil
}

// reset zeroes r but keeps the backing arrays of Sample.Callchain and
// Sample.Read.Values.
func (r *Record) reset() {
	cc, vals, rvals := r.Sample.Callchain[:0], r.Sample.Read.Values[:0], r.Read.Values.Values[:0]
	*r = Record{}
	r.Sample.Callchain, r.Sample.Read.Values, r.Read.Values.Values = cc, vals, rvals
}

// recDecoder reads native-endian fields off the front of b. A read
// past the end sets short and returns 0: check short once at the end.
type recDecoder struct {
	b     []byte
	short bool
}

func (d *recDecoder) u64() uint64 {
	if len(d.b) < 8 {
		d.short = true
		return 0
	}
	v := binary.NativeEndian.Uint64(d.b)
	d.b = d.b[8:]
	return v
}

// u32s reads two u32 (pid, tid; cpu, res; ...).
func (d *recDecoder) u32s() (uint32, uint32) {
	if len(d.b) < 8 {
		d.short = true
		return 0, 0
	}
	a, b := binary.NativeEndian.Uint32(d.b), binary.NativeEndian.Uint32(d.b[4:])
	d.b = d.b[8:]
	return a, b
}

// pid converts a u32 pid or tid of a record to an int: the kernel writes
// -1 for a task it cannot name in the event's pid namespace.
func recPID(v uint32) int { return int(int32(v)) }

func recBadSample(what string, size int) error {
	return fmt.Errorf("%w: sample of %d bytes: %s", ErrBadRecord, size, what)
}

// recDecodeSample decodes the body of a PERF_RECORD_SAMPLE in the order of
// "struct { ... } && PERF_SAMPLE_*" of perf_event_open(2).
func recDecodeSample(raw []byte, f *RecordFormat, s *SampleRecord) error {
	st := f.SampleType
	d := recDecoder{b: raw[recHeaderSize:]}
	if st&unix.PERF_SAMPLE_IDENTIFIER != 0 {
		s.ID = d.u64()
	}
	if st&unix.PERF_SAMPLE_IP != 0 {
		s.IP = d.u64()
	}
	if st&unix.PERF_SAMPLE_TID != 0 {
		p, t := d.u32s()
		s.PID, s.TID = recPID(p), recPID(t)
	}
	if st&unix.PERF_SAMPLE_TIME != 0 {
		s.Time = d.u64()
	}
	if st&unix.PERF_SAMPLE_ADDR != 0 {
		s.Addr = d.u64()
	}
	if st&unix.PERF_SAMPLE_ID != 0 {
		s.ID = d.u64()
	}
	if st&unix.PERF_SAMPLE_STREAM_ID != 0 {
		s.StreamID = d.u64()
	}
	if st&unix.PERF_SAMPLE_CPU != 0 {
		c, _ := d.u32s()
		s.CPU = int(c)
	}
	if st&unix.PERF_SAMPLE_PERIOD != 0 {
		s.Period = d.u64()
	} else {
		s.Period = f.Period
	}
	if d.short {
		return recBadSample("shorter than its fixed fields", len(raw))
	}
	if st&unix.PERF_SAMPLE_READ != 0 {
		if err := recDecodeRead(&d, f.ReadFormat, &s.Read, len(raw)); err != nil {
			return err
		}
	}
	if st&unix.PERF_SAMPLE_CALLCHAIN != 0 {
		nr := d.u64()
		if d.short || nr > uint64(len(d.b)/8) {
			return recBadSample(fmt.Sprintf("callchain of %d entries runs past the end", nr), len(raw))
		}
		cc := slices.Grow(s.Callchain[:0], int(nr))[:nr]
		for i := range cc {
			cc[i] = binary.NativeEndian.Uint64(d.b[8*i:])
		}
		s.Callchain = cc
		d.b = d.b[8*nr:]
	}
	if st&unix.PERF_SAMPLE_RAW != 0 {
		// u32 size; char data[size]: the kernel pads data so that the
		// two end on a u64 boundary.
		if len(d.b) < 4 {
			return recBadSample("no room for the raw size", len(raw))
		}
		n := uint64(binary.NativeEndian.Uint32(d.b))
		if n > uint64(len(d.b)-4) {
			return recBadSample(fmt.Sprintf("raw data of %d bytes runs past the end", n), len(raw))
		}
		if (4+n)%8 != 0 {
			return recBadSample(fmt.Sprintf("raw data of %d bytes: size and data not a multiple of 8", n), len(raw))
		}
		s.Raw = d.b[4 : 4+n : 4+n]
		d.b = d.b[4+n:]
	}
	if len(d.b) != 0 {
		return recBadSample(fmt.Sprintf("%d bytes after the last field", len(d.b)), len(raw))
	}
	return nil
}

// recDecodeRead decodes a struct read_format of layout rf into sr:
//
//	without PERF_FORMAT_GROUP: u64 value; u64 time_enabled, time_running; u64 id, lost;
//	with it: u64 nr; u64 time_enabled, time_running; { u64 value; u64 id, lost; } [nr];
//
// each field but value and nr being there only with its PERF_FORMAT_* bit.
func recDecodeRead(d *recDecoder, rf uint64, sr *SampleRead, size int) error {
	hasID, hasLost := rf&unix.PERF_FORMAT_ID != 0, rf&unix.PERF_FORMAT_LOST != 0
	if rf&unix.PERF_FORMAT_GROUP == 0 {
		v := ReadValue{Value: d.u64()}
		if rf&unix.PERF_FORMAT_TOTAL_TIME_ENABLED != 0 {
			sr.TimeEnabled = d.u64()
		}
		if rf&unix.PERF_FORMAT_TOTAL_TIME_RUNNING != 0 {
			sr.TimeRunning = d.u64()
		}
		if hasID {
			v.ID = d.u64()
		}
		if hasLost {
			v.Lost = d.u64()
		}
		if d.short {
			return recBadSample("read_format runs past the end", size)
		}
		sr.Values = append(sr.Values[:0], v)
		return nil
	}
	nr := d.u64()
	if rf&unix.PERF_FORMAT_TOTAL_TIME_ENABLED != 0 {
		sr.TimeEnabled = d.u64()
	}
	if rf&unix.PERF_FORMAT_TOTAL_TIME_RUNNING != 0 {
		sr.TimeRunning = d.u64()
	}
	per := 1 // u64s per value
	if hasID {
		per++
	}
	if hasLost {
		per++
	}
	if d.short || nr > uint64(len(d.b)/(8*per)) {
		return recBadSample(fmt.Sprintf("read_format of %d values runs past the end", nr), size)
	}
	vals := slices.Grow(sr.Values[:0], int(nr))[:nr]
	for i := range vals {
		v := ReadValue{Value: d.u64()}
		if hasID {
			v.ID = d.u64()
		}
		if hasLost {
			v.Lost = d.u64()
		}
		vals[i] = v
	}
	sr.Values = vals
	return nil
}

// recDecodeReadRecord decodes a PERF_RECORD_READ: u32 pid, tid; struct
// read_format; then the sample_id trailer.
func recDecodeReadRecord(raw []byte, f *RecordFormat, r *Record) error {
	if f.ReadFormat&^RecordReadFormats != 0 {
		return fmt.Errorf("%w: read_format %#x", ErrUnsupportedFormat, f.ReadFormat)
	}
	idSize := f.sampleIDSize()
	if len(raw)%8 != 0 || len(raw)-recHeaderSize < idSize {
		return recBadSideBand(unix.PERF_RECORD_READ, len(raw), "shorter than its sample_id")
	}
	body := raw[recHeaderSize : len(raw)-idSize]
	d := recDecoder{b: body}
	pid, tid := d.u32s()
	if err := recDecodeRead(&d, f.ReadFormat, &r.Read.Values, len(raw)); err != nil {
		return err
	}
	if d.short || len(d.b) != 0 {
		return recBadSideBand(unix.PERF_RECORD_READ, len(raw), "read_format does not fill its body")
	}
	r.Read.PID, r.Read.TID = recPID(pid), recPID(tid)
	if f.SampleIDAll {
		recDecodeSampleID(raw[len(raw)-idSize:], f.SampleType, &r.SampleID)
	}
	return nil
}

// recDecodeSideBand decodes a non-sample record of a type DecodeRecord
// knows: its fixed body, its string if any, and its sample_id trailer,
// which ends the record.
func recDecodeSideBand(raw []byte, typ uint32, misc uint16, f *RecordFormat, r *Record) error {
	idSize := f.sampleIDSize()
	if len(raw)%8 != 0 || len(raw)-recHeaderSize < idSize {
		return recBadSideBand(typ, len(raw), "size not a multiple of 8 or too small for the sample_id trailer")
	}
	body := raw[recHeaderSize : len(raw)-idSize]
	d := recDecoder{b: body}
	fixed := func(n int) error {
		if len(body) != n {
			return recBadSideBand(typ, len(raw), fmt.Sprintf("body of %d bytes, want %d", len(body), n))
		}
		return nil
	}
	switch typ {
	case unix.PERF_RECORD_LOST:
		if err := fixed(recLostBody); err != nil {
			return err
		}
		r.Lost = LostRecord{ID: d.u64(), Count: d.u64()}
	case unix.PERF_RECORD_LOST_SAMPLES:
		if err := fixed(recLostSamplesBody); err != nil {
			return err
		}
		r.Lost = LostRecord{Count: d.u64()}
	case unix.PERF_RECORD_EXIT, unix.PERF_RECORD_FORK:
		if err := fixed(recTaskBody); err != nil {
			return err
		}
		p, pp := d.u32s()
		t, pt := d.u32s()
		r.Task = TaskRecord{PID: recPID(p), PPID: recPID(pp), TID: recPID(t), PTID: recPID(pt), Time: d.u64()}
	case unix.PERF_RECORD_THROTTLE, unix.PERF_RECORD_UNTHROTTLE:
		if err := fixed(recThrottleBody); err != nil {
			return err
		}
		r.Throttle = ThrottleRecord{Time: d.u64(), ID: d.u64(), StreamID: d.u64()}
	case unix.PERF_RECORD_COMM:
		if len(body) < recCommFixed {
			return recBadSideBand(typ, len(raw), "body too short")
		}
		p, t := d.u32s()
		name, err := recString(body[recCommFixed:])
		if err != nil {
			return recBadSideBand(typ, len(raw), "comm: "+err.Error())
		}
		r.Comm = CommRecord{PID: recPID(p), TID: recPID(t), Name: name}
	case unix.PERF_RECORD_MMAP2:
		if len(body) < recMmap2Fixed {
			return recBadSideBand(typ, len(raw), "body too short")
		}
		m := &r.Mmap2
		p, t := d.u32s()
		m.PID, m.TID = recPID(p), recPID(t)
		m.Addr, m.Len, m.PgOff = d.u64(), d.u64(), d.u64()
		if misc&MiscMmapBuildID != 0 {
			// u8 build_id_size; u8, u16 reserved; u8 build_id[20].
			n := int(d.b[0])
			if n > recBuildIDMax {
				return recBadSideBand(typ, len(raw), fmt.Sprintf("build id of %d bytes", n))
			}
			m.BuildID = d.b[4 : 4+n : 4+n]
			d.b = d.b[24:]
		} else {
			m.Maj, m.Min = d.u32s()
			m.Ino, m.InoGeneration = d.u64(), d.u64()
		}
		m.Prot, m.Flags = d.u32s()
		name, err := recString(body[recMmap2Fixed:])
		if err != nil {
			return recBadSideBand(typ, len(raw), "filename: "+err.Error())
		}
		m.Filename = name
	}
	if f.SampleIDAll {
		recDecodeSampleID(raw[len(raw)-idSize:], f.SampleType, &r.SampleID)
	}
	return nil
}

func recBadSideBand(typ uint32, size int, what string) error {
	return fmt.Errorf("%w: type %d, %d bytes: %s", ErrBadRecord, typ, size, what)
}

// recString returns the NUL-terminated string at the start of b, which
// must be exactly the string and its NUL padded to a multiple of 8 bytes,
// as the kernel writes comm and filename.
func recString(b []byte) ([]byte, error) {
	n := bytes.IndexByte(b, 0)
	if n < 0 {
		return nil, errors.New("no NUL")
	}
	if want := (n + 1 + 7) &^ 7; len(b) != want {
		return nil, fmt.Errorf("%d bytes for a string of %d, want %d", len(b), n, want)
	}
	return b[:n:n], nil
}

// recDecodeSampleID decodes a sample_id trailer of exactly the size of the
// sample_type bits it holds.
func recDecodeSampleID(b []byte, st uint64, id *SampleID) {
	d := recDecoder{b: b}
	if st&unix.PERF_SAMPLE_TID != 0 {
		p, t := d.u32s()
		id.PID, id.TID = recPID(p), recPID(t)
	}
	if st&unix.PERF_SAMPLE_TIME != 0 {
		id.Time = d.u64()
	}
	if st&unix.PERF_SAMPLE_ID != 0 {
		id.ID = d.u64()
	}
	if st&unix.PERF_SAMPLE_STREAM_ID != 0 {
		id.StreamID = d.u64()
	}
	if st&unix.PERF_SAMPLE_CPU != 0 {
		c, _ := d.u32s()
		id.CPU = int(c)
	}
	if st&unix.PERF_SAMPLE_IDENTIFIER != 0 {
		id.ID = d.u64()
	}
}

// CallchainContext is a context marker of a callchain
// (PERF_CONTEXT_*): the entries after it, up to the next marker, are
// addresses in that context.
type CallchainContext uint64

// The markers of enum perf_callchain_context.
const (
	ContextHV          CallchainContext = 1<<64 - 32   // PERF_CONTEXT_HV
	ContextKernel      CallchainContext = 1<<64 - 128  // PERF_CONTEXT_KERNEL
	ContextUser        CallchainContext = 1<<64 - 512  // PERF_CONTEXT_USER
	ContextGuest       CallchainContext = 1<<64 - 2048 // PERF_CONTEXT_GUEST
	ContextGuestKernel CallchainContext = 1<<64 - 2176 // PERF_CONTEXT_GUEST_KERNEL
	ContextGuestUser   CallchainContext = 1<<64 - 2560 // PERF_CONTEXT_GUEST_USER
	// ContextUserDeferred is PERF_CONTEXT_USER_DEFERRED (Linux 6.19,
	// attr.defer_callchain): the entry after it is a cookie, not an
	// address.
	ContextUserDeferred CallchainContext = 1<<64 - 640

	recContextMax CallchainContext = 1<<64 - 4095 // PERF_CONTEXT_MAX: every marker is at least this
)

// CallchainMarker reports whether v, an entry of Sample.Callchain, is a
// context marker rather than an address, and which context it starts.
// Every value from PERF_CONTEXT_MAX up is a marker, including ones this
// package does not name.
func CallchainMarker(v uint64) (CallchainContext, bool) {
	c := CallchainContext(v)
	return c, c >= recContextMax
}

// Kernel reports whether c starts kernel frames (of the host or of a
// guest).
func (c CallchainContext) Kernel() bool { return c == ContextKernel || c == ContextGuestKernel }

// String returns "kernel", "user", "hv", "guest", "guest-kernel",
// "guest-user", "user-deferred", or "context(-N)" for another marker.
func (c CallchainContext) String() string {
	switch c {
	case ContextHV:
		return "hv"
	case ContextKernel:
		return "kernel"
	case ContextUser:
		return "user"
	case ContextGuest:
		return "guest"
	case ContextGuestKernel:
		return "guest-kernel"
	case ContextGuestUser:
		return "guest-user"
	case ContextUserDeferred:
		return "user-deferred"
	}
	return fmt.Sprintf("context(%d)", int64(c))
}
