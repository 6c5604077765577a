package cli_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/cli"
	"github.com/nuxari/nuxari/internal/strictjson"
	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

const testOrigin = "nuxari/orgs/acme"

// offlineBundle builds, with no server, a bundle proving leaf 1 of a
// two-leaf log, consistent with the one-leaf tree before it.
func offlineBundle(t testing.TB) (*cli.Bundle, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, "nuxari")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(size uint64, root []byte) string {
		text := log.Checkpoint{Origin: testOrigin, Size: size, Hash: root}.Marshal()
		n, err := note.Sign(&note.Note{Text: string(text)}, signer)
		if err != nil {
			t.Fatal(err)
		}
		return string(n)
	}
	now := time.Date(2025, 1, 31, 9, 0, 0, 0, time.UTC)
	var leaves, hashes [][]byte
	for i, typ := range []string{"org.created", "custom.deploy"} {
		l := leaf.Append(nil, &leaf.Leaf{Org: "acme", Index: uint64(i), Time: now, Event: []byte(`{"actor":"u1","type":"` + typ + `"}`)})
		leaves, hashes = append(leaves, l), append(hashes, leaf.Hash(l))
	}
	root2 := rfc6962.DefaultHasher.HashChildren(hashes[0], hashes[1])
	return &cli.Bundle{
		Version: cli.BundleVersion, Org: "acme", LogOrigin: testOrigin, VerifierKey: vkey,
		Index: 1, Leaf: leaves[1], LeafHash: hashes[1], TreeSize: 2,
		Proof:      [][]byte{hashes[0]},
		Checkpoint: sign(2, root2),
		Consistency: &cli.BundleConsistency{
			FromSize: 1, FromCheckpoint: sign(1, hashes[0]), Proof: [][]byte{hashes[1]},
		},
	}, vkey
}

func TestVerifyBundleOffline(t *testing.T) {
	b, vkey := offlineBundle(t)
	data, err := cli.MarshalBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	r := cli.VerifyBundle("b.json", data, cli.Pins{VerifierKey: vkey, Origin: testOrigin})
	if !r.Verified || r.Failure != nil {
		t.Fatalf("not verified: %+v", r)
	}
	var names []string
	for _, c := range r.Checks {
		if !c.OK {
			t.Errorf("check %s failed: %s", c.Check, c.Detail)
		}
		names = append(names, c.Check)
	}
	want := []string{cli.CheckBundle, cli.CheckVerifierKey, cli.CheckOrigin, cli.CheckCheckpoint, cli.CheckTreeSize,
		cli.CheckLeafHash, cli.CheckLeafPosition, cli.CheckInclusion, cli.CheckConsistency}
	if !slices.Equal(names, want) {
		t.Errorf("checks %v, want %v", names, want)
	}
	if r.Event == nil || r.Event.Type != "custom.deploy" || r.Event.Actor != "u1" {
		t.Errorf("event summary %+v", r.Event)
	}

	// The JSON result's members are stable.
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"file", "verified", "org", "log_origin", "verifier_key", "index", "tree_size", "root_hash", "leaf_hash", "event", "consistency_from", "checks"} {
		if _, ok := m[k]; !ok {
			t.Errorf("the JSON result has no %q: %s", k, out)
		}
	}

	// Without a consistency proof, and with an empty inclusion proof.
	b.Consistency = nil
	data, _ = cli.MarshalBundle(b)
	if r := cli.VerifyBundle("b.json", data, cli.Pins{VerifierKey: vkey, Origin: testOrigin, Org: "acme"}); !r.Verified || len(r.Checks) != 8 {
		t.Errorf("without consistency: %+v", r)
	}
	if !bytes.Contains(data, []byte(`"proof": [`)) || bytes.Contains(data, []byte(`"consistency"`)) {
		t.Errorf("bundle encoding:\n%s", data)
	}
}

func TestBundleRoundTrip(t *testing.T) {
	b, _ := offlineBundle(t)
	b.Proof = nil // encodes as [], not null
	data, err := cli.MarshalBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(`"proof": []`)) {
		t.Errorf("an empty proof encodes as:\n%s", data)
	}
	got, err := cli.ParseBundle(data)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := cli.MarshalBundle(got)
	if !bytes.Equal(data, again) {
		t.Errorf("round trip changed the bundle:\n%s\n%s", data, again)
	}
}

