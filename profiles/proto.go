package profiles

import "math/bits"

// A small protobuf encoder for the pprof format (profile.proto of
// github.com/google/pprof): the few wire types the format uses. perfprof
// writes profiles with it rather than with google/pprof's profile package,
// whose package init (regexps, 150 KB) every perfprof process ran, the
// launch stub and the waker too, profiles or not. The tests read what it
// writes with google/pprof's parser and go tool pprof.

// The wire types of protobuf.
const (
	wireVarint = 0
	wireBytes  = 2
)

// appendVarint appends v as a protobuf varint.
func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// varintLen is how many bytes appendVarint writes for v.
func varintLen(v uint64) int {
	return (bits.Len64(v|1) + 6) / 7
}

// appendUint appends field = v (a uint64, or an int64 as its two's
// complement); 0 is the default, left out.
func appendUint(b []byte, field int, v uint64) []byte {
	if v == 0 {
		return b
	}
	b = appendVarint(b, uint64(field)<<3|wireVarint)
	return appendVarint(b, v)
}

// appendInt appends field = v, an int64.
func appendInt(b []byte, field int, v int64) []byte {
	return appendUint(b, field, uint64(v))
}

// appendBool appends field = true; false is the default, left out.
func appendBool(b []byte, field int, v bool) []byte {
	if !v {
		return b
	}
	return appendUint(b, field, 1)
}

// appendMessage appends field = msg, an encoded message (or a string's
// bytes): its length, then its bytes. An empty one is appended too: in a
// repeated field it is an element.
func appendMessage(b []byte, field int, msg []byte) []byte {
	b = appendVarint(b, uint64(field)<<3|wireBytes)
	b = appendVarint(b, uint64(len(msg)))
	return append(b, msg...)
}

// appendPacked appends the repeated field of varints vs, packed.
func appendPacked[T int64 | uint64](b []byte, field int, vs []T) []byte {
	if len(vs) == 0 {
		return b
	}
	n := 0
	for _, v := range vs {
		n += varintLen(uint64(v))
	}
	b = appendVarint(b, uint64(field)<<3|wireBytes)
	b = appendVarint(b, uint64(n))
	for _, v := range vs {
		b = appendVarint(b, uint64(v))
	}
	return b
}

// stringTable is a profile's string table: every string once, "" first
// (index 0, as the format wants).
type stringTable struct {
	index map[string]int64
	all   []string
}

func newStringTable() *stringTable {
	return &stringTable{index: map[string]int64{"": 0}, all: []string{""}}
}

// id returns the index of s, adding it if it is new.
func (t *stringTable) id(s string) int64 {
	if i, ok := t.index[s]; ok {
		return i
	}
	i := int64(len(t.all))
	t.index[s] = i
	t.all = append(t.all, s)
	return i
}
