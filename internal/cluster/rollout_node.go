package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"levee/internal/atomicfile"
	"levee/internal/modswitch"
)

// Applier activates a config on this node through its config gate
// (validate, stage, atomic swap, last-known-good); an error leaves the
// running config serving.
type Applier func(src []byte) error

// Validator checks a config the way a node would load it, without
// activating it (the admin API's push refuses a broken file at once).
type Validator func(src []byte) error

// NodeLocalKeys are the top-level sections a pushed config never
// changes: each node keeps its own listeners, admin listener and cluster
// section (its name, its store), so one file serves every node.
var NodeLocalKeys = []string{"listeners", "admin", "cluster"}

// stateFile keeps the last cluster version this node activated, so a
// node that starts while the store is down comes up on it.
const stateFile = "cluster-config.json"

// savedVersion is stateFile's content.
type savedVersion struct {
	Version int64  `json:"version"`
	Source  string `json:"source,omitempty"`
	Base    bool   `json:"base,omitempty"`

	Switches    string     `json:"switches,omitempty"`
	HasSwitches bool       `json:"has_switches,omitempty"`
	Files       []DataFile `json:"files,omitempty"`
}

// health is a node's cumulative counts, from its own metrics.
type health struct {
	requests, errors5xx, panics uint64
	at                          time.Time
}

