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
}

func compile(c *Config, m *Metrics) *settings {
	s := &settings{offer: c.Encodings, minSize: int64(c.MinSize), exact: map[string]bool{}, m: m}
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
			if len(r.Header["Upgrade"]) > 0 {
				return next.ServeHTTP(w, r) // not a response body
			}
			coding := negotiate(r.Header["Accept-Encoding"], s.offer)
			cw := &writer{w: w, s: s, coding: coding, offer: coding, head: r.Method == http.MethodHead}
			if len(r.Header["Range"]) > 0 {
				// Not encoded on the fly: the ranges the client names are
				// of the identity's bytes, which the origin's or the
				// cache's 206 cuts. A variant the cache stored encoded
				// has bytes of its own, and answers the ranges on them.
				cw.coding = ""
			}
			err := next.ServeHTTP(cw, r)
			if ferr := cw.finish(err != nil); err == nil {
				err = ferr
			}
			if ex := pipeline.From(w); ex != nil {
				switch {
				case cw.served:
					ex.Decide(cw.offer + "-stored")
				case cw.st == compressing:
					ex.Decide(cw.coding)
				}
			}
			return err
		})
	}
}
