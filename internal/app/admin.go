package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"levee/internal/admin"
)

// adminServer is the admin listener; it is replaced only when its address
// changes, and the new socket is opened before the old one is closed.
type adminServer struct {
	addr string
	ln   net.Listener
	srv  *http.Server
	api  *admin.Server
	stop chan struct{} // ends the API's time series sampler
}

func (n *Node) stageAdmin(g *generation) (func(), error) {
	want := g.cfg.Admin.Listen
	if n.admin != nil && n.admin.addr == want {
		return func() {}, nil
	}
	var next *adminServer
	if want != "off" {
		// The API refuses a non-loopback address without a token before
		// any socket is opened.
		api, err := admin.New(admin.Options{Node: n, Extra: n.caps.adminRoutes(), Addr: want,
			DataDir: n.opts.DataDir, Log: n.log, Registry: n.metrics.Registry})
		if err != nil {
			return nil, err
		}
		ln, err := net.Listen("tcp", want)
		if err != nil {
			return nil, errors.New("admin.listen: " + err.Error())
		}
		next = &adminServer{addr: want, ln: admin.LimitListener(ln), srv: admin.HTTPServer(api), api: api, stop: make(chan struct{})}
	}
	return func() {
		old := n.admin
		n.admin = next
		if next != nil {
			n.wall.Go("admin", func() { _ = next.srv.Serve(next.ln) })
			n.wall.Go("admin-series", func() { next.api.Series().Run(next.stop, n.stopped) })
		}
		if old != nil {
			close(old.stop)
			n.wall.Go("admin-retire", func() { old.retire(adminRetireGrace) })
		}
	}, nil
}

// adminRetireGrace is how long a replaced admin server's requests may
// run on (a CPU profile asks for 30 s) before their connections are cut.
const adminRetireGrace = 5 * time.Second

// retire closes a replaced admin server: its socket at once, requests
// still running after grace cut, and then the API itself (so it writes no
// more to the config history, which the new server now keeps).
func (a *adminServer) retire(grace time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if a.srv.Shutdown(ctx) != nil {
		_ = a.srv.Close()
	}
	a.api.Close()
}

// Gatherer returns the node's metrics registry.
func (n *Node) Gatherer() prometheus.Gatherer { return n.metrics.Registry }

// ActiveConfig returns the source of the active config.
func (n *Node) ActiveConfig() []byte {
	if g := n.gen.Load(); g != nil {
		return g.parsed.Source
	}
	return nil
}

// Status is the JSON of GET /status.
type Status struct {
	Version       string   `json:"version"`
	Generation    uint64   `json:"generation"`
	LastKnownGood bool     `json:"running_last_known_good"`
	UptimeSeconds float64  `json:"uptime_seconds"`
	Sites         []string `json:"sites"`
	Listeners     []string `json:"listeners"`
	UpgradedConns int      `json:"upgraded_connections"`
	ConfigPath    string   `json:"config_path,omitempty"`
	// ConfigSource is what applied the active config: start, SIGHUP,
	// watch, admin (POST /config), reload (POST /reload), last-known-good.
	ConfigSource string `json:"config_source"`
	// FileReloadsPaused is true while a config posted to the admin API is
	// active: SIGHUP and the file watch are refused until POST /reload.
	FileReloadsPaused bool           `json:"file_reloads_paused"`
	Extra             map[string]any `json:"extra,omitempty"`
}

// Status reports the node's state.
func (n *Node) Status() any {
	st := Status{Version: n.opts.Version, Generation: n.Generation(), LastKnownGood: n.onLKG.Load(),
		UptimeSeconds: time.Since(n.started).Seconds(), UpgradedConns: n.upgrades.Len(), ConfigPath: n.opts.ConfigPath,
		FileReloadsPaused: n.filePaused()}
	st.ConfigSource, _ = n.configSource.Load().(string)
	if g := n.gen.Load(); g != nil {
		for _, s := range g.cfg.Sites {
			st.Sites = append(st.Sites, s.Name)
		}
		for _, l := range g.cfg.Listeners {
			st.Listeners = append(st.Listeners, l.Listen)
		}
	}
	st.Extra = map[string]any{"health": n.caps.health.Store().Status(), "cluster": n.caps.cluster.Status(),
		"bot_features": n.caps.bots.Gate().Status(), "modules": n.caps.mods.Status()}
	if rules := n.caps.shield.State().SurgeRules(); len(rules) > 0 {
		st.Extra["shield_surge_rules"] = rules
	}
	if certs := n.caps.autotls.Status(); certs != nil {
		st.Extra["certificates"] = certs
	}
	return st
}

// Validate checks src as `levee validate` does, without applying it (the
// admin API's POST /api/v1/config/validate).
func (n *Node) Validate(name string, src []byte) error { return Check(name, src) }
