package h1server

import (
	"testing"
	"time"
)

// A deadline is never early and at most a sixteenth late: what roundUp
// sets lies in [t, t+slack], and a deadline already set stands for t only
// when it lies there too.
func TestDeadlineNeverEarlyAtMostASixteenthLate(t *testing.T) {
	const d = 10 * time.Second
	slack := deadlineGranule(d)
	base := time.Date(2026, 12, 6, 12, 0, 0, 123456789, time.UTC)
	for i := range 50 {
		want := base.Add(time.Duration(i) * 37 * time.Millisecond)
		got := roundUp(want, slack)
		if got.Before(want) || got.Sub(want) > slack {
			t.Fatalf("roundUp(%v) = %v: outside [t, t+%v]", want, got, slack)
		}
		if !keepDeadline(got, want, slack) {
			t.Errorf("a deadline %v after t was not kept", got.Sub(want))
		}
	}
	for _, c := range []struct {
		name      string
		cur, want time.Time
		keep      bool
	}{
		{"earlier than asked", base.Add(-time.Nanosecond), base, false},
		{"later than a sixteenth", base.Add(slack + time.Nanosecond), base, false},
		{"exactly a sixteenth later", base.Add(slack), base, true},
		{"none set, one asked", time.Time{}, base, false},
		{"one set, none asked", base, time.Time{}, false},
		{"none set, none asked", time.Time{}, time.Time{}, true},
	} {
		if got := keepDeadline(c.cur, c.want, slack); got != c.keep {
			t.Errorf("%s: keepDeadline = %v, want %v", c.name, got, c.keep)
		}
	}
}
