package cache

import (
	"strings"
	"testing"
)

// Dictionaries from RFC 8941 (and 9651's Date and Display String) that
// must parse, and near misses that must not.
func TestParseSFDictionary(t *testing.T) {
	good := []string{
		`en="Applepie", da=:w4ZibGV0w6ZydGU=:`,
		`a=?0, b, c; foo=bar`,
		`a=(1 2), b=3, c=4;aa=bb, d=(5 6);valid`,
		`a=()`,
		`a=( 1  2 )`,
		`max-age=60`,
		`max-age=60,  s-maxage=10`,
		"max-age=60,\ts-maxage=10",
		`no-store`,
		`a=1.5, b=-1, c=-0.123, d=123456789012345, e=123456789012.123`,
		`a=*tok/en:x`,
		`a=@1659578233, b=%"This is intended for display to %c3%bcsers."`,
		`a=:YQ:`, // base64 padding is optional
		`*=1`,
		` a=1`, // leading SP is discarded
	}
	for _, s := range good {
		if !parseSFDictionary([]string{s}, func(*sfMember) {}) {
			t.Errorf("%q refused", s)
		}
	}
	bad := []string{
		`max-age=60,`,           // trailing comma
		`Max-Age=60`,            // keys are lowercase
		`max-age=60 s-maxage=1`, // no comma
		`max-age=60;`,           // parameter without key
		`a=1234567890123456`,    // Integer over 15 digits
		`a=1234567890123.1`,     // Decimal over 12 integer digits
		`a=1.1234`,              // Decimal over 3 fraction digits
		`a=1.`,                  // Decimal without fraction
		`a=-`,                   // sign alone
		`a="unterminated`,       // String not closed
		`a="bad\escape"`,        // only \" and \\ escape
		"a=\"tab\there\"",       // control in String
		`a=é`,                   // not ASCII
		`a=?2`,                  // Boolean is 0 or 1
		`a=:not base64!:`,       // Binary
		`a=:YQ`,                 // Binary not closed
		`a=(1 2`,                // Inner List not closed
		`a=(1,2)`,               // Inner List members are space-separated
		`a=@1.5`,                // Date is an Integer
		`a=%"%C3%BC"`,           // Display String hex is lowercase
		`a=%"%ff"`,              // Display String must be UTF-8
		`1a=1`,                  // key must start with lcalpha or *
		`a=1,,b=2`,              // empty member
		`, a=1`,                 // leading comma
		`a=1 ,b`,                // space before comma is OWS: fine...
	}
	for _, s := range bad[:len(bad)-1] {
		if parseSFDictionary([]string{s}, func(*sfMember) {}) {
			t.Errorf("%q accepted", s)
		}
	}
	if !parseSFDictionary([]string{bad[len(bad)-1]}, func(*sfMember) {}) {
		t.Errorf("%q refused", bad[len(bad)-1])
	}
	// Field lines are combined with a comma (RFC 8941 4.2).
	var keys []string
	if !parseSFDictionary([]string{"a=1", "b=2"}, func(m *sfMember) { keys = append(keys, m.key) }) ||
		strings.Join(keys, ",") != "a,b" {
		t.Errorf("two field lines: %v", keys)
	}
}

// RFC 9213 2.1: directives take the type their definition implies, the
// last of a repeated key counts, and an invalid field is ignored.
func TestParseTargeted(t *testing.T) {
	cases := []struct {
		in      string
		ok      bool
		maxAge  int64
		noStore bool
		private bool
	}{
		{`max-age=60`, true, 60, false, false},
		{`max-age=60, max-age=10`, true, 10, false, false},    // last wins in a Dictionary
		{`max-age=1.5`, true, -1, false, false},               // a Decimal is not consumed
		{`max-age="60"`, true, -1, false, false},              // nor a String
		{`max-age=-1`, true, -1, false, false},                // nor a negative Integer
		{`max-age=99999999999`, true, maxDelta, false, false}, // capped
		{`no-store`, true, -1, true, false},
		{`no-store=?0`, true, -1, false, false},
		{`no-store=1`, true, -1, false, false}, // not a Boolean
		{`private="x-user", max-age=5`, true, 5, false, false},
		{`none`, true, -1, false, false}, // RFC 9213 3.1's example: valid, no directive
		{`max-age=60,`, false, 0, false, false},
		{`max-age=60, no-store, Private`, false, 0, false, false},
		{``, false, 0, false, false},
	}
	for _, c := range cases {
		d, ok := parseTargeted([]string{c.in})
		if ok != c.ok || ok && (d.maxAge != c.maxAge || d.noStore != c.noStore || d.private != c.private) {
			t.Errorf("%q: ok %v max-age %d no-store %v private %v", c.in, ok, d.maxAge, d.noStore, d.private)
		}
	}
	d, _ := parseTargeted([]string{`private="x-user"`})
	if len(d.privateFields) != 1 || d.privateFields[0] != "X-User" {
		t.Errorf("private fields %v", d.privateFields)
	}
}

func FuzzSFDictionary(f *testing.F) {
	for _, s := range []string{`max-age=60, s-maxage=10`, `a=(1 2);x, b="s\"", c=:YQ==:, d=?1`,
		`a=%"%c3%bc", b=@-5, c=-1.25`, `a=1,`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := 0
		ok := parseSFDictionary([]string{s}, func(m *sfMember) {
			n++
			if m.key == "" {
				t.Fatalf("%q: empty key", s)
			}
		})
		if ok && n == 0 && strings.Trim(s, " ") != "" {
			t.Fatalf("%q: valid but no member", s)
		}
		d, tok := parseTargeted([]string{s})
		if tok && (d.maxAge < -1 || d.maxAge > maxDelta || d.sMaxAge < -1 || d.sMaxAge > maxDelta) {
			t.Fatalf("%q: delta out of range", s)
		}
		if tok != (ok && n > 0) {
			t.Fatalf("%q: parseTargeted %v, dictionary %v with %d members", s, tok, ok, n)
		}
	})
}
