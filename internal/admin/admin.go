// Package admin is the admin API: metrics, status and the config endpoint.
// It listens on its own address, loopback by default, apart from client
// traffic.
package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"levee/internal/config"
)

// Node is what the admin API needs from a running node.
type Node interface {
	Status() any
	ActiveConfig() []byte
	Apply(name string, src []byte, source string) error
	Reject(source string, err error) error
	// ReloadFile re-reads the node's config file; source "reload" makes the
	// file win over a config posted to POST /config.
	ReloadFile(source string) error
	Gatherer() prometheus.Gatherer
}

// Handler returns the admin API. extra adds capability endpoints such as
// /purge by path.
func Handler(n Node, extra map[string]http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(n.Gatherer(), promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, n.Status()) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(n.ActiveConfig())
	})
	mux.HandleFunc("POST /config", func(w http.ResponseWriter, r *http.Request) { postConfig(n, w, r) })
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) { answer(n, w, n.ReloadFile("reload")) })
	// Profiles, as Caddy's admin endpoint offers: the admin listener is
	// loopback by default, and profiling a live edge is how it gets faster.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	for path, h := range extra {
		mux.Handle(path, h)
	}
	return mux
}

func postConfig(n Node, w http.ResponseWriter, r *http.Request) {
	src, err := io.ReadAll(http.MaxBytesReader(w, r.Body, config.MaxFileBytes+1))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) || len(src) > config.MaxFileBytes {
		src, err = nil, fmt.Errorf("config is over the limit of %d bytes", config.MaxFileBytes)
	}
	if err == nil {
		err = n.Apply("POST /config", src, "admin")
	} else {
		err = n.Reject("admin", err)
	}
	answer(n, w, err)
}

// answer reports whether a config was applied, with the node's status.
func answer(n Node, w http.ResponseWriter, err error) {
	if err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"applied": false, "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"applied": true, "status": n.Status()})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
