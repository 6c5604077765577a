// Package domaintest is the fixture of the governance features' unit
// tests: an org-scoped store over a real ledger (Pebble on an in-memory
// file system: a durable commit costs no fsync, so a package's tests run
// in a fraction of a second), a core.Env on a fake clock, a throttle with
// cheap password hashes, principals for the tests' callers, the events of
// an org's log as read back, and People: the orgs and sessions features
// wired over a fixture, with the org owners and members the features'
// tests act as. No server runs.
//
// It imports the orgs and sessions features, so only external test
// packages (package x_test) import it.
package domaintest

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/password"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/governance/throttle"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/internal/fakeclock"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/leaf"
	"golang.org/x/time/rate"
)

// Start is the fake clock's first reading.
var Start = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// FastPasswords are Argon2id parameters cheap enough for tests.
var FastPasswords = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Fixture is one test's domain: a ledger in memory (closed when the test
// ends), its store, and an Env on a fake clock.
type Fixture struct {
	Ledger *ledger.Ledger
	Store  *store.Store
	Env    *core.Env
	Clock  *fakeclock.Clock
}

// New returns a fresh fixture.
func New(t testing.TB) *Fixture {
	t.Helper()
	clk := fakeclock.New(Start)
	l := OpenLedger(t, clk.Now)
	st := store.New(l)
	return &Fixture{Ledger: l, Store: st, Env: core.NewEnv(st, clk.Now, nil, nil), Clock: clk}
}

// OpenLedger opens a ledger with a fresh log key on Pebble's in-memory
// file system (the same code as on disk, without its fsyncs), on clock
// (nil: time.Now), and closes it when the test ends.
func OpenLedger(t testing.TB, clock func() time.Time) *ledger.Ledger {
	t.Helper()
	skey, _, err := ledger.GenerateSignerKey(rand.Reader, "test")
	if err != nil {
		t.Fatal(err)
	}
	s, vkey, err := ledger.ParseSignerKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ledger.Config{Dir: "ledger", FS: vfs.NewMem(), LogName: "test", Signer: s, VerifierKey: vkey, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
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

// LogSize returns the size of org's log.
func (f *Fixture) LogSize(t testing.TB, org string) uint64 {
	t.Helper()
	n, err := f.Org(t, org).Log().Size()
	if err != nil {
		t.Fatal(err)
	}
	return n
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

// Event is an event as read back from an org's log: the leaf's "event"
// member, with the leaf's index and time. Data is its data decoded, Raw
// the same data as stored.
type Event struct {
	Index     uint64          `json:"-"`
	Type      string          `json:"type"`
	Actor     string          `json:"actor"`
	Subject   string          `json:"subject"`
	Data      map[string]any  `json:"-"`
	Raw       json.RawMessage `json:"data"`
	RequestID string          `json:"request_id"`
	Time      time.Time       `json:"-"`
}

// Events returns every durable event of o's log in order, read from the
// ledger directly (not through a feature); none if the org has no log.
func Events(t testing.TB, o store.Org) []Event {
	t.Helper()
	size, err := o.Log().Size()
	if errors.Is(err, ledger.ErrUnknownOrg) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []Event
	err = o.Log().Leaves(context.Background(), 0, size, func(lf ledger.Leaf) error {
		l, err := leaf.Parse(lf.Bytes)
		if err != nil {
			return err
		}
		if l.Org != o.ID() {
			t.Errorf("leaf %d of org %s names org %s", lf.Index, o.ID(), l.Org)
		}
		ev := Event{Index: lf.Index, Time: l.Time}
		if err := json.Unmarshal(l.Event, &ev); err != nil {
			return err
		}
		if len(ev.Raw) > 0 {
			if err := json.Unmarshal(ev.Raw, &ev.Data); err != nil {
				return err
			}
		}
		out = append(out, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Events returns every durable event of org's log (see Events).
func (f *Fixture) Events(t testing.TB, org string) []Event {
	t.Helper()
	return Events(t, f.Org(t, org))
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

// CheckCatalog fails for each event of evs that the event catalog
// (docs/events.md) does not describe exactly: an unknown type, a data
// member the catalog does not list, or a listed member that is missing
// (unless optional) or of the wrong JSON type.
func CheckCatalog(t testing.TB, evs []Event) {
	t.Helper()
	for _, e := range evs {
		entry, ok := ec.Lookup(e.Type)
		if !ok {
			t.Errorf("event %d: type %q is not in the catalog", e.Index, e.Type)
			continue
		}
		fields := map[string]ec.Field{}
		for _, f := range entry.Fields {
			fields[f.Name] = f
		}
		for k, v := range e.Data {
			f, ok := fields[k]
			if !ok {
				t.Errorf("event %d (%s): member %q is not in the catalog", e.Index, e.Type, k)
				continue
			}
			if !kindOf(v, f) {
				t.Errorf("event %d (%s): member %q = %v is not of kind %s", e.Index, e.Type, k, v, f.Kind)
			}
		}
		for name, f := range fields {
			if _, ok := e.Data[name]; !ok && !f.Optional && !strings.Contains(name, ".") {
				t.Errorf("event %d (%s): member %q is missing", e.Index, e.Type, name)
			}
		}
	}
}

// kindOf reports whether v, decoded from JSON, is of f's kind.
func kindOf(v any, f ec.Field) bool {
	if v == nil {
		return f.Nullable
	}
	switch f.Kind {
	case ec.String:
		_, ok := v.(string)
		return ok
	case ec.Time:
		s, ok := v.(string)
		if !ok {
			return false
		}
		_, err := time.Parse(time.RFC3339Nano, s)
		return err == nil
	case ec.Integer:
		n, ok := v.(float64)
		return ok && n == float64(int64(n))
	case ec.Boolean:
		_, ok := v.(bool)
		return ok
	case ec.Object:
		_, ok := v.(map[string]any)
		return ok
	case ec.Strings, ec.Integers, ec.Objects:
		a, ok := v.([]any)
		if !ok {
			return false
		}
		for _, x := range a {
			if !kindOf(x, ec.Field{Kind: map[ec.Kind]ec.Kind{ec.Strings: ec.String, ec.Integers: ec.Integer, ec.Objects: ec.Object}[f.Kind]}) {
				return false
			}
		}
		return true
	}
	return false
}
