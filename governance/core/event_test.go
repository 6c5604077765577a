package core_test

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/jcs"
)

// plain is core.Event without its methods: what jcs.Marshal makes of it
// through encoding/json is the reference.
type plain core.Event

// TestEventCanonical: the one-pass canonical encoding of an event equals
// jcs.Marshal of its JSON encoding, for events with and without each
// optional member, strings needing every kind of escape, unicode beyond
// the BMP, invalid UTF-8, and data of every shape (maps, already
// canonical bytes, a typed nil).
func TestEventCanonical(t *testing.T) {
	strs := []string{
		"", "member.added", "u1", "token:abc", "a\"b\\c", "tab\tnl\nnul\x00bell\x07", "<&>", "é", "😀 \u2028\u2029",
		"\xff\xfe bad utf-8", "\uFEFF", "z\u007f",
	}
	canon, err := jcs.Marshal(map[string]any{"z": 1, "a": []any{"x", 2.5, nil, true}})
	if err != nil {
		t.Fatal(err)
	}
	datas := []any{
		nil, map[string]any{"email": "a@b.c", "n": 3, "nested": map[string]any{"b": 1, "a": "\u00e9"}},
		jcs.Canonical(canon), map[string]any(nil), []string{"x", "y"}, "text", 1e21, json.RawMessage(`{"b":1,"a":2}`),
	}
	r := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return strs[r.IntN(len(strs))] }
	for i := 0; i < 2000; i++ {
		e := core.Event{Type: pick(), Actor: pick(), Subject: pick(), RequestID: pick(), Data: datas[r.IntN(len(datas))]}
		got, gerr := jcs.Marshal(e)
		want, werr := jcs.Marshal(plain(e))
		if (gerr == nil) != (werr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("event %+v:\none pass: %s (%v)\nreference: %s (%v)", e, got, gerr, want, werr)
		}
	}
	// Built as the domain builds them.
	e := core.NewEvent(core.WithRequestInfo(context.Background(), core.RequestInfo{ID: "r-1"}), "custom.x", "u1", "", jcs.Canonical(canon))
	got, _ := jcs.Marshal(e)
	if want := `{"actor":"u1","data":` + string(canon) + `,"request_id":"r-1","type":"custom.x"}`; string(got) != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
