package autotls

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// askTimeout bounds one question to the ask URL.
const askTimeout = 5 * time.Second

// gate decides whether a name not in the config may get a certificate on
// demand: it must be allowed (allow list, or a 200 from the ask URL), the
// node-wide rate must have room, and the number of such names is bounded.
type gate struct {
	allow     []string
	ask       string
	client    *http.Client
	perMinute float64
	maxNames  int
	rejected  *prometheus.CounterVec
	log       *slog.Logger

	mu     sync.Mutex
	tokens float64
	last   time.Time
	names  map[string]bool
}

func newGate(c *OnDemandConfig, rejected *prometheus.CounterVec, log *slog.Logger) *gate {
	g := &gate{ask: c.Ask, perMinute: float64(c.PerMinute), maxNames: c.MaxNames, rejected: rejected, log: log,
		tokens: float64(c.PerMinute), last: time.Now(), names: map[string]bool{},
		client: &http.Client{Timeout: askTimeout}}
	for _, a := range c.Allow {
		g.allow = append(g.allow, strings.ToLower(a))
	}
	return g
}

// decide is certmagic's DecisionFunc: nil allows name.
func (g *gate) decide(ctx context.Context, name string) error {
	name = strings.ToLower(name)
	if !realName(name) {
		return g.refuse("not_allowed", name, "not a host name")
	}
	listed := g.listed(name)
	if !listed && g.ask == "" {
		return g.refuse("not_allowed", name, "not in on_demand.allow")
	}
	if err := g.take(name); err != nil {
		return err
	}
	if !listed {
		if err := g.askAbout(ctx, name); err != nil {
			return err
		}
	}
	g.mu.Lock()
	g.names[name] = true
	g.mu.Unlock()
	return nil
}

func (g *gate) listed(name string) bool {
	for _, a := range g.allow {
		if a == name || strings.HasPrefix(a, "*.") && strings.HasSuffix(name, a[1:]) {
			return true
		}
	}
	return false
}

// take spends one token of the node-wide rate, and checks the bound on
// names. A name allowed before costs nothing.
func (g *gate) take(name string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.names[name] {
		return nil
	}
	if len(g.names) >= g.maxNames {
		return g.refuseLocked("max_names", name, fmt.Sprintf("on_demand.max_names (%d) reached", g.maxNames))
	}
	now := time.Now()
	g.tokens = min(g.perMinute, g.tokens+now.Sub(g.last).Minutes()*g.perMinute)
	g.last = now
	if g.tokens < 1 {
		return g.refuseLocked("rate", name, "on_demand.per_minute exceeded")
	}
	g.tokens--
	return nil
}

func (g *gate) askAbout(ctx context.Context, name string) error {
	u := g.ask
	if strings.Contains(u, "?") {
		u += "&"
	} else {
		u += "?"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"domain="+url.QueryEscape(name), nil)
	if err != nil {
		return g.refuse("ask_error", name, err.Error())
	}
	res, err := g.client.Do(req)
	if err != nil {
		return g.refuse("ask_error", name, err.Error())
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return g.refuse("not_allowed", name, fmt.Sprintf("the ask URL answered %d", res.StatusCode))
	}
	return nil
}

func (g *gate) refuse(reason, name, why string) error {
	g.rejected.WithLabelValues(reason).Inc()
	g.log.Debug("auto_https: on-demand certificate refused", "name", name, "reason", why)
	return fmt.Errorf("on-demand certificate for %q refused: %s", name, why)
}

func (g *gate) refuseLocked(reason, name, why string) error { return g.refuse(reason, name, why) }
