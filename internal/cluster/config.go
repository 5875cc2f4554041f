package cluster

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"levee/internal/config/schema"
)

// Cluster defaults and bounds. The README quotes them.
const (
	DefaultHeartbeat       = time.Second
	DefaultMemberTTL       = 5 * time.Second
	DefaultTimeout         = 100 * time.Millisecond
	DefaultPurgeRetention  = 10_000
	MaxPurgeRetention      = 1_000_000
	MaxTimeout             = 5 * time.Second
	MinHeartbeat           = 50 * time.Millisecond
	MaxNodeNameLen         = 128
	DefaultBreakerFailures = 3
	DefaultBreakerCooldown = time.Second
)

// Config is the top-level cluster: section. With redis set, the node
// joins the cluster of every node pointed at the same store: members,
// purges and cluster-scoped rate limits are shared. The store is an
// optimisation, never a dependency: while it is down, slow or
// unreachable, the node serves on its own state. Off unless redis is set.
type Config struct {
	// Redis is the store: redis://HOST:PORT/DB, or rediss:// for TLS.
	// Redis and Valkey both work. A password in the URL is refused: use
	// password_file or password_env.
	Redis string `yaml:"redis"`
	// Sentinel finds the master through Redis Sentinel (instead of
	// redis:, or use a redis-sentinel:// URL there).
	Sentinel SentinelConfig `yaml:"sentinel"`
	// Node is this node's name in the cluster; unique per node. Default:
	// the host name.
	Node string `yaml:"node"`
	// PasswordFile is a file holding the store's password (first line).
	PasswordFile string `yaml:"password_file"`
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string `yaml:"password_env"`
	// SentinelPasswordFile is a file holding the sentinels' own password
	// (their requirepass; first line), when they have one.
	SentinelPasswordFile string `yaml:"sentinel_password_file"`
	// SentinelPasswordEnv names an environment variable holding it.
	SentinelPasswordEnv string `yaml:"sentinel_password_env"`
	// Username is the store's ACL user, if any (not a secret).
	Username string `yaml:"username"`
	// TLS configures TLS to the store (also on with a rediss:// URL).
	TLS TLSConfig `yaml:"tls"`
	// Advertise is the URL the other nodes reach this node's HTTP
	// listener at, e.g. http://10.0.0.7:8080. Set, it turns the tiered
	// cache on: a cache fill first asks the object's upper-tier node
	// (rendezvous hashing over the live members that advertise), which
	// coalesces, so the origin sees about one fetch per object per
	// cluster. Default empty: no tier.
	Advertise string `yaml:"advertise"`
	// Heartbeat is how often the node announces itself. Default 1s.
	Heartbeat schema.Duration `yaml:"heartbeat"`
	// MemberTTL is how long a member stays listed after its last
	// heartbeat. Default 5s; more than heartbeat.
	MemberTTL schema.Duration `yaml:"member_ttl"`
	// Timeout bounds every store call. Default 100ms, at most 5s.
	Timeout schema.Duration `yaml:"timeout"`
	// PurgeRetention is how many purges the store keeps for nodes that
	// were away. A node that missed more marks its whole cache stale.
	// Default 10000, at most 1000000.
	PurgeRetention int `yaml:"purge_retention"`
	// Rollout is how a version pushed with `levee cluster push` spreads:
	// canaries, a share, then every member, with a bake between stages.
	Rollout RolloutConfig `yaml:"rollout"`
}

// TLSConfig is TLS to the store.
type TLSConfig struct {
	// Enabled turns TLS on (a rediss:// URL does too).
	Enabled bool `yaml:"enabled"`
	// CA is a PEM file of the CA that signs the store's certificate;
	// default the system roots.
	CA string `yaml:"ca"`
	// ServerName overrides the name checked in the store's certificate.
	ServerName string `yaml:"server_name"`
}

// On reports whether the node is in a cluster.
func (c *Config) On() bool {
	return c.Redis != "" || c.Sentinel.Master != "" || len(c.Sentinel.Addrs) > 0
}

