package perfevent

import "unsafe"

// The ring's head and tail, in the mapped metadata page: the kernel and
// the reader move them with atomic loads and stores.
func (r *Ring) headPtr() *uint64 { return (*uint64)(unsafe.Pointer(&r.mem[pageDataHead])) }
func (r *Ring) tailPtr() *uint64 { return (*uint64)(unsafe.Pointer(&r.mem[pageDataTail])) }
