package cluster

import (
	"context"
	"encoding/json"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"
)

// Store keys. The hash tag keeps every key in one slot, so the scripts
// also run on a Redis Cluster.
const (
	keyMembers    = "{levee}:members"     // zset: node -> expiry (ms, store clock)
	keyMemberInfo = "{levee}:member-info" // hash: node -> Member JSON
	keyPurgeSeq   = "{levee}:purge-seq"
	keyPurges     = "{levee}:purges" // stream of purges, bounded
	chanPurges    = "levee:purges"   // pub/sub: the fast path of purges
	keyRatePrefix = "{levee}:rate:"
)

// Member is one node as the cluster sees it.
type Member struct {
	Name          string    `json:"name"`
	Version       string    `json:"version"`
	ConfigVersion string    `json:"config_version"`
	Health        string    `json:"health"`
	Advertise     string    `json:"advertise,omitempty"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
}

// heartbeatScript announces a member until now+ttl (store clock, so the
// nodes' clocks need not agree), drops members past their expiry and
// returns the live ones: name, info, name, info...
var heartbeatScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
for _, m in ipairs(gone) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('HDEL', KEYS[2], m)
end
local live = redis.call('ZRANGE', KEYS[1], 0, 999)
local out = {}
for _, m in ipairs(live) do
  out[#out + 1] = m
  out[#out + 1] = redis.call('HGET', KEYS[2], m) or ''
end
return out
`)

// heartbeat announces me and returns the live members, sorted by name.
func heartbeat(st *store, me Member, ttl time.Duration) ([]Member, error) {
	me.LastHeartbeat = time.Now().UTC()
	info, _ := json.Marshal(me)
	var res []any
	err := st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		v, err := heartbeatScript.Run(ctx, rdb, []string{keyMembers, keyMemberInfo}, me.Name, ttl.Milliseconds(), info).Slice()
		res = v
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Member, 0, len(res)/2)
	for i := 0; i+1 < len(res); i += 2 {
		name, _ := res[i].(string)
		m := Member{Name: name}
		if s, _ := res[i+1].(string); s != "" {
			_ = json.Unmarshal([]byte(s), &m)
			m.Name = name
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// leave removes me from the members at once (a clean shutdown), so the
// others need not wait for the TTL.
func leave(st *store, name string) {
	_ = st.do(func(ctx context.Context, rdb redis.UniversalClient) error {
		p := rdb.TxPipeline()
		p.ZRem(ctx, keyMembers, name)
		p.HDel(ctx, keyMemberInfo, name)
		_, err := p.Exec(ctx)
		return err
	})
}
