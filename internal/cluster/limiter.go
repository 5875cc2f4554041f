package cluster

import (
	"context"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Limiter bounds. The README quotes them.
const (
	// LeaseWindow is how much of its share of a rule's rate a node leases
	// at once: with R/s over N members, a lease is about R*LeaseWindow/N
	// tokens, so a key costs each node about 1/LeaseWindow store calls a
	// second however many requests it serves.
	LeaseWindow = 100 * time.Millisecond
	// LeaseTTL is how long leased tokens stay usable; unused ones lapse,
	// so a node cannot hoard an old budget.
	LeaseTTL = time.Second
	// MaxLimiterKeys bounds the keys the limiter tracks; past it the
	// least recently used of a shard is evicted (and counted).
	MaxLimiterKeys = 100_000
	// MaxPendingLeases bounds lease requests waiting for the store; past
	// it a key waits for the next request to ask again.
	MaxPendingLeases = 4096
	limiterShards    = 64
	leaseWorkers     = 2
)

// gcraScript is GCRA over the store's clock, granting up to ARGV[3]
// tokens at once (a lease): it returns how many it granted. The key
// expires when its theoretical arrival time has passed, so idle keys cost
// nothing. Times are microseconds, exact in a Lua double until 2255.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local n = math.floor((tolerance - (tat - now)) / interval)
if n > want then n = want end
if n <= 0 then return 0 end
tat = tat + n * interval
redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.ceil((tat - now) / 1000) + 1)
return n
`)

// Limiter enforces cluster-scoped rate limits. The request path never
// waits on the store: each node spends tokens it leased in batches from a
// GCRA in the store, and asks for the next batch in the background when
// half is spent. While the store is away, each node applies the limit
// divided by the members it saw last, on its own clock.
type Limiter struct {
	c        *Capability
	st       atomic.Pointer[store]
	members  atomic.Int64
	shards   [limiterShards]limShard
	leases   chan *bucket
	once     sync.Once
	now      func() time.Time
	counters [numResults]prometheus.Counter
}

type limShard struct {
	mu sync.Mutex
	m  map[limKey]*bucket
}

type limKey struct {
	rule string
	key  uint64
}

// bucket is one key's state; its shard's mutex guards it.
type bucket struct {
	k        limKey
	interval float64 // seconds per token at the cluster-wide rate
	burst    int
	tokens   int   // leased and not spent
	expires  int64 // unix ns the lease lapses
	pending  bool  // a lease request is queued or in flight
	leased   bool  // a lease was ever granted
	failed   bool  // the last lease request failed: the store is away
	debt     int   // admitted on credit before the first lease
	tat      int64 // local GCRA (fallback), unix ns
	used     int64 // unix ns of the last request (eviction)
}

func newLimiter(c *Capability) *Limiter {
	l := &Limiter{c: c, leases: make(chan *bucket, MaxPendingLeases), now: time.Now}
	l.members.Store(1)
	for i, name := range resultNames {
		l.counters[i] = c.m.rate.WithLabelValues(name)
	}
	for i := range l.shards {
		l.shards[i].m = map[limKey]*bucket{}
	}
	return l
}

// attach points the limiter at a store and starts the lease workers once.
func (l *Limiter) attach(st *store) {
	l.st.Store(st)
	l.once.Do(func() {
		for i := range leaseWorkers {
			l.c.host.Wall.Go("cluster-lease-"+strconv.Itoa(i), l.leaseLoop)
		}
	})
}

func (l *Limiter) detach() { l.st.Store(nil) }

func (l *Limiter) setMembers(n int) { l.members.Store(int64(max(1, n))) }

// Allow decides one request of rule for key (a hash that is the same on
// every node) against rate (per second, cluster-wide) and burst. It
// returns whether to admit it and, if not, how long until it might be.
func (l *Limiter) Allow(rule string, key uint64, rate float64, burst int) (bool, time.Duration) {
	if !(rate > 0) {
		return true, 0
	}
	now := l.now().UnixNano()
	k := limKey{rule: rule, key: key}
	sh := &l.shards[(key^uint64(len(rule)))%limiterShards]
	sh.mu.Lock()
	b := sh.m[k]
	if b == nil {
		if len(sh.m) >= MaxLimiterKeys/limiterShards {
			l.evict(sh)
		}
		b = &bucket{k: k}
		sh.m[k] = b
	}
	b.interval, b.burst, b.used = 1/rate, max(1, burst), now
	st := l.st.Load()
	if st == nil || !st.up() {
		ok, wait := l.local(b, now)
		sh.mu.Unlock()
		l.count(pick(ok, resFallbackAdmitted, resFallbackDenied))
		return ok, wait
	}
	if b.tokens > 0 && now >= b.expires {
		b.tokens = 0
	}
	// Ask for the next batch while a whole one is still in hand, so a slow
	// store answer does not leave the node empty while the store's
	// budget accrues past its burst and is lost.
	if b.tokens <= l.batch(b) && !b.pending {
		l.requestLease(b)
	}
	if b.tokens > 0 {
		b.tokens--
		sh.mu.Unlock()
		l.count(resLeasedAdmitted)
		return true, 0
	}
	if b.failed {
		// The store failed this key's last lease: fall back at once,
		// before the breaker has seen enough failures to open.
		ok, wait := l.local(b, now)
		sh.mu.Unlock()
		l.count(pick(ok, resFallbackAdmitted, resFallbackDenied))
		return ok, wait
	}
	if !b.leased {
		// Its first lease is on the way: admit on the local share, and
		// pay it back from the lease.
		ok, wait := l.local(b, now)
		if ok {
			b.debt++
		}
		sh.mu.Unlock()
		l.count(pick(ok, resCreditAdmitted, resCreditDenied))
		return ok, wait
	}
	sh.mu.Unlock()
	l.count(resLeasedDenied)
	return false, time.Duration(b.interval * float64(time.Second))
}

// local is GCRA on this node's share of the rate (the limit divided by
// the members last seen); the shard's mutex is held.
func (l *Limiter) local(b *bucket, now int64) (bool, time.Duration) {
	n := float64(l.members.Load())
	iv := int64(b.interval * n * float64(time.Second))
	tau := iv * int64(max(1, int(math.Floor(float64(b.burst)/n))))
	if b.tat < now {
		b.tat = now
	}
	next := b.tat + iv
	if allowAt := next - tau; now < allowAt {
		return false, time.Duration(allowAt - now)
	}
	b.tat = next
	return true, 0
}

// batch is how many tokens one lease asks for: this node's share of the
// rate over LeaseWindow, at least 1.
func (l *Limiter) batch(b *bucket) int {
	share := LeaseWindow.Seconds() / b.interval / float64(l.members.Load())
	return max(1, min(int(math.Ceil(share)), b.burst))
}

func (l *Limiter) requestLease(b *bucket) {
	select {
	case l.leases <- b:
		b.pending = true
	default:
		l.count(resLeaseQueueFull)
	}
}

func (l *Limiter) leaseLoop() {
	for {
		select {
		case <-l.c.host.Stopped:
			return
		case b := <-l.leases:
			l.lease(b)
		}
	}
}

// lease asks the store for a batch of b's tokens and adds what it grants.
func (l *Limiter) lease(b *bucket) {
	sh := &l.shards[(b.k.key^uint64(len(b.k.rule)))%limiterShards]
	sh.mu.Lock()
	want, interval, burst := l.batch(b)+b.debt, b.interval, b.burst
	sh.mu.Unlock()
	granted := 0
	st := l.st.Load()
	err := errOpen
	if st != nil {
		key := keyRatePrefix + b.k.rule + ":" + strconv.FormatUint(b.k.key, 16)
		err = st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
			n, err := gcraScript.Run(ctx, rdb, []string{key}, interval*1e6, burst, want).Int()
			granted = n
			return err
		})
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b.pending = false
	b.failed = err != nil
	if err != nil {
		l.c.m.storeErrors.Inc()
		return
	}
	pay := min(granted, b.debt)
	b.debt -= pay
	granted -= pay
	b.leased = true
	b.tokens += granted
	b.expires = l.now().Add(LeaseTTL).UnixNano()
}

// evict drops the least recently used key of a full shard (mutex held).
func (l *Limiter) evict(sh *limShard) {
	var victim limKey
	oldest := int64(math.MaxInt64)
	for k, b := range sh.m {
		if b.used < oldest && !b.pending {
			victim, oldest = k, b.used
		}
	}
	delete(sh.m, victim)
	l.count(resEvicted)
}

// count adds one decision; the counters are resolved once (no label
// look-up per request).
func (l *Limiter) count(res int) { l.counters[res].Inc() }

// Limiter decisions, as levee_cluster_rate_decisions_total{result}.
const (
	resLeasedAdmitted = iota
	resLeasedDenied
	resFallbackAdmitted
	resFallbackDenied
	resCreditAdmitted
	resCreditDenied
	resLeaseQueueFull
	resEvicted
	numResults
)

var resultNames = [numResults]string{"leased_admitted", "leased_denied", "fallback_admitted", "fallback_denied",
	"credit_admitted", "credit_denied", "lease_queue_full", "evicted"}

func pick(ok bool, yes, no int) int {
	if ok {
		return yes
	}
	return no
}
