package schema

import (
	"strings"
	"testing"
)

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.1": "10.0.0.1/32", "10.1.2.3/8": "10.0.0.0/8", "::1": "::1/128", "::ffff:10.0.0.1": "10.0.0.1/32"} {
		p, err := ParsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, bad := range []string{"", "10.0.0.0/33", "host", "1.2.3"} {
		if _, err := ParsePrefix(bad); err == nil {
			t.Errorf("ParsePrefix(%q) accepted", bad)
		}
	}
}

func TestCheckName(t *testing.T) {
	cases := map[string]string{
		"shop-1.eu_west":                     "",
		"":                                   "a name is required",
		"a b":                                "may hold only letters",
		strings.Repeat("x", MaxNameLength+1): "over the limit of 128",
	}
	for name, want := range cases {
		var l List
		CheckName(&l, "p", name)
		switch {
		case want == "" && len(l.Errs) > 0:
			t.Errorf("%q: unexpected %v", name, l.Errs)
		case want != "" && (len(l.Errs) != 1 || !strings.Contains(l.Errs[0].Msg, want) || l.Errs[0].Path != "p"):
			t.Errorf("%q: got %v, want one error at p containing %q", name, l.Errs, want)
		}
	}
}

func TestCheckHostPort(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:80": true, ":443": true, "[::1]:53": true, "example.com:http": true, "nope": false, "a b:1": false, "1.2.3.4:99999": false} {
		var l List
		CheckHostPort(&l, "x", addr)
		if (len(l.Errs) == 0) != ok {
			t.Errorf("%q: errors %v, want ok=%v", addr, l.Errs, ok)
		}
	}
}

func TestSitesRoute(t *testing.T) {
	s := Sites{"shop": {"/", "/api/"}}
	if !s.Route("shop", "/api/") || s.Route("shop", "/x") || s.Route("nope", "/") {
		t.Fatal("Sites.Route answers wrongly")
	}
}

func TestErrorsPrint(t *testing.T) {
	es := Errors{{File: "f.yaml", Line: 3, Path: "a.b", Msg: "bad"}, {Msg: "plain"}}
	if got := es.Error(); got != "f.yaml:3: a.b: bad\nplain" {
		t.Fatalf("got %q", got)
	}
}
