package bots

import (
	"fmt"
	"html"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"levee/internal/pipeline"
)

// ChallengePrefix is where the challenge's page assets and answers live,
// on every site whose routes score.
const ChallengePrefix = "/.levee/challenge/"

// scoreValues and decisions are made once, so the request path writes
// the score to the origin and the log without allocating.
var (
	scoreValues [100][]string
	decisions   [nActions][100]string
)

func init() {
	for s := range 100 {
		scoreValues[s] = []string{strconv.Itoa(s)}
		for a := range nActions {
			decisions[a][s] = strconv.Itoa(s) + ":" + actionNames[a]
		}
	}
}

// phase is the bots request phase: it answers the challenge's own paths,
// scores the request, sends the score to the origin and applies the
// route's action for the score's band.
func (c *Capability) phase(st *settings, per []*routeRule) pipeline.Phase {
	return func(next pipeline.Handler) pipeline.Handler {
		return pipeline.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			ex := pipeline.From(w)
			if strings.HasPrefix(r.URL.Path, ChallengePrefix) {
				return c.serveChallenge(ex, r, st)
			}
			var rr *routeRule
			if ex.Route != nil && ex.Route.ID < len(per) {
				rr = per[ex.Route.ID]
			}
			if rr == nil {
				return next.ServeHTTP(w, r)
			}
			delete(r.Header, st.header) // the client's own score is not believed
			if c.mod != nil && !c.mod.Active() {
				// Killed or its breaker open: fail open, unscored.
				ex.Decide("off")
				return next.ServeHTTP(w, r)
			}
			act, panicked := c.decide(ex, r, st, rr)
			if panicked {
				ex.Decide("panic")
				return next.ServeHTTP(w, r)
			}
			switch act {
			case actBlock:
				return blocked(ex, r)
			case actChallenge:
				return c.challenge(ex, r, st, rr)
			}
			return next.ServeHTTP(w, r)
		})
	}
}

// testPanic, set by tests, panics inside decide.
var testPanic atomic.Bool

// decide scores the request and picks the route's action, behind the
// module's own panic wall: a panic here costs this request its score (fail
// open) and counts toward the breaker; it never reaches the node's wall.
func (c *Capability) decide(ex *pipeline.Exchange, r *http.Request, st *settings, rr *routeRule) (act int, panicked bool) {
	if c.mod != nil {
		defer c.mod.Recover(c.host.Wall, &panicked)
	}
	if testPanic.Load() {
		panic("bots: injected panic")
	}
	if rr.exempted(r.URL.Path, ex.Client) {
		c.m.byAction[actExempt].Inc()
		return actExempt, false
	}
	if d, ok := c.verify.check(ex.Client, userAgent(r)); ok {
		c.m.byAction[actVerified].Inc()
		ex.Decide(d)
		return actVerified, false
	}
	score, pass := c.score(r, ex.Client, st)
	act = rr.action(score)
	if act == actChallenge && pass {
		act = actPass
	}
	r.Header[st.header] = scoreValues[score]
	ex.Decide(decisions[act][score])
	c.m.byAction[act].Inc()
	return act, false
}

// score computes the request's score with the model in force, and
// whether a valid pass came with it. It does not allocate.
func (c *Capability) score(r *http.Request, client netip.Addr, st *settings) (int, bool) {
	ua := userAgent(r)
	s := Signals{UA: ua, Header: r.Header, Client: client, TLS: r.TLS != nil,
		ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor}
	if s.TLS || r.ProtoMajor == 2 {
		// The connection's record: JA4 from the handshake, and on HTTP/2
		// the preface's fingerprint, written by the HTTP/2 server before
		// the first request's handler runs and unchanged after.
		if h := pipeline.HelloFrom(r.Context()); h != nil {
			if s.TLS {
				s.JA4 = h.Fingerprint
			}
			s.H2 = h.H2
		}
	}
	if v, ok := cookieValue(r.Header, st.cookie); ok {
		s.Pass = c.signer.ValidPass(v, time.Now(), client, ua)
	}
	return c.gate.Model().Score(&s), s.Pass
}

