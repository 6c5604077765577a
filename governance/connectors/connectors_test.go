package connectors_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/governance/connectors"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/internal/domaintest"
	"github.com/nuxari/nuxari/governance/internal/fakesystem"
	"github.com/nuxari/nuxari/governance/jobs"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/sessions"
	"github.com/nuxari/nuxari/governance/store"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/ledger"
)

const (
	orgA = "acme"
	orgB = "globex"
	// oldPW and newPW are canaries: no event or state value may hold them.
	oldPW = "old-Pa55word-c4n4ry"
	newPW = "new-Pa55word-c4n4ry"
)

// env is one test's domain: the connectors feature over a fake system.
type env struct {
	people *domaintest.People
	f      *domaintest.Fixture
	kek    tink.AEAD
	sys    *fakesystem.System
	svc    *connectors.Service
	runner *jobs.Runner
	admin  *core.Principal
	cfg    connectors.Config
}

func newKEK(t testing.TB) tink.AEAD {
	t.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	a, err := aead.New(h)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newEnv(t testing.TB, tune ...func(*connectors.Config)) *env {
	t.Helper()
	people := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	e := &env{people: people, f: people.F, kek: newKEK(t), sys: fakesystem.New(oldPW)}
	e.cfg = connectors.Config{KEK: e.kek, Drivers: []connectors.Driver{fakesystem.Driver{Sys: e.sys}}, RetryWait: time.Millisecond}
	for _, fn := range tune {
		fn(&e.cfg)
	}
	e.start(t)
	owner := people.CreateOrg(t, orgA)
	e.admin = people.AddMember(t, owner, "admin@acme.example", rbac.Admin)
	return e
}

// start starts a service and its runner, as a server start does after
// a stop: recovering first.
func (e *env) start(t testing.TB) {
	t.Helper()
	e.runner = jobs.New(e.f.Store, jobs.Config{Clock: e.f.Clock.Now})
	t.Cleanup(e.runner.Close)
	var err error
	if e.svc, err = connectors.New(e.f.Env, e.cfg, e.runner); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Recover(domaintest.Ctx()); err != nil {
		t.Fatal(err)
	}
	if err := e.runner.Recover(domaintest.Ctx()); err != nil {
		t.Fatal(err)
	}
}

func creds(kv ...string) map[string]secret.String {
	m := map[string]secret.String{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = secret.New(kv[i+1])
	}
	return m
}

func (e *env) create(t testing.TB, p *core.Principal, name string) connectors.Connector {
	t.Helper()
	c, err := e.svc.Create(domaintest.Ctx(), p, connectors.CreateRequest{
		Name: name, Kind: "fake", Settings: []byte(`{"host":"db.example"}`), Credentials: creds("password", oldPW),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) get(t *testing.T, id string) connectors.Connector {
	t.Helper()
	c, err := e.svc.Get(domaintest.Ctx(), e.admin, id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// events returns org's events, checked against the catalog and for the
// canaries.
func (e *env) events(t *testing.T, org string) []domaintest.Event {
	t.Helper()
	evs := e.f.Events(t, org)
	domaintest.CheckCatalog(t, evs)
	for _, ev := range evs {
		noCanary(t, "event "+ev.Type, ev.Raw)
	}
	return evs
}

// noCanary fails if b holds a canary password, raw or encoded.
func noCanary(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, pw := range []string{oldPW, newPW} {
		for _, form := range []string{pw, hex.EncodeToString([]byte(pw)), base64.StdEncoding.EncodeToString([]byte(pw)), base64.RawURLEncoding.EncodeToString([]byte(pw))} {
			if bytes.Contains(b, []byte(form)) {
				t.Errorf("%s holds a credential", what)
			}
		}
	}
}

// noCanaryInState scans every state value of org.
func (e *env) noCanaryInState(t *testing.T, org string) {
	t.Helper()
	err := e.f.Org(t, org).Scan(domaintest.Ctx(), "", "", func(k string, v []byte) bool {
		noCanary(t, "state "+k, v)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
}

func typesOf(evs []domaintest.Event, prefixes ...string) []string {
	var out []string
	for _, ev := range evs {
		for _, p := range prefixes {
			if strings.HasPrefix(ev.Type, p) {
				out = append(out, ev.Type)
				break
			}
		}
	}
	return out
}

func TestCreateGetList(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, e.admin, "Prod DB")
	if c.State != connectors.Active || c.Kind != "fake" || string(c.Settings) != `{"host":"db.example"}` {
		t.Fatalf("created %+v", c)
	}
	if len(c.Credentials) != 1 || c.Credentials[0].Field != "password" || c.Credentials[0].KeyID == 0 || !c.Credentials[0].Rotated.Equal(domaintest.Start) {
		t.Fatalf("credentials %+v", c.Credentials)
	}
	if got := e.get(t, c.ID); got.Name != "Prod DB" || got.CreatedBy != e.admin.Actor() {
		t.Fatalf("get %+v", got)
	}
	evs := e.events(t, orgA)
	evs = evs[len(evs)-2:]
	if got := domaintest.Types(evs); !slices.Equal(got, []string{ec.SealingKeyringCreated, ec.ConnectorCreated}) {
		t.Fatalf("events %v", got)
	}
	if evs[1].Subject != "connector:"+c.ID || evs[1].Actor != e.admin.Actor() {
		t.Fatalf("event %+v", evs[1])
	}
	e.noCanaryInState(t, orgA)

	// Names are unique whatever their case.
	_, err := e.svc.Create(domaintest.Ctx(), e.admin, connectors.CreateRequest{
		Name: "prod db", Kind: "fake", Settings: []byte(`{"host":"x"}`), Credentials: creds("password", "x"),
	})
	domaintest.WantKind(t, "duplicate name", err, errs.AlreadyExists)

	// The second connector reuses the keyring.
	var ids []string
	ids = append(ids, c.ID)
	for i := range 4 {
		ids = append(ids, e.create(t, e.admin, fmt.Sprintf("db %d", i)).ID)
	}
	if n := len(e.f.EventsOfType(t, orgA, ec.SealingKeyringCreated)); n != 1 {
		t.Fatalf("%d keyrings made", n)
	}
	var listed []string
	tok := ""
	for {
		cs, next, err := e.svc.List(domaintest.Ctx(), e.admin, 2, tok)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			listed = append(listed, c.ID)
		}
		if next == "" {
			break
		}
		tok = next
	}
	slices.Sort(ids)
	if !slices.Equal(listed, ids) {
		t.Fatalf("listed %v, want %v", listed, ids)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	n := len(e.f.Events(t, orgA))
	good := connectors.CreateRequest{Name: "db", Kind: "fake", Settings: []byte(`{"host":"h"}`), Credentials: creds("password", "p")}
	for _, tc := range []struct {
		what string
		edit func(*connectors.CreateRequest)
	}{
		{"no name", func(r *connectors.CreateRequest) { r.Name = "" }},
		{"long name", func(r *connectors.CreateRequest) { r.Name = strings.Repeat("n", 65) }},
		{"control in name", func(r *connectors.CreateRequest) { r.Name = "a\nb" }},
		{"padded name", func(r *connectors.CreateRequest) { r.Name = " db" }},
		{"unknown kind", func(r *connectors.CreateRequest) { r.Kind = "oracle" }},
		{"no settings", func(r *connectors.CreateRequest) { r.Settings = nil }},
		{"bad settings", func(r *connectors.CreateRequest) { r.Settings = []byte(`{"port":1}`) }},
		{"huge settings", func(r *connectors.CreateRequest) { r.Settings = bytes.Repeat([]byte(" "), 300<<10) }},
		{"no credentials", func(r *connectors.CreateRequest) { r.Credentials = nil }},
		{"unknown field", func(r *connectors.CreateRequest) { r.Credentials = creds("password", "p", "pin", "1") }},
		{"empty credential", func(r *connectors.CreateRequest) { r.Credentials = creds("password", "") }},
		{"huge credential", func(r *connectors.CreateRequest) { r.Credentials = creds("password", strings.Repeat("p", 17<<10)) }},
		{"NUL in credential", func(r *connectors.CreateRequest) { r.Credentials = creds("password", "a\x00b") }},
		{"missing required field", func(r *connectors.CreateRequest) { r.Credentials = creds("token", "t") }},
		{"interval too short", func(r *connectors.CreateRequest) { r.SyncInterval = time.Minute }},
		{"interval too long", func(r *connectors.CreateRequest) { r.SyncInterval = 8 * 24 * time.Hour }},
		{"negative interval", func(r *connectors.CreateRequest) { r.SyncInterval = -time.Hour }},
	} {
		req := good
		tc.edit(&req)
		_, err := e.svc.Create(domaintest.Ctx(), e.admin, req)
		domaintest.WantKind(t, tc.what, err, errs.InvalidArgument)
	}
	if evs := e.f.Events(t, orgA)[n:]; len(evs) != 0 {
		t.Fatalf("refused creates appended %v", domaintest.Types(evs))
	}
	for _, id := range []string{"", "C1", "c/1", strings.Repeat("c", 200)} {
		_, err := e.svc.Get(domaintest.Ctx(), e.admin, id)
		domaintest.WantKind(t, "get "+id, err, errs.InvalidArgument)
	}
	_, err := e.svc.Get(domaintest.Ctx(), e.admin, "cnothere")
	domaintest.WantKind(t, "get unknown", err, errs.NotFound)
	_, err = e.svc.GetSync(domaintest.Ctx(), e.admin, "snothere")
	domaintest.WantKind(t, "unknown sync", err, errs.NotFound)
	_, _, err = e.svc.List(domaintest.Ctx(), e.admin, 0, "forged")
	domaintest.WantKind(t, "forged page token", err, errs.InvalidArgument)

	// Without a key-encryption key, connectors are refused.
	e2 := newEnv(t, func(c *connectors.Config) { c.KEK = nil })
	_, err = e2.svc.Create(domaintest.Ctx(), e2.admin, good)
	domaintest.WantKind(t, "no KEK", err, errs.Precondition)
}

func TestIsolation(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, e.admin, "db")
	b := e.people.CreateOrg(t, orgB)
	ctx := domaintest.Ctx()
	_, err := e.svc.Get(ctx, b, c.ID)
	domaintest.WantKind(t, "get", err, errs.NotFound)
	_, err = e.svc.Test(ctx, b, c.ID)
	domaintest.WantKind(t, "test", err, errs.NotFound)
	_, err = e.svc.RotateCredentials(ctx, b, c.ID, creds("password", newPW), nil)
	domaintest.WantKind(t, "rotate", err, errs.NotFound)
	_, err = e.svc.Pause(ctx, b, c.ID, "")
	domaintest.WantKind(t, "pause", err, errs.NotFound)
	_, err = e.svc.Decommission(ctx, b, c.ID, "")
	domaintest.WantKind(t, "decommission", err, errs.NotFound)
	_, err = e.svc.StartSync(ctx, b, c.ID)
	domaintest.WantKind(t, "sync", err, errs.NotFound)
	_, _, _, err = e.svc.ListGrants(ctx, b, c.ID, 0, "")
	domaintest.WantKind(t, "grants", err, errs.NotFound)
	if cs, _, err := e.svc.List(ctx, b, 0, ""); err != nil || len(cs) != 0 {
		t.Fatalf("org B lists %v, %v", cs, err)
	}

	// A ciphertext moved to another connector, or another org, does not
	// open there.
	c2 := e.create(t, e.admin, "db2")
	oa := e.f.Org(t, orgA)
	rawA, err := oa.Get(ctx, "connector/"+c.ID)
	if err != nil {
		t.Fatal(err)
	}
	moved := bytes.ReplaceAll(rawA, []byte(c.ID), []byte(c2.ID))
	moved = bytes.ReplaceAll(moved, []byte(`"name":"db"`), []byte(`"name":"db2"`))
	if _, err := oa.Commit(ctx, ledger.AckDurable, storeChange("custom.test", "connector/"+c2.ID, moved)); err != nil {
		t.Fatal(err)
	}
	out, err := e.svc.Test(ctx, e.admin, c2.ID)
	if err != nil || out.OK || !strings.Contains(out.Error, "cannot be opened") {
		t.Fatalf("moved ciphertext: %+v, %v", out, err)
	}
	bp := b
	cb := e.create(t, bp, "db")
	ob := e.f.Org(t, orgB)
	movedB := bytes.ReplaceAll(rawA, []byte(c.ID), []byte(cb.ID))
	if _, err := ob.Commit(ctx, ledger.AckDurable, storeChange("custom.test", "connector/"+cb.ID, movedB)); err != nil {
		t.Fatal(err)
	}
	if out, err := e.svc.Test(ctx, bp, cb.ID); err != nil || out.OK {
		t.Fatalf("ciphertext moved across orgs: %+v, %v", out, err)
	}
}

func TestTestAndHealth(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, e.admin, "db")
	ctx := domaintest.Ctx()
	e.sys.ResetSeen()
	out, err := e.svc.Test(ctx, e.admin, c.ID)
	if err != nil || !out.OK || out.Connector.State != connectors.Active {
		t.Fatalf("test: %+v, %v", out, err)
	}
	if got := e.sys.Seen(); !slices.Equal(got, []string{oldPW}) {
		t.Fatalf("opened with %d passwords", len(got))
	}
	e.sys.Accept("other")
	out, err = e.svc.Test(ctx, e.admin, c.ID)
	if err != nil || out.OK || out.Connector.State != connectors.Failed || !strings.Contains(out.Error, "refused the credentials") {
		t.Fatalf("test with a refused password: %+v, %v", out, err)
	}
	if out.Connector.StateReason != out.Error {
		t.Fatalf("reason %q", out.Connector.StateReason)
	}
	e.sys.Accept(oldPW)
	out, err = e.svc.Test(ctx, e.admin, c.ID)
	if err != nil || !out.OK || out.Connector.State != connectors.Active || out.Connector.StateReason != "" {
		t.Fatalf("test after the fix: %+v, %v", out, err)
	}
	got := typesOf(e.events(t, orgA), "connector.")
	want := []string{
		ec.ConnectorCreated,
		ec.ConnectorCredentialAccessed, ec.ConnectorTested,
		ec.ConnectorCredentialAccessed, ec.ConnectorTested, ec.ConnectorFailed,
		ec.ConnectorCredentialAccessed, ec.ConnectorTested, ec.ConnectorRecovered,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

func TestRotation(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, e.admin, "db")
	ctx := domaintest.Ctx()
	e.f.Clock.Advance(time.Hour)
	e.sys.Accept(newPW)
	before := len(e.f.Events(t, orgA))
	r, err := e.svc.RotateCredentials(ctx, e.admin, c.ID, creds("password", newPW), nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.State != connectors.Active || r.RotationStep != "" || !r.Credentials[0].Rotated.Equal(domaintest.Start.Add(time.Hour)) {
		t.Fatalf("after rotation: %+v", r)
	}
	evs := e.events(t, orgA)[before:]
	want := []string{
		ec.ConnectorRotationStarted, ec.ConnectorCredentialAccessed, ec.ConnectorRotationValidated,
		ec.ConnectorRotationStored, ec.ConnectorRotationSwapped, ec.ConnectorRotationPurged, ec.ConnectorRotationCompleted,
	}
	if got := domaintest.Types(evs); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	rid := evs[0].Data["rotation_id"]
	for _, ev := range evs {
		if id, ok := ev.Data["rotation_id"]; ok && id != rid {
			t.Fatalf("%s names rotation %v, not %v", ev.Type, id, rid)
		}
	}
	if out, err := e.svc.Test(ctx, e.admin, c.ID); err != nil || !out.OK {
		t.Fatalf("test with the new password: %+v, %v", out, err)
	}
	if last := e.sys.Seen()[len(e.sys.Seen())-1]; last != newPW {
		t.Fatal("the connector does not use the new password")
	}
	e.noCanaryInState(t, orgA)
}

func TestRotationRefused(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, e.admin, "db")
	ctx := domaintest.Ctx()
	before := len(e.f.Events(t, orgA))
	_, err := e.svc.RotateCredentials(ctx, e.admin, c.ID, creds("password", newPW), nil)
	domaintest.WantKind(t, "rotation to a refused password", err, errs.Precondition)
	if !strings.Contains(err.Error(), "refused the credentials") || !strings.Contains(err.Error(), "old credentials stay in force") {
		t.Fatalf("error %q", err)
	}
	got := e.get(t, c.ID)
	if got.State != connectors.Active || got.RotationStep != "" || !got.Credentials[0].Rotated.Equal(c.Credentials[0].Rotated) {
		t.Fatalf("after the refused rotation: %+v", got)
	}
	evs := e.events(t, orgA)[before:]
	if got := domaintest.Types(evs); !slices.Equal(got, []string{ec.ConnectorRotationStarted, ec.ConnectorCredentialAccessed, ec.ConnectorRotationFailed}) {
		t.Fatalf("events %v", got)
	}
	if out, err := e.svc.Test(ctx, e.admin, c.ID); err != nil || !out.OK {
		t.Fatalf("the old password no longer works: %+v, %v", out, err)
	}
	// A paused connector stays paused after a rotation.
	if _, err := e.svc.Pause(ctx, e.admin, c.ID, "maintenance"); err != nil {
		t.Fatal(err)
	}
	e.sys.Accept(newPW)
	r, err := e.svc.RotateCredentials(ctx, e.admin, c.ID, creds("password", newPW), nil)
	if err != nil || r.State != connectors.Paused {
		t.Fatalf("rotation of a paused connector: %+v, %v", r, err)
	}
	// Bad credentials are refused before anything is recorded.
	n := len(e.f.Events(t, orgA))
	_, err = e.svc.RotateCredentials(ctx, e.admin, c.ID, creds("token", "t"), nil)
	domaintest.WantKind(t, "rotation without a password", err, errs.InvalidArgument)
	if len(e.f.Events(t, orgA)) != n {
		t.Fatal("a refused rotation was recorded")
	}
}

// errCrash stands for the process dying right after a step's commit.
var errCrash = errors.New("crash")

// TestRotationRecovery stops a rotation right after each step's commit,
// as a crash would, then starts the feature again: the rotation is
// rolled back or completed, and the connector always has credentials the
// system accepts.
func TestRotationRecovery(t *testing.T) {
	for _, step := range []string{connectors.StepStarted, connectors.StepValidated, connectors.StepStored, connectors.StepSwapped, connectors.StepPurged, connectors.StepCompleted} {
		t.Run(step, func(t *testing.T) {
			var crashed bool
			e := newEnv(t, func(c *connectors.Config) {
				c.AfterStep = func(org, id, s string) {
					if s == step && !crashed {
						crashed = true
						panic(errCrash)
					}
				}
			})
			c := e.create(t, e.admin, "db")
			e.sys.Accept(oldPW, newPW)
			func() {
				defer func() {
					if r := recover(); r != errCrash {
						t.Fatalf("recovered %v", r)
					}
				}()
				e.svc.RotateCredentials(domaintest.Ctx(), e.admin, c.ID, creds("password", newPW), nil)
			}()
			mid := e.get(t, c.ID)
			if step != connectors.StepCompleted && mid.State != connectors.Rotating {
				t.Fatalf("state after the crash %s", mid.State)
			}
			e.runner.Close()
			e.start(t) // recovers
			got := e.get(t, c.ID)
			if got.State != connectors.Active || got.RotationStep != "" {
				t.Fatalf("after recovery: %+v", got)
			}
			forward := step != connectors.StepStarted && step != connectors.StepValidated
			// Only the password recovery kept is accepted now.
			want := oldPW
			if forward {
				want = newPW
			}
			e.sys.Accept(want)
			if out, err := e.svc.Test(domaintest.Ctx(), e.admin, c.ID); err != nil || !out.OK {
				t.Fatalf("test after recovery: %+v, %v", out, err)
			}
			evs := typesOf(e.events(t, orgA), "connector.rotation.")
			last := evs[len(evs)-1]
			switch {
			case !forward && last != ec.ConnectorRotationRolledBack:
				t.Fatalf("events %v, want a roll-back", evs)
			case forward && last != ec.ConnectorRotationCompleted:
				t.Fatalf("events %v, want completion", evs)
			}
			if forward {
				want := []string{
					ec.ConnectorRotationStarted, ec.ConnectorRotationValidated, ec.ConnectorRotationStored,
					ec.ConnectorRotationSwapped, ec.ConnectorRotationPurged, ec.ConnectorRotationCompleted,
				}
				if !slices.Equal(evs, want) {
					t.Fatalf("events %v, want each step once: %v", evs, want)
				}
			}
			e.noCanaryInState(t, orgA)
			// The record holds one set of credentials: nothing left over.
			var ciphertexts int
			e.f.Org(t, orgA).Scan(domaintest.Ctx(), "connector/", "", func(_ string, v []byte) bool {
				ciphertexts += bytes.Count(v, []byte(`"sealed"`))
				return true
			})
			if ciphertexts != 1 {
				t.Fatalf("%d ciphertexts stored after recovery, want 1", ciphertexts)
			}
		})
	}
}

func TestPauseResumeDecommission(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, e.admin, "db")
	ctx := domaintest.Ctx()
	if _, err := e.svc.Resume(ctx, e.admin, c.ID); !errors.Is(err, errs.Precondition) {
		t.Fatalf("resume of an active connector: %v", err)
	}
	p, err := e.svc.Pause(ctx, e.admin, c.ID, "db migration")
	if err != nil || p.State != connectors.Paused || p.StateReason != "db migration" {
		t.Fatalf("pause: %+v, %v", p, err)
	}
	_, err = e.svc.StartSync(ctx, e.admin, c.ID)
	domaintest.WantKind(t, "sync while paused", err, errs.Precondition)
	if _, err := e.svc.Pause(ctx, e.admin, c.ID, ""); !errors.Is(err, errs.Precondition) {
		t.Fatalf("pause twice: %v", err)
	}
	if r, err := e.svc.Resume(ctx, e.admin, c.ID); err != nil || r.State != connectors.Active {
		t.Fatalf("resume: %+v, %v", r, err)
	}
	e.sys.Populate(3, 2)
	e.syncNow(t, c.ID)
	d, err := e.svc.Decommission(ctx, e.admin, c.ID, "retired")
	if err != nil || d.State != connectors.Decommissioned || len(d.Credentials) != 0 {
		t.Fatalf("decommission: %+v, %v", d, err)
	}
	var left []string
	e.f.Org(t, orgA).Scan(ctx, "connector-snap/", "", func(k string, _ []byte) bool { left = append(left, k); return true })
	if len(left) != 0 {
		t.Fatalf("snapshot left: %v", left)
	}
	if d.LastSync != nil {
		t.Fatalf("the purged snapshot is still described: %+v", d.LastSync)
	}
	if gs, next, snap, err := e.svc.ListGrants(ctx, e.admin, c.ID, 0, ""); err != nil || len(gs) != 0 || next != "" || snap != nil {
		t.Fatalf("grants after decommissioning: %v %q %v %v", gs, next, snap, err)
	}
	for what, err := range map[string]error{
		"pause":  second(e.svc.Pause(ctx, e.admin, c.ID, "")),
		"resume": second(e.svc.Resume(ctx, e.admin, c.ID)),
		"test":   second(e.svc.Test(ctx, e.admin, c.ID)),
		"sync":   second(e.svc.StartSync(ctx, e.admin, c.ID)),
		"rotate": second(e.svc.RotateCredentials(ctx, e.admin, c.ID, creds("password", "x"), nil)),
		"again":  second(e.svc.Decommission(ctx, e.admin, c.ID, "")),
	} {
		domaintest.WantKind(t, what+" after decommissioning", err, errs.Precondition)
	}
	// Its name is free again.
	e.create(t, e.admin, "db")
	evs := typesOf(e.events(t, orgA), "connector.paused", "connector.resumed", "connector.decommissioned")
	if !slices.Equal(evs, []string{ec.ConnectorPaused, ec.ConnectorResumed, ec.ConnectorDecommissioned}) {
		t.Fatalf("events %v", evs)
	}
}

func second[T any](_ T, err error) error { return err }

// syncNow syncs connector id and waits for the sync to end.
func (e *env) syncNow(t testing.TB, id string) connectors.Sync {
	t.Helper()
	s, err := e.svc.StartSync(domaintest.Ctx(), e.admin, id)
	if err != nil {
		t.Fatal(err)
	}
	return e.waitSync(t, s.ID)
}

func (e *env) waitSync(t testing.TB, id string) connectors.Sync {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s, err := e.svc.GetSync(domaintest.Ctx(), e.admin, id)
		if err != nil {
			t.Fatal(err)
		}
		if s.State != "running" {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync %s still running", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) allGrants(t *testing.T, id string, size int32) ([]connectors.GrantView, *connectors.Snapshot) {
	t.Helper()
	var out []connectors.GrantView
	var snap *connectors.Snapshot
	tok := ""
	for {
		gs, next, s, err := e.svc.ListGrants(domaintest.Ctx(), e.admin, id, size, tok)
		if err != nil {
			t.Fatal(err)
		}
		out, snap = append(out, gs...), s
		if next == "" {
			return out, snap
		}
		tok = next
	}
}

func TestSync(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, e.admin, "db")
	if gs, next, snap, err := e.svc.ListGrants(domaintest.Ctx(), e.admin, c.ID, 0, ""); err != nil || len(gs) != 0 || next != "" || snap != nil {
		t.Fatalf("grants before a sync: %v %q %v %v", gs, next, snap, err)
	}
	e.sys.Populate(1300, 7) // 2,600 grants: three chunks
	e.sys.SetFlaky(2)       // two pages lost and retried
	s := e.syncNow(t, c.ID)
	if s.State != "succeeded" || s.Summary == nil || s.ItemsRead != 1300+7+2600 || s.RequestedBy != e.admin.Actor() {
		t.Fatalf("sync %+v", s)
	}
	sum := s.Summary
	if sum.Identities != 1300 || sum.Entitlements != 7 || sum.Grants != 2600 {
		t.Fatalf("summary %+v", sum)
	}
	if want := connectors.GrantsDigest(e.sys.Grants()); sum.GrantsDigest != want {
		t.Fatalf("digest %s, want %s", sum.GrantsDigest, want)
	}
	gs, snap := e.allGrants(t, c.ID, 700)
	if len(gs) != 2600 || *snap != *sum {
		t.Fatalf("listed %d grants of %+v", len(gs), snap)
	}
	for i, g := range gs {
		if i > 0 && (gs[i-1].IdentityID > g.IdentityID || gs[i-1].IdentityID == g.IdentityID && gs[i-1].EntitlementID >= g.EntitlementID) {
			t.Fatalf("grants out of order at %d", i)
		}
		if g.IdentityName == "" || g.EntitlementName == "" || g.EntitlementKind != "role" {
			t.Fatalf("grant %+v lacks names", g)
		}
	}
	if c := e.get(t, c.ID); c.LastSync == nil || *c.LastSync != *sum || c.SyncID != "" {
		t.Fatalf("connector after the sync: %+v", c)
	}

	// The same grants, the same digest; a token of an older snapshot is
	// refused once a newer one replaces it.
	_, tok, _, err := e.svc.ListGrants(domaintest.Ctx(), e.admin, c.ID, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	s2 := e.syncNow(t, c.ID)
	if s2.Summary.GrantsDigest != sum.GrantsDigest {
		t.Fatal("the digest changed without a change")
	}
	e.sys.AddGrant(connector.Grant{IdentityID: "u000000", EntitlementID: "r0006"})
	s3 := e.syncNow(t, c.ID)
	if s3.Summary.GrantsDigest == sum.GrantsDigest || s3.Summary.Grants != 2601 {
		t.Fatalf("after a new grant: %+v", s3.Summary)
	}
	_, _, _, err = e.svc.ListGrants(domaintest.Ctx(), e.admin, c.ID, 10, tok)
	domaintest.WantKind(t, "token of a replaced snapshot", err, errs.Precondition)

	evs := e.events(t, orgA)
	recs := domaintest.Types(evs)
	if n := strings.Count(strings.Join(recs, " "), ec.ConnectorSnapshotRecorded); n != 3 {
		t.Fatalf("%d snapshots recorded", n)
	}
	last := e.f.EventsOfType(t, orgA, ec.ConnectorSnapshotRecorded)[2]
	if last.Data["previous_grants_digest"] != sum.GrantsDigest || last.Data["grants"] != float64(2601) {
		t.Fatalf("snapshot event %v", last.Data)
	}
	accessed := e.f.EventsOfType(t, orgA, ec.ConnectorCredentialAccessed)
	if len(accessed) != 3 || accessed[0].Data["purpose"] != "sync" || accessed[0].Data["sync_id"] != s.ID || accessed[0].Actor != ec.System {
		t.Fatalf("credential access events %v", accessed)
	}
	// The snapshot's chunks: one per thousand items, no more.
	var keys int
	e.f.Org(t, orgA).Scan(domaintest.Ctx(), "connector-snap/", "", func(string, []byte) bool { keys++; return true })
	if keys != 2+1+3 {
		t.Fatalf("%d snapshot chunks", keys)
	}
}

func TestSyncFailures(t *testing.T) {
	e := newEnv(t, func(c *connectors.Config) { c.MaxSnapshotItems = 50 })
	c := e.create(t, e.admin, "db")
	e.sys.Populate(10, 2)
	ok := e.syncNow(t, c.ID)

	// Down for good: the sync fails, the connector too, and the previous
	// snapshot stays.
	e.sys.SetDown(true)
	s := e.syncNow(t, c.ID)
	if s.State != "failed" || !strings.Contains(s.Error, "down") {
		t.Fatalf("sync of a system that is down: %+v", s)
	}
	got := e.get(t, c.ID)
	if got.State != connectors.Failed || got.LastSync == nil || got.LastSync.SyncID != ok.ID {
		t.Fatalf("after the failed sync: %+v", got)
	}
	// Back: the next sync cures it.
	e.sys.SetDown(false)
	if s := e.syncNow(t, c.ID); s.State != "succeeded" {
		t.Fatalf("sync after the system came back: %+v", s)
	}
	if got := e.get(t, c.ID); got.State != connectors.Active {
		t.Fatalf("state %s", got.State)
	}
	// Too large: the sync fails, the connector does not.
	e.sys.Populate(40, 2)
	s = e.syncNow(t, c.ID)
	if s.State != "failed" || !strings.Contains(s.Error, "more than 50") {
		t.Fatalf("sync of a system too large: %+v", s)
	}
	if got := e.get(t, c.ID); got.State != connectors.Active {
		t.Fatalf("state after a sync too large: %s", got.State)
	}
	waitEvents(t, e, ec.ConnectorSyncFailed, 2)
	types := typesOf(e.events(t, orgA), "connector.failed", "connector.recovered", "connector.sync.failed")
	want := []string{ec.ConnectorFailed, ec.ConnectorSyncFailed, ec.ConnectorRecovered, ec.ConnectorSyncFailed}
	if !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
}

func TestSchedule(t *testing.T) {
	e := newEnv(t)
	ctx := domaintest.Ctx()
	c, err := e.svc.Create(ctx, e.admin, connectors.CreateRequest{
		Name: "db", Kind: "fake", Settings: []byte(`{"host":"h"}`), Credentials: creds("password", oldPW), SyncInterval: 10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	manual := e.create(t, e.admin, "manual")
	requested := func() int { return len(e.f.EventsOfType(t, orgA, ec.ConnectorSyncRequested)) }
	e.svc.RunSchedule(ctx)
	if requested() != 1 {
		t.Fatalf("%d syncs requested by the first run", requested())
	}
	first := e.f.EventsOfType(t, orgA, ec.ConnectorSyncRequested)[0]
	if first.Actor != ec.System || first.Data["connector_id"] != c.ID {
		t.Fatalf("scheduled sync %+v", first)
	}
	e.waitSync(t, strings.TrimPrefix(first.Subject, "sync:"))
	e.f.Clock.Advance(9 * time.Minute)
	e.svc.RunSchedule(ctx)
	if requested() != 1 {
		t.Fatal("a sync was scheduled before its interval passed")
	}
	e.f.Clock.Advance(time.Minute)
	e.svc.RunSchedule(ctx)
	if requested() != 2 {
		t.Fatal("no sync scheduled once the interval passed")
	}
	// Paused connectors are passed over.
	if _, err := e.svc.Pause(ctx, e.admin, c.ID, ""); err != nil {
		t.Fatal(err)
	}
	e.f.Clock.Advance(time.Hour)
	e.svc.RunSchedule(ctx)
	if requested() != 2 {
		t.Fatal("a paused connector was synced")
	}
	_ = manual
	// A sync asked for while one runs is that one.
	s1, err := e.svc.StartSync(ctx, e.admin, manual.ID)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := e.svc.StartSync(ctx, e.admin, manual.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s2.ID != s1.ID && s1.State == "running" {
		if again, _ := e.svc.GetSync(ctx, e.admin, s1.ID); again.State == "running" {
			t.Fatalf("a second sync %s started beside %s", s2.ID, s1.ID)
		}
	}
}

func TestSealingKeyRotation(t *testing.T) {
	e := newEnv(t)
	ctx := domaintest.Ctx()
	_, _, err := e.svc.RotateKey(ctx, e.admin)
	domaintest.WantKind(t, "rotation without a keyring", err, errs.Precondition)
	c1 := e.create(t, e.admin, "one")
	c2 := e.create(t, e.admin, "two")
	before, err := e.svc.GetKeys(ctx, e.admin)
	if err != nil || len(before.Keys) != 1 || before.Keys[0].Credentials != 2 || !before.Keys[0].Primary {
		t.Fatalf("keys before: %+v, %v", before, err)
	}
	old := before.Keys[0].ID
	k, job, err := e.svc.RotateKey(ctx, e.admin)
	if err != nil || k.ID == old || job == "" {
		t.Fatalf("rotate: %+v %q %v", k, job, err)
	}
	// A connector made meanwhile is sealed under the new key.
	c3 := e.create(t, e.admin, "three")
	if c3.Credentials[0].KeyID != k.ID {
		t.Fatalf("new connector under key %d, not the primary %d", c3.Credentials[0].KeyID, k.ID)
	}
	deadline := time.Now().Add(20 * time.Second)
	var after connectors.Keys
	for {
		if after, err = e.svc.GetKeys(ctx, e.admin); err != nil {
			t.Fatal(err)
		}
		if after.ResealState == "succeeded" || after.ResealState == "failed" || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if after.ResealJob != job || after.ResealState != "succeeded" || len(after.Keys) != 2 {
		t.Fatalf("keys after: %+v", after)
	}
	for _, ki := range after.Keys {
		switch ki.ID {
		case old:
			if ki.Enabled || ki.Primary || ki.Credentials != 0 {
				t.Fatalf("old key %+v; after %+v; events %v", ki, after, domaintest.Types(e.f.Events(t, orgA)))
			}
		case k.ID:
			if !ki.Enabled || !ki.Primary || ki.Credentials != 3 {
				t.Fatalf("new key %+v", ki)
			}
		}
	}
	for _, id := range []string{c1.ID, c2.ID, c3.ID} {
		if out, err := e.svc.Test(ctx, e.admin, id); err != nil || !out.OK {
			t.Fatalf("test of %s after the reseal: %+v, %v", id, out, err)
		}
		if got := e.get(t, id); got.Credentials[0].KeyID != k.ID {
			t.Fatalf("%s still under key %d", id, got.Credentials[0].KeyID)
		}
	}
	// A job's end is readable a moment before its event is in the log.
	waitEvents(t, e, ec.SealingResealCompleted, 1)
	types := typesOf(e.events(t, orgA), "sealing.")
	want := []string{
		ec.SealingKeyringCreated, ec.SealingKeyRotated, ec.SealingResealStarted,
		ec.SealingCredentialsResealed, ec.SealingCredentialsResealed, ec.SealingKeysDisabled, ec.SealingResealCompleted,
	}
	if !slices.Equal(types, want) {
		t.Fatalf("events %v, want %v", types, want)
	}
	e.noCanaryInState(t, orgA)
}

func TestUpdate(t *testing.T) {
	e := newEnv(t)
	c := e.create(t, e.admin, "db")
	e.create(t, e.admin, "taken")
	ctx := domaintest.Ctx()
	name := "DB" // a change of case only
	iv := time.Hour
	u, err := e.svc.Update(ctx, e.admin, c.ID, connectors.UpdateRequest{Name: &name, Settings: []byte(`{"host":"db2.example"}`), SyncInterval: &iv})
	if err != nil || u.Name != "DB" || string(u.Settings) != `{"host":"db2.example"}` || u.SyncInterval != iv {
		t.Fatalf("update: %+v, %v", u, err)
	}
	ev := e.f.EventsOfType(t, orgA, ec.ConnectorUpdated)[0]
	if got := fmt.Sprint(ev.Data["changed"]); got != "[name settings sync_interval]" {
		t.Fatalf("changed %s", got)
	}
	taken := "Taken"
	_, err = e.svc.Update(ctx, e.admin, c.ID, connectors.UpdateRequest{Name: &taken})
	domaintest.WantKind(t, "rename to a taken name", err, errs.AlreadyExists)
	n := len(e.f.Events(t, orgA))
	if _, err := e.svc.Update(ctx, e.admin, c.ID, connectors.UpdateRequest{Name: &name}); err != nil {
		t.Fatal(err)
	}
	if len(e.f.Events(t, orgA)) != n {
		t.Fatal("an update that changes nothing was recorded")
	}
	_, err = e.svc.Update(ctx, e.admin, c.ID, connectors.UpdateRequest{Settings: []byte(`{"host":""}`)})
	domaintest.WantKind(t, "bad settings", err, errs.InvalidArgument)
	e.events(t, orgA)
}

// storeChange is a raw state write with an event, for tests that tamper
// with stored records.
func storeChange(typ, key string, v []byte) store.Change {
	return store.Change{Event: core.NewEvent(domaintest.Ctx(), typ, "utest", "", nil), Put: map[string]any{key: v}}
}

// TestStaleRotationEnded: a rotation whose request stopped committing its
// steps (here, stopped after storing the new credentials) is ended by the
// schedule once it is older than a rotation can take, without a restart.
func TestStaleRotationEnded(t *testing.T) {
	for _, tc := range []struct {
		step, want string
	}{
		{connectors.StepValidated, ec.ConnectorRotationRolledBack},
		{connectors.StepStored, ec.ConnectorRotationCompleted},
	} {
		t.Run(tc.step, func(t *testing.T) {
			stop := true
			e := newEnv(t, func(c *connectors.Config) {
				c.AfterStep = func(org, id, s string) {
					if s == tc.step && stop {
						panic(errCrash)
					}
				}
			})
			c := e.create(t, e.admin, "db")
			e.sys.Accept(oldPW, newPW)
			func() {
				defer func() { recover() }()
				e.svc.RotateCredentials(domaintest.Ctx(), e.admin, c.ID, creds("password", newPW), nil)
			}()
			stop = false
			e.f.Clock.Advance(time.Minute)
			e.svc.RunSchedule(domaintest.Ctx())
			if got := e.get(t, c.ID); got.State != connectors.Rotating {
				t.Fatalf("a rotation a minute old was ended: %+v", got)
			}
			e.f.Clock.Advance(10 * time.Minute)
			e.svc.RunSchedule(domaintest.Ctx())
			if got := e.get(t, c.ID); got.State != connectors.Active {
				t.Fatalf("a stale rotation was not ended: %+v", got)
			}
			evs := typesOf(e.events(t, orgA), "connector.rotation.")
			if evs[len(evs)-1] != tc.want {
				t.Fatalf("events %v, want %s last", evs, tc.want)
			}
		})
	}
}

// TestRotationWithSettings: settings that go with a credential (a client
// certificate with its key) change only in a rotation, with the
// credentials, and are put in force at the swap; recovery keeps them
// with the credentials they go with.
func TestRotationWithSettings(t *testing.T) {
	for _, crashAt := range []string{"", connectors.StepValidated, connectors.StepStored} {
		t.Run("crash at "+crashAt, func(t *testing.T) {
			crashed := false
			e := newEnv(t, func(c *connectors.Config) {
				c.AfterStep = func(org, id, s string) {
					if s == crashAt && !crashed {
						crashed = true
						panic(errCrash)
					}
				}
			})
			ctx := domaintest.Ctx()
			c, err := e.svc.Create(ctx, e.admin, connectors.CreateRequest{
				Name: "db", Kind: "fake", Settings: []byte(`{"host":"h","cert":"A"}`), Credentials: creds("password", oldPW, "token", "key of A"),
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.svc.Update(ctx, e.admin, c.ID, connectors.UpdateRequest{Settings: []byte(`{"host":"h","cert":"B"}`)})
			domaintest.WantKind(t, "a new certificate without its key", err, errs.InvalidArgument)
			_, err = e.svc.RotateCredentials(ctx, e.admin, c.ID, creds("password", oldPW, "token", "key of B"), nil)
			domaintest.WantKind(t, "a new key without its certificate", err, errs.InvalidArgument)
			if u, err := e.svc.Update(ctx, e.admin, c.ID, connectors.UpdateRequest{Settings: []byte(`{"host":"h2","cert":"A"}`)}); err != nil || string(u.Settings) != `{"host":"h2","cert":"A"}` {
				t.Fatalf("a change of another setting: %+v, %v", u, err)
			}
			func() {
				defer func() {
					if r := recover(); r != nil && r != errCrash {
						panic(r)
					}
				}()
				if _, err := e.svc.RotateCredentials(ctx, e.admin, c.ID, creds("password", oldPW, "token", "key of B"), []byte(`{"host":"h2","cert":"B"}`)); err != nil {
					t.Fatal(err)
				}
			}()
			if crashAt != "" {
				e.runner.Close()
				e.start(t)
			}
			want := `{"host":"h2","cert":"B"}`
			if crashAt == connectors.StepValidated {
				want = `{"host":"h2","cert":"A"}` // rolled back
			}
			got := e.get(t, c.ID)
			if got.State != connectors.Active || string(got.Settings) != want {
				t.Fatalf("after the rotation: %s %s, want %s", got.State, got.Settings, want)
			}
			if out, err := e.svc.Test(ctx, e.admin, c.ID); err != nil || !out.OK {
				t.Fatalf("test: %+v, %v", out, err)
			}
			if crashAt != connectors.StepValidated {
				sw := e.f.EventsOfType(t, orgA, ec.ConnectorRotationSwapped)
				if len(sw) != 1 || sw[0].Data["settings"] == nil {
					t.Fatalf("swapped events %+v", sw)
				}
			}
			e.events(t, orgA)
		})
	}
}

// waitEvents waits until org A's log holds n events of typ: a job's end
// is readable a moment before its event is in the log.
func waitEvents(t *testing.T, e *env, typ string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(e.f.EventsOfType(t, orgA, typ)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d %s events", n, typ)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
