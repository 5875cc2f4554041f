package config

import (
	"levee/internal/config/schema"
	"strings"
	"time"
)

// Defaults, in one place. The README's config reference quotes them.
const (
	DefaultAdminListen          = "127.0.0.1:9090"
	DefaultMaxHeaderBytes       = 64 << 10
	DefaultMaxRequestBody       = 100 << 20
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultReadBodyTimeout      = 60 * time.Second
	DefaultIdleTimeout          = 120 * time.Second
	DefaultWriteTimeout         = 60 * time.Second
	DefaultDrainTimeout         = 30 * time.Second
	DefaultWatchInterval        = 2 * time.Second
	DefaultMaxConcurrentStreams = 100
	DefaultMaxReadFrameSize     = 16 << 10
	DefaultDialTimeout          = 5 * time.Second
	DefaultTLSTimeout           = 5 * time.Second
	DefaultResponseHeader       = 60 * time.Second
	DefaultOriginIdle           = 4 * time.Second
	DefaultMaxIdlePerOrigin     = 1024
	DefaultOriginWeight         = 1
)

// SetDefaults fills every unset field with its default. It is idempotent.
func SetDefaults(c *Config) {
	if c.Admin.Listen == "" {
		c.Admin.Listen = DefaultAdminListen
	}
	schema.SetDuration(&c.Timeouts.ReadHeader, DefaultReadHeaderTimeout)
	schema.SetDuration(&c.Timeouts.ReadBody, DefaultReadBodyTimeout)
	schema.SetDuration(&c.Timeouts.Idle, DefaultIdleTimeout)
	schema.SetDuration(&c.Timeouts.Write, DefaultWriteTimeout)
	schema.SetDuration(&c.Timeouts.Drain, DefaultDrainTimeout)
	schema.SetDuration(&c.Reload.WatchInterval, DefaultWatchInterval)
	if c.Limits.MaxHeaderBytes == 0 {
		c.Limits.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.Limits.MaxRequestBody == 0 {
		c.Limits.MaxRequestBody = DefaultMaxRequestBody
	}
	if c.Log.Access == nil {
		on := true
		c.Log.Access = &on
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	for i := range c.Listeners {
		l := &c.Listeners[i]
		if l.HTTP2.MaxConcurrentStreams == 0 {
			l.HTTP2.MaxConcurrentStreams = DefaultMaxConcurrentStreams
		}
		if l.HTTP2.MaxReadFrameSize == 0 {
			l.HTTP2.MaxReadFrameSize = DefaultMaxReadFrameSize
		}
		if l.HTTP1 == "" {
			l.HTTP1 = "levee"
		}
		if l.HTTP2.Server == "" {
			l.HTTP2.Server = "levee"
		}
		if l.TLS != nil && l.TLS.MinVersion == "" {
			l.TLS.MinVersion = "1.2"
		}
	}
	for i := range c.Pools {
		setPoolDefaults(&c.Pools[i].PoolSpec)
	}
	for i := range c.Sites {
		s := &c.Sites[i]
		if s.Name == "" && len(s.Hosts) > 0 {
			s.Name = nameFromHost(s.Hosts[0])
		}
		for j := range s.Routes {
			r := &s.Routes[j]
			if r.Path == "" {
				r.Path = "/"
			}
			setPoolDefaults(&r.PoolSpec)
		}
	}
	setCapabilityDefaults(c)
}

func setPoolDefaults(p *PoolSpec) {
	schema.SetDuration(&p.Timeouts.Dial, DefaultDialTimeout)
	schema.SetDuration(&p.Timeouts.TLS, DefaultTLSTimeout)
	schema.SetDuration(&p.Timeouts.ResponseHeader, DefaultResponseHeader)
	schema.SetDuration(&p.Timeouts.Idle, DefaultOriginIdle)
	if p.Protocol == "" {
		p.Protocol = "http1"
	}
	if p.MaxIdlePerOrigin == 0 {
		p.MaxIdlePerOrigin = DefaultMaxIdlePerOrigin
	}
	for i := range p.Origins {
		if p.Origins[i].Weight == 0 {
			p.Origins[i].Weight = DefaultOriginWeight
		}
		p.Origins[i].URL = withScheme(p.Origins[i].URL)
	}
}

// withScheme reads an origin written host:port as http://host:port, as
// quick mode's --to does.
func withScheme(raw string) string {
	if raw == "" || strings.Contains(raw, "://") {
		return raw
	}
	return "http://" + raw
}

// nameFromHost derives a site's name from its first host when the config
// gives none; a wildcard becomes the word, since '*' is not allowed in a
// name ("*.shop.example" is named "wildcard.shop.example", "*" "wildcard").
func nameFromHost(h string) string {
	return strings.ReplaceAll(h, "*", "wildcard")
}
