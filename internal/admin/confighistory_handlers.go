package admin

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"unsafe"
)

// Validator is what a node offers to check a config without applying
// it; a node without it answers POST /api/v1/config/validate with 501.
type Validator interface {
	Validate(name string, src []byte) error
}

// watchConfig records the node's active config in the history when it
// changed since the last look (a SIGHUP, the file watch, the API). It
// runs each second beside the sampler, and before any history answer.
func (s *Server) watchConfig() {
	s.configMu.Lock()
	defer s.configMu.Unlock()
	s.watchConfigLocked()
}

func (s *Server) watchConfigLocked() {
	src := s.node.ActiveConfig()
	if len(src) == 0 || s.closed {
		return
	}
	// The node hands out the same slice while its config is the same: a
	// pointer comparison spares hashing it every second.
	p := unsafe.SliceData(src)
	if p == s.seenConfig && len(src) == s.seenLen {
		return
	}
	if _, err := s.history.Record(src, "node", s.configSource(), ""); err != nil {
		s.log.Warn("config history not written", "err", err)
		return
	}
	s.seenConfig, s.seenLen = p, len(src)
}

// configSource reads what applied the active config from the node's
// status ("start", "SIGHUP", "watch", "admin", ...).
func (s *Server) configSource() string {
	b, _ := json.Marshal(s.node.Status())
	var st struct {
		Source string `json:"config_source"`
	}
	json.Unmarshal(b, &st)
	if st.Source == "" {
		return "node"
	}
	return st.Source
}

// recordApplied puts a config just applied through the API in the
// history, with who applied it.
func (s *Server) recordApplied(r *http.Request, source, note string) {
	if s.closed {
		return
	}
	src := s.node.ActiveConfig()
	if _, err := s.history.Record(src, identityOf(r).Who(), source, note); err != nil {
		s.log.Warn("config history not written", "err", err)
		return
	}
	s.seenConfig, s.seenLen = unsafe.SliceData(src), len(src)
}

func activeSHA(src []byte) string {
	sum := sha256.Sum256(src)
	return hex.EncodeToString(sum[:])
}

func (s *Server) listHistory(w http.ResponseWriter, r *http.Request) {
	s.watchConfig()
	active := activeSHA(s.node.ActiveConfig())
	versions := s.history.List()
	activeVersion := 0
	for _, v := range versions {
		if v.SHA256 == active {
			activeVersion = v.Version
			break
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"active": activeVersion, "keep": s.history.keep, "versions": versions})
}

func (s *Server) getHistoryVersion(w http.ResponseWriter, r *http.Request) {
	s.watchConfig()
	version, err := strconv.Atoi(r.PathValue("version"))
	if err != nil || version <= 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "a version is a positive number, as GET /api/v1/config/history lists them")
		return
	}
	v, src, prev, err := s.history.Get(version)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	var before []byte
	if prev > 0 {
		if _, before, _, err = s.history.Get(prev); err != nil {
			writeError(w, http.StatusInternalServerError, "error", err.Error())
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": v, "previous": prev, "config": string(src), "diff": Diff(before, src)})
}

func (s *Server) validateConfig(w http.ResponseWriter, r *http.Request) {
	v, ok := s.node.(Validator)
	if !ok {
		writeError(w, http.StatusNotImplemented, "not_implemented", "this node cannot validate a config apart from applying it")
		return
	}
	src, err := readBody(w, r, configLimit)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "body_too_large", err.Error())
		return
	}
	if err := v.Validate("POST /config/validate", src); err != nil {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": APIError{Code: "invalid_config",
			Message: "the config is not valid; nothing was applied", Details: ConfigErrors(err.Error())}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"valid": true})
}

// rollback applies a version of the history again: by default the one
// before the active config.
func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Version int `json:"version"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	s.configMu.Lock()
	defer s.configMu.Unlock()
	s.watchConfigLocked()
	if req.Version == 0 {
		_, _, prev, err := s.history.Get(s.history.Latest())
		if err != nil || prev == 0 {
			writeError(w, http.StatusConflict, "no_previous_version", "the config history holds no version before the active one")
			return
		}
		req.Version = prev
	}
	_, src, _, err := s.history.Get(req.Version)
	if err != nil {
		writeError(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	if err := s.node.Apply(fmt.Sprintf("config version %d", req.Version), src, "admin"); err != nil {
		s.noteChange(r, fmt.Sprintf("rollback to version %d: %s", req.Version, notApplied(err)))
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": APIError{Code: "invalid_config",
			Message: fmt.Sprintf("version %d was not applied; the running config keeps serving", req.Version), Details: ConfigErrors(err.Error())}})
		return
	}
	note := fmt.Sprintf("rollback to version %d", req.Version)
	s.recordApplied(r, "rollback", note)
	s.noteChange(r, note)
	writeJSON(w, http.StatusOK, map[string]any{"applied": true, "version": s.history.Latest(), "from": req.Version, "status": s.node.Status()})
}
