package perfevent

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tpEveryKind is a hand-written format with a field of every kind.
const tpEveryKind = `name: every_kind
ID: 4242
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:unsigned char common_flags;	offset:2;	size:1;	signed:0;
	field:unsigned char common_preempt_count;	offset:3;	size:1;	signed:0;
	field:int common_pid;	offset:4;	size:4;	signed:1;

	field:char comm[8];	offset:8;	size:8;	signed:0;
	field:s8 i8;	offset:16;	size:1;	signed:1;
	field:u8 u8v;	offset:17;	size:1;	signed:0;
	field:short i16;	offset:18;	size:2;	signed:1;
	field:unsigned short u16v;	offset:20;	size:2;	signed:0;
	field:bool flag;	offset:22;	size:1;	signed:0;
	field:char c;	offset:23;	size:1;	signed:1;
	field:int i32;	offset:24;	size:4;	signed:1;
	field:u32 u32v;	offset:28;	size:4;	signed:0;
	field:s64 i64;	offset:32;	size:8;	signed:1;
	field:u64 u64v;	offset:40;	size:8;	signed:0;
	field:unsigned long ip;	offset:48;	size:8;	signed:0;
	field:void * ptr;	offset:56;	size:8;	signed:0;
	field:const char * filename;	offset:64;	size:8;	signed:0;
	field:int dfd;	offset:72;	size:8;	signed:0;
	field:u64 args[3];	offset:80;	size:24;	signed:0;
	field:unsigned long callers[2];	offset:104;	size:16;	signed:0;
	field:s16 deltas[2];	offset:120;	size:4;	signed:1;
	field:__data_loc char[] name;	offset:124;	size:4;	signed:0;
	field:__rel_loc char[] rel;	offset:128;	size:4;	signed:0;
	field:__data_loc u32[] ids;	offset:132;	size:4;	signed:0;
	field:struct foo blob;	offset:136;	size:3;	signed:0;
	field:char tail[];	offset:139;	size:0;	signed:0;

print fmt: "comm=%s", REC->comm
`

// tpWantEveryKind is tpEveryKind's fields after the common ones.
var tpWantEveryKind = []TracepointField{
	{Type: "char[8]", Name: "comm", Offset: 8, Size: 8, Kind: FieldString, Layout: LayoutArray, ElemSize: 1, Len: 8},
	{Type: "s8", Name: "i8", Offset: 16, Size: 1, Signed: true, Kind: FieldInt, ElemSize: 1},
	{Type: "u8", Name: "u8v", Offset: 17, Size: 1, Kind: FieldUint, ElemSize: 1},
	{Type: "short", Name: "i16", Offset: 18, Size: 2, Signed: true, Kind: FieldInt, ElemSize: 2},
	{Type: "unsigned short", Name: "u16v", Offset: 20, Size: 2, Kind: FieldUint, ElemSize: 2},
	{Type: "bool", Name: "flag", Offset: 22, Size: 1, Kind: FieldUint, ElemSize: 1},
	{Type: "char", Name: "c", Offset: 23, Size: 1, Signed: true, Kind: FieldInt, ElemSize: 1},
	{Type: "int", Name: "i32", Offset: 24, Size: 4, Signed: true, Kind: FieldInt, ElemSize: 4},
	{Type: "u32", Name: "u32v", Offset: 28, Size: 4, Kind: FieldUint, ElemSize: 4},
	{Type: "s64", Name: "i64", Offset: 32, Size: 8, Signed: true, Kind: FieldInt, ElemSize: 8},
	{Type: "u64", Name: "u64v", Offset: 40, Size: 8, Kind: FieldUint, ElemSize: 8},
	{Type: "unsigned long", Name: "ip", Offset: 48, Size: 8, Kind: FieldHex, ElemSize: 8},
	{Type: "void *", Name: "ptr", Offset: 56, Size: 8, Kind: FieldHex, ElemSize: 8},
	{Type: "const char *", Name: "filename", Offset: 64, Size: 8, Kind: FieldHex, ElemSize: 8},
	{Type: "int", Name: "dfd", Offset: 72, Size: 8, Kind: FieldInt, ElemSize: 4},
	{Type: "u64[3]", Name: "args", Offset: 80, Size: 24, Kind: FieldUint, Layout: LayoutArray, ElemSize: 8, Len: 3},
	{Type: "unsigned long[2]", Name: "callers", Offset: 104, Size: 16, Kind: FieldHex, Layout: LayoutArray, ElemSize: 8, Len: 2},
	{Type: "s16[2]", Name: "deltas", Offset: 120, Size: 4, Signed: true, Kind: FieldInt, Layout: LayoutArray, ElemSize: 2, Len: 2},
	{Type: "__data_loc char[]", Name: "name", Offset: 124, Size: 4, Kind: FieldString, Layout: LayoutDataLoc, ElemSize: 1},
	{Type: "__rel_loc char[]", Name: "rel", Offset: 128, Size: 4, Kind: FieldString, Layout: LayoutRelLoc, ElemSize: 1},
	{Type: "__data_loc u32[]", Name: "ids", Offset: 132, Size: 4, Kind: FieldUint, Layout: LayoutDataLoc, ElemSize: 4},
	{Type: "struct foo", Name: "blob", Offset: 136, Size: 3, Kind: FieldUint, Layout: LayoutArray, ElemSize: 1, Len: 3},
	{Type: "char[]", Name: "tail", Offset: 139, Size: 0, Kind: FieldString, Layout: LayoutTail, ElemSize: 1},
}

func tpMustParse(t testing.TB, text string) *TracepointFormat {
	t.Helper()
	f, err := ParseFormat([]byte(text))
	if err != nil {
		t.Fatalf("ParseFormat: %v", err)
	}
	return f
}

