package perfevent

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"unicode/utf8"
)

// TracepointFormat is a tracepoint's record layout, as its format file in
// tracefs (events/SUBSYS/NAME/format) describes it. ParseFormat makes one;
// NewFieldDecoder turns it into a decoder of the records.
type TracepointFormat struct {
	Name string // "sched_switch"
	ID   uint64 // the tracepoint id, perf_event_attr.config
	// Fields in the order of the file: the common_ fields first.
	Fields []TracepointField
}

// TracepointField is one field of a tracepoint record.
//
// How it is read:
//   - LayoutScalar: one value of ElemSize bytes read from Size bytes at
//     Offset (ElemSize < Size only for a narrowed integer, see ParseFormat);
//   - LayoutArray: Len values of ElemSize bytes from Offset (Size bytes);
//   - LayoutDataLoc: a u32 at Offset (Size is 4): its low 16 bits are
//     the data's offset from the start of the record, its high 16 bits
//     the data's length in bytes; the data is len/ElemSize values;
//   - LayoutRelLoc: the same, but the offset counts from the end of the
//     field (Offset+4);
//   - LayoutTail: a flexible array "T name[]" of size 0: the values run
//     from Offset to the end of the record.
//
// A Kind of FieldString only comes with an array layout: its bytes are
// chars, shown up to the first NUL (or all of them if there is none).
type TracepointField struct {
	// Type is the C type as the format file writes it, with the array
	// dimensions moved from the name to the type, as libtraceevent does:
	// "char[16]" for "char prev_comm[16]", "pid_t", "const char *",
	// "__data_loc char[]".
	Type   string
	Name   string // "prev_comm"
	Offset int    // from the start of the record
	Size   int    // in the record; 4 for __data_loc and __rel_loc
	Signed bool   // as the kernel says (signed:1)
	// Common is true for the fields every tracepoint record starts with
	// (common_type, common_flags, common_preempt_count, common_pid, ...:
	// their names start with "common_"). The decoder leaves them out.
	Common   bool
	Kind     FieldKind
	Layout   FieldLayout
	ElemSize int // bytes of one value: 1, 2, 4 or 8 (1 for strings)
	Len      int // LayoutArray: the number of values
}

// FieldKind says how a field's values are shown. The rules are those of
// FieldDecoder.
type FieldKind uint8

const (
	FieldInt    FieldKind = iota + 1 // signed integer
	FieldUint                        // unsigned integer
	FieldHex                         // unsigned integer shown in hex: pointers and unsigned long
	FieldString                      // chars: a string
)

func (k FieldKind) String() string {
	switch k {
	case FieldInt:
		return "int"
	case FieldUint:
		return "uint"
	case FieldHex:
		return "hex"
	case FieldString:
		return "string"
	}
	return "FieldKind(" + strconv.Itoa(int(k)) + ")"
}

// FieldLayout says where a field's values are in the record; see
// TracepointField.
type FieldLayout uint8

const (
	LayoutScalar  FieldLayout = iota // one value at Offset
	LayoutArray                      // Len values at Offset
	LayoutDataLoc                    // __data_loc: offset (from the record's start) and length at Offset
	LayoutRelLoc                     // __rel_loc: offset (from the field's end) and length at Offset
	LayoutTail                       // T name[] of size 0: from Offset to the end of the record
)

func (l FieldLayout) String() string {
	switch l {
	case LayoutScalar:
		return "scalar"
	case LayoutArray:
		return "array"
	case LayoutDataLoc:
		return "__data_loc"
	case LayoutRelLoc:
		return "__rel_loc"
	case LayoutTail:
		return "tail"
	}
	return "FieldLayout(" + strconv.Itoa(int(l)) + ")"
}

// Field returns the field called name.
func (f *TracepointFormat) Field(name string) (TracepointField, bool) {
	for _, fd := range f.Fields {
		if fd.Name == name {
			return fd, true
		}
	}
	return TracepointField{}, false
}

// FormatError is a malformed format file: Line (from 1) says where.
type FormatError struct {
	Line int
	Msg  string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("tracepoint format: line %d: %s", e.Line, e.Msg)
}

