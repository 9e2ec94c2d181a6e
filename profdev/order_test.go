package profdev

import (
	"slices"
	"testing"

	"github.com/perfprof/perfprof/pidtree"
)

// TestReorder: held samples are handed on in time order up to each
// horizon; one older than the last handed on is handed on at once and
// counted late; past the byte limit the oldest go early.
func TestReorder(t *testing.T) {
	var got []uint64
	q := &reorder{limit: 1 << 20, emit: func(h *heldSample) { got = append(got, h.time) }}
	raw := make([]byte, 8)
	for _, tm := range []uint64{50, 10, 30, 20, 40, 30} {
		q.push(tm, nil, pidtree.Task{}, "", raw)
	}
	q.flush(30)
	if want := []uint64{10, 20, 30, 30}; !slices.Equal(got, want) {
		t.Fatalf("flush(30): %v, want %v", got, want)
	}
	q.push(25, nil, pidtree.Task{}, "", raw) // its turn is past
	if q.late != 1 || got[len(got)-1] != 25 {
		t.Errorf("a late sample: late %d, handed on %v", q.late, got)
	}
	q.push(35, nil, pidtree.Task{}, "", raw)
	q.flush(^uint64(0))
	if want := []uint64{10, 20, 30, 30, 25, 35, 40, 50}; !slices.Equal(got, want) {
		t.Errorf("after the last flush: %v, want %v", got, want)
	}
	if q.held() || q.bytes != 0 {
		t.Errorf("%d samples, %d bytes still held", len(q.h), q.bytes)
	}

	got = nil
	q = &reorder{limit: 16, emit: func(h *heldSample) { got = append(got, h.time) }}
	for _, tm := range []uint64{30, 10, 20} {
		q.push(tm, nil, pidtree.Task{}, "", raw)
	}
	if q.early != 1 || !slices.Equal(got, []uint64{10}) {
		t.Errorf("past the limit: %d early, handed on %v, want the oldest, 10", q.early, got)
	}
}

// TestReorderCopies: a held sample does not alias the ring's bytes.
func TestReorderCopies(t *testing.T) {
	var got []byte
	q := &reorder{limit: 1 << 20, emit: func(h *heldSample) { got = h.raw }}
	raw := []byte("abcdefgh")
	q.push(1, nil, pidtree.Task{}, "", raw)
	copy(raw, "XXXXXXXX") // the ring's space, written again
	q.flush(1)
	if string(got) != "abcdefgh" {
		t.Errorf("held %q", got)
	}
}
