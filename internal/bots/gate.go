package bots

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/atomicfile"
)

// DefaultFeatures is the feature file shipped with levee, used when
// bots.features is empty.
//
//go:embed default_features.csv
var DefaultFeatures []byte

// lkgName is the last-known-good copy of the feature file in the data
// directory: at start it scores until the configured file loads.
const lkgName = "bot-features.lkg"

// Gate loads feature files the way the config is loaded: read within the
// byte limit, validate every row, compile, then swap atomically; a file
// that fails any step is rejected whole, logged once and counted once,
// and the previous model keeps scoring. The model in force is never nil.
type Gate struct {
	log     *slog.Logger
	dataDir string
	m       *metrics

	cur atomic.Pointer[Model]

	mu       sync.Mutex // serialises loads; guards the fields below
	path     string
	lim      Limits
	tried    [32]byte // hash of the last content tried, accepted or not
	triedSet bool
	triedErr error
	stat     fileStat
	pending  bool // the file changed at the last poll; load once it has settled
	status   FileStatus
}

// FileStatus is what /bots reports of the feature file.
type FileStatus struct {
	Path         string    `json:"path"`
	Version      string    `json:"version"`
	Features     int       `json:"features"`
	LoadedAt     time.Time `json:"loaded_at"`
	LastReject   string    `json:"last_rejection,omitempty"`
	LastRejectAt time.Time `json:"last_rejection_at,omitzero"`
}

type fileStat struct {
	size  int64
	mtime time.Time
}

type metrics struct {
	loaded, rejected prometheus.Counter
	features         prometheus.Gauge
	actions          *prometheus.CounterVec
	challenges       *prometheus.CounterVec
	byAction         [nActions]prometheus.Counter // resolved once: no label look-up per request
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		loaded:     prometheus.NewCounter(prometheus.CounterOpts{Name: "levee_bots_features_loaded_total", Help: "Feature files loaded and put in force."}),
		rejected:   prometheus.NewCounter(prometheus.CounterOpts{Name: "levee_bots_features_rejected_total", Help: "Feature files rejected whole (the previous one kept scoring)."}),
		features:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "levee_bots_features", Help: "Features in the feature file in force."}),
		actions:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_bots_actions_total", Help: "Scored requests by action (allow, log, challenge, block, exempt)."}, []string{"action"}),
		challenges: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_bots_challenges_total", Help: "Challenge outcomes (issued, solved, failed, noscript, refused)."}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.loaded, m.rejected, m.features, m.actions, m.challenges)
	}
	for a := range nActions {
		m.byAction[a] = m.actions.WithLabelValues(actionNames[a])
	}
	return m
}

// newGate starts from the last-known-good copy in dataDir, or from the
// shipped file.
func newGate(log *slog.Logger, dataDir string, m *metrics) *Gate {
	g := &Gate{log: log, dataDir: dataDir, m: m}
	hard := Limits{MaxFeatures: HardMaxFeatures, MaxBytes: HardMaxFileBytes}
	if dataDir != "" {
		if data, err := os.ReadFile(filepath.Join(dataDir, lkgName)); err == nil {
			if feats, err := Parse(data, hard); err == nil {
				g.put(Compile(feats, data), filepath.Join(dataDir, lkgName))
				return g
			}
			log.Warn("bots: the last-known-good feature file does not load; starting from the shipped one", "err", err)
		}
	}
	feats, err := Parse(DefaultFeatures, hard)
	if err != nil {
		panic("bots: the shipped feature file is invalid: " + err.Error()) // a build defect, caught by its test
	}
	g.put(Compile(feats, DefaultFeatures), "(shipped)")
	return g
}

// Model returns the model in force.
func (g *Gate) Model() *Model { return g.cur.Load() }

// Status returns the feature file's status.
func (g *Gate) Status() FileStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.status
}

func (g *Gate) put(m *Model, path string) {
	g.cur.Store(m)
	g.status.Path, g.status.Version, g.status.Features, g.status.LoadedAt = path, m.Version, m.Features, time.Now()
	g.m.features.Set(float64(m.Features))
}

// Configure sets the file and limits later loads use; a change forgets
// what was tried, so the same bytes are judged again under new limits.
func (g *Gate) Configure(path string, lim Limits) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if path != g.path || lim != g.lim {
		g.path, g.lim, g.triedSet, g.stat = path, lim, false, fileStat{}
	}
}

// Load reads the configured file through the gate. Content already tried
// is not judged again (a SIGHUP, an API call and the watcher all seeing
// one bad file reject it once); its earlier verdict is returned.
func (g *Gate) Load() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.loadLocked()
}

func (g *Gate) loadLocked() error {
	data, err := g.read()
	if err == nil {
		sum := sha256.Sum256(data)
		if g.triedSet && sum == g.tried {
			return g.triedErr
		}
		g.tried, g.triedSet = sum, true
		err = g.accept(data)
	} else {
		// An unreadable file has no content to remember; remember the
		// error, so a missing file is reported once, not every poll.
		if g.triedSet && g.triedErr != nil && g.triedErr.Error() == err.Error() {
			return err
		}
		g.tried, g.triedSet = [32]byte{}, true
	}
	g.triedErr = err
	if err != nil {
		g.m.rejected.Inc()
		g.status.LastReject, g.status.LastRejectAt = err.Error(), time.Now()
		g.log.Error("bots: feature file rejected; scoring goes on with the previous file",
			"file", g.sourceName(), "err", err, "version_in_force", g.cur.Load().Version)
	}
	return err
}

func (g *Gate) sourceName() string {
	if g.path == "" {
		return "(shipped)"
	}
	return g.path
}

func (g *Gate) read() ([]byte, error) {
	if g.path == "" {
		return DefaultFeatures, nil
	}
	f, err := os.Open(g.path)
	if err != nil {
		return nil, fmt.Errorf("cannot open the feature file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, g.lim.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read the feature file: %w", err)
	}
	return data, nil
}

func (g *Gate) accept(data []byte) error {
	feats, err := Parse(data, g.lim)
	if err != nil {
		return err
	}
	m := Compile(feats, data)
	g.put(m, g.sourceName())
	g.m.loaded.Inc()
	g.log.Info("bots: feature file loaded", "file", g.sourceName(), "version", m.Version, "features", m.Features)
	if g.dataDir != "" && g.path != "" && !bytes.Equal(data, DefaultFeatures) {
		if err := atomicfile.Write(filepath.Join(g.dataDir, lkgName), data, 0o644); err != nil {
			g.log.Warn("bots: cannot keep a last-known-good copy of the feature file", "err", err)
		}
	}
	return nil
}

// Poll loads the file once its size and modification time have changed
// and then stayed the same for one poll: a file caught while being written
// in place is not judged half-written. Content seen before is not judged
// again (Load).
func (g *Gate) Poll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.path == "" {
		return
	}
	fi, err := os.Stat(g.path)
	st := fileStat{}
	if err == nil {
		st = fileStat{size: fi.Size(), mtime: fi.ModTime()}
	}
	if st != g.stat {
		g.stat, g.pending = st, true
		return
	}
	if !g.pending && !errors.Is(err, os.ErrNotExist) {
		return
	}
	g.pending = false
	_ = g.loadLocked()
}
