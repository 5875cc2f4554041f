package config

import "levee/internal/config/schema"

// Hard bounds. A config that goes past any of them is rejected whole, with
// the path of the offending list or value; nothing is ever truncated. They
// are documented in the README's config reference; keep the two in step.
const (
	MaxFileBytes         = 4 << 20 // a config file or POST /config body
	MaxListeners         = 16
	MaxCertificates      = 256 // per listener
	MaxSites             = 1000
	MaxHostsPerSite      = 100
	MaxRoutesPerSite     = 200
	MaxPools             = 1000
	MaxPoolsPerRoute     = 8
	MaxOriginsPerPool    = 256
	MaxTrustedProxies    = 1000
	MaxHeaderOps         = 64      // set_headers / remove_headers per route
	MaxHeaderBytesLimit  = 1 << 20 // upper bound for limits.max_header_bytes
	MaxIdlePerOriginCap  = 4096
	MaxOriginIdleSeconds = 300 // timeouts.idle of a pool
	MaxNameLength        = schema.MaxNameLength
	MaxHostnameLength    = schema.MaxHostnameLength
	MaxPathPrefixLength  = 1024
	MaxHeaderValueLength = 4096
)
