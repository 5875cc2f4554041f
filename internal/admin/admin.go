// Package admin is the admin API and dashboard: the versioned JSON API
// under /api/v1 (with the old paths as aliases), bearer tokens with scopes,
// the audit log, the node's own one-hour time series, and the web UI under
// /ui/. It listens on its own address, loopback by default, apart from
// client traffic, and keeps its own limits so it cannot cost the edge.
package admin

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/config"
)

// Node is what the admin API needs from a running node.
type Node interface {
	Status() any
	ActiveConfig() []byte
	Apply(name string, src []byte, source string) error
	Reject(source string, err error) error
	// ReloadFile re-reads the node's config file; source "reload" makes the
	// file win over a config posted through the API.
	ReloadFile(source string) error
	Gatherer() prometheus.Gatherer
}

// Options configure a Server.
type Options struct {
	Node Node
	// Extra are capability routes by pattern ("POST /purge"); each is
	// served at its path and under /api/v1.
	Extra map[string]http.Handler
	// Addr is the admin listen address; a non-loopback one needs tokens.
	Addr    string
	DataDir string
	Log     *slog.Logger
	// Registry receives the admin metrics (nil: none).
	Registry prometheus.Registerer
	// Limits; zero values take the defaults.
	Limits Limits
	// HistoryVersions is how many configs the history keeps (0:
	// HistoryVersions).
	HistoryVersions int
}

// Server is the admin API and dashboard of one admin listener.
type Server struct {
	node    Node
	log     *slog.Logger
	tokens  *TokenStore
	audit   *Audit
	series  *Series
	limits  *limiter
	loop    bool // a loopback listener: open while it has no token
	routes  []Route
	mux     *http.ServeMux
	metrics *metrics
	snaps   *snapshots
	history *ConfigHistory

	// configMu orders config changes through the API with the history:
	// the config running before a change is recorded before it, the new
	// one after it, with who made it.
	configMu   sync.Mutex
	seenConfig *byte // the active config last recorded (see watchConfig)
	seenLen    int
	closed     bool // Close was called: the history is no longer written
}

// Close stops the server's writes to the data directory (the config
// history); when it returns, none is in progress. The node calls it at
// shutdown, so nothing writes into a data directory being removed.
func (s *Server) Close() {
	s.configMu.Lock()
	defer s.configMu.Unlock()
	s.closed = true
}

// Route is one endpoint of the admin listener.
type Route struct {
	Method, Path string
	Scope        string // "" for the public /healthz and the UI's own files
	Change       bool   // written to the audit log
	V1           bool   // part of the versioned API (documented in OpenAPI)
}

// CheckListen refuses a non-loopback admin address when the data
// directory holds no token: the API would be open to the network.
func CheckListen(addr, dataDir string) error {
	if addr == "off" || IsLoopback(addr) {
		return nil
	}
	ts, err := OpenTokens(dataDir)
	if err != nil {
		return fmt.Errorf("admin.listen %s: %w", addr, err)
	}
	if ts.Len() == 0 {
		return fmt.Errorf("admin.listen %s is not a loopback address, and there is no admin token: "+
			"create one with `levee token create --scope admin --data-dir %s`, or listen on 127.0.0.1", addr, dataDir)
	}
	return nil
}

