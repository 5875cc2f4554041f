package router

import "testing"

func TestSiteMatching(t *testing.T) {
	exact, wild, deep, any := &Site{Name: "exact"}, &Site{Name: "wild"}, &Site{Name: "deep"}, &Site{Name: "any"}
	tb := NewTable()
	tb.Add("Shop.Example", exact)
	tb.Add("*.example", wild)
	tb.Add("*.eu.example", deep)
	tb.Add("*", any)
	for host, want := range map[string]*Site{
		"shop.example": exact, "SHOP.EXAMPLE:8080": exact, "shop.example.": exact,
		"a.example": wild, "a.b.example": wild, "x.eu.example": deep, "example": any,
		"other.test": any, "[::1]:443": any, "": any,
	} {
		if got := tb.Site(host); got != want {
			t.Errorf("Site(%q) = %v, want %s", host, got, want.Name)
		}
	}
	noFallback := NewTable()
	noFallback.Add("a.example", exact)
	if noFallback.Site("b.example") != nil {
		t.Error("unknown host matched without a * site")
	}
}

func TestLongestPathWins(t *testing.T) {
	s := &Site{}
	root, api, v2 := &Route{Path: "/"}, &Route{Path: "/api/"}, &Route{Path: "/api/v2/"}
	s.Routes = []*Route{root, v2, api}
	s.SortRoutes()
	for path, want := range map[string]*Route{"/": root, "/x": root, "/api/": api, "/api/v1/x": api, "/api/v2/y": v2, "/apix": root} {
		if got := s.Route(path); got != want {
			t.Errorf("Route(%q) = %s, want %s", path, got.Path, want.Path)
		}
	}
}
