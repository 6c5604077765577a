package logapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/internal/domaintest"
	"github.com/nuxari/nuxari/governance/jcs"
	"github.com/nuxari/nuxari/governance/logapi"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/sessions"
	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/verify"
)

// env is one test's domain: the log API and the orgs feature (to make
// orgs) over a fixture.
type env struct {
	*domaintest.People
	log *logapi.Service
}

func newEnv(t *testing.T, cfg logapi.Config) *env {
	t.Helper()
	p := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	return &env{People: p, log: logapi.New(p.F.Env, cfg)}
}

// append appends evs as p and fails the test on an error.
func (e *env) append(t *testing.T, p *core.Principal, evs ...logapi.NewEvent) ([]logapi.Appended, logapi.Checkpoint) {
	t.Helper()
	got, cp, err := e.log.AppendEvents(domaintest.Ctx(), p, evs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(evs) {
		t.Fatalf("%d receipts for %d events", len(got), len(evs))
	}
	return got, cp
}

// list returns every event of f as p, following page tokens with pages
// of size n.
func (e *env) list(t *testing.T, p *core.Principal, f logapi.EventFilter, n int32) []logapi.Event {
	t.Helper()
	var all []logapi.Event
	tok := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("more than 1000 pages")
		}
		evs, next, err := e.log.ListEvents(domaintest.Ctx(), p, f, n, tok)
		if err != nil {
			t.Fatalf("list %+v page %d: %v", f, pages, err)
		}
		if n > 0 && len(evs) > int(n) {
			t.Fatalf("page of %d events, size %d", len(evs), n)
		}
		all = append(all, evs...)
		if next == "" {
			return all
		}
		if next == tok {
			t.Fatal("a page token that does not advance")
		}
		tok = next
	}
}

func ev(typ string, data map[string]any) logapi.NewEvent {
	return logapi.NewEvent{Type: typ, Data: data}
}

func indices(evs []logapi.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Index
	}
	return out
}

// checkpoint verifies cp's note under the log's key and org's origin and
// returns what it states.
func (e *env) checkpoint(t *testing.T, org string, cp logapi.Checkpoint) verify.Checkpoint {
	t.Helper()
	v, err := verify.NewVerifier(e.F.Store.VerifierKey(), verify.Origin("test", org))
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Checkpoint(cp.Note)
	if err != nil {
		t.Fatalf("checkpoint of %s: %v", org, err)
	}
	if got.Size != cp.Size || !bytes.Equal(got.Root, cp.Root) || got.Origin != cp.Origin {
		t.Fatalf("checkpoint fields %d %x %q, its note states %d %x %q", cp.Size, cp.Root, cp.Origin, got.Size, got.Root, got.Origin)
	}
	return got
}

// TestAppendEventsRefusesBadInput: every malformed call is refused with
// InvalidArgument, whole: nothing of it is appended.
func TestAppendEventsRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, logapi.Config{})
	p := e.CreateOrg(t, "acme")
	ok := ev("custom.ok", map[string]any{"n": 1})
	many := make([]logapi.NewEvent, logapi.MaxAppendEvents+1)
	for i := range many {
		many[i] = ev("custom.many", nil)
	}
	// Canonical {"s":"…"} is the string and 8 bytes.
	big := strings.Repeat("x", logapi.MaxCustomEventSize-8+1)
	for _, c := range []struct {
		name string
		evs  []logapi.NewEvent
		// in is the index of the bad event that the message names, or -1.
		in int
	}{
		{"no events", nil, -1},
		{"too many events", many, -1},
		{"catalog type", []logapi.NewEvent{ok, ev("org.created", nil)}, 1},
		{"no custom prefix", []logapi.NewEvent{ev("deploy", nil)}, 0},
		{"empty custom name", []logapi.NewEvent{ev("custom.", nil)}, 0},
		{"space in type", []logapi.NewEvent{ev("custom.a b", nil)}, 0},
		{"custom name too long", []logapi.NewEvent{ev("custom."+strings.Repeat("a", 121), nil)}, 0},
		{"oversized data", []logapi.NewEvent{ok, ev("custom.big", map[string]any{"s": big})}, 1},
		{"NaN", []logapi.NewEvent{ev("custom.n", map[string]any{"v": math.NaN()})}, 0},
		{"+Inf", []logapi.NewEvent{ev("custom.n", map[string]any{"v": math.Inf(1)})}, 0},
		{"nested -Inf", []logapi.NewEvent{ok, ev("custom.n", map[string]any{"a": []any{1, map[string]any{"v": math.Inf(-1)}}})}, 1},
		{"unencodable data", []logapi.NewEvent{ev("custom.n", map[string]any{"c": make(chan int)})}, 0},
		{"bad idempotency key", []logapi.NewEvent{{Type: "custom.k", IdempotencyKey: "a b"}}, 0},
		{"idempotency key too long", []logapi.NewEvent{{Type: "custom.k", IdempotencyKey: strings.Repeat("k", leaf.MaxIdempotencyKeyLen+1)}}, 0},
		{"idempotency key repeated in one call", []logapi.NewEvent{
			{Type: "custom.k", IdempotencyKey: "k1"}, {Type: "custom.k", IdempotencyKey: "k2"}, {Type: "custom.k", IdempotencyKey: "k1"},
		}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := e.F.LogSize(t, "acme")
			got, _, err := e.log.AppendEvents(domaintest.Ctx(), p, c.evs)
			domaintest.WantKind(t, c.name, err, errs.InvalidArgument)
			if got != nil {
				t.Fatalf("receipts with an error: %v", got)
			}
			if c.in >= 0 {
				de, _ := errs.As(err)
				if want := fmt.Sprintf("events[%d]", c.in); de == nil || !strings.Contains(de.Message(), want) {
					t.Fatalf("message %q does not name %s", err, want)
				}
			}
			if after := e.F.LogSize(t, "acme"); after != before {
				t.Fatalf("log grew from %d to %d on a refused call", before, after)
			}
		})
	}

	// The bounds themselves are accepted.
	at := strings.Repeat("x", logapi.MaxCustomEventSize-8)
	if _, _, err := e.log.AppendEvents(domaintest.Ctx(), p, []logapi.NewEvent{ev("custom.big", map[string]any{"s": at})}); err != nil {
		t.Fatalf("data of exactly %d bytes: %v", logapi.MaxCustomEventSize, err)
	}
	before := e.F.LogSize(t, "acme")
	if _, _, err := e.log.AppendEvents(domaintest.Ctx(), p, many[:logapi.MaxAppendEvents]); err != nil {
		t.Fatalf("%d events: %v", logapi.MaxAppendEvents, err)
	}
	// Events without idempotency keys never collide.
	e.append(t, p, ev("custom.a", nil), ev("custom.a", nil))
	if got, want := e.F.LogSize(t, "acme"), before+logapi.MaxAppendEvents+2; got != want {
		t.Fatalf("log size %d, want %d", got, want)
	}
}

