// Package config is levee's configuration schema: strict decoding, defaults
// and validation. It does no I/O beyond reading bytes it is handed and starts
// no goroutines; building a running generation from a Config is internal/app's
// job.
package config

import (
	"levee/internal/health"
	"levee/internal/pool"
)

// Config is the whole configuration of one node.
type Config struct {
	// Admin is the admin listener (metrics, status, config API).
	Admin Admin `yaml:"admin"`
	// Listeners are the client-facing addresses. At least one is required.
	Listeners []Listener `yaml:"listeners"`
	// Limits bound what a client may send.
	Limits Limits `yaml:"limits"`
	// Timeouts apply to client connections.
	Timeouts ClientTimeouts `yaml:"timeouts"`
	// TrustedProxies lists addresses or CIDRs whose X-Forwarded-*, Forwarded
	// and X-Request-ID headers are kept; from anyone else they are replaced.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// Log configures logging.
	Log Log `yaml:"log"`
	// Reload configures how a running node picks up a changed config.
	Reload Reload `yaml:"reload"`
	// Pools are named origin pools that routes refer to by name.
	Pools []Pool `yaml:"pools"`
	// Sites are matched by the request's Host.
	Sites []Site `yaml:"sites"`
	// Sections are the capabilities' own top-level sections
	// (capabilities.go).
	Sections `yaml:",inline"`
}

// Admin is the admin listener.
type Admin struct {
	// Listen is the admin address. Default 127.0.0.1:9090; "off" disables it.
	// Danger: the admin API can replace the config; keep it on loopback or a
	// private network.
	Listen string `yaml:"listen"`
}

// Listener is one client-facing address.
type Listener struct {
	// Listen is host:port, e.g. ":443" or "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// TLS turns on TLS with certificates from files. Clients then negotiate
	// HTTP/2 or HTTP/1.1 by ALPN.
	TLS *TLS `yaml:"tls"`
	// H2C accepts cleartext HTTP/2 with prior knowledge. Default false.
	H2C bool `yaml:"h2c"`
	// HTTP1 is the HTTP/1.x server: "levee" (default) serves GET and HEAD
	// itself (on TLS listeners after its own handshake, handing HTTP/2 to
	// net/http) and moves any other connection to Go's net/http server;
	// "net/http" uses net/http for everything. h2c listeners always use
	// net/http.
	HTTP1 string `yaml:"http1"`
	// HTTP2 sets the HTTP/2 limits for this listener.
	HTTP2 HTTP2 `yaml:"http2"`
	// HTTP3 also serves HTTP/3 (QUIC) on the same port over UDP, and
	// advertises it with Alt-Svc. TLS listeners only. Default false.
	HTTP3 bool `yaml:"http3,omitempty"`
}

// TLS holds server certificates. The one whose names match the client's SNI
// is used; the first is the default.
type TLS struct {
	Certificates []Certificate `yaml:"certificates"`
	// Auto serves certificates from auto_https (ACME) for names the
	// certificates above do not cover, and answers TLS-ALPN-01. With it,
	// certificates may be empty.
	Auto bool `yaml:"auto,omitempty"`
	// MinVersion is "1.2" (default) or "1.3".
	MinVersion string `yaml:"min_version"`
}

// Certificate is a PEM certificate chain and its key.
type Certificate struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// HTTP2 are HTTP/2 server limits.
type HTTP2 struct {
	// MaxConcurrentStreams per connection. Default 100.
	MaxConcurrentStreams int `yaml:"max_concurrent_streams"`
	// MaxReadFrameSize in bytes. Default 16KiB (the protocol's minimum).
	MaxReadFrameSize Size `yaml:"max_read_frame_size"`
	// Server is the HTTP/2 server of TLS listeners: "levee" (default,
	// internal/h2server) or "go" (Go's x/net/http2 server). h2c always
	// uses Go's.
	Server string `yaml:"server"`
}

// Limits bound client requests.
type Limits struct {
	// MaxHeaderBytes bounds the request line plus headers; beyond it the
	// client gets 431. Default 64KiB, at most 1MiB.
	MaxHeaderBytes Size `yaml:"max_header_bytes"`
	// MaxRequestBody bounds a request body; beyond it the client gets 413.
	// Default 100MiB; 0 keeps the default, "unlimited" is not offered.
	MaxRequestBody Size `yaml:"max_request_body"`
}

// ClientTimeouts apply to client connections.
type ClientTimeouts struct {
	// ReadHeader is the time to read a request's headers. Default 10s.
	ReadHeader Duration `yaml:"read_header"`
	// ReadBody is the time to read a request body. Default 60s.
	ReadBody Duration `yaml:"read_body"`
	// Idle is how long a keep-alive connection may wait for its next
	// request. Default 120s.
	Idle Duration `yaml:"idle"`
	// Write is how long one write of the response may block. Default 60s.
	Write Duration `yaml:"write"`
	// Drain is how long in-flight requests may take to finish on shutdown
	// or after a reload before their connections are closed. Default 30s.
	Drain Duration `yaml:"drain"`
}

// Log configures logs.
type Log struct {
	// Access turns the JSON access log on. Default true.
	Access *bool `yaml:"access"`
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
}