func TestParseFormatEveryKind(t *testing.T) {
	f := tpMustParse(t, tpEveryKind)
	if f.Name != "every_kind" || f.ID != 4242 {
		t.Errorf("name %q, ID %d; want every_kind, 4242", f.Name, f.ID)
	}
	if len(f.Fields) != 4+len(tpWantEveryKind) {
		t.Fatalf("%d fields, want %d", len(f.Fields), 4+len(tpWantEveryKind))
	}
	wantCommon := []TracepointField{
		{Type: "unsigned short", Name: "common_type", Offset: 0, Size: 2, Common: true, Kind: FieldUint, ElemSize: 2},
		{Type: "unsigned char", Name: "common_flags", Offset: 2, Size: 1, Common: true, Kind: FieldUint, ElemSize: 1},
		{Type: "unsigned char", Name: "common_preempt_count", Offset: 3, Size: 1, Common: true, Kind: FieldUint, ElemSize: 1},
		{Type: "int", Name: "common_pid", Offset: 4, Size: 4, Signed: true, Common: true, Kind: FieldInt, ElemSize: 4},
	}
	for i, want := range append(wantCommon, tpWantEveryKind...) {
		if got := f.Fields[i]; got != want {
			t.Errorf("field %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	if fd, ok := f.Field("dfd"); !ok || fd.Offset != 72 {
		t.Errorf(`Field("dfd") = %+v, %v`, fd, ok)
	}
	if _, ok := f.Field("nope"); ok {
		t.Error(`Field("nope") found a field`)
	}
}

// TestParseFormatTypes checks how single declarations tpClassify.
func TestParseFormatTypes(t *testing.T) {
	for _, tc := range []struct {
		line string
		want TracepointField // Name and Offset not checked
	}{
		// Arrays whose size is an enum name, the kernel's way before 5.x.
		{"field:char comm[TASK_COMM_LEN];	offset:8;	size:16;	signed:0;",
			TracepointField{Type: "char[TASK_COMM_LEN]", Size: 16, Kind: FieldString, Layout: LayoutArray, ElemSize: 1, Len: 16}},
		{"field:u32 regs[NR];	offset:8;	size:16;	signed:0;",
			TracepointField{Type: "u32[NR]", Size: 16, Kind: FieldUint, Layout: LayoutArray, ElemSize: 4, Len: 4}},
		{"field:struct x xs[N];	offset:8;	size:12;	signed:0;",
			TracepointField{Type: "struct x[N]", Size: 12, Kind: FieldUint, Layout: LayoutArray, ElemSize: 1, Len: 12}},
		// Two dimensions, elements of an odd size, no elements.
		{"field:u8 m[2][3];	offset:8;	size:6;	signed:0;",
			TracepointField{Type: "u8[2][3]", Size: 6, Kind: FieldUint, Layout: LayoutArray, ElemSize: 1, Len: 6}},
		{"field:struct x xs[2];	offset:8;	size:6;	signed:0;",
			TracepointField{Type: "struct x[2]", Size: 6, Kind: FieldUint, Layout: LayoutArray, ElemSize: 1, Len: 6}},
		{"field:u64 none[0];	offset:8;	size:0;	signed:0;",
			TracepointField{Type: "u64[0]", Kind: FieldUint, Layout: LayoutArray, ElemSize: 8}},
		// unsigned char and u8 arrays are numbers, not strings.
		{"field:unsigned char mac[6];	offset:8;	size:6;	signed:0;",
			TracepointField{Type: "unsigned char[6]", Size: 6, Kind: FieldUint, Layout: LayoutArray, ElemSize: 1, Len: 6}},
		// The ftrace function event's arguments.
		{"field:unsigned long args[];	offset:24;	size:0;	signed:0;",
			TracepointField{Type: "unsigned long[]", Kind: FieldHex, Layout: LayoutTail, ElemSize: 8}},
		{"field:__data_loc cpumask_t mask;	offset:8;	size:4;	signed:0;",
			TracepointField{Type: "__data_loc cpumask_t", Size: 4, Kind: FieldHex, Layout: LayoutDataLoc, ElemSize: 8}},
		{"field:__data_loc struct x[] xs;	offset:8;	size:4;	signed:0;",
			TracepointField{Type: "__data_loc struct x[]", Size: 4, Kind: FieldUint, Layout: LayoutDataLoc, ElemSize: 1}},
		{"field:__rel_loc s16[] v;	offset:8;	size:4;	signed:1;",
			TracepointField{Type: "__rel_loc s16[]", Size: 4, Signed: true, Kind: FieldInt, Layout: LayoutRelLoc, ElemSize: 2}},
		// Pointers, qualifiers, syscall arguments in unsigned longs.
		{"field:const struct iovec * vec;	offset:8;	size:8;	signed:0;",
			TracepointField{Type: "const struct iovec *", Size: 8, Kind: FieldHex, ElemSize: 8}},
		{"field:const char *const * argv;	offset:8;	size:8;	signed:0;",
			TracepointField{Type: "const char *const *", Size: 8, Kind: FieldHex, ElemSize: 8}},
		{"field:const clockid_t which;	offset:8;	size:8;	signed:0;",
			TracepointField{Type: "const clockid_t", Size: 8, Kind: FieldInt, ElemSize: 4}},
		{"field:umode_t mode;	offset:8;	size:8;	signed:0;",
			TracepointField{Type: "umode_t", Size: 8, Kind: FieldUint, ElemSize: 2}},
		{"field:size_t count;	offset:8;	size:8;	signed:0;",
			TracepointField{Type: "size_t", Size: 8, Kind: FieldUint, ElemSize: 8}},
		{"field:unsigned long long ts;	offset:8;	size:8;	signed:0;",
			TracepointField{Type: "unsigned long long", Size: 8, Kind: FieldUint, ElemSize: 8}},
		// Unknown typedefs follow the signed flag.
		{"field:xfs_ino_t ino;	offset:8;	size:8;	signed:0;",
			TracepointField{Type: "xfs_ino_t", Size: 8, Kind: FieldUint, ElemSize: 8}},
		{"field:xfs_off_t off;	offset:8;	size:8;	signed:1;",
			TracepointField{Type: "xfs_off_t", Size: 8, Signed: true, Kind: FieldInt, ElemSize: 8}},
		// A scalar of an odd size, and without signed (before 2.6.31).
		{"field:struct in6 addr;	offset:8;	size:16;	signed:0;",
			TracepointField{Type: "struct in6", Size: 16, Kind: FieldUint, Layout: LayoutArray, ElemSize: 1, Len: 16}},
		{"field:int x;	offset:8;	size:4;",
			TracepointField{Type: "int", Size: 4, Kind: FieldInt, ElemSize: 4}},
		{"field special:int x;	offset:8;	size:4;	signed:1;	future:7;",
			TracepointField{Type: "int", Size: 4, Signed: true, Kind: FieldInt, ElemSize: 4}},
	} {
		f, err := ParseFormat([]byte("name: t\nID: 1\nformat:\n\t" + tc.line + "\n"))
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		got := f.Fields[0]
		got.Name, got.Offset = "", 0
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
	}
}

func TestParseFormatErrors(t *testing.T) {
	const head = "name: t\nID: 1\nformat:\n"
	for _, tc := range []struct {
		name, in string
		line     int
		msg      string
	}{
		{"garbage", head + "hello\n", 4, `unexpected "hello"`},
		{"no size", head + "\tfield:int a;\toffset:0;\n", 4, "without size"},
		{"no offset", head + "\tfield:int a;\tsize:4;\n", 4, "without offset"},
		{"no semicolon", head + "\tfield:int a\n", 4, "without ';'"},
		{"bad offset", head + "\tfield:int a;\toffset:x;\tsize:4;\n", 4, `bad offset "x"`},
		{"negative size", head + "\tfield:int a;\toffset:0;\tsize:-4;\n", 4, `bad size "-4"`},
		{"bad signed", head + "\tfield:int a;\toffset:0;\tsize:4;\tsigned:2;\n", 4, `bad signed "2"`},
		{"not key:value", head + "\tfield:int a;\toffset:0;\tsize:4;\tjunk;\n", 4, "not key:value"},
		{"second offset", head + "\tfield:int a;\toffset:0;\toffset:0;\tsize:4;\n", 4, "second offset"},
		{"beyond 64K", head + "\tfield:int a;\toffset:65534;\tsize:4;\n", 4, "beyond"},
		{"huge offset", head + "\tfield:int a;\toffset:99999999999;\tsize:4;\n", 4, "bad offset"},
		{"one word", head + "\tfield:int;\toffset:0;\tsize:4;\n", 4, `no type in "int"`},
		{"no name", head + "\tfield:const char *;\toffset:0;\tsize:8;\n", 4, "no field name"},
		{"digit name", head + "\tfield:int 4;\toffset:0;\tsize:4;\n", 4, "no field name"},
		{"no type", head + "\tfield:a;\toffset:0;\tsize:4;\n", 4, "no type"},
		{"unbalanced", head + "\tfield:int a];\toffset:0;\tsize:4;\n", 4, "unbalanced"},
		{"nested", head + "\tfield:int a[b[1]];\toffset:0;\tsize:4;\n", 4, "nested"},
		{"misplaced", head + "\tfield:int a[1]b;\toffset:0;\tsize:4;\n", 4, "misplaced"},
		{"array size", head + "\tfield:u32 a[3];\toffset:0;\tsize:10;\n", 4, "has size 10"},
		{"empty array size", head + "\tfield:u32 a[0];\toffset:0;\tsize:8;\n", 4, "has size 8"},
		{"huge array", head + "\tfield:u8 a[99999][99999];\toffset:0;\tsize:8;\n", 4, "more than"},
		{"data_loc size", head + "\tfield:__data_loc char[] s;\toffset:0;\tsize:8;\n", 4, "not 4"},
		{"data_loc dims", head + "\tfield:__data_loc char s[4];\toffset:0;\tsize:4;\n", 4, "dimensions"},
		{"data_loc no type", head + "\tfield:__rel_loc s;\toffset:0;\tsize:4;\n", 4, "no element type"},
		{"data_loc bad type", head + "\tfield:__rel_loc ]x s;\toffset:0;\tsize:4;\n", 4, "misplaced"},
		{"second field", head + "\tfield:int a;\toffset:0;\tsize:4;\n\tfield:int a;\toffset:4;\tsize:4;\n", 5, `second field named "a"`},
		{"second name", "name: a\nname: b\n", 2, "second name"},
		{"empty name", "name:\n", 1, "empty name"},
		{"second ID", "name: t\nID: 1\nID: 2\n", 3, "second ID"},
		{"bad ID", "name: t\nID: x\n", 2, `bad ID "x"`},
		{"missing name", "ID: 1\nformat:\n\nprint fmt: \"\"\n", 4, "no name"},
		{"missing ID", "name: t\nformat:\n", 3, "no ID"},
		{"empty", "", 1, "no name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFormat([]byte(tc.in))
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseFormat = %+v, %v; want a *FormatError", f, err)
			}
			if f != nil {
				t.Errorf("ParseFormat returned a format with its error")
			}
			if fe.Line != tc.line || !strings.Contains(fe.Msg, tc.msg) {
				t.Errorf("error %q: want line %d and %q", err, tc.line, tc.msg)
			}
			if !strings.HasPrefix(err.Error(), "tracepoint format: line ") {
				t.Errorf("error %q does not say where", err)
			}
		})
	}
}

