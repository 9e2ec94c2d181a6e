package main

import (
	"io"
	"net"
	"os"
	"strings"
	"sync"
)

// reportLog is where a daemon's messages go once it has no terminal: its
// report, as lines (text) or "message" records (JSON). Each Write is one
// message.
type reportLog struct{ out *output }

func (l reportLog) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\n")
	if l.out.json {
		l.out.event(record{Type: "message", Message: strings.TrimPrefix(msg, "perfprof: ")})
	} else {
		l.out.table(func(w io.Writer) { io.WriteString(w, msg+"\n") })
	}
	return len(p), nil
}

// swapWriter is a writer whose destination can be swapped while others
// write to it.
type swapWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *swapWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *swapWriter) set(w io.Writer) {
	s.mu.Lock()
	s.w = w
	s.mu.Unlock()
}

// sdNotify sends state to systemd's notification socket, if the service
// manager gave one ($NOTIFY_SOCKET): one datagram, as sd_notify(3) sends.
func sdNotify(state string) {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return
	}
	if sock[0] == '@' { // an abstract socket
		sock = "\x00" + sock[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return
	}
	defer c.Close()
	c.Write([]byte(state))
}
