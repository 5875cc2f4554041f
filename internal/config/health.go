package config

// HealthConfig is the top-level health: section. (Filled in by the health capability.)
type HealthConfig struct{}

func setHealthDefaults(c *Config) {}

func validateHealth(l *errorList, c *Config) {}
