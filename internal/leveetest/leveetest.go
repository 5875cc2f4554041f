// Package leveetest starts levee nodes in-process on loopback ports for
// integration tests: a node from a YAML string, with httptest origins.
package leveetest

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"levee/internal/app"
	"levee/internal/pipeline"
	"levee/internal/telemetry"
)

// Node is a running test node.
type Node struct {
	*app.Node
	T          testing.TB
	ConfigPath string
	DataDir    string
	Logs       *SyncBuffer
	Access     *SyncBuffer
}

// Option adjusts the node's options before it starts.
type Option func(*app.Options)

// WithPhase adds a phase by name (see pipeline.Order), e.g. "fault".
func WithPhase(name string, p pipeline.Phase) Option {
	return func(o *app.Options) {
		if o.ExtraPhases == nil {
			o.ExtraPhases = map[string]pipeline.Phase{}
		}
		o.ExtraPhases[name] = p
	}
}

// Start writes yaml to a config file in a temp dir and starts a node on it.
// Use "127.0.0.1:0" for listen addresses; Addr and AdminURL find the ports.
// A config without an admin: section gets the admin API on a free loopback
// port instead of the fixed default, so tests never collide on it. The node
// is shut down when the test ends.
func Start(t testing.TB, yaml string, opts ...Option) *Node {
	t.Helper()
	if !hasTopLevelKey(yaml, "admin") {
		yaml = "admin: {listen: \"127.0.0.1:0\"}\n" + yaml
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "levee.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	logs, access := &SyncBuffer{}, &SyncBuffer{}
	o := app.Options{ConfigPath: path, DataDir: filepath.Join(dir, "data"), Log: logs, Access: access, Version: "test"}
	for _, f := range opts {
		f(&o)
	}
	n := app.New(o)
	if err := n.Start(); err != nil {
		t.Fatalf("start: %v\nlogs:\n%s", err, logs.String())
	}
	t.Cleanup(func() { _ = n.Shutdown() })
	return &Node{Node: n, T: t, ConfigPath: path, DataDir: o.DataDir, Logs: logs, Access: access}
}

func hasTopLevelKey(yaml, key string) bool {
	for _, line := range strings.Split(yaml, "\n") {
		if strings.HasPrefix(line, key+":") {
			return true
		}
	}
	return false
}

// Addr returns the bound host:port of the listener configured as addr
// (the first listener if addr is empty).
func (n *Node) Addr(addr string) string {
	for k, a := range n.Addrs() {
		if addr == "" || k == addr {
			return a.String()
		}
	}
	n.T.Fatalf("no listener %q", addr)
	return ""
}

// URL returns "http://" + the first listener's address + path.
func (n *Node) URL(path string) string { return "http://" + n.Addr("") + path }

// AdminURL returns the admin API's URL for path.
func (n *Node) AdminURL(path string) string {
	a := n.AdminAddr()
	if a == nil {
		n.T.Fatal("admin API is off")
	}
	return "http://" + a.String() + path
}

// WriteConfig replaces the config file (for SIGHUP-style reloads).
func (n *Node) WriteConfig(yaml string) {
	n.T.Helper()
	if err := os.WriteFile(n.ConfigPath, []byte(yaml), 0o600); err != nil {
		n.T.Fatal(err)
	}
}

// PostConfig sends yaml to POST /config and returns the status code and body.
func (n *Node) PostConfig(yaml string) (int, string) {
	n.T.Helper()
	res, err := http.Post(n.AdminURL("/config"), "application/yaml", strings.NewReader(yaml))
	if err != nil {
		n.T.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// Reloads returns levee_config_reloads_total{result}.
func (n *Node) Reloads(result string) float64 {
	return telemetry.Value(n.Metrics().Reloads.WithLabelValues(result))
}

// sharedTransport is the one connection pool of every Client: a pool per
// client left its idle connections open until the process ended, and a
// listener with a connection cap (the admin API's 64) stopped accepting.
// Idle connections to nodes a test has stopped are closed with the nodes,
// and by IdleConnTimeout at the latest.
var sharedTransport = &http.Transport{
	Proxy:               nil, // loopback only: never through $HTTP_PROXY
	MaxIdleConnsPerHost: 64,
	IdleConnTimeout:     10 * time.Second,
}

// Client returns an HTTP client with a timeout, for tests. Every client
// shares one connection pool, so calling it per request leaks nothing;
// a test that needs connections of its own makes its own transport.
func Client() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: sharedTransport}
}

// Get fetches url and returns status and body; it fails the test on error.
func Get(t testing.TB, url string) (int, string, http.Header) {
	t.Helper()
	res, err := Client().Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

// SyncBuffer is a goroutine-safe bytes.Buffer for captured logs.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Count returns how many times sub occurs in what was written.
func (b *SyncBuffer) Count(sub string) int { return strings.Count(b.String(), sub) }
