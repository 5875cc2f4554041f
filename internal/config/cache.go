package config

// CacheConfig is the top-level cache: section. (Filled in by the cache capability.)
type CacheConfig struct{}

func setCacheDefaults(c *Config) {}

func validateCache(l *errorList, c *Config) {}