// tpRecord builds a raw tracepoint record by hand, as the kernel lays it
// out: the fixed part, then the data of __data_loc and __rel_loc fields
// (and tail arrays) in the order they are set.
type tpRecord struct {
	t testing.TB
	f *TracepointFormat
	b []byte
}

func newTPRecord(t testing.TB, f *TracepointFormat) *tpRecord {
	n := 0
	for _, fd := range f.Fields {
		n = max(n, fd.Offset+fd.Size)
	}
	r := &tpRecord{t: t, f: f, b: make([]byte, n)}
	return r.set("common_type", f.ID)
}

// set sets field name to v: an integer (any sign or size), a string (for
// strings: the NUL is added to __data_loc and tail strings), or []uint64.
func (r *tpRecord) set(name string, v any) *tpRecord {
	r.t.Helper()
	fd, ok := r.f.Field(name)
	if !ok {
		r.t.Fatalf("%s has no field %q", r.f.Name, name)
	}
	var data []byte
	switch v := v.(type) {
	case string:
		data = []byte(v)
		if fd.Layout != LayoutArray {
			data = append(data, 0)
		}
	case []uint64:
		for _, x := range v {
			data = tpPutUint(data, fd.ElemSize, x)
		}
	case int:
		data = tpPutUint(nil, fd.Size, uint64(v))
	case uint64:
		data = tpPutUint(nil, fd.Size, v)
	default:
		r.t.Fatalf("set %s to a %T", name, v)
	}
	switch fd.Layout {
	case LayoutScalar, LayoutArray:
		if len(data) > fd.Size {
			r.t.Fatalf("%d bytes for %s, which has %d", len(data), name, fd.Size)
		}
		copy(r.b[fd.Offset:], data)
	case LayoutDataLoc, LayoutRelLoc:
		start := len(r.b)
		r.b = append(r.b, data...)
		if fd.Layout == LayoutRelLoc {
			start -= fd.Offset + 4
		}
		binary.NativeEndian.PutUint32(r.b[fd.Offset:], uint32(start)|uint32(len(data))<<16)
	case LayoutTail:
		if len(r.b) != fd.Offset {
			r.t.Fatalf("tail %s set after other data", name)
		}
		r.b = append(r.b, data...)
	}
	return r
}

