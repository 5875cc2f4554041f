// Package bots is levee's bot management: a score from 1 (surely
// automated) to 99 (surely human) computed from each request's signals by
// a bounded, generated feature file loaded through a gate; per-route
// actions by score band; and the proof-of-work challenge those actions
// can send a client to.
package bots

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"levee/internal/modswitch"
	"levee/internal/pipeline"
)

// Pressure is what the challenge's difficulty rises with: the shield's
// under-attack switch and its overload level. Nil: neither.
type Pressure interface {
	UnderAttack(site string) bool
	OverloadLevel() int
}

// Capability is bot management's node-level state: the feature file gate
// (the model in force survives reloads and rejected files), the signing
// key of challenges and passes, and the spent challenge nonces.
type Capability struct {
	host     pipeline.Host
	m        *metrics
	gate     *Gate
	signer   *Signer
	pressure Pressure
	mod      *modswitch.Module // kill switch and breaker; fail open
	verify   *verifier         // crawlers by forward-confirmed reverse DNS

	interval  atomic.Int64 // bots.watch_interval in force, ns
	startOnce sync.Once
}

// NewCapability loads the signing key (or makes one for this run,
// loudly) and the last-known-good feature file.
func NewCapability(h pipeline.Host, p Pressure, mod *modswitch.Module) *Capability {
	key, err := loadKey(h.DataDir)
	if err != nil {
		h.Log.Error("bots: cannot keep the challenge key in the data directory; passes will not survive a restart", "err", err)
	}
	m := newMetrics(h.Registry)
	c := &Capability{host: h, m: m, gate: newGate(h.Log, h.DataDir, m), signer: &Signer{key: key}, pressure: p, mod: mod,
		verify: newVerifier(h.Wall, h.Registry)}
	c.interval.Store(int64(DefaultWatchInterval))
	return c
}

// Gate returns the feature file gate (tests, status).
func (c *Capability) Gate() *Gate { return c.gate }

// Signer returns the challenge signer (tests).
func (c *Capability) Signer() *Signer { return c.signer }

// Stage compiles the bots: section and the routes' bots: blocks (by route
// ID). The commit points the gate at the configured feature file and
// loads it: a bad file is rejected by the gate alone (the config is not),
// and the previous model keeps scoring.
func (c *Capability) Stage(cfg *Config, routes pipeline.Routes, blocks []*RouteConfig) (pipeline.Staged, error) {
	lim := Limits{MaxFeatures: cfg.MaxFeatures, MaxBytes: int64(cfg.MaxFileBytes)}
	st := &settings{
		header:       http.CanonicalHeaderKey(cfg.ScoreHeader),
		cookie:       cfg.Cookie,
		passTTL:      cfg.PassTTL.D(),
		challengeTTL: cfg.ChallengeTTL.D(),
		noScriptWait: cfg.NoScriptWait.D(),
	}
	per := make([]*routeRule, len(routes.List))
	any := false
	for id, b := range blocks {
		if b == nil || id >= len(per) {
			continue
		}
		per[id] = compileRoute(b)
		any = true
	}
	staged := pipeline.Staged{Commit: func() {
		c.interval.Store(int64(cfg.WatchInterval.D()))
		c.verify.configure(&cfg.Verified)
		c.gate.Configure(cfg.Features, lim)
		_ = c.gate.Load() // a rejection is logged and counted by the gate
		c.run()
	}}
	if any {
		staged.Phases = map[string]pipeline.Phase{"bots": c.phase(st, per)}
	}
	return staged, nil
}

func (c *Capability) run() {
	c.startOnce.Do(func() {
		// SIGHUP is heard here too, so the feature file reloads on it
		// even in quick mode, which has no config file to re-read; with a
		// config file the node's reload loads it as well, and the gate
		// judges the same bytes once.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		c.host.Wall.Go("bots-features-watch", func() {
			defer signal.Stop(hup)
			for {
				t := time.NewTimer(time.Duration(c.interval.Load()))
				select {
				case <-c.host.Stopped:
					t.Stop()
					return
				case <-hup:
					t.Stop()
					_ = c.gate.Load()
				case <-t.C:
					c.gate.Poll()
				}
			}
		})
	})
}

// AdminRoutes are bot management's admin API routes.
func (c *Capability) AdminRoutes() map[string]http.Handler {
	return map[string]http.Handler{
		"POST /bots/features/reload": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			err := c.gate.Load()
			w.Header().Set("Content-Type", "application/json")
			if err != nil {
				w.WriteHeader(http.StatusUnprocessableEntity)
				_ = json.NewEncoder(w).Encode(map[string]any{"error": err.Error(), "in_force": c.gate.Status()})
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"in_force": c.gate.Status()})
		}),
		"GET /bots": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"features": c.gate.Status()})
		}),
	}
}

// Stop has nothing to save: the key and the last-known-good file are
// written when they change.
func (c *Capability) Stop() {}

// settings are the section's values a generation's phase uses.
type settings struct {
	header       string
	cookie       string
	passTTL      time.Duration
	challengeTTL time.Duration
	noScriptWait time.Duration
}

// routeRule is a route's compiled bots: block.
type routeRule struct {
	blockBelow, challengeBelow, logBelow int
	difficulty                           int
	exempt                               []string
	allow                                []netip.Prefix
}

func compileRoute(b *RouteConfig) *routeRule {
	rr := &routeRule{blockBelow: b.BlockBelow, challengeBelow: b.ChallengeBelow, logBelow: *b.LogBelow, difficulty: b.Difficulty,
		exempt: append([]string{"/.well-known/"}, b.ExemptPaths...)}
	for _, a := range b.Allow {
		if p, err := parsePrefix(a); err == nil {
			rr.allow = append(rr.allow, p)
		}
	}
	return rr
}

// Actions by score band.
const (
	actAllow = iota
	actLog
	actChallenge
	actBlock
	actExempt
	actPass     // challenged band, but a valid pass came with the request
	actVerified // a crawler confirmed by reverse DNS: exempt
	nActions
)

var actionNames = [nActions]string{"allow", "log", "challenge", "block", "exempt", "pass", "verified"}

func (rr *routeRule) action(score int) int {
	switch {
	case score < rr.blockBelow:
		return actBlock
	case score < rr.challengeBelow:
		return actChallenge
	case score < rr.logBelow:
		return actLog
	}
	return actAllow
}

func (rr *routeRule) exempted(path string, client netip.Addr) bool {
	for _, p := range rr.exempt {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	for _, p := range rr.allow {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}
