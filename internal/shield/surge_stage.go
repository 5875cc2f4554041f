package shield

import (
	"net/http"
	"sync/atomic"
	"time"
)

// The sampled path of the surge profile takes no lock: a sample is
// counted in a staging table of atomic slots, sharded by client so that
// a botnet's one fingerprint, sent from many addresses, is not one
// contended counter; at a window's end the staged counts are folded into
// the Space-Saving profile under its lock, by one request, once. Two
// staging tables alternate: the one being folded is the one no longer
// written to. A shard's probe run being full sends the sample straight
// to the profile under the lock, as every sample went before, so the
// profile's bound and semantics do not depend on the staging's size.
const (
	stageShards = 16  // power of two
	stageSlots  = 128 // per shard, power of two
	stageProbe  = 8   // slots tried before the locked path
)

// stageSlot counts one fingerprint of a shard in a window. fp 0 is free.
type stageSlot struct {
	fp      atomic.Uint64
	count   atomic.Uint64
	clients atomic.Uint64 // client-bucket bits, as fpEntry.clients
	desc    atomic.Pointer[fpDesc]
}

type stageShard struct {
	total atomic.Uint64 // samples of the window in this shard
	_     [56]byte      // keeps total off the slots' cache line
	slots [stageSlots]stageSlot
}

// stage is one window's staged samples: 16 shards × 128 slots × 32 bytes,
// 64 KiB, whatever the traffic.
type stage struct {
	shards [stageShards]stageShard
	sat    atomic.Bool // a sample saw its pool saturated
}

func (st *stage) total() uint64 {
	var n uint64
	for i := range st.shards {
		n += st.shards[i].total.Load()
	}
	return n
}

func (st *stage) clear() {
	for i := range st.shards {
		sh := &st.shards[i]
		sh.total.Store(0)
		for j := range sh.slots {
			sl := &sh.slots[j]
			sl.fp.Store(0)
			sl.count.Store(0)
			sl.clients.Store(0)
			sl.desc.Store(nil)
		}
	}
	st.sat.Store(false)
}

func describe(r *http.Request, tls string) *fpDesc {
	return &fpDesc{Method: r.Method, Proto: r.Proto, Path: pathPattern(r.URL.Path), UserAgent: truncate(r.Header.Get("User-Agent"), 200),
		Headers: len(r.Header), TLS: truncate(tls, 100)}
}

// observe adds one sampled request and, at a window's end, looks for a
// surge. saturated says the request's pool was queueing or shedding.
func (s *Surge) observe(c *surgeCfg, fp, client uint64, r *http.Request, tls string, saturated bool, now time.Time) {
	s.maybeEndWindow(c, now)
	st := s.active.Load()
	sh := &st.shards[client>>40&(stageShards-1)]
	sh.total.Add(1)
	if saturated && !st.sat.Load() {
		st.sat.Store(true)
	}
	if fp == 0 {
		fp = 1 // 0 marks a free slot
	}
	bit := uint64(1) << (client >> 58)
	for p := uint64(0); p < stageProbe; p++ {
		sl := &sh.slots[(fp+p)&(stageSlots-1)]
		f := sl.fp.Load()
		if f == 0 {
			if sl.fp.CompareAndSwap(0, fp) {
				sl.desc.Store(describe(r, tls))
				f = fp
			} else {
				f = sl.fp.Load()
			}
		}
		if f == fp {
			sl.count.Add(1)
			if sl.clients.Load()&bit == 0 {
				sl.clients.Or(bit)
			}
			return
		}
	}
	d := describe(r, tls)
	s.mu.Lock()
	s.addLocked(fp, bit, 1, d)
	s.mu.Unlock()
}

// maybeEndWindow ends the window when it is over, or, saturated with
// plenty of samples, after a quarter of its length (a flood's rule comes
// sooner, while the clients already queued in front of the origin still
// wait). One request does it; the others go on sampling meanwhile.
func (s *Surge) maybeEndWindow(c *surgeCfg, now time.Time) {
	ws := s.winStartNS.Load()
	if ws == 0 {
		s.winStartNS.CompareAndSwap(0, now.UnixNano())
		return
	}
	el := time.Duration(now.UnixNano() - ws)
	if el < c.window/4 {
		return
	}
	st := s.active.Load()
	if el < c.window && !(st.sat.Load() && float64(st.total()) >= 4*c.minWindowSample) {
		return
	}
	if !s.mu.TryLock() {
		return
	}
	defer s.mu.Unlock()
	if s.winStartNS.Load() != ws {
		return // another request ended it
	}
	s.foldLocked(st)
	s.endWindow(c, now, el)
	s.winStartNS.Store(now.UnixNano())
}

// foldLocked makes the other staging table the one written to, and adds
// st's counts to the profile.
func (s *Surge) foldLocked(st *stage) {
	next := s.stages[0]
	if next == st {
		next = s.stages[1]
	}
	next.clear()
	s.active.Store(next)
	s.winTotal += float64(st.total())
	s.winSat = s.winSat || st.sat.Load()
	for i := range st.shards {
		sh := &st.shards[i]
		for j := range sh.slots {
			sl := &sh.slots[j]
			if fp := sl.fp.Load(); fp != 0 {
				s.addLocked(fp, sl.clients.Load(), float64(sl.count.Load()), sl.desc.Load())
			}
		}
	}
}

// addLocked counts n samples of fp into the profile (Space-Saving: past
// max_fingerprints the least counted entry makes room, and the newcomer
// inherits its count, an over-estimate, never an under-estimate).
func (s *Surge) addLocked(fp, clients uint64, n float64, d *fpDesc) {
	if n == 0 {
		return
	}
	if i, ok := s.index[fp]; ok {
		e := &s.entries[i]
		e.count += n
		e.clients |= clients
		if e.desc == (fpDesc{}) && d != nil {
			e.desc = *d
		}
		return
	}
	var desc fpDesc
	if d != nil {
		desc = *d
	}
	if len(s.entries) < s.maxFP {
		s.index[fp] = len(s.entries)
		s.entries = append(s.entries, fpEntry{fp: fp, count: n, desc: desc, clients: clients})
		return
	}
	m := 0
	for i := range s.entries {
		if s.entries[i].count < s.entries[m].count {
			m = i
		}
	}
	delete(s.index, s.entries[m].fp)
	s.index[fp] = m
	s.entries[m] = fpEntry{fp: fp, count: s.entries[m].count + n, desc: desc, clients: clients}
}