// tpPutUint appends the low size bytes of v in native byte order.
func tpPutUint(b []byte, size int, v uint64) []byte {
	switch size {
	case 1:
		return append(b, byte(v))
	case 2:
		return binary.NativeEndian.AppendUint16(b, uint16(v))
	case 4:
		return binary.NativeEndian.AppendUint32(b, uint32(v))
	}
	return binary.NativeEndian.AppendUint64(b, v)
}

// tpEveryKindRecord is a record of tpEveryKind with a value in every field.
func tpEveryKindRecord(t testing.TB, f *TracepointFormat) []byte {
	neg := func(v int64) uint64 { return uint64(v) }
	return newTPRecord(t, f).
		set("common_pid", 77).
		set("tail", "hi").
		set("comm", "bash").
		set("i8", -5).
		set("u8v", 250).
		set("i16", -300).
		set("u16v", 65000).
		set("flag", 1).
		set("c", 0xff).
		set("i32", -100000).
		set("u32v", 4000000000).
		set("i64", -9000000000).
		set("u64v", uint64(math.MaxUint64)).
		set("ip", uint64(0xffffffff81000000)).
		set("ptr", 0).
		set("filename", 0x7ffd1234).
		set("dfd", neg(-100)).
		set("args", []uint64{1, 2, math.MaxUint64}).
		set("callers", []uint64{0xffffffff81000010, 0}).
		set("deltas", []uint64{neg(-1), 2}).
		set("name", "/bin/true").
		set("rel", "rel").
		set("ids", []uint64{1, 2, 3}).
		set("blob", "\x01\x02\x03").
		b
}

const (
	tpWantEveryKindText = `comm=bash i8=-5 u8v=250 i16=-300 u16v=65000 flag=1 c=-1 i32=-100000 u32v=4000000000 ` +
		`i64=-9000000000 u64v=18446744073709551615 ip=0xffffffff81000000 ptr=0x0 filename=0x7ffd1234 dfd=-100 ` +
		`args=[1,2,18446744073709551615] callers=[0xffffffff81000010,0x0] deltas=[-1,2] name=/bin/true rel=rel ` +
		`ids=[1,2,3] blob=[1,2,3] tail=hi`
	tpWantEveryKindJSON = `{"comm":"bash","i8":-5,"u8v":250,"i16":-300,"u16v":65000,"flag":1,"c":-1,"i32":-100000,"u32v":4000000000,` +
		`"i64":-9000000000,"u64v":18446744073709551615,"ip":"0xffffffff81000000","ptr":"0x0","filename":"0x7ffd1234","dfd":-100,` +
		`"args":[1,2,18446744073709551615],"callers":["0xffffffff81000010","0x0"],"deltas":[-1,2],"name":"/bin/true","rel":"rel",` +
		`"ids":[1,2,3],"blob":[1,2,3],"tail":"hi"}`
)

// tpCheckDecode decodes raw with d and checks the text and JSON exactly, and
// that the JSON is valid.
func tpCheckDecode(t *testing.T, d *FieldDecoder, raw []byte, wantText, wantJSON string) {
	t.Helper()
	if got := string(d.AppendText(nil, raw)); got != wantText {
		t.Errorf("AppendText:\n got %s\nwant %s", got, wantText)
	}
	got := d.AppendJSON(nil, raw)
	if string(got) != wantJSON {
		t.Errorf("AppendJSON:\n got %s\nwant %s", got, wantJSON)
	}
	if !json.Valid(got) {
		t.Errorf("AppendJSON gave invalid JSON: %s", got)
	}
}

// tpUnmarshal unmarshals AppendJSON's output with numbers kept exact.
func tpUnmarshal(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	return m
}

func TestDecodeFieldsEveryKind(t *testing.T) {
	f := tpMustParse(t, tpEveryKind)
	d := NewFieldDecoder(f)
	raw := tpEveryKindRecord(t, f)
	tpCheckDecode(t, d, raw, tpWantEveryKindText, tpWantEveryKindJSON)

	m := tpUnmarshal(t, d.AppendJSON(nil, raw))
	for k, want := range map[string]any{
		"comm": "bash", "i8": json.Number("-5"), "u64v": json.Number("18446744073709551615"),
		"ip": "0xffffffff81000000", "dfd": json.Number("-100"), "name": "/bin/true", "rel": "rel", "tail": "hi",
	} {
		if m[k] != want {
			t.Errorf("unmarshalled %s = %#v, want %#v", k, m[k], want)
		}
	}
	if len(m) != len(tpWantEveryKind) {
		t.Errorf("%d keys, want %d", len(m), len(tpWantEveryKind))
	}
	var typed struct {
		U64v    uint64   `json:"u64v"`
		I64     int64    `json:"i64"`
		Args    []uint64 `json:"args"`
		Callers []string `json:"callers"`
		IDs     []uint32 `json:"ids"`
	}
	if err := json.Unmarshal(d.AppendJSON(nil, raw), &typed); err != nil {
		t.Fatal(err)
	}
	if typed.U64v != math.MaxUint64 || typed.I64 != -9000000000 || len(typed.Args) != 3 || typed.Args[2] != math.MaxUint64 ||
		len(typed.Callers) != 2 || typed.Callers[0] != "0xffffffff81000010" || len(typed.IDs) != 3 || typed.IDs[2] != 3 {
		t.Errorf("unmarshalled %+v", typed)
	}

	// Appending keeps what dst holds.
	if got := string(d.AppendText([]byte("x: "), raw)); got != "x: "+tpWantEveryKindText {
		t.Errorf("AppendText to a prefix: %s", got)
	}

	// The narrowed int reads the same whether the kernel's unsigned long
	// was sign- or zero-extended.
	zext := bytes.Clone(raw)
	binary.NativeEndian.PutUint64(zext[72:], 0xffffff9c)
	if got := d.AppendText(nil, zext); !bytes.Contains(got, []byte(" dfd=-100 ")) {
		t.Errorf("zero-extended dfd: %s", got)
	}
}

