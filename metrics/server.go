package metrics

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ContentType is the content type of the metrics page: the text format
// 0.0.4, as client_golang's promhttp names it.
const ContentType = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

// The server's limits (variables for the tests).
var (
	// headerTimeout bounds the read of a request, from its first byte
	// (net/http's ReadHeaderTimeout, as perfprof set it).
	headerTimeout = 10 * time.Second
	// idleTimeout bounds the wait for a connection's next request.
	idleTimeout = 5 * time.Minute
	// writeTimeout bounds the write of a response.
	writeTimeout = 10 * time.Second
	// lingerTime bounds the wait for the client's end of a connection
	// the Server closes (see lingerClose).
	lingerTime = 500 * time.Millisecond
)

const (
	maxLine        = 8 << 10 // the longest request or header line
	maxHeaderBytes = 1 << 20 // a request's lines in all (net/http's default)
)

// Server serves a run's metrics over HTTP at /metrics. It is a small
// HTTP/1.1 server of its own, not net/http, which with crypto/tls would
// make the perfprof binary twice as large, and its every run's memory
// with it (docs/performance.md). It answers GET and HEAD (and, as
// promhttp did, any other method) of /metrics with the page, any other
// path with 404, keeps a connection open between requests (HTTP/1.1
// keep-alive) unless the client says "Connection: close", and closes a
// connection whose request it cannot read. It does not compress the page
// (promhttp gzipped it when asked): a page is a few KB, and a scraper
// takes it as it comes.
//
// Goroutines: one accepts connections, one serves each connection; Close
// ends them all.
type Server struct {
	ln      net.Listener
	c       *Collector
	onError func(error)
	// The limits, from the package's when Serve was called.
	headerTimeout, idleTimeout, writeTimeout time.Duration

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // open connections
	closed bool
	wg     sync.WaitGroup // the accept loop and the connections
}

// Serve listens on addr (host:port, as net.Listen takes it) and serves the
// metrics of opt there from now until Close. The listener is open when
// Serve returns: an address in use is Serve's error, not a failure later.
func Serve(addr string, opt Options) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, c: New(opt), onError: opt.OnError, conns: map[net.Conn]struct{}{},
		headerTimeout: headerTimeout, idleTimeout: idleTimeout, writeTimeout: writeTimeout}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr returns the address the Server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the Server: it closes the listener and every connection,
// and returns once none of its goroutines runs.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// accept is the Server's accept loop. An accept that fails for a while
// (out of fds) is tried again after a pause, as net/http does; one that
// fails for good ends the loop, and is told to OnError unless the Server
// was closed.
func (s *Server) accept() {
	defer s.wg.Done()
	var pause time.Duration
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return
			}
			if isTemporary(err) {
				pause = min(max(2*pause, 5*time.Millisecond), time.Second)
				time.Sleep(pause)
				continue
			}
			if s.onError != nil {
				s.onError(err)
			}
			return
		}
		pause = 0
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			conn.Close()
			return
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(conn)
	}
}

// isTemporary reports whether an accept error may pass (EMFILE, ENFILE,
// ECONNABORTED...): net still marks them Temporary.
func isTemporary(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

// serve answers the requests of one connection, on its own goroutine.
func (s *Server) serve(conn net.Conn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		conn.Close()
		s.wg.Done()
	}()
	br := bufio.NewReaderSize(conn, maxLine)
	var out []byte
	for {
		conn.SetReadDeadline(time.Now().Add(s.idleTimeout))
		if _, err := br.Peek(1); err != nil {
			return
		}
		conn.SetReadDeadline(time.Now().Add(s.headerTimeout))
		req, err := readRequest(br)
		if err != nil {
			var re *requestError
			if errors.As(err, &re) {
				out = appendResponse(out[:0], re.status, "text/plain; charset=utf-8", []byte(re.Error()+"\n"), false, true)
				conn.SetWriteDeadline(time.Now().Add(s.writeTimeout))
				if _, err := conn.Write(out); err == nil {
					lingerClose(conn)
				}
			}
			return
		}
		var body []byte
		status, ctype := 200, ContentType
		if req.path == "/metrics" {
			body = s.c.AppendText(nil)
		} else {
			status, ctype, body = 404, "text/plain; charset=utf-8", []byte("404 page not found\n")
		}
		out = appendResponse(out[:0], status, ctype, body, req.method == "HEAD", req.close)
		conn.SetWriteDeadline(time.Now().Add(s.writeTimeout))
		if _, err := conn.Write(out); err != nil {
			return
		}
		if req.close {
			lingerClose(conn)
			return
		}
	}
}