// IsLoopback reports whether a listen address only accepts local clients.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// New builds the admin server.
func New(o Options) (*Server, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := CheckListen(o.Addr, o.DataDir); err != nil {
		return nil, err
	}
	ts, err := OpenTokens(o.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{node: o.Node, log: o.Log, tokens: ts, loop: o.Addr == "" || IsLoopback(o.Addr),
		audit: NewAudit(o.DataDir, o.Log), series: NewSeries(o.Node.Gatherer()),
		metrics: newMetrics(o.Registry), mux: http.NewServeMux()}
	s.limits = newLimiter(o.Limits.withDefaults(), s.metrics, o.Log)
	s.snaps = newSnapshots(o.Node.Gatherer(), s.metrics)
	if o.HistoryVersions <= 0 {
		o.HistoryVersions = HistoryVersions
	}
	s.history = OpenHistory(o.DataDir, o.HistoryVersions, o.Log)
	s.series.onTick = s.watchConfig
	s.register(o.Extra)
	return s, nil
}

// Series is the node's one-hour time series kept by this server.
func (s *Server) Series() *Series { return s.series }

// Tokens is the server's token store.
func (s *Server) Tokens() *TokenStore { return s.tokens }

// Routes lists every route the server answers.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// ServeHTTP serves the admin listener.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) register(extra map[string]http.Handler) {
	// The versioned API.
	s.api("GET", "/status", ScopeRead, false, s.status)
	s.api("GET", "/overview", ScopeRead, false, s.overview)
	s.api("GET", "/config", ScopeRead, false, s.getConfig)
	s.api("POST", "/config", ScopeConfig, true, s.postConfigV1)
	s.api("POST", "/reload", ScopeConfig, true, s.reloadV1)
	s.api("POST", "/config/validate", ScopeConfig, false, s.validateConfig)
	s.api("GET", "/config/history", ScopeRead, false, s.listHistory)
	s.api("GET", "/config/history/{version}", ScopeRead, false, s.getHistoryVersion)
	s.api("POST", "/config/rollback", ScopeConfig, true, s.rollback)
	s.api("GET", "/cache", ScopeRead, false, s.cachePage)
	s.api("GET", "/origins", ScopeRead, false, s.originsPage)
	s.api("GET", "/dns", ScopeRead, false, s.dnsPage)
	s.api("GET", "/shield/decisions", ScopeRead, false, s.shieldDecisions)
	s.api("GET", "/session", ScopeRead, false, s.session)
	s.api("GET", "/tokens", ScopeAdmin, false, s.listTokens)
	s.api("POST", "/tokens", ScopeAdmin, true, s.createToken)
	s.api("DELETE", "/tokens/{id}", ScopeAdmin, true, s.revokeToken)
	s.api("GET", "/audit", ScopeAdmin, false, s.readAudit)
	s.api("GET", "/openapi.json", ScopeRead, false, serveOpenAPI)
	for pattern, h := range extra {
		method, path, _ := strings.Cut(pattern, " ")
		scope, change := capabilityScope(method, path)
		s.api(method, path, scope, change, jsonErrors(h).ServeHTTP)
		s.handle(Route{Method: method, Path: path, Scope: scope, Change: change}, h)
	}
	// The old paths, kept as aliases with their old answers.
	s.handle(Route{Method: "GET", Path: "/status", Scope: ScopeRead}, http.HandlerFunc(s.status))
	s.handle(Route{Method: "GET", Path: "/config", Scope: ScopeRead}, http.HandlerFunc(s.getConfig))
	s.handle(Route{Method: "POST", Path: "/config", Scope: ScopeConfig, Change: true}, http.HandlerFunc(s.postConfigLegacy))
	s.handle(Route{Method: "POST", Path: "/reload", Scope: ScopeConfig, Change: true}, http.HandlerFunc(s.reloadLegacy))
	s.handle(Route{Method: "GET", Path: "/metrics", Scope: ScopeRead}, http.HandlerFunc(s.serveMetrics))
	s.handle(Route{Method: "GET", Path: "/healthz"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") }))
	// Profiles, as Caddy's admin endpoint offers: profiling a live edge is
	// how it gets faster; they need the admin scope.
	for path, h := range map[string]http.HandlerFunc{"/debug/pprof/": pprof.Index, "/debug/pprof/profile": pprof.Profile,
		"/debug/pprof/trace": pprof.Trace, "/debug/pprof/symbol": pprof.Symbol} {
		s.handle(Route{Method: "GET", Path: path, Scope: ScopeAdmin}, h)
	}
	s.registerUI()
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no API route "+r.Method+" "+r.URL.Path)
	})
}

func (s *Server) api(method, path, scope string, change bool, h http.HandlerFunc) {
	s.handle(Route{Method: method, Path: "/api/v1" + path, Scope: scope, Change: change, V1: true}, h)
}

func (s *Server) handle(rt Route, h http.Handler) {
	s.routes = append(s.routes, rt)
	s.mux.Handle(rt.Method+" "+rt.Path, s.guard(rt, h))
}

// capabilityScope is the scope of a capability route: purges need purge,
// shield and module switches need switches, reads need read, anything else admin.
func capabilityScope(method, path string) (scope string, change bool) {
	switch {
	case method == "GET" || method == "HEAD":
		return ScopeRead, false
	case strings.HasPrefix(path, "/purge"):
		return ScopePurge, true
	case strings.HasPrefix(path, "/shield/"), strings.HasPrefix(path, "/modules/"):
		return ScopeSwitches, true
	}
	return ScopeAdmin, true
}

// writeError answers with the API's error shape.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": APIError{Code: code, Message: msg}})
}

// APIError is the body of every error of the versioned API.
type APIError struct {
	Code    string        `json:"code"`
	Message string        `json:"message"`
	Details []ConfigError `json:"details,omitempty"`
}

func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, fmt.Errorf("the request body is over the limit of %d bytes", limit)
	}
	return b, err
}

var startTime = time.Now()

// configLimit is the body bound of POST /config: the config file's own.
const configLimit = config.MaxFileBytes