func TestDecodeFieldsStrings(t *testing.T) {
	const format = `name: s
ID: 1
format:
	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
	field:char fixed[8];	offset:2;	size:8;	signed:0;
	field:__data_loc char[] dyn;	offset:12;	size:4;	signed:0;
`
	f := tpMustParse(t, format)
	d := NewFieldDecoder(f)
	for _, tc := range []struct {
		name, fixed, dyn string
		text, json       string
	}{
		{"empty", "", "", `fixed= dyn=`, `{"fixed":"","dyn":""}`},
		{"no NUL in char[8]", "12345678", "x", `fixed=12345678 dyn=x`, `{"fixed":"12345678","dyn":"x"}`},
		{"NUL inside", "ab\x00cd", "x\x00y", `fixed=ab dyn=x`, `{"fixed":"ab","dyn":"x"}`},
		{"blanks and =", "a b=c", "\t", `fixed=a b=c dyn=\x09`, `{"fixed":"a b=c","dyn":"\t"}`},
		{"quote and backslash", `a"b\c`, `\`, `fixed=a"b\\c dyn=\\`, `{"fixed":"a\"b\\c","dyn":"\\"}`},
		{"control bytes", "\n\r\x01\x7f", "\x1f\b\f", `fixed=\x0a\x0d\x01\x7f dyn=\x1f\x08\x0c`, `{"fixed":"\n\r\u0001` + "\x7f" + `","dyn":"\u001f\u0008\u000c"}`},
		{"UTF-8", "é✓", "日本語", `fixed=é✓ dyn=日本語`, `{"fixed":"é✓","dyn":"日本語"}`},
		{"invalid UTF-8", "a\xffb\xc3", "\xe2\x9c", `fixed=a\xffb\xc3 dyn=\xe2\x9c`, `{"fixed":"a\ufffdb\ufffd","dyn":"\ufffd\ufffd"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := newTPRecord(t, f).set("fixed", tc.fixed).set("dyn", tc.dyn).b
			tpCheckDecode(t, d, raw, tc.text, tc.json)
		})
	}
}

func TestDecodeFieldsMissing(t *testing.T) {
	f := tpMustParse(t, tpEveryKind)
	d := NewFieldDecoder(f)
	raw := tpEveryKindRecord(t, f)

	// Truncated in the fixed part: what is there shows, the rest is missing.
	got := string(d.AppendText(nil, raw[:30]))
	want := `comm=bash i8=-5 u8v=250 i16=-300 u16v=65000 flag=1 c=-1 i32=-100000 u32v=? i64=? u64v=? ip=? ptr=? ` +
		`filename=? dfd=? args=? callers=? deltas=? name=? rel=? ids=? blob=? tail=?`
	if got != want {
		t.Errorf("truncated AppendText:\n got %s\nwant %s", got, want)
	}
	gotJSON := d.AppendJSON(nil, raw[:30])
	m := tpUnmarshal(t, gotJSON)
	if m["i32"] != json.Number("-100000") || m["u32v"] != nil || len(m) != len(tpWantEveryKind) {
		t.Errorf("truncated AppendJSON: %s", gotJSON)
	}

	// A __data_loc and a __rel_loc pointing beyond the record, and one
	// whose length runs beyond it: missing; the fields after them show.
	bad := bytes.Clone(raw)
	binary.NativeEndian.PutUint32(bad[124:], 0xffff)         // name: offset 65535, length 0
	binary.NativeEndian.PutUint32(bad[128:], 0x0001ffff)     // rel: beyond
	binary.NativeEndian.PutUint32(bad[132:], 140|0x1000<<16) // ids: 4096 bytes from 140
	got = string(d.AppendText(nil, bad))
	if !strings.Contains(got, " name=? rel=? ids=? blob=[1,2,3] tail=hi") {
		t.Errorf("bad __data_loc: %s", got)
	}
	if j := d.AppendJSON(nil, bad); !bytes.Contains(j, []byte(`"name":null,"rel":null,"ids":null,"blob":[1,2,3]`)) {
		t.Errorf("bad __data_loc JSON: %s", j)
	}

	// A dynamic array with a partial last element drops it.
	odd := bytes.Clone(raw)
	loc := binary.NativeEndian.Uint32(odd[132:])
	binary.NativeEndian.PutUint32(odd[132:], loc&0xffff|10<<16) // 2.5 u32s
	if got := d.AppendText(nil, odd); !bytes.Contains(got, []byte(" ids=[1,2] ")) {
		t.Errorf("partial element: %s", got)
	}

	// No byte of the record at all, and every prefix: no panic, valid JSON.
	for n := 0; n <= len(raw); n++ {
		d.AppendText(nil, raw[:n])
		if j := d.AppendJSON(nil, raw[:n]); !json.Valid(j) {
			t.Fatalf("raw[:%d]: invalid JSON %s", n, j)
		}
	}
	if got := string(d.AppendJSON(nil, nil)); !strings.HasPrefix(got, `{"comm":null,"i8":null,`) {
		t.Errorf("empty record: %s", got)
	}
}

func TestDecodeFieldsNoFields(t *testing.T) {
	f := tpMustParse(t, "name: none\nID: 1\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n")
	d := NewFieldDecoder(f)
	if got := string(d.AppendText(nil, []byte{1, 0})); got != "" {
		t.Errorf("AppendText = %q", got)
	}
	if got := string(d.AppendJSON(nil, []byte{1, 0})); got != "{}" {
		t.Errorf("AppendJSON = %q", got)
	}
}

// TestDecodeFieldsHandMade decodes fields that ParseFormat would not
// make: they show as missing, and the JSON stays valid.
func TestDecodeFieldsHandMade(t *testing.T) {
	f := &TracepointFormat{Name: "x", Fields: []TracepointField{
		{Name: "neg", Offset: -4, Size: 4, Kind: FieldInt, ElemSize: 4},
		{Name: "odd", Size: 3, Kind: FieldUint, ElemSize: 3},
		{Name: "q\"\x01", Size: 1, Kind: FieldUint, ElemSize: 1},
		{Name: "nokind", Size: 1, ElemSize: 1},
		{Name: "loc", Size: 8, Kind: FieldString, Layout: LayoutDataLoc, ElemSize: 1},
		{Name: "layout", Size: 1, Kind: FieldUint, Layout: LayoutTail + 1, ElemSize: 1},
	}}
	tpCheckDecode(t, NewFieldDecoder(f), []byte{7, 0, 0, 0, 0, 0, 0, 0},
		"neg=? odd=? q\"\x01=7 nokind=? loc=? layout=?",
		`{"neg":null,"odd":null,"q\"\u0001":7,"nokind":null,"loc":null,"layout":null}`)
}

