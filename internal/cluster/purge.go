package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"levee/internal/atomicfile"
	"levee/internal/cache"
)

// Purger is what the cluster needs of the cache: hear of local purges,
// apply remote ones. *cache.Capability is one.
type Purger interface {
	OnPurge(func(cache.Purge))
	ApplyRemotePurge(cache.Purge) (int, error)
}

// MaxOutbox bounds the purges waiting to be published while the store is
// away; past it a purge is dropped, counted and logged.
const MaxOutbox = 10_000

// replayBatch is how many stream entries one catch-up read takes.
const replayBatch = 500

// maxReplayBatches bounds one catch-up pass (the next tick goes on).
const maxReplayBatches = 100

// publishScript numbers a purge, appends it to the bounded stream and
// announces it on pub/sub, atomically, so the numbers follow stream order
// and a gap in them is a purge the stream no longer holds.
var publishScript = redis.NewScript(`
local seq = redis.call('INCR', KEYS[1])
local id = redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[3], '*', 'seq', seq, 'node', ARGV[1], 'purge', ARGV[2])
redis.call('PUBLISH', ARGV[4], seq .. ' ' .. id .. ' ' .. ARGV[1] .. ' ' .. ARGV[2])
return seq
`)

// purgeEntry is one purge as the store carries it.
type purgeEntry struct {
	seq  uint64
	id   string
	node string
	p    cache.Purge
}

// cursor is how far this node has applied the cluster's purges; it is
// kept in the data directory so a node that restarts replays what it
// missed.
type cursor struct {
	Store string `json:"store"` // the store it refers to (host and db)
	Seq   uint64 `json:"seq"`
	ID    string `json:"id"`
}

// purges applies the cluster's purges in order, exactly once each.
type purges struct {
	me     string
	target Purger
	m      *metrics
	path   string // cursor file; "" keeps none
	store  string

	mu    sync.Mutex // serialises apply and catch-up
	cur   cursor
	known bool // cur is positioned (from the file or the store)
	dirty bool
}

func newPurges(me string, target Purger, m *metrics, dataDir, storeID string) *purges {
	p := &purges{me: me, target: target, m: m, store: storeID}
	if dataDir != "" {
		p.path = filepath.Join(dataDir, "cluster-purge-cursor.json")
		if b, err := os.ReadFile(p.path); err == nil {
			var c cursor
			if json.Unmarshal(b, &c) == nil && c.Store == storeID {
				p.cur, p.known = c, true
			}
		}
	}
	return p
}

// publish sends one local purge to the other nodes.
func publish(st *store, me string, retention int, p cache.Purge) error {
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		return publishScript.Run(ctx, rdb, []string{keyPurgeSeq, keyPurges}, me, body, retention, chanPurges).Err()
	})
}

// onMessage handles a pub/sub announcement: the next purge in order is
// applied at once; one out of order sends the node to the stream.
func (ps *purges) onMessage(st *store, payload string) {
	e, ok := parseAnnouncement(payload)
	if !ok {
		ps.m.purgeErrors.Inc()
		return
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	switch {
	case ps.known && e.seq <= ps.cur.Seq:
		return // already applied
	case ps.known && e.seq == ps.cur.Seq+1:
		ps.apply(e)
	default:
		ps.catchUpLocked(st)
	}
}

// catchUp reads what the node missed from the stream (each tick, and when
// the store comes back).
func (ps *purges) catchUp(st *store) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.catchUpLocked(st)
}

