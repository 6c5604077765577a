// Package e2e runs the console's browser tests: a real nuxarid (the
// server package, serving the embedded console) on loopback, seeded with
// an org whose members hold every role the console speaks of, driven by
// run.mjs in headless Chromium with playwright-core.
//
// They run under `make web-test` (NUXARI_BROWSER_TESTS=1, with
// NUXARI_CHROMIUM naming the browser) and skip otherwise, since they
// need the built console, Node.js and Chromium.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/nuxari/nuxari/evidence/archive"
	"github.com/nuxari/nuxari/ledger/verify"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server/servertest"
)

var screenshots = flag.String("screenshots", "", "write the pages' screenshots to this directory (docs/console to update the docs)")

const (
	org = "acme"
	pw  = "a long console password"
)

// seed is what run.mjs is told.
type seed struct {
	URL       string            `json:"url"`
	Org       string            `json:"org"`
	Password  string            `json:"password"`
	Users     map[string]string `json:"users"` // role -> email
	PlanID    string            `json:"planId"`
	Event     uint64            `json:"event"`
	Earlier   uint64            `json:"earlier"`
	Shots     string            `json:"screenshots"`
	Downloads string            `json:"downloads"`
	Chromium  string            `json:"chromium"`
}

func req[T any](m *T) *connect.Request[T] { return connect.NewRequest(m) }