func TestDecodeFieldsAllocs(t *testing.T) {
	f := tpMustParse(t, tpEveryKind)
	d := NewFieldDecoder(f)
	raw := tpEveryKindRecord(t, f)
	dst := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { d.AppendText(dst[:0], raw) }); n != 0 {
		t.Errorf("AppendText: %v allocations per sample", n)
	}
	if n := testing.AllocsPerRun(100, func() { d.AppendJSON(dst[:0], raw) }); n != 0 {
		t.Errorf("AppendJSON: %v allocations per sample", n)
	}
}

// Formats copied from Linux 6.18 (testdata/tpformat_*.txt), decoded
// offline with exact output.
func TestDecodeFieldsSavedFormats(t *testing.T) {
	for _, tc := range []struct {
		file     string
		set      func(r *tpRecord)
		text     string
		jsonText string
	}{
		{"tpformat_sched_switch.txt", func(r *tpRecord) {
			r.set("prev_comm", "bash").set("prev_pid", 123).set("prev_prio", 120).set("prev_state", 1).
				set("next_comm", "swapper/1").set("next_pid", 0).set("next_prio", 120)
		}, "prev_comm=bash prev_pid=123 prev_prio=120 prev_state=1 next_comm=swapper/1 next_pid=0 next_prio=120",
			`{"prev_comm":"bash","prev_pid":123,"prev_prio":120,"prev_state":1,"next_comm":"swapper/1","next_pid":0,"next_prio":120}`},
		{"tpformat_sched_process_exec.txt", func(r *tpRecord) {
			r.set("filename", "/usr/bin/true").set("pid", 4242).set("old_pid", 4241)
		}, "filename=/usr/bin/true pid=4242 old_pid=4241",
			`{"filename":"/usr/bin/true","pid":4242,"old_pid":4241}`},
		{"tpformat_sys_enter_openat.txt", func(r *tpRecord) {
			r.set("__syscall_nr", 257).set("dfd", -100).set("filename", 0x7ffc0de0).set("flags", 0x80000).set("mode", 0o644)
		}, "__syscall_nr=257 dfd=-100 filename=0x7ffc0de0 flags=524288 mode=420",
			`{"__syscall_nr":257,"dfd":-100,"filename":"0x7ffc0de0","flags":524288,"mode":420}`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			f := tpMustParse(t, string(b))
			r := newTPRecord(t, f)
			tc.set(r)
			tpCheckDecode(t, NewFieldDecoder(f), r.b, tc.text, tc.jsonText)
		})
	}
}

// tpWantField checks the kernel's description of one field; offsets are the
// kernel's business and are not checked.
func tpWantField(t *testing.T, f *TracepointFormat, name, typ string, size int, kind FieldKind, layout FieldLayout, elem int) {
	t.Helper()
	fd, ok := f.Field(name)
	if !ok {
		t.Errorf("%s: no field %q", f.Name, name)
		return
	}
	if fd.Type != typ || fd.Size != size || fd.Kind != kind || fd.Layout != layout || fd.ElemSize != elem || fd.Common {
		t.Errorf("%s: field %+v; want type %q, size %d, kind %v, layout %v, element size %d", f.Name, fd, typ, size, kind, layout, elem)
	}
}

func tpReadKernel(t *testing.T, subsys, name string) *TracepointFormat {
	t.Helper()
	f, err := ReadFormat(subsys, name)
	if err != nil {
		t.Fatalf("ReadFormat(%q, %q): %v", subsys, name, err)
	}
	id, err := TracepointID(subsys, name)
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != name || f.ID != id {
		t.Errorf("ReadFormat(%q, %q): name %q, ID %d; want %q, %d", subsys, name, f.Name, f.ID, name, id)
	}
	for _, c := range []string{"common_type", "common_flags", "common_preempt_count", "common_pid"} {
		if fd, ok := f.Field(c); !ok || !fd.Common {
			t.Errorf("%s: %s = %+v, %v; want a common field", name, c, fd, ok)
		}
	}
	return f
}

