package admin

import (
	"bytes"
	"context"
	"crypto/subtle"
	"io"
	"net"
	"net/http"
	"strings"
)

// Cookies of the dashboard.
const (
	sessionCookie = "levee_session" // the token, HttpOnly, SameSite=Strict
	csrfCookie    = "levee_csrf"    // readable by the UI's script, echoed in csrfHeader
	csrfHeader    = "X-Levee-CSRF"
)

// smallBody bounds every request body but a config's.
const smallBody = 64 << 10

// Identity is who makes a request.
type Identity struct {
	ip    string // the client's address, without its port
	open  bool   // a loopback listener with no token: every scope, no credentials
	token *Token // the verified token, or nil
}

// Who names the identity in the audit log and the config history: "token
// ID (name)", or "anonymous IP".
func (id *Identity) Who() string {
	switch {
	case id.token != nil && id.token.Name != "":
		return "token " + id.token.ID + " (" + id.token.Name + ")"
	case id.token != nil:
		return "token " + id.token.ID
	case id.open:
		return "anonymous " + id.ip + " (loopback, no tokens)"
	case id.ip == "":
		return "unknown"
	}
	return "anonymous " + id.ip
}

// Scopes are the identity's scopes; nil for a request without credentials.
func (id *Identity) Scopes() []string {
	switch {
	case id.token != nil:
		return id.token.Scopes
	case id.open:
		return []string{ScopeAdmin}
	}
	return nil
}

// limitKey is what the limits count by: the token, or else the client IP
// (a token's key has a prefix no IP has; an IP's costs no allocation).
func (id *Identity) limitKey() string {
	if id.token != nil {
		return id.token.limitKey
	}
	return id.ip
}

func (id *Identity) allows(scope string) bool {
	if id.token != nil {
		return id.token.Allows(scope)
	}
	return id.open
}

type ctxKey int

const (
	identityKey ctxKey = iota
	auditKey
)

func identityOf(r *http.Request) *Identity {
	if id, ok := r.Context().Value(identityKey).(*Identity); ok {
		return id
	}
	return &Identity{}
}

// openMode: a loopback listener with no tokens needs none (levee demo).
func (s *Server) openMode() bool { return s.loop && s.tokens.Len() == 0 }

// guard runs every route: limits, authentication, scope, CSRF, body
// bound, audit. Nothing of it touches the edge's request path.
func (s *Server) guard(rt Route, h http.Handler) http.Handler {
	limit := int64(smallBody)
	if rt.Method == "POST" && (strings.HasSuffix(rt.Path, "/config") || strings.HasSuffix(rt.Path, "/config/validate")) {
		limit = configLimit
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr["X-Content-Type-Options"], hdr["Cache-Control"] = nosniff, noStore
		var id Identity
		status, code, msg := s.authenticate(r, &id)
		release, refused, retryAfter := s.limits.acquire(id.limitKey())
		if refused != nil {
			refused.write(w, retryAfter)
			return
		}
		defer release()
		if rt.Scope != "" {
			if status == 0 && !id.allows(rt.Scope) {
				status, code, msg = http.StatusForbidden, "forbidden", "this token lacks the "+rt.Scope+" scope "+rt.Method+" "+rt.Path+" needs"
			}
			if status != 0 {
				s.metrics.rejected.WithLabelValues(code).Inc()
				if status == http.StatusUnauthorized {
					w.Header().Set("WWW-Authenticate", `Bearer realm="levee admin"`)
				}
				writeError(w, status, code, msg)
				return
			}
		}
		if unsafeMethod(r.Method) && !csrfOK(r) {
			s.metrics.rejected.WithLabelValues("csrf").Inc()
			writeError(w, http.StatusForbidden, "csrf", "this browser request lacks the "+csrfHeader+" header matching its "+csrfCookie+" cookie; reload the page")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		// Only a request let through keeps its identity, on the heap.
		pid := new(Identity)
		*pid = id
		r = r.WithContext(context.WithValue(r.Context(), identityKey, pid))
		if !rt.Change {
			h.ServeHTTP(w, r)
			return
		}
		s.serveAudited(rt, pid, h, w, r)
	})
}

