package shield

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A client with one waiting request is served after at most one request
// of each other waiting client, not after another client's whole burst.
func TestFairQueueRoundRobinByClient(t *testing.T) {
	var f fairQueue
	for i := 0; i < 10; i++ {
		f.push(&waiter{key: 1})
	}
	f.push(&waiter{key: 2})
	var order []uint64
	for w := f.pop(); w != nil; w = f.pop() {
		order = append(order, w.key)
	}
	if len(order) != 11 || order[0] != 1 || order[1] != 2 {
		t.Fatalf("order %v: client 2 must be served second", order)
	}
	if f.n != 0 || len(f.keys) != 0 {
		t.Fatalf("queue not empty after popping all: n=%d keys=%d", f.n, len(f.keys))
	}
}

// Waiters that give up are removed; the ring and the key map stay within a
// small multiple of the live waiters, whatever churn of distinct clients.
func TestFairQueueBoundedUnderChurn(t *testing.T) {
	var f fairQueue
	live := &waiter{key: 0}
	f.push(live)
	for i := 1; i <= 1_000_000; i++ {
		w := &waiter{key: uint64(i)}
		f.push(w)
		if !f.remove(w) {
			t.Fatal("remove lost a waiter")
		}
	}
	if f.n != 1 || len(f.keys) != 1 || len(f.ring) > 128 {
		t.Fatalf("after churn: n=%d keys=%d ring=%d, want 1, 1, <=128", f.n, len(f.keys), len(f.ring))
	}
	if w := f.pop(); w != live {
		t.Fatal("the live waiter was lost")
	}
}

// A pool at its limit queues requests instead of shedding them, and hands
// a freed slot to the modest client before the bursting one's backlog.
func TestLimiterQueuesFairly(t *testing.T) {
	lim := NewLimiter(2, 2, 2, 0)
	lim.SetQueue(time.Minute, 100, 50)
	now := time.Now()
	for i := 0; i < 2; i++ {
		if lim.AcquireWait(9, laneOther, now, nil) != admitted {
			t.Fatal("free slots must be taken at once")
		}
	}
	results := make(chan uint64, 20)
	start := func(key uint64) {
		go func() {
			if lim.AcquireWait(key, laneOther, now, nil) == admitted {
				results <- key
			}
		}()
	}
	waitQueued := func(n int64) {
		for i := 0; i < 5000 && lim.Queued() < n; i++ {
			time.Sleep(time.Millisecond)
		}
		if lim.Queued() != n {
			t.Fatalf("%d queued, want %d", lim.Queued(), n)
		}
	}
	for i := 0; i < 10; i++ {
		start(1) // the burst
	}
	waitQueued(10)
	start(2) // the modest client
	waitQueued(11)
	lim.Release(0, false)
	lim.Release(0, false)
	got := []uint64{<-results, <-results}
	if got[0] != 2 && got[1] != 2 {
		t.Fatalf("first two admitted %v: the modest client waited behind the burst", got)
	}
	// Drain: every waiter gets its turn as slots free.
	for i := 0; i < 9; i++ {
		lim.Release(0, false)
		<-results
	}
	if lim.Queued() != 0 || lim.Inflight() != 2 {
		t.Fatalf("queued %d inflight %d, want 0 and 2", lim.Queued(), lim.Inflight())
	}
}

// busyLimiter is a limiter of one slot, taken, whose queue holds maxQueue
// requests in all and maxPerKey per client, with the time it was taken.
func busyLimiter(t *testing.T, maxQueue, maxPerKey int) (*Limiter, time.Time) {
	t.Helper()
	lim := NewLimiter(1, 1, 1, 0)
	lim.SetQueue(time.Minute, maxQueue, maxPerKey)
	now := time.Now()
	if lim.AcquireWait(1, laneOther, now, nil) != admitted {
		t.Fatal("free slot not taken")
	}
	return lim, now
}

// queueUp starts a waiter for each key (its verdict goes to res) and
// returns once they all wait, or after 5 s.
func queueUp(lim *Limiter, keys []uint64, now time.Time, gone chan struct{}, res chan int) {
	want := lim.Queued() + int64(len(keys))
	for _, k := range keys {
		go func() { res <- lim.AcquireWait(k, laneOther, now, gone) }()
	}
	for i := 0; i < 5000 && lim.Queued() < want; i++ {
		time.Sleep(time.Millisecond)
	}
}

