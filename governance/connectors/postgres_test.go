package connectors_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/connector/postgres"
	"github.com/nuxari/nuxari/governance/connectors"
	"github.com/nuxari/nuxari/governance/internal/domaintest"
	"github.com/nuxari/nuxari/internal/pgtest"
	"github.com/nuxari/nuxari/internal/secret"
)

// pgSettings returns a connector's settings for role on the server of
// scripts/test-services.sh, over TLS checked against the run's CA, its
// scope the roles whose names start with prefix (the test's): the server
// is shared by tests running in parallel.
func pgSettings(t *testing.T, pg pgtest.Server, prefix, role string) []byte {
	t.Helper()
	b, err := json.Marshal(postgres.Settings{Host: "localhost", Port: pg.Port, Database: pg.Database, User: role, CAPEM: pg.CAPEM, RolePrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSyncPostgres syncs 10,000 login roles, each a member of one of 10
// group roles, from a real PostgreSQL, through the PostgreSQL driver, and
// checks the snapshot and that the heap grew by less than maxGrowth. The
// connector's connection is killed by the server in the middle of the
// grants: the sync resumes from its last page and records every grant.
func TestSyncPostgres(t *testing.T) {
	const (
		users, groups = 10_000, 10
		maxGrowth     = 48 << 20
	)
	pg := pgtest.Need(t)
	admin := pg.Admin(t, pg.Database)
	prefix := pgtest.NewPrefix(t)
	pgtest.DropRoles(t, admin, prefix)
	role, pw := prefix+"connector", "connector password "+prefix
	pgtest.Exec(t, admin, "CREATE ROLE "+pgtest.Ident(role)+" LOGIN PASSWORD "+pgtest.Literal(pw))
	pgtest.Exec(t, admin, fmt.Sprintf(`DO $$
		BEGIN
			FOR g IN 0..%[2]d - 1 LOOP
				EXECUTE format('CREATE ROLE %%I NOLOGIN', '%[3]s' || 'g' || g);
			END LOOP;
			FOR i IN 1..%[1]d LOOP
				EXECUTE format('CREATE ROLE %%I LOGIN IN ROLE %%I', '%[3]s' || 'u ' || lpad(i::text, 5, '0'), '%[3]s' || 'g' || (i %% %[2]d));
			END LOOP;
		END $$`, users, groups, prefix))

	// The driver, with the connection killed once, after the first page
	// of grants.
	var killed atomic.Bool
	kill := func() {
		if killed.CompareAndSwap(false, true) {
			pgtest.Exec(t, admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = "+pgtest.Literal(role))
		}
	}
	e := newEnv(t, func(c *connectors.Config) {
		c.Drivers = []connectors.Driver{killingDriver{postgres.Driver{}, kill}}
		c.RetryWait = 10 * time.Millisecond
	})
	c, err := e.svc.Create(domaintest.Ctx(), e.admin, connectors.CreateRequest{
		Name: "pg", Kind: postgres.Kind, Settings: pgSettings(t, pg, prefix, role), Credentials: map[string]secret.String{"password": secret.New(pw)},
	})
	if err != nil {
		t.Fatal(err)
	}

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	start := time.Now()
	s := e.syncNow(t, c.ID)
	took := time.Since(start)
	close(stop)
	<-stopped
	if s.State != "succeeded" {
		t.Fatalf("sync: %+v", s)
	}
	if !killed.Load() {
		t.Fatal("the connection was not killed")
	}
	growth := max(peak.Load(), base) - base
	t.Logf("synced %d identities, %d entitlements, %d grants in %v; heap grew by at most %.1f MiB",
		s.Summary.Identities, s.Summary.Entitlements, s.Summary.Grants, took, float64(growth)/(1<<20))
	if growth > maxGrowth {
		t.Fatalf("the heap grew by %.1f MiB, more than %d MiB", float64(growth)/(1<<20), maxGrowth>>20)
	}
	// The test's roles alone: the users and the connector's role, the
	// groups, the memberships.
	if s.Summary.Identities != users+1 || s.Summary.Entitlements != groups || s.Summary.Grants != users {
		t.Fatalf("summary %+v, want %d identities, %d entitlements, %d grants", s.Summary, users+1, groups, users)
	}
	gs, _ := e.allGrants(t, c.ID, 1000)
	mine := 0
	for _, g := range gs {
		if strings.HasPrefix(g.IdentityName, prefix+"u ") && strings.HasPrefix(g.EntitlementName, prefix+"g") {
			mine++
		}
	}
	if mine != users || len(gs) != users {
		t.Fatalf("the snapshot holds %d grants, %d of them the %d memberships", len(gs), mine, users)
	}
}

// killingDriver opens connectors whose ListGrants calls kill first
// after their first call.
type killingDriver struct {
	connectors.Driver
	kill func()
}

func (d killingDriver) Open(settings []byte, creds map[string]secret.String) (connector.Connector, error) {
	c, err := d.Driver.Open(settings, creds)
	if err != nil {
		return nil, err
	}
	return &killingConn{Connector: c, kill: d.kill}, nil
}

type killingConn struct {
	connector.Connector
	kill  func()
	calls int
}

func (c *killingConn) ListGrants(ctx context.Context, p connector.Page) ([]connector.Grant, string, error) {
	if c.calls++; c.calls == 2 {
		c.kill()
	}
	return c.Connector.ListGrants(ctx, p)
}
