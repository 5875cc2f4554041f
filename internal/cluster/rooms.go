package cluster

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"sync"

	"github.com/redis/go-redis/v9"

	"levee/internal/shield"
)

// Waiting rooms shared across the cluster: the store holds each room's
// active users, admitted-not-yet-back users and queue, and admits from
// the queue on its own clock; nodes push what they saw and take the view
// back every shield.RoomSyncEvery (see the shield's room_cluster.go).
const (
	keyRoomPrefix = "{levee}:room:"
	keyRoomKey    = "{levee}:room-key" // the cookie signing key every node uses
)

// roomScript merges one node's delta into a room and answers its view.
// KEYS: active (id -> last seen), admitting (id -> deadline), queue (id ->
// arrival), seen (queued id -> last poll), bucket (admission tokens),
// members. All times are the store's, in ms, except arrivals (the
// visitor's first request, from her signed cookie).
var roomScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cap, apm, session, refresh, maxq = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local na, nt, samples = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - session)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local stale = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now - 4 * refresh, 'LIMIT', 0, 10000)
for _, id in ipairs(stale) do
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
end
local i = 9
for k = 1, na do
  local id = ARGV[i]
  i = i + 1
  redis.call('ZADD', KEYS[1], now, id)
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  redis.call('ZREM', KEYS[4], id)
end
local tickets = {}
for k = 1, nt do
  local arr, id = ARGV[i], ARGV[i + 1]
  i = i + 2
  tickets[#tickets + 1] = id
  if not redis.call('ZSCORE', KEYS[1], id) and not redis.call('ZSCORE', KEYS[2], id) then
    if redis.call('ZSCORE', KEYS[3], id) or redis.call('ZCARD', KEYS[3]) < maxq then
      redis.call('ZADD', KEYS[3], 'NX', arr, id)
      redis.call('ZADD', KEYS[4], now, id)
    end
  end
end
local rate = apm / 60000
local burst = math.max(1, apm * refresh / 60000)
local b = redis.call('HMGET', KEYS[5], 'tokens', 'last')
local tokens = tonumber(b[1]) or burst
local last = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local free = cap - redis.call('ZCARD', KEYS[1]) - redis.call('ZCARD', KEYS[2])
local n = math.min(free, math.floor(tokens), redis.call('ZCARD', KEYS[3]))
if n > 0 then
  local heads = redis.call('ZPOPMIN', KEYS[3], n)
  for j = 1, #heads, 2 do
    redis.call('ZADD', KEYS[2], now + 3 * refresh, heads[j])
    redis.call('ZREM', KEYS[4], heads[j])
  end
  tokens = tokens - n
end
redis.call('HSET', KEYS[5], 'tokens', tostring(tokens), 'last', tostring(now))
local admitted, ranks = {}, {}
for _, id in ipairs(tickets) do
  if redis.call('ZSCORE', KEYS[2], id) or redis.call('ZSCORE', KEYS[1], id) then
    admitted[#admitted + 1] = id
  else
    local r = redis.call('ZRANK', KEYS[3], id)
    if r then
      ranks[#ranks + 1] = id
      ranks[#ranks + 1] = r
    end
  end
end
local queued = redis.call('ZCARD', KEYS[3])
local step = math.max(1, math.ceil(queued / samples))
local sample = {}
for j = 0, queued - 1, step do
  local e = redis.call('ZRANGE', KEYS[3], j, j, 'WITHSCORES')
  sample[#sample + 1] = e[1]
  sample[#sample + 1] = e[2]
end
local ttl = 2 * math.max(session, 8 * refresh)
for k = 1, 5 do
  redis.call('PEXPIRE', KEYS[k], ttl)
end
local active = redis.call('ZCARD', KEYS[1]) + redis.call('ZCARD', KEYS[2])
local members = redis.call('ZCOUNT', KEYS[6], now, '+inf')
return {active, queued, members, step, admitted, ranks, sample}
`)

// roomSync is the cluster's shield.RoomSyncer.
type roomSync struct {
	c *Capability

	mu     sync.Mutex
	key    []byte
	keyFor *runner // the key belongs to this connection's store
}

// Rooms returns the waiting-room synchroniser the shield uses.
func (c *Capability) Rooms() shield.RoomSyncer { return c.rooms }

func (rs *roomSync) current() *runner {
	rs.c.mu.Lock()
	defer rs.c.mu.Unlock()
	return rs.c.run
}

// RoomKey implements shield.RoomSyncer.
func (rs *roomSync) RoomKey() []byte {
	r := rs.current()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if r == nil || rs.keyFor != r {
		return nil
	}
	return rs.key
}

// SyncRoom implements shield.RoomSyncer: one script call, under the store's
// timeout and breaker.
func (rs *roomSync) SyncRoom(name string, d shield.RoomDelta) (shield.RoomView, error) {
	r := rs.current()
	if r == nil {
		return shield.RoomView{}, shield.ErrNoCluster
	}
	rs.fetchKey(r)
	cfg := d.Config
	args := make([]any, 0, 8+len(d.Active)+2*len(d.Tickets))
	args = append(args, cfg.Capacity, cfg.AdmitPerMinute, cfg.Session.Milliseconds(), cfg.Refresh.Milliseconds(),
		cfg.MaxQueue, len(d.Active), len(d.Tickets), shieldRoomSamples)
	for _, id := range d.Active {
		args = append(args, id)
	}
	for _, t := range d.Tickets {
		args = append(args, t.Arrival, t.ID)
	}
	p := keyRoomPrefix + name + ":"
	keys := []string{p + "active", p + "admitting", p + "queue", p + "seen", p + "bucket", keyMembers}
	var res []any
	err := r.st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		var err error
		res, err = roomScript.Run(ctx, rdb, keys, args...).Slice()
		return err
	})
	if err != nil {
		r.c.m.storeErrors.Inc()
		return shield.RoomView{}, err
	}
	return parseRoomView(res)
}

// shieldRoomSamples is how many queue entries the view samples (the
// shield's accuracy note on positions quotes it).
const shieldRoomSamples = 128

// fetchKey gets the cluster's cookie key, proposing a fresh one if the
// store has none; the first node's proposal wins.
func (rs *roomSync) fetchKey(r *runner) {
	rs.mu.Lock()
	known := rs.keyFor == r && rs.key != nil
	rs.mu.Unlock()
	if known {
		return
	}
	fresh := make([]byte, 32)
	if _, err := rand.Read(fresh); err != nil {
		return
	}
	var got []byte
	err := r.st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		if err := rdb.SetNX(ctx, keyRoomKey, fresh, 0).Err(); err != nil {
			return err
		}
		var err error
		got, err = rdb.Get(ctx, keyRoomKey).Bytes()
		return err
	})
	if err != nil || len(got) != 32 {
		return
	}
	rs.mu.Lock()
	rs.key, rs.keyFor = got, r
	rs.mu.Unlock()
}

func parseRoomView(res []any) (shield.RoomView, error) {
	bad := func(what string) (shield.RoomView, error) {
		return shield.RoomView{}, fmt.Errorf("cluster: waiting room: unexpected %s from the store", what)
	}
	if len(res) != 7 {
		return bad("answer")
	}
	ints := make([]int64, 4)
	for i := range ints {
		n, ok := res[i].(int64)
		if !ok {
			return bad("count")
		}
		ints[i] = n
	}
	v := shield.RoomView{Active: int(ints[0]), Queued: int(ints[1]), Members: max(1, int(ints[2])), Step: int(max(1, ints[3])),
		Ranks: map[string]int{}}
	adm, _ := res[4].([]any)
	for _, a := range adm {
		if s, ok := a.(string); ok {
			v.Admitted = append(v.Admitted, s)
		}
	}
	ranks, _ := res[5].([]any)
	for i := 0; i+1 < len(ranks); i += 2 {
		id, _ := ranks[i].(string)
		n, ok := ranks[i+1].(int64)
		if !ok {
			return bad("rank")
		}
		v.Ranks[id] = int(n)
	}
	sample, _ := res[6].([]any)
	for i := 0; i+1 < len(sample); i += 2 {
		id, _ := sample[i].(string)
		sc, _ := sample[i+1].(string)
		f, err := strconv.ParseFloat(sc, 64)
		if err != nil {
			return bad("queue sample")
		}
		v.Samples = append(v.Samples, shield.RoomTicket{Arrival: int64(f), ID: id})
	}
	return v, nil
}
