package shield

import (
	"math/rand"
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
	threeTimesCapacity(t, func() time.Duration { return 5 * time.Millisecond }, 5*time.Millisecond)
}

// TestAdmissionJitteryOriginAtThreeTimesCapacity: the same with service
// times spread evenly over 2.5-7.5 ms; admitted p99 at most twice the
// slowest unloaded answer.
func TestAdmissionJitteryOriginAtThreeTimesCapacity(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	threeTimesCapacity(t, func() time.Duration {
		return 2500*time.Microsecond + time.Duration(rng.Int63n(int64(5*time.Millisecond)))
	}, 7500*time.Microsecond)
}

// threeTimesCapacity offers three times what 8 servers of a mean service
// time of 5 ms take; worst is the slowest unloaded answer.
func threeTimesCapacity(t *testing.T, serviceTime func() time.Duration, worst time.Duration) {
	lim := NewLimiter(4, 1000, 32, 0.2)
	const (
		servers = 8
		service = 5 * time.Millisecond // the mean
		step    = 100 * time.Microsecond
		total   = 70 * time.Second // past two calibrations under load
		warmup  = 2 * time.Second
	)
	t0 := time.Unix(0, 0)
	var now time.Duration
	lim.now = func() time.Time { return t0.Add(now) }
	lim.SetQueue(time.Second, 4096, 256)
	type job struct{ start, began, service time.Duration }
	var waiting []job
	var serving []job
	perStep := 3.0 * servers / float64(service/step) // 3x capacity
	acc := 0.0
	done, shed, offered := 0, 0, 0
	var lat []time.Duration
	for ; now < total; now += step {
		// Completions.
		kept := serving[:0]
		for _, j := range serving {
			if now-j.began >= j.service {
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
			j := job{start: now, service: serviceTime()}
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
	if p99 > 2*worst {
		t.Errorf("admitted p99 %v is over twice the unloaded %v", p99, worst)
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

// closedLoop simulates clients that each send their next request when the
// last is answered, to an origin that serves any number at once in
// latency(now) (so it never queues), for d of simulated time with the
// limiter's clock following it. It returns the answers per second over
// the last second.
func closedLoop(lim *Limiter, clients int, d time.Duration, latency func(now time.Duration) time.Duration) float64 {
	type job struct{ end, rtt time.Duration }
	var serving []job
	t0 := time.Unix(1e6, 0)
	var now time.Duration
	lim.now = func() time.Time { return t0.Add(now) }
	lim.SetQueue(time.Second, 4096, 256) // the defaults; a calibration lasts at most half of max_wait
	const step = 100 * time.Microsecond
	last := 0
	for ; now < d; now += step {
		kept := serving[:0]
		for _, j := range serving {
			if now < j.end {
				kept = append(kept, j)
				continue
			}
			lim.Release(j.rtt, true)
			if now >= d-time.Second {
				last++
			}
		}
		serving = kept
		for len(serving) < clients && lim.Acquire(false, t0.Add(now)) {
			rtt := latency(now)
			serving = append(serving, job{now + rtt, rtt})
		}
	}
	return float64(last)
}

// TestAdmissionJitteryOriginNotPinned: an origin whose latency varies from
// request to request (10-30 ms, evenly) but does not grow with load must
// get all its clients' requests. Measured against the lowest sample, the
// window's mean was twice it, and the limit stayed at min_limit: 303
// answers a second for 200 clients that could have had 10,000.
func TestAdmissionJitteryOriginNotPinned(t *testing.T) {
	lim := NewLimiter(8, 1000, 32, 0.2)
	rng := rand.New(rand.NewSource(1))
	got := closedLoop(lim, 200, 20*time.Second, func(time.Duration) time.Duration {
		return 10*time.Millisecond + time.Duration(rng.Int63n(int64(20*time.Millisecond)))
	})
	t.Logf("%.0f answers/s, limit %d, base %v, min %v", got, lim.Limit(), lim.BaseRTT(), lim.MinRTT())
	if want := 0.9 * 200 / 0.020; got < want {
		t.Errorf("%.0f answers/s, want at least %.0f: the limit (%d) holds back an origin that does not queue", got, want, lim.Limit())
	}
}

// TestAdmissionRelearnsASlowerOrigin: an origin that became slower for
// good (2 ms, then 10 ms, not growing with load) is measured again, and
// its clients are all served at the new latency.
func TestAdmissionRelearnsASlowerOrigin(t *testing.T) {
	lim := NewLimiter(8, 1000, 32, 0.2)
	got := closedLoop(lim, 100, 100*time.Second, stepLatency(20*time.Second, 2*time.Millisecond, 10*time.Millisecond))
	t.Logf("%.0f answers/s, limit %d, base %v", got, lim.Limit(), lim.BaseRTT())
	if want := 0.9 * 100 / 0.010; got < want {
		t.Errorf("%.0f answers/s, want at least %.0f (limit %d, base %v)", got, want, lim.Limit(), lim.BaseRTT())
	}
	if b := lim.BaseRTT(); b < 9*time.Millisecond || b > 11*time.Millisecond {
		t.Errorf("base latency %v, want the new 10ms", b)
	}
}

// TestCalibrationBoundedByMaxWait: a calibration caps admission for at
// most half of max_wait, so the requests it holds back are not shed for
// it, even when the origin is too slow to give it its latencies in time.
func TestCalibrationBoundedByMaxWait(t *testing.T) {
	lim := NewLimiter(8, 1000, 32, 0.2)
	lim.SetQueue(time.Second, 4096, 256)
	t0 := time.Unix(1e6, 0)
	now := t0
	lim.now = func() time.Time { return now }
	lim.mu.Lock()
	lim.startCalibrationLocked(0)
	lim.mu.Unlock()
	n := 0
	for lim.Acquire(false, now) {
		n++
	}
	if n != 8 {
		t.Fatalf("%d admitted while calibrating, want min_limit's 8", n)
	}
	lim.Release(400*time.Millisecond, true) // the first completion starts the clock
	now = now.Add(499 * time.Millisecond)
	lim.Release(400*time.Millisecond, true)
	if lim.calCap.Load() == 0 {
		t.Fatal("calibration ended before half of max_wait")
	}
	now = now.Add(2 * time.Millisecond)
	lim.Release(400*time.Millisecond, true)
	if c := lim.calCap.Load(); c != 0 {
		t.Fatalf("calibration still capping at %d past half of max_wait", c)
	}
	if lim.BaseRTT() != 0 {
		t.Fatalf("base %v from fewer than %d latencies", lim.BaseRTT(), calibrateMin)
	}
}

// TestAdmissionRelearnsAFasterOrigin: a baseRTT far above what the windows
// see (an origin that became faster, or a calibration while the node's
// own CPU was saturated) is measured again.
func TestAdmissionRelearnsAFasterOrigin(t *testing.T) {
	lim := NewLimiter(8, 1000, 32, 0.2)
	closedLoop(lim, 100, 100*time.Second, stepLatency(20*time.Second, 10*time.Millisecond, 2*time.Millisecond))
	if b := lim.BaseRTT(); b < 1900*time.Microsecond || b > 2100*time.Microsecond {
		t.Errorf("base latency %v, want the new 2ms", b)
	}
}

// TestNoCalibrationWhileTheFloorHoldsMaxLimit: an origin fast enough that
// the floor holds the limit at max_limit (50 ms / 400 µs = 125 > 100) is
// not calibrated again when its latency rises tenfold: nothing measured
// could move the limit, and the cap would only hold requests back (with
// a thousand connections from one address behind it, past the per-client
// queue bound: 503s).
func TestNoCalibrationWhileTheFloorHoldsMaxLimit(t *testing.T) {
	lim := NewLimiter(8, 100, 32, 0.2)
	closedLoop(lim, 100, 40*time.Second, stepLatency(5*time.Second, 40*time.Microsecond, 400*time.Microsecond))
	if b := lim.BaseRTT(); b > 100*time.Microsecond {
		t.Errorf("base latency %v: calibrated again while the floor held the limit at max_limit", b)
	}
	if l := lim.Limit(); l != 100 {
		t.Errorf("limit %d, want max_limit", l)
	}
}

// stepLatency is an origin latency of before until at, then after.
func stepLatency(at, before, after time.Duration) func(time.Duration) time.Duration {
	return func(now time.Duration) time.Duration {
		if now < at {
			return before
		}
		return after
	}
}

// minRTT drifts towards each window's lowest sample, not its mean: with
// the node's CPU shared with its origin, a thousand connections put the
// mean far above the lowest latency (milliseconds against 40 µs), and
// drifting towards the mean raised minRTT from 39 to 71 µs (cutting the
// limit's floor, 50ms/minRTT, from 1,000 to about 700) within seconds, so
// a closed-loop client of that many connections was shed.
func TestMinRTTDriftsTowardsTheLowestSample(t *testing.T) {
	lim := NewLimiter(8, 1000, 32, 0.2)
	t0 := time.Unix(1e6, 0)
	lim.now = func() time.Time { return t0 }
	feed := func(rtt time.Duration) {
		if !lim.Acquire(true, t0) {
			t.Fatal("no slot with nothing in flight")
		}
		lim.Release(rtt, true)
	}
	for range 32 { // the first window: the origin at its best
		feed(100 * time.Microsecond)
	}
	if m := lim.MinRTT(); m != 100*time.Microsecond {
		t.Fatalf("minRTT %v after the first window, want 100µs", m)
	}
	// 300 windows whose lowest sample is 150µs and whose mean is ~10ms.
	for w := 0; w < 300; w++ {
		n := max(16, int(lim.Limit()))
		feed(150 * time.Microsecond)
		for i := 1; i < n; i++ {
			feed(10 * time.Millisecond)
		}
	}
	m := lim.MinRTT()
	t.Logf("minRTT %v, limit %d", m, lim.Limit())
	if m > 110*time.Microsecond {
		t.Fatalf("minRTT %v after 300 windows whose lowest sample was 150µs, want it near 100µs (it drifted towards the mean)", m)
	}
}

// The keep reserve is held only when some request can be keep: with no
// allow list and no keep class, every request may use the whole limit.
func TestKeepReserveOnlyWithAKeepClass(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       float64
	}{
		{"no keep class", `shield: {}`, 0},
		{"keep paths", `shield: {admission: {keep: {paths: [/healthz]}}}`, 0.2},
		{"keep cookies", `shield: {admission: {keep: {cookies: [session]}}}`, 0.2},
		{"keep prefixes", `shield: {admission: {keep: {prefixes: [10.0.0.0/8]}}}`, 0.2},
		{"allow list", `shield: {lists: {allow: [192.0.2.1]}}`, 0.2},
		{"reserve set, no class", `shield: {admission: {keep_reserve: 0.5}}`, 0},
	} {
		_, st := testShield(t, tc.yaml)
		lim := st.limiters["s/"]
		if lim == nil {
			t.Fatalf("%s: no limiter", tc.name)
		}
		if lim.keepReserve != tc.want {
			t.Errorf("%s: reserve %v, want %v", tc.name, lim.keepReserve, tc.want)
		}
		if got, want := lim.laneLimit(false), int64(float64(lim.Limit())*(1-tc.want)); got != want {
			t.Errorf("%s: ordinary requests may use %d of %d, want %d", tc.name, got, lim.Limit(), want)
		}
	}
}