// TestReadFormatKernel parses the running kernel's formats, and decodes
// records built by hand at the offsets it gives.
func TestReadFormatKernel(t *testing.T) {
	requires(t, root, tracefs)

	t.Run("sched_switch", func(t *testing.T) {
		f := tpReadKernel(t, "sched", "sched_switch")
		tpWantField(t, f, "prev_comm", "char[16]", 16, FieldString, LayoutArray, 1)
		tpWantField(t, f, "prev_pid", "pid_t", 4, FieldInt, LayoutScalar, 4)
		tpWantField(t, f, "prev_prio", "int", 4, FieldInt, LayoutScalar, 4)
		tpWantField(t, f, "prev_state", "long", tpLongSize, FieldInt, LayoutScalar, tpLongSize)
		tpWantField(t, f, "next_comm", "char[16]", 16, FieldString, LayoutArray, 1)
		tpWantField(t, f, "next_pid", "pid_t", 4, FieldInt, LayoutScalar, 4)
		tpWantField(t, f, "next_prio", "int", 4, FieldInt, LayoutScalar, 4)
		r := newTPRecord(t, f).set("common_pid", 123).
			set("prev_comm", "bash").set("prev_pid", 123).set("prev_prio", 120).set("prev_state", 1).
			set("next_comm", "swapper/1").set("next_pid", 0).set("next_prio", 120)
		d := NewFieldDecoder(f)
		tpCheckDecode(t, d, r.b,
			"prev_comm=bash prev_pid=123 prev_prio=120 prev_state=1 next_comm=swapper/1 next_pid=0 next_prio=120",
			`{"prev_comm":"bash","prev_pid":123,"prev_prio":120,"prev_state":1,"next_comm":"swapper/1","next_pid":0,"next_prio":120}`)
		m := tpUnmarshal(t, d.AppendJSON(nil, r.b))
		if m["prev_comm"] != "bash" || m["prev_pid"] != json.Number("123") || m["next_comm"] != "swapper/1" {
			t.Errorf("unmarshalled %v", m)
		}
	})

	t.Run("sched_process_exec", func(t *testing.T) {
		f := tpReadKernel(t, "sched", "sched_process_exec")
		tpWantField(t, f, "filename", "__data_loc char[]", 4, FieldString, LayoutDataLoc, 1)
		tpWantField(t, f, "pid", "pid_t", 4, FieldInt, LayoutScalar, 4)
		tpWantField(t, f, "old_pid", "pid_t", 4, FieldInt, LayoutScalar, 4)
		r := newTPRecord(t, f).set("filename", "/usr/bin/true").set("pid", 4242).set("old_pid", 4241)
		tpCheckDecode(t, NewFieldDecoder(f), r.b,
			"filename=/usr/bin/true pid=4242 old_pid=4241",
			`{"filename":"/usr/bin/true","pid":4242,"old_pid":4241}`)
	})

	t.Run("sys_enter_openat", func(t *testing.T) {
		f := tpReadKernel(t, "syscalls", "sys_enter_openat")
		tpWantField(t, f, "__syscall_nr", "int", 4, FieldInt, LayoutScalar, 4)
		tpWantField(t, f, "dfd", "int", tpLongSize, FieldInt, LayoutScalar, 4)
		tpWantField(t, f, "filename", "const char *", tpLongSize, FieldHex, LayoutScalar, tpLongSize)
		tpWantField(t, f, "flags", "int", tpLongSize, FieldInt, LayoutScalar, 4)
		tpWantField(t, f, "mode", "umode_t", tpLongSize, FieldUint, LayoutScalar, 2)
		r := newTPRecord(t, f).set("__syscall_nr", 257).set("dfd", -100).set("filename", 0x7ffc0de0).
			set("flags", 0x80000).set("mode", 0o644)
		tpCheckDecode(t, NewFieldDecoder(f), r.b,
			"__syscall_nr=257 dfd=-100 filename=0x7ffc0de0 flags=524288 mode=420",
			`{"__syscall_nr":257,"dfd":-100,"filename":"0x7ffc0de0","flags":524288,"mode":420}`)
	})

	t.Run("unknown", func(t *testing.T) {
		_, err := ReadFormat("sched", "sched_swich")
		var ue *UnknownEventError
		if !errors.As(err, &ue) || ue.Name != "sched:sched_swich" || len(ue.Suggestions) == 0 || ue.Suggestions[0] != "sched:sched_switch" {
			t.Errorf("ReadFormat(sched, sched_swich) = %v (%#v)", err, ue)
		}
		if _, err := ReadFormat("sched", "../x"); err == nil {
			t.Error("ReadFormat(sched, ../x) succeeded")
		}
	})
}

// TestParseFormatKernelAll parses every format of the running kernel, and
// decodes a record of zeros and a record of 0xff bytes with each.
func TestParseFormatKernelAll(t *testing.T) {
	requires(t, root, tracefs)
	root := findTracefs()
	files, err := filepath.Glob(filepath.Join(root, "events", "*", "*", "format"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no format files under %s: %v", root, err)
	}
	zeros := make([]byte, 4096)
	ones := bytes.Repeat([]byte{0xff}, 4096)
	var dst []byte
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		f, err := ParseFormat(b)
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		d := NewFieldDecoder(f)
		for _, raw := range [][]byte{zeros, ones} {
			dst = d.AppendText(dst[:0], raw)
			if dst = d.AppendJSON(dst[:0], raw); !json.Valid(dst) {
				t.Errorf("%s: invalid JSON %s", file, dst)
			}
		}
	}
	t.Logf("parsed %d formats", len(files))
}

// TestDecodeFieldsKernelSample decodes real PERF_SAMPLE_RAW data: a child
// shell waits for a line on a pipe, then execs /bin/sleep
// (sched_process_exec), which sleeps (sched_switch, prev_state 1: S).
func TestDecodeFieldsKernelSample(t *testing.T) {
	requires(t, root, tracefs)
	sw := tpReadKernel(t, "sched", "sched_switch")
	ex := tpReadKernel(t, "sched", "sched_process_exec")

	cmd := exec.Command("/bin/sh", "-c", "read x; exec /bin/sleep 0.01")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()

	open := func(f *TracepointFormat) *Ring {
		t.Helper()
		attr := unix.PerfEventAttr{
			Type:        unix.PERF_TYPE_TRACEPOINT,
			Config:      f.ID,
			Size:        uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
			Sample:      1,
			Sample_type: unix.PERF_SAMPLE_TID | unix.PERF_SAMPLE_RAW,
			Wakeup:      1,
		}
		fd, err := unix.PerfEventOpen(&attr, pid, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			t.Fatalf("open %s on pid %d: %v", f.Name, pid, err)
		}
		r, err := MapRing(fd, 3)
		if err != nil {
			unix.Close(fd)
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); unix.Close(fd) })
		return r
	}
	swEv, exEv := open(sw), open(ex)
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}

	// samples returns the RAW data of the samples in a ring: after the
	// header, pid and tid (u32 each), then the u32 size of the raw data.
	samples := func(r *Ring) [][]byte {
		var raws [][]byte
		err := r.Drain(func(rec []byte) {
			if binary.NativeEndian.Uint32(rec) != unix.PERF_RECORD_SAMPLE || len(rec) < 20 {
				return
			}
			n := int(binary.NativeEndian.Uint32(rec[16:]))
			if 20+n > len(rec) {
				t.Fatalf("a raw size of %d in a record of %d bytes", n, len(rec))
			}
			raws = append(raws, append([]byte(nil), rec[20:20+n]...))
		})
		if err != nil {
			t.Fatal(err)
		}
		return raws
	}

	execs := samples(exEv)
	if len(execs) != 1 {
		t.Fatalf("%d sched_process_exec samples, want 1", len(execs))
	}
	d := NewFieldDecoder(ex)
	want := "filename=/bin/sleep pid=" + strconv.Itoa(pid) + " old_pid=" + strconv.Itoa(pid)
	if got := string(d.AppendText(nil, execs[0])); got != want {
		t.Errorf("sched_process_exec sample (% x):\n got %s\nwant %s", execs[0], got, want)
	}
	m := tpUnmarshal(t, d.AppendJSON(nil, execs[0]))
	if m["filename"] != "/bin/sleep" || m["pid"] != json.Number(strconv.Itoa(pid)) {
		t.Errorf("sched_process_exec JSON: %v", m)
	}
	if typ := binary.NativeEndian.Uint16(execs[0]); uint64(typ) != ex.ID {
		t.Errorf("common_type %d, want the ID %d", typ, ex.ID)
	}

	switches := samples(swEv)
	d = NewFieldDecoder(sw)
	found := false
	for _, raw := range switches {
		got := string(d.AppendText(nil, raw))
		t.Logf("sched_switch: %s", got)
		if j := d.AppendJSON(nil, raw); !json.Valid(j) {
			t.Errorf("invalid JSON %s", j)
		}
		found = found || strings.HasPrefix(got, "prev_comm=sleep prev_pid="+strconv.Itoa(pid)+" ") &&
			strings.Contains(got, " prev_state=1 ")
	}
	if !found {
		t.Errorf("no sched_switch sample of sleep (pid %d) going to sleep among %d", pid, len(switches))
	}
}

