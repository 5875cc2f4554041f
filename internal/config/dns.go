package config

// DNSConfig is the top-level dns: section. (Filled in by the dns capability.)
type DNSConfig struct{}

func setDNSDefaults(c *Config) {}

func validateDNS(l *errorList, c *Config) {}