func tpFormatErrorf(line int, format string, args ...any) error {
	return &FormatError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// tpMaxRecord bounds offsets and sizes: a perf record's size is a u16, so no
// tracepoint record that reaches perfprof is longer than 64 KiB.
const tpMaxRecord = 1 << 16

// ParseFormat parses the text of a tracepoint's format file:
//
//	name: sched_switch
//	ID: 316
//	format:
//		field:unsigned short common_type;	offset:0;	size:2;	signed:0;
//		...
//		field:char prev_comm[16];	offset:8;	size:16;	signed:0;
//		field:pid_t prev_pid;	offset:24;	size:4;	signed:1;
//
//	print fmt: "prev_comm=%s prev_pid=%d ...", ...
//
// Everything from "print fmt:" on is ignored. Each field line needs offset
// and size; signed (missing before Linux 2.6.31) defaults to false, and
// keys it does not know are ignored.
//
// The kind of a field (see TracepointField, FieldKind) comes from its type,
// size and signed flag:
//   - a type with a '*' (a pointer, "const char *" too: the string is in
//     user or kernel memory, not in the record) is FieldHex, and so is
//     "unsigned long" (the kernel's type for addresses: ip, caller,
//     address; perf's raw field printing shows it in hex too);
//   - an array of plain char ("char comm[16]", "__data_loc char[]") is a
//     FieldString (unsigned char and u8 arrays are numbers); any other
//     fixed array's element size is Size/N, and its elements follow the
//     rules of scalars. The elements of a __data_loc, a __rel_loc or a
//     tail ("T name[]", size 0) are of the size of their type, or bytes
//     when it is not known (a struct); cpumask_t is unsigned longs;
//   - other integers of 1, 2, 4 or 8 bytes are FieldInt if signed,
//     FieldUint if not; a scalar or element of another size (a struct)
//     becomes an array of its bytes (FieldUint, ElemSize 1);
//   - a scalar whose type is a known C or kernel integer type (int, u16,
//     pid_t, umode_t, ...; not the word-sized long, size_t, ...) narrower
//     than the field is narrowed to that type, which also decides its
//     sign. This is how syscall tracepoints store their arguments, as
//     unsigned longs: "field:int dfd; size:8; signed:0" holds an int, and
//     AT_FDCWD shows as -100, not 4294967196 or 18446744073709551516.
//
// Malformed input (a line that is none of the above, a field without
// offset or size, a number that does not parse, a field beyond 64 KiB, a
// __data_loc whose size is not 4, two fields of the same name, a name that
// is not a C identifier, no name or no ID) gives a *FormatError.
func ParseFormat(b []byte) (*TracepointFormat, error) {
	f := &TracepointFormat{}
	var haveName, haveID bool
	names := make(map[string]bool)
	for n, line := range strings.Split(string(b), "\n") {
		n++
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line == "format:":
		case strings.HasPrefix(line, "print fmt:"):
			return tpCheckFormat(f, haveName, haveID, n)
		case strings.HasPrefix(line, "name:"):
			if haveName {
				return nil, tpFormatErrorf(n, "second name")
			}
			f.Name = strings.TrimSpace(line[len("name:"):])
			if f.Name == "" {
				return nil, tpFormatErrorf(n, "empty name")
			}
			haveName = true
		case strings.HasPrefix(line, "ID:"):
			if haveID {
				return nil, tpFormatErrorf(n, "second ID")
			}
			id, err := strconv.ParseUint(strings.TrimSpace(line[len("ID:"):]), 10, 64)
			if err != nil {
				return nil, tpFormatErrorf(n, "bad ID %q", strings.TrimSpace(line[len("ID:"):]))
			}
			f.ID, haveID = id, true
		case strings.HasPrefix(line, "field:"), strings.HasPrefix(line, "field special:"):
			fd, err := tpParseField(line, n)
			if err != nil {
				return nil, err
			}
			if names[fd.Name] {
				return nil, tpFormatErrorf(n, "second field named %q", fd.Name)
			}
			names[fd.Name] = true
			f.Fields = append(f.Fields, fd)
		default:
			return nil, tpFormatErrorf(n, "unexpected %q", tpClip(line))
		}
	}
	return tpCheckFormat(f, haveName, haveID, strings.Count(string(b), "\n")+1)
}

// tpCheckFormat returns f, or an error at line (where the header ended) if
// f lacks its name or ID.
func tpCheckFormat(f *TracepointFormat, haveName, haveID bool, line int) (*TracepointFormat, error) {
	switch {
	case !haveName:
		return nil, tpFormatErrorf(line, "no name line before this one")
	case !haveID:
		return nil, tpFormatErrorf(line, "no ID line before this one")
	}
	return f, nil
}

