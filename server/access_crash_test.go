package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/connector/postgres"
	"github.com/nuxari/nuxari/governance/connectors"
	"github.com/nuxari/nuxari/internal/pgtest"
	"github.com/nuxari/nuxari/internal/secret"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// The access crash helper is this test binary run again as a server of
// its own, whose PostgreSQL connectors kill the process with SIGKILL at a
// point of a plan's run that its environment names: no production hook
// is needed, the helper offers the PostgreSQL driver wrapped.
const (
	accessCrashPointEnv = "NUXARI_TEST_ACCESS_CRASH_POINT"
	accessCrashDirEnv   = "NUXARI_TEST_ACCESS_CRASH_DATA_DIR"
	accessCrashURLEnv   = "NUXARI_TEST_ACCESS_CRASH_URL_FILE"
)

// The points of a plan's run at which the helper dies.
const (
	// crashBeforeGrant: the run started and opened the connector; the
	// grant is not made.
	crashBeforeGrant = "before-grant"
	// crashAfterGrant: PostgreSQL made the grant; its action is not
	// recorded.
	crashAfterGrant = "after-grant"
	// crashAfterRecord: the action is recorded (access.action.executed);
	// the run's end is not.
	crashAfterRecord = "after-record"
)

func accessCrashLine(point string) string { return "access crash helper: SIGKILL at " + point }

// crashDriver is the PostgreSQL driver whose connectors die at point.
type crashDriver struct {
	postgres.Driver
	point string
}

func (d crashDriver) Open(settings []byte, creds map[string]secret.String) (connector.Connector, error) {
	c, err := d.Driver.Open(settings, creds)
	if err != nil {
		return nil, err
	}
	return &crashConn{Connector: c, point: d.point}, nil
}

// crashConn is a PostgreSQL connector that dies at point; a connector
// that granted nothing (a sync's, a test's) closes as usual.
type crashConn struct {
	connector.Connector
	point   string
	granted atomic.Bool
}

func die(point string) {
	fmt.Fprintln(os.Stderr, accessCrashLine(point))
	if err := syscall.Kill(os.Getpid(), syscall.SIGKILL); err != nil {
		fmt.Fprintln(os.Stderr, "access crash helper: kill:", err)
	}
	select {} // nothing more of the run happens
}

func (c *crashConn) Grant(ctx context.Context, identityID, entitlementID string) error {
	if c.point == crashBeforeGrant {
		die(c.point)
	}
	err := c.Connector.Grant(ctx, identityID, entitlementID)
	if err == nil && c.point == crashAfterGrant {
		die(c.point)
	}
	c.granted.Store(err == nil)
	return err
}

// Close is called by the plan's run after its actions are recorded.
func (c *crashConn) Close() error {
	if c.point == crashAfterRecord && c.granted.Load() {
		die(c.point)
	}
	return c.Connector.Close()
}

// TestAccessCrashHelper is not a test: TestAccessPlanCrash runs it in a
// process of its own (see accessCrashPointEnv).
func TestAccessCrashHelper(t *testing.T) {
	point := os.Getenv(accessCrashPointEnv)
	if point == "" {
		t.Skip("a server process of TestAccessPlanCrash's, not a test")
	}
	ts := servertest.Start(t, func(c *server.Config) {
		c.DataDir = os.Getenv(accessCrashDirEnv)
		c.Logger = server.NewLogger(os.Stderr, slog.LevelDebug)
		c.Governance.Connectors.Drivers = []connectors.Driver{crashDriver{point: point}}
	})
	file := os.Getenv(accessCrashURLEnv)
	if err := os.WriteFile(file+".tmp", []byte(ts.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Minute)
	t.Fatalf("not killed at %s within 2 minutes", point)
}

// startAccessCrashHelper starts a server on dataDir whose plan runs die
// at point, and waits until it answers.
func startAccessCrashHelper(t *testing.T, dataDir, point string) *crashHelper {
	t.Helper()
	return startHelperProcess(t, "TestAccessCrashHelper", func(urlFile string) []string {
		return []string{accessCrashPointEnv + "=" + point, accessCrashDirEnv + "=" + dataDir, accessCrashURLEnv + "=" + urlFile}
	})
}

// TestAccessPlanCrash kills a real server process with SIGKILL during an
// approved plan's run, at each point of it (see crashBeforeGrant, …),
// then starts nuxarid on the same data directory. The run resumes and
// completes: alice is a member of the group in PostgreSQL, the access
// grant is active, and the log holds exactly one access.action.executed,
// successful, for the action, whether the interrupted run had made the
// grant, recorded it, or neither: the second run neither records a done
// action again nor makes a grant twice. The log holds the runs in order,
// each in a signed checkpoint.
func TestAccessPlanCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds, kills and restarts servers")
	}
	pg := pgtest.Need(t)
	if _, err := nuxarid(); err != nil {
		t.Fatal(err)
	}
	for _, point := range []string{crashBeforeGrant, crashAfterGrant, crashAfterRecord} {
		t.Run(point, func(t *testing.T) {
			t.Parallel()
			accessPlanCrash(t, pg, point)
		})
	}
}

