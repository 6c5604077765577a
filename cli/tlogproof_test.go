package cli_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/formats/proof"
	mproof "github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/nuxari/nuxari/cli"
)

// TestTlogProofLeafLimit: MaxTlogProofLeaf is exactly the longest leaf
// whose tlog-proof transparency-dev/formats/proof reads back.
func TestTlogProofLeafLimit(t *testing.T) {
	for _, n := range []int{cli.MaxTlogProofLeaf, cli.MaxTlogProofLeaf + 1} {
		p := proof.TLogProof{Index: 1, ExtraData: bytes.Repeat([]byte{'x'}, n), Hashes: [][sha256.Size]byte{{1}}, Checkpoint: []byte("o\n1\nAAAA\n\n— k sig\n")}
		var back proof.TLogProof
		err := back.Unmarshal(p.Marshal())
		if ok := err == nil && bytes.Equal(back.ExtraData, p.ExtraData); ok != (n <= cli.MaxTlogProofLeaf) {
			t.Errorf("leaf of %d bytes: read back %v (%v)", n, ok, err)
		}
	}
}

// TestTlogProof writes a tlog-proof with 'ledger prove', checks it with
// standard tooling alone (transparency-dev/formats/proof and log,
// x/mod/sumdb/note, transparency-dev/merkle: no Nuxari verification
// code), then with 'nuxctl verify', which refuses it tampered.
func TestTlogProof(t *testing.T) {
	srv := startServer(t)
	h := newHarness(t)
	dir := t.TempDir()
	h.ok(ownerPassword+"\n", "--server", srv.URL, "signup", "--org", "acme", "--email", "owner@acme.test", "--org-name", "Acme Inc")
	h.ok(ownerPassword+"\n", "--server", srv.URL, "login", "--org", "acme", "--email", "owner@acme.test")
	var org struct {
		LogOrigin      string `json:"log_origin"`
		LogVerifierKey string `json:"log_verifier_key"`
	}
	h.jsonOut(&org, "org", "get")
	var app jsonAppend
	h.jsonOut(&app, "ledger", "append", "--type", "custom.deploy", "--data", `{"app":"web","version":3}`)
	index := app.Events[0].Index
	for range 5 {
		h.ok("", "ledger", "append", "--type", "custom.other")
	}
	var cp jsonCheckpoint
	waitFor(t, "a checkpoint covering every event", func() bool {
		h.jsonOut(&cp, "ledger", "checkpoint")
		return cp.Checkpoint.Size != "" && atoi(t, cp.Checkpoint.Size) > atoi(t, index)+5
	})

	file := filepath.Join(dir, "deploy.tlog-proof")
	r := h.ok("", "ledger", "prove", index, "--out", file)
	if !strings.Contains(r.stdout, "Wrote a tlog-proof of event "+index) {
		t.Errorf("ledger prove:\n%s", r.stdout)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}

	// Standard tooling only.
	var p proof.TLogProof
	if err := p.Unmarshal(data); err != nil {
		t.Fatalf("formats/proof: %v\n%s", err, data)
	}
	v, err := note.NewVerifier(org.LogVerifierKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _, _, err := log.ParseCheckpoint(p.Checkpoint, org.LogOrigin, v)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	hashes := make([][]byte, len(p.Hashes))
	for i := range p.Hashes {
		hashes[i] = p.Hashes[i][:]
	}
	if len(hashes) == 0 {
		t.Fatal("an empty inclusion proof: the test needs a larger tree")
	}
	if err := mproof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, c.Size, rfc6962.DefaultHasher.HashLeaf(p.ExtraData), hashes, c.Hash); err != nil {
		t.Fatalf("inclusion: %v", err)
	}
	var ev struct {
		Leaf []byte `json:"leaf"`
	}
	h.jsonOut(&ev, "ledger", "event", index)
	if !bytes.Equal(ev.Leaf, p.ExtraData) || !bytes.Contains(p.ExtraData, []byte(`"app":"web"`)) {
		t.Fatalf("the proof carries %q, the event's leaf is %q", p.ExtraData, ev.Leaf)
	}

	// nuxctl verify, offline.
	offline := &harness{t: t, env: map[string]string{cli.EnvServer: closedPort(t), cli.EnvConfig: filepath.Join(dir, "none.json")}}
	pinned := []string{"--key", org.LogVerifierKey, "--origin", org.LogOrigin}
	r = offline.ok("", append([]string{"verify", file}, pinned...)...)
	if !strings.Contains(r.stdout, "tlog-proof "+file) || !strings.Contains(r.stdout, "VERIFIED: event "+index+" is in the log nuxari/orgs/acme") {
		t.Errorf("verify:\n%s", r.stdout)
	}
	var vr cli.VerifyResult
	offline.jsonOut(&vr, "verify", file, "--key", org.LogVerifierKey, "--org", "acme")
	if !vr.Verified || vr.Format != "tlog-proof" || vr.Event == nil || vr.Event.Type != "custom.deploy" || vr.Org != "acme" || vr.TreeSize != c.Size {
		t.Errorf("verify --json: %+v", vr)
	}

	// --format picks the format whatever the name; the default for other
	// names stays the JSON bundle.
	named := filepath.Join(dir, "proof.txt")
	h.ok("", "ledger", "prove", index, "--out", named, "--format", "tlog-proof")
	if b, _ := os.ReadFile(named); !bytes.HasPrefix(b, []byte("c2sp.org/tlog-proof@v1\n")) {
		t.Errorf("--format tlog-proof wrote:\n%s", b)
	}
	for _, name := range []string{"proof.json", "json.tlog-proof"} {
		args := []string{"ledger", "prove", index, "--out", filepath.Join(dir, name)}
		if strings.HasSuffix(name, ".tlog-proof") {
			args = append(args, "--format", "json")
		}
		h.ok("", args...)
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if _, err := cli.ParseBundle(b); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		offline.ok("", append([]string{"verify", filepath.Join(dir, name)}, pinned...)...)
	}
	h.fails(cli.ExitUsage, []string{"--format must be json or tlog-proof"}, "", "ledger", "prove", index, "--out", filepath.Join(dir, "x"), "--format", "pem")
	h.fails(cli.ExitUsage, []string{"a tlog-proof holds no consistency proof"}, "", "ledger", "prove", index, "--out", filepath.Join(dir, "y.tlog-proof"), "--consistency-from", "1")

	// Tampering, each failure named.
	edit := func(f func(p *proof.TLogProof)) string {
		var q proof.TLogProof
		if err := q.Unmarshal(data); err != nil {
			t.Fatal(err)
		}
		f(&q)
		return string(q.Marshal())
	}
	sig := func(note []byte) []byte { // flips a byte of the log's signature
		i := bytes.LastIndex(note, []byte(" ")) + 1
		end := bytes.LastIndexByte(note, '\n')
		raw, err := base64.StdEncoding.DecodeString(string(note[i:end]))
		if err != nil {
			t.Fatal(err)
		}
		raw[len(raw)-1] ^= 1
		out := append(bytes.Clone(note[:i]), base64.StdEncoding.EncodeToString(raw)...)
		return append(out, '\n')
	}
	for _, tc := range []struct {
		name, content string
		flags         []string
		check, detail string
	}{
		{name: "leaf byte flipped in a value", content: edit(func(p *proof.TLogProof) {
			i := bytes.Index(p.ExtraData, []byte(`"web"`)) + 1
			p.ExtraData[i] ^= 1
		}), check: "inclusion", detail: "inclusion proof does not verify"},
		{name: "leaf byte flipped in its framing", content: edit(func(p *proof.TLogProof) { p.ExtraData[0] ^= 1 }),
			check: "leaf_position", detail: "leaf does not belong at this position"},
		{name: "proof hash byte flipped", content: edit(func(p *proof.TLogProof) { p.Hashes[0][7] ^= 1 }),
			check: "inclusion", detail: "inclusion proof does not verify"},
		{name: "proof hash dropped", content: edit(func(p *proof.TLogProof) { p.Hashes = p.Hashes[:len(p.Hashes)-1] }),
			check: "inclusion", detail: "inclusion proof does not verify"},
		{name: "index changed", content: edit(func(p *proof.TLogProof) { p.Index++ }),
			check: "leaf_position", detail: "leaf names index"},
		{name: "signature byte flipped", content: edit(func(p *proof.TLogProof) { p.Checkpoint = sig(p.Checkpoint) }),
			check: "checkpoint", detail: "checkpoint signature not valid for the pinned key"},
		{name: "no leaf", content: edit(func(p *proof.TLogProof) { p.ExtraData = nil }),
			check: "bundle", detail: "carries no leaf"},
		{name: "not canonical", content: strings.Replace(string(data), "\nindex ", "\nindex 0", 1),
			check: "bundle", detail: "not in canonical form"},
		{name: "signature line dropped", content: string(data[:bytes.LastIndex(data[:len(data)-1], []byte("\n"))+1]),
			check: "checkpoint", detail: "malformed checkpoint"},
		{name: "wrong --origin", content: string(data), flags: []string{"--key", org.LogVerifierKey, "--origin", "nuxari/orgs/other"},
			check: "checkpoint", detail: "checkpoint origin does not match the pinned origin"},
		{name: "wrong --org", content: string(data), flags: []string{"--key", org.LogVerifierKey, "--org", "other"},
			check: "checkpoint", detail: "checkpoint origin does not match the pinned origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			offline.t = t
			f := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".tlog-proof")
			if err := os.WriteFile(f, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			flags := tc.flags
			if flags == nil {
				flags = pinned
			}
			r := offline.fails(cli.ExitFailure, []string{"nuxctl: verify " + f + ": " + tc.check + ": ", tc.detail}, "", append([]string{"verify", f}, flags...)...)
			if !strings.Contains(r.stdout, "NOT VERIFIED") {
				t.Errorf("stdout:\n%s", r.stdout)
			}
		})
	}
}
