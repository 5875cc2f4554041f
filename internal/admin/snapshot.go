package admin

import (
	"bytes"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// Rendering the node's metrics is the one admin answer whose cost grows
// with the node (sites, origins, rules): a flood of dashboards or scripts
// must not turn into a flood of renders competing with the edge for CPU.
// So every reader shares one snapshot: a fresh render is allowed
// renderBurst times at once and renderRate a second after that; past it
// the reader gets the last snapshot (under a flood, about 1/renderRate
// old: fresh enough for a script that polls a counter it just moved, and
// a bounded cost whatever the readers do: 10 gathers a second). Renders
// also run one at a time: readers that arrive during one wait for it and
// share its result.
const (
	renderRate  = 10.0 // fresh renders per second, sustained
	renderBurst = 20.0 // fresh renders at once after a quiet spell
)

// snapshots gathers the node's metrics at most renderRate a second
// (after a burst of renderBurst) for every admin reader.
type snapshots struct {
	g       prometheus.Gatherer
	renders *prometheus.CounterVec
	shared  *prometheus.CounterVec

	mu      sync.Mutex // held across a render: one at a time
	budget  float64
	last    time.Time // when budget was last refilled
	at      time.Time // when fams was gathered
	fams    []*dto.MetricFamily
	text    []byte // fams in the text exposition format, made on demand
	textErr error
}

func newSnapshots(g prometheus.Gatherer, m *metrics) *snapshots {
	return &snapshots{g: g, renders: m.renders, shared: m.shared, budget: renderBurst}
}

// families returns the node's metrics: a fresh gather when the budget
// allows and the snapshot is not from this very moment, else the last one.
func (s *snapshots) families(now time.Time) []*dto.MetricFamily {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked(now)
	return s.fams
}

// exposition returns the text format of the current snapshot.
func (s *snapshots) exposition(now time.Time) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshLocked(now)
	if s.text == nil && s.textErr == nil {
		s.renders.WithLabelValues("text").Inc()
		var b bytes.Buffer
		enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, f := range s.fams {
			if err := enc.Encode(f); err != nil {
				s.textErr = err
				break
			}
		}
		s.text = b.Bytes()
	}
	return s.text, s.textErr
}

func (s *snapshots) refreshLocked(now time.Time) {
	s.budget = min(renderBurst, s.budget+now.Sub(s.last).Seconds()*renderRate)
	s.last = now
	if s.fams != nil && s.budget < 1 {
		s.shared.WithLabelValues("gather").Inc()
		return
	}
	s.budget--
	s.renders.WithLabelValues("gather").Inc()
	fams, err := s.g.Gather()
	var multi prometheus.MultiError
	if err != nil && !errors.As(err, &multi) {
		// A gather that failed outright keeps the last good snapshot.
		if s.fams != nil {
			return
		}
	}
	s.fams, s.at, s.text, s.textErr = fams, now, nil, nil
}

// serveMetrics is GET /metrics on the admin listener, from the shared
// snapshot.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	b, err := s.snaps.exposition(time.Now())
	if err != nil {
		writeError(w, http.StatusInternalServerError, "error", "the metrics could not be rendered: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", string(expfmt.NewFormat(expfmt.TypeTextPlain)))
	w.Write(b)
}

// familyGatherer turns a snapshot into a Gatherer for ReadTotals.
type familyGatherer []*dto.MetricFamily

func (f familyGatherer) Gather() ([]*dto.MetricFamily, error) { return f, nil }
