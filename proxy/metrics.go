package proxy

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus metrics of a Syncer, named as kube-proxy
// names them (namespace "kubeproxy") where kube-proxy has one:
//
//   - kubeproxy_sync_proxy_rules_duration_seconds (histogram), and
//     kubeproxy_sync_full_proxy_rules_duration_seconds and
//     kubeproxy_sync_partial_proxy_rules_duration_seconds for each kind;
//   - kubeproxy_sync_proxy_rules_last_timestamp_seconds, the time of the
//     last successful sync;
//   - kubeproxy_sync_proxy_rules_iptables_restore_failures_total and
//     kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total;
//   - kubeproxy_sync_proxy_rules_iptables_total{table}, the rules in the
//     chains the proxy owns (updated by each drift check and full sync),
//     and kubeproxy_sync_proxy_rules_iptables_last{table}, the rules
//     written by the last full sync;
//   - kubeproxy_conntrack_reconciler_deleted_entries_total and
//     kubeproxy_conntrack_reconciler_sync_duration_seconds.
//
// One metric has no kube-proxy counterpart:
// kubeproxy_sync_proxy_rules_drift_repairs_total counts the drift checks
// that found the kernel changed behind the proxy's back.
//
// Metrics is safe for concurrent use.
type Metrics struct {
	syncDuration        prometheus.Histogram
	fullSyncDuration    prometheus.Histogram
	partialSyncDuration prometheus.Histogram
	lastSync            prometheus.Gauge
	restoreFailures     prometheus.Counter
	partialFailures     prometheus.Counter
	rulesTotal          *prometheus.GaugeVec
	rulesLast           *prometheus.GaugeVec
	ctDeleted           prometheus.Counter
	ctDuration          prometheus.Histogram
	driftRepairs        prometheus.Counter
}

// NewMetrics creates the metrics and registers them on reg (never on a
// global registry). It fails if reg already holds metrics of these names.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	buckets := prometheus.ExponentialBuckets(0.001, 2, 15) // kube-proxy's
	hist := func(name, help string) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "kubeproxy", Name: name, Help: help, Buckets: buckets})
	}
	m := &Metrics{
		syncDuration:        hist("sync_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds"),
		fullSyncDuration:    hist("sync_full_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds for full resyncs"),
		partialSyncDuration: hist("sync_partial_proxy_rules_duration_seconds", "SyncProxyRules latency in seconds for partial resyncs"),
		lastSync: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "kubeproxy", Name: "sync_proxy_rules_last_timestamp_seconds",
			Help: "The last time proxy rules were successfully synced"}),
		restoreFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kubeproxy", Name: "sync_proxy_rules_iptables_restore_failures_total",
			Help: "Cumulative proxy iptables restore failures"}),
		partialFailures: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kubeproxy", Name: "sync_proxy_rules_iptables_partial_restore_failures_total",
			Help: "Cumulative proxy iptables partial restore failures"}),
		rulesTotal: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "kubeproxy", Name: "sync_proxy_rules_iptables_total",
			Help: "Total number of iptables rules owned by kube-proxy"}, []string{"table"}),
		rulesLast: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "kubeproxy", Name: "sync_proxy_rules_iptables_last",
			Help: "Number of iptables rules written by kube-proxy in last sync"}, []string{"table"}),
		ctDeleted: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kubeproxy", Name: "conntrack_reconciler_deleted_entries_total",
			Help: "Cumulative conntrack flows deleted by conntrack reconciler"}),
		ctDuration: hist("conntrack_reconciler_sync_duration_seconds", "ReconcileConntrackFlowsLatency latency in seconds"),
		driftRepairs: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "kubeproxy", Name: "sync_proxy_rules_drift_repairs_total",
			Help: "Drift checks that found the rules changed by someone else and triggered a repair"}),
	}
	for _, c := range []prometheus.Collector{m.syncDuration, m.fullSyncDuration, m.partialSyncDuration, m.lastSync,
		m.restoreFailures, m.partialFailures, m.rulesTotal, m.rulesLast, m.ctDeleted, m.ctDuration, m.driftRepairs} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering proxy metrics: %w", err)
		}
	}
	return m, nil
}
