package cli_test

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/cli"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// resign signs the text of checkpoint note n with a new key named name and
// returns the new note and the key's verifier key.
func resign(t *testing.T, n, name string) (string, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	text := n[:strings.Index(n, "\n\n")+1]
	signed, err := note.Sign(&note.Note{Text: text}, s)
	if err != nil {
		t.Fatal(err)
	}
	return string(signed), vkey
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

// testTamper checks that verify fails, exit 1, naming the first failed
// check precisely, for each kind of tampering or wrong pin. h must have no
// server to talk to.
func testTamper(t *testing.T, h *harness, bundleFile, key, origin string) {
	data, err := os.ReadFile(bundleFile)
	if err != nil {
		t.Fatal(err)
	}
	good, err := cli.ParseBundle(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(good.Proof) == 0 || good.Index == 0 || good.Consistency == nil || len(good.Consistency.Proof) == 0 {
		t.Fatalf("the bundle is too small to tamper with usefully: %+v", good)
	}
	_, otherKey := resign(t, good.Checkpoint, "nuxari")
	forged, forgedKey := resign(t, good.Checkpoint, "nuxari")
	pinned := []string{"--key", key, "--origin", origin}

	tests := []struct {
		name   string
		edit   func(b *cli.Bundle) // nil: the bundle unchanged
		raw    string              // when set, the file's content instead
		flags  []string            // pins; default pinned
		check  string
		detail string
	}{
		{name: "leaf byte flipped", edit: func(b *cli.Bundle) { b.Leaf = flip(b.Leaf, len(b.Leaf)/2) },
			check: "leaf_hash", detail: "leaf bytes do not match the leaf hash"},
		{name: "leaf rewritten with a matching hash", edit: func(b *cli.Bundle) {
			b.Leaf = bytes.Replace(b.Leaf, []byte(`"app":"web"`), []byte(`"app":"wex"`), 1)
			b.LeafHash = rfc6962.DefaultHasher.HashLeaf(b.Leaf)
		}, check: "inclusion", detail: "inclusion proof does not verify"},
		{name: "proof hash changed", edit: func(b *cli.Bundle) { b.Proof[0] = flip(b.Proof[0], 0) },
			check: "inclusion", detail: "inclusion proof does not verify"},
		{name: "proof hash dropped", edit: func(b *cli.Bundle) { b.Proof = b.Proof[:len(b.Proof)-1] },
			check: "inclusion", detail: "inclusion proof does not verify"},
		{name: "index changed", edit: func(b *cli.Bundle) { b.Index-- },
			check: "leaf_position", detail: "leaf does not belong at this position"},
		{name: "tree size changed", edit: func(b *cli.Bundle) { b.TreeSize++ },
			check: "tree_size", detail: "the checkpoint is for tree size"},
		{name: "truncated checkpoint", edit: func(b *cli.Bundle) { b.Checkpoint = b.Checkpoint[:len(b.Checkpoint)/2] },
			check: "checkpoint", detail: "malformed checkpoint"},
		{name: "checkpoint signed by another key", edit: func(b *cli.Bundle) { b.Checkpoint = forged },
			check: "checkpoint", detail: "checkpoint signature not valid for the pinned key"},
		{name: "bundle names another key", edit: func(b *cli.Bundle) { b.Checkpoint, b.VerifierKey = forged, forgedKey },
			check: "verifier_key", detail: "the bundle's verifier key \"" + forgedKey + "\" differs from the pinned key"},
		{name: "wrong --key", flags: []string{"--key", otherKey, "--origin", origin},
			check: "verifier_key", detail: "differs from the pinned key \"" + otherKey + "\""},
		{name: "malformed --key", flags: []string{"--key", "nuxari+00000000+AAAA", "--origin", origin},
			check: "verifier_key", detail: "the pinned --key is not usable"},
		{name: "wrong --origin", flags: []string{"--key", key, "--origin", "nuxari/orgs/other"},
			check: "origin", detail: `the bundle's log origin "nuxari/orgs/acme" differs from the pinned origin "nuxari/orgs/other"`},
		{name: "wrong --org", flags: []string{"--key", key, "--org", "other"},
			check: "origin", detail: `differs from the pinned origin "nuxari/orgs/other"`},
		{name: "wrong --log-name", flags: []string{"--key", key, "--org", "acme", "--log-name", "elsewhere"},
			check: "origin", detail: `differs from the pinned origin "elsewhere/orgs/acme"`},
		{name: "bundle org changed", edit: func(b *cli.Bundle) { b.Org = "other" },
			check: "origin", detail: `the bundle's org "other" is not the org of the pinned origin`},
		{name: "consistency proof changed", edit: func(b *cli.Bundle) { b.Consistency.Proof[0] = flip(b.Consistency.Proof[0], 3) },
			check: "consistency", detail: "consistency proof does not verify"},
		{name: "consistency from another size", edit: func(b *cli.Bundle) { b.Consistency.FromSize++ },
			check: "consistency", detail: "the earlier checkpoint is for tree size"},
		{name: "earlier checkpoint forged", edit: func(b *cli.Bundle) {
			b.Consistency.FromCheckpoint, _ = resign(t, b.Consistency.FromCheckpoint, "nuxari")
		}, check: "consistency", detail: "the earlier checkpoint: checkpoint signature not valid"},
		{name: "not JSON", raw: "not a bundle", check: "bundle", detail: "not a JSON proof bundle"},
		{name: "unknown version", raw: `{"version":2}`, check: "bundle", detail: "proof bundle version 2 is not supported"},
		{name: "unknown member", raw: strings.Replace(string(data), `"version": 1,`, `"version": 1, "extra": true,`, 1),
			check: "bundle", detail: `extra: unknown member: "extra"`},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.t = t
			file := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-")+".json")
			content := []byte(tt.raw)
			if tt.raw == "" {
				b, err := cli.ParseBundle(data) // a fresh deep copy
				if err != nil {
					t.Fatal(err)
				}
				if tt.edit != nil {
					tt.edit(b)
				}
				if content, err = cli.MarshalBundle(b); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(file, content, 0o644); err != nil {
				t.Fatal(err)
			}
			flags := tt.flags
			if flags == nil {
				flags = pinned
			}
			r := h.fails(cli.ExitFailure, []string{"nuxctl: verify " + file + ": " + tt.check + ": ", tt.detail}, "",
				append([]string{"verify", file}, flags...)...)
			if !strings.Contains(r.stdout, "NOT VERIFIED") || strings.Contains(r.stdout, "VERIFIED:") {
				t.Errorf("stdout:\n%s", r.stdout)
			}
			// The JSON result names the same failure.
			var vr cli.VerifyResult
			jr := h.run("", append([]string{"--json", "verify", file}, flags...)...)
			if err := jsonUnmarshal(jr.stdout, &vr); err != nil || jr.code != cli.ExitFailure || vr.Verified || vr.Failure == nil || vr.Failure.Check != tt.check {
				t.Errorf("verify --json: exit %d, %+v (%v)\n%s", jr.code, vr, err, jr.stdout)
			}
		})
	}
	h.t = t
	h.fails(cli.ExitFailure, []string{"no such file"}, "", "verify", filepath.Join(dir, "missing.json"), "--key", key, "--origin", origin)
	h.fails(cli.ExitUsage, []string{"--key is required"}, "", "verify", bundleFile, "--origin", origin)
	h.fails(cli.ExitUsage, []string{"give the pinned origin"}, "", "verify", bundleFile, "--key", key)
	h.fails(cli.ExitUsage, []string{"is not an origin of --org"}, "", "verify", bundleFile, "--key", key, "--origin", origin, "--org", "other")
}