// tpClip shortens s for an error message.
func tpClip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// tpParseField parses
// "field:TYPE NAME;	offset:N;	size:N;	signed:N;" (line n).
func tpParseField(line string, n int) (TracepointField, error) {
	var fd TracepointField
	parts := strings.Split(line, ";")
	if len(parts) < 2 {
		return fd, tpFormatErrorf(n, "field without ';': %q", tpClip(line))
	}
	decl := parts[0][strings.IndexByte(parts[0], ':')+1:]
	var haveOffset, haveSize, haveSigned bool
	for _, p := range parts[1:] {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		key, val, ok := strings.Cut(p, ":")
		if !ok {
			return fd, tpFormatErrorf(n, "%q is not key:value", tpClip(p))
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		var have *bool
		switch key {
		case "offset", "size":
			v, err := strconv.ParseUint(val, 10, 32)
			if err != nil || v > tpMaxRecord {
				return fd, tpFormatErrorf(n, "bad %s %q", key, tpClip(val))
			}
			if key == "offset" {
				fd.Offset, have = int(v), &haveOffset
			} else {
				fd.Size, have = int(v), &haveSize
			}
		case "signed":
			switch val {
			case "0", "1":
				fd.Signed = val == "1"
			default:
				return fd, tpFormatErrorf(n, "bad signed %q", tpClip(val))
			}
			have = &haveSigned
		default:
			continue // a key of a later kernel
		}
		if *have {
			return fd, tpFormatErrorf(n, "second %s", key)
		}
		*have = true
	}
	switch {
	case !haveOffset:
		return fd, tpFormatErrorf(n, "field without offset")
	case !haveSize:
		return fd, tpFormatErrorf(n, "field without size")
	case fd.Offset+fd.Size > tpMaxRecord:
		return fd, tpFormatErrorf(n, "field ends at %d, beyond the %d bytes of a record", fd.Offset+fd.Size, tpMaxRecord)
	}
	if err := tpParseDecl(&fd, decl); err != nil {
		return fd, tpFormatErrorf(n, "%v", err)
	}
	return fd, nil
}

// tpParseDecl fills fd's Type, Name, Common, Kind, Layout, ElemSize and Len
// from the declaration decl ("char prev_comm[16]") and fd's Size and
// Signed.
func tpParseDecl(fd *TracepointField, decl string) error {
	decl = strings.TrimSpace(decl)
	head, dims, err := tpCutDims(decl)
	if err != nil {
		return err
	}
	name := tpTrailingIdent(head)
	typ := strings.TrimSpace(head[:len(head)-len(name)])
	switch {
	case name == "" || '0' <= name[0] && name[0] <= '9':
		return fmt.Errorf("no field name in %q", tpClip(decl))
	case typ == "":
		return fmt.Errorf("no type in %q", tpClip(decl))
	}
	fd.Name = name
	fd.Type = typ + strings.TrimSpace(decl[len(head):])
	fd.Common = strings.HasPrefix(name, "common_")

	if loc, elem, ok := tpCutLoc(typ); ok {
		// "__data_loc char[] filename", "__data_loc cpumask_t mask".
		if len(dims) != 0 {
			return fmt.Errorf("%s field %q with dimensions", loc, name)
		}
		if fd.Size != 4 {
			return fmt.Errorf("%s field %q has size %d, not 4", loc, name, fd.Size)
		}
		fd.Layout = LayoutDataLoc
		if loc == "__rel_loc" {
			fd.Layout = LayoutRelLoc
		}
		if elem, _, err = tpCutDims(elem); err != nil {
			return err
		}
		if strings.ContainsAny(elem, "[]") {
			return fmt.Errorf("misplaced bracket in %q", tpClip(decl))
		}
		if elem == "" {
			return fmt.Errorf("%s field %q has no element type", loc, name)
		}
		c := tpClassify(elem)
		fd.setElem(c, max(c.size, 1)) // unknown: its bytes
		return nil
	}

	if strings.ContainsAny(typ, "[]") {
		return fmt.Errorf("misplaced bracket in %q", tpClip(decl))
	}
	c := tpClassify(typ)
	switch {
	case len(dims) == 0 && !tpIntSize(fd.Size):
		// A struct, or an int of a size we cannot read: its bytes.
		fd.Layout, fd.Kind, fd.ElemSize, fd.Len = LayoutArray, FieldUint, 1, fd.Size
		return nil
	case len(dims) == 0:
		fd.Layout = LayoutScalar
		if (c.kind == FieldInt || c.kind == FieldUint) && c.size != 0 && c.size < fd.Size && !c.word {
			// A narrower integer in a wider slot (syscall arguments).
			fd.Kind, fd.ElemSize = c.kind, c.size
			return nil
		}
		fd.setElem(c, fd.Size)
		return nil
	case len(dims) == 1 && dims[0] == "" && fd.Size == 0:
		fd.Layout = LayoutTail
		fd.setElem(c, max(c.size, 1))
		return nil
	}

	// A fixed array. Its number of elements is the product of its
	// dimensions, unknown (-1) when one is not a number (an enum name the
	// kernel left as is) or empty.
	fd.Layout = LayoutArray
	count := 1
	for _, d := range dims {
		v, err := strconv.Atoi(strings.TrimSpace(d))
		switch {
		case err != nil || v < 0 || count < 0:
			count = -1
		case v > tpMaxRecord || count*v > tpMaxRecord:
			return fmt.Errorf("array %q of more than %d elements", name, tpMaxRecord)
		default:
			count *= v
		}
	}
	elem := 0 // unknown
	switch {
	case count > 0:
		if fd.Size%count != 0 {
			return fmt.Errorf("array %q of %d elements has size %d", name, count, fd.Size)
		}
		elem = fd.Size / count
	case count == 0:
		if fd.Size != 0 {
			return fmt.Errorf("array %q of 0 elements has size %d", name, fd.Size)
		}
		elem = max(c.size, 1)
	case c.size != 0 && fd.Size%c.size == 0:
		elem = c.size
	}
	if !tpIntSize(elem) {
		// Elements of an unknown or odd size: the bytes.
		c, elem = tpTypeClass{kind: FieldUint}, 1
	}
	fd.setElem(c, elem)
	fd.Len = fd.Size / elem
	return nil
}

// tpCutDims splits the dimensions off a declaration: "u8 m[2][3]" gives
// "u8 m" and ["2", "3"]; "char buf[]" gives "char buf" and [""].
func tpCutDims(decl string) (head string, dims []string, err error) {
	head = decl
	for strings.HasSuffix(head, "]") {
		i := strings.LastIndexByte(head, '[')
		if i < 0 {
			return "", nil, fmt.Errorf("unbalanced ']' in %q", tpClip(decl))
		}
		inner := head[i+1 : len(head)-1]
		if strings.ContainsAny(inner, "[]") {
			return "", nil, fmt.Errorf("nested brackets in %q", tpClip(decl))
		}
		dims = append([]string{inner}, dims...)
		head = strings.TrimSpace(head[:i])
	}
	return head, dims, nil
}

// setElem sets fd's Kind and ElemSize for elements (or a scalar) of type
// class c and size bytes. The field's Signed flag decides the sign of
// integers whose type the table does not know.
func (fd *TracepointField) setElem(c tpTypeClass, size int) {
	fd.ElemSize = size
	switch {
	case c.char && size == 1 && fd.Layout != LayoutScalar:
		fd.Kind = FieldString
	case c.kind == FieldHex && (size == 4 || size == 8):
		fd.Kind = FieldHex
	case c.size == size && (c.kind == FieldInt || c.kind == FieldUint):
		fd.Kind = c.kind
	case fd.Signed:
		fd.Kind = FieldInt
	default:
		fd.Kind = FieldUint
	}
}

func tpIntSize(n int) bool { return n == 1 || n == 2 || n == 4 || n == 8 }

// tpCutLoc splits "__data_loc char[]" into "__data_loc" and "char[]".
func tpCutLoc(typ string) (loc, elem string, ok bool) {
	for _, p := range [...]string{"__data_loc", "__rel_loc"} {
		if rest, found := strings.CutPrefix(typ, p); found && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			return p, strings.TrimSpace(rest), true
		}
	}
	return "", "", false
}