// TestAppendEventsReceiptsAndCheckpoint: receipts name consecutive
// indices with the leaves' hashes and the clock's time; the leaves hold
// the caller's events; the checkpoint returned is signed, covers them,
// and proves each.
func TestAppendEventsReceiptsAndCheckpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t, logapi.Config{})
	p := e.CreateOrg(t, "acme")
	first := e.F.LogSize(t, "acme")
	e.F.Clock.Advance(time.Second)
	now := e.F.Clock.Now()
	evs := []logapi.NewEvent{
		ev("custom.deploy", map[string]any{"service": "api", "version": 3}),
		{Type: "custom.deploy", Data: map[string]any{"service": "web"}, IdempotencyKey: "deploy-web-1"},
		ev("custom.note", nil),
	}
	got, cp := e.append(t, p, evs...)
	vcp := e.checkpoint(t, "acme", cp)
	if cp.Size < first+uint64(len(evs)) {
		t.Fatalf("checkpoint of size %d does not cover indices up to %d", cp.Size, first+uint64(len(evs))-1)
	}
	for i, r := range got {
		if r.Index != first+uint64(i) || r.Duplicate || !r.Time.Equal(now) {
			t.Fatalf("receipt %d: %+v, want index %d at %s", i, r, first+uint64(i), now)
		}
		g, err := e.log.GetEvent(domaintest.Ctx(), p, r.Index)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(leaf.Hash(g.Leaf), r.LeafHash) || !bytes.Equal(g.LeafHash, r.LeafHash) {
			t.Fatalf("receipt %d: leaf hash %x, the leaf hashes to %x", i, r.LeafHash, leaf.Hash(g.Leaf))
		}
		l, err := verify.LeafAt(g.Leaf, "acme", r.Index)
		if err != nil {
			t.Fatal(err)
		}
		if l.IdempotencyKey != evs[i].IdempotencyKey || !l.Time.Equal(now) {
			t.Fatalf("leaf %d: key %q time %s", r.Index, l.IdempotencyKey, l.Time)
		}
		var body struct {
			Type      string          `json:"type"`
			Actor     string          `json:"actor"`
			RequestID *string         `json:"request_id"`
			Data      json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(l.Event, &body); err != nil {
			t.Fatal(err)
		}
		if body.Type != evs[i].Type || body.Actor != p.Actor() || g.Type != evs[i].Type || g.Actor != p.Actor() {
			t.Fatalf("leaf %d: %s", r.Index, l.Event)
		}
		// An event with an idempotency key carries no request ID, so that
		// a retry builds the same event.
		if key := evs[i].IdempotencyKey; key != "" && body.RequestID != nil || key == "" && (body.RequestID == nil || *body.RequestID != "req-1") {
			t.Fatalf("leaf %d: %s", r.Index, l.Event)
		}
		data := evs[i].Data
		if data == nil {
			data = map[string]any{}
		}
		if want, err := jcs.Marshal(data); err != nil || !bytes.Equal(body.Data, want) {
			t.Fatalf("leaf %d: data %s, want %s (%v)", r.Index, body.Data, want, err)
		}
		pr, pcp, lh, err := e.log.InclusionProof(domaintest.Ctx(), p, r.Index, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if pcp.Size != cp.Size || !bytes.Equal(lh, r.LeafHash) {
			t.Fatalf("inclusion of %d: checkpoint %d, leaf hash %x", r.Index, pcp.Size, lh)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, r.Index, vcp.Size, r.LeafHash, pr, vcp.Root); err != nil {
			t.Fatalf("inclusion of %d in the returned checkpoint: %v", r.Index, err)
		}
	}
}

// TestAppendEventsIdempotentRetry: a retry with the same keys and data is
// answered with the first receipts and appends nothing, whatever the
// request; the same key with other data, type or actor is refused; keys
// are the org's own.
func TestAppendEventsIdempotentRetry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, logapi.Config{})
	p := e.CreateOrg(t, "acme")
	q := e.CreateOrg(t, "globex")
	call := []logapi.NewEvent{
		{Type: "custom.pay", Data: map[string]any{"amount": 10}, IdempotencyKey: "k1"},
		{Type: "custom.pay", Data: map[string]any{"amount": 20}, IdempotencyKey: "k2"},
	}
	first, _ := e.append(t, p, call...)
	size := e.F.LogSize(t, "acme")

	e.F.Clock.Advance(time.Minute)
	retryCtx := core.WithRequestInfo(context.Background(), core.RequestInfo{ID: "req-retry", Source: "198.51.100.7"})
	again, cp, err := e.log.AppendEvents(retryCtx, p, call)
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	for i := range call {
		a, b := first[i], again[i]
		if !b.Duplicate || a.Duplicate || b.Index != a.Index || !bytes.Equal(b.LeafHash, a.LeafHash) || !b.Time.Equal(a.Time) {
			t.Fatalf("event %d: first %+v, retry %+v", i, a, b)
		}
	}
	if got := e.F.LogSize(t, "acme"); got != size {
		t.Fatalf("a retry grew the log from %d to %d", size, got)
	}
	// Even a retry appending nothing gets a checkpoint covering its
	// events.
	if vcp := e.checkpoint(t, "acme", cp); vcp.Size <= first[1].Index {
		t.Fatalf("the retry's checkpoint, size %d, does not cover index %d", vcp.Size, first[1].Index)
	}

	// A retry with one new event appends only that one.
	mixed, _ := e.append(t, p, call[0], logapi.NewEvent{Type: "custom.pay", Data: map[string]any{"amount": 30}, IdempotencyKey: "k3"})
	if !mixed[0].Duplicate || mixed[0].Index != first[0].Index || mixed[1].Duplicate || mixed[1].Index != size {
		t.Fatalf("mixed retry: %+v", mixed)
	}
	size++

	for _, c := range []struct {
		name string
		p    *core.Principal
		ev   logapi.NewEvent
	}{
		{"other data", p, logapi.NewEvent{Type: "custom.pay", Data: map[string]any{"amount": 11}, IdempotencyKey: "k1"}},
		{"other type", p, logapi.NewEvent{Type: "custom.refund", Data: map[string]any{"amount": 10}, IdempotencyKey: "k1"}},
		{"other actor", domaintest.Principal("acme", "uother", rbac.Admin), call[0]},
	} {
		_, _, err := e.log.AppendEvents(domaintest.Ctx(), c.p, []logapi.NewEvent{c.ev})
		domaintest.WantKind(t, c.name, err, errs.Precondition)
		// All or none: a new event beside a conflicting one is not
		// appended either.
		_, _, err = e.log.AppendEvents(domaintest.Ctx(), c.p, []logapi.NewEvent{{Type: "custom.x", IdempotencyKey: "k9"}, c.ev})
		domaintest.WantKind(t, c.name+", beside a new event", err, errs.Precondition)
		if got := e.F.LogSize(t, "acme"); got != size {
			t.Fatalf("%s: the log grew from %d to %d", c.name, size, got)
		}
	}

	// Another org's key of the same name is its own.
	other, _ := e.append(t, q, call[0])
	if other[0].Duplicate {
		t.Fatalf("another org's event with the same key is a duplicate: %+v", other[0])
	}
}

