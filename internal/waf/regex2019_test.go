package waf

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"

	"levee/internal/leveetest/cputime"
)

// regex2019 is the rule that took every CPU of Cloudflare's edge on 2 Jul
// 2019: with a backtracking engine, `.*(?:.*=.*)` is quadratic or worse
// in the input. Go's regexp (RE2) runs it in linear time.
const regex2019 = `(?:(?:\"|'|\]|\}|\\|\d|(?:nan|infinity|true|false|null|undefined|symbol|math)|\` + "`" + `|\-|\+)+[)]*;?((?:\s|-|~|!|{}|\|\||\+)*.*(?:.*=.*)))`

func rule2019(t testing.TB) *engine {
	c := &Config{Rules: []Rule{{ID: 1000001, Target: "body", Regex: regex2019}}}
	c.SetDefaults()
	return &engine{rules: compileRules(c.Rules, nil), bodyLimit: 8 << 20}
}

// The rule compiles under the custom rules' bounds and runs over a 1 MiB
// body; it matches what it should and not what it should not.
func Test2019RegexAsCustomRule(t *testing.T) {
	c := &Config{Rules: []Rule{{ID: 1000001, Target: "body", Regex: regex2019}}}
	c.SetDefaults()
	c.MaxInflight = 1
	var l = validateList(c)
	if len(l) != 0 {
		t.Fatalf("the 2019 rule does not validate: %v", l)
	}
	e := rule2019(t)
	s := post("/", "text/plain", "")
	s.body = bytes.Repeat([]byte("1"), 1<<20) // no '=': no match, the worst case for backtracking
	if v := e.inspect(s); v.block {
		t.Fatal("matched a body without '='")
	}
	s.body = append(s.body, "x=1"...)
	if v := e.inspect(s); !v.block || v.ids[0] != 1000001 {
		t.Fatalf("did not match a body with '=': %+v", v)
	}
}

// Benchmark2019Regex reports the time per byte over 64 KiB to 1 MiB:
// linear (flat ns/byte), where a backtracking engine goes quadratic.
func Benchmark2019Regex(b *testing.B) {
	e := rule2019(b)
	for _, n := range []int{64 << 10, 256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", n>>10), func(b *testing.B) {
			s := post("/", "text/plain", "")
			s.body = bytes.Repeat([]byte("1"), n)
			b.SetBytes(int64(n))
			for b.Loop() {
				e.inspect(s)
			}
		})
	}
}

// BenchmarkCRS is the CRS at paranoia 1 on a plain GET and on a 4 KiB
// form POST.
func BenchmarkCRS(b *testing.B) {
	e := paranoia1(b)
	b.Run("GET", func(b *testing.B) {
		s := get("/products/blue-widget-42?page=2")
		b.ReportAllocs()
		defer cputime.Report(b)()
		for b.Loop() {
			e.inspect(s)
		}
	})
	// What the shared bench's wrk sends: a Host header and nothing else.
	b.Run("GET-bare", func(b *testing.B) {
		s := get("/dyn")
		s.header = http.Header{}
		b.ReportAllocs()
		defer cputime.Report(b)()
		for b.Loop() {
			e.inspect(s)
		}
	})
	b.Run("POST-4KiB-form", func(b *testing.B) {
		body := bytes.Repeat([]byte("field=some+ordinary+words&"), 4096/26+1)[:4096]
		s := post("/contact", "application/x-www-form-urlencoded", string(body))
		b.ReportAllocs()
		defer cputime.Report(b)()
		for b.Loop() {
			e.inspect(s)
		}
	})
}

func validateList(c *Config) []string {
	var out []string
	l := &listShim{}
	c.Validate(l.list())
	for _, e := range l.l.Errs {
		out = append(out, e.Error())
	}
	return out
}
