package autotls

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// renewTimeout bounds one forced renewal from the admin API.
const renewTimeout = 2 * time.Minute

// AdminRoutes are automatic HTTPS's admin API routes.
func (c *Capability) AdminRoutes() map[string]http.Handler {
	return map[string]http.Handler{"POST /certificates/renew": http.HandlerFunc(c.renew)}
}

// renew is POST /certificates/renew?name=NAME: obtain a new certificate
// for a managed name now (a suspected key compromise, a changed CA) and
// put it in service. The old certificate serves until the new one is in
// memory, so no handshake goes without one.
func (c *Capability) renew(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	name := hostOnly(r.URL.Query().Get("name"))
	m := c.cur.Load()
	if m == nil || !m.managed[name] {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": "not a name automatic HTTPS manages: " + name})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), renewTimeout)
	defer cancel()
	if err := c.renewNow(ctx, m, name); err != nil {
		writeJSON(w, http.StatusBadGateway, map[string]any{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"renewed": name})
}

func (c *Capability) renewNow(ctx context.Context, m *manager, name string) error {
	c.mu.Lock()
	cache := c.cache
	c.mu.Unlock()
	var old []string
	for _, cert := range cache.AllMatchingCertificates(name) {
		old = append(old, cert.Hash())
	}
	if err := m.magic.RenewCertSync(ctx, name, true); err != nil {
		return err
	}
	fresh, err := m.magic.CacheManagedCertificate(ctx, name)
	if err != nil {
		return err
	}
	stale := old[:0]
	for _, h := range old {
		if h != fresh.Hash() {
			stale = append(stale, h)
		}
	}
	cache.Remove(stale)
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