// FuzzVerifyBundle: any file either verifies, with every check passed and
// the leaf at the pinned org, or fails with exactly one failure, last.
func FuzzVerifyBundle(f *testing.F) {
	b, vkey := offlineBundle(f)
	good, _ := cli.MarshalBundle(b)
	f.Add(good)
	b.Consistency = nil
	noCons, _ := cli.MarshalBundle(b)
	f.Add(noCons)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"org":"acme","log_origin":"nuxari/orgs/acme","leaf":"e30=","checkpoint":"x"}`))
	pins := cli.Pins{VerifierKey: vkey, Origin: testOrigin}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := cli.VerifyBundle("f", data, pins)
		if len(r.Checks) == 0 {
			t.Fatal("no checks ran")
		}
		last := r.Checks[len(r.Checks)-1]
		if !r.Verified {
			if r.Failure == nil || last.OK || *r.Failure != last {
				t.Fatalf("failed without naming the last check: %+v", r)
			}
			return
		}
		if r.Failure != nil {
			t.Fatalf("verified with a failure: %+v", r)
		}
		for _, c := range r.Checks {
			if !c.OK {
				t.Fatalf("verified with check %s failed", c.Check)
			}
		}
		got, err := cli.ParseBundle(data)
		if err != nil {
			t.Fatalf("verified a bundle that does not parse: %v", err)
		}
		if got.Org != "acme" || !bytes.Equal(leaf.Hash(got.Leaf), got.LeafHash) {
			t.Fatalf("verified a bundle of org %q or with a wrong leaf hash", got.Org)
		}
		if l, err := leaf.Parse(got.Leaf); err != nil || l.Org != "acme" || l.Index != got.Index {
			t.Fatalf("verified a leaf that is not at its position: %+v, %v", l, err)
		}
	})
}

// TestBundleStrict: bundles that a lenient JSON reader reads one way and a
// strict one refuses, so that two verifiers could disagree. Each fails the
// bundle check with the named error.
func TestBundleStrict(t *testing.T) {
	b, vkey := offlineBundle(t)
	good, err := cli.MarshalBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	pins := cli.Pins{VerifierKey: vkey, Origin: testOrigin}
	if r := cli.VerifyBundle("b.json", good, pins); !r.Verified {
		t.Fatalf("the base bundle does not verify: %+v", r.Failure)
	}
	lh := base64.StdEncoding.EncodeToString(b.LeafHash)
	p0 := base64.StdEncoding.EncodeToString(b.Proof[0])
	bogus := base64.StdEncoding.EncodeToString(make([]byte, 32))
	edit := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("the bundle holds no %q:\n%s", old, good)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	for _, c := range []struct {
		name string
		data []byte
		want error
		path string
	}{
		{"member in another case", edit(`"version": 1`, `"Version": 1`), strictjson.ErrCase, "Version"},
		{"index in another case", edit(`"index": 1`, `"Index": 1`), strictjson.ErrCase, "Index"},
		{"consistency member in another case", edit(`"from_size": 1`, `"From_Size": 1`), strictjson.ErrCase, "consistency.From_Size"},
		{"leaf hash twice, bogus first", edit(`"leaf_hash": "`+lh+`"`, `"leaf_hash": "`+bogus+`", "leaf_hash": "`+lh+`"`), strictjson.ErrDuplicate, "leaf_hash"},
		{"index twice, bogus first", edit(`"index": 1`, `"index": 0, "index": 1`), strictjson.ErrDuplicate, "index"},
		{"unknown member", edit(`"version": 1`, `"version": 1, "trusted": true`), strictjson.ErrUnknown, "trusted"},
		{"unknown consistency member", edit(`"from_size": 1`, `"from_size": 1, "to_size": 2`), strictjson.ErrUnknown, "consistency.to_size"},
		{"no tree size", edit(`"tree_size": 2,`, ``), strictjson.ErrMissing, "tree_size"},
		{"no verifier key", edit(`"verifier_key": "`+vkey+`",`, ``), strictjson.ErrMissing, "verifier_key"},
		{"index above 2^53-1", edit(`"index": 1`, `"index": 9007199254740993`), strictjson.ErrNumber, "index"},
		{"index with an exponent", edit(`"index": 1`, `"index": 1e0`), strictjson.ErrNumber, "index"},
		{"null proof", edit(`"proof": [`, `"proof": null, "x": [`), strictjson.ErrType, "proof"},
		{"proof hash with a line break", edit(`"`+p0+`"`, `"`+p0[:8]+`\n`+p0[8:]+`"`), strictjson.ErrBase64, "proof[0]"},
		{"empty consistency member", edit(`"consistency": {`, `"consistency": {}, "x": {`), strictjson.ErrMissing, "consistency.from_size"},
		{"data after the bundle", append(bytes.Clone(good), "{}"...), strictjson.ErrTrailing, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := cli.ParseBundle(c.data)
			var se *strictjson.Error
			if !errors.Is(err, c.want) || !errors.As(err, &se) || se.Path != c.path {
				t.Fatalf("ParseBundle: %v; want %v at %q", err, c.want, c.path)
			}
			r := cli.VerifyBundle("b.json", c.data, pins)
			if r.Verified || r.Failure == nil || r.Failure.Check != cli.CheckBundle || !strings.Contains(r.Failure.Detail, c.want.Error()) {
				t.Fatalf("VerifyBundle: %+v; want a %s failure naming %q", r.Failure, cli.CheckBundle, c.want)
			}
		})
	}
}
