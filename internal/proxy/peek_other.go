//go:build !unix

package proxy

import "net"

// closedByPeer cannot peek here; a dead connection is caught by the retry
// on a fresh connection instead.
func closedByPeer(net.Conn) bool { return false }
