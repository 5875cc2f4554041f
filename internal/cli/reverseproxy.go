package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"levee/internal/app"
	"levee/internal/autotls"
	"levee/internal/bots"
	"levee/internal/cache"
	"levee/internal/cluster"
	"levee/internal/config"
	"levee/internal/health"
	"levee/internal/shield"
	"levee/internal/waf"
)

// quickOptions are the flags of reverse-proxy. Capabilities add theirs here
// and turn them into config in quickConfig.
type quickOptions struct {
	from, admin string
	to          []string
	backup      []string
	healthURI   string
	healthEvery time.Duration
	accessLog   bool
	originHost  bool
	insecure    bool
	h2c         bool
	rateLimit   string // shield: "N/s" per client IP
	rateBurst   int    // shield: burst of the rate limit; 0 = two seconds of rate
	maxConnsIP  int    // shield: open connections per client IP
	cache       bool
	challenge   bool   // bots: proof-of-work for HTML clients on every route
	botFeatures string // bots: feature file
	waf         bool   // waf: the Core Rule Set at paranoia 1, blocking
	cluster     string // cluster: the store's URL
	dataDir     string
	compress    bool
	// Automatic HTTPS, when --from is a host name.
	httpPort, httpsPort int
	bind                string
	acmeCA, acmeCARoot  string
	http3               bool
}

