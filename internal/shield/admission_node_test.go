package shield_test

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"levee/internal/leveetest"
	"levee/internal/shield"
)

func shieldStatus(t *testing.T, n *leveetest.Node) shield.Status {
	t.Helper()
	res, err := http.Get(n.AdminURL("/shield"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var st shield.Status
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// tally counts an answer as served (200), shed (503) or anything else.
func tally(code int, err error, ok, shed, other *atomic.Int64) {
	switch {
	case err == nil && code == 200:
		ok.Add(1)
	case code == http.StatusServiceUnavailable:
		shed.Add(1)
	default:
		other.Add(1)
	}
}

// A closed-loop load (50 keep-alive connections from one address, each
// sending its next request when the last one is answered, as wrk does)
// through a node with the default shield, on a fast origin sharing the
// CPUs: such a client can never have more than 50 requests waiting, so
// admission, on by default, must shed none of them, however much the
// latency inflates. The old limiter shed a third to three quarters of
// them: one client's queue was bounded at 16 requests and the limit,
// reading CPU contention as origin overload, shrank to its floor.
func TestAdmissionClosedLoopNoShed(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	o := newSmallOrigin(t, 0, 1000)
	n := leveetest.Start(t, nodeYAML(o.URL, ""))
	const conns = 50
	perConn := 200
	if raceOn {
		perConn = 60
	}
	c := clientFrom("127.0.0.1", conns)
	url := n.URL("/dyn")
	var ok, shed, other atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perConn; j++ {
				code, _, _, err := get(c, url)
				tally(code, err, &ok, &shed, &other)
			}
		}()
	}
	wg.Wait()
	st := shieldStatus(t, n)
	t.Logf("closed loop: %d ok, %d shed, %d other; admission %+v", ok.Load(), shed.Load(), other.Load(), st.Limits)
	if len(st.Limits) == 0 {
		t.Fatal("admission is not on by default: no pool has a limit in /shield")
	}
	if shed.Load() != 0 || other.Load() != 0 {
		t.Fatalf("closed-loop load of %d connections: %d requests shed with 503, %d failed otherwise, want none", conns, shed.Load(), other.Load())
	}
}

// A node that has not yet measured its origin, hit at once by more
// requests from one address than that client's share of the queue (a
// crowd behind a carrier's NAT): the limit is still initial_limit, a
// guess, so none of them may be shed. Before, 6 went in (80% of 8: the
// keep reserve was then held with no keep class), 16 waited (the
// client's share) and the other 42 were answered 503.
func TestAdmissionColdStartCrowdFromOneAddress(t *testing.T) {
	o := newSmallOrigin(t, 20*time.Millisecond, 1000)
	n := leveetest.Start(t, nodeYAML(o.URL, "shield: {admission: {min_limit: 8, initial_limit: 8, max_queue_per_client: 16}}"))
	const conns = 64
	c := clientFrom("127.0.0.1", conns)
	url := n.URL("/dyn")
	var ok, shed, other atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			code, _, _, err := get(c, url)
			tally(code, err, &ok, &shed, &other)
		}()
	}
	close(start)
	wg.Wait()
	t.Logf("cold start: %d ok, %d shed, %d other; origin held %d at once", ok.Load(), shed.Load(), other.Load(), o.maxHeld.Load())
	if shed.Load() != 0 || other.Load() != 0 {
		t.Fatalf("%d requests at once from one address to a node that had not measured its origin: %d shed with 503, %d failed otherwise, want none", conns, shed.Load(), other.Load())
	}
	// Four windows at most (16 latencies each, +2 to the limit a window):
	// admission still held the crowd in levee, not at the origin.
	if h := o.maxHeld.Load(); h > 16 {
		t.Errorf("the origin held %d requests at once, want at most 16 (initial_limit 8, grown by 2 a window)", h)
	}
}

// A node in front of an origin whose latency varies from request to
// request (20-60 ms, evenly) but does not grow with load, with 32
// closed-loop connections: admission must let all of them through (800
// answers a second). The limiter that compared each window's mean with
// the lowest sample held the pool at min_limit, 6 ordinary requests in
// flight: 150 a second, the rest waiting in levee.
func TestAdmissionJitteryOriginServedWhole(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	var seed atomic.Uint64
	o := leveetest.NewOrigin(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x := seed.Add(0x9e3779b97f4a7c15) * 0xbf58476d1ce4e5b9 // a cheap spread, safe for concurrent use
		time.Sleep(20*time.Millisecond + time.Duration(x>>32%40000)*time.Microsecond)
		io.WriteString(w, "ok")
	}))
	n := leveetest.Start(t, nodeYAML(o.URL, ""))
	const conns = 32
	c := clientFrom("127.0.0.1", conns)
	url := n.URL("/dyn")
	start := time.Now()
	measureFrom := start.Add(2 * time.Second) // the limiter's first windows and its calibration
	end := measureFrom.Add(2 * time.Second)
	var measured, failed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000 && time.Now().Before(end); j++ {
				code, _, _, err := get(c, url)
				if err != nil || code != http.StatusOK {
					failed.Add(1)
					continue
				}
				if now := time.Now(); now.After(measureFrom) && now.Before(end) {
					measured.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	st := shieldStatus(t, n)
	rate := float64(measured.Load()) / end.Sub(measureFrom).Seconds()
	t.Logf("%.0f answers/s (all 32 connections: 800), %d failed; admission %+v", rate, failed.Load(), st.Limits)
	if failed.Load() != 0 {
		t.Errorf("%d requests failed or were shed", failed.Load())
	}
	if rate < 500 {
		t.Errorf("%.0f answers/s, want at least 500 of the 800 the origin gives 32 connections: admission holds back an origin that does not queue", rate)
	}
}