// history is a log of acme with events of two actors over time:
//
//	index 0 org.created (owner)              t0
//	index 1 custom.a    (alice)              t0+1s
//	index 2 custom.b    (bob)                t0+2s
//	index 3,4,5 custom.a, custom.c, custom.a t0+3s (one call, bob)
//	index 6 custom.b    (alice)              t0+4s
//	index 7 custom.c    (alice)              t0+5s
type history struct {
	e          *env
	owner      *core.Principal
	alice, bob *core.Principal
	t0         time.Time
	all        []logapi.Event
}

func newHistory(t *testing.T, cfg logapi.Config) *history {
	t.Helper()
	e := newEnv(t, cfg)
	h := &history{e: e, t0: e.F.Clock.Now(), owner: e.CreateOrg(t, "acme")}
	h.alice = domaintest.Principal("acme", "ualice", rbac.Admin)
	h.bob = domaintest.Principal("acme", "ubob", rbac.Admin)
	step := func(p *core.Principal, evs ...logapi.NewEvent) {
		e.F.Clock.Advance(time.Second)
		e.append(t, p, evs...)
	}
	step(h.alice, ev("custom.a", map[string]any{"i": 1}))
	step(h.bob, ev("custom.b", map[string]any{"i": 2}))
	step(h.bob, ev("custom.a", map[string]any{"i": 3}), ev("custom.c", map[string]any{"i": 4}), ev("custom.a", map[string]any{"i": 5}))
	step(h.alice, ev("custom.b", map[string]any{"i": 6}))
	step(h.alice, ev("custom.c", map[string]any{"i": 7}))
	h.all = e.list(t, h.owner, logapi.EventFilter{}, 0)
	if len(h.all) != 8 {
		t.Fatalf("history of %d events", len(h.all))
	}
	for i, ev := range h.all {
		if ev.Index != uint64(i) || ev.Purged || !bytes.Equal(leaf.Hash(ev.Leaf), ev.LeafHash) {
			t.Fatalf("event %d: %+v", i, ev)
		}
	}
	return h
}

