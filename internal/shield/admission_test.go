package shield

import (
	"sort"
	"testing"
	"time"
)

// TestAdmissionAtThreeTimesCapacity drives a limiter with three times what
// a simulated origin (8 in flight, 5 ms each: 1,600 req/s) can take, and
// checks the numbers on the model: goodput at least 90% of the
// origin's maximum, admitted requests' p99 at most 2x the unloaded
// latency, and shedding instead of queueing without end. (The real-time
// version is the integration test TestAdmissionSheds.)
func TestAdmissionAtThreeTimesCapacity(t *testing.T) {
	lim := NewLimiter(4, 1000, 32, 0.2)
	const (
		servers = 8
		service = 5 * time.Millisecond
		step    = 100 * time.Microsecond
		total   = 20 * time.Second
		warmup  = 2 * time.Second
	)
	type job struct{ start, began time.Duration }
	var waiting []job
	var serving []job
	perStep := 3.0 * servers / float64(service/step) // 3x capacity
	acc := 0.0
	done, shed, offered := 0, 0, 0
	var lat []time.Duration
	t0 := time.Unix(0, 0)
	for now := time.Duration(0); now < total; now += step {
		// Completions.
		kept := serving[:0]
		for _, j := range serving {
			if now-j.began >= service {
				rtt := now - j.start
				lim.Release(rtt, true)
				if now > warmup {
					done++
					lat = append(lat, rtt)
				}
				continue
			}
			kept = append(kept, j)
		}
		serving = kept
		for len(serving) < servers && len(waiting) > 0 {
			j := waiting[0]
			waiting = waiting[1:]
			j.began = now
			serving = append(serving, j)
		}
		// Arrivals.
		for acc += perStep; acc >= 1; acc-- {
			if now > warmup {
				offered++
			}
			if !lim.Acquire(false, t0.Add(now)) {
				if now > warmup {
					shed++
				}
				continue
			}
			j := job{start: now}
			if len(serving) < servers {
				j.began = now
				serving = append(serving, j)
			} else {
				waiting = append(waiting, j)
			}
		}
	}
	secs := (total - warmup).Seconds()
	goodput := float64(done) / secs
	maxRate := float64(servers) / service.Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p99 := lat[len(lat)*99/100]
	t.Logf("offered %.0f/s, goodput %.0f/s (%.1f%% of %.0f), shed %d, admitted p99 %v, limit %d",
		float64(offered)/secs, goodput, 100*goodput/maxRate, maxRate, shed, p99, lim.Limit())
	if goodput < 0.9*maxRate {
		t.Errorf("goodput %.0f/s is under 90%% of the origin's %.0f/s", goodput, maxRate)
	}
	if p99 > 2*service {
		t.Errorf("admitted p99 %v is over twice the unloaded %v", p99, service)
	}
	if shed < offered/2 {
		t.Errorf("only %d of %d shed at 3x capacity", shed, offered)
	}
}

func TestAdmissionKeepReserve(t *testing.T) {
	lim := NewLimiter(10, 10, 10, 0.2)
	now := time.Now()
	n := 0
	for lim.Acquire(false, now) {
		n++
	}
	if n != 8 {
		t.Fatalf("ordinary requests got %d slots of 10, want 8", n)
	}
	if !lim.Acquire(true, now) || !lim.Acquire(true, now) || lim.Acquire(true, now) {
		t.Fatal("keep requests must get the reserved 2 slots and no more")
	}
	if !lim.ShedRecently(now, time.Second) {
		t.Fatal("shedding not recorded")
	}
}