// lingerClose ends the write side of conn, and reads what the client
// still sends for a while before the connection is closed: closed with
// unread data, it would be reset, and the client might lose the response
// (net/http's closeWriteAndWait does the same).
func lingerClose(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	conn.SetReadDeadline(time.Now().Add(lingerTime))
	io.Copy(io.Discard, io.LimitReader(conn, maxHeaderBytes))
}

// request is what the Server needs of an HTTP request.
type request struct {
	method, path string
	close        bool // the connection ends after the response
}

// requestError is a request the Server cannot answer: it answers status
// and closes the connection.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

// readRequest reads a request's line and headers (RFC 9112). The Server
// reads no body: a request that has one is answered, and its connection
// closed.
func readRequest(br *bufio.Reader) (request, error) {
	var req request
	total := 0
	line := func() (string, error) {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return "", &requestError{431, "431 Request Header Fields Too Large"}
		}
		if err != nil {
			return "", err
		}
		if total += len(b); total > maxHeaderBytes {
			return "", &requestError{431, "431 Request Header Fields Too Large"}
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	l, err := line()
	if err != nil {
		return req, err
	}
	method, rest, ok1 := strings.Cut(l, " ")
	target, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method == "" || target == "" {
		return req, &requestError{400, "400 Bad Request"}
	}
	minor, ok := strings.CutPrefix(proto, "HTTP/1.")
	if !ok || (minor != "0" && minor != "1") {
		return req, &requestError{505, "505 HTTP Version Not Supported"}
	}
	req.method, req.close = method, minor == "0" // HTTP/1.0: one request a connection
	// The path: of an absolute-form target too (http://host/metrics),
	// without its query.
	if rest, ok := strings.CutPrefix(target, "http://"); ok {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			target = rest[i:]
		} else {
			target = "/"
		}
	}
	req.path, _, _ = strings.Cut(target, "?")
	for {
		l, err := line()
		if err != nil {
			return req, err
		}
		if l == "" {
			return req, nil
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			return req, &requestError{400, "400 Bad Request"}
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "connection":
			for _, tok := range strings.Split(value, ",") {
				if strings.EqualFold(strings.TrimSpace(tok), "close") {
					req.close = true
				}
			}
		case "content-length":
			if value != "0" {
				req.close = true // a body the Server does not read
			}
		case "transfer-encoding":
			req.close = true
		}
	}
}

// appendResponse appends an HTTP/1.1 response to b: its status line,
// headers and, unless head, body.
func appendResponse(b []byte, status int, ctype string, body []byte, head, closing bool) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, statusText[status]...)
	b = append(b, "\r\nContent-Type: "...)
	b = append(b, ctype...)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, "Mon, 02 Jan 2006 15:04:05 GMT")
	if status == 404 {
		b = append(b, "\r\nX-Content-Type-Options: nosniff"...)
	}
	if closing {
		b = append(b, "\r\nConnection: close"...)
	}
	b = append(b, "\r\n\r\n"...)
	if !head {
		b = append(b, body...)
	}
	return b
}

// statusText are the reasons of the statuses the Server sends.
var statusText = map[int]string{
	200: "OK",
	400: "Bad Request",
	404: "Not Found",
	431: "Request Header Fields Too Large",
	505: "HTTP Version Not Supported",
}