// tpTrailingIdent returns the C identifier s ends with.
func tpTrailingIdent(s string) string {
	i := len(s)
	for i > 0 {
		c := s[i-1]
		if c != '_' && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') && !('0' <= c && c <= '9') {
			break
		}
		i--
	}
	return s[i:]
}

// tpTypeClass is what a C type says about its values.
type tpTypeClass struct {
	kind FieldKind // FieldHex, or FieldInt/FieldUint when size is known
	size int       // 0: unknown
	char bool      // plain char: arrays of it are strings
	word bool      // long, pointers: size is tpLongSize, never narrowed
}

// tpLongSize is sizeof(long), the kernel's as well as ours: perfprof is not
// built for 32-bit user space on a 64-bit kernel. (Were it, a long field
// would still read right, as word-sized types are never narrowed and its
// size comes from the format file; only an array of longs whose length is
// not a number, or a tail array of longs, would be cut in 4-byte values.)
const tpLongSize = bits.UintSize / 8

// tpIntTypes are the integer types whose size and sign tpClassify knows
// (after dropping const and volatile). char (whose sign depends on the
// architecture), unsigned long and cpumask_t (an array of unsigned longs)
// are tpClassify's own cases.
var tpIntTypes = func() map[string]tpTypeClass {
	m := make(map[string]tpTypeClass)
	add := func(kind FieldKind, size int, names ...string) {
		for _, n := range names {
			m[n] = tpTypeClass{kind: kind, size: size}
		}
	}
	addWord := func(kind FieldKind, names ...string) {
		for _, n := range names {
			m[n] = tpTypeClass{kind: kind, size: tpLongSize, word: true}
		}
	}
	add(FieldInt, 1, "signed char", "s8", "__s8", "int8_t")
	add(FieldUint, 1, "unsigned char", "u8", "__u8", "uint8_t", "bool", "_Bool")
	add(FieldInt, 2, "short", "short int", "signed short", "s16", "__s16", "int16_t")
	add(FieldUint, 2, "unsigned short", "unsigned short int", "short unsigned int", "u16", "__u16", "uint16_t")
	add(FieldInt, 4, "int", "signed int", "signed", "s32", "__s32", "int32_t")
	add(FieldUint, 4, "unsigned int", "unsigned", "u32", "__u32", "uint32_t")
	addWord(FieldInt, "long", "long int", "signed long")
	add(FieldInt, 8, "long long", "long long int", "s64", "__s64", "int64_t")
	add(FieldUint, 8, "unsigned long long", "unsigned long long int", "long long unsigned int", "u64", "__u64", "uint64_t")
	// Kernel typedefs of syscall arguments.
	add(FieldInt, 4, "pid_t", "clockid_t", "timer_t", "mqd_t", "key_t", "key_serial_t", "rwf_t")
	add(FieldUint, 4, "uid_t", "gid_t", "qid_t")
	add(FieldUint, 2, "umode_t")
	addWord(FieldUint, "size_t")
	addWord(FieldInt, "ssize_t", "off_t")
	add(FieldInt, 8, "loff_t")
	return m
}()

