package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/nuxari/nuxari/server"

	"connectrpc.com/connect"

	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server/servertest"
)

// scrape returns the server's metrics, each sample line's name with its
// labels mapped to its value.
func scrape(t *testing.T, ts *servertest.Server) map[string]float64 {
	t.Helper()
	r, err := servertest.HTTPClient().Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil || r.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %s %v", r.Status, err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestOperatorMetrics: the metrics an operator runs on move with what
// the server does: orgs and events, uncovered events and the checkpoint
// ages, failed and throttled logins, refused evidence, export jobs,
// agents connected and open streams, and the build. Streams are timed
// apart from unary calls.
func TestOperatorMetrics(t *testing.T) {
	// One long-lived stream per source: a second is refused, so the
	// refusal counter has a sample too.
	ts := servertest.Start(t, func(c *server.Config) { c.Limits.MaxStreamsPerSource = 1 })
	ctx := context.Background()
	m := scrape(t, ts)
	for _, name := range []string{"nuxari_orgs", "nuxari_log_entries", "nuxari_agents_connected", "nuxari_open_streams", "nuxari_logins_failed_total", "nuxari_evidence_rejected_total"} {
		if v, ok := m[name]; !ok || v != 0 {
			t.Errorf("%s on a new server: %v (present %v), want 0", name, v, ok)
		}
	}
	if _, ok := m["nuxari_checkpoint_newest_age_seconds"]; ok {
		t.Error("a checkpoint age before any checkpoint")
	}

	tok, _ := ts.Signup(t, "metrics", "owner@example.com", ownerPW)
	owner := ts.Clients(tok)
	if _, err := ts.Clients("").Auth.Login(ctx, connect.NewRequest(&nuxariv1.LoginRequest{OrgId: "metrics", Email: "owner@example.com", Password: "wrong password 1"})); err == nil {
		t.Fatal("a wrong password logged in")
	}
	exportAndWait(t, owner, &nuxariv1.EvidenceScope{})
	a := enrollAgent(t, ts, owner, "host-a")
	agent := ts.Clients(a.token(t, ts))
	stream := openTaskStream(t, agent)
	stream.heartbeatFirst(t)
	second, err := agent.Gateway.ReceiveTasks(ctx, connect.NewRequest(&nuxariv1.ReceiveTasksRequest{}))
	if err == nil {
		for second.Receive() {
		}
		err = second.Err()
		second.Close()
	}
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("a second stream beyond the cap of 1: %v", err)
	}
	task := createTask(t, owner, a.id, "file", "/etc/hosts")
	bad := a.evidence(task.TaskId, "file", "/etc/hosts", []byte("127.0.0.1 localhost\n"))
	bad.Content = []byte("127.0.0.1 elsewhere\n")
	if _, err := agent.Gateway.SubmitEvidence(ctx, connect.NewRequest(&nuxariv1.SubmitEvidenceRequest{TaskId: task.TaskId, Items: []*nuxariv1.EvidenceItem{bad}})); err == nil {
		t.Fatal("tampered evidence accepted")
	}

	m = scrape(t, ts)
	want := map[string]float64{
		"nuxari_orgs":                    1,
		"nuxari_logins_failed_total":     1,
		"nuxari_evidence_rejected_total": 1,
		"nuxari_agents_connected":        1,
		"nuxari_open_streams":            1,
		`nuxari_jobs_ended_total{kind="evidence.export",state="succeeded"}`: 1,
		`nuxari_jobs_ended_total{kind="evidence.export",state="failed"}`:    0,
		`nuxari_jobs_queued{kind="evidence.export"}`:                        0,
		`nuxari_jobs_running{kind="evidence.export"}`:                       0,
		`nuxari_throttled_total{kind="login"}`:                              0,
	}
	for name, v := range want {
		if got, ok := m[name]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, v)
		}
	}
	if m["nuxari_log_entries"] < 8 {
		t.Errorf("nuxari_log_entries = %v after sign-up, a failed login, an export, enrolment and a task", m["nuxari_log_entries"])
	}
	if age, ok := m["nuxari_checkpoint_newest_age_seconds"]; !ok || age < 0 || age > 60 {
		t.Errorf("newest checkpoint age %v (present %v)", age, ok)
	}
	if _, ok := m["nuxari_checkpoint_wait_seconds"]; !ok {
		t.Error("no checkpoint wait")
	}
	build := false
	for name := range m {
		build = build || strings.HasPrefix(name, "nuxari_build_info{") || strings.HasPrefix(name, "go_build_info{")
	}
	if !build {
		t.Error("no build info")
	}

	// The stream is timed as a stream once it ends, never as a unary
	// call.
	stream.close()
	waitFor(t, "the task stream's end to be counted", func() bool {
		m = scrape(t, ts)
		return m["nuxari_agents_connected"] == 0 && m["nuxari_open_streams"] == 0
	})
	var streamTimed bool
	for name := range m {
		if strings.Contains(name, "ReceiveTasks") && strings.HasPrefix(name, "nuxari_rpc_duration_seconds") {
			t.Errorf("a stream in the unary latency histogram: %s", name)
		}
		streamTimed = streamTimed || strings.Contains(name, "ReceiveTasks") && strings.HasPrefix(name, "nuxari_stream_duration_seconds_count")
	}
	if !streamTimed {
		t.Error("the task stream is not in nuxari_stream_duration_seconds")
	}
	checkDeployMetrics(t, m)
}

// checkDeployMetrics: every metric the Grafana dashboard and the
// Prometheus alerting rules in deploy/ name is one the server exports
// (m, a scrape after every kind of activity), so neither silently shows
// nothing.
func checkDeployMetrics(t *testing.T, m map[string]float64) {
	t.Helper()
	have := map[string]bool{"up": true} // Prometheus's own, per target
	for sample := range m {
		name, _, _ := strings.Cut(sample, "{")
		have[name] = true
	}
	metric := regexp.MustCompile(`\b(?:nuxari|go|process)_[a-z0-9_]+|\bup\b`)
	check := func(file, expr string) {
		names := metric.FindAllString(expr, -1)
		if len(names) == 0 {
			t.Errorf("%s: expression names no metric: %s", file, expr)
		}
		for _, n := range names {
			if !have[n] {
				t.Errorf("%s: %s is not a metric the server exports (in %s)", file, n, expr)
			}
		}
	}

	raw, err := os.ReadFile("../deploy/prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				For         string            `yaml:"for"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&rules); err != nil {
		t.Fatalf("alerts.yaml: %v", err)
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Annotations["summary"] == "" || r.Labels["severity"] == "" {
				t.Errorf("alerts.yaml: rule %+v lacks a name, summary or severity", r)
			}
			if r.For != "" {
				if _, err := model.ParseDuration(r.For); err != nil {
					t.Errorf("alerts.yaml: %s: for %q: %v", r.Alert, r.For, err)
				}
			}
			check("alerts.yaml", r.Expr)
		}
	}
	if n < 8 {
		t.Errorf("alerts.yaml holds %d rules", n)
	}

	raw, err = os.ReadFile("../deploy/grafana/nuxari.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("nuxari.json: %v", err)
	}
	if dash.Title == "" || len(dash.Panels) < 8 {
		t.Fatalf("nuxari.json: %q with %d panels", dash.Title, len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("nuxari.json: panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			check("nuxari.json", q.Expr)
		}
	}
}
