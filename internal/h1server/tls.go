package h1server

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"slices"
	"time"
)

// handshake runs the TLS handshake of a connection served with TLSConfig,
// on the connection's own goroutine, within ReadHeaderTimeout. It reports
// whether the connection stays here (HTTP/1.x: ALPN "http/1.1", none, or
// any protocol not in HandOffProtos); a connection whose protocol is in
// HandOffProtos (HTTP/2) has gone to Fallback, handshaken. A failed
// handshake is only logged at debug level: it is the client's doing, and
// would flood the log under attack.
func (cn *conn) handshake(tc *tls.Conn) (stays bool) {
	s := cn.srv
	if d := s.ReadHeaderTimeout; d > 0 {
		tc.SetDeadline(time.Now().Add(d))
	}
	// cn.ctx carries no cancellation (ConnContext adds values), so
	// HandshakeContext starts no goroutine to watch it.
	if err := tc.HandshakeContext(cn.ctx); err != nil {
		s.logger().Debug("http1: TLS handshake", "peer", cn.remote, "err", err)
		answerPlainHTTP(err)
		return false
	}
	tc.SetDeadline(time.Time{})
	st := tc.ConnectionState()
	cn.tlsState = &st
	if slices.Contains(s.HandOffProtos, st.NegotiatedProtocol) {
		// Untracked first: a Shutdown closing idle connections must not
		// close it under the server it now belongs to.
		cn.handedOff = true
		s.track(cn, false)
		s.Fallback(cn.ctx, tc)
		return false
	}
	return true
}

// answerPlainHTTP tells a client that spoke cleartext HTTP to a TLS port
// so, as net/http does (the caller closes the connection).
func answerPlainHTTP(err error) {
	var re tls.RecordHeaderError
	if !errors.As(err, &re) || re.Conn == nil {
		return
	}
	switch string(re.RecordHeader[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
	}
}

// NetConn is the connection under the replay (a *tls.Conn on TLS
// listeners), for a fallback server that wants its TLS state.
func (c *replayConn) NetConn() net.Conn { return c.Conn }
