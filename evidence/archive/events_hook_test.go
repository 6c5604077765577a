package archive_test

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/nuxari/nuxari/evidence/archive"
	"github.com/nuxari/nuxari/ledger/leaf"
)

// TestVerifyWithEvents: VerifyWith hands over exactly the events of the
// types asked for, in order, verbatim, with their index, line and time,
// and proves what Verify proves.
func TestVerifyWithEvents(t *testing.T) {
	fx := newFixture(t, 300)
	b := fx.build(t, spec{treeSize: 300, selected: func(i uint64, _ []byte) bool { return i%3 != 1 }})
	want, err := verifyBytes(b, fx.pins)
	if err != nil {
		t.Fatal(err)
	}
	for _, types := range [][]string{nil, {"login"}, {"grant.created", "login"}, {"no.such.type"}} {
		var got []archive.Event
		rep, err := archive.VerifyWith(bytes.NewReader(b), int64(len(b)), fx.pins, archive.Options{
			Events: func(e archive.Event) { got = append(got, e) }, EventTypes: types,
		})
		if err != nil {
			t.Fatalf("%v: %v", types, err)
		}
		if !reflect.DeepEqual(rep, want) {
			t.Errorf("%v: report %+v, Verify gives %+v", types, rep, want)
		}
		var exp []archive.Event
		line := int64(0)
		for i := range uint64(300) {
			if i%3 == 1 {
				continue
			}
			line++
			l, err := leaf.Parse(fx.log.leaves[i])
			if err != nil {
				t.Fatal(err)
			}
			typ := eventTypes[i%uint64(len(eventTypes))]
			if len(types) > 0 && !slices.Contains(types, typ) {
				continue
			}
			exp = append(exp, archive.Event{Index: i, Line: line, Time: l.Time, Type: typ, JSON: l.Event})
		}
		if len(got) != len(exp) {
			t.Fatalf("%v: %d events, want %d", types, len(got), len(exp))
		}
		for i := range got {
			g, e := got[i], exp[i]
			if g.Index != e.Index || g.Line != e.Line || !g.Time.Equal(e.Time) || g.Type != e.Type || !bytes.Equal(g.JSON, e.JSON) {
				t.Fatalf("%v: event %d: %+v, want %+v", types, i, g, e)
			}
		}
	}

	// A package that does not verify fails as it does under Verify.
	es := unpack(t, b)
	ls := lines(get(t, es, archive.FileEvents))
	ls[5] = bytes.Replace(ls[5], []byte(`"actor":"user-`), []byte(`"actor":"user-9`), 1)
	bad := pack(t, resign(t, fixHashes(t, set(es, archive.FileEvents, joinLines(ls))), fx.signer))
	_, werr := verifyBytes(bad, fx.pins)
	_, err = archive.VerifyWith(bytes.NewReader(bad), int64(len(bad)), fx.pins, archive.Options{Events: func(archive.Event) {}})
	var f1, f2 *archive.Failure
	if !errors.As(werr, &f1) || !errors.As(err, &f2) || f1.Error() != f2.Error() || f1.Check != archive.CheckProof {
		t.Fatalf("tampered: VerifyWith %v, Verify %v", err, werr)
	}
}
