package shield

import (
	"fmt"
	"levee/internal/config/schema"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Shield bounds. Over any of them the config is rejected.
const (
	MaxRules        = 256
	MaxKeyParts     = 4
	MaxKeysCap      = 10_000_000 // upper bound of shield.max_keys
	MaxListEntries  = 1_000_000  // upper bound of shield.lists.max_entries
	MaxWaitingRooms = 256
	MaxKeepEntries  = 256
)

// Shield defaults.
const (
	DefaultMaxKeys                    = 100_000
	DefaultListMaxEntries             = 100_000
	DefaultListMaxBytes               = 4 << 20
	DefaultAttackFactor               = 0.2
	DefaultH2MaxResetsPerSecond       = 100
	DefaultMinRateWindow              = 10 * time.Second
	DefaultAdmissionMinLimit          = 8
	DefaultAdmissionMaxLimit          = 1000
	DefaultAdmissionInitialLimit      = 32
	DefaultAdmissionKeepReserve       = 0.2
	DefaultAdmissionMaxWait           = time.Second
	DefaultAdmissionMaxQueue          = 4096
	DefaultAdmissionMaxQueuePerClient = 256
	DefaultRoomRefresh                = 5 * time.Second
	DefaultRoomSession                = 10 * time.Minute
	DefaultRoomMaxQueue               = 100_000
	DefaultRoomCookie                 = "levee_wr"
	// DefaultSurgeMaxFingerprints bounds the traffic profile.
	DefaultSurgeMaxFingerprints = 256
	MaxSurgeRules               = 256
)

// Config is the top-level shield: section: rate limits, connection
// limits, allow/deny lists, adaptive admission, the overload guard and
// waiting rooms. All of it is off unless configured.
type Config struct {
	// Enabled is the shield's kill switch in config: false removes every
	// shield phase. Default true. At run time POST /shield/kill does the
	// same without a reload.
	Enabled *bool `yaml:"enabled"`
	// Disable names shield sub-phases to skip: lists, ratelimit,
	// admission, overload, waitingroom.
	Disable []string `yaml:"disable"`
	// MaxKeys bounds each rate-limit rule's key table. Default 100000, at
	// most 10000000. Past it the least useful entries are evicted and
	// counted in levee_shield_evictions_total.
	MaxKeys int `yaml:"max_keys"`
	// Rules are rate limits, evaluated in order; every matching rule applies.
	Rules []RuleConfig `yaml:"rules"`
	// Lists are IP/CIDR allow and deny lists.
	Lists ListsConfig `yaml:"lists"`
	// Connections limit client connections at accept time.
	Connections ConnLimits `yaml:"connections"`
	// MinRate is the minimum transfer rate of request bodies and responses,
	// e.g. "1KiB"/s. A transfer slower than it over MinRateWindow is cut.
	// Default 0: off (the read/write timeouts still apply).
	MinRate schema.Size `yaml:"min_rate"`
	// MinRateWindow is the window MinRate is measured over. Default 10s.
	MinRateWindow schema.Duration `yaml:"min_rate_window"`
	// Tarpit holds a rejected (429) or blocked (403) answer this long
	// before sending it, so a flooding client's connections spend their
	// time waiting instead of costing the node CPU. Default 0: answer at
	// once. At most 10s; at most MaxTarpitted answers are held at once,
	// the rest are sent at once.
	Tarpit schema.Duration `yaml:"tarpit"`
	// MaxTarpitted bounds the answers held by Tarpit. Default 10000.
	MaxTarpitted int `yaml:"max_tarpitted"`
	// H2MaxResetsPerSecond is how many client stream resets one HTTP/2
	// connection may send per second before it is closed (rapid reset,
	// CVE-2023-44487). Default 100.
	H2MaxResetsPerSecond int `yaml:"h2_max_resets_per_second"`
	// Admission is the adaptive concurrency limit per origin pool.
	Admission AdmissionConfig `yaml:"admission"`
	// Surge detects the fingerprint behind a surge and limits it.
	Surge SurgeConfig `yaml:"surge"`
	// Overload is the node-level overload guard.
	Overload OverloadConfig `yaml:"overload"`
	// WaitingRooms are per-route queues for flash crowds.
	WaitingRooms []WaitingRoomConfig `yaml:"waiting_rooms"`
	// UnderAttack lists site names whose limits start tightened.
	// POST /shield/under-attack switches a site at run time.
	UnderAttack []string `yaml:"under_attack"`
	// AttackFactor multiplies rates, bursts and connection limits of a site
	// under attack. Default 0.2 (five times stricter); 0 < f <= 1.
	AttackFactor float64 `yaml:"attack_factor"`
	// OnPanic sets each sub-phase's policy when it panics: "open" lets the
	// request through, "closed" answers 503. Defaults: lists closed,
	// ratelimit open, admission open, overload open, waitingroom closed.
	OnPanic map[string]string `yaml:"on_panic"`
}

// RuleConfig is one rate limit.
type RuleConfig struct {
	// Name identifies the rule in logs and metrics. Required.
	Name string `yaml:"name"`
	// Sites limits the rule to these site names; empty means every site.
	Sites []string `yaml:"sites"`
	// Routes limits the rule to routes with these paths; empty means all.
	Routes []string `yaml:"routes"`
	// Methods limits the rule to these methods; empty means all.
	Methods []string `yaml:"methods"`
	// PathPrefix limits the rule to request paths under it.
	PathPrefix string `yaml:"path_prefix"`
	// Key is what requests are counted by, combined: "ip", "prefix" (/24
	// for IPv4, /64 for IPv6), "path", "header:NAME", "cookie:NAME".
	// Default [ip].
	Key []string `yaml:"key"`
	// Rate is the sustained rate, "100/s", "600/m" or "1000/h". Required.
	Rate Rate `yaml:"rate"`
	// Burst is how many requests may come at once. Default: one second of Rate, at least 1.
	Burst int `yaml:"burst"`
	// Action over the limit: "reject" (429 with Retry-After, default),
	// "block" (403), "log" (count and let through) or "challenge" (the
	// challenge hook; 429 while none is installed).
	Action string `yaml:"action"`
	// Scope is "local" (default: each node counts on its own) or
	// "cluster": the rate holds across every node of the cluster
	// (internal/cluster), and while the store is away each node allows the
	// rate divided by the members it saw last. Without a cluster: section
	// a cluster rule acts as a local one.
	Scope string `yaml:"scope"`
}

// Rate is a number of events per period, written "100/s", "600/m", "10/h".
type Rate struct {
	N   float64
	Per time.Duration
}

// PerSecond returns the rate in events per second.
func (r Rate) PerSecond() float64 {
	if r.Per <= 0 {
		return 0
	}
	return r.N / r.Per.Seconds()
}

// ParseRate parses "N/s", "N/m" or "N/h" (also "N/sec", "N/min", "N/hour").
func ParseRate(s string) (Rate, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return Rate{}, fmt.Errorf("bad rate %q: want N/s, N/m or N/h", s)
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || !(n > 0 && n <= 1e9) {
		return Rate{}, fmt.Errorf("bad rate %q: N must be a number above 0 and at most 1e9", s)
	}
	per := map[string]time.Duration{"s": time.Second, "sec": time.Second, "m": time.Minute, "min": time.Minute,
		"h": time.Hour, "hour": time.Hour}[strings.TrimSpace(unit)]
	if per == 0 {
		return Rate{}, fmt.Errorf("bad rate %q: unit must be s, m or h", s)
	}
	return Rate{N: n, Per: per}, nil
}

// UnmarshalYAML reads "100/s".
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a rate such as \"100/s\"", n.Line)
	}
	v, err := ParseRate(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	*r = v
	return nil
}

