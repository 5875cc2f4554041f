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

// Round agrees with the rounding up through Truncate it replaces, for
// multiples of a second (where 1970 and Truncate's year 1 agree), and
// stays within [t, t+g) for any g, before 1970 and far from it too.
func TestRoundAgreesWithTruncate(t *testing.T) {
	times := []time.Time{
		time.Date(2026, 12, 7, 17, 40, 1, 999_999_999, time.UTC),
		time.Date(2026, 12, 7, 17, 40, 2, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 500_000_000, time.UTC),
		time.Date(1, 1, 1, 0, 0, 1, 7, time.UTC),
		time.Date(9999, 1, 1, 0, 0, 0, 3, time.UTC),
		time.Now(),
	}
	for _, at := range times {
		for _, g := range []time.Duration{time.Second, 2 * time.Second, time.Minute} {
			if got, want := Round(at, g), at.Add(g-1).Truncate(g); !got.Equal(want) {
				t.Errorf("Round(%v, %v) = %v, want %v", at, g, got, want)
			}
		}
		for _, g := range []time.Duration{1, 7, 625 * time.Millisecond, 3*time.Second + 1} {
			got := Round(at, g)
			if got.Before(at) || got.Sub(at) >= g {
				t.Errorf("Round(%v, %v) = %v: outside [t, t+g)", at, g, got)
			}
		}
	}
}

func BenchmarkRound(b *testing.B) {
	at := time.Now()
	g := Granule(10 * time.Second)
	var sink time.Time
	for i := 0; i < b.N; i++ {
		sink = Round(at.Add(time.Duration(i)), g)
	}
	_ = sink
}