// authenticate finds the identity of r and fills id. A failure leaves an
// anonymous identity (limited by client IP) and the 401 to send if the
// route needs a scope. It allocates nothing without a token, so a flood
// reaches the limiter at the cost of a header lookup.
func (s *Server) authenticate(r *http.Request, id *Identity) (status int, code, msg string) {
	id.ip = clientIP(r.RemoteAddr)
	secret, from := presented(r)
	if secret == "" {
		if s.openMode() {
			id.open = true
			return 0, "", ""
		}
		return http.StatusUnauthorized, "unauthorized", "this route needs a token: send Authorization: Bearer TOKEN (create one with `levee token create`)"
	}
	id.token = s.tokens.Verify(secret)
	if id.token == nil {
		return http.StatusUnauthorized, "unauthorized", "the token " + from + " is not valid (revoked, or mistyped)"
	}
	return 0, "", ""
}

// clientIP is the host of a RemoteAddr, without allocating.
func clientIP(remote string) string {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return remote
	}
	return host
}

// Values of the headers every admin answer carries (net/http only reads them).
var (
	nosniff = []string{"nosniff"}
	noStore = []string{"no-store"}
)

func presented(r *http.Request) (secret, from string) {
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, _ := strings.Cut(a, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "-", "in the Authorization header (want Bearer)"
		}
		return strings.TrimSpace(tok), "in the Authorization header"
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		return c.Value, "of this browser session"
	}
	return "", ""
}

func unsafeMethod(m string) bool {
	return m != "GET" && m != "HEAD" && m != "OPTIONS"
}

// csrfOK: a request that may come from a browser (it carries a cookie, an
// Origin or a Sec-Fetch-Site header) must echo the CSRF cookie in a
// header, which another site's form or script cannot do. Scripts and the
// CLI, which send a bearer token or no browser headers, need nothing.
func csrfOK(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return true
	}
	_, errSession := r.Cookie(sessionCookie)
	browser := errSession == nil || r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Site") != ""
	if !browser {
		return true
	}
	c, err := r.Cookie(csrfCookie)
	h := r.Header.Get(csrfHeader)
	return err == nil && len(c.Value) >= 16 && subtle.ConstantTimeCompare([]byte(c.Value), []byte(h)) == 1
}

// serveAudited runs a change and writes who did what, and its outcome,
// to the audit log.
func (s *Server) serveAudited(rt Route, id *Identity, h http.Handler, w http.ResponseWriter, r *http.Request) {
	e := &AuditEntry{Who: id.Who(), Action: r.Method + " " + r.URL.Path}
	if q := r.URL.RawQuery; q != "" {
		e.Action += "?" + q
	}
	var tee *teeBody
	if !strings.HasSuffix(rt.Path, "/config") {
		// Small change requests are kept (bounded): they say what.
		tee = &teeBody{ReadCloser: r.Body, keep: 512}
		r.Body = tee
	}
	rec := &statusRecorder{ResponseWriter: w}
	r = r.WithContext(context.WithValue(r.Context(), auditKey, e))
	defer func() {
		if tee != nil {
			e.Body = tee.buf.String()
		}
		e.Status = rec.status
		if e.Status == 0 {
			e.Status = http.StatusOK
		}
		s.audit.Write(*e)
	}()
	h.ServeHTTP(rec, r)
}

// noteChange adds what a change did to its audit entry.
func (s *Server) noteChange(r *http.Request, what string) {
	if e, ok := r.Context().Value(auditKey).(*AuditEntry); ok {
		e.Detail = what
	}
}

type teeBody struct {
	io.ReadCloser
	keep int
	buf  bytes.Buffer
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if room := t.keep - t.buf.Len(); room > 0 && n > 0 {
		t.buf.Write(p[:min(n, room)])
	}
	return n, err
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}
