// Package modswitch holds the node's kill switches and breakers, one per
// module (bots, waf, ...). A kill switch turns a module off: set through
// the admin API or by writing the module's name into a file in the data
// directory, which is read every second, so it works when the admin API
// and every remote dependency are down; the API writes the same file, so
// a switch survives a restart. A breaker turns a module off for a while
// after N panics (or budget overruns) in a window, then lets it be probed
// again. While off, a module applies its declared failure policy.
package modswitch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/atomicfile"
	"levee/internal/guard"
)

// FileName is the kill switch file in the data directory: one module
// name a line; '#' starts a comment.
const FileName = "kill-switches"

// Bounds and defaults.
const (
	MaxFileBytes = 64 << 10
	PollInterval = time.Second
	DefaultTrips = 5
	// DefaultOverrunTrips is higher: overruns come with load, and a
	// breaker that a few slow requests open would let an attacker switch
	// the WAF off by loading the node.
	DefaultOverrunTrips = 1000
	DefaultWindow       = time.Minute
	DefaultCooldown     = 30 * time.Second
	maxUnknownLoggedLen = 64
)

// Policy is what a module does while off.
type Policy string

// Policies.
const (
	FailOpen   Policy = "open"   // the request goes on without the module
	FailClosed Policy = "closed" // the request is refused (503)
)

// Set is the node's modules.
type Set struct {
	log  *slog.Logger
	path string // "" without a data directory: API only, not persisted

	mu      sync.Mutex // guards mods' registration and file writes
	mods    map[string]*Module
	lastRaw []byte

	killed   *prometheus.GaugeVec
	open     *prometheus.GaugeVec
	failures *prometheus.CounterVec
}

// Module is one module's switch and breaker.
type Module struct {
	Name   string
	Policy Policy
	set    *Set

	killed    atomic.Bool
	openUntil atomic.Int64 // unix ns; the breaker is open until then

	mu           sync.Mutex
	failures     []time.Time // panics within the window, at most trips
	trips        int
	overruns     int       // overruns since overrunAt
	overrunAt    time.Time // start of the overrun window
	overrunTrips int
	window       time.Duration
	cooldown     time.Duration
	tripped      bool // logged as open; cleared (and logged) at the re-probe
}

// New returns the node's set, reading the kill switch file of dataDir.
func New(log *slog.Logger, reg prometheus.Registerer, dataDir string) *Set {
	s := &Set{log: log, mods: map[string]*Module{},
		killed:   prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "levee_module_killed", Help: "1 while a module's kill switch is on."}, []string{"module"}),
		open:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "levee_module_breaker_open", Help: "1 while a module's breaker bypasses it."}, []string{"module"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_module_failures_total", Help: "Panics and budget overruns a module's breaker counted."}, []string{"module", "kind"}),
	}
	if dataDir != "" {
		s.path = filepath.Join(dataDir, FileName)
		// Read now, so modules registered next start in their persisted
		// state, before any request.
		if raw, err := readBounded(s.path); err == nil {
			s.lastRaw = raw
		}
	}
	if reg != nil {
		reg.MustRegister(s.killed, s.open, s.failures)
	}
	return s
}

// Module registers (or returns) the module name with its policy.
func (s *Set) Module(name string, p Policy) *Module {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := s.mods[name]; ok {
		return m
	}
	m := &Module{Name: name, Policy: p, set: s, trips: DefaultTrips, overrunTrips: DefaultOverrunTrips, window: DefaultWindow, cooldown: DefaultCooldown}
	s.mods[name] = m
	s.killed.WithLabelValues(name).Set(0)
	s.open.WithLabelValues(name).Set(0)
	s.applyLocked(s.lastRaw, false)
	return m
}

// SetBreaker changes a module's breaker: trips panics, or overrunTrips
// budget overruns, within window open it for cooldown (tests, embedding).
func (m *Module) SetBreaker(trips, overrunTrips int, window, cooldown time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.trips, m.overrunTrips, m.window, m.cooldown = max(trips, 1), max(overrunTrips, 1), window, cooldown
}

// Active reports whether the module runs for this request: its kill
// switch is off and its breaker closed. No allocation, no lock.
func (m *Module) Active() bool {
	if m.killed.Load() {
		return false
	}
	until := m.openUntil.Load()
	if until == 0 {
		return true
	}
	if time.Now().UnixNano() < until {
		return false
	}
	m.reprobe()
	return true
}

func (m *Module) reprobe() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tripped && m.openUntil.Load() != 0 && time.Now().UnixNano() >= m.openUntil.Load() {
		m.tripped = false
		m.failures = m.failures[:0]
		m.overruns = 0
		m.openUntil.Store(0)
		m.set.open.WithLabelValues(m.Name).Set(0)
		m.set.log.Warn("module breaker closed: probing the module again", "module", m.Name)
	}
}

