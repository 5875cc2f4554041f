package cluster

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"levee/internal/config/schema"
)

// SentinelConfig points the node at a master through Redis Sentinel, the
// YAML form of redis-sentinel://HOST:PORT,HOST:PORT/MASTER/DB.
type SentinelConfig struct {
	// Master is the name the sentinels monitor.
	Master string `yaml:"master"`
	// Addrs are the sentinels, HOST:PORT each.
	Addrs []string `yaml:"addrs"`
	// DB is the database number. Default 0.
	DB int `yaml:"db"`
	// TLS turns TLS on to the sentinels and the master.
	TLS bool `yaml:"tls"`
}

// address is where the store is: one server, a master behind sentinels,
// or a Redis Cluster (every key levee uses shares one hash slot).
type address struct {
	kind   string // "server", "sentinel", "cluster"
	tls    bool
	hosts  []string
	master string
	db     int
	url    string // "server": the URL, for the client's own parser
	// sentinelPassword is the sentinels' own (not the master's).
	sentinelPassword string
}

// Address schemes of cluster.redis.
const (
	schemeSentinel    = "redis-sentinel"
	schemeSentinelTLS = "rediss-sentinel"
	schemeCluster     = "redis-cluster"
	schemeClusterTLS  = "rediss-cluster"
)

// parseAddress reads cluster.redis or cluster.sentinel. Its errors name
// the key they are about (the caller adds them to the validation list).
func parseAddress(c *Config) (address, map[string][]string) {
	bad := map[string][]string{}
	add := func(k, msg string) { bad[k] = append(bad[k], msg) }
	if c.Sentinel.Master != "" || len(c.Sentinel.Addrs) > 0 {
		if c.Redis != "" {
			add("cluster.sentinel", "give cluster.redis or cluster.sentinel, not both")
		}
		if c.Sentinel.Master == "" {
			add("cluster.sentinel.master", "required: the master's name the sentinels monitor")
		}
		if len(c.Sentinel.Addrs) == 0 {
			add("cluster.sentinel.addrs", "required: the sentinels, HOST:PORT each")
		}
		for _, h := range c.Sentinel.Addrs {
			if !hostPort(h) {
				add("cluster.sentinel.addrs", fmt.Sprintf("%q: want HOST:PORT", h))
			}
		}
		if c.Sentinel.DB < 0 {
			add("cluster.sentinel.db", "must be 0 or more")
		}
		return address{kind: "sentinel", tls: c.Sentinel.TLS, hosts: c.Sentinel.Addrs, master: c.Sentinel.Master, db: c.Sentinel.DB}, bad
	}
	scheme, rest, ok := strings.Cut(c.Redis, "://")
	if !ok {
		add("cluster.redis", fmt.Sprintf("%q: want redis://HOST:PORT/DB, rediss://, redis-sentinel://HOST:PORT,.../MASTER/DB or redis-cluster://HOST:PORT,...", c.Redis))
		return address{}, bad
	}
	hostPart, path, _ := strings.Cut(rest, "/")
	if at := strings.LastIndex(hostPart, "@"); at >= 0 {
		if strings.Contains(hostPart[:at], ":") {
			add("cluster.redis", "a password in the URL is refused: use cluster.password_file or cluster.password_env")
		}
		if scheme != "redis" && scheme != "rediss" && !strings.Contains(hostPart[:at], ":") {
			add("cluster.redis", "a user in the URL is refused here: use cluster.username")
			return address{}, bad
		}
		hostPart = hostPart[at+1:]
	}
	switch scheme {
	case "redis", "rediss":
		u, err := url.Parse(c.Redis)
		switch {
		case err != nil:
			add("cluster.redis", fmt.Sprintf("%q is not a URL: %v", c.Redis, err))
		case u.Host == "":
			add("cluster.redis", fmt.Sprintf("%q has no host", c.Redis))
		default:
			if db := strings.Trim(u.Path, "/"); db != "" && !isDigits(db) {
				add("cluster.redis", fmt.Sprintf("database %q must be a number", db))
			}
		}
		return address{kind: "server", tls: scheme == "rediss", url: c.Redis, hosts: []string{hostPart}}, bad
	case schemeSentinel, schemeSentinelTLS, schemeCluster, schemeClusterTLS:
	default:
		add("cluster.redis", fmt.Sprintf("%q: want redis://HOST:PORT/DB, rediss://, redis-sentinel://HOST:PORT,.../MASTER/DB or redis-cluster://HOST:PORT,...", c.Redis))
		return address{}, bad
	}
	a := address{tls: strings.HasPrefix(scheme, "rediss"), hosts: strings.Split(hostPart, ",")}
	for _, h := range a.hosts {
		if !hostPort(h) {
			add("cluster.redis", fmt.Sprintf("%q: want HOST:PORT", h))
		}
	}
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if strings.HasSuffix(scheme, "cluster") {
		a.kind = "cluster"
		if strings.Trim(path, "/") != "" {
			add("cluster.redis", "a Redis Cluster has only database 0: give no path")
		}
		return a, bad
	}
	a.kind, a.master = "sentinel", segs[0]
	if a.master == "" {
		add("cluster.redis", "want redis-sentinel://HOST:PORT,.../MASTER/DB: the master's name is missing")
	}
	if len(segs) > 1 {
		db, err := strconv.Atoi(segs[1])
		if err != nil || db < 0 || len(segs) > 2 {
			add("cluster.redis", fmt.Sprintf("database %q must be a number", strings.Join(segs[1:], "/")))
		}
		a.db = db
	}
	return a, bad
}

func hostPort(s string) bool {
	h, p, err := net.SplitHostPort(s)
	if err != nil || h == "" {
		return false
	}
	n, err := strconv.Atoi(p)
	return err == nil && n > 0 && n < 65536
}

// validateAddress adds the address's problems to l, in a stable order.
func validateAddress(c *Config, l *schema.List) {
	_, bad := parseAddress(c)
	for _, k := range []string{"cluster.redis", "cluster.sentinel", "cluster.sentinel.master", "cluster.sentinel.addrs", "cluster.sentinel.db"} {
		for _, msg := range bad[k] {
			l.Add(k, "%s", msg)
		}
	}
}

// id names the store (hosts, master and database, no secrets), so a purge
// cursor saved for one store is not applied to another.
func (a address) id() string {
	return a.kind + ":" + strings.Join(a.hosts, ",") + "/" + a.master + "/" + strconv.Itoa(a.db)
}

// newClient makes the client for the address from the common options
// (password, TLS, timeouts, pool) in o.
func (a address) newClient(o *redis.Options) redis.UniversalClient {
	switch a.kind {
	case "sentinel":
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: a.master, SentinelAddrs: a.hosts, DB: a.db, SentinelPassword: a.sentinelPassword,
			Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout, PoolTimeout: o.PoolTimeout,
			MaxRetries: o.MaxRetries, PoolSize: o.PoolSize, MinIdleConns: o.MinIdleConns,
			ContextTimeoutEnabled: o.ContextTimeoutEnabled, DisableIdentity: o.DisableIdentity,
		})
	case "cluster":
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: a.hosts, Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig,
			DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout, PoolTimeout: o.PoolTimeout,
			MaxRetries: o.MaxRetries, PoolSize: o.PoolSize, MinIdleConns: o.MinIdleConns,
			ContextTimeoutEnabled: o.ContextTimeoutEnabled, DisableIdentity: o.DisableIdentity,
		})
	}
	return redis.NewClient(o)
}