// at is t0 plus s seconds.
func (h *history) at(s float64) time.Time { return h.t0.Add(time.Duration(s * float64(time.Second))) }

// TestListEventsFilters: types, actor and the time range [start, end)
// select exactly the events they name, in log order.
func TestListEventsFilters(t *testing.T) {
	t.Parallel()
	h := newHistory(t, logapi.Config{})
	want := []struct {
		typ, actor string
		at         float64
	}{
		{"org.created", h.owner.UserID, 0}, {"custom.a", "ualice", 1}, {"custom.b", "ubob", 2},
		{"custom.a", "ubob", 3}, {"custom.c", "ubob", 3}, {"custom.a", "ubob", 3},
		{"custom.b", "ualice", 4}, {"custom.c", "ualice", 5},
	}
	for i, w := range want {
		if g := h.all[i]; g.Type != w.typ || g.Actor != w.actor || !g.Time.Equal(h.at(w.at)) {
			t.Fatalf("event %d: %s by %s at %s, want %s by %s at %s", i, g.Type, g.Actor, g.Time, w.typ, w.actor, h.at(w.at))
		}
	}
	for _, c := range []struct {
		name string
		f    logapi.EventFilter
		want []uint64
	}{
		{"everything", logapi.EventFilter{}, []uint64{0, 1, 2, 3, 4, 5, 6, 7}},
		{"one type", logapi.EventFilter{Types: []string{"custom.a"}}, []uint64{1, 3, 5}},
		{"two types", logapi.EventFilter{Types: []string{"custom.c", "org.created"}}, []uint64{0, 4, 7}},
		{"a known type with no events", logapi.EventFilter{Types: []string{"member.added"}}, nil},
		{"actor", logapi.EventFilter{Actor: "ubob"}, []uint64{2, 3, 4, 5}},
		{"unknown actor", logapi.EventFilter{Actor: "unobody"}, nil},
		{"type and actor", logapi.EventFilter{Types: []string{"custom.a"}, Actor: "ubob"}, []uint64{3, 5}},
		{"start on a time of several events", logapi.EventFilter{Start: h.at(3)}, []uint64{3, 4, 5, 6, 7}},
		{"start between times", logapi.EventFilter{Start: h.at(2.5)}, []uint64{3, 4, 5, 6, 7}},
		{"start just after a time", logapi.EventFilter{Start: h.at(3).Add(time.Nanosecond)}, []uint64{6, 7}},
		{"start at the first event", logapi.EventFilter{Start: h.at(0)}, []uint64{0, 1, 2, 3, 4, 5, 6, 7}},
		{"start before the log", logapi.EventFilter{Start: h.at(-60)}, []uint64{0, 1, 2, 3, 4, 5, 6, 7}},
		{"start at the last event", logapi.EventFilter{Start: h.at(5)}, []uint64{7}},
		{"start after the log", logapi.EventFilter{Start: h.at(6)}, nil},
		{"end is exclusive", logapi.EventFilter{End: h.at(3)}, []uint64{0, 1, 2}},
		{"end just after a time", logapi.EventFilter{End: h.at(3).Add(time.Nanosecond)}, []uint64{0, 1, 2, 3, 4, 5}},
		{"end at the first event", logapi.EventFilter{End: h.at(0)}, nil},
		{"end after the log", logapi.EventFilter{End: h.at(60)}, []uint64{0, 1, 2, 3, 4, 5, 6, 7}},
		{"range", logapi.EventFilter{Start: h.at(2), End: h.at(4)}, []uint64{2, 3, 4, 5}},
		{"range, type and actor", logapi.EventFilter{Start: h.at(1), End: h.at(5), Types: []string{"custom.a", "custom.b"}, Actor: "ualice"}, []uint64{1, 6}},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, n := range []int32{0, 1, 2} {
				got := h.e.list(t, h.owner, c.f, n)
				if !slices.Equal(indices(got), c.want) {
					t.Fatalf("page size %d: indices %v, want %v", n, indices(got), c.want)
				}
				for _, g := range got {
					if !bytes.Equal(g.Leaf, h.all[g.Index].Leaf) {
						t.Fatalf("event %d differs from the unfiltered listing", g.Index)
					}
				}
			}
		})
	}
}

