package ledger

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/compact"
)

// metrics are the ledger's Prometheus metrics. None is labelled by org.
type metrics struct {
	batchEntries prometheus.Histogram
	commitSecs   prometheus.Histogram
	signedTotal  prometheus.Counter
	signSecs     prometheus.Histogram
	checks       *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, queueDepth func() float64) *metrics {
	m := &metrics{
		batchEntries: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "nuxari", Subsystem: "ledger", Name: "commit_batch_entries",
			Help:    "Entries per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8),
		}),
		commitSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "nuxari", Subsystem: "ledger", Name: "commit_seconds",
			Help:    "Time to build and durably commit one batch.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
		signedTotal: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "nuxari", Subsystem: "ledger", Name: "checkpoints_signed_total",
			Help: "Checkpoints signed and stored.",
		}),
		signSecs: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "nuxari", Subsystem: "ledger", Name: "sign_round_seconds",
			Help:    "Time to sign and durably store one round of checkpoints.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 14),
		}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "nuxari", Subsystem: "ledger", Name: "checkpoint_checks_total",
			Help: "Checks that a new checkpoint's tree extends the org's previous one, by where they read: memory (the signed compact range and the leaves committed since) or storage (a consistency proof).",
		}, []string{"from"}),
	}
	if reg != nil {
		reg.MustRegister(m.batchEntries, m.commitSecs, m.signedTotal, m.signSecs, m.checks,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Namespace: "nuxari", Subsystem: "ledger", Name: "queue_depth",
				Help: "Append calls waiting for the committer.",
			}, queueDepth))
	}
	return m
}

func (m *metrics) commit(entries int, d time.Duration) {
	m.batchEntries.Observe(float64(entries))
	m.commitSecs.Observe(d.Seconds())
}

func (m *metrics) signed(n int, d time.Duration) {
	m.signedTotal.Add(float64(n))
	m.signSecs.Observe(d.Seconds())
}

func leafID(index uint64) compact.NodeID { return compact.NewNodeID(0, index) }
