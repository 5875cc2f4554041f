package cluster

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// rolloutRoutes are the admin API's config distribution routes: a push
// (the body is the YAML config; ?fast=true, ?canary=NAME repeated) and
// the operator's pause, resume and rollback. The admin API audits them.
func (c *Capability) rolloutRoutes() map[string]http.Handler {
	return map[string]http.Handler{
		"POST /cluster/push":             http.HandlerFunc(c.servePush),
		"POST /cluster/rollout/{action}": http.HandlerFunc(c.serveControl),
	}
}

func (c *Capability) servePush(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	run := c.run
	c.mu.Unlock()
	if run == nil {
		writeJSONError(w, http.StatusConflict, "this node is not in a cluster (no cluster.redis in its config)")
		return
	}
	src, err := io.ReadAll(io.LimitReader(r.Body, MaxPushBytes+1))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "cannot read the config: "+err.Error())
		return
	}
	if len(src) > MaxPushBytes {
		writeJSONError(w, http.StatusRequestEntityTooLarge, "config over the push limit")
		return
	}
	c.ro.mu.Lock()
	validate := c.validate
	c.ro.mu.Unlock()
	if validate != nil {
		if err := validate(src); err != nil {
			writeJSONError(w, http.StatusBadRequest, "config rejected, nothing pushed: "+err.Error())
			return
		}
	}
	q := r.URL.Query()
	o := PushOptions{Fast: q.Get("fast") == "true" || q.Get("fast") == "1", Canaries: q["canary"],
		By: "admin API " + r.RemoteAddr}
	p, err := push(run.st, src, o, run.cfg.Rollout)
	if err != nil {
		code := http.StatusServiceUnavailable
		if errors.Is(err, ErrRolloutInProgress) {
			code = http.StatusConflict
		} else if !strings.HasPrefix(err.Error(), "cannot reach") {
			code = http.StatusBadRequest
		}
		writeJSONError(w, code, err.Error())
		return
	}
	writeJSON(w, p)
}

func (c *Capability) serveControl(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	run := c.run
	c.mu.Unlock()
	if run == nil {
		writeJSONError(w, http.StatusConflict, "this node is not in a cluster (no cluster.redis in its config)")
		return
	}
	action := r.PathValue("action")
	switch action {
	case "pause", "resume", "rollback":
	default:
		writeJSONError(w, http.StatusNotFound, "unknown rollout action "+action+" (want pause, resume or rollback)")
		return
	}
	p, err := control(run.st, action, "admin API "+r.RemoteAddr)
	if err != nil {
		code := http.StatusConflict
		if strings.HasPrefix(err.Error(), "cannot reach") {
			code = http.StatusServiceUnavailable
		}
		writeJSONError(w, code, err.Error())
		return
	}
	writeJSON(w, p)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