// Failed counts a panic ("panic") or a budget overrun (any other kind);
// the trips-th panic, or the overrunTrips-th overrun, within the window
// opens the breaker, logged once.
func (m *Module) Failed(kind string) {
	m.set.failures.WithLabelValues(m.Name, kind).Inc()
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if kind != "panic" {
		if now.Sub(m.overrunAt) >= m.window {
			m.overrunAt, m.overruns = now, 0
		}
		m.overruns++
		if m.overruns >= m.overrunTrips {
			m.trip(now, m.overruns, kind)
		}
		return
	}
	keep := m.failures[:0]
	for _, t := range m.failures {
		if now.Sub(t) < m.window {
			keep = append(keep, t)
		}
	}
	m.failures = append(keep, now)
	if len(m.failures) >= m.trips {
		m.trip(now, len(m.failures), kind)
	}
}

func (m *Module) trip(now time.Time, n int, kind string) {
	if m.tripped {
		return
	}
	m.tripped = true
	m.openUntil.Store(now.Add(m.cooldown).UnixNano())
	m.set.open.WithLabelValues(m.Name).Set(1)
	m.set.log.Error("module breaker open: the module is bypassed under its policy",
		"module", m.Name, "policy", string(m.Policy), "kind", kind, "failures", n, "window", m.window.String(), "for", m.cooldown.String())
}

// Killed reports the kill switch; a nil module (none registered) is
// never killed.
func (m *Module) Killed() bool { return m != nil && m.killed.Load() }

// Recover is deferred around a module's own work: a panic there is
// recorded by the panic wall, counted by the breaker and reported as
// true in *panicked, and goes no further.
func (m *Module) Recover(w *guard.Wall, panicked *bool) {
	if v := recover(); v != nil {
		if w != nil {
			w.Record("module:"+m.Name, v)
		}
		m.Failed("panic")
		*panicked = true
	}
}

// Poll reads the kill switch file and applies it.
func (s *Set) Poll() {
	if s.path == "" {
		return
	}
	raw, err := readBounded(s.path)
	if err != nil && !os.IsNotExist(err) {
		s.log.Warn("kill switch file unreadable; switches unchanged", "file", s.path, "err", err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if bytes.Equal(raw, s.lastRaw) && s.lastRaw != nil {
		return
	}
	if raw == nil {
		raw = []byte{}
	}
	s.lastRaw = raw
	s.applyLocked(raw, true)
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxFileBytes))
	if b == nil {
		b = []byte{}
	}
	return b, err
}

func parse(raw []byte) map[string]bool {
	on := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if name := strings.TrimSpace(line); name != "" {
			on[name] = true
		}
	}
	return on
}

func (s *Set) applyLocked(raw []byte, reportUnknown bool) {
	on := parse(raw)
	for name, m := range s.mods {
		if was := m.killed.Swap(on[name]); was != on[name] {
			v := 0.0
			if on[name] {
				v = 1
			}
			s.killed.WithLabelValues(name).Set(v)
			s.log.Warn("module kill switch", "module", name, "killed", on[name], "policy", string(m.Policy))
		}
	}
	for name := range on {
		if _, ok := s.mods[name]; !ok && reportUnknown && len(name) <= maxUnknownLoggedLen {
			s.log.Warn("kill switch file names an unknown module", "module", name)
		}
	}
}

// Run polls the file every PollInterval until stop is closed.
func (s *Set) Run(stop <-chan struct{}) {
	t := time.NewTicker(PollInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.Poll()
		}
	}
}

// setKilled sets a switch through the API: it writes the file (so the
// switch persists) and applies it at once.
func (s *Set) setKilled(name string, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := parse(s.lastRaw)
	cur[name] = on
	var names []string
	for n, v := range cur {
		if v {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	raw := []byte("# modules turned off (levee kill switches); one name a line\n" + strings.Join(names, "\n") + "\n")
	if s.path != "" {
		if err := atomicfile.Write(s.path, raw, 0o644); err != nil {
			return err
		}
	}
	s.lastRaw = raw
	s.applyLocked(raw, false)
	return nil
}

// Status is one module's state for the admin API.
type Status struct {
	Killed      bool   `json:"killed"`
	BreakerOpen bool   `json:"breaker_open"`
	Policy      Policy `json:"policy"`
}

// AdminRoutes: GET /modules; POST /modules/{name}/kill and /revive.
func (s *Set) AdminRoutes() map[string]http.Handler {
	set := func(on bool) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			name := r.PathValue("name")
			s.mu.Lock()
			_, ok := s.mods[name]
			s.mu.Unlock()
			if !ok {
				http.Error(w, "no module named "+name, http.StatusNotFound)
				return
			}
			if err := s.setKilled(name, on); err != nil {
				http.Error(w, "cannot write the kill switch file: "+err.Error(), http.StatusInternalServerError)
				return
			}
			s.writeStatus(w)
		})
	}
	return map[string]http.Handler{
		"GET /modules":                http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.writeStatus(w) }),
		"POST /modules/{name}/kill":   set(true),
		"POST /modules/{name}/revive": set(false),
	}
}

// Status returns every module's state (admin API, /status).
func (s *Set) Status() map[string]Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]Status{}
	for n, m := range s.mods {
		out[n] = Status{Killed: m.killed.Load(), BreakerOpen: m.openUntil.Load() != 0, Policy: m.Policy}
	}
	return out
}

func (s *Set) writeStatus(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s.Status())
}