// MarshalYAML writes the rate back as "N/s", "N/m" or "N/h".
func (r Rate) MarshalYAML() (any, error) {
	if r.Per == 0 {
		return "", nil
	}
	u := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h"}[r.Per]
	return strconv.FormatFloat(r.N, 'f', -1, 64) + "/" + u, nil
}

// IsZero lets omitempty-style marshalling skip an unset rate.
func (r Rate) IsZero() bool { return r.Per == 0 }

// ListsConfig are IP/CIDR allow and deny lists. Allowed clients skip rate
// limits and are shed last; denied clients get 403. Files are re-read on
// every reload and pass the same gate as config: a file over MaxBytes or
// MaxEntries, or with a malformed line, rejects the reload and the old
// lists stay in force.
type ListsConfig struct {
	Allow     []string `yaml:"allow"`
	AllowFile string   `yaml:"allow_file"`
	Deny      []string `yaml:"deny"`
	DenyFile  string   `yaml:"deny_file"`
	// MaxEntries bounds each list (inline plus file). Default 100000.
	MaxEntries int `yaml:"max_entries"`
	// MaxBytes bounds each list file. Default 4MiB.
	MaxBytes schema.Size `yaml:"max_bytes"`
}

// ConnLimits bound client connections, enforced when they are accepted.
type ConnLimits struct {
	// MaxTotal bounds open client connections of the node. 0: no limit.
	MaxTotal int `yaml:"max_total"`
	// MaxPerIP bounds open connections per client key. 0: no limit.
	MaxPerIP int `yaml:"max_per_ip"`
	// Key is "ip" (default) or "prefix" (/24, /64).
	Key string `yaml:"key"`
	// ProxyProtocol reads a PROXY protocol (v1/v2) header from connections
	// whose peer is in trusted_proxies; others are served as they are.
	ProxyProtocol bool `yaml:"proxy_protocol"`
}

