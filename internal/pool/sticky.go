package pool

import (
	"net/http"
	"strconv"
	"time"
)

// Sticky keeps a client on one origin with a cookie naming it (by a hash
// of its ID, which does not reveal its address). A client without the
// cookie, or whose origin is not usable, gets a round-robin choice and a
// new cookie.
type Sticky struct {
	origins []*Origin
	cookie  string
	ttl     time.Duration
	rr      *RoundRobin
}

// NewSticky returns a sticky-cookie picker.
func NewSticky(origins []*Origin, cookie string, ttl time.Duration) *Sticky {
	complete(origins)
	return &Sticky{origins: origins, cookie: cookie, ttl: ttl, rr: NewRoundRobin(origins)}
}

// Pick returns the cookie's origin if usable, else a round-robin choice.
func (s *Sticky) Pick(r *http.Request) *Origin {
	if v := CookieValue(r.Header, s.cookie); len(v) == 16 {
		if id, err := strconv.ParseUint(v, 16, 64); err == nil {
			for _, o := range s.origins {
				if o.seed == id && o.usable() {
					return o
				}
			}
		}
	}
	return s.rr.Pick(r)
}

// Stamp sets the cookie on the response when the request did not carry
// o's already.
func (s *Sticky) Stamp(r *http.Request, h http.Header, o *Origin) {
	want := cookieID(o)
	if CookieValue(r.Header, s.cookie) == want {
		return
	}
	c := &http.Cookie{Name: s.cookie, Value: want, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if s.ttl > 0 {
		c.MaxAge = int(s.ttl / time.Second)
	}
	h.Add("Set-Cookie", c.String())
}

func cookieID(o *Origin) string {
	const hex = "0123456789abcdef"
	var b [16]byte
	v := o.seed
	for i := 15; i >= 0; i-- {
		b[i] = hex[v&15]
		v >>= 4
	}
	return string(b[:])
}

var (
	_ Picker  = (*Sticky)(nil)
	_ Stamper = (*Sticky)(nil)
)