// TestListEventsRefusesBadFilters: an unknown type, too many types, an
// empty time range and bad page sizes are refused.
func TestListEventsRefusesBadFilters(t *testing.T) {
	t.Parallel()
	h := newHistory(t, logapi.Config{})
	tooMany := make([]string, logapi.MaxTypeFilters+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("custom.t%d", i)
	}
	for _, c := range []struct {
		name string
		f    logapi.EventFilter
		size int32
	}{
		{"unknown type", logapi.EventFilter{Types: []string{"nosuch.event"}}, 0},
		{"unknown type beside a known one", logapi.EventFilter{Types: []string{"custom.a", "org.deleted_forever"}}, 0},
		{"malformed custom type", logapi.EventFilter{Types: []string{"custom.a b"}}, 0},
		{"empty type", logapi.EventFilter{Types: []string{""}}, 0},
		{"too many types", logapi.EventFilter{Types: tooMany}, 0},
		{"control character in actor", logapi.EventFilter{Actor: "u\x00"}, 0},
		{"start equals end", logapi.EventFilter{Start: h.at(2), End: h.at(2)}, 0},
		{"start after end", logapi.EventFilter{Start: h.at(3), End: h.at(2)}, 0},
		{"negative page size", logapi.EventFilter{}, -1},
		{"page size above the limit", logapi.EventFilter{}, core.MaxPageSize + 1},
	} {
		evs, next, err := h.e.log.ListEvents(domaintest.Ctx(), h.owner, c.f, c.size, "")
		domaintest.WantKind(t, c.name, err, errs.InvalidArgument)
		if evs != nil || next != "" {
			t.Fatalf("%s: events %v, token %q with an error", c.name, evs, next)
		}
	}
	// MaxTypeFilters types are accepted.
	if _, _, err := h.e.log.ListEvents(domaintest.Ctx(), h.owner, logapi.EventFilter{Types: tooMany[1:]}, 0, ""); err != nil {
		t.Fatalf("%d types: %v", logapi.MaxTypeFilters, err)
	}
}

// TestListEventsPageTokens: pages cover the listing once, in order; a page
// token works only with the filter, listing and org it was issued for.
func TestListEventsPageTokens(t *testing.T) {
	t.Parallel()
	h := newHistory(t, logapi.Config{})
	e, ctx := h.e, domaintest.Ctx()
	f := logapi.EventFilter{Types: []string{"custom.a", "custom.b"}, Start: h.at(1)}
	p1, tok, err := e.log.ListEvents(ctx, h.owner, f, 2, "")
	if err != nil || !slices.Equal(indices(p1), []uint64{1, 2}) || tok == "" {
		t.Fatalf("first page: %v %q %v", indices(p1), tok, err)
	}
	p2, tok2, err := e.log.ListEvents(ctx, h.owner, f, 2, tok)
	if err != nil || !slices.Equal(indices(p2), []uint64{3, 5}) || tok2 == "" {
		t.Fatalf("second page: %v %q %v", indices(p2), tok2, err)
	}
	// The same filter with its types in another order is the same filter.
	g := f
	g.Types = []string{"custom.b", "custom.a"}
	p3, tok3, err := e.log.ListEvents(ctx, h.owner, g, 2, tok2)
	if err != nil || !slices.Equal(indices(p3), []uint64{6}) || tok3 != "" {
		t.Fatalf("last page: %v %q %v", indices(p3), tok3, err)
	}
	// A page token may be used again: pages are read-only.
	if again, _, err := e.log.ListEvents(ctx, h.owner, f, 2, tok); err != nil || !slices.Equal(indices(again), indices(p2)) {
		t.Fatalf("second page again: %v %v", indices(again), err)
	}

	// A full last page ends the listing: no token to an empty page.
	all, last, err := e.log.ListEvents(ctx, h.owner, logapi.EventFilter{Start: h.at(4)}, 2, "")
	if err != nil || len(all) != 2 || last != "" {
		t.Fatalf("a listing that fills its page exactly: %v %q %v", indices(all), last, err)
	}

	other := h.e.CreateOrg(t, "globex")
	e.append(t, other, ev("custom.a", nil), ev("custom.a", nil), ev("custom.a", nil))
	_, otherTok, err := e.log.ListEvents(ctx, other, logapi.EventFilter{}, 1, "")
	if err != nil || otherTok == "" {
		t.Fatalf("globex's first page: %q %v", otherTok, err)
	}
	// A token of another listing of the org: its members.
	if _, _, err := e.Orgs.AddMember(ctx, h.owner, orgs.NewMember{Email: "m@acme.example", Role: rbac.Readonly}); err != nil {
		t.Fatal(err)
	}
	owner := h.owner
	_, membersTok, err := e.Orgs.ListMembers(ctx, owner, 1, "")
	if err != nil || membersTok == "" {
		t.Fatalf("members page: %q %v", membersTok, err)
	}
	tampered := []byte(tok)
	tampered[len(tampered)/2] ^= 1
	for _, c := range []struct {
		name string
		f    logapi.EventFilter
		tok  string
	}{
		{"another type", logapi.EventFilter{Types: []string{"custom.a"}, Start: h.at(1)}, tok},
		{"no type", logapi.EventFilter{Start: h.at(1)}, tok},
		{"another actor", logapi.EventFilter{Types: f.Types, Start: h.at(1), Actor: "ubob"}, tok},
		{"another start", logapi.EventFilter{Types: f.Types, Start: h.at(0)}, tok},
		{"an end added", logapi.EventFilter{Types: f.Types, Start: h.at(1), End: h.at(5)}, tok},
		{"another org's token", logapi.EventFilter{}, otherTok},
		{"another listing's token", f, membersTok},
		{"a changed token", f, string(tampered)},
		{"not base64", f, "!!!"},
		{"too short", f, "AAAA"},
	} {
		evs, next, err := e.log.ListEvents(ctx, h.owner, c.f, 2, c.tok)
		domaintest.WantKind(t, c.name, err, errs.InvalidArgument)
		if evs != nil || next != "" {
			t.Fatalf("%s: %v %q", c.name, indices(evs), next)
		}
	}
	// And globex's token is refused by acme, while it works in globex.
	if evs, _, err := e.log.ListEvents(ctx, other, logapi.EventFilter{}, 1, otherTok); err != nil || len(evs) != 1 || evs[0].Index != 1 {
		t.Fatalf("globex's token in globex: %v %v", evs, err)
	}
}

