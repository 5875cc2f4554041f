package dns

import (
	"net/netip"
	"sync"
	"time"

	"levee/internal/config/schema"
)

// rrlAction is what RRL does with one response.
type rrlAction uint8

const (
	rrlSend rrlAction = iota
	rrlDrop
	rrlSlip
)

// rrl is response rate limiting (the BIND/Knot idea): responses to one
// client prefix, of one kind (positive, negative, error), are allowed at a
// rate with a one-second burst; past it they are dropped, except every
// slip-th which goes out truncated so a real client retries over TCP while
// a spoofed victim gets no amplification. The table is a fixed array: a
// prefix hashing to a slot held by another takes it over (counted), so
// memory is bounded whatever the traffic.
type rrl struct {
	interval  int64 // ns per response
	burst     int64 // ns of credit
	slip      uint32
	v4, v6    int
	allow     []netip.Prefix
	loopback  bool
	entries   []rrlEntry
	mask      uint64
	locks     [64]sync.Mutex
	evictions func()
}

type rrlEntry struct {
	key   [2]uint64
	class uint8
	used  bool
	tat   int64 // theoretical arrival time (GCRA)
	slips uint32
}

func newRRL(c *RRLConfig, evictions func()) *rrl {
	if !*c.Enabled {
		return nil
	}
	size := 1
	for size < c.TableSize {
		size <<= 1
	}
	r := &rrl{interval: int64(time.Second) / int64(c.Rate), burst: int64(time.Second), slip: uint32(c.Slip),
		v4: c.IPv4Prefix, v6: c.IPv6Prefix, loopback: *c.ExemptLoopback,
		entries: make([]rrlEntry, size), mask: uint64(size - 1), evictions: evictions}
	for _, s := range c.Allow {
		if p, err := schema.ParsePrefix(s); err == nil {
			r.allow = append(r.allow, p)
		}
	}
	return r
}

// check decides the fate of one response of class to client, now.
func (r *rrl) check(client netip.Addr, class uint8) rrlAction {
	client = client.Unmap()
	if !client.IsValid() || r.loopback && client.IsLoopback() || containsAddr(r.allow, client) {
		return rrlSend
	}
	return r.limit(client, class, time.Now().UnixNano())
}

// limit applies the rate to a client that is not exempt, at now (ns).
func (r *rrl) limit(client netip.Addr, class uint8, now int64) rrlAction {
	key := r.prefixKey(client)
	h := (key[0]*0x9E3779B97F4A7C15 ^ key[1]*0xC2B2AE3D27D4EB4F ^ uint64(class)*0x165667B19E3779F9)
	h ^= h >> 29
	i := h & r.mask
	mu := &r.locks[i%uint64(len(r.locks))]
	mu.Lock()
	defer mu.Unlock()
	e := &r.entries[i]
	if !e.used || e.key != key || e.class != class {
		if e.used {
			r.evictions()
		}
		*e = rrlEntry{key: key, class: class, used: true, tat: now}
	}
	tat := max(e.tat, now)
	if tat-now > r.burst {
		e.slips++
		if r.slip > 0 && e.slips%r.slip == 0 {
			return rrlSlip
		}
		return rrlDrop
	}
	e.tat = tat + r.interval
	return rrlSend
}

func (r *rrl) prefixKey(a netip.Addr) [2]uint64 {
	if a.Is4() {
		p, _ := a.Prefix(r.v4)
		b := p.Addr().As4()
		return [2]uint64{uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3]), 1 << 63}
	}
	p, _ := a.Prefix(r.v6)
	b := p.Addr().As16()
	var k [2]uint64
	for i := 0; i < 8; i++ {
		k[0] = k[0]<<8 | uint64(b[i])
		k[1] = k[1]<<8 | uint64(b[8+i])
	}
	return k
}
