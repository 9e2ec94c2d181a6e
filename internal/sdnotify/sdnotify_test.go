package sdnotify

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// listen returns a datagram socket at name (a path, or an abstract name
// after '@'), as systemd's notification socket is.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	addr := name
	if name[0] == '@' {
		addr = "\x00" + name[1:]
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 4096)
	n, err := c.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(b[:n])
}

func TestNotify(t *testing.T) {
	for _, tc := range []struct {
		name string
		sock func(t *testing.T) string
	}{
		{"path", func(t *testing.T) string { return filepath.Join(t.TempDir(), "notify") }},
		{"abstract", func(t *testing.T) string { return fmt.Sprintf("@perfprof-sdnotify-test-%d", os.Getpid()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.sock(t)
			c := listen(t, name)
			t.Setenv("NOTIFY_SOCKET", name)
			Notify("READY=1\nMAINPID=42")
			if got := read(t, c); got != "READY=1\nMAINPID=42" {
				t.Errorf("got %q", got)
			}
			Notify("STATUS=")
			if got := read(t, c); got != "STATUS=" {
				t.Errorf("got %q", got)
			}
		})
	}
}

// Without $NOTIFY_SOCKET, or with a socket nobody listens on, Notify does
// nothing and returns.
func TestNotifyNoSocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	Notify("READY=1")
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "none"))
	Notify("READY=1")
}
