package config

import "levee/internal/config/schema"

// Sections of capabilities built on the edge node. Each lives in its own
// file (cache.go, health.go, shield.go, dns.go) with its own defaults and
// validation, called from SetDefaults and Validate through these hooks.

func setCapabilityDefaults(c *Config) {
	setCacheDefaults(c)
	setHealthDefaults(c)
	setShieldDefaults(c)
	setDNSDefaults(c)
}

func validateCapabilities(l *schema.List, c *Config) {
	validateCache(l, c)
	validateHealth(l, c)
	validateShield(l, c)
	validateDNS(l, c)
}
