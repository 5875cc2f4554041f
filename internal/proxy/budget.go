package proxy

import (
	"sync/atomic"
	"time"
)

// budgetCap bounds the saved-up retries (in tokens), so a long quiet
// stretch cannot fund a retry storm later.
const budgetCap = 100

// Budget is the node-wide retry budget, a token bucket in thousandths of a
// token: each client request deposits Ratio tokens, each retry that sends
// a request to an origin again withdraws one. MinPerSecond retries per
// second are allowed even when the bucket is empty. It is lock-free and
// outlives config generations.
type Budget struct {
	ratio     atomic.Int64 // milli-tokens per request
	minPerSec atomic.Int64
	balance   atomic.Int64 // milli-tokens
	sec       atomic.Int64 // unix second of the floor window
	used      atomic.Int64 // floor retries used in that second
}

// NewBudget returns a budget with the given ratio (0 to 1) and floor.
func NewBudget(ratio float64, minPerSecond int) *Budget {
	b := &Budget{}
	b.Set(ratio, minPerSecond)
	return b
}

// Set changes the ratio and floor (on reload); the balance is kept.
func (b *Budget) Set(ratio float64, minPerSecond int) {
	b.ratio.Store(int64(ratio * 1000))
	b.minPerSec.Store(int64(minPerSecond))
}

// Deposit adds one client request's share.
func (b *Budget) Deposit() {
	r := b.ratio.Load()
	if r == 0 {
		return
	}
	if b.balance.Add(r) > budgetCap*1000 {
		b.balance.Add(-r)
	}
}

// Withdraw takes one retry from the budget; false means it is spent.
func (b *Budget) Withdraw() bool {
	for {
		v := b.balance.Load()
		if v < 1000 {
			break
		}
		if b.balance.CompareAndSwap(v, v-1000) {
			return true
		}
	}
	floor := b.minPerSec.Load()
	if floor == 0 {
		return false
	}
	now := time.Now().Unix()
	if s := b.sec.Load(); s != now && b.sec.CompareAndSwap(s, now) {
		b.used.Store(0)
	}
	if b.used.Add(1) <= floor {
		return true
	}
	return false
}