// TestListEventsBoundedByBytes: a page holds at most ListEventsMaxBytes of
// leaves, but always one event, so that any listing makes progress.
func TestListEventsBoundedByBytes(t *testing.T) {
	t.Parallel()
	h := newHistory(t, logapi.Config{})
	sizes := make([]int, len(h.all))
	for i, ev := range h.all {
		sizes[i] = len(ev.Leaf)
	}
	// The pages the rule gives: an event joins a page if the page is
	// empty or the page's bytes stay within the limit.
	pagesOf := func(max int) [][]uint64 {
		var pages [][]uint64
		var cur []uint64
		n := 0
		for i, sz := range sizes {
			if len(cur) > 0 && n+sz > max {
				pages, cur, n = append(pages, cur), nil, 0
			}
			cur, n = append(cur, uint64(i)), n+sz
		}
		return append(pages, cur)
	}
	for _, max := range []int{1, sizes[1] + sizes[2], 3*slices.Max(sizes) - 1, 1 << 20} {
		svc := logapi.New(h.e.F.Env, logapi.Config{ListEventsMaxBytes: max})
		var got [][]uint64
		tok := ""
		for {
			evs, next, err := svc.ListEvents(domaintest.Ctx(), h.owner, logapi.EventFilter{}, 0, tok)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, indices(evs))
			if next == "" {
				break
			}
			if len(got) > len(sizes) {
				t.Fatalf("limit %d: more pages than events: %v", max, got)
			}
			tok = next
		}
		want := pagesOf(max)
		if len(want) < 2 && max < 1<<20 {
			t.Fatalf("limit %d gives one page; the test needs more", max)
		}
		if !slices.EqualFunc(got, want, slices.Equal) {
			t.Fatalf("pages bounded by %d bytes (leaves of %v bytes): %v, want %v", max, sizes, got, want)
		}
	}
}

// TestGetEvent returns each event; an index beyond the log is NotFound.
func TestGetEvent(t *testing.T) {
	t.Parallel()
	h := newHistory(t, logapi.Config{})
	for _, want := range h.all {
		got, err := h.e.log.GetEvent(domaintest.Ctx(), h.owner, want.Index)
		if err != nil {
			t.Fatal(err)
		}
		if got.Index != want.Index || got.Type != want.Type || got.Actor != want.Actor || !got.Time.Equal(want.Time) ||
			!bytes.Equal(got.Leaf, want.Leaf) || !bytes.Equal(got.LeafHash, want.LeafHash) || got.Purged {
			t.Fatalf("GetEvent(%d): %+v, want %+v", want.Index, got, want)
		}
	}
	for _, i := range []uint64{uint64(len(h.all)), uint64(len(h.all)) + 1, math.MaxUint64} {
		_, err := h.e.log.GetEvent(domaintest.Ctx(), h.owner, i)
		domaintest.WantKind(t, fmt.Sprintf("GetEvent(%d)", i), err, errs.NotFound)
	}
}