func reverseProxyCmd() *cobra.Command {
	var q quickOptions
	c := &cobra.Command{
		Use:   "reverse-proxy --from ADDR --to URL [--to URL ...]",
		Short: "Proxy one address to one or more origins, no config file needed",
		Long: `Quick mode: serve ADDR and send every request to the given origins in
round-robin. It builds the same config a file would, so every default of the
config reference applies. The access log is off unless --access-log is given,
and the admin API is off unless --admin is given.

  levee reverse-proxy --from 127.0.0.1:8080 --to http://127.0.0.1:9000 --to http://127.0.0.1:9001

With --backup, the --to origins form a primary pool and the --backup
origins a backup pool that takes the traffic when the primary is down;
--health-uri turns on active checks of every origin:

  levee reverse-proxy --from 127.0.0.1:8080 --to http://a --to http://b --backup http://c --health-uri /healthz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			src, err := quickConfig(&q)
			if err != nil {
				return usageError{err}
			}
			// Checked before a node exists, so the user reads the flags'
			// names and not the lines of a YAML file they never saw.
			if _, err := config.Load("reverse-proxy", src); err != nil {
				return usageError{inFlagWords(err)}
			}
			if q.dataDir == "" && isHostName(q.from) {
				q.dataDir = defaultDataDir()
			}
			n := app.New(app.Options{Version: Version, Log: cmd.ErrOrStderr(), DataDir: q.dataDir})
			if err := n.StartFrom("reverse-proxy", src); err != nil {
				return startError(inFlagWords(err))
			}
			fmt.Fprintln(cmd.ErrOrStderr(), startLine(&q, n))
			return n.Run(context.Background())
		},
	}
	f := c.Flags()
	f.StringVar(&q.from, "from", "127.0.0.1:8080", "address to listen on, or a host name: then HTTPS with an automatic certificate on --https-port, and HTTP on --http-port redirecting to it")
	f.IntVar(&q.httpPort, "http-port", autotls.DefaultHTTPPort, "with --from NAME: the HTTP port (ACME HTTP-01 challenges, redirects)")
	f.IntVar(&q.httpsPort, "https-port", autotls.DefaultHTTPSPort, "with --from NAME: the HTTPS port")
	f.StringVar(&q.bind, "bind", "", "with --from NAME: the address the two ports listen on (default: all)")
	f.StringVar(&q.acmeCA, "acme-ca", "", "with --from NAME: the ACME directory URL (default: Let's Encrypt)")
	f.StringVar(&q.acmeCARoot, "acme-ca-root", "", "with --from NAME: a PEM file trusted for the ACME CA's own HTTPS (private CAs)")
	f.BoolVar(&q.http3, "http3", false, "with --from NAME: also serve HTTP/3 (QUIC) on the HTTPS port")
	f.StringVar(&q.dataDir, "data-dir", "", "directory for the node's state (last-known-good config, purge cursor, waiting rooms, certificates); one per node (default: none, or with --from NAME the serve default)")
	f.StringArrayVar(&q.to, "to", nil, "origin URL (repeatable); host:port means http://host:port")
	f.StringArrayVar(&q.backup, "backup", nil, "backup origin URL (repeatable): a second pool used when every --to origin is down")
	f.StringVar(&q.healthURI, "health-uri", "", "path of an active HTTP health check of every origin, e.g. /healthz")
	f.DurationVar(&q.healthEvery, "health-interval", 0, "interval of the active health check (default 5s; needs --health-uri)")
	f.StringVar(&q.admin, "admin", "off", "admin API address, or off")
	f.BoolVar(&q.accessLog, "access-log", false, "write the JSON access log to stdout")
	f.BoolVar(&q.originHost, "change-host-header", false, "send the origin's host as Host instead of the client's")
	f.BoolVar(&q.insecure, "insecure-origin", false, "do not verify origin TLS certificates (tests only)")
	f.BoolVar(&q.h2c, "h2c", false, "also accept cleartext HTTP/2 (prior knowledge)")
	f.StringVar(&q.rateLimit, "rate-limit", "", "rate limit per client IP, e.g. 100/s (burst: twice the rate per second); over it: 429 after 500ms")
	f.IntVar(&q.rateBurst, "rate-burst", 0, "requests a client may send at once above --rate-limit (default: two seconds of rate); a small origin wants it small")
	f.IntVar(&q.maxConnsIP, "max-conns-per-ip", 0, "open connections allowed per client IP (0: no limit)")
	f.BoolVar(&q.cache, "cache", false, "cache responses (memory tier, origin headers honoured)")
	f.BoolVar(&q.challenge, "challenge", false, "proof-of-work challenge for every browser without a pass (other clients get 429)")
	f.BoolVar(&q.waf, "waf", false, "inspect requests with the OWASP Core Rule Set (paranoia 1, blocking)")
	f.StringVar(&q.botFeatures, "bot-features", "", "bot score feature file (CSV or JSON Lines); SIGHUP and file changes reload it")
	f.StringVar(&q.cluster, "cluster", "", "join the cluster on this store, e.g. redis://127.0.0.1:6379/0: --rate-limit is cluster-wide and purges reach every node (node name: host name and --from port)")
	f.BoolVar(&q.compress, "compress", false, "compress text responses with br, zstd or gzip, as the client accepts")
	return c
}

// quickConfig turns the flags into a config file's bytes, so quick mode goes
// through the same validation as any config.
func quickConfig(q *quickOptions) ([]byte, error) {
	if len(q.to) == 0 {
		return nil, fmt.Errorf("reverse-proxy needs at least one --to URL")
	}
	from := q.from
	if strings.HasPrefix(from, ":") {
		from = "0.0.0.0" + from
	}
	if q.http3 && !isHostName(q.from) {
		return nil, fmt.Errorf("--http3 needs HTTPS: give a host name in --from")
	}
	hosts := []string{"*"}
	listeners := []config.Listener{{Listen: from, H2C: q.h2c}}
	var auto autotls.Config
	if isHostName(q.from) {
		hosts = []string{strings.ToLower(q.from)}
		bind := q.bind
		if bind == "" {
			bind = "0.0.0.0"
		}
		listeners = []config.Listener{
			{Listen: net.JoinHostPort(bind, strconv.Itoa(q.httpPort)), H2C: q.h2c},
			{Listen: net.JoinHostPort(bind, strconv.Itoa(q.httpsPort)), TLS: &config.TLS{Auto: true}, HTTP3: q.http3},
		}
		auto = autotls.Config{Enabled: true, CA: q.acmeCA, CARoot: q.acmeCARoot, HTTPPort: q.httpPort, HTTPSPort: q.httpsPort}
	}
	route := config.Route{Path: "/"}
	spec, err := quickPool(q, "--to", q.to)
	if err != nil {
		return nil, err
	}
	var pools []config.Pool
	if len(q.backup) > 0 {
		backup, err := quickPool(q, "--backup", q.backup)
		if err != nil {
			return nil, err
		}
		pools = []config.Pool{{Name: "primary", PoolSpec: spec}, {Name: "backup", PoolSpec: backup}}
		route.Pools = []string{"primary", "backup"}
	} else {
		route.PoolSpec = spec
	}
	if q.originHost {
		route.HostHeader = "origin"
	}
	if q.cache {
		route.Cache = &cache.RouteConfig{}
	}
	if q.waf {
		route.WAF = &waf.RouteConfig{}
	}
	if q.challenge || q.botFeatures != "" {
		route.Bots = &bots.RouteConfig{}
		if q.challenge {
			route.Bots.ChallengeBelow = 100
		}
	}
	access := q.accessLog
	c := config.Config{
		Admin:     config.Admin{Listen: q.admin},
		Listeners: listeners,
		Log:       config.Log{Access: &access},
		Pools:     pools,
		Sites:     []config.Site{{Name: "quick", Hosts: hosts, Routes: []config.Route{route}}},
	}
	c.Bots.Features = q.botFeatures
	c.AutoHTTPS = auto
	c.Compress.Enabled = q.compress
	if err := quickShield(q, &c.Shield); err != nil {
		return nil, err
	}
	if q.cluster != "" {
		c.Cluster = quickCluster(q.cluster, from)
		for i := range c.Shield.Rules {
			c.Shield.Rules[i].Scope = "cluster"
		}
	}
	return yaml.Marshal(&c)
}

// isHostName reports whether --from names a host (automatic HTTPS) rather
// than an address to listen on.
func isHostName(from string) bool {
	return len(autotls.ManagedNames(&autotls.Config{}, []string{from})) == 1
}

// quickPool builds one pool from origin flags, with the health check flags.
func quickPool(q *quickOptions, flag string, urls []string) (config.PoolSpec, error) {
	var spec config.PoolSpec
	for _, t := range urls {
		if !strings.Contains(t, "://") {
			t = "http://" + t
		}
		if _, err := url.Parse(t); err != nil {
			return spec, fmt.Errorf("%s %q: %v", flag, t, err)
		}
		spec.Origins = append(spec.Origins, config.Origin{URL: strings.TrimSuffix(t, "/")})
	}
	spec.OriginTLS.InsecureSkipVerify = q.insecure
	if q.healthEvery != 0 && q.healthURI == "" {
		return spec, fmt.Errorf("--health-interval needs --health-uri")
	}
	if q.healthURI != "" {
		if !strings.HasPrefix(q.healthURI, "/") {
			return spec, fmt.Errorf("--health-uri %q must start with /", q.healthURI)
		}
		spec.Health = &health.PoolConfig{Active: &health.ActiveConfig{Path: q.healthURI, Interval: config.Duration(q.healthEvery)}}
	}
	return spec, nil
}

// quickShield turns --rate-limit and --max-conns-per-ip into the shield
// section: one rule keyed by client IP with a burst of two seconds of rate
// (as nginx's limit_req burst) and a 500ms tarpit on its 429s, and a
// per-IP connection limit.
func quickShield(q *quickOptions, s *shield.Config) error {
	if q.maxConnsIP < 0 {
		return fmt.Errorf("--max-conns-per-ip must not be negative")
	}
	s.Connections.MaxPerIP = q.maxConnsIP
	if q.rateLimit == "" {
		return nil
	}
	r, err := shield.ParseRate(q.rateLimit)
	if err != nil {
		return fmt.Errorf("--rate-limit: %v", err)
	}
	if q.rateBurst < 0 {
		return fmt.Errorf("--rate-burst must not be negative")
	}
	burst := max(1, int(2*r.PerSecond()))
	if q.rateBurst > 0 {
		burst = q.rateBurst
	}
	s.Rules = []shield.RuleConfig{{Name: "quick", Key: []string{"ip"}, Rate: r, Burst: burst, Action: "reject"}}
	// Hold 429s half a second, so a flooding client's connections wait
	// instead of costing the node CPU (bounded by max_tarpitted).
	s.Tarpit = config.Duration(500 * time.Millisecond)
	return nil
}

// inFlagWords restates config errors of the generated config in terms of
// the flags that made it: the user never saw that YAML, so its line
// numbers mean nothing to them.
func inFlagWords(err error) error {
	var errs config.Errors
	if !errors.As(err, &errs) {
		return err
	}
	lines := make([]string, 0, len(errs))
	for _, e := range errs {
		lines = append(lines, flagOf(e.Path)+": "+e.Msg)
	}
	return errors.New(strings.Join(lines, "\n"))
}

// flagOf names the flag behind a path of the config quickConfig writes.
func flagOf(path string) string {
	for _, m := range []struct{ prefix, flag string }{
		{"listeners", "--from"},
		{"admin", "--admin"},
		{"pools[1]", "--backup"},
		{"pools[0].health", "--health-uri/--health-interval"},
		{"sites[0].routes[0].health", "--health-uri/--health-interval"},
		{"pools[0]", "--to"},
		{"sites[0].routes[0].origin_tls", "--insecure-origin"},
		{"sites[0].routes[0]", "--to"},
		{"shield.connections", "--max-conns-per-ip"},
		{"shield", "--rate-limit/--rate-burst"},
		{"cache", "--cache"},
	} {
		if strings.HasPrefix(path, m.prefix) {
			if i := originIndex(path); i >= 0 {
				return fmt.Sprintf("%s (the %s one)", m.flag, ordinal(i+1))
			}
			return m.flag
		}
	}
	return "reverse-proxy"
}

// originIndex finds N in "...origins[N]...", or -1.
func originIndex(path string) int {
	_, rest, ok := strings.Cut(path, "origins[")
	if !ok {
		return -1
	}
	num, _, _ := strings.Cut(rest, "]")
	i, err := strconv.Atoi(num)
	if err != nil {
		return -1
	}
	return i
}

func ordinal(n int) string {
	switch n {
	case 1:
		return "first"
	case 2:
		return "second"
	case 3:
		return "third"
	}
	return strconv.Itoa(n) + "th"
}

// startLine says what quick mode serves and everything its flags turned
// on, with the bound addresses (a port 0 is resolved).
func startLine(q *quickOptions, n *app.Node) string {
	from := q.from
	for _, a := range n.Addrs() {
		from = a.String()
	}
	parts := []string{"levee: proxying " + from + " -> " + strings.Join(q.to, ", ")}
	if isHostName(q.from) {
		parts[0] = fmt.Sprintf("levee: proxying https://%s (port %d, HTTP on %d redirects) -> %s", q.from, q.httpsPort, q.httpPort, strings.Join(q.to, ", "))
		parts = append(parts, "certificates in "+q.dataDir)
	}
	if q.http3 {
		parts = append(parts, "HTTP/3")
	}
	if q.compress {
		parts = append(parts, "compression on")
	}
	if len(q.backup) > 0 {
		parts = append(parts, "backup "+strings.Join(q.backup, ", "))
	}
	if q.healthURI != "" {
		every := q.healthEvery
		if every == 0 {
			every = 5 * time.Second
		}
		parts = append(parts, fmt.Sprintf("health checks %s every %s", q.healthURI, every))
	}
	if q.cache {
		parts = append(parts, "cache on")
	}
	if q.rateLimit != "" {
		parts = append(parts, "rate limit "+q.rateLimit+" per client IP")
	}
	if q.maxConnsIP > 0 {
		parts = append(parts, fmt.Sprintf("at most %d connections per client IP", q.maxConnsIP))
	}
	if a := n.AdminAddr(); a != nil {
		parts = append(parts, "admin API on http://"+a.String())
	}
	if q.accessLog {
		parts = append(parts, "access log on stdout")
	}
	if q.h2c {
		parts = append(parts, "h2c")
	}
	if q.originHost {
		parts = append(parts, "origin Host header")
	}
	if q.insecure {
		parts = append(parts, "origin TLS NOT VERIFIED")
	}
	if q.cluster != "" {
		parts = append(parts, "cluster on "+q.cluster)
	}
	return strings.Join(parts, "; ")
}

// quickCluster is the cluster section of --cluster: the node is named
// after the host and the listen port, so several nodes on one host differ.
// The tiered cache is on when --from names an address the other nodes
// can reach (not a wildcard one).
func quickCluster(store, from string) cluster.Config {
	cc := cluster.Config{Redis: store}
	host, port, _ := net.SplitHostPort(from)
	cc.Node = cluster.NodeName(&cc) + "-" + port
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		cc.Advertise = "http://" + from
	}
	return cc
}