// tpClassify tells what type t says about its values.
func tpClassify(t string) tpTypeClass {
	if strings.IndexByte(t, '*') >= 0 {
		return tpTypeClass{kind: FieldHex, size: tpLongSize, word: true}
	}
	t = tpStripQualifiers(t)
	switch t {
	case "char": // its sign depends on the architecture: the field's flag says
		return tpTypeClass{size: 1, char: true}
	case "unsigned long", "unsigned long int", "long unsigned int", "long unsigned", "cpumask_t":
		return tpTypeClass{kind: FieldHex, size: tpLongSize, word: true}
	}
	return tpIntTypes[t]
}

// tpStripQualifiers drops const and volatile, and collapses blanks.
func tpStripQualifiers(t string) string {
	if !strings.Contains(t, "const") && !strings.Contains(t, "volatile") && !strings.Contains(t, "  ") && !strings.ContainsAny(t, "\t") {
		return t
	}
	words := strings.Fields(t)
	out := words[:0]
	for _, w := range words {
		if w != "const" && w != "volatile" {
			out = append(out, w)
		}
	}
	return strings.Join(out, " ")
}

// FieldDecoder shows the fields of a tracepoint's records, leaving out the
// common_ ones. It is immutable: its methods may run concurrently, and they
// allocate nothing when dst has room.
//
// A record is the tracepoint's raw data: in a PERF_RECORD_SAMPLE with
// PERF_SAMPLE_RAW, the size bytes after the u32 size (the kernel's
// struct trace_entry first, common_type at offset 0). The padding the
// kernel adds to align the sample to 8 bytes may stay at its end.
//
// How values show, in AppendText and AppendJSON:
//
//	kind          text                     JSON
//	FieldInt      -100                     -100
//	FieldUint     18446744073709551615     18446744073709551615
//	FieldHex      0xffffffff81000000       "0xffffffff81000000"
//	FieldString   bash                     "bash"
//	arrays        [1,2,3]  [0x1,0x0]       [1,2,3]  ["0x1","0x0"]
//	missing       ?                        null
//
// Integers are decimal, in JSON too, with all their digits even beyond
// 2^53 (a reader that wants them exact must not decode them as float64:
// encoding/json's UseNumber, or a uint64 field). FieldHex (pointers and
// unsigned longs, see ParseFormat) is lower-case hex after 0x, without
// padding: NULL is 0x0; JSON makes it a string, since JSON has no hex.
// Array elements follow the same rules, separated by commas, no blanks.
//
// Strings: the chars up to the first NUL, or all of them when there is no
// NUL (char[N] fields, a __data_loc or __rel_loc of chars, char x[]
// tails). Text writes them as they are, except a control byte (below
// 0x20, and 0x7f) or a byte that is not part of valid UTF-8, which is
// written \xNN, and a backslash, written \\, so that a line stays a line
// and the text can be undone. JSON escapes them as encoding/json does,
// except that it does not escape <, > and &; invalid UTF-8 becomes U+FFFD.
//
// Arrays: a __data_loc or __rel_loc of length L, and a tail array, have
// L/ElemSize values (a partial last element is dropped).
//
// Missing: a field whose bytes are not all in the record (a truncated
// record, a __data_loc pointing beyond it) shows as missing, and the
// fields after it show as usual.
type FieldDecoder struct {
	ops []tpFieldOp
}

