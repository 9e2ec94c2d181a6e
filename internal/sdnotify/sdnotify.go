// Package sdnotify tells systemd how a service stands (sd_notify(3)):
// READY=1 once it serves, STOPPING=1 as it stops, STATUS= a line for
// systemctl status. It sends one datagram to the socket the service
// manager named in $NOTIFY_SOCKET, and does nothing without one. It
// holds no state: Notify may be called from any goroutine.
package sdnotify

import (
	"net"
	"os"
)

// Notify sends state ("READY=1", "STATUS=...", several lines of them) to
// systemd's notification socket, if the service manager gave one
// ($NOTIFY_SOCKET; a name starting with '@' is an abstract socket). It
// blocks for one connect and one send on a local datagram socket, and
// says nothing of a failure: a service that cannot notify runs as well.
func Notify(state string) {
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