// SetDefaults fills in unset fields.
func (c *Config) SetDefaults() {
	if c.Heartbeat == 0 {
		c.Heartbeat = schema.Duration(DefaultHeartbeat)
	}
	if c.MemberTTL == 0 {
		c.MemberTTL = schema.Duration(DefaultMemberTTL)
	}
	if c.Timeout == 0 {
		c.Timeout = schema.Duration(DefaultTimeout)
	}
	if c.PurgeRetention == 0 {
		c.PurgeRetention = DefaultPurgeRetention
	}
	c.Rollout.SetDefaults()
}

// Validate adds the section's errors to l.
func (c *Config) Validate(l *schema.List) {
	if !c.On() {
		return
	}
	validateAddress(c, l)
	if c.Advertise != "" {
		if a, err := url.Parse(c.Advertise); err != nil || a.Scheme != "http" || a.Host == "" || (a.Path != "" && a.Path != "/") {
			l.Add("cluster.advertise", "%q: want http://HOST:PORT", c.Advertise)
		}
	}
	if len(c.Node) > MaxNodeNameLen || strings.ContainsAny(c.Node, " \t\r\n") {
		l.Add("cluster.node", "%q: want at most %d characters and no spaces", c.Node, MaxNodeNameLen)
	}
	if c.PasswordFile != "" && c.PasswordEnv != "" {
		l.Add("cluster.password_file", "give password_file or password_env, not both")
	}
	if c.PasswordFile != "" && !filepath.IsAbs(c.PasswordFile) {
		l.Add("cluster.password_file", "%q must be an absolute path", c.PasswordFile)
	}
	if c.SentinelPasswordFile != "" && c.SentinelPasswordEnv != "" {
		l.Add("cluster.sentinel_password_file", "give sentinel_password_file or sentinel_password_env, not both")
	}
	if c.SentinelPasswordFile != "" && !filepath.IsAbs(c.SentinelPasswordFile) {
		l.Add("cluster.sentinel_password_file", "%q must be an absolute path", c.SentinelPasswordFile)
	}
	if c.Heartbeat.D() < MinHeartbeat {
		l.Add("cluster.heartbeat", "under the minimum of %s", MinHeartbeat)
	}
	if c.MemberTTL.D() <= c.Heartbeat.D() {
		l.Add("cluster.member_ttl", "must be longer than cluster.heartbeat (%s)", c.Heartbeat.D())
	}
	if c.Timeout.D() <= 0 || c.Timeout.D() > MaxTimeout {
		l.Add("cluster.timeout", "want above 0 and at most %s", MaxTimeout)
	}
	if c.PurgeRetention < 1 || c.PurgeRetention > MaxPurgeRetention {
		l.Add("cluster.purge_retention", "want 1 to %d", MaxPurgeRetention)
	}
	c.Rollout.Validate(l)
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// password reads the store's password from where the config says.
func (c *Config) password(getenv func(string) string, readFile func(string) ([]byte, error)) (string, error) {
	return secret("cluster.password", c.PasswordEnv, c.PasswordFile, getenv, readFile)
}

// sentinelPassword reads the sentinels' own password.
func (c *Config) sentinelPassword(getenv func(string) string, readFile func(string) ([]byte, error)) (string, error) {
	return secret("cluster.sentinel_password", c.SentinelPasswordEnv, c.SentinelPasswordFile, getenv, readFile)
}

// secret is the value of env, or the first line of file.
func secret(key, env, file string, getenv func(string) string, readFile func(string) ([]byte, error)) (string, error) {
	switch {
	case env != "":
		v := getenv(env)
		if v == "" {
			return "", fmt.Errorf("%s_env: %s is empty or unset", key, env)
		}
		return v, nil
	case file != "":
		b, err := readFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_file: %v", key, err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		return strings.TrimRight(line, "\r"), nil
	}
	return "", nil
}
