//go:build !(linux && (amd64 || arm64))

package dns

import "net"

// serveUDP reads and answers packets on one socket until it is closed.
func (s *Server) serveUDP(uc *net.UDPConn) { s.serveUDPPlain(uc) }
