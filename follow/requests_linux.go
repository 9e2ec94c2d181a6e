package follow

import (
	"time"

	"golang.org/x/sys/unix"
)

// A request is a call from another goroutine to the tracer thread, queued
// on Tracer.reqs. Each kind is a type of its own that carries its
// arguments and, for a call someone waits for, its reply: the tracer
// writes the reply fields, then closes done. answer serves every kind.
// Requests are not on the stop path: a stop is handled inline by the wait
// loop, and a request only wakes it (see waker_linux.go).
//
//	request          from                 reply
//	runRequest       Run                  (none: done closed once the loop runs)
//	launchRequest    Launch               pid, err
//	attachRequest    Attach               attached, err
//	statsRequest     Stats                stats
//	stopRequest      Stop                 posted: no one waits
//	forwardRequest   Forward              posted
//	graceRequest     the grace timer      posted
type request interface {
	// answered is called on the tracer thread once the request was
	// served: it releases whoever waits for the reply.
	answered()
}

// call is embedded in the requests that a caller waits for.
type call struct{ done chan struct{} }

func newCall() call       { return call{done: make(chan struct{})} }
func (c *call) answered() { close(c.done) }

// posted is embedded in the requests that no one waits for.
type posted struct{}

func (posted) answered() {}

type (
	// runRequest starts the wait loop.
	runRequest struct{ call }

	// launchRequest starts the workload.
	launchRequest struct {
		call
		path      string
		argv, env []string
		arm       ArmFunc
		// reply
		pid int
		err error
	}

	// attachRequest seizes a running process, or thread.
	attachRequest struct {
		call
		pid int
		opt AttachOptions
		arm ArmFunc
		// reply
		attached Attached
		err      error
	}

	// statsRequest reads the counters.
	statsRequest struct {
		call
		stats Stats // reply
	}

	// stopRequest lets go of every task.
	stopRequest struct{ posted }

	// forwardRequest hands a signal perfprof received to the workload.
	forwardRequest struct {
		posted
		sig unix.Signal
		at  time.Time
	}

	// graceRequest checks, while stopping, for tasks that cannot report
	// any more.
	graceRequest struct{ posted }
)

// answer serves r and releases its caller. Precondition: on the tracer
// thread.
func (t *Tracer) answer(r request) {
	switch r := r.(type) {
	case *runRequest:
		// Nothing to do: the caller learns that the loop runs.
	case *launchRequest:
		r.pid, r.err = t.launch(r.path, r.argv, r.env, r.arm)
	case *attachRequest:
		r.attached, r.err = t.attach(r.pid, r.opt, r.arm)
	case *statsRequest:
		r.stats = t.snapshot()
	case stopRequest:
		t.beginStop()
	case forwardRequest:
		t.forward(r.sig, r.at)
	case graceRequest:
		t.graceCheck()
	}
	r.answered()
}