func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestConsoleInBrowser(t *testing.T) {
	if os.Getenv("NUXARI_BROWSER_TESTS") != "1" {
		t.Skip("browser tests run under make web-test (NUXARI_BROWSER_TESTS=1)")
	}
	chromium := os.Getenv("NUXARI_CHROMIUM")
	if chromium == "" {
		t.Fatal("NUXARI_CHROMIUM names no browser: run scripts/chromium.sh")
	}
	if _, err := os.Stat("../../internal/console/dist/app/index.html"); err != nil {
		t.Fatal("the console is not built: run make web")
	}
	ctx := context.Background()
	d := servertest.NewFakeDriver()
	ts := servertest.Start(t, servertest.WithFakeDriver(d))

	ownerTok, _ := ts.Signup(t, org, "owner@acme.example", pw)
	owner := ts.Clients(ownerTok)
	users := map[string]string{"owner": "owner@acme.example"}
	ids := map[string]string{}
	for _, m := range []struct {
		name string
		role nuxariv1.Role
	}{
		{"approver", nuxariv1.Role_ROLE_APPROVER},
		{"auditor", nuxariv1.Role_ROLE_AUDITOR},
		{"readonly", nuxariv1.Role_ROLE_READONLY},
		{"requester", nuxariv1.Role_ROLE_REQUESTER},
	} {
		users[m.name] = m.name + "@acme.example"
		_, ids[m.name] = ts.AddMember(t, ownerTok, org, users[m.name], pw, m.role)
	}
	requesterTok := ts.Login(t, org, users["requester"], pw)

	// Events of the org's own, so that the log has more than one page
	// of proof to show.
	for i := range 12 {
		data := must(structpb.NewStruct(map[string]any{"service": "billing", "version": float64(i + 1)}))(t)
		must(owner.Ledger.AppendEvents(ctx, req(&nuxariv1.AppendEventsRequest{Events: []*nuxariv1.NewEvent{{Type: "custom.deploy", Data: data}}})))(t)
	}

	// A checkpoint handed out now is kept: the console checks that the
	// latest extends it.
	earlier := must(owner.Ledger.GetCheckpoint(ctx, req(&nuxariv1.GetCheckpointRequest{})))(t).Msg.Checkpoint.Size

	// A connector to a fake system, a policy that asks an approver, and
	// a request: a plan waits in the approver's inbox.
	sys := servertest.NewFakeSystem("FakeSystemPassword1")
	sys.AddIdentity("user:alice", "alice", map[string]string{"department": "finance"})
	sys.AddEntitlement("role:readers", "readers")
	conn := must(owner.Connectors.CreateConnector(ctx, req(&nuxariv1.CreateConnectorRequest{
		Name: "billing database", Settings: d.Add("billing", sys),
		Credentials: &nuxariv1.ConnectorCredentials{Kind: &nuxariv1.ConnectorCredentials_Postgres{Postgres: &nuxariv1.PostgresCredentials{Password: "FakeSystemPassword1"}}},
	})))(t).Msg.Connector
	sync := must(owner.Connectors.SyncConnector(ctx, req(&nuxariv1.SyncConnectorRequest{ConnectorId: conn.ConnectorId})))(t).Msg.Sync
	waitSync(t, owner, sync.SyncId)
	must(owner.Access.CreatePolicy(ctx, req(&nuxariv1.CreatePolicyRequest{Policy: &nuxariv1.Policy{
		Name: "billing readers", ConnectorId: conn.ConnectorId, Approvals: 1, ApproverRoles: []string{"approver"},
	}})))(t)
	sub := must(ts.Clients(requesterTok).Access.SubmitRequest(ctx, req(&nuxariv1.SubmitRequestRequest{
		ConnectorId: conn.ConnectorId, IdentityId: "user:alice", EntitlementId: "role:readers", Justification: "month-end close",
	})))(t).Msg

	shots := t.TempDir()
	if *screenshots != "" {
		shots = must(filepath.Abs(*screenshots))(t)
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	downloads := t.TempDir()
	cp := must(owner.Ledger.GetCheckpoint(ctx, req(&nuxariv1.GetCheckpointRequest{})))(t).Msg
	s := seed{URL: ts.URL, Org: org, Password: pw, Users: users, PlanID: sub.Plan.PlanId, Event: cp.Checkpoint.Size - 3, Earlier: earlier, Shots: shots, Downloads: downloads, Chromium: chromium}
	cfg := must(json.Marshal(s))(t)

	ctxRun, cancel := context.WithTimeout(ctx, 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctxRun, "node", "run.mjs")
	cmd.Env = append(os.Environ(), "NUXARI_E2E="+string(cfg))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("run.mjs:\n%s", out.String())
	if err != nil {
		t.Fatalf("the browser tests failed: %v (server logs:\n%s)", err, tail(ts.Logs.String(), 60))
	}

	// What the browser did went through the same audited RPCs as the
	// CLI's: the approval is the approver's, in the log.
	plan := must(owner.Access.GetPlan(ctx, req(&nuxariv1.GetPlanRequest{PlanId: sub.Plan.PlanId})))(t).Msg.Plan
	if len(plan.Approvals) != 1 || plan.Approvals[0].Approver != ids["approver"] || !plan.Approvals[0].Approved || plan.Approvals[0].Comment != "approved in the console" {
		t.Errorf("the plan after the browser approved it: %v", plan)
	}
	evs := must(owner.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{Types: []string{"access.plan.approved"}})))(t).Msg.Events
	if len(evs) != 1 || evs[0].Actor != ids["approver"] {
		t.Errorf("access.plan.approved events: %v, want one by the approver %s", evs, ids["approver"])
	}
	// The readonly member's forced AddMember was refused and added no one.
	members := must(owner.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{})))(t).Msg.Members
	if slices.ContainsFunc(members, func(m *nuxariv1.Member) bool { return strings.HasPrefix(m.Email, "intruder") }) {
		t.Error("the readonly member's forced AddMember added a member")
	}

	// The package the browser downloaded verifies with the Go verifier
	// too, against keys asked of the server here.
	pkgs, _ := filepath.Glob(filepath.Join(downloads, "*.zip"))
	if len(pkgs) != 1 {
		t.Fatalf("downloads: %v, want one package", pkgs)
	}
	b := must(os.ReadFile(pkgs[0]))(t)
	sk := must(owner.Evidence.GetSigningKey(ctx, req(&nuxariv1.GetSigningKeyRequest{})))(t).Msg.PublicKeyPem
	rep, err := archive.Verify(bytes.NewReader(b), int64(len(b)), archive.Pins{LogKey: cp.VerifierKey, Origin: verify.Origin(verify.DefaultLogName, org), SigningKey: sk})
	if err != nil {
		t.Fatalf("the downloaded package does not verify with the Go verifier: %v", err)
	}
	t.Logf("the downloaded package verifies with the Go verifier too: tree size %d, %v", rep.TreeSize, rep.Events)
}

func waitSync(t *testing.T, c servertest.Clients, id string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s := must(c.Connectors.GetSync(context.Background(), req(&nuxariv1.GetSyncRequest{SyncId: id})))(t).Msg.Sync
		if s.State == nuxariv1.SyncState_SYNC_STATE_SUCCEEDED {
			return
		}
		if s.State == nuxariv1.SyncState_SYNC_STATE_FAILED {
			t.Fatalf("sync failed: %v", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the sync did not end")
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