// tpFieldOp is one field to show, with its name prepared.
type tpFieldOp struct {
	text   string // "name="
	json   string // `"name":`
	off    int
	size   int // the field's Size
	elem   int // ElemSize
	kind   FieldKind
	layout FieldLayout
}

// NewFieldDecoder returns a decoder of f's records. It leaves out the
// common_ fields and reads f's fields now: later changes to f do not
// affect it. A field that ParseFormat could not have made (a negative
// offset, a scalar of 3 bytes, ...) always shows as missing.
func NewFieldDecoder(f *TracepointFormat) *FieldDecoder {
	d := &FieldDecoder{}
	for _, fd := range f.Fields {
		if fd.Common {
			continue
		}
		op := tpFieldOp{
			text:   fd.Name + "=",
			json:   string(AppendJSONString(nil, fd.Name)) + ":",
			off:    fd.Offset,
			size:   fd.Size,
			elem:   fd.ElemSize,
			kind:   fd.Kind,
			layout: fd.Layout,
		}
		if !fd.decodable() {
			op.off = -1
		}
		d.ops = append(d.ops, op)
	}
	return d
}

// decodable reports whether the decoder can read fd without looking
// beyond what it checks on each record.
func (fd *TracepointField) decodable() bool {
	if fd.Offset < 0 || fd.Size < 0 || fd.Offset+fd.Size > tpMaxRecord || !tpIntSize(fd.ElemSize) ||
		fd.Kind < FieldInt || fd.Kind > FieldString {
		return false
	}
	switch fd.Layout {
	case LayoutScalar:
		return tpIntSize(fd.Size) && fd.ElemSize <= fd.Size && fd.Kind != FieldString
	case LayoutDataLoc, LayoutRelLoc:
		return fd.Size == 4
	case LayoutArray, LayoutTail:
		return true
	}
	return false
}

// AppendText appends raw's fields to dst as "name=value" pairs separated by
// single spaces, as perf script shows them ("prev_comm=bash prev_pid=123
// ..."), and returns the extended slice. See FieldDecoder for how each
// kind shows.
func (d *FieldDecoder) AppendText(dst, raw []byte) []byte {
	for i := range d.ops {
		op := &d.ops[i]
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, op.text...)
		b, ok := op.bytes(raw)
		switch {
		case !ok:
			dst = append(dst, '?')
		case op.kind == FieldString:
			dst = tpAppendText(dst, tpCString(b))
		case op.layout == LayoutScalar:
			dst = op.appendNumber(dst, b, false)
		default:
			dst = append(dst, '[')
			for j := 0; j+op.elem <= len(b); j += op.elem {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = op.appendNumber(dst, b[j:j+op.elem], false)
			}
			dst = append(dst, ']')
		}
	}
	return dst
}

