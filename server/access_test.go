package server_test

import (
	"testing"

	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server/servertest"
)

// The identities and entitlements of a fake system (newFakeAccess).
const (
	fakeAlice   = "user:alice"
	fakeBob     = "user:bob"
	fakeReaders = "role:readers"
	fakeWriters = "role:writers"
	fakeAdmins  = "role:admins"
)

// fakeAccess is an org's connector to a fake system in memory, synced:
// what access tests without PostgreSQL request entitlements of.
type fakeAccess struct {
	sys       *servertest.FakeSystem
	connector string
}

// newFakeAccess gives the org of c a connector to a new fake system
// served by d as name: identities alice (department finance) and bob,
// entitlements readers, writers and admins, bob a writer; and syncs it.
func newFakeAccess(t testing.TB, c servertest.Clients, d *servertest.FakeDriver, name string) fakeAccess {
	t.Helper()
	pw := pgPassword("FakePw")
	sys := servertest.NewFakeSystem(pw)
	sys.AddIdentity(fakeAlice, "alice", map[string]string{"department": "finance"})
	sys.AddIdentity(fakeBob, "bob", nil)
	sys.AddEntitlement(fakeReaders, "readers")
	sys.AddEntitlement(fakeWriters, "writers")
	sys.AddEntitlement(fakeAdmins, "admins")
	sys.SetGrant(fakeBob, fakeWriters, true)
	var id string
	err := retryAborted(func() error {
		res, err := c.Connectors.CreateConnector(t.Context(), req(&nuxariv1.CreateConnectorRequest{
			Name: "fake " + name, Settings: d.Add(name, sys), Credentials: pgCreds(pw),
		}))
		if err == nil {
			id = res.Msg.Connector.ConnectorId
		}
		return err
	})
	if err != nil {
		t.Fatalf("CreateConnector to the fake system %s: %v", name, err)
	}
	if sy := syncNow(t, c, id); sy.State != syncSucceeded {
		t.Fatalf("sync of the fake system %s: %v", name, sy)
	}
	return fakeAccess{sys: sys, connector: id}
}

// accessPolicy returns a policy of connector, changed by f: one approval
// from an owner, admin or approver, no condition, no maximum duration.
func accessPolicy(connector string, f func(*nuxariv1.Policy)) *nuxariv1.Policy {
	p := &nuxariv1.Policy{
		Name: "policy " + randID(3), ConnectorId: connector, Approvals: 1,
		ApproverRoles: []string{"owner", "admin", "approver"},
	}
	if f != nil {
		f(p)
	}
	return p
}
