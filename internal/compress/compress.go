// Package compress is levee's response compression: gzip, brotli and zstd
// chosen by Accept-Encoding, streamed through pooled encoders, for
// compressible types above a minimum size, never on encoded,
// no-transform or ranged responses.
package compress

import (
	"errors"
	"mime"
	"net/http"
	"strings"

	"levee/internal/pipeline"
)

var errNoEncoder = errors.New("compress: no encoder available")

// settings are one generation's compiled compress: section.
type settings struct {
	offer   []string
	minSize int64
	exact   map[string]bool
	prefix  []string // "text/" from "text/*"
	suffix  []string // "+json" from "*+json"
	m       *Metrics
	store   *store // nil: every response is encoded on the way out
}

func compile(c *Config, m *Metrics, st *store) *settings {
	s := &settings{offer: c.Encodings, minSize: int64(c.MinSize), exact: map[string]bool{}, m: m, store: st}
	for _, t := range c.Types {
		t = strings.ToLower(t)
		switch {
		case strings.HasPrefix(t, "*+"):
			s.suffix = append(s.suffix, t[1:])
		case strings.HasSuffix(t, "/*"):
			s.prefix = append(s.prefix, t[:len(t)-1])
		default:
			s.exact[t] = true
		}
	}
	return s
}

// eligible reports whether a response may be compressed whatever the
// client accepts: a 200 of a compressible type, not encoded already, not
// a part (Content-Range), and not marked no-transform.
func (s *settings) eligible(code int, h http.Header) bool {
	if code != http.StatusOK {
		return false
	}
	if ce := h.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return false
	}
	if h.Get("Content-Range") != "" || noTransform(h.Values("Cache-Control")) {
		return false
	}
	return s.compressible(h.Get("Content-Type"))
}

func (s *settings) compressible(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	if s.exact[mt] {
		return true
	}
	for _, p := range s.prefix {
		if strings.HasPrefix(mt, p) {
			return true
		}
	}
	for _, p := range s.suffix {
		if strings.HasSuffix(mt, p) {
			return true
		}
	}
	return false
}

func noTransform(values []string) bool {
	for _, v := range values {
		for d := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "no-transform") {
				return true
			}
		}
	}
	return false
}

// Phase returns the compress phase for s.
func (s *settings) Phase() pipeline.Phase {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if skipRequest(r) {
				return next.ServeHTTP(w, r)
			}
			cw := &writer{w: w, s: s, coding: negotiate(r.Header["Accept-Encoding"], s.offer), head: r.Method == http.MethodHead,
				host: strings.ToLower(r.Host), uri: r.URL.RequestURI()}
			err := next.ServeHTTP(cw, r)
			if ferr := cw.finish(err != nil); err == nil {
				err = ferr
			}
			if ex := pipeline.From(w); ex != nil {
				switch cw.st {
				case compressing:
					ex.Decide(cw.coding)
				case replaying:
					ex.Decide(cw.coding + "-stored")
				}
			}
			return err
		})
	}
}

// skipRequest: a Range request is answered uncompressed, so the bytes it
// names are the identity's and the origin's or cache's 206 stays right;
// an upgrade is not a response body.
func skipRequest(r *http.Request) bool {
	return len(r.Header["Range"]) > 0 || len(r.Header["Upgrade"]) > 0
}