func userAgent(r *http.Request) string {
	if v := r.Header["User-Agent"]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// cookieValue finds one cookie in the Cookie headers without allocating
// (http.Request.Cookie parses them all).
func cookieValue(h map[string][]string, name string) (string, bool) {
	for _, line := range h["Cookie"] {
		for len(line) > 0 {
			var part string
			part, line, _ = cut(line, ';')
			part = strings.TrimLeft(part, " ")
			if len(part) > len(name) && part[len(name)] == '=' && part[:len(name)] == name {
				return strings.TrimRight(part[len(name)+1:], " "), true
			}
		}
	}
	return "", false
}

func wantsHTML(r *http.Request) bool {
	for _, a := range r.Header["Accept"] {
		if strings.Contains(a, "text/html") {
			return true
		}
	}
	return false
}

// blocked answers a blocked request: 403, with the request ID.
func blocked(ex *pipeline.Exchange, r *http.Request) error {
	noStore(ex.Header())
	if wantsHTML(r) {
		ex.Header().Set("Content-Type", "text/plain; charset=utf-8")
		ex.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(ex, "403 Forbidden: this request looks automated.\nrequest id: %s\n", ex.ID)
		return nil
	}
	ex.Header().Set("Content-Type", "application/json")
	ex.WriteHeader(http.StatusForbidden)
	fmt.Fprintf(ex, `{"error":"blocked","request_id":%q}`+"\n", ex.ID)
	return nil
}

func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// difficulty is the route's, raised while the site is under attack or
// the node is overloaded: bots pay more when the origin struggles.
func (c *Capability) difficulty(ex *pipeline.Exchange, rr *routeRule) int {
	d := rr.difficulty
	if c.pressure != nil {
		if ex.Site != nil && c.pressure.UnderAttack(ex.Site.Name) {
			d += AttackDifficulty
		}
		if c.pressure.OverloadLevel() > 0 {
			d += AdmissionDifficulty
		}
	}
	return min(d, MaxDifficulty)
}

const pageCSP = "default-src 'none'; script-src 'self'; worker-src 'self'; connect-src 'self'; img-src 'none'; style-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// challenge answers a challenged request. Browsers get the interstitial
// page; other clients a short machine-readable 429 they can act on.
func (c *Capability) challenge(ex *pipeline.Exchange, r *http.Request, st *settings, rr *routeRule) error {
	h := ex.Header()
	noStore(h)
	if !wantsHTML(r) {
		c.m.challenges.WithLabelValues("refused").Inc()
		h.Set("Content-Type", "application/json")
		h.Set("Retry-After", "60")
		ex.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprintf(ex, `{"error":"challenge_required","detail":"open this page in a browser","request_id":%q}`+"\n", ex.ID)
		return nil
	}
	c.m.challenges.WithLabelValues("issued").Inc()
	d := c.difficulty(ex, rr)
	tok := c.signer.Token(time.Now(), st.challengeTTL, d, ex.Client, r.UserAgent())
	ret := r.URL.RequestURI()
	if !localPath(ret) {
		ret = "/"
	}
	wait := int(st.noScriptWait / time.Second)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	ex.WriteHeader(http.StatusForbidden)
	fmt.Fprintf(ex, challengePage, html.EscapeString(tok), d, html.EscapeString(ret), wait,
		html.EscapeString(ChallengePrefix+"wait?t="+url.QueryEscape(tok)+"&r="+url.QueryEscape(ret)))
	return nil
}

const challengePage = `<!doctype html>
<html><head><meta charset="utf-8"><title>Checking your browser</title>
<script src="/.levee/challenge/solver.js" defer></script>
<noscript><meta http-equiv="refresh" content="%[4]d;url=%[5]s"></noscript>
</head><body>
<div id="levee-challenge" data-token="%[1]s" data-difficulty="%[2]d" data-return="%[3]s">
<p>Checking that you are a person. This takes a moment and happens once.</p>
<noscript><p>Without JavaScript this page continues by itself in %[4]d seconds.</p></noscript>
</div></body></html>
`

// localPath reports whether p is a path on this site (not //host, which a
// browser would follow elsewhere).
func localPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.HasPrefix(p, "/\\") && len(p) <= 2048
}

// serveChallenge answers the challenge's own paths: its scripts, a
// solved proof of work and the no-script wait.
func (c *Capability) serveChallenge(ex *pipeline.Exchange, r *http.Request, st *settings) error {
	h := ex.Header()
	switch strings.TrimPrefix(r.URL.Path, ChallengePrefix) {
	case "solver.js":
		return script(ex, solverJS)
	case "worker.js":
		return script(ex, workerJS)
	case "verify":
		q := r.URL.Query()
		err := c.signer.Solved(q.Get("t"), q.Get("n"), time.Now(), ex.Client, r.UserAgent())
		return c.passed(ex, r, st, q.Get("r"), err, "solved")
	case "wait":
		q := r.URL.Query()
		err := c.signer.Waited(q.Get("t"), st.noScriptWait, time.Now(), ex.Client, r.UserAgent())
		return c.passed(ex, r, st, q.Get("r"), err, "noscript")
	}
	noStore(h)
	return pipeline.Errorf(pipeline.SourceClient, http.StatusNotFound, "no_route", "no such challenge path", nil)
}