// AppendJSON appends raw's fields to dst as one JSON object
// ({"prev_comm":"bash","prev_pid":123,...}, no blanks) and returns the
// extended slice. See FieldDecoder for how each kind shows. The object is
// valid JSON whatever raw holds.
func (d *FieldDecoder) AppendJSON(dst, raw []byte) []byte {
	dst = append(dst, '{')
	for i := range d.ops {
		op := &d.ops[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, op.json...)
		b, ok := op.bytes(raw)
		switch {
		case !ok:
			dst = append(dst, "null"...)
		case op.kind == FieldString:
			dst = AppendJSONString(dst, tpCString(b))
		case op.layout == LayoutScalar:
			dst = op.appendNumber(dst, b, true)
		default:
			dst = append(dst, '[')
			for j := 0; j+op.elem <= len(b); j += op.elem {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = op.appendNumber(dst, b[j:j+op.elem], true)
			}
			dst = append(dst, ']')
		}
	}
	return append(dst, '}')
}

// bytes returns the bytes of op's values in raw, or false when they are
// not all there.
func (op *tpFieldOp) bytes(raw []byte) ([]byte, bool) {
	if op.off < 0 {
		return nil, false
	}
	switch op.layout {
	case LayoutDataLoc, LayoutRelLoc:
		if op.off+4 > len(raw) {
			return nil, false
		}
		v := binary.NativeEndian.Uint32(raw[op.off:])
		start, n := int(v&0xffff), int(v>>16)
		if op.layout == LayoutRelLoc {
			start += op.off + 4
		}
		if start+n > len(raw) {
			return nil, false
		}
		return raw[start : start+n], true
	case LayoutTail:
		if op.off > len(raw) {
			return nil, false
		}
		return raw[op.off:], true
	}
	if op.off+op.size > len(raw) {
		return nil, false
	}
	return raw[op.off : op.off+op.size], true
}

// appendNumber appends the value in b (a scalar field's bytes, or one
// element's), quoting hex for JSON.
func (op *tpFieldOp) appendNumber(dst, b []byte, json bool) []byte {
	var v uint64
	switch len(b) {
	case 1:
		v = uint64(b[0])
	case 2:
		v = uint64(binary.NativeEndian.Uint16(b))
	case 4:
		v = uint64(binary.NativeEndian.Uint32(b))
	case 8:
		v = binary.NativeEndian.Uint64(b)
	default:
		return append(dst, '0') // not reached: decodable checks the sizes
	}
	// Narrow to ElemSize bytes (a scalar may be wider than its type).
	width := uint(op.elem * 8)
	if width < 64 {
		v &= 1<<width - 1
	}
	switch op.kind {
	case FieldInt:
		s := int64(v)
		if width < 64 {
			s = int64(v<<(64-width)) >> (64 - width)
		}
		return strconv.AppendInt(dst, s, 10)
	case FieldHex:
		if json {
			dst = append(dst, '"')
		}
		dst = append(dst, "0x"...)
		dst = strconv.AppendUint(dst, v, 16)
		if json {
			dst = append(dst, '"')
		}
		return dst
	}
	return strconv.AppendUint(dst, v, 10)
}

// tpCString returns b up to its first NUL.
func tpCString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

const tpHexDigits = "0123456789abcdef"

// tpAppendText appends s, writing control bytes and invalid UTF-8 as
// \xNN and a backslash as \\.
func tpAppendText(dst, s []byte) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\\':
				dst = append(dst, '\\', '\\')
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'x', tpHexDigits[c>>4], tpHexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, '\\', 'x', tpHexDigits[c>>4], tpHexDigits[c&0xf])
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return dst
}

// AppendJSONString appends s, a string or bytes, as a JSON string:
// quotes, backslashes and control bytes escaped, bytes that are not UTF-8
// as U+FFFD, as encoding/json writes them (without its HTML escapes). A
// comm or a tracepoint's char array may hold any byte.
func AppendJSONString[T string | []byte](dst []byte, s T) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20:
				dst = append(dst, '\\', 'u', '0', '0', tpHexDigits[c>>4], tpHexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := decodeRune(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}

// decodeRune is utf8.DecodeRune of a string or of bytes.
func decodeRune[T string | []byte](s T) (rune, int) {
	switch v := any(s).(type) {
	case string:
		return utf8.DecodeRuneInString(v)
	case []byte:
		return utf8.DecodeRune(v)
	}
	return utf8.RuneError, 1
}
