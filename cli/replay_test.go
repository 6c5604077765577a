package cli_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/accesspolicy"
	"github.com/nuxari/nuxari/cli"
	"github.com/nuxari/nuxari/evidence/archive"
	"github.com/nuxari/nuxari/governance/access"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/jcs"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// testLog is an org's log of chosen events, with a test log key and a
// test manifest signing key, from which a test writes evidence packages
// as the server would. Events are encoded as the server encodes them
// (core.Event, RFC 8785), so the shapes replay reads are the server's.
type testLog struct {
	t       *testing.T
	dir     string
	org     string
	origin  string
	signer  note.Signer
	vkey    string
	sv      signature.SignerVerifier
	keyFile string // the manifest signing key, PEM
	events  [][]byte
}

var replayTime = time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)

func newTestLog(t *testing.T) *testLog {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "nuxari")
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "manifest-key.pem")
	if err := os.WriteFile(keyFile, pem, 0o644); err != nil {
		t.Fatal(err)
	}
	return &testLog{t: t, dir: dir, org: "acme", origin: verify.Origin("nuxari", "acme"), signer: s, vkey: vkey, sv: sv, keyFile: keyFile}
}

// add appends an event and returns its index.
func (l *testLog) add(ev []byte) uint64 {
	l.events = append(l.events, ev)
	return uint64(len(l.events) - 1)
}

func (l *testLog) leaf(i uint64) []byte {
	return leaf.Append(nil, &leaf.Leaf{Org: l.org, Index: i, Time: replayTime.Add(time.Duration(i) * time.Second), Event: l.events[i]})
}

// subtree is the RFC 6962 hash of leaves [lo, hi).
func (l *testLog) subtree(lo, hi uint64) []byte {
	if hi-lo == 1 {
		return rfc6962.DefaultHasher.HashLeaf(l.leaf(lo))
	}
	k := uint64(1)
	for k<<1 < hi-lo {
		k <<= 1
	}
	return rfc6962.DefaultHasher.HashChildren(l.subtree(lo, lo+k), l.subtree(lo+k, hi))
}

