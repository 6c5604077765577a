package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/governance/internal/domaintest"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/ledger"
)

func open(t *testing.T) (*store.Store, *ledger.Ledger) {
	t.Helper()
	l := domaintest.OpenLedger(t, nil)
	return store.New(l), l
}

func orgOf(t *testing.T, st *store.Store, id string) store.Org {
	t.Helper()
	o, err := st.Org(id)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

type ev struct {
	Type string `json:"type"`
}

func TestCommitWritesStateWithItsEvent(t *testing.T) {
	ctx := context.Background()
	st, l := open(t)
	a, b := orgOf(t, st, "a"), orgOf(t, st, "b")
	if _, err := a.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("missing org: %v", err)
	}
	rs, err := a.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   ev{"x.created"},
		Require: map[string][]byte{"k": nil},
		Put:     map[string]any{"k": []byte("v1"), "j/1": map[string]int{"n": 1}, "j/2": []int{2}},
	})
	if err != nil || len(rs) != 1 || rs[0].Index != 0 {
		t.Fatalf("commit: %v %v", rs, err)
	}
	if v, err := a.Get(ctx, "k"); err != nil || string(v) != "v1" {
		t.Fatalf("get: %q %v", v, err)
	}
	var m map[string]int
	if _, err := a.GetJSON(ctx, "j/1", &m); err != nil || m["n"] != 1 {
		t.Fatalf("get json: %v %v", m, err)
	}
	lf, err := l.Leaf(ctx, "a", 0)
	if err != nil || !contains(lf.Bytes, `"event":{"type":"x.created"}`) {
		t.Fatalf("leaf: %s %v", lf.Bytes, err)
	}
	// Scan with prefix and start.
	var keys []string
	if err := a.Scan(ctx, "j/", "j/2", func(k string, _ []byte) bool { keys = append(keys, k); return true }); err != nil || len(keys) != 1 || keys[0] != "j/2" {
		t.Fatalf("scan: %v %v", keys, err)
	}
	// Another org's handle sees none of it.
	if _, err := b.Get(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("org b reads org a's state: %v", err)
	}
	// A failed precondition writes nothing, appends nothing.
	_, err = a.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   ev{"x.changed"},
		Require: map[string][]byte{"k": []byte("stale")},
		Put:     map[string]any{"k": []byte("v2")},
		Delete:  []string{"j/1"},
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale precondition: %v", err)
	}
	if v, _ := a.Get(ctx, "k"); string(v) != "v1" {
		t.Fatalf("state changed by a refused commit: %q", v)
	}
	if n, err := l.Size("a"); err != nil || n != 1 {
		t.Fatalf("log size %d after a refused commit, want 1", n)
	}
	// A met precondition writes and deletes.
	if _, err := a.Commit(ctx, ledger.AckCheckpoint, store.Change{
		Event: ev{"x.changed"}, Require: map[string][]byte{"k": []byte("v1")},
		Put: map[string]any{"k": []byte("v2")}, Delete: []string{"j/1"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get(ctx, "j/1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted key: %v", err)
	}
	// An event that is not a JSON object is refused before any write.
	if _, err := a.Commit(ctx, ledger.AckDurable, store.Change{Event: []int{1}}); err == nil {
		t.Fatal("a non-object event was accepted")
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }

// TestOrgIDCheckedOnce: a handle is made only for a valid org ID, and the
// zero handle names no org: every call fails.
func TestOrgIDCheckedOnce(t *testing.T) {
	ctx := context.Background()
	st, _ := open(t)
	for _, id := range []string{"", "../a", "a/b", "a\x00b", strings.Repeat("x", 65)} {
		if _, err := st.Org(id); !errors.Is(err, store.ErrInvalidOrg) {
			t.Errorf("Org(%q): %v, want ErrInvalidOrg", id, err)
		}
	}
	var zero store.Org
	if zero.Valid() {
		t.Fatal("the zero handle is valid")
	}
	if _, err := zero.Get(ctx, "k"); !errors.Is(err, store.ErrInvalidOrg) {
		t.Errorf("zero Get: %v", err)
	}
	if _, err := zero.Commit(ctx, ledger.AckDurable, store.Change{Event: ev{"x"}}); !errors.Is(err, store.ErrInvalidOrg) {
		t.Errorf("zero Commit: %v", err)
	}
	if _, err := zero.Log().Size(); !errors.Is(err, store.ErrInvalidOrg) {
		t.Errorf("zero Log().Size: %v", err)
	}
}
