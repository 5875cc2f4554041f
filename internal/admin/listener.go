package admin

import (
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"
)

// LimitListener bounds the admin listener's open connections
// (DefaultLimits.MaxConns): a flood of the admin port waits in its own
// accept queue and costs the edge's listeners nothing.
func LimitListener(ln net.Listener) net.Listener {
	return netutil.LimitListener(ln, DefaultLimits.MaxConns)
}

// HTTPServer is the admin listener's server with its timeouts: a slow
// client cannot hold a connection. The write timeout leaves room for a
// 30-second CPU profile.
func HTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      45 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}