// AdmissionConfig is the adaptive concurrency limit per origin pool, a gradient
// limit from measured latency: the limit grows while latency stays near its
// minimum and shrinks as it rises. Requests past the limit wait in levee,
// admitted by turns across clients, for at most MaxWait; those that cannot
// be admitted get 503 with Retry-After.
type AdmissionConfig struct {
	// Enabled is on by default: every pool gets a limit, so an origin's
	// queue never holds more than the limit, whatever the clients send.
	Enabled *bool `yaml:"enabled"`
	// MaxWait is how long a request may wait for a slot. Default 1s;
	// 1ms to 10s. A request whose estimated wait is longer is shed at once.
	MaxWait schema.Duration `yaml:"max_wait"`
	// MaxQueue bounds the requests waiting per pool. Default 4096; past
	// it a request is shed at once.
	MaxQueue int `yaml:"max_queue"`
	// MaxQueuePerClient bounds one client's waiting requests. Default 256:
	// a memory bound, not a shedding policy (a closed-loop client with
	// more connections than that is rare; fairness comes from the turns).
	MaxQueuePerClient int `yaml:"max_queue_per_client"`
	// MinLimit, MaxLimit and InitialLimit bound the limit. Defaults 8, 1000, 32.
	MinLimit     int `yaml:"min_limit"`
	MaxLimit     int `yaml:"max_limit"`
	InitialLimit int `yaml:"initial_limit"`
	// KeepReserve is the share of the limit only "keep" requests may use,
	// so they are shed last. Default 0.2.
	KeepReserve float64 `yaml:"keep_reserve"`
	// Keep defines the requests shed last.
	Keep KeepConfig `yaml:"keep"`
}

// SurgeConfig is the autonomous mitigation of a surge: the node profiles
// its traffic by fingerprint (method, protocol, User-Agent, header names,
// path pattern, TLS fingerprint) and, when an origin saturates or the rate
// jumps, puts a rule on each fingerprint whose share rose sharply over
// its baseline. Clients served well before the surge are exempt.
type SurgeConfig struct {
	// Enabled is on by default.
	Enabled *bool `yaml:"enabled"`
	// Action on a generated rule's fingerprint over Rate: "reject" (429 +
	// Retry-After, default), "block" (403), "log", "challenge".
	Action string `yaml:"action"`
	// Rate is what a flagged fingerprint may send in all. Default 20/s.
	Rate Rate `yaml:"rate,omitempty"`
	// MinShare is the share of the traffic a fingerprint must have to be
	// flagged. Default 0.3.
	MinShare float64 `yaml:"min_share"`
	// Rise is how many times its baseline share a fingerprint's share must
	// be to be flagged. Default 3.
	Rise float64 `yaml:"rise"`
	// Jump is how many times its baseline the request rate must be to be
	// a surge even while the origin keeps up. Default 3.
	Jump float64 `yaml:"jump"`
	// Window is how often the profile is judged. Default 1s.
	Window schema.Duration `yaml:"window"`
	// Sample profiles one request in Sample (a power of two). Default 8.
	Sample int `yaml:"sample"`
	// MaxRules bounds the generated rules in force. Default 16.
	MaxRules int `yaml:"max_rules"`
	// Lifetime bounds a generated rule's life. Default 10m.
	Lifetime schema.Duration `yaml:"lifetime"`
}

// KeepConfig defines requests shed last: any match makes a request "keep".
// Allow-listed clients are always keep.
type KeepConfig struct {
	// Cookies: a request carrying any of these cookies (e.g. a session).
	Cookies []string `yaml:"cookies"`
	// Prefixes: client addresses or CIDRs.
	Prefixes []string `yaml:"prefixes"`
	// Paths: path prefixes such as "/healthz".
	Paths []string `yaml:"paths"`
}

// OverloadConfig is the node-level guard. Past a threshold, in steps: level 1
// disables keep-alive, level 2 sheds new requests (except keep), level 3
// stops accepting connections. 0 turns a signal off.
type OverloadConfig struct {
	// MaxHeap is the heap size of level 2; level 1 is at 80%, level 3 at
	// 120%. It is also set as the Go soft memory limit.
	MaxHeap schema.Size `yaml:"max_heap"`
	// MaxGoroutines is the goroutine count of level 2 (same steps).
	MaxGoroutines int `yaml:"max_goroutines"`
	// MaxConns is the open-connection count of level 2 (same steps).
	MaxConns int `yaml:"max_conns"`
	// Interval is how often the signals are sampled. Default 250ms.
	Interval schema.Duration `yaml:"interval"`
}

