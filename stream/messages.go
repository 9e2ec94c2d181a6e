package stream

import (
	"io"
	"strings"
	"sync"
)

// Messages is where perfprof's messages (warnings, errors, the -v log)
// go: standard error, or, once a daemon has let go of its terminal, its
// report (Redirect). Messages come from several goroutines (the ring
// owner warns of lost records, the tracer logs), and a daemon redirects
// them while they do: each Write is one message, written whole under the
// Messages' lock, to the destination of the moment.
type Messages struct {
	mu sync.Mutex
	w  io.Writer
}

// NewMessages returns messages written to w.
func NewMessages(w io.Writer) *Messages { return &Messages{w: w} }

// Write writes one message (a line, or a few) to the current
// destination. It blocks while another message is written, and returns
// the destination's error.
func (m *Messages) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.w.Write(p)
}

// Redirect makes the messages from now on go to w; a message being
// written goes whole to the old one.
func (m *Messages) Redirect(w io.Writer) {
	m.mu.Lock()
	m.w = w
	m.mu.Unlock()
}

// MessageWriter returns a writer that puts messages into the report, for
// a daemon that has no terminal any more (Messages.Redirect): each Write
// is one message, written as a line (text) or queued as a "message"
// record (JSON, without the "perfprof: " its lines start with). It must
// not be written to after Close.
func (s *Stream) MessageWriter() io.Writer { return reportLog{s} }

// reportLog is a Stream's MessageWriter.
type reportLog struct{ s *Stream }

func (l reportLog) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\n")
	if l.s.json {
		l.s.event(record{Type: "message", Message: strings.TrimPrefix(msg, "perfprof: ")})
	} else {
		l.s.Table(func(w io.Writer) { io.WriteString(w, msg+"\n") })
	}
	return len(p), nil
}