func script(ex *pipeline.Exchange, src string) error {
	h := ex.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "public, max-age=3600")
	_, _ = fmt.Fprint(ex, src)
	return nil
}

// passed sets the pass cookie after a good answer and sends the browser
// back where it was going; a bad answer gets 403 and its reason.
func (c *Capability) passed(ex *pipeline.Exchange, r *http.Request, st *settings, ret string, err error, how string) error {
	h := ex.Header()
	noStore(h)
	if err != nil {
		c.m.challenges.WithLabelValues("failed").Inc()
		h.Set("Content-Type", "text/plain; charset=utf-8")
		ex.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(ex, "403 Forbidden: %v. Go back and reload the page.\nrequest id: %s\n", err, ex.ID)
		return nil
	}
	c.m.challenges.WithLabelValues(how).Inc()
	exp := time.Now().Add(st.passTTL)
	http.SetCookie(ex, &http.Cookie{Name: st.cookie, Value: c.signer.Pass(exp, ex.Client, r.UserAgent()), Path: "/",
		Expires: exp, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
	if !localPath(ret) {
		ret = "/"
	}
	h.Set("Location", ret)
	ex.WriteHeader(http.StatusSeeOther)
	return nil
}

// solverJS runs the proof of work in a Web Worker, so the page stays
// responsive, and follows the answer to the verify path.
const solverJS = `"use strict";
(function () {
  var el = document.getElementById("levee-challenge");
  var t = el.getAttribute("data-token"), d = +el.getAttribute("data-difficulty"), r = el.getAttribute("data-return");
  var w = new Worker("/.levee/challenge/worker.js");
  w.onmessage = function (e) {
    location.replace("/.levee/challenge/verify?t=" + encodeURIComponent(t) + "&n=" + encodeURIComponent(e.data) + "&r=" + encodeURIComponent(r));
  };
  w.postMessage({ t: t, d: d });
})();
`

// workerJS is SHA-256 hashcash: WebCrypto where the page is a secure
// context, a small SHA-256 in script elsewhere.
const workerJS = `"use strict";
function zeros(b) {
  var n = 0;
  for (var i = 0; i < b.length; i++) {
    var x = b[i];
    if (x === 0) { n += 8; continue; }
    while ((x & 0x80) === 0) { n++; x <<= 1; }
    break;
  }
  return n;
}
var K = [0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2];
function sha256(m) {
  var l = m.length, n = ((l + 9 + 63) >> 6) << 6, p = new Uint8Array(n);
  p.set(m); p[l] = 0x80;
  var bits = l * 8;
  p[n - 4] = bits >>> 24; p[n - 3] = bits >>> 16; p[n - 2] = bits >>> 8; p[n - 1] = bits;
  var H = [0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19], W = new Array(64);
  function r(x, k) { return (x >>> k) | (x << (32 - k)); }
  for (var o = 0; o < n; o += 64) {
    for (var i = 0; i < 16; i++) W[i] = (p[o+4*i] << 24) | (p[o+4*i+1] << 16) | (p[o+4*i+2] << 8) | p[o+4*i+3];
    for (i = 16; i < 64; i++) {
      var s0 = r(W[i-15], 7) ^ r(W[i-15], 18) ^ (W[i-15] >>> 3), s1 = r(W[i-2], 17) ^ r(W[i-2], 19) ^ (W[i-2] >>> 10);
      W[i] = (W[i-16] + s0 + W[i-7] + s1) | 0;
    }
    var a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
    for (i = 0; i < 64; i++) {
      var t1 = (h + (r(e, 6) ^ r(e, 11) ^ r(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
      var t2 = ((r(a, 2) ^ r(a, 13) ^ r(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    H[0] = (H[0] + a) | 0; H[1] = (H[1] + b) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0;
    H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + h) | 0;
  }
  var out = new Uint8Array(32);
  for (i = 0; i < 8; i++) { out[4*i] = H[i] >>> 24; out[4*i+1] = H[i] >>> 16; out[4*i+2] = H[i] >>> 8; out[4*i+3] = H[i]; }
  return out;
}
self.onmessage = async function (e) {
  var t = e.data.t, d = e.data.d, enc = new TextEncoder();
  var subtle = self.crypto && self.crypto.subtle;
  for (var n = 0; n < 1e9; n++) {
    var data = enc.encode(t + ":" + n);
    var h = subtle ? new Uint8Array(await subtle.digest("SHA-256", data)) : sha256(data);
    if (zeros(h) >= d) { self.postMessage(String(n)); return; }
  }
};
`
