package cache

import (
	"net/http"
	"testing"
	"time"
)

// The three HTTP-date forms of RFC 9110 5.6.7, and near misses that
// net/http's ParseTime accepts but the grammar does not.
func TestParseHTTPDate(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	want := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)
	good := []string{
		"Sun, 06 Nov 1994 08:49:37 GMT",  // IMF-fixdate
		"Sunday, 06-Nov-94 08:49:37 GMT", // rfc850-date
		"Sun Nov  6 08:49:37 1994",       // asctime-date
		"Sun Nov 06 08:49:37 1994",       // asctime-date, day as 2DIGIT
	}
	for _, s := range good {
		got, ok := parseHTTPDate(s, now)
		if !ok || !got.Equal(want) {
			t.Errorf("%q: %v %v, want %v", s, got, ok, want)
		}
	}
	bad := []string{
		"Sun, 06 Nov 1994 8:49:37 GMT",                                 // 1-digit hour
		"Sun,  06 Nov 1994 08:49:37 GMT",                               // run of spaces
		"Sun, 06 Nov 1994  08:49:37 GMT",                               // run of spaces
		"Sun, 6 Nov 1994 08:49:37 GMT",                                 // 1-digit day
		"sun, 06 Nov 1994 08:49:37 GMT",                                // case-sensitive day-name
		"Sun, 06 nov 1994 08:49:37 GMT",                                // case-sensitive month
		"Sun, 06 Nov 1994 08:49:37 gmt",                                // case-sensitive GMT
		"Sun, 06 Nov 1994 08:49:37 UTC",                                // only GMT
		"Sun, 06 Nov 1994 08:49:37 +0000",                              // no numeric zone
		"Sun, 06 Nov 94 08:49:37 GMT",                                  // 2-digit year in IMF-fixdate
		"Sun, 31 Nov 1994 08:49:37 GMT",                                // no such day
		"Sun, 06 Nov 1994 24:00:00 GMT",                                // hour out of range
		"Sun, 06 Nov 1994 08:60:00 GMT",                                // minute out of range
		"Sun, 06 Nov 1994 08:49:61 GMT",                                // second out of range
		"Sun, 06 Nov 1994 08:49:37 GMT ",                               // trailing space (OWS is the field parser's)
		"Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", // a list
		"Sun, 06 Nov 1994 08-49-37 GMT",
		"Sun, 06 Nov 1994 +8:49:37 GMT",
		"Sun, 06 Nov 1994 08:49:3 GMT",
		"Sunday, 06-Nov-1994 08:49:37 GMT", // rfc850 with a 4-digit year
		"Sun, 06-Nov-94 08:49:37 GMT",      // rfc850 needs the long day-name
		"Sunday, 6-Nov-94 08:49:37 GMT",
		"Sunday,  06-Nov-94 08:49:37 GMT",
		"Sun Nov 6 08:49:37 1994", // asctime needs the padding space
		"Sun Nov  6 8:49:37 1994",
		"Sun Nov  6 08:49:37 94",
		"Sun, Nov  6 08:49:37 1994",
		"0", "", "-1", "Sun",
	}
	for _, s := range bad {
		if got, ok := parseHTTPDate(s, now); ok {
			t.Errorf("%q parsed as %v, want invalid", s, got)
		}
	}
	// Leap second: the grammar allows 60.
	if _, ok := parseHTTPDate("Sat, 31 Dec 2016 23:59:60 GMT", now); !ok {
		t.Error("leap second refused")
	}
	// February 29 only in leap years.
	if _, ok := parseHTTPDate("Sat, 29 Feb 2025 00:00:00 GMT", now); ok {
		t.Error("29 Feb 2025 accepted")
	}
	if _, ok := parseHTTPDate("Thu, 29 Feb 2024 00:00:00 GMT", now); !ok {
		t.Error("29 Feb 2024 refused")
	}
}

// RFC 9110 5.6.7: a two-digit year more than 50 years in the future is
// the most recent past year with the same last two digits.
func TestParseHTTPDateRFC850Century(t *testing.T) {
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		year int
	}{
		{"Sunday, 06-Nov-94 08:49:37 GMT", 1994},
		{"Monday, 06-Nov-76 08:49:37 GMT", 2076},
		{"Monday, 06-Nov-77 08:49:37 GMT", 1977},
		{"Friday, 06-Nov-26 08:49:37 GMT", 2026},
	} {
		got, ok := parseHTTPDate(c.in, now)
		if !ok || got.Year() != c.year {
			t.Errorf("%q: %v %v, want year %d", c.in, got, ok, c.year)
		}
	}
}

// Whatever parseHTTPDate accepts as IMF-fixdate formats back to the same
// text: the parser reads exactly the grammar, nothing around it.
func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
		"Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 8:49:37 GMT", "Wednesday,"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseHTTPDate(s, now)
		if !ok {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("%q: not UTC", s)
		}
		// The day-name is not checked against the date, and a leap
		// second rolls over: compare the rest.
		if len(s) == 29 && s[23:25] != "60" {
			if f := got.Format(http.TimeFormat); f[5:] != s[5:] {
				t.Fatalf("%q parsed as %q", s, f)
			}
		}
	})
}