// ConfigStatus is the config-distribution part of /cluster and /status.
type ConfigStatus struct {
	// Applied is the cluster version this node runs (0: its own config).
	Applied  int64  `json:"applied"`
	Rejected int64  `json:"rejected,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Driver   bool   `json:"driver"` // this node holds the driver lease
	Plan     *Plan  `json:"rollout,omitempty"`
}

// rollout is a node's side of config distribution: it activates the
// version the plan names for it, reports, and drives the plan while it
// holds the lease.
type rollout struct {
	c       *Capability
	apply   Applier
	sample  func() health
	started sync.Once

	mu       sync.Mutex
	booted   bool
	applied  int64
	rejected int64
	reason   string
	base     []byte // the node's own config: what version 0 means here
	local    []byte // the running config, whose node-local sections a push keeps
	pending  []byte // the config being activated by this loop
	baseline health
	samples  []health // one a report, back to one at least WatchWindow old
	before   Counts   // the last WatchWindow before the running version
	plan     *Plan
	driver   bool
	stopping bool
}

func newRollout(c *Capability) *rollout {
	rn := &rollout{c: c}
	rn.sample = func() health { return gatherHealth(c.host.Registry) }
	rn.baseline = rn.sample()
	return rn
}

// SetApplier connects the node's config gate; without one (tests of the
// capability alone) versions are not activated.
func (c *Capability) SetApplier(apply Applier, validate Validator) {
	c.ro.mu.Lock()
	defer c.ro.mu.Unlock()
	c.ro.apply = apply
	c.validate = validate
}

// committed hears every config the node activates: one this loop did not
// push through is the node's own (file, admin API), and becomes its base.
func (rn *rollout) committed(src []byte) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if rn.pending == nil || !bytes.Equal(src, rn.pending) {
		rn.base = append([]byte(nil), src...)
	}
	rn.local = append([]byte(nil), src...)
}

// start runs the loop once the node is in a cluster and has an applier.
func (rn *rollout) start() {
	rn.mu.Lock()
	ok := rn.apply != nil
	rn.mu.Unlock()
	if !ok {
		return
	}
	rn.started.Do(func() { rn.c.host.Wall.Go("cluster-rollout", rn.loop) })
}

func (rn *rollout) stop() {
	rn.mu.Lock()
	rn.stopping = true
	rn.mu.Unlock()
}

func (rn *rollout) loop() {
	rn.boot()
	for {
		interval := DefaultHeartbeat
		rn.c.mu.Lock()
		r := rn.c.run
		rn.c.mu.Unlock()
		if r != nil {
			interval = r.cfg.Heartbeat.D()
			rn.tick(r.st, r.name, interval)
		}
		select {
		case <-rn.c.host.Stopped:
			return
		case <-time.After(interval):
		}
	}
}

// boot activates the version saved in the data directory before the
// store is asked anything: a node that starts while the store is down
// comes up on the last version it ran.
func (rn *rollout) boot() {
	sv, err := rn.load()
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			rn.c.host.Log.Warn("cluster: saved config version unreadable; running the config file", "err", err)
		}
		return
	}
	if sv.Version > 0 {
		rn.activate(Version{Version: sv.Version, Source: sv.Source, Base: sv.Base, Switches: sv.Switches, HasSwitches: sv.HasSwitches,
			Files: sv.Files}, "last-known-good")
	}
}

// tick is one round: read the plan, activate this node's version, report,
// and drive if this node holds the lease.
func (rn *rollout) tick(st *store, name string, hb time.Duration) {
	members, nowMS, err := live(st)
	if err != nil {
		return // the store is away: keep running what we run
	}
	p, raw, err := readPlan(st)
	if err != nil {
		rn.c.host.Log.Warn("cluster: cannot read the rollout plan", "err", err)
		return
	}
	if raw != "" {
		rn.mu.Lock()
		rn.plan = &p
		applied, rejected := rn.applied, rn.rejected
		rn.mu.Unlock()
		if t := p.target(name); t > applied && t != rejected {
			if ver, err := getVersion(st, t); err == nil {
				rn.activate(ver, "cluster")
			} else {
				rn.c.host.Log.Warn("cluster: cannot fetch config version", "version", t, "err", err)
			}
		}
	}
	_ = writeReport(st, rn.report(name, nowMS))
	rn.drive(st, name, hb, members, nowMS)
}

// drive advances or rolls back the plan while this node holds the lease.
func (rn *rollout) drive(st *store, name string, hb time.Duration, members []string, nowMS int64) {
	lease, err := takeLease(st, name, 3*hb)
	rn.mu.Lock()
	rn.driver = lease && err == nil
	rn.mu.Unlock()
	if !lease || err != nil {
		return
	}
	p, raw, err := readPlan(st)
	if err != nil || raw == "" || (p.State != StateRolling && !p.watched(nowMS)) {
		return
	}
	reports, err := readReports(st, nowMS)
	if err != nil {
		return
	}
	d := step(p, members, reports, nowMS)
	switch {
	case d.Rollback:
		np, err := rollback(st, p, raw, d.Reason, "driver "+name)
		if err != nil {
			rn.c.host.Log.Error("cluster: rollback failed; will retry", "version", p.Version, "reason", d.Reason, "err", err)
			return
		}
		rn.c.m.rollbacks.Inc()
		rn.c.host.Log.Error("cluster: version rolled back", "version", p.Version, "rollback_version", np.Version, "reason", d.Reason)
	case d.Changed:
		if ok, err := casPlan(st, raw, d.Plan, nil); ok && err == nil {
			rn.c.host.Log.Info("cluster: rollout", "version", p.Version, "state", d.Plan.State, "stage", d.Plan.Stage, "why", d.Reason)
		}
	}
}

// activate makes ver this node's config, unless it is the one running.
func (rn *rollout) activate(ver Version, why string) {
	rn.mu.Lock()
	if rn.stopping || ver.Version <= rn.applied {
		rn.mu.Unlock()
		return
	}
	var src []byte
	var err error
	if ver.Base {
		src = rn.base
	} else {
		src, err = overlay([]byte(ver.Source), rn.local)
		if err == nil {
			src, err = rn.placeFiles(ver, src)
		}
	}
	running := bytes.Equal(src, rn.local) || src == nil
	rn.pending = src
	apply := rn.apply
	rn.mu.Unlock()
	if err == nil && ver.HasSwitches {
		err = checkSwitches([]byte(ver.Switches))
	}
	if err == nil && !running {
		err = apply(src)
	}
	if err == nil && ver.HasSwitches {
		err = rn.writeSwitches([]byte(ver.Switches))
	}
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.pending = nil
	if err != nil {
		rn.dropFiles(ver.Version)
		rn.rejected, rn.reason = ver.Version, err.Error()
		rn.c.m.rejected.Inc()
		rn.c.host.Log.Error("cluster: config version rejected on this node; still serving the previous one",
			"version", ver.Version, "from", why, "reason", err.Error())
		return
	}
	rn.applied, rn.rejected, rn.reason = ver.Version, 0, ""
	rn.dropOldFiles(ver.Version)
	now := rn.sample()
	rn.before = window(rn.samples, rn.baseline, now)
	rn.baseline = now
	rn.c.m.configVersion.Set(float64(ver.Version))
	rn.c.host.Log.Info("cluster: config version active", "version", ver.Version, "from", why, "reloaded", !running)
	if err := rn.save(savedVersion{Version: ver.Version, Source: ver.Source, Base: ver.Base, Switches: ver.Switches, HasSwitches: ver.HasSwitches,
		Files: ver.Files}); err != nil {
		rn.c.host.Log.Warn("cluster: cannot save the config version; a restart with the store down would run the file", "err", err)
	}
}

// report is this node's state and its health since it activated its
// version.
func (rn *rollout) report(name string, nowMS int64) Report {
	now := rn.sample()
	rn.mu.Lock()
	defer rn.mu.Unlock()
	b := rn.baseline
	rn.samples = keepWindow(append(rn.samples, now), now)
	return Report{Node: name, Applied: rn.applied, Rejected: rn.rejected, Reason: rn.reason,
		Requests: now.requests - min(b.requests, now.requests), Errors5xx: now.errors5xx - min(b.errors5xx, now.errors5xx),
		Panics: now.panics - min(b.panics, now.panics), Seconds: now.at.Sub(b.at).Seconds(), AtMS: nowMS,
		Recent: window(rn.samples, b, now), Before: rn.before}
}

// maxSamples bounds the samples kept for the watch window (a minute of
// 15ms heartbeats).
const maxSamples = 4096

// window is the counts from the newest sample at least WatchWindow
// before end (but not before floor, the version's start) to end.
func window(samples []health, floor, end health) Counts {
	start := floor
	if start.at.IsZero() { // the node's own config, from before the first sample
		start = end
		if len(samples) > 0 {
			start = samples[0]
		}
	}
	for _, s := range samples {
		if s.at.After(start.at) && !s.at.After(end.at.Add(-WatchWindow)) {
			start = s
		}
	}
	return Counts{Requests: end.requests - min(start.requests, end.requests),
		Errors5xx: end.errors5xx - min(start.errors5xx, end.errors5xx),
		Panics:    end.panics - min(start.panics, end.panics), Seconds: end.at.Sub(start.at).Seconds()}
}

// keepWindow drops the samples older than the newest one at least
// WatchWindow before now, and keeps at most maxSamples.
func keepWindow(samples []health, now health) []health {
	cut := 0
	for i, s := range samples {
		if !s.at.After(now.at.Add(-WatchWindow)) {
			cut = i
		}
	}
	cut = max(cut, len(samples)-maxSamples)
	return append(samples[:0], samples[cut:]...)
}

func (rn *rollout) status() *ConfigStatus {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	return &ConfigStatus{Applied: rn.applied, Rejected: rn.rejected, Reason: rn.reason, Driver: rn.driver, Plan: rn.plan}
}

func (rn *rollout) path() string {
	if rn.c.host.DataDir == "" {
		return ""
	}
	return filepath.Join(rn.c.host.DataDir, stateFile)
}

func (rn *rollout) load() (savedVersion, error) {
	var sv savedVersion
	p := rn.path()
	if p == "" {
		return sv, os.ErrNotExist
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return sv, err
	}
	err = json.Unmarshal(b, &sv)
	return sv, err
}

func (rn *rollout) save(sv savedVersion) error {
	p := rn.path()
	if p == "" {
		return nil
	}
	b, _ := json.Marshal(sv)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return err
	}
	return atomicfile.Write(p, b, 0o600)
}

// overlay is pushed with local's node-local sections (NodeLocalKeys).
func overlay(pushed, local []byte) ([]byte, error) {
	var p, l yaml.Node
	if err := yaml.Unmarshal(pushed, &p); err != nil {
		return nil, fmt.Errorf("pushed config: %v", err)
	}
	if len(p.Content) == 0 || p.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("pushed config is not a mapping of sections")
	}
	pm := p.Content[0]
	var lm *yaml.Node
	if len(local) > 0 && yaml.Unmarshal(local, &l) == nil && len(l.Content) > 0 && l.Content[0].Kind == yaml.MappingNode {
		lm = l.Content[0]
	}
	for _, key := range NodeLocalKeys {
		removeKey(pm, key)
		if lm != nil {
			if k, v := findKey(lm, key); k != nil {
				pm.Content = append(pm.Content, k, v)
			}
		}
	}
	return yaml.Marshal(&p)
}

func findKey(m *yaml.Node, key string) (*yaml.Node, *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

func removeKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}

// gatherHealth reads the node's own request and panic counters.
func gatherHealth(reg prometheus.Registerer) health {
	h := health{at: time.Now()}
	g, ok := reg.(prometheus.Gatherer)
	if !ok {
		return h
	}
	mfs, err := g.Gather()
	if err != nil {
		return h
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "levee_http_requests_total":
			for _, m := range mf.GetMetric() {
				n := uint64(m.GetCounter().GetValue())
				h.requests += n
				for _, l := range m.GetLabel() {
					if l.GetName() == "code" && l.GetValue() == "5xx" {
						h.errors5xx += n
					}
				}
			}
		case "levee_panics_total":
			for _, m := range mf.GetMetric() {
				h.panics += uint64(m.GetCounter().GetValue())
			}
		}
	}
	return h
}

// modswitchMaxBytes is the kill switch file's bound (the module's own).
const modswitchMaxBytes = modswitch.MaxFileBytes

// checkSwitches refuses a kill switch file the module would misread:
// over its bound, or a line that is not a module name.
func checkSwitches(raw []byte) error {
	if len(raw) > modswitchMaxBytes {
		return fmt.Errorf("kill switch file over the limit of %d bytes", modswitchMaxBytes)
	}
	for i, line := range strings.Split(string(raw), "\n") {
		name, _, _ := strings.Cut(line, "#")
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if len(name) > 64 || strings.ContainsFunc(name, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) {
			return fmt.Errorf("kill switch file line %d: %q is not a module name", i+1, name)
		}
	}
	return nil
}

// writeSwitches writes the kill switch file the node's modules poll
// (internal/modswitch), unless it already holds raw.
func (rn *rollout) writeSwitches(raw []byte) error {
	if rn.c.host.DataDir == "" {
		return errors.New("this node has no data directory for its kill switch file")
	}
	path := filepath.Join(rn.c.host.DataDir, modswitch.FileName)
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, raw) {
		return nil
	}
	if err := os.MkdirAll(rn.c.host.DataDir, 0o750); err != nil {
		return err
	}
	return atomicfile.Write(path, raw, 0o644)
}
