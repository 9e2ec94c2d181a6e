package metrics

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/perfprof/perfprof/perfevent"
	"github.com/perfprof/perfprof/report"
	"github.com/perfprof/perfprof/runstats"
)

// serve starts a Server of one row on a free port of 127.0.0.1, closed
// when t ends.
func serve(t *testing.T) *Server {
	t.Helper()
	s, err := Serve("127.0.0.1:0", Options{Events: specs(t, "task-clock"),
		Snapshot: func() []report.SnapshotRow {
			return []report.SnapshotRow{{PID: 1, Comm: "sleep", Running: true, Values: []perfevent.Value{{Raw: 2e9}}}}
		},
		Run: func() runstats.Run { return runstats.Run{Devices: runstats.Devices{Live: 1}} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// get does method url with client and returns the response, its body
// read, and whether its connection was used before.
func get(t *testing.T, client *http.Client, method, url string) (*http.Response, string, bool) {
	t.Helper()
	var reused bool
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b), reused
}

// TestServe: net/http's client gets the page at /metrics, in the text
// format and its content type, over one connection for several requests;
// HEAD gets the headers alone; another path gets 404.
func TestServe(t *testing.T) {
	s := serve(t)
	url := "http://" + s.Addr().String()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, body, _ := get(t, client, "GET", url+"/metrics")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ContentType {
		t.Fatalf("GET /metrics: %s, Content-Type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(body, `perfprof_event_total{comm="sleep",event="task-clock"} 2`+"\n") ||
		!strings.Contains(body, "\nperfprof_tasks 1\n") || !strings.Contains(body, "\nprocess_open_fds ") {
		t.Errorf("GET /metrics:\n%s", body)
	}
	lint(t, body)
	resp, body, reused := get(t, client, "GET", url+"/metrics?x=1")
	if resp.StatusCode != 200 || !strings.Contains(body, "go_goroutines") || !reused {
		t.Errorf("second GET /metrics?x=1: %s, connection reused %v\n%s", resp.Status, reused, body)
	}
	resp, body, _ = get(t, client, "HEAD", url+"/metrics")
	if resp.StatusCode != 200 || resp.ContentLength <= 0 || body != "" {
		t.Errorf("HEAD /metrics: %s, Content-Length %d, body %q", resp.Status, resp.ContentLength, body)
	}
	resp, body, reused = get(t, client, "GET", url+"/")
	if resp.StatusCode != 404 || body != "404 page not found\n" || !reused {
		t.Errorf("GET /: %s %q, connection reused %v", resp.Status, body, reused)
	}
}

// TestServeAddressInUse: Serve on an address in use is an error at once.
func TestServeAddressInUse(t *testing.T) {
	s := serve(t)
	if s2, err := Serve(s.Addr().String(), Options{}); !errors.Is(err, syscall.EADDRINUSE) {
		if s2 != nil {
			s2.Close()
		}
		t.Fatalf("Serve on %s, in use: %v, want EADDRINUSE", s.Addr(), err)
	}
}

// raw sends req on a new connection to s and returns all the Server
// writes until it closes the connection (or 5 s pass).
func raw(t *testing.T, s *Server, req string) string {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(conn)
	if err != nil {
		t.Errorf("%.40q...: the connection was not closed: %v", req, err)
	}
	return string(b)
}

// TestServeRequests: what the Server answers to requests as they come on
// the wire, and that it closes the connection after each of these.
func TestServeRequests(t *testing.T) {
	s := serve(t)
	for _, tc := range []struct {
		name, req, status string
		body              bool // the page follows
	}{
		{"HTTP/1.0", "GET /metrics HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK", true},
		{"Connection: close", "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "HTTP/1.1 200 OK", true},
		{"absolute form", "GET http://x/metrics HTTP/1.1\r\nConnection: Keep-Alive, close\r\n\r\n", "HTTP/1.1 200 OK", true},
		{"a body", "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", "HTTP/1.1 200 OK", true},
		{"garbage", "hello\r\n\r\n", "HTTP/1.1 400 Bad Request", false},
		{"bad header", "GET /metrics HTTP/1.1\r\nno colon\r\n\r\n", "HTTP/1.1 400 Bad Request", false},
		{"HTTP/2", "GET /metrics HTTP/2.0\r\n\r\n", "HTTP/1.1 505 HTTP Version Not Supported", false},
		{"long line", "GET /metrics HTTP/1.1\r\nX: " + strings.Repeat("a", maxLine) + "\r\n\r\n", "HTTP/1.1 431 Request Header Fields Too Large", false},
		{"end of file", "GET /metrics HTTP/1.1\r\nHost: x\r\n", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := raw(t, s, tc.req)
			if status, _, _ := strings.Cut(out, "\r\n"); status != tc.status {
				t.Errorf("status line %q, want %q\n%s", status, tc.status, out)
			}
			if has := strings.Contains(out, "\r\n\r\n# HELP "); has != tc.body {
				t.Errorf("page sent: %v, want %v\n%s", has, tc.body, out)
			}
			if tc.status != "" && !strings.Contains(out, "\r\nConnection: close\r\n") {
				t.Errorf("no Connection: close before the server closed\n%s", out)
			}
		})
	}
}

// TestServeTimeouts: a request that does not come whole within the
// header timeout, and a connection idle for the idle timeout, are closed.
func TestServeTimeouts(t *testing.T) {
	defer func(h, i time.Duration) { headerTimeout, idleTimeout = h, i }(headerTimeout, idleTimeout)
	headerTimeout, idleTimeout = 200*time.Millisecond, 400*time.Millisecond
	s := serve(t)
	half, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer half.Close()
	half.SetDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	io.WriteString(half, "GET /metr")
	if b, err := io.ReadAll(half); err != nil || len(b) > 0 || time.Since(start) > 3*time.Second {
		t.Errorf("half a request: read %q, %v after %v; want it closed by the server", b, err, time.Since(start))
	}
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /metrics HTTP/1.1\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	var one [1]byte
	if n, err := conn.Read(one[:]); n != 0 || err != io.EOF || time.Since(start) > 3*time.Second {
		t.Errorf("an idle connection: read %d, %v after %v; want it closed by the server", n, err, time.Since(start))
	}
}

// TestServeClose: Close closes the listener and the open connections, and
// returns once the Server's goroutines are done.
func TestServeClose(t *testing.T) {
	s := serve(t)
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /metrics HTTP/1.1\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	// The connection is idle, kept alive.
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("read of a connection after Close: %v, want EOF", err)
	}
	if c, err := net.Dial("tcp", s.Addr().String()); err == nil {
		c.Close()
		t.Errorf("Dial after Close succeeded")
	}
	s.mu.Lock()
	n := len(s.conns)
	s.mu.Unlock()
	if n != 0 {
		t.Errorf("%d connections left after Close", n)
	}
}