// WaitingRoomConfig queues new users of a route once its active users reach
// Capacity.
type WaitingRoomConfig struct {
	// Site and Route name the route (site name and route path).
	Site  string `yaml:"site"`
	Route string `yaml:"route"`
	// Capacity is the number of active users let through. Required.
	Capacity int `yaml:"capacity"`
	// AdmitPerMinute is how many queued users are admitted per minute as
	// capacity frees. Default: Capacity.
	AdmitPerMinute int `yaml:"admit_per_minute"`
	// Session is how long an admitted user stays active after their last
	// request. Default 10m.
	Session schema.Duration `yaml:"session"`
	// Refresh is how often the queue page refreshes. Default 5s.
	Refresh schema.Duration `yaml:"refresh"`
	// MaxQueue bounds the queue; past it arrivals get 503. Default 100000.
	MaxQueue int `yaml:"max_queue"`
	// Mode: "auto" (queue when full or when the pool's admission limit
	// sheds; default), "queue" (event mode: everyone queues and is admitted
	// at the rate) or "off".
	Mode string `yaml:"mode"`
	// Cookie names the signed cookie. Default "levee_wr".
	Cookie string `yaml:"cookie"`
}

// SetDefaults fills the unset fields of the shield: section.
func (s *Config) SetDefaults() {
	if s.Enabled == nil {
		on := true
		s.Enabled = &on
	}
	if s.MaxKeys == 0 {
		s.MaxKeys = DefaultMaxKeys
	}
	if s.Lists.MaxEntries == 0 {
		s.Lists.MaxEntries = DefaultListMaxEntries
	}
	if s.Lists.MaxBytes == 0 {
		s.Lists.MaxBytes = DefaultListMaxBytes
	}
	if s.AttackFactor == 0 {
		s.AttackFactor = DefaultAttackFactor
	}
	if s.H2MaxResetsPerSecond == 0 {
		s.H2MaxResetsPerSecond = DefaultH2MaxResetsPerSecond
	}
	schema.SetDuration(&s.MinRateWindow, DefaultMinRateWindow)
	schema.SetInt(&s.MaxTarpitted, 10000)
	if s.Connections.Key == "" {
		s.Connections.Key = "ip"
	}
	for i := range s.Rules {
		setRuleDefaults(&s.Rules[i])
	}
	a := &s.Admission
	if a.Enabled == nil {
		on := true
		a.Enabled = &on
	}
	schema.SetDuration(&a.MaxWait, DefaultAdmissionMaxWait)
	schema.SetInt(&a.MaxQueue, DefaultAdmissionMaxQueue)
	schema.SetInt(&a.MaxQueuePerClient, DefaultAdmissionMaxQueuePerClient)
	schema.SetInt(&a.MinLimit, DefaultAdmissionMinLimit)
	schema.SetInt(&a.MaxLimit, DefaultAdmissionMaxLimit)
	schema.SetInt(&a.InitialLimit, DefaultAdmissionInitialLimit)
	if a.KeepReserve == 0 {
		a.KeepReserve = DefaultAdmissionKeepReserve
	}
	setSurgeDefaults(&s.Surge)
	schema.SetDuration(&s.Overload.Interval, 250*time.Millisecond)
	for i := range s.WaitingRooms {
		w := &s.WaitingRooms[i]
		schema.SetInt(&w.AdmitPerMinute, w.Capacity)
		schema.SetDuration(&w.Session, DefaultRoomSession)
		schema.SetDuration(&w.Refresh, DefaultRoomRefresh)
		schema.SetInt(&w.MaxQueue, DefaultRoomMaxQueue)
		if w.Mode == "" {
			w.Mode = "auto"
		}
		if w.Cookie == "" {
			w.Cookie = DefaultRoomCookie
		}
		if w.Route == "" {
			w.Route = "/"
		}
	}
}

func setSurgeDefaults(g *SurgeConfig) {
	if g.Enabled == nil {
		on := true
		g.Enabled = &on
	}
	if g.Action == "" {
		g.Action = "reject"
	}
	if g.Rate.Per == 0 {
		g.Rate = Rate{N: 20, Per: time.Second}
	}
	if g.MinShare == 0 {
		g.MinShare = 0.3
	}
	if g.Rise == 0 {
		g.Rise = 3
	}
	if g.Jump == 0 {
		g.Jump = 3
	}
	schema.SetDuration(&g.Window, time.Second)
	schema.SetInt(&g.Sample, 8)
	schema.SetInt(&g.MaxRules, 16)
	schema.SetDuration(&g.Lifetime, 10*time.Minute)
}

func setRuleDefaults(r *RuleConfig) {
	if len(r.Key) == 0 {
		r.Key = []string{"ip"}
	}
	if r.Action == "" {
		r.Action = "reject"
	}
	if r.Burst == 0 {
		r.Burst = max(1, int(r.Rate.PerSecond()))
	}
}