// TestProofs: inclusion and consistency proofs verify with the merkle
// package against the checkpoints' roots, at the latest size and at
// earlier ones; sizes and indices beyond the tree are refused.
func TestProofs(t *testing.T) {
	t.Parallel()
	e := newEnv(t, logapi.Config{})
	p := e.CreateOrg(t, "acme")
	ctx := domaintest.Ctx()
	var cps []verify.Checkpoint
	for i := range 5 {
		evs := make([]logapi.NewEvent, 1+i%3)
		for j := range evs {
			evs[j] = ev("custom.step", map[string]any{"i": i, "j": j})
		}
		_, cp := e.append(t, p, evs...)
		cps = append(cps, e.checkpoint(t, "acme", cp))
	}
	latest, err := e.log.Checkpoint(ctx, p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if lcp := e.checkpoint(t, "acme", latest); lcp.Size != cps[len(cps)-1].Size || !bytes.Equal(lcp.Root, cps[len(cps)-1].Root) {
		t.Fatalf("latest checkpoint %d, the last append's %d", lcp.Size, cps[len(cps)-1].Size)
	}
	for _, cp := range cps {
		got, err := e.log.Checkpoint(ctx, p, cp.Size)
		if err != nil || got.Size != cp.Size || !bytes.Equal(got.Root, cp.Root) || !bytes.Equal(got.Note, cp.Note) {
			t.Fatalf("checkpoint at %d: %+v %v", cp.Size, got, err)
		}
	}

	for _, cp := range cps {
		for i := range cp.Size {
			size := cp.Size
			if cp.Size == latest.Size {
				size = 0 // the latest
			}
			pr, pcp, lh, err := e.log.InclusionProof(ctx, p, i, size)
			if err != nil {
				t.Fatalf("inclusion of %d in %d: %v", i, cp.Size, err)
			}
			g, err := e.log.GetEvent(ctx, p, i)
			if err != nil {
				t.Fatal(err)
			}
			if pcp.Size != cp.Size || !bytes.Equal(pcp.Root, cp.Root) || !bytes.Equal(lh, rfc6962.DefaultHasher.HashLeaf(g.Leaf)) {
				t.Fatalf("inclusion of %d in %d: checkpoint %d, leaf hash %x", i, cp.Size, pcp.Size, lh)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, cp.Size, lh, pr, cp.Root); err != nil {
				t.Fatalf("inclusion of %d in %d: %v", i, cp.Size, err)
			}
			// The proof is of this leaf: another leaf's hash fails it.
			other := rfc6962.DefaultHasher.HashLeaf(append(slices.Clone(g.Leaf), ' '))
			if proof.VerifyInclusion(rfc6962.DefaultHasher, i, cp.Size, other, pr, cp.Root) == nil {
				t.Fatalf("inclusion of %d in %d verifies another leaf", i, cp.Size)
			}
		}
		_, _, _, err := e.log.InclusionProof(ctx, p, cp.Size, cp.Size)
		domaintest.WantKind(t, fmt.Sprintf("inclusion of %d in %d", cp.Size, cp.Size), err, errs.NotFound)
	}
	_, _, _, err = e.log.InclusionProof(ctx, p, latest.Size, 0)
	domaintest.WantKind(t, "inclusion of the index past the latest checkpoint", err, errs.NotFound)
	_, _, _, err = e.log.InclusionProof(ctx, p, 0, latest.Size+1)
	domaintest.WantKind(t, "inclusion in a tree larger than the log", err, errs.NotFound)

	for a, cp1 := range cps {
		for _, cp2 := range cps[a:] {
			size2 := cp2.Size
			if size2 == latest.Size {
				size2 = 0
			}
			pr, g1, g2, err := e.log.ConsistencyProof(ctx, p, cp1.Size, size2)
			if err != nil {
				t.Fatalf("consistency %d to %d: %v", cp1.Size, cp2.Size, err)
			}
			if g1.Size != cp1.Size || !bytes.Equal(g1.Root, cp1.Root) || g2.Size != cp2.Size || !bytes.Equal(g2.Root, cp2.Root) {
				t.Fatalf("consistency %d to %d: checkpoints %d and %d", cp1.Size, cp2.Size, g1.Size, g2.Size)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, cp1.Size, cp2.Size, pr, cp1.Root, cp2.Root); err != nil {
				t.Fatalf("consistency %d to %d: %v", cp1.Size, cp2.Size, err)
			}
			if cp1.Size < cp2.Size {
				bad := slices.Clone(cp1.Root)
				bad[0] ^= 1
				if proof.VerifyConsistency(rfc6962.DefaultHasher, cp1.Size, cp2.Size, pr, bad, cp2.Root) == nil {
					t.Fatalf("consistency %d to %d verifies another root", cp1.Size, cp2.Size)
				}
			}
		}
	}
	// From the empty tree: no first checkpoint.
	pr, g1, g2, err := e.log.ConsistencyProof(ctx, p, 0, 0)
	if err != nil || g1.Size != 0 || g1.Note != nil || g2.Size != latest.Size || len(pr) != 0 {
		t.Fatalf("consistency from 0: %v %+v %d %v", pr, g1, g2.Size, err)
	}

	first, last := cps[0], cps[len(cps)-1]
	_, _, _, err = e.log.ConsistencyProof(ctx, p, last.Size, first.Size)
	domaintest.WantKind(t, "size1 > size2", err, errs.InvalidArgument)
	_, _, _, err = e.log.ConsistencyProof(ctx, p, last.Size+1, 0)
	domaintest.WantKind(t, "size1 beyond the latest checkpoint", err, errs.InvalidArgument)
	_, _, _, err = e.log.ConsistencyProof(ctx, p, first.Size, last.Size+1)
	domaintest.WantKind(t, "size2 beyond the log", err, errs.NotFound)
	// A size no checkpoint was issued at.
	var unsigned uint64
	for s := first.Size + 1; s < last.Size; s++ {
		if !slices.ContainsFunc(cps, func(c verify.Checkpoint) bool { return c.Size == s }) {
			unsigned = s
			break
		}
	}
	if unsigned == 0 {
		t.Fatal("every size has a checkpoint; the test needs one that has none")
	}
	_, err = e.log.Checkpoint(ctx, p, unsigned)
	domaintest.WantKind(t, "checkpoint at an unsigned size", err, errs.NotFound)
	_, _, _, err = e.log.ConsistencyProof(ctx, p, unsigned, 0)
	domaintest.WantKind(t, "consistency from an unsigned size", err, errs.NotFound)
	_, _, _, err = e.log.InclusionProof(ctx, p, 0, unsigned)
	domaintest.WantKind(t, "inclusion in an unsigned size", err, errs.NotFound)
}

// TestOrgsAreIsolated: a principal of one org reads only its own org's
// log, whatever index, size or filter it names; an org that does not
// exist has nothing.
func TestOrgsAreIsolated(t *testing.T) {
	t.Parallel()
	e := newEnv(t, logapi.Config{})
	ctx := domaintest.Ctx()
	a := e.CreateOrg(t, "acme")
	b := e.CreateOrg(t, "globex")
	e.append(t, a, ev("custom.a-only", map[string]any{"secret": "acme"}))
	var bcp logapi.Checkpoint
	for range 4 {
		_, bcp = e.append(t, b, ev("custom.b-only", map[string]any{"secret": "globex"}), ev("custom.b-only", nil))
	}
	asize := e.F.LogSize(t, "acme")
	if bcp.Size <= asize+1 {
		t.Fatalf("globex's log (%d) must be longer than acme's (%d) for the test", bcp.Size, asize)
	}

	for _, f := range []logapi.EventFilter{{}, {Types: []string{"custom.b-only"}}, {Actor: b.UserID}} {
		for _, evs := range [][]logapi.Event{e.list(t, a, f, 0), e.list(t, a, f, 1)} {
			for _, ev := range evs {
				if _, err := verify.LeafAt(ev.Leaf, "acme", ev.Index); err != nil || ev.Type == "custom.b-only" {
					t.Fatalf("acme lists %s: %v", ev.Leaf, err)
				}
			}
			if len(f.Types) > 0 && len(evs) != 0 {
				t.Fatalf("acme lists %d of globex's events", len(evs))
			}
		}
	}
	for i := range asize {
		g, err := e.log.GetEvent(ctx, a, i)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verify.LeafAt(g.Leaf, "acme", i); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.log.GetEvent(ctx, a, asize)
	domaintest.WantKind(t, "acme's GetEvent at an index only globex has", err, errs.NotFound)
	_, _, _, err = e.log.InclusionProof(ctx, a, asize, bcp.Size)
	domaintest.WantKind(t, "acme's inclusion proof in globex's tree size", err, errs.NotFound)
	_, err = e.log.Checkpoint(ctx, a, bcp.Size)
	domaintest.WantKind(t, "acme's checkpoint at globex's size", err, errs.NotFound)
	cp, err := e.log.Checkpoint(ctx, a, 0)
	if err != nil || cp.Origin != verify.Origin("test", "acme") || cp.Size != asize {
		t.Fatalf("acme's checkpoint: %q size %d, %v", cp.Origin, cp.Size, err)
	}
	e.checkpoint(t, "acme", cp)

	// An org with no log: everything is NotFound.
	nobody := domaintest.Principal("initech", "u1", rbac.Owner)
	_, _, err = e.log.ListEvents(ctx, nobody, logapi.EventFilter{}, 0, "")
	domaintest.WantKind(t, "ListEvents of an org that does not exist", err, errs.NotFound)
	_, err = e.log.GetEvent(ctx, nobody, 0)
	domaintest.WantKind(t, "GetEvent of an org that does not exist", err, errs.NotFound)
	_, err = e.log.Checkpoint(ctx, nobody, 0)
	domaintest.WantKind(t, "Checkpoint of an org that does not exist", err, errs.NotFound)
}

// TestListEventsFindsStartBySearch: a page reads a bounded number of
// leaves (lowered here to 20), so a long run of events out of the filter
// comes back as empty pages with tokens; the start of a time range is
// found by binary search, not by reading that run.
func TestListEventsFindsStartBySearch(t *testing.T) {
	t.Parallel()
	const limit = 20
	e := newEnv(t, logapi.Config{})
	logapi.SetScanLimit(e.log, limit)
	p := e.CreateOrg(t, "acme")
	ctx := domaintest.Ctx()
	filler := make([]logapi.NewEvent, 2*limit+10)
	for i := range filler {
		filler[i] = ev("custom.filler", nil)
	}
	e.append(t, p, filler...)
	e.F.Clock.Advance(time.Second)
	got, _ := e.append(t, p, ev("custom.late", nil))
	late := got[0]
	if late.Index != uint64(len(filler))+1 {
		t.Fatalf("the late event is at %d", late.Index)
	}

	for _, f := range []logapi.EventFilter{{Start: late.Time}, {Start: late.Time, Types: []string{"custom.late"}}} {
		evs, next, err := e.log.ListEvents(ctx, p, f, 0, "")
		if err != nil || !slices.Equal(indices(evs), []uint64{late.Index}) || next != "" {
			t.Fatalf("start at the late event: %v %q %v", indices(evs), next, err)
		}
	}
	// By type alone, the filler is read: pages stop at the scan bound,
	// empty, with a token that goes on from there.
	f := logapi.EventFilter{Types: []string{"custom.late"}}
	var pages [][]uint64
	tok := ""
	for {
		evs, next, err := e.log.ListEvents(ctx, p, f, 0, tok)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, indices(evs))
		if next == "" || len(pages) > 10 {
			break
		}
		tok = next
	}
	if want := [][]uint64{{}, {}, {late.Index}}; !slices.EqualFunc(pages, want, slices.Equal) {
		t.Fatalf("pages by type, %d leaves read per page: %v, want %v", limit, pages, want)
	}
	// The bound counts leaves read, matching or not.
	evs, next, err := e.log.ListEvents(ctx, p, logapi.EventFilter{}, 0, "")
	if err != nil || len(evs) != limit || next == "" {
		t.Fatalf("unfiltered first page: %d events, token %q, %v", len(evs), next, err)
	}
}
