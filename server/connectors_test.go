package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/governance/connectors"
	"github.com/nuxari/nuxari/internal/pgtest"
	"github.com/nuxari/nuxari/ledger/verify"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server/servertest"
)

// Connector and sync states, short.
const (
	stActive         = nuxariv1.ConnectorState_CONNECTOR_STATE_ACTIVE
	stPaused         = nuxariv1.ConnectorState_CONNECTOR_STATE_PAUSED
	stRotating       = nuxariv1.ConnectorState_CONNECTOR_STATE_ROTATING
	stFailed         = nuxariv1.ConnectorState_CONNECTOR_STATE_FAILED
	stDecommissioned = nuxariv1.ConnectorState_CONNECTOR_STATE_DECOMMISSIONED
	syncRunning      = nuxariv1.SyncState_SYNC_STATE_RUNNING
	syncSucceeded    = nuxariv1.SyncState_SYNC_STATE_SUCCEEDED
	syncFailed       = nuxariv1.SyncState_SYNC_STATE_FAILED
)

// waitSync polls a sync until it is no longer running.
func waitSync(t testing.TB, c servertest.Clients, id string) *nuxariv1.Sync {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := c.Connectors.GetSync(context.Background(), req(&nuxariv1.GetSyncRequest{SyncId: id}))
		if err != nil {
			t.Fatalf("GetSync %s: %v", id, err)
		}
		if res.Msg.Sync.State != syncRunning {
			return res.Msg.Sync
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync %s still running after 60 s", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// syncNow starts a sync of connector id and waits for its end.
func syncNow(t testing.TB, c servertest.Clients, id string) *nuxariv1.Sync {
	t.Helper()
	res, err := c.Connectors.SyncConnector(context.Background(), req(&nuxariv1.SyncConnectorRequest{ConnectorId: id}))
	if err != nil {
		t.Fatalf("SyncConnector %s: %v", id, err)
	}
	if res.Msg.Sync.GetSyncId() == "" || res.Msg.Sync.ConnectorId != id {
		t.Fatalf("SyncConnector %s: %v", id, res.Msg.Sync)
	}
	return waitSync(t, c, res.Msg.Sync.SyncId)
}

// waitReseal polls the org's sealing keys until the reseal job job has
// ended, and returns them.
func waitReseal(t testing.TB, c servertest.Clients, job string) *nuxariv1.GetSealingKeysResponse {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := c.Connectors.GetSealingKeys(context.Background(), req(&nuxariv1.GetSealingKeysRequest{}))
		if err != nil {
			t.Fatalf("GetSealingKeys: %v", err)
		}
		if res.Msg.ResealJobId == job && res.Msg.ResealState != "running" {
			return res.Msg
		}
		if time.Now().After(deadline) {
			t.Fatalf("reseal %s not ended after 60 s: %v", job, res.Msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// allGrants lists every grant of connector id's latest snapshot, pages of
// size at a time, and the snapshot; every page must describe the same
// snapshot.
func allGrants(t testing.TB, c servertest.Clients, id string, size int32) ([]*nuxariv1.Grant, *nuxariv1.SyncSummary) {
	t.Helper()
	var out []*nuxariv1.Grant
	var snap *nuxariv1.SyncSummary
	tok := ""
	for page := 0; ; page++ {
		res, err := c.Connectors.ListGrants(context.Background(), req(&nuxariv1.ListGrantsRequest{ConnectorId: id, PageSize: size, PageToken: tok}))
		if err != nil {
			t.Fatalf("ListGrants %s page %d: %v", id, page, err)
		}
		if size > 0 && len(res.Msg.Grants) > int(size) {
			t.Fatalf("ListGrants page of size %d holds %d grants", size, len(res.Msg.Grants))
		}
		if page == 0 {
			snap = res.Msg.Snapshot
		} else if res.Msg.Snapshot.GetSyncId() != snap.GetSyncId() {
			t.Fatalf("ListGrants page %d describes snapshot %v, page 0 %v", page, res.Msg.Snapshot, snap)
		}
		out = append(out, res.Msg.Grants...)
		if tok = res.Msg.NextPageToken; tok == "" {
			return out, snap
		}
		if page > 100_000 {
			t.Fatal("ListGrants does not end")
		}
	}
}

// grantsDigest is the digest of listed grants, as docs/connectors.md
// defines it.
func grantsDigest(gs []*nuxariv1.Grant) string {
	var cg []connector.Grant
	for _, g := range gs {
		cg = append(cg, connector.Grant{IdentityID: g.IdentityId, EntitlementID: g.EntitlementId})
	}
	return connectors.GrantsDigest(cg)
}

// grantKeys returns each grant as "identity → entitlement" with their
// IDs, names and kind, in order.
func grantKeys(gs []*nuxariv1.Grant) []string {
	var out []string
	for _, g := range gs {
		out = append(out, fmt.Sprintf("%s %q → %s %q (%s)", g.IdentityId, g.IdentityName, g.EntitlementId, g.EntitlementName, g.EntitlementKind))
	}
	return out
}

// logEvent is an event of an org's log as the API returns it: its index,
// leaf bytes and parsed event.
type logEvent struct {
	auditEvent
	index uint64
	leaf  []byte
}

// orgLog reads org's whole log through the API, each leaf checked to be
// the org's at its index.
func orgLog(t testing.TB, c servertest.Clients, org string) []logEvent {
	t.Helper()
	var out []logEvent
	tok := ""
	for {
		res, err := c.Ledger.ListEvents(context.Background(), req(&nuxariv1.ListEventsRequest{PageSize: 1000, PageToken: tok}))
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		for _, e := range res.Msg.Events {
			lf, err := verify.LeafAt(e.Leaf, org, e.Index)
			if err != nil {
				t.Fatalf("event %d: %v", e.Index, err)
			}
			var ae auditEvent
			if err := json.Unmarshal(lf.Event, &ae); err != nil {
				t.Fatalf("event %d: %v", e.Index, err)
			}
			out = append(out, logEvent{ae, e.Index, e.Leaf})
		}
		if tok = res.Msg.NextPageToken; tok == "" {
			return out
		}
	}
}

// ofSubject returns the events of evs about subject, in order.
func ofSubject(evs []logEvent, subject string) []logEvent {
	var out []logEvent
	for _, e := range evs {
		if e.Subject == subject {
			out = append(out, e)
		}
	}
	return out
}

func logTypes(evs []logEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

// verifyInLog checks that each event is in a checkpoint the org's log
// key signed: a checkpoint covering them all, and an inclusion proof of
// each leaf.
func verifyInLog(t testing.TB, c servertest.Clients, org string, evs []logEvent) {
	t.Helper()
	if len(evs) == 0 {
		t.Fatal("no events to verify")
	}
	ctx := context.Background()
	var last uint64
	for _, e := range evs {
		last = max(last, e.index)
	}
	orgRes, err := c.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	cp := waitCheckpointFor(t, c, last+1)
	v, err := verify.NewVerifier(cp.VerifierKey, orgRes.Msg.Org.LogOrigin)
	if err != nil {
		t.Fatal(err)
	}
	checkpoint, err := v.Checkpoint([]byte(cp.Checkpoint.Note))
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	for _, e := range evs {
		p, err := c.Ledger.GetInclusionProof(ctx, req(&nuxariv1.GetInclusionProofRequest{Index: e.index, TreeSize: checkpoint.Size}))
		if err != nil {
			t.Fatalf("inclusion proof of %d: %v", e.index, err)
		}
		if err := verify.Inclusion(verify.LeafHash(e.leaf), e.index, checkpoint.Size, p.Msg.Hashes, checkpoint.Root); err != nil {
			t.Errorf("event %d (%s) is not in the signed checkpoint of size %d: %v", e.index, e.Type, checkpoint.Size, err)
		}
	}
}

// waitCheckpointFor is waitCheckpoint with a deadline that suits a busy
// machine.
func waitCheckpointFor(t testing.TB, c servertest.Clients, size uint64) *nuxariv1.GetCheckpointResponse {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := c.Ledger.GetCheckpoint(context.Background(), req(&nuxariv1.GetCheckpointRequest{}))
		if err == nil && res.Msg.Checkpoint.GetSize() >= size {
			return res.Msg
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of size ≥ %d after 30 s: %v", size, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rotateTime returns when connector c's field was stored.
func rotateTime(t testing.TB, c *nuxariv1.Connector, field string) time.Time {
	t.Helper()
	for _, f := range c.Credentials {
		if f.Name == field {
			return f.RotateTime.AsTime()
		}
	}
	t.Fatalf("connector %s has no credential %s: %v", c.ConnectorId, field, c.Credentials)
	return time.Time{}
}

// noneOf fails t if the protojson form of msg holds any of secrets.
func noneOf(t testing.TB, what string, msg proto.Message, secrets ...string) {
	t.Helper()
	b, err := protojson.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets {
		if strings.Contains(string(b), s) {
			t.Errorf("%s holds a credential: %s", what, b)
		}
	}
}

// TestConnectorAgainstPostgres drives a PostgreSQL connector's life over
// the API against a real server: roles, groups and memberships with
// quotes, spaces and non-ASCII names; create, test, sync, grants, digest
// stability and change, a wrong password failing the connector and a
// rotation curing it, a refused rotation keeping the old credential,
// update, pause, resume, decommission. Every step's events are in the
// org's log, in order, each provably in a signed checkpoint.
func TestConnectorAgainstPostgres(t *testing.T) {
	t.Parallel()
	pg := pgtest.Need(t)
	admin := pg.Admin(t, pg.Database)
	ctx := context.Background()
	prefix := pgtest.NewPrefix(t)
	pgtest.DropRoles(t, admin, prefix)
	connRole := prefix + "connector"
	pw1, pw2, pwBad := pgPassword("FirstPw"), pgPassword("SecondPw"), pgPassword("RefusedPw")
	pgLoginRole(t, admin, connRole, pw1)
	users := []string{prefix + `ada "the" quoted`, prefix + "bob with spaces", prefix + "zoë 日本"}
	groups := []string{prefix + `grp "q"`, prefix + "readers group", prefix + "ädmins ☃"}
	for _, u := range users {
		pgtest.Exec(t, admin, "CREATE ROLE "+pgtest.Ident(u)+" LOGIN")
	}
	for _, g := range groups {
		pgtest.Exec(t, admin, "CREATE ROLE "+pgtest.Ident(g)+" NOLOGIN")
	}
	memberships := [][2]int{{0, 0}, {0, 1}, {1, 1}, {2, 2}}
	grant := func(m [2]int) {
		pgtest.Exec(t, admin, "GRANT "+pgtest.Ident(groups[m[1]])+" TO "+pgtest.Ident(users[m[0]]))
	}
	for _, m := range memberships {
		grant(m)
	}
	// The grants this test made, as ListGrants must show them.
	want := func(ms [][2]int) []string {
		var gs []*nuxariv1.Grant
		for _, m := range ms {
			gs = append(gs, &nuxariv1.Grant{
				IdentityId: pgRoleID(t, admin, users[m[0]]), IdentityName: users[m[0]],
				EntitlementId: pgRoleID(t, admin, groups[m[1]]), EntitlementName: groups[m[1]], EntitlementKind: "role",
			})
		}
		slices.SortFunc(gs, func(a, b *nuxariv1.Grant) int {
			return strings.Compare(a.IdentityId+"\x00"+a.EntitlementId, b.IdentityId+"\x00"+b.EntitlementId)
		})
		return grantKeys(gs)
	}

	ts := servertest.Start(t)
	const org = "pgconn"
	ownerTok, ownerID := ts.Signup(t, org, "owner@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	cc := owner.Connectors
	secrets := []string{pw1, pw2, pwBad}

	// Create: active, the settings as given, the credential's field but
	// never its value.
	created := must(cc.CreateConnector(ctx, req(&nuxariv1.CreateConnectorRequest{
		Name: "Warehouse DB", Settings: pgSettings(pg, prefix, connRole), Credentials: pgCreds(pw1),
	})))(t).Msg.Connector
	id := created.ConnectorId
	s := created.Settings.GetPostgres()
	if created.State != stActive || created.Kind != "postgres" || created.Name != "Warehouse DB" || created.CreatedBy != ownerID ||
		s.GetUser() != connRole || s.GetRolePrefix() != prefix || s.GetTlsMode() != "verify-full" || s.GetCaPem() != pg.CAPEM || s.GetPort() != uint32(pg.Port) ||
		len(created.Credentials) != 1 || created.Credentials[0].Name != "password" || created.Credentials[0].KeyId == 0 ||
		created.LastSync != nil || created.SyncId != "" || created.RotationStep != "" {
		t.Fatalf("CreateConnector: %v", created)
	}
	noneOf(t, "CreateConnector's response", created, secrets...)
	rotated1 := rotateTime(t, created, "password")

	tested := must(cc.TestConnector(ctx, req(&nuxariv1.TestConnectorRequest{ConnectorId: id})))(t).Msg
	if !tested.Ok || tested.Error != "" || tested.Connector.State != stActive {
		t.Fatalf("TestConnector: %v", tested)
	}

	// Syncs: the snapshot holds exactly the memberships made, names
	// included, and no other: the connector's role prefix is the test's,
	// so other tests' roles on the shared server are outside its scope.
	// Its digest is the grant set's, the same over two syncs of an
	// unchanged system.
	var syncs []*nuxariv1.Sync
	sync := func() (*nuxariv1.Sync, []*nuxariv1.Grant) {
		t.Helper()
		sy := syncNow(t, owner, id)
		if sy.State != syncSucceeded || sy.Summary == nil || sy.RequestedBy != ownerID || sy.Error != "" || sy.CompleteTime == nil || sy.ItemsRead == 0 {
			t.Fatalf("sync: %v", sy)
		}
		syncs = append(syncs, sy)
		gs, snap := allGrants(t, owner, id, 2)
		if snap.GetSyncId() != sy.SyncId || snap.GrantsDigest != sy.Summary.GrantsDigest || snap.Grants != uint64(len(gs)) {
			t.Fatalf("ListGrants after sync %s: snapshot %v, %d grants; the sync's summary %v", sy.SyncId, snap, len(gs), sy.Summary)
		}
		if d := grantsDigest(gs); d != snap.GrantsDigest {
			t.Fatalf("snapshot digest %s, the digest of its %d grants %s", snap.GrantsDigest, len(gs), d)
		}
		if got, w := grantKeys(gs), want(memberships); !slices.Equal(got, w) {
			t.Fatalf("the snapshot's grants:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(w, "\n"))
		}
		return sy, gs
	}
	first, _ := sync()
	if second, _ := sync(); second.Summary.GrantsDigest != first.Summary.GrantsDigest {
		t.Fatalf("two syncs of the same grants have digests %s and %s", first.Summary.GrantsDigest, second.Summary.GrantsDigest)
	}
	got := must(cc.GetConnector(ctx, req(&nuxariv1.GetConnectorRequest{ConnectorId: id})))(t).Msg.Connector
	if got.LastSync.GetSyncId() != syncs[len(syncs)-1].SyncId || got.SyncId != "" {
		t.Fatalf("GetConnector after syncs: %v", got)
	}
	// A page token of this snapshot, for after the next sync.
	page := must(cc.ListGrants(ctx, req(&nuxariv1.ListGrantsRequest{ConnectorId: id, PageSize: 1})))(t).Msg
	if page.NextPageToken == "" {
		t.Fatalf("ListGrants page of 1: %v", page)
	}

	// A membership granted in PostgreSQL itself: the next sync sees it
	// and its digest changes.
	memberships = append(memberships, [2]int{1, 2})
	grant(memberships[len(memberships)-1])
	before := syncs[len(syncs)-1].Summary.GrantsDigest
	after, _ := sync()
	if after.Summary.GrantsDigest == before {
		t.Fatalf("digest %s unchanged after a GRANT", before)
	}
	_, err := cc.ListGrants(ctx, req(&nuxariv1.ListGrantsRequest{ConnectorId: id, PageSize: 1, PageToken: page.NextPageToken}))
	wantCodeMsg(t, "ListGrants with a page token of the previous snapshot", err, connect.CodeFailedPrecondition, "newer sync")

	// The role's password changed behind the connector's back: the test
	// fails and the connector is failed; rotating to the new password
	// cures it.
	pgSetPassword(t, admin, connRole, pw2)
	tested = must(cc.TestConnector(ctx, req(&nuxariv1.TestConnectorRequest{ConnectorId: id})))(t).Msg
	if tested.Ok || tested.Error == "" || tested.Connector.State != stFailed || tested.Connector.StateReason != tested.Error {
		t.Fatalf("TestConnector with a wrong password: %v", tested)
	}
	noneOf(t, "TestConnector's response", tested, secrets...)
	rot := must(cc.RotateCredentials(ctx, req(&nuxariv1.RotateCredentialsRequest{ConnectorId: id, Credentials: pgCreds(pw2)})))(t).Msg.Connector
	rotated2 := rotateTime(t, rot, "password")
	if rot.State != stActive || rot.StateReason != "" || rot.RotationStep != "" || !rotated2.After(rotated1) {
		t.Fatalf("RotateCredentials to the right password: %v", rot)
	}
	noneOf(t, "RotateCredentials' response", rot, secrets...)

	// A rotation to a password PostgreSQL refuses fails and leaves the
	// old one in force.
	_, err = cc.RotateCredentials(ctx, req(&nuxariv1.RotateCredentialsRequest{ConnectorId: id, Credentials: pgCreds(pwBad)}))
	wantCodeMsg(t, "RotateCredentials to a refused password", err, connect.CodeFailedPrecondition, "old credentials stay in force")
	if err != nil && strings.Contains(err.Error(), pwBad) {
		t.Errorf("the refusal holds the password: %v", err)
	}
	got = must(cc.GetConnector(ctx, req(&nuxariv1.GetConnectorRequest{ConnectorId: id})))(t).Msg.Connector
	if got.State != stActive || got.RotationStep != "" || !rotateTime(t, got, "password").Equal(rotated2) {
		t.Fatalf("GetConnector after a refused rotation: %v", got)
	}
	tested = must(cc.TestConnector(ctx, req(&nuxariv1.TestConnectorRequest{ConnectorId: id})))(t).Msg
	if !tested.Ok || tested.Connector.State != stActive {
		t.Fatalf("TestConnector after a refused rotation: %v", tested)
	}

	// Update; the same values again change nothing.
	upd := must(cc.UpdateConnector(ctx, req(&nuxariv1.UpdateConnectorRequest{
		ConnectorId: id, Name: new("Warehouse DB (primary)"), SyncInterval: durationpb.New(time.Hour),
	})))(t).Msg.Connector
	if upd.Name != "Warehouse DB (primary)" || upd.SyncInterval.AsDuration() != time.Hour || upd.State != stActive {
		t.Fatalf("UpdateConnector: %v", upd)
	}
	sizeBefore := logSize(t, ts, org)
	must(cc.UpdateConnector(ctx, req(&nuxariv1.UpdateConnectorRequest{
		ConnectorId: id, Name: new("Warehouse DB (primary)"), Settings: pgSettings(pg, prefix, connRole), SyncInterval: durationpb.New(time.Hour),
	})))(t)
	if n := logSize(t, ts, org); n != sizeBefore {
		t.Errorf("an update to the same values appended %d events", n-sizeBefore)
	}

	// Pause refuses syncs; resume.
	paused := must(cc.PauseConnector(ctx, req(&nuxariv1.PauseConnectorRequest{ConnectorId: id, Reason: "maintenance window"})))(t).Msg.Connector
	if paused.State != stPaused || paused.StateReason != "maintenance window" {
		t.Fatalf("PauseConnector: %v", paused)
	}
	_, err = cc.SyncConnector(ctx, req(&nuxariv1.SyncConnectorRequest{ConnectorId: id}))
	wantCodeMsg(t, "SyncConnector while paused", err, connect.CodeFailedPrecondition, "paused")
	_, err = cc.PauseConnector(ctx, req(&nuxariv1.PauseConnectorRequest{ConnectorId: id}))
	wantCodeMsg(t, "PauseConnector twice", err, connect.CodeFailedPrecondition, "already paused")
	resumed := must(cc.ResumeConnector(ctx, req(&nuxariv1.ResumeConnectorRequest{ConnectorId: id})))(t).Msg.Connector
	if resumed.State != stActive || resumed.StateReason != "" {
		t.Fatalf("ResumeConnector: %v", resumed)
	}
	_, err = cc.ResumeConnector(ctx, req(&nuxariv1.ResumeConnectorRequest{ConnectorId: id}))
	wantCodeMsg(t, "ResumeConnector of an active connector", err, connect.CodeFailedPrecondition, "not paused")

	// Decommission: credentials purged, the name free again, nothing
	// more may use it.
	gone := must(cc.DecommissionConnector(ctx, req(&nuxariv1.DecommissionConnectorRequest{ConnectorId: id, Reason: "replaced"})))(t).Msg.Connector
	if gone.State != stDecommissioned || len(gone.Credentials) != 0 || gone.StateReason != "replaced" {
		t.Fatalf("DecommissionConnector: %v", gone)
	}
	got = must(cc.GetConnector(ctx, req(&nuxariv1.GetConnectorRequest{ConnectorId: id})))(t).Msg.Connector
	if got.State != stDecommissioned || len(got.Credentials) != 0 {
		t.Fatalf("GetConnector after decommissioning: %v", got)
	}
	if got.LastSync != nil {
		t.Errorf("GetConnector after decommissioning still describes the purged snapshot: %v", got.LastSync)
	}
	lg, err := cc.ListGrants(ctx, req(&nuxariv1.ListGrantsRequest{ConnectorId: id}))
	if err != nil {
		t.Errorf("ListGrants after decommissioning: %v", err)
	} else if len(lg.Msg.Grants) != 0 {
		t.Errorf("ListGrants after decommissioning lists %d grants of the purged snapshot", len(lg.Msg.Grants))
	}
	for name, call := range map[string]func() error{
		"TestConnector": func() error {
			return ignoreRes(cc.TestConnector(ctx, req(&nuxariv1.TestConnectorRequest{ConnectorId: id})))
		},
		"SyncConnector": func() error {
			return ignoreRes(cc.SyncConnector(ctx, req(&nuxariv1.SyncConnectorRequest{ConnectorId: id})))
		},
		"RotateCredentials": func() error {
			return ignoreRes(cc.RotateCredentials(ctx, req(&nuxariv1.RotateCredentialsRequest{ConnectorId: id, Credentials: pgCreds(pw2)})))
		},
		"PauseConnector": func() error {
			return ignoreRes(cc.PauseConnector(ctx, req(&nuxariv1.PauseConnectorRequest{ConnectorId: id})))
		},
		"UpdateConnector": func() error {
			return ignoreRes(cc.UpdateConnector(ctx, req(&nuxariv1.UpdateConnectorRequest{ConnectorId: id, Name: new("x")})))
		},
		"DecommissionConnector": func() error {
			return ignoreRes(cc.DecommissionConnector(ctx, req(&nuxariv1.DecommissionConnectorRequest{ConnectorId: id})))
		},
	} {
		wantCodeMsg(t, name+" after decommissioning", call(), connect.CodeFailedPrecondition)
	}
	again := must(cc.CreateConnector(ctx, req(&nuxariv1.CreateConnectorRequest{
		Name: "warehouse db (PRIMARY)", Settings: pgSettings(pg, prefix, connRole), Credentials: pgCreds(pw2),
	})))(t).Msg.Connector
	if again.ConnectorId == id || again.State != stActive {
		t.Fatalf("CreateConnector with the decommissioned one's name: %v", again)
	}
	_, err = cc.CreateConnector(ctx, req(&nuxariv1.CreateConnectorRequest{
		Name: "Warehouse DB (Primary)", Settings: pgSettings(pg, prefix, connRole), Credentials: pgCreds(pw2),
	}))
	wantCodeMsg(t, "CreateConnector with a live connector's name in another case", err, connect.CodeAlreadyExists, "Warehouse DB (Primary)")
	list := must(cc.ListConnectors(ctx, req(&nuxariv1.ListConnectorsRequest{})))(t).Msg
	if len(list.Connectors) != 2 || list.NextPageToken != "" {
		t.Fatalf("ListConnectors: %v", list)
	}
	keys := must(cc.GetSealingKeys(ctx, req(&nuxariv1.GetSealingKeysRequest{})))(t).Msg
	if len(keys.Keys) != 1 || !keys.Keys[0].Primary || keys.Keys[0].Credentials != 1 || keys.Keys[0].KeyId != created.Credentials[0].KeyId {
		t.Errorf("GetSealingKeys: one primary key sealing the new connector's password alone, want; got %v", keys)
	}

	// The log: every step's events about the connector, in order.
	evs := orgLog(t, owner, org)
	cevs := ofSubject(evs, "connector:"+id)
	var wantTypes []string
	add := func(ts ...string) { wantTypes = append(wantTypes, ts...) }
	add("connector.created", "connector.credential.accessed", "connector.tested")
	for range syncs {
		add("connector.credential.accessed", "connector.snapshot.recorded")
	}
	add("connector.credential.accessed", "connector.tested", "connector.failed")
	add("connector.rotation.started", "connector.credential.accessed", "connector.rotation.validated", "connector.rotation.stored",
		"connector.rotation.swapped", "connector.rotation.purged", "connector.rotation.completed")
	add("connector.rotation.started", "connector.credential.accessed", "connector.rotation.failed")
	add("connector.credential.accessed", "connector.tested")
	add("connector.updated", "connector.paused", "connector.resumed", "connector.decommissioned")
	if got := logTypes(cevs); !slices.Equal(got, wantTypes) {
		t.Fatalf("the connector's events:\n got %v\nwant %v", got, wantTypes)
	}
	for _, e := range cevs {
		wantActor := ownerID
		if e.Type == "connector.snapshot.recorded" || (e.Type == "connector.credential.accessed" && e.Data["purpose"] == "sync") {
			wantActor = "system"
		}
		if e.Actor != wantActor {
			t.Errorf("event %d %s: actor %q, want %q", e.index, e.Type, e.Actor, wantActor)
		}
	}
	// The tests' outcomes, the snapshots' digests and the rotations.
	var oks []any
	var digests []any
	rotations := map[string][]string{}
	for _, e := range cevs {
		switch {
		case e.Type == "connector.tested":
			oks = append(oks, e.Data["ok"])
		case e.Type == "connector.snapshot.recorded":
			digests = append(digests, e.Data["grants_digest"])
		case strings.HasPrefix(e.Type, "connector.rotation."):
			rid, _ := e.Data["rotation_id"].(string)
			rotations[rid] = append(rotations[rid], strings.TrimPrefix(e.Type, "connector.rotation."))
		}
	}
	if fmt.Sprint(oks) != "[true false true]" {
		t.Errorf("connector.tested outcomes %v, want [true false true]", oks)
	}
	var wantDigests []any
	for _, sy := range syncs {
		wantDigests = append(wantDigests, sy.Summary.GrantsDigest)
	}
	if fmt.Sprint(digests) != fmt.Sprint(wantDigests) {
		t.Errorf("snapshot digests in the log %v, the syncs' %v", digests, wantDigests)
	}
	var rotSteps []string
	for rid, steps := range rotations {
		if rid == "" {
			t.Errorf("rotation events without a rotation_id: %v", steps)
		}
		rotSteps = append(rotSteps, strings.Join(steps, " "))
	}
	slices.Sort(rotSteps)
	if w := []string{"started failed", "started validated stored swapped purged completed"}; !slices.Equal(rotSteps, w) {
		t.Errorf("rotations' steps %q, want %q", rotSteps, w)
	}
	// Each sync's own events, and the keyring's creation.
	for _, sy := range syncs {
		sevs := ofSubject(evs, "sync:"+sy.SyncId)
		if got := logTypes(sevs); !slices.Equal(got, []string{"connector.sync.requested", "connector.sync.started", "connector.sync.completed"}) {
			t.Errorf("sync %s's events: %v", sy.SyncId, got)
		}
		cevs = append(cevs, sevs...)
	}
	if got := logTypes(ofSubject(evs, org)); !slices.Contains(got, "sealing.keyring.created") {
		t.Errorf("the org's events lack sealing.keyring.created: %v", got)
	}
	for _, e := range evs {
		for _, s := range secrets {
			if strings.Contains(string(e.leaf), s) {
				t.Errorf("event %d (%s) holds a password", e.index, e.Type)
			}
		}
	}
	verifyInLog(t, owner, org, cevs)
	t.Logf("%d syncs; %d events about the connector and its syncs, each in a signed checkpoint", len(syncs), len(cevs))
}
