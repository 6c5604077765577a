package wasmverify_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/nuxari/nuxari/evidence/archive"
	"github.com/nuxari/nuxari/internal/console/wasmverify"
	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/verify"
)

const org = "acme"

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fixture is an org's log of n leaves, its log key and a manifest
// signing key, and a package of some of its events against its
// checkpoint.
type fixture struct {
	pins   wasmverify.Pins
	pkg    []byte
	root   []byte
	leaves [][]byte
}

// subtree is the RFC 6962 hash of hashes, computed here by plain
// recursion.
func subtree(hashes [][32]byte) [32]byte {
	if len(hashes) == 1 {
		return hashes[0]
	}
	k := 1
	for k<<1 < len(hashes) {
		k <<= 1
	}
	a, b := subtree(hashes[:k]), subtree(hashes[k:])
	return sha256.Sum256(append(append([]byte{1}, a[:]...), b[:]...))
}

// newFixture builds a log of n leaves and a package of the leaves sel
// picks (every one when nil), with scope.
func newFixture(t *testing.T, n uint64, sel func(uint64) bool, scope archive.Scope) *fixture {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "nuxari")
	if err != nil {
		t.Fatal(err)
	}
	logSigner, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := cryptoutils.MarshalPublicKeyToPEM(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	origin := verify.Origin("nuxari", org)
	fx := &fixture{pins: wasmverify.Pins{LogKey: vkey, Origin: origin, SigningKey: string(pem)}}
	var hashes [][32]byte
	types := []string{"auth.login.succeeded", "org.member.added"}
	for i := range n {
		ev := fmt.Appendf(nil, `{"actor":"u%d","subject":"s%d","type":%q}`, i%3, i, types[i%2])
		b := leaf.Append(nil, &leaf.Leaf{Org: org, Index: i, Time: t0.Add(time.Duration(i) * time.Second), Event: ev})
		fx.leaves = append(fx.leaves, b)
		hashes = append(hashes, sha256.Sum256(append([]byte{0}, b...)))
	}
	root := subtree(hashes)
	fx.root = root[:]
	cp, err := note.Sign(&note.Note{Text: string(log.Checkpoint{Origin: origin, Size: n, Hash: fx.root}.Marshal())}, logSigner)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := archive.NewWriter(&buf, sv, archive.Meta{
		Org: org, LogOrigin: origin, LogKey: vkey, Created: t0.Add(time.Hour), Scope: scope, TreeSize: n, Checkpoint: cp,
	})
	if err != nil {
		t.Fatal(err)
	}
	picked := func(yield func(uint64) bool) {
		for i := range n {
			if (sel == nil || sel(i)) && !yield(i) {
				return
			}
		}
	}
	for i := range picked {
		if err := w.AddEvent(fx.leaves[i]); err != nil {
			t.Fatal(err)
		}
	}
	nodes, err := archive.Nodes(n, picked, func(lo, hi uint64) ([]byte, error) {
		h := subtree(hashes[lo:hi])
		return h[:], nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetProof(nodes); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fx.pkg = buf.Bytes()
	return fx
}

// TestVerifyReport: a package verifies, and the report says what it
// proves, as the console reads it in JSON.
func TestVerifyReport(t *testing.T) {
	scope := archive.Scope{StartTime: t0, Types: []string{"auth.login.succeeded"}}
	fx := newFixture(t, 10, func(i uint64) bool { return i%2 == 0 && i >= 2 }, scope)
	res := wasmverify.Verify(fx.pkg, fx.pins)
	if !res.OK || res.Report == nil || res.Error != "" || res.Check != "" {
		t.Fatalf("Verify: %+v", res)
	}
	r := res.Report
	want := wasmverify.Report{
		Org: org, LogOrigin: "nuxari/orgs/acme", Created: "2026-03-01T13:00:00Z",
		Scope:    wasmverify.Scope{StartTime: "2026-03-01T12:00:00Z", Types: []string{"auth.login.succeeded"}, Subjects: []string{}},
		TreeSize: 10, Root: hex.EncodeToString(fx.root), Checkpoint: r.Checkpoint,
		Events: wasmverify.Events{Count: 4, FirstIndex: 2, LastIndex: 8, FirstTime: "2026-03-01T12:00:02Z", LastTime: "2026-03-01T12:00:08Z"},
		Gaps:   3, Types: map[string]uint64{"auth.login.succeeded": 4}, Consistency: []uint64{}, Blobs: 0,
	}
	got, _ := json.Marshal(r)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(got, wantJSON) {
		t.Fatalf("report\n got %s\nwant %s", got, wantJSON)
	}
	if !strings.HasPrefix(r.Checkpoint, "nuxari/orgs/acme\n10\n") {
		t.Fatalf("checkpoint %q", r.Checkpoint)
	}
	// The JSON the console reads: camelCase, ok first, no failure fields.
	j, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`{"ok":true,"report":{"org":"acme","logOrigin":"nuxari/orgs/acme"`, `"treeSize":10`, `"firstIndex":2`, `"consistency":[]`} {
		if !bytes.Contains(j, []byte(w)) {
			t.Errorf("JSON %s lacks %s", j, w)
		}
	}
	for _, w := range []string{`"error"`, `"check"`, `"index"`} {
		if bytes.Contains(j, []byte(w)) {
			t.Errorf("JSON of a success has %s: %s", w, j)
		}
	}
}

// TestVerifyFailures: a tampered package fails with the check that
// caught it; pins that cannot be used fail as the pins' fault; another
// log key or signing key fails the package's check against them.
func TestVerifyFailures(t *testing.T) {
	fx := newFixture(t, 5, nil, archive.Scope{})
	other := newFixture(t, 1, nil, archive.Scope{})
	if res := wasmverify.Verify(fx.pkg, fx.pins); !res.OK {
		t.Fatalf("the untampered package: %+v", res)
	}
	// One byte of an event, stored verbatim in the zip, flipped.
	flipped := bytes.Clone(fx.pkg)
	i := bytes.Index(flipped, []byte(`"subject":"s3"`))
	if i < 0 {
		t.Fatal("event 3 not found in the package")
	}
	flipped[i+len(`"subject":"s`)] = '4'

	pins := func(f func(*wasmverify.Pins)) wasmverify.Pins {
		p := fx.pins
		f(&p)
		return p
	}
	for _, c := range []struct {
		name  string
		pkg   []byte
		pins  wasmverify.Pins
		check string
		file  string
	}{
		{"a flipped byte of an event", flipped, fx.pins, archive.CheckFiles, archive.FileEvents},
		{"not a zip", []byte("not a zip at all"), fx.pins, archive.CheckZip, ""},
		{"empty", nil, fx.pins, archive.CheckZip, ""},
		{"another signing key", fx.pkg, pins(func(p *wasmverify.Pins) { p.SigningKey = other.pins.SigningKey }), archive.CheckSignature, ""},
		{"another log key", fx.pkg, pins(func(p *wasmverify.Pins) { p.LogKey = other.pins.LogKey }), archive.CheckLogKey, archive.FileLogKey},
		{"another org's origin", fx.pkg, pins(func(p *wasmverify.Pins) { p.Origin = "nuxari/orgs/other" }), archive.CheckManifest, ""},
		{"no signing key", fx.pkg, pins(func(p *wasmverify.Pins) { p.SigningKey = "" }), wasmverify.CheckPins, ""},
		{"a signing key that is not PEM", fx.pkg, pins(func(p *wasmverify.Pins) { p.SigningKey = "-----BEGIN nothing" }), wasmverify.CheckPins, ""},
		{"a malformed log key", fx.pkg, pins(func(p *wasmverify.Pins) { p.LogKey = "nuxari+zz" }), wasmverify.CheckPins, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := wasmverify.Verify(c.pkg, c.pins)
			if res.OK || res.Report != nil {
				t.Fatalf("verified: %+v", res)
			}
			if res.Check != c.check || res.Error == "" || res.Reason == "" {
				t.Fatalf("check %q, error %q, reason %q; want check %q", res.Check, res.Error, res.Reason, c.check)
			}
			if c.file != "" && res.File != c.file {
				t.Errorf("file %q, want %q", res.File, c.file)
			}
			j, _ := json.Marshal(res)
			if !bytes.HasPrefix(j, []byte(`{"ok":false,"error":`)) || bytes.Contains(j, []byte(`"report"`)) {
				t.Errorf("JSON %s", j)
			}
		})
	}
}
