package server

import (
	"time"

	"github.com/nuxari/nuxari/internal/buildinfo"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nuxari/nuxari/governance/jobs"
)

// collector reads, at each scrape, the totals the ledger, the domain and
// the transport keep, so that nothing on a request's path does metric
// work for them. No metric is labelled by org.
type collector struct {
	s *Server

	orgs, entries, uncovered, newestAge, waitAge *prometheus.Desc
	loginsFailed, throttled, evidenceRejected    *prometheus.Desc
	jobsQueued, jobsRunning, jobsEnded           *prometheus.Desc
	agentsConnected, openStreams, buildInfo      *prometheus.Desc
}

func newCollector(s *Server) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &collector{
		s:                s,
		orgs:             d("nuxari_orgs", "Orgs with at least one event."),
		entries:          d("nuxari_log_entries", "Events in every org's log."),
		uncovered:        d("nuxari_log_entries_uncovered", "Events no signed checkpoint covers yet."),
		newestAge:        d("nuxari_checkpoint_newest_age_seconds", "Seconds since the newest checkpoint of any org was signed (absent before the first)."),
		waitAge:          d("nuxari_checkpoint_wait_seconds", "Seconds the longest-waiting uncovered events have waited for a checkpoint, from their org's previous one (0 when all are covered)."),
		loginsFailed:     d("nuxari_logins_failed_total", "Logins refused for a wrong org, email or password."),
		throttled:        d("nuxari_throttled_total", "Attempts the throttle refused, by kind (login, signup, guess, busy).", "kind"),
		evidenceRejected: d("nuxari_evidence_rejected_total", "Evidence items refused for a hash or signature that did not match."),
		jobsQueued:       d("nuxari_jobs_queued", "Background jobs queued, by kind (evidence.export: exports; connector.sync: syncs; sealing.reseal: reseals after a sealing-key rotation; access.plan: access plans running).", "kind"),
		jobsRunning:      d("nuxari_jobs_running", "Background jobs running, by kind.", "kind"),
		jobsEnded:        d("nuxari_jobs_ended_total", "Background jobs ended, by kind and state (succeeded, failed, canceled).", "kind", "state"),
		agentsConnected:  d("nuxari_agents_connected", "Edge agents with their task stream open."),
		openStreams:      d("nuxari_open_streams", "Long-lived streams open (agent task streams, health Watch, reflection)."),
		buildInfo:        d("nuxari_build_info", "The running build: always 1, labelled by version and VCS revision (empty when not recorded).", "version", "revision"),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.orgs, c.entries, c.uncovered, c.newestAge, c.waitAge, c.loginsFailed, c.throttled, c.evidenceRejected,
		c.jobsQueued, c.jobsRunning, c.jobsEnded, c.agentsConnected, c.openStreams, c.buildInfo,
	} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	count := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	now := time.Now()
	ls := c.s.ledger.Stats()
	gauge(c.orgs, float64(ls.Orgs))
	gauge(c.entries, float64(ls.Entries))
	gauge(c.uncovered, float64(ls.Uncovered))
	if !ls.NewestCheckpoint.IsZero() {
		gauge(c.newestAge, now.Sub(ls.NewestCheckpoint).Seconds())
	}
	wait := 0.0
	if !ls.UncoveredSince.IsZero() {
		wait = max(0, now.Sub(ls.UncoveredSince).Seconds())
	}
	gauge(c.waitAge, wait)

	ds := c.s.svc.Stats()
	count(c.loginsFailed, ds.LoginsFailed)
	count(c.evidenceRejected, ds.EvidenceRejected)
	for kind, n := range ds.Throttled {
		count(c.throttled, n, kind)
	}
	for kind, js := range ds.Jobs {
		gauge(c.jobsQueued, float64(js.Queued), kind)
		gauge(c.jobsRunning, float64(js.Running), kind)
		for _, st := range []jobs.State{jobs.Succeeded, jobs.Failed, jobs.Canceled} {
			count(c.jobsEnded, js.Ended[st], kind, string(st))
		}
	}
	gauge(c.agentsConnected, float64(c.s.gw.Connected()))
	gauge(c.openStreams, float64(c.s.streams.count()))
	bi := buildinfo.Read()
	gauge(c.buildInfo, 1, bi.Version, bi.Revision)
}