// Past the queue's bounds (in all, per client) a request is shed at once,
// and a request whose wait runs out is shed and leaves the queue.
func TestLimiterQueueBounds(t *testing.T) {
	lim, now := busyLimiter(t, 3, 2)
	gone := make(chan struct{})
	res := make(chan int, 4)
	queueUp(lim, []uint64{1, 1, 2}, now, gone, res)
	if why := lim.AcquireWait(3, laneOther, now, nil); why != shedFull {
		t.Fatalf("queue full: got %d, want shedFull", why)
	}
	lim.SetQueue(time.Minute, 10, 2)
	lim.meanRTT.Store(int64(time.Millisecond)) // a window ended: the share holds
	if why := lim.AcquireWait(1, laneOther, now, nil); why != shedFull {
		t.Fatalf("client's share full: got %d, want shedFull", why)
	}
	close(gone)
	for i := 0; i < 3; i++ {
		if why := <-res; why != shedGone {
			t.Fatalf("waiter %d: got %d, want shedGone", i, why)
		}
	}
	if lim.Queued() != 0 || !lim.ShedRecently(now, time.Second) {
		t.Fatalf("queued %d after all left", lim.Queued())
	}
}

// The admission slot is taken at the origin (the proxy enters the gate),
// not in the shield phase: requests answered before it (cache hits,
// requests collapsed onto another's fetch) hold none. With a limit of 1,
// a request that never reaches the origin does not stop a second one.
func TestAdmissionSlotOnlyAtOrigin(t *testing.T) {
	s, st := testShield(t, "shield: {admission: {enabled: true, min_limit: 1, initial_limit: 1, max_limit: 1, keep_reserve: 0.01, max_wait: 1ms}}")
	inner := 0
	var outer func(w http.ResponseWriter, r *http.Request) error
	outer = func(w http.ResponseWriter, r *http.Request) error { // a cache hit: no origin
		if n := st.limiters["s/"].Inflight(); n != 0 {
			t.Errorf("%d slots held by a request that did not reach the origin", n)
		}
		rec, _ := call(s, httptest.NewRequest("GET", "/", nil), "192.0.2.2", okNextHandler{}.ServeHTTP)
		inner = rec.Code
		return nil
	}
	if rec, _ := call(s, httptest.NewRequest("GET", "/", nil), "192.0.2.1", outer); rec.Code != 200 || inner != 200 {
		t.Fatalf("outer %d, inner %d: want both served", rec.Code, inner)
	}
	if n := st.limiters["s/"].Inflight(); n != 0 {
		t.Fatalf("%d slots still held", n)
	}
}

// A request whose estimated wait (the queue ahead of it times the
// origin's mean latency, over the slots) is past max_wait is shed on
// arrival instead of waiting for nothing; one that can make it waits.
func TestLimiterShedsOnEstimatedWait(t *testing.T) {
	lim := NewLimiter(1, 1, 1, 0)
	lim.SetQueue(150*time.Millisecond, 100, 100)
	now := time.Now()
	for i := 0; lim.meanRTT.Load() == 0 && i < 1000; i++ { // the calibration, then one window: the origin's mean is 100ms
		if !lim.Acquire(true, now) {
			t.Fatal("free slot not taken")
		}
		lim.Release(100*time.Millisecond, true)
	}
	if lim.AcquireWait(1, laneOther, now, nil) != admitted {
		t.Fatal("free slot not taken")
	}
	gone := make(chan struct{})
	res := make(chan int, 1)
	go func() { res <- lim.AcquireWait(2, laneOther, now, gone) }() // ~100ms: waits
	for i := 0; i < 5000 && lim.Queued() < 1; i++ {
		time.Sleep(time.Millisecond)
	}
	if why := lim.AcquireWait(3, laneOther, now, nil); why != shedEarly {
		t.Fatalf("estimated wait 200ms over a 150ms bound: got %d, want shedEarly", why)
	}
	close(gone)
	if why := <-res; why != shedGone && why != shedTimeout {
		t.Fatalf("the waiter that could make it: got %d, want it to have waited", why)
	}
}

// Until the limiter has measured the origin once (its first window), a
// client's share of the queue does not shed: the limit is still the
// initial guess. The queue's bound in all still does. After the first
// window the share holds again.
func TestLimiterShareWaitsForFirstWindow(t *testing.T) {
	lim, now := busyLimiter(t, 4, 2)
	gone := make(chan struct{})
	res := make(chan int, 4)
	queueUp(lim, []uint64{1, 1, 1, 1}, now, gone, res) // twice the client's share, the queue's whole bound
	if q := lim.Queued(); q != 4 {
		t.Fatalf("before the first window %d of one client's 4 requests wait, want 4 (its share is 2)", q)
	}
	if why := lim.AcquireWait(2, laneOther, now, nil); why != shedFull {
		t.Fatalf("queue full in all: got %d, want shedFull", why)
	}
	close(gone)
	for range 4 {
		if why := <-res; why != shedGone {
			t.Fatalf("waiter: got %d, want shedGone", why)
		}
	}
	lim.meanRTT.Store(int64(time.Millisecond)) // a window ended
	gone = make(chan struct{})
	queueUp(lim, []uint64{1, 1}, now, gone, res)
	if why := lim.AcquireWait(1, laneOther, now, nil); why != shedFull {
		t.Fatalf("after the first window, past the client's share: got %d, want shedFull", why)
	}
	close(gone)
	for range 2 {
		<-res
	}
}
