package archive_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/nuxari/nuxari/evidence/archive"
)

// FuzzVerify: Verify never panics, fails only with a *Failure, and accepts
// only what the real signer signed.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f, 20)
	valid := fx.build(f, spec{treeSize: 20, selected: func(i uint64, _ []byte) bool { return i%3 != 1 },
		consistency: []uint64{7}, blobs: [][]byte{[]byte("blob")}})
	root := fx.log.root(20)
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte("PK\x05\x06" + string(make([]byte, 18))))
	f.Add(valid[:len(valid)/2])
	es := unpack(f, valid)
	f.Add(pack(f, es))
	f.Add(pack(f, remove(es, archive.FileSignature)))
	f.Add(pack(f, set(es, "../x", nil)))
	f.Add(pack(f, resign(f, fixHashes(f, editLines(es, func(ls [][]byte) [][]byte { return slices.Insert(ls, 1, ls[1]) })), fx.signer)))
	f.Add(pack(f, resign(f, fixHashes(f, set(es, archive.FileProof, []byte(`{"tree_size":20,"nodes":[{"start":0,"end":1,"hash":"AA=="}]}`))), fx.signer)))
	f.Add(pack(f, resign(f, fixHashes(f, set(es, archive.FileEvents, []byte("{\"a\":\"\\\\\"}\n{\n[\"\n\"]}\n"))), fx.signer)))

	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := archive.Verify(bytes.NewReader(b), int64(len(b)), fx.pins)
		if err != nil {
			var fail *archive.Failure
			if !errors.As(err, &fail) || !errors.Is(err, archive.ErrPackage) {
				t.Fatalf("error %v (%T) is not a *Failure", err, err)
			}
			if fail.Check == "" || fail.Reason == "" {
				t.Fatalf("failure without check or reason: %+v", fail)
			}
			return
		}
		if rep.Org != testOrg || rep.TreeSize != 20 || !bytes.Equal(rep.Root, root) || rep.Events.Count != 13 {
			t.Fatalf("accepted a package that the real signer did not make: %+v", rep)
		}
	})
}