// pkg writes a package of the whole log holding the events keep selects
// (nil: every one) and returns its file.
func (l *testLog) pkg(name string, keep func(i uint64) bool) string {
	t := l.t
	t.Helper()
	n := uint64(len(l.events))
	text := log.Checkpoint{Origin: l.origin, Size: n, Hash: l.subtree(0, n)}.Marshal()
	cp, err := note.Sign(&note.Note{Text: string(text)}, l.signer)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(l.dir, name+".zip")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := archive.NewWriter(f, l.sv, archive.Meta{
		Org: l.org, LogOrigin: l.origin, LogKey: l.vkey, Created: replayTime.Add(time.Hour), TreeSize: n, Checkpoint: cp,
	})
	if err != nil {
		t.Fatal(err)
	}
	sel := func(yield func(uint64) bool) {
		for i := range n {
			if (keep == nil || keep(i)) && !yield(i) {
				return
			}
		}
	}
	for i := range sel {
		if err := w.AddEvent(l.leaf(i)); err != nil {
			t.Fatal(err)
		}
	}
	nodes, err := archive.Nodes(n, sel, func(lo, hi uint64) ([]byte, error) { return l.subtree(lo, hi), nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetProof(nodes); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return file
}

// verify runs nuxctl verify on a package, offline, with the log's pins.
func (l *testLog) verify(h *harness, file string, jsonOut bool) result {
	args := []string{"verify", file, "--org", l.org, "--key", l.vkey, "--signing-key", l.keyFile}
	if jsonOut {
		args = append([]string{"--json"}, args...)
	}
	return h.run("", args...)
}

// canonical encodes an event as the server commits it.
func canonical(t *testing.T, typ, subject string, data any) []byte {
	t.Helper()
	b, err := jcs.Marshal(core.NewEvent(context.Background(), typ, "u-1", subject, data))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func policyEvent(t *testing.T, p accesspolicy.Policy) []byte {
	typ := ec.AccessPolicyCreated
	if p.Version > 1 {
		typ = ec.AccessPolicyUpdated
	}
	return canonical(t, typ, "policy:"+p.ID, map[string]any{"version": p.Version, "policy": p})
}

// decide decides as access.Service.Submit does: every policy of the
// connector, in ID order; the first that allows wins.
func decide(policies []accesspolicy.Policy, in accesspolicy.Input) access.Decision {
	d := access.Decision{Input: in, Evaluated: []access.Verdict{}}
	for _, p := range policies {
		if p.ConnectorID != in.Request.ConnectorID {
			continue
		}
		ok, why := p.Decide(in)
		if why == nil {
			why = []string{}
		}
		d.Evaluated = append(d.Evaluated, access.Verdict{PolicyID: p.ID, PolicyVersion: p.Version, Allowed: ok, Reasons: why})
		if ok && !d.Allowed {
			d.Allowed, d.PolicyID, d.PolicyVersion = true, p.ID, p.Version
		}
	}
	return d
}

// decisionEvent is the event of decision d, as Submit records it.
func decisionEvent(t *testing.T, typ string, d access.Decision) []byte {
	if typ == ec.AccessRequestSubmitted {
		r := access.Request{ID: "q-1", ConnectorID: d.Input.Request.ConnectorID, PolicyID: d.PolicyID, PolicyVersion: d.PolicyVersion, State: access.RequestPending}
		return canonical(t, typ, "request:"+r.ID, map[string]any{"decision": d, "request": r, "plan": access.Plan{ID: "l-1", Approvals: []access.Approval{}}})
	}
	return canonical(t, typ, "connector:"+d.Input.Request.ConnectorID, map[string]any{"decision": d, "reason": "no policy allows it"})
}

func outcomeType(d access.Decision) string {
	if d.Allowed {
		return ec.AccessRequestSubmitted
	}
	return ec.AccessRequestDenied
}

func testInput(role, entitlement string, seconds int64, justification string, held []string, attrs map[string]string) accesspolicy.Input {
	return accesspolicy.Input{
		Request:     accesspolicy.InputRequest{ConnectorID: "pg", DurationSeconds: seconds, Justification: justification, Held: held},
		Requester:   accesspolicy.InputRequester{UserID: "u-2", Email: "r@acme.test", Role: role},
		Identity:    accesspolicy.InputIdentity{ID: "alice", Name: "alice", Kind: "role", Attributes: attrs},
		Entitlement: accesspolicy.InputEntitlement{ID: entitlement, Name: entitlement, Kind: "role", Description: ""},
	}
}

// accessScenario is a log of two policies, one updated, and the
// decisions made under them.
type accessScenario struct {
	log *testLog
	// decisions holds each decision and its event's index.
	decisions map[string]access.Decision
	index     map[string]uint64
	// edit, when set for a decision, alters it before it is recorded.
	edit map[string]func(*access.Decision)
	typ  map[string]string // the event type, when not the decision's
}

func testPolicy(id string, version int64, edit func(*accesspolicy.Policy)) accesspolicy.Policy {
	p := accesspolicy.Policy{
		ID: id, Version: version, Name: id, ConnectorID: "pg", Entitlements: []string{}, RequesterRoles: []string{},
		ApproverIDs: []string{}, ApproverRoles: []string{}, Conflicts: [][]string{}, Created: replayTime, CreatedBy: "u-1",
	}
	edit(&p)
	return p
}

// build records, in order: p-a v1, p-b v1, decision "a" (both allow:
// p-a wins), "b" (both deny, with several reasons), p-a v2, "c" (p-a v2
// allows), "d" (no policy covers the connector), and a custom event.
func (s *accessScenario) build(t *testing.T) {
	s.log = newTestLog(t)
	s.decisions, s.index = map[string]access.Decision{}, map[string]uint64{}
	pa1 := testPolicy("p-a", 1, func(p *accesspolicy.Policy) {
		p.MaxDuration = accesspolicy.Duration(8 * time.Hour)
		p.Condition = `request.justification.startsWith("TICKET-")`
		p.Conflicts = [][]string{{"role:auditor", "role:dba"}}
	})
	pb1 := testPolicy("p-b", 1, func(p *accesspolicy.Policy) {
		p.Entitlements = []string{"role:readonly"}
		p.RequesterRoles = []string{"requester"}
		p.MaxDuration = accesspolicy.Duration(time.Hour)
	})
	pa2 := testPolicy("p-a", 2, func(p *accesspolicy.Policy) {
		p.MaxDuration = accesspolicy.Duration(4 * time.Hour)
		p.Condition = `identity.attributes["team"] == "data"`
	})
	record := func(name string, policies []accesspolicy.Policy, in accesspolicy.Input) {
		d := decide(policies, in)
		typ := outcomeType(d)
		if e := s.edit[name]; e != nil {
			e(&d)
		}
		if s.typ[name] != "" {
			typ = s.typ[name]
		}
		s.decisions[name] = d
		s.index[name] = s.log.add(decisionEvent(t, typ, d))
	}
	s.log.add(policyEvent(t, pa1))
	s.log.add(policyEvent(t, pb1))
	record("a", []accesspolicy.Policy{pa1, pb1}, testInput("requester", "role:readonly", 1800, "TICKET-1", []string{}, map[string]string{}))
	record("b", []accesspolicy.Policy{pa1, pb1}, testInput("requester", "role:dba", 86400, "because", []string{"role:auditor"}, map[string]string{}))
	s.log.add(policyEvent(t, pa2))
	record("c", []accesspolicy.Policy{pa2, pb1}, testInput("approver", "role:dba", 3600, "", []string{}, map[string]string{"team": "data"}))
	d := testInput("requester", "role:readonly", 60, "x", []string{}, map[string]string{})
	d.Request.ConnectorID = "other"
	record("d", []accesspolicy.Policy{pa2, pb1}, d)
	s.log.add(canonical(t, "custom.deploy", "", map[string]any{"service": "api"}))
}

// verifyResult is verify --json of a package.
type verifyResult struct {
	Verified bool `json:"verified"`
	Report   *struct {
		Events struct {
			Count int `json:"count"`
		} `json:"events"`
	} `json:"report"`
	Failure *struct {
		Check  string `json:"check"`
		File   string `json:"file"`
		Line   int64  `json:"line"`
		Index  int64  `json:"index"`
		Detail string `json:"detail"`
	} `json:"failure"`
	Decisions *struct {
		Count         int `json:"count"`
		Replayed      int `json:"replayed"`
		Agreed        int `json:"agreed"`
		Disagreed     int `json:"disagreed"`
		NotReplayable int `json:"not_replayable"`
		Disagreements []struct {
			Index       uint64      `json:"index"`
			Line        int64       `json:"line"`
			Type        string      `json:"type"`
			Differences []string    `json:"differences"`
			Recorded    outcomeJSON `json:"recorded"`
			Replayed    outcomeJSON `json:"replayed"`
		} `json:"disagreements"`
		NotReplayed []struct {
			Index   uint64 `json:"index"`
			Type    string `json:"type"`
			Reason  string `json:"reason"`
			Missing []struct {
				PolicyID      string `json:"policy_id"`
				PolicyVersion int64  `json:"policy_version"`
			} `json:"missing"`
		} `json:"not_replayed"`
	} `json:"decisions"`
}

type outcomeJSON struct {
	Allowed       bool   `json:"allowed"`
	PolicyID      string `json:"policy_id"`
	PolicyVersion int64  `json:"policy_version"`
	Evaluated     []struct {
		PolicyID string   `json:"policy_id"`
		Allowed  bool     `json:"allowed"`
		Reasons  []string `json:"reasons"`
	} `json:"evaluated"`
}

func (l *testLog) verifyJSON(t *testing.T, h *harness, file string, code int) verifyResult {
	t.Helper()
	r := l.verify(h, file, true)
	var v verifyResult
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != code {
		t.Fatalf("verify --json: exit %d, want %d (%v)\n%s\n%s", r.code, code, err, r.stdout, r.stderr)
	}
	checkNames(t, "verify --json", []byte(r.stdout))
	return v
}

// TestReplayAgrees: every decision of a package replays as recorded.
func TestReplayAgrees(t *testing.T) {
	var s accessScenario
	s.build(t)
	// The scenario decides what it means to.
	if a := s.decisions["a"]; !a.Allowed || a.PolicyID != "p-a" || len(a.Evaluated) != 2 || !a.Evaluated[1].Allowed {
		t.Fatalf("decision a: %+v", a)
	}
	if b := s.decisions["b"]; b.Allowed || len(b.Evaluated[0].Reasons) != 3 || !strings.Contains(b.Evaluated[0].Reasons[1], "separation of duties") {
		t.Fatalf("decision b: %+v", b)
	}
	if c := s.decisions["c"]; !c.Allowed || c.PolicyID != "p-a" || c.PolicyVersion != 2 {
		t.Fatalf("decision c: %+v", c)
	}
	if d := s.decisions["d"]; d.Allowed || len(d.Evaluated) != 0 {
		t.Fatalf("decision d: %+v", d)
	}
	file := s.log.pkg("all", nil)
	h := newHarness(t)
	r := s.log.verify(h, file, false)
	if r.code != cli.ExitOK || !strings.HasPrefix(r.stdout, "VERIFIED: evidence package ") ||
		!strings.Contains(r.stdout, "\nDecisions:  4 in the package: 4 replayed and agree, 0 disagree, 0 cannot be replayed\n") ||
		strings.Contains(r.stdout, "DISAGREES") || strings.Contains(r.stdout, "CANNOT REPLAY") {
		t.Fatalf("verify: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	v := s.log.verifyJSON(t, h, file, cli.ExitOK)
	if d := v.Decisions; !v.Verified || v.Failure != nil || d == nil || d.Count != 4 || d.Replayed != 4 || d.Agreed != 4 ||
		d.Disagreed != 0 || d.NotReplayable != 0 || d.Disagreements == nil || len(d.Disagreements) != 0 || d.NotReplayed == nil || len(d.NotReplayed) != 0 {
		t.Fatalf("verify --json: %+v %+v", v, v.Decisions)
	}
}

// TestReplayNoDecisions: a package without decisions reports as before.
func TestReplayNoDecisions(t *testing.T) {
	var s accessScenario
	s.build(t)
	file := s.log.pkg("policies", func(i uint64) bool {
		return i != s.index["a"] && i != s.index["b"] && i != s.index["c"] && i != s.index["d"]
	})
	h := newHarness(t)
	r := s.log.verify(h, file, false)
	if r.code != cli.ExitOK || !strings.Contains(r.stdout, "access.policy.created") || strings.Contains(r.stdout, "\nDecisions:") {
		t.Fatalf("verify: exit %d\n%s", r.code, r.stdout)
	}
	r = s.log.verify(h, file, true)
	if r.code != cli.ExitOK || strings.Contains(r.stdout, `"decisions"`) {
		t.Fatalf("verify --json: exit %d\n%s", r.code, r.stdout)
	}
}

// TestReplayDisagrees: a decision altered before it was recorded (and so
// signed and proven with the rest) fails verify, which says how.
func TestReplayDisagrees(t *testing.T) {
	tests := []struct {
		name     string
		decision string
		edit     func(*access.Decision)
		typ      string
		diffs    []string
		replayed bool // the replay's outcome: allowed
	}{
		{name: "input duration changed", decision: "a", edit: func(d *access.Decision) { d.Input.Request.DurationSeconds = 7200 },
			diffs:    []string{"policy p-b v1: recorded allowed, replay denied: the duration must be between 1s and 1h0m0s"},
			replayed: true},
		{name: "reason changed", decision: "b", edit: func(d *access.Decision) { d.Evaluated[0].Reasons[2] = "condition is true" },
			diffs: []string{`policy p-a v1: recorded reasons ["the duration must be between 1s and 8h0m0s", ` +
				`"separation of duties: the identity holds role:auditor, which conflicts with role:dba", "condition is true"], replay gives [` +
				`"the duration must be between 1s and 8h0m0s", "separation of duties: the identity holds role:auditor, which conflicts with role:dba", "condition is false"]`}},
		{name: "verdict flipped", decision: "b", typ: ec.AccessRequestSubmitted, edit: func(d *access.Decision) {
			d.Evaluated[1].Allowed, d.Evaluated[1].Reasons = true, []string{}
			d.Allowed, d.PolicyID, d.PolicyVersion = true, "p-b", 1
		}, diffs: []string{
			"policy p-b v1: recorded allowed, replay denied: the policy does not cover entitlement role:dba",
			"outcome: recorded allowed by policy p-b v1, replay denied",
		}},
		{name: "allowed flipped", decision: "a", typ: ec.AccessRequestSubmitted, edit: func(d *access.Decision) { d.Allowed = false },
			diffs: []string{
				"outcome: recorded denied, replay allowed by policy p-a v1",
				"an access.request.submitted event records denied",
			}, replayed: true},
		{name: "not the first allowing policy", decision: "a", edit: func(d *access.Decision) { d.PolicyID = "p-b" },
			diffs: []string{"outcome: recorded allowed by policy p-b v1, replay allowed by policy p-a v1"}, replayed: true},
		{name: "no policy evaluated", decision: "c", typ: ec.AccessRequestSubmitted, edit: func(d *access.Decision) { d.Evaluated = []access.Verdict{} },
			diffs: []string{"outcome: recorded allowed by policy p-a v2, replay denied"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := accessScenario{edit: map[string]func(*access.Decision){tt.decision: tt.edit}, typ: map[string]string{tt.decision: tt.typ}}
			s.build(t)
			file := s.log.pkg("altered", nil)
			idx := s.index[tt.decision]
			line := int64(idx) + 1
			h := newHarness(t)
			r := s.log.verify(h, file, false)
			wantErr := "nuxctl: verify " + file + ": decisions: events.jsonl line " + itoa(line) + " (leaf index " + itoa(int64(idx)) +
				"): 1 of 4 replayed decisions disagree with their record: " + strings.Join(tt.diffs, "; ") + "\n"
			if r.code != cli.ExitFailure || !strings.HasSuffix(r.stderr, wantErr) {
				t.Errorf("verify: exit %d, stderr:\n%s\nwant it to end with:\n%s", r.code, r.stderr, wantErr)
			}
			want := "DISAGREES: leaf index " + itoa(int64(idx)) + " (events.jsonl line " + itoa(line) + "), " + typeOr(tt.typ, s.decisions[tt.decision]) + "\n"
			for _, d := range tt.diffs {
				want += "  " + d + "\n"
			}
			if !strings.HasPrefix(r.stdout, "NOT VERIFIED: evidence package "+file+": its events are proven, but decisions disagree with their replay (below)\n") ||
				!strings.Contains(r.stdout, "Decisions:  4 in the package: 3 replayed and agree, 1 disagree, 0 cannot be replayed\n"+want) {
				t.Errorf("verify stdout:\n%s\nwant:\n%s", r.stdout, want)
			}
			v := s.log.verifyJSON(t, h, file, cli.ExitFailure)
			d := v.Decisions
			if v.Verified || v.Report == nil || v.Report.Events.Count != 8 || v.Failure == nil || v.Failure.Check != "decisions" ||
				v.Failure.Index != int64(idx) || v.Failure.Line != line || v.Failure.File != "events.jsonl" ||
				d == nil || d.Count != 4 || d.Replayed != 4 || d.Agreed != 3 || d.Disagreed != 1 || len(d.Disagreements) != 1 {
				t.Fatalf("verify --json: %+v %+v %+v", v, v.Failure, d)
			}
			x := d.Disagreements[0]
			rec := s.decisions[tt.decision]
			if x.Index != idx || x.Line != line || strings.Join(x.Differences, "\n") != strings.Join(tt.diffs, "\n") ||
				x.Recorded.Allowed != rec.Allowed || x.Recorded.PolicyID != rec.PolicyID || len(x.Recorded.Evaluated) != len(rec.Evaluated) ||
				x.Replayed.Allowed != tt.replayed || len(x.Replayed.Evaluated) != len(rec.Evaluated) {
				t.Errorf("disagreement: %+v", x)
			}
		})
	}
}

func typeOr(typ string, d access.Decision) string {
	if typ != "" {
		return typ
	}
	return outcomeType(d)
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

// TestReplayMissingPolicy: a decision whose policy version's text is not
// in the package is reported, not counted as agreeing, and does not fail
// verify.
func TestReplayMissingPolicy(t *testing.T) {
	var s accessScenario
	s.build(t)
	h := newHarness(t)
	// Without p-a v1 (index 0): decisions a and b cannot be replayed.
	file := s.log.pkg("without-pa1", func(i uint64) bool { return i != 0 })
	r := s.log.verify(h, file, false)
	want := "Decisions:  4 in the package: 2 replayed and agree, 0 disagree, 2 cannot be replayed\n" +
		"CANNOT REPLAY: 2 decisions, leaf indexes 2, 3: the text of policy p-a v1 is not in the package\n"
	if r.code != cli.ExitOK || !strings.HasPrefix(r.stdout, "VERIFIED: ") || !strings.HasSuffix(r.stdout, want) {
		t.Fatalf("verify: exit %d\n%s\nwant it to end with:\n%s", r.code, r.stdout, want)
	}
	v := s.log.verifyJSON(t, h, file, cli.ExitOK)
	d := v.Decisions
	if !v.Verified || d == nil || d.Count != 4 || d.Replayed != 2 || d.Agreed != 2 || d.NotReplayable != 2 || len(d.NotReplayed) != 2 {
		t.Fatalf("verify --json: %+v %+v", v, d)
	}
	for i, nr := range d.NotReplayed {
		if nr.Index != uint64(2+i) || nr.Reason != "the text of policy p-a v1 is not in the package" ||
			len(nr.Missing) != 1 || nr.Missing[0].PolicyID != "p-a" || nr.Missing[0].PolicyVersion != 1 {
			t.Errorf("not replayed: %+v", nr)
		}
	}

	// Only the decisions: but d, which no policy covered, cannot be replayed.
	file = s.log.pkg("decisions-only", func(i uint64) bool {
		return i == s.index["a"] || i == s.index["b"] || i == s.index["c"] || i == s.index["d"]
	})
	r = s.log.verify(h, file, false)
	want = "Decisions:  4 in the package: 1 replayed and agree, 0 disagree, 3 cannot be replayed\n" +
		"CANNOT REPLAY: 2 decisions, leaf indexes 2, 3: the texts of policy p-a v1, policy p-b v1 are not in the package\n" +
		"CANNOT REPLAY: leaf index 5: the texts of policy p-a v2, policy p-b v1 are not in the package\n"
	if r.code != cli.ExitOK || !strings.HasSuffix(r.stdout, want) {
		t.Fatalf("verify: exit %d\n%s\nwant it to end with:\n%s", r.code, r.stdout, want)
	}

	// A decision made under a version whose text the log records only
	// after it.
	l := newTestLog(t)
	late := testPolicy("p-late", 1, func(*accesspolicy.Policy) {})
	in := testInput("requester", "role:readonly", 60, "x", []string{}, map[string]string{})
	l.add(decisionEvent(t, ec.AccessRequestSubmitted, decide([]accesspolicy.Policy{late}, in)))
	l.add(policyEvent(t, late))
	r = l.verify(h, l.pkg("late", nil), false)
	want = "CANNOT REPLAY: leaf index 0: the text of policy p-late v1 is not in the package before it: policy p-late v1 is recorded only after the decision (leaf index 1)\n"
	if r.code != cli.ExitOK || !strings.HasSuffix(r.stdout, want) {
		t.Fatalf("verify: exit %d\n%s\nwant it to end with:\n%s", r.code, r.stdout, want)
	}

	// A disagreement and a decision that cannot be replayed: verify fails
	// for the disagreement, and reports both.
	s = accessScenario{edit: map[string]func(*access.Decision){"c": func(d *access.Decision) { d.Input.Identity.Attributes["team"] = "web" }}}
	s.build(t)
	file = s.log.pkg("both", func(i uint64) bool { return i != 0 })
	r = s.log.verify(h, file, false)
	if r.code != cli.ExitFailure || !strings.Contains(r.stdout, "Decisions:  4 in the package: 1 replayed and agree, 1 disagree, 2 cannot be replayed\n"+
		"DISAGREES: leaf index 5 (events.jsonl line 5), access.request.submitted\n"+
		"  policy p-a v2: recorded allowed, replay denied: condition is false\n"+
		"  outcome: recorded allowed by policy p-a v2, replay denied\n"+
		"CANNOT REPLAY: 2 decisions, leaf indexes 2, 3: the text of policy p-a v1 is not in the package\n") {
		t.Fatalf("verify: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// The decision c no longer passes p-a v2's condition, but p-b v1's
	// text is missing: it cannot be replayed, and nothing fails.
	file = s.log.pkg("c-without-pb", func(i uint64) bool { return i != 1 && i != s.index["a"] && i != s.index["b"] })
	if r = s.log.verify(h, file, false); r.code != cli.ExitOK || !strings.Contains(r.stdout, "1 replayed and agree, 0 disagree, 1 cannot be replayed") {
		t.Fatalf("verify: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestReplayUnreadable: a decision or a policy text that this nuxctl
// cannot read exactly is not replayed, and says why.
func TestReplayUnreadable(t *testing.T) {
	var s accessScenario
	s.build(t)
	edit := func(i uint64, old, new string) {
		if !bytes.Contains(s.log.events[i], []byte(old)) {
			t.Fatalf("event %d has no %s:\n%s", i, old, s.log.events[i])
		}
		s.log.events[i] = bytes.Replace(s.log.events[i], []byte(old), []byte(new), 1)
	}
	// A member in another letter case beside the real one.
	edit(s.index["a"], `"decision":{"allowed":true,`, `"decision":{"Allowed":false,"allowed":true,`)
	// A member of a policy text that this nuxctl does not know.
	edit(4, `"policy":{"allow_self_approval":false,`, `"policy":{"allow_self_approval":false,"break_glass":true,`)
	// A member given twice.
	edit(s.index["d"], `"decision":{"allowed":false,`, `"decision":{"allowed":false,"allowed":false,`)
	file := s.log.pkg("unreadable", nil)
	h := newHarness(t)
	v := s.log.verifyJSON(t, h, file, cli.ExitOK)
	d := v.Decisions
	if !v.Verified || d == nil || d.Count != 4 || d.Replayed != 1 || d.Agreed != 1 || d.NotReplayable != 3 {
		t.Fatalf("verify --json: %+v %+v", v, d)
	}
	want := []string{
		`the decision cannot be read: event.data.decision: member "Allowed" differs in letter case from "allowed"`,
		`policy p-a v2: its text (leaf index 4) cannot be read: event.data.policy: unknown member "break_glass"`,
		`the decision cannot be read: event.data.decision: member "allowed" occurs twice`,
	}
	for i, nr := range d.NotReplayed {
		if nr.Reason != want[i] || len(nr.Missing) != 0 {
			t.Errorf("not replayed %d: %+v, want reason %q", i, nr, want[i])
		}
	}
}