func (ps *purges) catchUpLocked(st *store) {
	var head uint64
	var lastID string
	err := st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		n, err := rdb.Get(ctx, keyPurgeSeq).Uint64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		head = n
		last, err := rdb.XRevRangeN(ctx, keyPurges, "+", "-", 1).Result()
		if len(last) == 1 {
			lastID = last[0].ID
		}
		return err
	})
	if err != nil {
		return
	}
	switch {
	case !ps.known:
		// First time in this cluster: nothing to replay, start at its head.
		ps.cur, ps.known, ps.dirty = cursor{Store: ps.store, Seq: head, ID: lastID}, true, true
		return
	case head < ps.cur.Seq:
		// The store lost its purges (flushed or replaced): what happened
		// meanwhile is unknown, so everything cached is suspect.
		ps.markStale("the store's purge count went back")
		ps.cur, ps.dirty = cursor{Store: ps.store, Seq: head, ID: lastID}, true
		return
	case head == ps.cur.Seq:
		return
	}
	from := "-"
	if ps.cur.ID != "" {
		from = "(" + ps.cur.ID
	}
	for range maxReplayBatches {
		var msgs []redis.XMessage
		err := st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
			var err error
			msgs, err = rdb.XRangeN(ctx, keyPurges, from, "+", replayBatch).Result()
			return err
		})
		if err != nil || len(msgs) == 0 {
			if err == nil && ps.cur.Seq < head {
				// Everything after the cursor was trimmed away.
				ps.markStale("missed more purges than the store keeps")
				ps.cur, ps.dirty = cursor{Store: ps.store, Seq: head, ID: lastID}, true
			}
			return
		}
		for _, msg := range msgs {
			e, ok := parseEntry(msg)
			if !ok {
				ps.m.purgeErrors.Inc()
				continue
			}
			if e.seq <= ps.cur.Seq {
				continue
			}
			if e.seq > ps.cur.Seq+1 {
				ps.markStale("missed more purges than the store keeps")
			}
			ps.m.purgeReplayed.Inc()
			ps.apply(e)
		}
		from = "(" + msgs[len(msgs)-1].ID
	}
}

// apply runs e on the local cache (unless this node sent it) and moves
// the cursor; ps.mu is held.
func (ps *purges) apply(e purgeEntry) {
	if e.node != ps.me {
		if _, err := ps.target.ApplyRemotePurge(e.p); err != nil {
			ps.m.purgeErrors.Inc()
		} else {
			ps.m.purgeApplied.Inc()
		}
	}
	ps.cur, ps.dirty = cursor{Store: ps.store, Seq: e.seq, ID: e.id}, true
}

// markStale marks every cached object stale: the safe answer when purges
// were lost. ps.mu is held.
func (ps *purges) markStale(why string) {
	ps.m.staleAll.Inc()
	ps.m.log.Warn("cluster: marking the whole cache stale", "why", why)
	if _, err := ps.target.ApplyRemotePurge(cache.Purge{All: true, Soft: true}); err != nil {
		ps.m.purgeErrors.Inc()
	}
}

// save writes the cursor if it moved.
func (ps *purges) save() {
	ps.mu.Lock()
	c, dirty := ps.cur, ps.dirty
	ps.dirty = false
	ps.mu.Unlock()
	if !dirty || ps.path == "" {
		return
	}
	b, _ := json.Marshal(c)
	if err := atomicfile.Write(ps.path, b, 0o600); err != nil {
		ps.m.log.Warn("cluster: cannot save the purge cursor", "err", err)
	}
}

// Seq returns the number of the last purge applied.
func (ps *purges) seq() uint64 {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.cur.Seq
}

// parseAnnouncement reads "SEQ ID NODE JSON".
func parseAnnouncement(s string) (purgeEntry, bool) {
	parts := strings.SplitN(s, " ", 4)
	if len(parts) != 4 {
		return purgeEntry{}, false
	}
	seq, err := strconv.ParseUint(parts[0], 10, 64)
	if err != nil {
		return purgeEntry{}, false
	}
	e := purgeEntry{seq: seq, id: parts[1], node: parts[2]}
	if json.Unmarshal([]byte(parts[3]), &e.p) != nil {
		return purgeEntry{}, false
	}
	return e, true
}

func parseEntry(m redis.XMessage) (purgeEntry, bool) {
	s, _ := m.Values["seq"].(string)
	node, _ := m.Values["node"].(string)
	body, _ := m.Values["purge"].(string)
	seq, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return purgeEntry{}, false
	}
	e := purgeEntry{seq: seq, id: m.ID, node: node}
	if json.Unmarshal([]byte(body), &e.p) != nil {
		return purgeEntry{}, false
	}
	return e, true
}
