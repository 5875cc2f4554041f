package admin

import (
	"crypto/rand"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"time"
)

// The dashboard's files, in the binary: no CDN, no build step.
//
//go:embed ui
var uiFiles embed.FS

// contentSecurityPolicy allows only the UI's own files: no inline script
// or style, no other origin, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (s *Server) registerUI() {
	sub, _ := fs.Sub(uiFiles, "ui")
	files := http.StripPrefix("/ui/", http.FileServer(http.FS(sub)))
	s.handle(Route{Method: "GET", Path: "/ui/"}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		ensureCSRFCookie(w, r)
		files.ServeHTTP(w, r)
	}))
	s.handle(Route{Method: "GET", Path: "/{$}"}, http.RedirectHandler("/ui/", http.StatusFound))
	s.handle(Route{Method: "POST", Path: "/ui/login"}, http.HandlerFunc(s.login))
	s.handle(Route{Method: "POST", Path: "/ui/logout"}, http.HandlerFunc(s.logout))
}

func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

// ensureCSRFCookie gives the browser its CSRF secret: the UI's script
// reads it and echoes it in a header on every change (double submit).
func ensureCSRFCookie(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 16 {
		return
	}
	var b [16]byte
	rand.Read(b[:])
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: hex.EncodeToString(b[:]), Path: "/",
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// login keeps a pasted token in an HttpOnly, SameSite=Strict cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token string `json:"token"`
	}
	if !decodeJSON(w, r, &req) {
		return
	}
	t := s.tokens.Verify(req.Token)
	if t == nil {
		s.metrics.rejected.WithLabelValues("unauthorized").Inc()
		writeError(w, http.StatusUnauthorized, "unauthorized", "that token is not valid (revoked, or mistyped)")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: req.Token, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil, MaxAge: int((12 * time.Hour).Seconds())})
	writeJSON(w, http.StatusOK, map[string]any{"who": t.ID, "scopes": t.Scopes})
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}
