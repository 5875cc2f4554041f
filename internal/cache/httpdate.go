package cache

import "time"

// parseHTTPDate parses an HTTP-date exactly as RFC 9110 5.6.7 writes it:
// IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), or one of the two
// obsolete forms, rfc850-date ("Sunday, 06-Nov-94 08:49:37 GMT") and
// asctime-date ("Sun Nov  6 08:49:37 1994"). net/http's ParseTime is
// lenient (a 1-digit hour, runs of spaces and other layouts pass), which
// is fine where robustness is encouraged (Date, Last-Modified) but not
// where the field definition says an invalid date has a meaning: an
// invalid Expires means already expired (RFC 9111 5.3), an invalid
// If-Modified-Since is ignored (RFC 9110 13.1.3). now resolves the
// two-digit year of rfc850-date (RFC 9110 5.6.7: a year more than 50
// years in the future is the most recent past year with those digits).
func parseHTTPDate(s string, now time.Time) (time.Time, bool) {
	switch len(s) {
	case 29:
		return parseIMFFixdate(s)
	case 24:
		return parseAsctime(s)
	}
	return parseRFC850(s, now)
}

var shortDays = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

var longDays = [...]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// parseIMFFixdate: day-name "," SP 2DIGIT SP month SP 4DIGIT SP
// 2DIGIT ":" 2DIGIT ":" 2DIGIT SP "GMT", all case-sensitive.
func parseIMFFixdate(s string) (time.Time, bool) {
	if len(s) != 29 || !isDayName(s[:3], shortDays[:]) || s[3:5] != ", " || s[7] != ' ' || s[11] != ' ' ||
		s[16] != ' ' || s[25:] != " GMT" {
		return time.Time{}, false
	}
	day, ok1 := digits(s[5:7])
	mon, ok2 := monthOf(s[8:11])
	year, ok3 := digits(s[12:16])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	return buildDate(year, mon, day, s[17:25])
}

// parseRFC850: day-name-l "," SP 2DIGIT "-" month "-" 2DIGIT SP
// time-of-day SP "GMT".
func parseRFC850(s string, now time.Time) (time.Time, bool) {
	comma := -1
	for i := 0; i < len(s) && i < 10; i++ {
		if s[i] == ',' {
			comma = i
			break
		}
	}
	if comma < 0 || !isDayName(s[:comma], longDays[:]) {
		return time.Time{}, false
	}
	r := s[comma:]
	// ", 06-Nov-94 08:49:37 GMT"
	if len(r) != 24 || r[:2] != ", " || r[4] != '-' || r[8] != '-' || r[11] != ' ' || r[20:] != " GMT" {
		return time.Time{}, false
	}
	day, ok1 := digits(r[2:4])
	mon, ok2 := monthOf(r[5:8])
	yy, ok3 := digits(r[9:11])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	year := now.UTC().Year()/100*100 + yy
	if year > now.UTC().Year()+50 {
		year -= 100
	}
	return buildDate(year, mon, day, r[12:20])
}

// parseAsctime: day-name SP month SP ( 2DIGIT / ( SP DIGIT ) ) SP
// time-of-day SP 4DIGIT.
func parseAsctime(s string) (time.Time, bool) {
	if len(s) != 24 || !isDayName(s[:3], shortDays[:]) || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' || s[19] != ' ' {
		return time.Time{}, false
	}
	mon, ok1 := monthOf(s[4:7])
	var day int
	var ok2 bool
	if s[8] == ' ' {
		day, ok2 = digits(s[9:10])
	} else {
		day, ok2 = digits(s[8:10])
	}
	year, ok3 := digits(s[20:24])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	return buildDate(year, mon, day, s[11:19])
}

// buildDate checks the calendar date and the "HH:MM:SS" time-of-day
// (00:00:00 to 23:59:60, a leap second) and returns the UTC time.
func buildDate(year int, mon time.Month, day int, tod string) (time.Time, bool) {
	if tod[2] != ':' || tod[5] != ':' {
		return time.Time{}, false
	}
	h, ok1 := digits(tod[0:2])
	m, ok2 := digits(tod[3:5])
	sec, ok3 := digits(tod[6:8])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 60 {
		return time.Time{}, false
	}
	if day < 1 || day > daysIn(year, mon) {
		return time.Time{}, false
	}
	return time.Date(year, mon, day, h, m, sec, 0, time.UTC), true
}

func daysIn(year int, mon time.Month) int {
	return time.Date(year, mon+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// digits parses a run of ASCII digits; anything else (a space, a sign)
// fails.
func digits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func monthOf(s string) (time.Month, bool) {
	for i, m := range months {
		if s == m {
			return time.Month(i + 1), true
		}
	}
	return 0, false
}

func isDayName(s string, names []string) bool {
	for _, n := range names {
		if s == n {
			return true
		}
	}
	return false
}
