package cluster

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the cluster's Prometheus metrics, registered once per node.
type metrics struct {
	log           *slog.Logger
	storeUp       prometheus.Gauge
	members       prometheus.Gauge
	storeErrors   prometheus.Counter
	purgeSent     prometheus.Counter
	purgeApplied  prometheus.Counter
	purgeReplayed prometheus.Counter
	purgeErrors   prometheus.Counter
	purgeDropped  prometheus.Counter
	staleAll      prometheus.Counter
	rate          *prometheus.CounterVec // result: leased, fallback, denied
	tier          *prometheus.CounterVec // result: upper, error
	rollbacks     prometheus.Counter
	rejected      prometheus.Counter
	configVersion prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	m := &metrics{log: log,
		storeUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "levee_cluster_store_up",
			Help: "1 while the cluster store answers (breaker closed), else 0."}),
		members: prometheus.NewGauge(prometheus.GaugeOpts{Name: "levee_cluster_members",
			Help: "Live cluster members this node saw last (itself included)."}),
		storeErrors:   c("levee_cluster_store_errors_total", "Cluster store calls that failed or timed out."),
		purgeSent:     c("levee_cluster_purges_sent_total", "Local purges published to the cluster."),
		purgeApplied:  c("levee_cluster_purges_applied_total", "Purges from other nodes applied to the local cache."),
		purgeReplayed: c("levee_cluster_purges_replayed_total", "Purges read back from the store's stream (missed on pub/sub or while away)."),
		purgeErrors:   c("levee_cluster_purge_errors_total", "Cluster purges that could not be read or applied."),
		purgeDropped:  c("levee_cluster_purges_dropped_total", "Local purges not published because the outbox was full."),
		staleAll:      c("levee_cluster_cache_marked_stale_total", "Times the whole cache was marked stale because purges were lost."),
		rate: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_cluster_rate_decisions_total",
			Help: "Cluster-scoped rate-limit decisions: leased_admitted/denied (tokens leased from the store), fallback_admitted/denied (store away: limit over members), credit_admitted/denied (before a key's first lease), lease_queue_full, evicted."}, []string{"result"}),
		tier: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "levee_cluster_tier_fetches_total",
			Help: "Cache fills sent to the upper-tier node: upper (it answered), error (it failed; the origin was asked)."}, []string{"result"}),
		rollbacks: c("levee_cluster_rollbacks_total", "Config versions this node, as the rollout driver, rolled back automatically."),
		rejected:  c("levee_cluster_config_rejected_total", "Cluster config versions this node refused (failed its validation)."),
		configVersion: prometheus.NewGauge(prometheus.GaugeOpts{Name: "levee_cluster_config_version",
			Help: "The cluster config version this node runs (0: its own config file)."}),
	}
	if reg != nil {
		reg.MustRegister(m.storeUp, m.members, m.storeErrors, m.purgeSent, m.purgeApplied, m.purgeReplayed,
			m.purgeErrors, m.purgeDropped, m.staleAll, m.rate, m.tier, m.rollbacks, m.rejected, m.configVersion)
	}
	return m
}