func accessPlanCrash(t *testing.T, pg pgtest.Server, point string) {
	ctx := context.Background()
	admin := pg.Admin(t, pg.Database)
	prefix := pgtest.NewPrefix(t)
	pgtest.DropRoles(t, admin, prefix)
	connPW := pgPassword("CrashConnPw")
	pgLoginRole(t, admin, prefix+"connector", connPW)
	pgtest.Exec(t, admin, "CREATE ROLE "+pgtest.Ident(prefix+"alice")+" LOGIN", "CREATE ROLE "+pgtest.Ident(prefix+"group")+" NOLOGIN")
	alice, group := pgRoleID(t, admin, prefix+"alice"), pgRoleID(t, admin, prefix+"group")
	a := &pgAccess{admin: admin, prefix: prefix}

	// The first server: an org, a connector synced, a policy of one
	// approval, a request; the approval starts the run, which dies at
	// point.
	dir := t.TempDir()
	h := startAccessCrashHelper(t, dir, point)
	hs := &servertest.Server{URL: h.url}
	const org = "accesscrash"
	ownerTok, _ := hs.Signup(t, org, "o@example.com", ownerPW)
	_, approverID := hs.AddMember(t, ownerTok, org, "approver@example.com", "approver password 1", nuxariv1.Role_ROLE_APPROVER)
	owner := h.clients(ownerTok)
	approver := h.clients(hs.Login(t, org, "approver@example.com", "approver password 1"))
	conn := must(owner.Connectors.CreateConnector(ctx, req(&nuxariv1.CreateConnectorRequest{
		Name: "crash " + point, Settings: pgSettings(pg, prefix, prefix+"connector"), Credentials: pgCreds(connPW),
	})))(t).Msg.Connector.ConnectorId
	if sy := syncNow(t, owner, conn); sy.State != syncSucceeded {
		t.Fatalf("sync: %v", sy)
	}
	must(owner.Access.CreatePolicy(ctx, req(&nuxariv1.CreatePolicyRequest{Policy: accessPolicy(conn, func(p *nuxariv1.Policy) {
		p.ApproverRoles = []string{"approver"}
	})})))(t)
	sub := must(owner.Access.SubmitRequest(ctx, req(&nuxariv1.SubmitRequestRequest{
		ConnectorId: conn, IdentityId: alice, EntitlementId: group, Justification: "crash at " + point,
	})))(t).Msg
	planID := sub.Plan.PlanId
	// The run may start, and the process die, before the approval's
	// answer is written: success or a broken call will do, a refusal
	// will not.
	_, err := approver.Access.ApprovePlan(ctx, req(&nuxariv1.ApprovePlanRequest{PlanId: planID}))
	switch connect.CodeOf(err) {
	case connect.CodePermissionDenied, connect.CodeFailedPrecondition, connect.CodeInvalidArgument, connect.CodeNotFound, connect.CodeAborted:
		t.Fatalf("the approval was refused: %v", err)
	}
	select {
	case <-h.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the access crash helper still runs 30 s after the approval: %s", h.logs.String())
	}
	if ws, ok := h.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the access crash helper ended with %v, not SIGKILL: %s", h.cmd.ProcessState, h.logs.String())
	}
	if !strings.Contains(h.logs.String(), accessCrashLine(point)) {
		t.Fatalf("the access crash helper was killed, but not at %s: %s", point, h.logs.String())
	}
	if got, want := a.member(t, "alice", "group"), point != crashBeforeGrant; got != want {
		t.Fatalf("after the kill at %s, alice a member of the group: %v, want %v", point, got, want)
	}

	// nuxarid on the same data directory resumes the run.
	p := startProcess(t, dir)
	login := must(p.clients("").Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: org, Email: "o@example.com", Password: ownerPW})))(t)
	c := p.clients(login.Msg.SessionToken)
	done := waitPlan(t, c, planID)
	if done.State != planDone || len(done.Actions) != 1 || done.Actions[0].State != "done" || done.Actions[0].Error != "" {
		t.Fatalf("the plan after the restart: %v\n%s", done, p.logs.String())
	}
	if !a.member(t, "alice", "group") {
		t.Fatal("the plan is done, but alice is not a member of the group in PostgreSQL")
	}
	gs := accessGrants(t, c, sub.Request.RequestId)
	if len(gs) != 1 || gs[0].State != "active" || gs[0].IdentityId != alice || gs[0].EntitlementId != group {
		t.Fatalf("the request's access grants after the restart: %v", gs)
	}

	evs := planEvents(logWith(t, c, org, "plan:"+planID, "access.plan.run.completed"), []string{planID})
	type ev struct{ typ, actor string }
	want := []ev{
		{"access.plan.approved", approverID},
		{"access.plan.run.started", "system"},
		{"connector.credential.accessed", "system"},
	}
	if point == crashAfterRecord {
		want = append(want, ev{"access.action.executed", "system"})
	}
	want = append(want, ev{"access.plan.run.requeued", "system"}, ev{"access.plan.run.started", "system"}, ev{"connector.credential.accessed", "system"})
	if point != crashAfterRecord {
		want = append(want, ev{"access.action.executed", "system"})
	}
	want = append(want, ev{"access.plan.run.completed", "system"})
	var got []ev
	executed := 0
	for _, e := range evs {
		got = append(got, ev{e.Type, e.Actor})
		if e.Type == "access.action.executed" {
			executed++
			if e.Data["ok"] != true || e.Data["kind"] != "grant" || e.Data["grant_id"] != gs[0].GrantId {
				t.Errorf("access.action.executed: %v", e.Data)
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the plan's events after a kill at %s:\n got %v\nwant %v", point, got, want)
	}
	if executed != 1 {
		t.Fatalf("%d access.action.executed events, want exactly 1", executed)
	}
	verifyInLog(t, c, org, evs)
}
