package cluster

import (
	"time"

	"levee/internal/config/schema"
)

// Rollout defaults and bounds. The README quotes them.
const (
	DefaultCanaries       = 1
	DefaultShare          = 25 // percent of the members in the second stage
	DefaultBake           = 5 * time.Minute
	DefaultMinRequests    = 100
	DefaultMax5xxIncrease = 0.01 // one percentage point
	DefaultWatch          = 30 * time.Minute
	// WatchWindow is the span of the post-rollout watch's rates: a node's
	// last minute on the new version against its last minute before it.
	WatchWindow = time.Minute
	MaxCanaries = 100
	MinBake     = 10 * time.Millisecond
	MaxBake     = 24 * time.Hour
)

// RolloutConfig is cluster.rollout: how a pushed version spreads. The
// values of the node a version is pushed from travel with the version, so
// whichever node drives the rollout applies the same ones.
type RolloutConfig struct {
	// Canaries is how many nodes get a version first. Default 1.
	Canaries int `yaml:"canaries"`
	// Share is the percentage of the members in the second stage
	// (canaries included); the third stage is every member. Default 25.
	Share int `yaml:"share"`
	// Bake is how long each stage runs before the next one starts, while
	// the canaries' 5xx rate and panics are compared with the rest.
	// Default 5m.
	Bake schema.Duration `yaml:"bake"`
	// MinRequests is how many requests the canaries must have served on
	// the new version before their 5xx rate is judged (panics are judged
	// at once). Default 100.
	MinRequests int `yaml:"min_requests"`
	// Max5xxIncrease is how much higher (as a fraction: 0.01 is one
	// percentage point) the canaries' 5xx rate may be than the rest's
	// before the version is rolled back. Default 0.01.
	Max5xxIncrease float64 `yaml:"max_5xx_increase"`
	// Watch is how long a version stays watched once every member runs
	// it: each node's 5xx rate and panics over the last minute are
	// compared with its last minute on the version before, and worse
	// (by the margins above) rolls the cluster back. Default 30m.
	Watch schema.Duration `yaml:"watch"`
}

// SetDefaults fills in unset fields.
func (c *RolloutConfig) SetDefaults() {
	if c.Canaries == 0 {
		c.Canaries = DefaultCanaries
	}
	if c.Share == 0 {
		c.Share = DefaultShare
	}
	if c.Bake == 0 {
		c.Bake = schema.Duration(DefaultBake)
	}
	if c.MinRequests == 0 {
		c.MinRequests = DefaultMinRequests
	}
	if c.Max5xxIncrease == 0 {
		c.Max5xxIncrease = DefaultMax5xxIncrease
	}
	if c.Watch == 0 {
		c.Watch = schema.Duration(DefaultWatch)
	}
}

// Validate adds the section's errors to l.
func (c *RolloutConfig) Validate(l *schema.List) {
	if c.Canaries < 1 || c.Canaries > MaxCanaries {
		l.Add("cluster.rollout.canaries", "want 1 to %d", MaxCanaries)
	}
	if c.Share < 1 || c.Share > 100 {
		l.Add("cluster.rollout.share", "want a percentage from 1 to 100")
	}
	if c.Bake.D() < MinBake || c.Bake.D() > MaxBake {
		l.Add("cluster.rollout.bake", "want %s to %s", MinBake, MaxBake)
	}
	if c.MinRequests < 1 {
		l.Add("cluster.rollout.min_requests", "want at least 1")
	}
	if c.Max5xxIncrease <= 0 || c.Max5xxIncrease > 1 {
		l.Add("cluster.rollout.max_5xx_increase", "want a fraction above 0 and at most 1 (0.01 is one percentage point)")
	}
	if c.Watch.D() < MinBake || c.Watch.D() > MaxBake {
		l.Add("cluster.rollout.watch", "want %s to %s", MinBake, MaxBake)
	}
}
