// Package domaintest is the fixture of the governance features' unit
// tests: an org-scoped store over a real ledger in a temp dir, a core.Env
// on a fake clock, a throttle with cheap password hashes, and principals
// for the tests' callers; tests read an org's events back from the
// ledger (Events). No server runs.
package domaintest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"testing"
	"time"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/password"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/governance/throttle"
	"github.com/nuxari/nuxari/internal/fakeclock"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/leaf"
	"golang.org/x/time/rate"
)

// Start is the fake clock's first reading.
var Start = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// FastPasswords are Argon2id parameters cheap enough for tests.
var FastPasswords = password.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Fixture is one test's domain: a ledger in a temp dir (closed when the
// test ends), its store, and an Env on a fake clock.
type Fixture struct {
	Ledger *ledger.Ledger
	Store  *store.Store
	Env    *core.Env
	Clock  *fakeclock.Clock
}

// New returns a fresh fixture.
func New(t testing.TB) *Fixture {
	t.Helper()
	skey, _, err := ledger.GenerateSignerKey(rand.Reader, "test")
	if err != nil {
		t.Fatal(err)
	}
	s, vkey, err := ledger.ParseSignerKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	clk := fakeclock.New(Start)
	l, err := ledger.Open(ledger.Config{Dir: t.TempDir(), LogName: "test", Signer: s, VerifierKey: vkey, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	st := store.New(l)
	return &Fixture{Ledger: l, Store: st, Env: core.NewEnv(st, core.Env{Clock: clk.Now}), Clock: clk}
}

// Throttle returns a throttle with cheap hashes whose limits never refuse
// unless tune changes them.
func (f *Fixture) Throttle(tune ...func(*throttle.Config)) *throttle.Throttle {
	cfg := throttle.Config{
		Clock: f.Clock.Now, PasswordParams: FastPasswords, PasswordMemoryBudget: password.DefaultMemoryBudget,
		LoginRate: rate.Inf, LoginBurst: 10, LoginDelayMax: time.Second,
		SignupRate: rate.Inf, SignupBurst: 1, SignupGlobalRate: rate.Inf, SignupGlobalBurst: 1,
		LimiterKeys: 1000,
	}
	for _, fn := range tune {
		fn(&cfg)
	}
	return throttle.New(cfg)
}

// Org returns the handle of org id.
func (f *Fixture) Org(t testing.TB, id string) store.Org {
	t.Helper()
	o, err := f.Store.Org(id)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// Principal returns a principal of org with role, made as a tool makes
// one (not through authentication: it holds no records).
func Principal(org, userID string, role rbac.Role) *core.Principal {
	return &core.Principal{Org: org, UserID: userID, Role: role}
}

// Ctx is a request context with a source address and a request ID.
func Ctx() context.Context {
	return core.WithRequestInfo(context.Background(), core.RequestInfo{ID: "req-1", Source: "192.0.2.1"})
}

// Event is one event of an org's log, as read back by Events.
type Event struct {
	Index   uint64
	Type    string          `json:"type"`
	Actor   string          `json:"actor"`
	Subject string          `json:"subject"`
	Data    json.RawMessage `json:"data"`
}

// Events returns every event of org's log that is durable, in log order,
// read from the ledger directly (not through a feature).
func (f *Fixture) Events(t testing.TB, org string) []Event {
	t.Helper()
	log := f.Org(t, org).Log()
	n, err := log.Size()
	if err != nil {
		t.Fatal(err)
	}
	var out []Event
	if err := log.Leaves(context.Background(), 0, n, func(lf ledger.Leaf) error {
		l, err := leaf.Parse(lf.Bytes)
		if err != nil {
			return err
		}
		if l.Org != org {
			t.Errorf("leaf %d of org %s names org %s", lf.Index, org, l.Org)
		}
		e := Event{Index: lf.Index}
		if err := json.Unmarshal(l.Event, &e); err != nil {
			return err
		}
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// EventsOfType returns the events of org's log of type typ.
func (f *Fixture) EventsOfType(t testing.TB, org, typ string) []Event {
	t.Helper()
	var out []Event
	for _, e := range f.Events(t, org) {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}
