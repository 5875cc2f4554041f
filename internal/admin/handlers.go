package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.node.Status())
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	w.Write(s.node.ActiveConfig())
}

// applyConfig reads and applies a config body; a body over the bound is
// rejected (and counted as a rejected reload) without being parsed.
func (s *Server) applyConfig(w http.ResponseWriter, r *http.Request) error {
	src, err := readBody(w, r, configLimit)
	if err != nil {
		return s.node.Reject("admin", err)
	}
	s.configMu.Lock()
	defer s.configMu.Unlock()
	s.watchConfigLocked()
	if err := s.node.Apply("POST /config", src, "admin"); err != nil {
		return err
	}
	s.recordApplied(r, "admin", "")
	return nil
}

// reloadFile re-reads the node's config file, keeping the history.
func (s *Server) reloadFile(r *http.Request) error {
	s.configMu.Lock()
	defer s.configMu.Unlock()
	s.watchConfigLocked()
	if err := s.node.ReloadFile("reload"); err != nil {
		return err
	}
	s.recordApplied(r, "reload", "")
	return nil
}

func (s *Server) postConfigLegacy(w http.ResponseWriter, r *http.Request) {
	if err := s.applyConfig(w, r); err != nil {
		s.noteChange(r, notApplied(err))
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"applied": false, "error": err.Error()})
		return
	}
	s.noteChange(r, "config applied")
	writeJSON(w, http.StatusOK, map[string]any{"applied": true, "status": s.node.Status()})
}

func (s *Server) postConfigV1(w http.ResponseWriter, r *http.Request) {
	if err := s.applyConfig(w, r); err != nil {
		s.noteChange(r, notApplied(err))
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": APIError{Code: "invalid_config",
			Message: "the config was not applied; the running config keeps serving", Details: ConfigErrors(err.Error())}})
		return
	}
	s.noteChange(r, "config applied")
	writeJSON(w, http.StatusOK, map[string]any{"applied": true, "status": s.node.Status()})
}

// reloadLegacy is POST /reload: the config file is read again and wins
// over a config posted through the API.
func (s *Server) reloadLegacy(w http.ResponseWriter, r *http.Request) {
	if err := s.reloadFile(r); err != nil {
		s.noteChange(r, notApplied(err))
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"applied": false, "error": err.Error()})
		return
	}
	s.noteChange(r, "config file reloaded")
	writeJSON(w, http.StatusOK, map[string]any{"applied": true, "status": s.node.Status()})
}

func (s *Server) reloadV1(w http.ResponseWriter, r *http.Request) {
	if err := s.reloadFile(r); err != nil {
		s.noteChange(r, notApplied(err))
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": APIError{Code: "invalid_config",
			Message: "the config file was not applied; the running config keeps serving", Details: ConfigErrors(err.Error())}})
		return
	}
	s.noteChange(r, "config file reloaded")
	writeJSON(w, http.StatusOK, map[string]any{"applied": true, "status": s.node.Status()})
}

// ConfigError is one validation error, with its line when it has one.
type ConfigError struct {
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// configLine matches "NAME:LINE: message" or "NAME:LINE:COLUMN: message",
// the validator's formats.
var configLine = regexp.MustCompile(`^.*?:(\d+)(?::\d+)?: (.*)$`)

// ConfigErrors splits a rejection into its errors and their lines.
func ConfigErrors(msg string) []ConfigError {
	var out []ConfigError
	for _, l := range strings.Split(strings.TrimSpace(msg), "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		if m := configLine.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			out = append(out, ConfigError{Line: n, Message: m[2]})
			continue
		}
		out = append(out, ConfigError{Message: l})
	}
	return out
}

// notApplied is the audit detail of a rejected config: how many errors
// and the first line, without the node's own "config rejected" wording,
// which the log has once already.
func notApplied(err error) string {
	errs := ConfigErrors(err.Error())
	first := ""
	for _, e := range errs {
		if e.Line > 0 {
			first = fmt.Sprintf(", first at line %d: %s", e.Line, e.Message)
			break
		}
	}
	return fmt.Sprintf("config not applied (%d errors%s)", len(errs), first)
}

func (s *Server) session(w http.ResponseWriter, r *http.Request) {
	id := identityOf(r)
	writeJSON(w, http.StatusOK, map[string]any{"who": id.Who(), "scopes": id.Scopes(), "open": s.openMode()})
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	type view struct {
		ID      string   `json:"id"`
		Name    string   `json:"name"`
		Scopes  []string `json:"scopes"`
		Created string   `json:"created"`
	}
	out := []view{}
	for _, t := range s.tokens.List() {
		out = append(out, view{t.ID, t.Name, t.Scopes, t.Created.Format("2006-01-02T15:04:05Z")})
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	secret, t, err := s.tokens.Create(req.Name, req.Scopes)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	s.noteChange(r, fmt.Sprintf("token %s (%s) created with scopes %s", t.ID, t.Name, strings.Join(t.Scopes, ",")))
	writeJSON(w, http.StatusCreated, map[string]any{"id": t.ID, "token": secret, "scopes": t.Scopes})
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.tokens.Revoke(id); err != nil {
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	s.noteChange(r, "token "+id+" revoked")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) readAudit(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"entries": s.audit.Recent()})
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
	writeJSON(w, http.StatusOK, map[string]any{"totals": ReadTotals(familyGatherer(s.snaps.families(time.Now()))), "series": s.series.Since(since)})
}

func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, smallBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "bad JSON body: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// jsonErrors turns a capability handler's error answers (plain text, or
// JSON with an "error" string) into the API's error shape.
func jsonErrors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &errorCapture{ResponseWriter: w}
		h.ServeHTTP(cw, r)
		if cw.status < 400 {
			return
		}
		msg := strings.TrimSpace(cw.buf.String())
		var body struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(cw.buf.Bytes(), &body) == nil && body.Error != "" {
			msg = body.Error
		}
		writeError(w, cw.status, codeFor(cw.status), msg)
	})
}

func codeFor(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusRequestEntityTooLarge:
		return "body_too_large"
	}
	return "error"
}

// errorCapture holds back an error answer (bounded) so it can be rewritten.
type errorCapture struct {
	http.ResponseWriter
	status int
	buf    bytes.Buffer
}

func (c *errorCapture) WriteHeader(code int) {
	if c.status != 0 {
		return
	}
	c.status = code
	if code < 400 {
		c.ResponseWriter.WriteHeader(code)
	}
}

func (c *errorCapture) Write(p []byte) (int, error) {
	if c.status == 0 {
		c.WriteHeader(http.StatusOK)
	}
	if c.status < 400 {
		return c.ResponseWriter.Write(p)
	}
	if room := smallBody - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}
