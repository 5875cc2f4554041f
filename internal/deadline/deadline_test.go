package deadline

import (
	"testing"
	"time"
)

// A deadline is never early and at most a sixteenth late: what Round
// sets lies in [t, t+slack], and a deadline already set stands for t only
// when it lies there too.
func TestDeadlineNeverEarlyAtMostASixteenthLate(t *testing.T) {
	const d = 10 * time.Second
	slack := Granule(d)
	base := time.Date(2026, 12, 6, 12, 0, 0, 123456789, time.UTC)
	for i := range 50 {
		want := base.Add(time.Duration(i) * 37 * time.Millisecond)
		got := Round(want, slack)
		if got.Before(want) || got.Sub(want) > slack {
			t.Fatalf("Round(%v) = %v: outside [t, t+%v]", want, got, slack)
		}
		if !Keep(got, want, slack) {
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
		if got := Keep(c.cur, c.want, slack); got != c.keep {
			t.Errorf("%s: Keep = %v, want %v", c.name, got, c.keep)
		}
	}
}

// Set calls through only when the deadline changes, and remembers it.
func TestSetOnlyWhenChanged(t *testing.T) {
	var cur time.Time
	var calls []time.Time
	set := func(t time.Time) error { calls = append(calls, t); return nil }
	base := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	slack := Granule(16 * time.Second) // 1 s
	Set(&cur, base.Add(100*time.Millisecond), slack, set)
	Set(&cur, base.Add(200*time.Millisecond), slack, set) // within the rounded one
	Set(&cur, base.Add(1500*time.Millisecond), slack, set)
	Set(&cur, time.Time{}, 0, set)
	Set(&cur, time.Time{}, 0, set)
	want := []time.Time{base.Add(time.Second), base.Add(2 * time.Second), {}}
	if len(calls) != len(want) {
		t.Fatalf("set called with %v, want %v", calls, want)
	}
	for i := range want {
		if !calls[i].Equal(want[i]) {
			t.Fatalf("set called with %v, want %v", calls, want)
		}
	}
	if !cur.IsZero() {
		t.Fatalf("cur = %v after clearing, want none", cur)
	}
}