func FuzzParseFormat(f *testing.F) {
	f.Add([]byte(tpEveryKind))
	for _, file := range []string{"tpformat_sched_switch.txt", "tpformat_sched_process_exec.txt", "tpformat_sys_enter_openat.txt"} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"", "name: x\nID: 1\n", "name: x\nID: 1\nformat:\n\tfield:u8 m[2][3];\toffset:0;\tsize:6;\n",
		"name: x\nID: 1\n\tfield:__rel_loc s16[] v;\toffset:8;\tsize:4;\tsigned:1;\n",
		"name: x\nID: 1\n\tfield:unsigned long args[];\toffset:0;\tsize:0;\n",
		"name: x\nID: 1\n\tfield:int a[b[1]];\toffset:0;\tsize:4;\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		tf, err := ParseFormat(in)
		if err != nil {
			var fe *FormatError
			if tf != nil || !errors.As(err, &fe) || fe.Line < 1 {
				t.Fatalf("ParseFormat = %v, %v; want nil and a *FormatError with a line", tf, err)
			}
			return
		}
		for _, fd := range tf.Fields {
			bad := fd.Name == "" || fd.Type == "" || fd.Offset < 0 || fd.Size < 0 || fd.Offset+fd.Size > tpMaxRecord ||
				!tpIntSize(fd.ElemSize) || fd.Kind < FieldInt || fd.Kind > FieldString || fd.Layout > LayoutTail ||
				fd.Kind == FieldString && (fd.Layout == LayoutScalar || fd.ElemSize != 1)
			switch fd.Layout {
			case LayoutScalar:
				bad = bad || fd.ElemSize > fd.Size || !tpIntSize(fd.Size)
			case LayoutArray:
				bad = bad || fd.Len*fd.ElemSize != fd.Size
			case LayoutDataLoc, LayoutRelLoc:
				bad = bad || fd.Size != 4
			}
			if bad {
				t.Fatalf("bad field %+v", fd)
			}
		}
		// The input as a record: any bytes decode to valid JSON.
		d := NewFieldDecoder(tf)
		d.AppendText(nil, in)
		if j := d.AppendJSON(nil, in); !json.Valid(j) {
			t.Fatalf("invalid JSON %s", j)
		}
	})
}

func FuzzDecodeFields(f *testing.F) {
	tf := tpMustParse(f, tpEveryKind)
	d := NewFieldDecoder(tf)
	raw := tpEveryKindRecord(f, tf)
	f.Add(raw)
	f.Add(raw[:40])
	f.Add([]byte{})
	bad := bytes.Clone(raw)
	binary.NativeEndian.PutUint32(bad[124:], 0xffffffff)
	binary.NativeEndian.PutUint32(bad[128:], 0xfffffffb)
	f.Add(bad)
	f.Fuzz(func(t *testing.T, raw []byte) {
		d.AppendText(nil, raw)
		j := d.AppendJSON(nil, raw)
		var m map[string]json.RawMessage
		if err := json.Unmarshal(j, &m); err != nil {
			t.Fatalf("invalid JSON %s: %v", j, err)
		}
		if len(m) != len(tpWantEveryKind) {
			t.Fatalf("%d keys in %s, want %d", len(m), j, len(tpWantEveryKind))
		}
	})
}

func BenchmarkParseFormat(b *testing.B) {
	text, err := os.ReadFile(filepath.Join("testdata", "tpformat_sched_switch.txt"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseFormat(text); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeFields(b *testing.B) {
	text, err := os.ReadFile(filepath.Join("testdata", "tpformat_sched_switch.txt"))
	if err != nil {
		b.Fatal(err)
	}
	sw := tpMustParse(b, string(text))
	swRaw := newTPRecord(b, sw).set("prev_comm", "bash").set("prev_pid", 123).set("prev_prio", 120).
		set("prev_state", 1).set("next_comm", "swapper/1").set("next_pid", 0).set("next_prio", 120).b
	all := tpMustParse(b, tpEveryKind)
	allRaw := tpEveryKindRecord(b, all)
	for _, bc := range []struct {
		name string
		f    *TracepointFormat
		raw  []byte
	}{{"sched_switch", sw, swRaw}, {"every_kind", all, allRaw}} {
		d := NewFieldDecoder(bc.f)
		dst := make([]byte, 0, 4096)
		b.Run(bc.name+"/Text", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				dst = d.AppendText(dst[:0], bc.raw)
			}
		})
		b.Run(bc.name+"/JSON", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				dst = d.AppendJSON(dst[:0], bc.raw)
			}
		})
	}
}

// TestAppendJSONString: what it writes is JSON that reads back as the
// input, each byte that is not UTF-8 as U+FFFD, for strings and bytes.
func TestAppendJSONString(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []string{"", "sh", `a"b\c`, "tab\tnl\ncr\r\x00\x1f\x7f", "é€😀", "\xff\xfe ok \xc3", "\u2028"}
	for range 2000 {
		b := make([]byte, rng.IntN(24))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		cases = append(cases, string(b))
	}
	for _, c := range cases {
		var want strings.Builder
		for i := 0; i < len(c); {
			r, n := utf8.DecodeRuneInString(c[i:])
			want.WriteRune(r) // RuneError, U+FFFD, for a byte that is not UTF-8
			i += n
		}
		for _, got := range [][]byte{AppendJSONString(nil, c), AppendJSONString(nil, []byte(c))} {
			var back string
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("%q: %s is not JSON: %v", c, got, err)
			}
			if back != want.String() {
				t.Fatalf("%q: %s reads back as %q, want %q", c, got, back, want.String())
			}
		}
	}
}
