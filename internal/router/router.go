// Package router matches a request to its site (by Host) and route (by path
// prefix). A Table is built once per config generation and only read after.
package router

import (
	"sort"
	"strings"

	"levee/internal/pool"
)

// Site is a compiled site.
type Site struct {
	Name        string
	Routes      []*Route // longest path first
	DebugHeader bool
}

// Route is a compiled route.
type Route struct {
	Site       *Site
	Path       string
	ID         int    // dense index within the generation; phases index their per-route data by it
	Index      int    // position in the site's config, for logs and config paths
	Name       string // "site/path"
	Pools      []*pool.Pool
	HostHeader string // "", "origin" or a literal host
	SetHeaders [][2]string
	Remove     []string
}

// Table finds sites by host.
type Table struct {
	exact     map[string]*Site
	wildcards []wildcard // longest suffix first
	fallback  *Site      // the site with host "*", if any
}

type wildcard struct {
	suffix string // ".example.com"
	site   *Site
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{exact: map[string]*Site{}} }

// Add registers a site under a host pattern: "example.com", "*.example.com"
// or "*". Config validation has already rejected duplicates.
func (t *Table) Add(pattern string, s *Site) {
	pattern = strings.ToLower(pattern)
	switch {
	case pattern == "*":
		t.fallback = s
	case strings.HasPrefix(pattern, "*."):
		t.wildcards = append(t.wildcards, wildcard{suffix: pattern[1:], site: s})
		sort.SliceStable(t.wildcards, func(i, j int) bool {
			return len(t.wildcards[i].suffix) > len(t.wildcards[j].suffix)
		})
	default:
		t.exact[pattern] = s
	}
}

// Site returns the site for a request's Host (port and trailing dot
// ignored, case-insensitive), or nil.
func (t *Table) Site(host string) *Site {
	host = normalizeHost(host)
	if s, ok := t.exact[host]; ok {
		return s
	}
	for _, w := range t.wildcards {
		if len(host) > len(w.suffix) && strings.HasSuffix(host, w.suffix) {
			return w.site
		}
	}
	return t.fallback
}

// Route returns the route with the longest path prefix of path, or nil.
func (s *Site) Route(path string) *Route {
	for _, r := range s.Routes {
		if strings.HasPrefix(path, r.Path) {
			return r
		}
	}
	return nil
}

// SortRoutes orders routes longest prefix first; call once after adding.
func (s *Site) SortRoutes() {
	sort.SliceStable(s.Routes, func(i, j int) bool { return len(s.Routes[i].Path) > len(s.Routes[j].Path) })
}

func normalizeHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// Sites returns every distinct site in the table.
func (t *Table) Sites() []*Site {
	seen := map[*Site]bool{}
	var out []*Site
	add := func(s *Site) {
		if s != nil && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, s := range t.exact {
		add(s)
	}
	for _, w := range t.wildcards {
		add(w.site)
	}
	add(t.fallback)
	return out
}
