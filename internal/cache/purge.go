package cache

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Purge selects objects to purge: exactly one of URL, Prefix, Host, Tag
// or All. Soft marks them stale (so stale-if-error and the grace still
// apply) instead of deleting them.
type Purge struct {
	URL    string `json:"url,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Host   string `json:"host,omitempty"`
	Tag    string `json:"tag,omitempty"`
	All    bool   `json:"all,omitempty"`
	Soft   bool   `json:"soft,omitempty"`
}

// Validate checks that p selects exactly one way.
func (p *Purge) Validate() (bool, error) {
	_, err := p.matcher()
	return err == nil, err
}

// matcher returns the predicate of p over an object's URL and tags.
func (p *Purge) matcher() (func(u string, tags []string) bool, error) {
	n := 0
	for _, s := range []string{p.URL, p.Prefix, p.Host, p.Tag} {
		if s != "" {
			n++
		}
	}
	if p.All {
		n++
	}
	if n != 1 {
		return nil, errors.New("give exactly one of url, prefix, host, tag or all")
	}
	switch {
	case p.All:
		return func(string, []string) bool { return true }, nil
	case p.Tag != "":
		return func(_ string, tags []string) bool {
			for _, t := range tags {
				if t == p.Tag {
					return true
				}
			}
			return false
		}, nil
	case p.Host != "":
		host := strings.ToLower(hostNoPort(p.Host))
		return func(u string, _ []string) bool { return hostOf(u) == host }, nil
	case p.Prefix != "":
		pre := normURL(p.Prefix)
		pathOnly := strings.HasPrefix(p.Prefix, "/")
		return func(u string, _ []string) bool {
			if pathOnly {
				return strings.HasPrefix(pathOf(u), pre)
			}
			return strings.HasPrefix(u, pre)
		}, nil
	}
	exact := normURL(p.URL)
	sorted := sortedQuery(exact)
	return func(u string, _ []string) bool {
		if strings.HasPrefix(exact, "/") {
			p := pathOf(u)
			return p == exact || p == sorted
		}
		return u == exact || u == sorted
	}, nil
}

// A URL or prefix that starts with "/" matches on every host.

// normURL turns "https://Example.com:443/a?b" into "example.com/a?b", the
// form of Object.URL; a path is left as is.
func normURL(s string) string {
	if strings.HasPrefix(s, "/") {
		return s
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	out := strings.ToLower(hostNoPort(u.Host)) + u.EscapedPath()
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out
}

func sortedQuery(u string) string {
	i := strings.IndexByte(u, '?')
	if i < 0 {
		return u
	}
	return string(appendQuery([]byte(u[:i]), u[i+1:], true, nil))
}

func hostOf(u string) string {
	if i := strings.IndexByte(u, '/'); i >= 0 {
		return u[:i]
	}
	return u
}

func pathOf(u string) string {
	if i := strings.IndexByte(u, '/'); i >= 0 {
		return u[i:]
	}
	return ""
}

// Purge applies p to both tiers and returns how many objects it touched
// (Vary markers and hit-for-miss markers are removed but not counted).
// It is synchronous: the next request sees its effect. A soft purge marks
// memory objects stale; objects only on disk are deleted, since their
// stale mark could not survive a restart.
func (s *Store) Purge(p Purge) (int, error) {
	match, err := p.matcher()
	if err != nil {
		return 0, err
	}
	s.purgeSeq.Add(1)
	now := time.Now().UnixNano()
	touched := map[uint64]bool{}
	var hard []uint64
	s.mem.each(func(h uint64, o *Object) {
		if !match(o.URL, o.Tags) {
			return
		}
		if !o.Marker && !o.HitForMiss {
			touched[h] = true
		}
		if p.Soft && !o.Marker && !o.HitForMiss && o.bodyInMemory() {
			s.mem.markStale(h, o, now)
			if s.disk != nil {
				s.disk.remove(h)
			}
			return
		}
		hard = append(hard, h)
	})
	if s.disk != nil {
		s.disk.each(func(h uint64, u string, tags []string) {
			if match(u, tags) {
				if !p.Soft || !s.mem.contains(h) {
					touched[h] = true
					hard = append(hard, h)
				}
			}
		})
	}
	for _, h := range hard {
		s.remove(h)
	}
	kind := "hard"
	if p.Soft {
		kind = "soft"
	}
	s.m.Purged.WithLabelValues(kind).Add(float64(len(touched)))
	return len(touched), nil
}

// invalidate removes the objects of r's URL and of the same-host Location
// and Content-Location of its response.
func (c *Cache) invalidate(ru *Rules, r *http.Request, resp http.Header) {
	k := &key{}
	k.build(ru, r)
	c.store.remove(k.hash())
	if ru.Slice > 0 {
		c.dropSlicesOf(string(k.buf), ru.Slice)
	}
	for _, name := range []string{"Location", "Content-Location"} {
		v := resp.Get(name)
		if v == "" {
			continue
		}
		u, err := r.URL.Parse(v)
		if err != nil || (u.Host != "" && !strings.EqualFold(hostNoPort(u.Host), hostNoPort(r.Host))) {
			continue
		}
		r2 := &http.Request{Method: http.MethodGet, Host: r.Host, URL: u, RequestURI: u.RequestURI(), Header: r.Header}
		k.build(ru, r2)
		c.store.remove(k.hash())
	}
}
