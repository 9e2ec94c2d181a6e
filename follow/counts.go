package follow

import "sync/atomic"

// procIDs gives process instances their ids (pidtree.Task.Proc), the one
// numbering of a run: each process launched, attached or seen created
// gets the next id, and a thread has its process's. The Tracer and the
// Untraced watch both take theirs from one. It belongs to the goroutine
// that takes over the targets (the tracer's, or the caller's of
// Untraced).
type procIDs struct{ last uint64 }

// next returns a new process instance id.
func (p *procIDs) next() uint64 {
	p.last++
	return p.last
}

// taskCounts are the task figures that RunStats reads from any goroutine
// while the follower writes them.
type taskCounts struct {
	followed atomic.Int64 // attached, launched and created
	created  atomic.Int64 // created by followed tasks (Hooks.Fork and Hooks.Died)
	ended    atomic.Int64 // ended (Hooks.Died and Hooks.Exit)
}

func (c *taskCounts) read() (followed, created, ended int) {
	return int(c.followed.Load()), int(c.created.Load()), int(c.ended.Load())
}
