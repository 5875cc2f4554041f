package config

// ShieldConfig is the top-level shield: section. (Filled in by the shield capability.)
type ShieldConfig struct{}

func setShieldDefaults(c *Config) {}

func validateShield(l *errorList, c *Config) {}
