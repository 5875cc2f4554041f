package dns

import (
	"fmt"
	"levee/internal/config/schema"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// DNS bounds and defaults. Zone contents (files and inline records) are
// parsed by internal/dns when a generation is staged, against the same
// bounds; here only the shape of the section is checked.
const (
	MaxListeners         = 8
	MaxZones             = 256     // zones per node
	MaxRecordsPerZone    = 1000000 // upper bound for dns.max_records_per_zone
	MaxZoneFileBytes     = 64 << 20
	MaxSteersPerZone     = 1000
	MaxSecondaries       = 16
	MaxPreferNetworks    = 256
	DefaultRecordsBound  = 100000
	DefaultUDPSize       = 1232
	DefaultHealthPoll    = 500 * time.Millisecond
	DefaultRestoreAfter  = 5 * time.Second
	DefaultSteerTTL      = 30 * time.Second
	DefaultRRLRate       = 20
	DefaultRRLSlip       = 2
	DefaultRRLIPv4Prefix = 24
	DefaultRRLIPv6Prefix = 56
	DefaultRRLTable      = 65536
	MaxRRLTable          = 1 << 22
	DefaultTCPQuery      = time.Second
	MaxRRLAllow          = 1000 // dns.rrl.allow entries
	MaxPrefer            = 8    // prefer entries per steered name
)

// Config is the top-level dns: section: levee's authoritative DNS server.
// It is off unless Listen names at least one address.
type Config struct {
	// Listen are host:port addresses served over UDP and TCP. Empty: no DNS.
	Listen []string `yaml:"listen"`
	// Zones are the zones served authoritatively. At most 256.
	Zones []ZoneConfig `yaml:"zones"`
	// EdgePool names a pool (from pools:) whose origin hosts are the
	// addresses of this deployment's levee edge nodes. "Proxied" steered
	// names answer with its healthy members.
	EdgePool string `yaml:"edge_pool"`
	// MaxRecordsPerZone bounds the records of one zone (file and inline
	// together). Default 100000, at most 1000000. A zone over it is rejected
	// and the previous zone keeps answering.
	MaxRecordsPerZone int `yaml:"max_records_per_zone"`
	// UDPSize is the largest UDP answer sent to EDNS clients (they may ask
	// for less). Default 1232, 512 to 4096.
	UDPSize int `yaml:"udp_size"`
	// UDPSockets is the number of SO_REUSEPORT sockets per address. Default
	// 0: one per CPU the process may use.
	UDPSockets int `yaml:"udp_sockets"`
	// HealthPoll is how often steered answers re-read origin health.
	// Default 500ms; keep it below the health-check interval.
	HealthPoll schema.Duration `yaml:"health_poll"`
	// RestoreAfter is how long an origin that came back must stay healthy
	// before steered answers carry it again (damping). Default 5s.
	RestoreAfter schema.Duration `yaml:"restore_after"`
	// TCPQueryTimeout is how long a TCP connection may take to deliver a
	// complete query: from its start for the first, from its first byte
	// for a later one. Past it the connection is closed, so a client that
	// sends part of a message holds nothing for long. Default 1s, 100ms to
	// 10s.
	TCPQueryTimeout schema.Duration `yaml:"tcp_query_timeout"`
	// RRL is response rate limiting.
	RRL RRLConfig `yaml:"rrl"`
}

// ZoneConfig is one zone, from a zone file, inline records, or both.
type ZoneConfig struct {
	// Origin is the zone's apex, e.g. "example.com.".
	Origin string `yaml:"origin"`
	// File is an RFC 1035 zone file. Relative names in it are relative to
	// Origin.
	File string `yaml:"file"`
	// Records are zone-file lines ("www 300 IN A 192.0.2.1"), relative to
	// Origin. The zone needs an SOA and NS records at its apex from either.
	Records []string `yaml:"records"`
	// Secondaries are host:port addresses allowed to AXFR the zone (static
	// records only) and sent a NOTIFY whenever it changes.
	Secondaries []string `yaml:"secondaries"`
	// DNSSEC turns online signing on for the zone.
	DNSSEC *DNSSECConfig `yaml:"dnssec"`
	// Steer lists names answered from pool health instead of fixed records.
	Steer []SteerConfig `yaml:"steer"`
}

// DNSSECConfig configures online signing with one ECDSA P-256 key (flags 257).
type DNSSECConfig struct {
	// KeyFile is a path prefix: the key is read from KeyFile+".key" and
	// KeyFile+".private" (BIND format) and generated there if both are
	// missing. Print the parent's DS with `levee dns ds`.
	KeyFile string `yaml:"key_file"`
}

// SteerConfig is a health-steered name: its A/AAAA answers come from a pool.
type SteerConfig struct {
	// Name is relative to the zone origin ("app", "@") or absolute.
	Name string `yaml:"name"`
	// Pool names the primary pool. Its origin URLs' hosts must be IP
	// literals; IPv4 hosts answer A, IPv6 hosts AAAA. Optional for proxied
	// names, which answer with dns.edge_pool instead.
	Pool string `yaml:"pool"`
	// Mode is "dns_only" (default: answer the pool's healthy origins) or
	// "proxied" (answer the healthy edge nodes of dns.edge_pool; origin
	// health stays the proxy's job).
	Mode string `yaml:"mode"`
	// Policy is "all" (default: every healthy member, order rotated per
	// answer), "failover" (the first healthy member in pool order) or
	// "weighted" (one healthy member, chosen by origin weight).
	Policy string `yaml:"policy"`
	// TTL of steered answers. Default 30s, 1s to 1h.
	TTL schema.Duration `yaml:"ttl"`
	// FallbackPool answers when the primary pool has no healthy member.
	FallbackPool string `yaml:"fallback_pool"`
	// FallbackCNAME answers (as a CNAME) when no pool has a healthy member.
	FallbackCNAME string `yaml:"fallback_cname"`
	// AllDown is what is answered when nothing at all is healthy:
	// "answer_all" (default: every member of the primary pool, healthy or
	// not; never an empty answer) or "nodata".
	AllDown string `yaml:"all_down"`
	// Prefer lists pools preferred for clients whose EDNS Client Subnet (or
	// address) falls in their networks, when they have a healthy member.
	Prefer []PreferConfig `yaml:"prefer"`
}

// PreferConfig is a pool preferred for clients in some networks.
type PreferConfig struct {
	Pool     string   `yaml:"pool"`
	Networks []string `yaml:"networks"`
}

// RRLConfig is response rate limiting per client prefix.
type RRLConfig struct {
	// Enabled turns RRL on. Default true.
	Enabled *bool `yaml:"enabled"`
	// Rate is the responses per second allowed per client prefix and
	// response kind (answer, negative, error) before limiting. Default 20.
	Rate int `yaml:"rate"`
	// Slip: every Slip-th limited response is answered truncated (TC) so a
	// real client retries over TCP; the others are dropped. 0 drops all,
	// 1 truncates all. Default 2.
	Slip int `yaml:"slip"`
	// IPv4Prefix and IPv6Prefix group clients. Defaults 24 and 56.
	IPv4Prefix int `yaml:"ipv4_prefix"`
	IPv6Prefix int `yaml:"ipv6_prefix"`
	// Allow lists addresses or CIDRs never limited.
	Allow []string `yaml:"allow"`
	// ExemptLoopback never limits 127.0.0.0/8 and ::1. Default true: a
	// spoofed loopback source cannot come from outside the host.
	ExemptLoopback *bool `yaml:"exempt_loopback"`
	// TableSize bounds the prefixes tracked; a new prefix evicts the one in
	// its slot (counted). Default 65536, at most 4194304.
	TableSize int `yaml:"table_size"`
}

// SetDefaults fills the unset fields of the dns: section.
func (d *Config) SetDefaults() {
	if d.MaxRecordsPerZone == 0 {
		d.MaxRecordsPerZone = DefaultRecordsBound
	}
	if d.UDPSize == 0 {
		d.UDPSize = DefaultUDPSize
	}
	schema.SetDuration(&d.HealthPoll, DefaultHealthPoll)
	schema.SetDuration(&d.RestoreAfter, DefaultRestoreAfter)
	schema.SetDuration(&d.TCPQueryTimeout, DefaultTCPQuery)
	r := &d.RRL
	if r.Enabled == nil {
		r.Enabled = schema.Bool(true)
	}
	if r.ExemptLoopback == nil {
		r.ExemptLoopback = schema.Bool(true)
	}
	if r.Rate == 0 {
		r.Rate = DefaultRRLRate
	}
	if r.Slip == 0 {
		r.Slip = DefaultRRLSlip
	}
	if r.IPv4Prefix == 0 {
		r.IPv4Prefix = DefaultRRLIPv4Prefix
	}
	if r.IPv6Prefix == 0 {
		r.IPv6Prefix = DefaultRRLIPv6Prefix
	}
	if r.TableSize == 0 {
		r.TableSize = DefaultRRLTable
	}
	for i := range d.Zones {
		for j := range d.Zones[i].Steer {
			s := &d.Zones[i].Steer[j]
			schema.SetString(&s.Mode, "dns_only")
			schema.SetString(&s.Policy, "all")
			schema.SetString(&s.AllDown, "answer_all")
			schema.SetDuration(&s.TTL, DefaultSteerTTL)
		}
	}
}

// Validate checks the dns: section; pools are the config's named pools,
// which steering and edge_pool refer to.
func (d *Config) Validate(l *schema.List, pools schema.Pools) {
	if len(d.Listen) > MaxListeners {
		l.Add("dns.listen", "%d addresses, over the limit of %d", len(d.Listen), MaxListeners)
	}
	for i, a := range d.Listen {
		schema.CheckHostPort(l, fmt.Sprintf("dns.listen[%d]", i), a)
	}
	if d.MaxRecordsPerZone < 1 || d.MaxRecordsPerZone > MaxRecordsPerZone {
		l.Add("dns.max_records_per_zone", "must be 1 to %d", MaxRecordsPerZone)
	}
	if d.UDPSize < 512 || d.UDPSize > 4096 {
		l.Add("dns.udp_size", "must be 512 to 4096, not %d", d.UDPSize)
	}
	if d.UDPSockets < 0 || d.UDPSockets > 64 {
		l.Add("dns.udp_sockets", "must be 0 to 64")
	}
	if d.HealthPoll.D() < 10*time.Millisecond || d.HealthPoll.D() > time.Minute {
		l.Add("dns.health_poll", "must be 10ms to 1m")
	}
	if d.RestoreAfter.D() > time.Hour {
		l.Add("dns.restore_after", "must be at most 1h")
	}
	if d.TCPQueryTimeout.D() < 100*time.Millisecond || d.TCPQueryTimeout.D() > 10*time.Second {
		l.Add("dns.tcp_query_timeout", "must be 100ms to 10s")
	}
	if d.EdgePool != "" {
		checkDNSPool(l, "dns.edge_pool", d.EdgePool, pools)
	}
	validateRRL(l, &d.RRL)
	if len(d.Zones) > MaxZones {
		l.Add("dns.zones", "%d zones, over the limit of %d", len(d.Zones), MaxZones)
		return
	}
	seen := map[string]int{}
	for i := range d.Zones {
		p := fmt.Sprintf("dns.zones[%d]", i)
		z := &d.Zones[i]
		validateZone(l, p, z, d, pools)
		key := strings.ToLower(strings.TrimSuffix(z.Origin, ".")) + "."
		if j, dup := seen[key]; dup {
			l.Add(p+".origin", "zone %q is also dns.zones[%d]", z.Origin, j)
		}
		seen[key] = i
	}
}

func validateRRL(l *schema.List, r *RRLConfig) {
	if r.Rate < 1 || r.Rate > 1000000 {
		l.Add("dns.rrl.rate", "must be 1 to 1000000")
	}
	if r.Slip < 0 || r.Slip > 10 {
		l.Add("dns.rrl.slip", "must be 0 to 10")
	}
	if r.IPv4Prefix < 8 || r.IPv4Prefix > 32 {
		l.Add("dns.rrl.ipv4_prefix", "must be 8 to 32")
	}
	if r.IPv6Prefix < 16 || r.IPv6Prefix > 128 {
		l.Add("dns.rrl.ipv6_prefix", "must be 16 to 128")
	}
	if r.TableSize < 1 || r.TableSize > MaxRRLTable {
		l.Add("dns.rrl.table_size", "must be 1 to %d", MaxRRLTable)
	}
	if len(r.Allow) > MaxRRLAllow {
		l.Add("dns.rrl.allow", "%d entries, over the limit of %d", len(r.Allow), MaxRRLAllow)
		return
	}
	for i, s := range r.Allow {
		if _, err := schema.ParsePrefix(s); err != nil {
			l.Add(fmt.Sprintf("dns.rrl.allow[%d]", i), "%v", err)
		}
	}
}

func validateZone(l *schema.List, p string, z *ZoneConfig, d *Config, pools schema.Pools) {
	if z.Origin == "" || len(z.Origin) > schema.MaxHostnameLength || !schema.ValidHostname(strings.TrimSuffix(z.Origin, ".")) {
		l.Add(p+".origin", "want a domain name such as example.com., got %q", z.Origin)
	}
	if z.File == "" && len(z.Records) == 0 {
		l.Add(p, "a zone needs a file or records")
	}
	if len(z.Records) > d.MaxRecordsPerZone {
		l.Add(p+".records", "%d records, over the limit of %d", len(z.Records), d.MaxRecordsPerZone)
	}
	if len(z.Secondaries) > MaxSecondaries {
		l.Add(p+".secondaries", "%d secondaries, over the limit of %d", len(z.Secondaries), MaxSecondaries)
	}
	for i, s := range z.Secondaries {
		if _, err := netip.ParseAddrPort(s); err != nil {
			l.Add(fmt.Sprintf("%s.secondaries[%d]", p, i), "want ip:port, got %q", s)
		}
	}
	if z.DNSSEC != nil && z.DNSSEC.KeyFile == "" {
		l.Add(p+".dnssec.key_file", "a key file path is required")
	}
	if len(z.Steer) > MaxSteersPerZone {
		l.Add(p+".steer", "%d steered names, over the limit of %d", len(z.Steer), MaxSteersPerZone)
		return
	}
	for i := range z.Steer {
		validateSteer(l, fmt.Sprintf("%s.steer[%d]", p, i), &z.Steer[i], d, pools)
	}
}

func validateSteer(l *schema.List, p string, s *SteerConfig, d *Config, pools schema.Pools) {
	if s.Name == "" {
		l.Add(p+".name", "a name is required")
	}
	if s.Mode != "proxied" || s.Pool != "" {
		checkDNSPool(l, p+".pool", s.Pool, pools)
	}
	if s.FallbackPool != "" {
		checkDNSPool(l, p+".fallback_pool", s.FallbackPool, pools)
	}
	if s.FallbackCNAME != "" && !schema.ValidHostname(strings.TrimSuffix(s.FallbackCNAME, ".")) {
		l.Add(p+".fallback_cname", "not a domain name: %q", s.FallbackCNAME)
	}
	if !schema.OneOf(s.Mode, "dns_only", "proxied") {
		l.Add(p+".mode", "must be dns_only or proxied, not %q", s.Mode)
	}
	if s.Mode == "proxied" && d.EdgePool == "" {
		l.Add(p+".mode", "proxied names need dns.edge_pool")
	}
	if !schema.OneOf(s.Policy, "all", "failover", "weighted") {
		l.Add(p+".policy", "must be all, failover or weighted, not %q", s.Policy)
	}
	if !schema.OneOf(s.AllDown, "answer_all", "nodata") {
		l.Add(p+".all_down", "must be answer_all or nodata, not %q", s.AllDown)
	}
	if s.TTL.D() < time.Second || s.TTL.D() > time.Hour {
		l.Add(p+".ttl", "must be 1s to 1h")
	}
	if len(s.Prefer) > MaxPrefer {
		l.Add(p+".prefer", "%d entries, over the limit of %d", len(s.Prefer), MaxPrefer)
		return
	}
	for i, pr := range s.Prefer {
		pp := fmt.Sprintf("%s.prefer[%d]", p, i)
		checkDNSPool(l, pp+".pool", pr.Pool, pools)
		if len(pr.Networks) == 0 || len(pr.Networks) > MaxPreferNetworks {
			l.Add(pp+".networks", "want 1 to %d networks", MaxPreferNetworks)
		}
		for j, n := range pr.Networks {
			if _, err := schema.ParsePrefix(n); err != nil {
				l.Add(fmt.Sprintf("%s.networks[%d]", pp, j), "%v", err)
			}
		}
	}
}

// checkDNSPool checks that name is a pool whose origin hosts are IP
// literals, which DNS answers carry.
func checkDNSPool(l *schema.List, path, name string, pools schema.Pools) {
	pl, ok := pools[name]
	if !ok {
		l.Add(path, "no pool named %q in pools", name)
		return
	}
	for i, o := range pl.Origins {
		u, err := url.Parse(o.URL)
		if err != nil {
			continue
		}
		if _, err := netip.ParseAddr(u.Hostname()); err != nil {
			l.Add(path, "pool %q origins[%d] host %q is not an IP address; DNS answers need one", name, i, u.Hostname())
		}
	}
}
