// Package sdnotify tells a service manager (systemd's Type=notify) what the
// node is doing: ready, reloading, stopping. It is the one datagram write
// the protocol needs, to the socket named by $NOTIFY_SOCKET; without that
// variable it does nothing.
package sdnotify

import (
	"net"
	"os"
	"strings"
)

// States a node reports.
const (
	Ready     = "READY=1"
	Reloading = "RELOADING=1"
	Stopping  = "STOPPING=1"
)

// Send writes state to $NOTIFY_SOCKET. A socket name starting with '@' is
// in the abstract namespace. Errors are returned for the caller to log; a
// node never stops because its manager cannot be told.
func Send(state string) error {
	name := os.Getenv("NOTIFY_SOCKET")
	if name == "" {
		return nil
	}
	if strings.HasPrefix(name, "@") {
		name = "\x00" + name[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