// Reload configures automatic reloads.
type Reload struct {
	// Watch re-reads the config file when it changes. Default false.
	Watch bool `yaml:"watch"`
	// WatchInterval is how often the file is checked. Default 2s.
	WatchInterval Duration `yaml:"watch_interval"`
}

// Site is a set of hostnames with their routes.
type Site struct {
	// Name identifies the site in logs and metrics. Defaults to its first host.
	Name string `yaml:"name"`
	// Hosts are exact names ("example.com"), wildcards ("*.example.com",
	// which matches any depth below example.com) or "*" for every host.
	Hosts []string `yaml:"hosts"`
	// Routes are matched by path prefix; the longest prefix wins.
	Routes []Route `yaml:"routes"`
	// DebugHeader adds a Levee-Debug response header that explains how the
	// request was handled. Default false: it exposes origin addresses.
	DebugHeader bool `yaml:"debug_header"`
}

// Route sends requests under a path prefix to origin pools.
type Route struct {
	// Path is the path prefix. Default "/".
	Path string `yaml:"path"`
	// Pools names pools from the top-level pools list, in priority order.
	// A route has either Pools or inline Origins.
	Pools []string `yaml:"pools"`
	// HostHeader is the Host sent to the origin: empty passes the client's
	// Host (default); "origin" uses the origin URL's host; anything else is
	// sent as is.
	HostHeader string `yaml:"host_header"`
	// SetHeaders are request headers set before the request goes to the origin.
	SetHeaders map[string]string `yaml:"set_headers"`
	// RemoveHeaders are request headers removed before the request goes to
	// the origin.
	RemoveHeaders []string `yaml:"remove_headers"`
	// Retries and Fallback say what happens when an origin fails (internal/health).
	Retries  Retries   `yaml:"retries,omitempty"`
	Fallback *Fallback `yaml:"fallback,omitempty"`
	// RouteSections are the capabilities' per-route blocks
	// (capabilities.go).
	RouteSections `yaml:",inline"`
	// PoolSpec inlines one anonymous pool: origins, origin_tls, timeouts...
	PoolSpec `yaml:",inline"`
}

// Pool is a named origin pool.
type Pool struct {
	Name     string `yaml:"name"`
	PoolSpec `yaml:",inline"`
}

// PoolSpec is what makes an origin pool, named or inline in a route.
type PoolSpec struct {
	// Origins are the origin servers of the pool.
	Origins []Origin `yaml:"origins"`
	// OriginTLS configures TLS to https origins.
	OriginTLS OriginTLS `yaml:"origin_tls"`
	// Timeouts apply to requests to this pool's origins.
	Timeouts OriginTimeouts `yaml:"timeouts"`
	// Protocol is "http1" (default) or "h2" (HTTP/2 over TLS, or h2c with
	// prior knowledge to an http:// origin).
	Protocol string `yaml:"protocol"`
	// MaxIdlePerOrigin is the keep-alive connections kept per origin.
	// Default 1024, at most 4096.
	MaxIdlePerOrigin int `yaml:"max_idle_per_origin"`
	// Balance, Health and SlowStart: balancing policy, health checks and
	// ramp-up of recovered origins (internal/health).
	Balance   pool.BalanceConfig `yaml:"balance,omitempty"`
	Health    *health.PoolConfig `yaml:"health,omitempty"`
	SlowStart Duration           `yaml:"slow_start,omitempty"`
}

// Origin is one origin server.
type Origin struct {
	// URL is scheme://host:port, http or https, with no path.
	URL string `yaml:"url"`
	// Weight is the share of traffic relative to the pool's other origins.
	// Default 1.
	Weight int `yaml:"weight"`
	// MaxConns and MaxPending are the origin's circuit breaker (internal/health).
	MaxConns   int `yaml:"max_conns,omitempty"`
	MaxPending int `yaml:"max_pending,omitempty"`
}

// OriginTLS configures TLS towards origins. Certificates are verified.
type OriginTLS struct {
	// CAFile is a PEM bundle trusted instead of the system roots.
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the SNI and verified name.
	ServerName string `yaml:"server_name"`
	// CertFile and KeyFile are a client certificate for mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify turns verification off. Danger: only for tests.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// OriginTimeouts bound one request to an origin.
type OriginTimeouts struct {
	// Dial is the TCP connect timeout. Default 5s.
	Dial Duration `yaml:"dial"`
	// TLS is the TLS handshake timeout. Default 5s.
	TLS Duration `yaml:"tls"`
	// ResponseHeader is the time from the request being sent to the
	// response headers arriving. Default 60s.
	ResponseHeader Duration `yaml:"response_header"`
	// Total bounds the whole exchange including the body. Default 0: none,
	// so long downloads and streams are not cut; the write timeout still
	// bounds a stalled client and response_header a silent origin.
	Total Duration `yaml:"total"`
	// Idle is how long an unused keep-alive connection is kept. Default
	// 4s, under the 5s after which common origins close theirs; an
	// origin's shorter Keep-Alive: timeout=N wins.
	Idle Duration `yaml:"idle"`
}
