package leveetest

import (
	"crypto/tls"
	"net"
	"net/http"

	"golang.org/x/net/http2"
)

// H2CClient returns a client that speaks HTTP/2 without TLS, with prior
// knowledge (a listener with h2c: true).
func H2CClient() *http.Client {
	return &http.Client{Transport: &http2.Transport{AllowHTTP: true,
		DialTLS: func(network, addr string, _ *tls.Config) (net.Conn, error) { return net.Dial(network, addr) }}}
}
