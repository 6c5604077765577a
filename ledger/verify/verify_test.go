package verify_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/verify"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func TestCheckpoint(t *testing.T) {
	key := newLogKey(t, 1, "nuxari-test")
	other := newLogKey(t, 2, "other-log")
	sameName := newLogKey(t, 3, "nuxari-test")
	witness := newLogKey(t, 4, "witness.example")
	v, err := verify.NewVerifier(key.vkey, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTree(t, 10)
	root := tr.root(t, 10)
	empty := sha256.Sum256(nil)
	valid := checkpointText(testOrigin, 10, root)
	b64 := base64.StdEncoding.EncodeToString(root)
	signed := signText(t, valid, key.signer)

	t.Run("valid", func(t *testing.T) {
		cp, err := v.Checkpoint(signed)
		if err != nil {
			t.Fatal(err)
		}
		if cp.Origin != testOrigin || cp.Size != 10 || !bytes.Equal(cp.Root, root) || !bytes.Equal(cp.Note, signed) {
			t.Fatalf("Checkpoint = %+v", cp)
		}
		if v.Origin() != testOrigin {
			t.Fatalf("Origin() = %q", v.Origin())
		}
	})
	t.Run("empty tree", func(t *testing.T) {
		cp, err := v.Checkpoint(signText(t, checkpointText(testOrigin, 0, empty[:]), key.signer))
		if err != nil || cp.Size != 0 || !bytes.Equal(cp.Root, empty[:]) {
			t.Fatalf("Checkpoint = %+v, %v", cp, err)
		}
	})
	t.Run("extra witness signatures", func(t *testing.T) {
		for _, signers := range [][]note.Signer{
			{key.signer, witness.signer},
			{witness.signer, key.signer},
			{key.signer, sameName.signer},
			{key.signer, other.signer, witness.signer},
		} {
			b := signText(t, valid, signers...)
			cp, err := v.Checkpoint(b)
			if err != nil || cp.Size != 10 || !bytes.Equal(cp.Root, root) {
				t.Fatalf("Checkpoint with %d signatures = %+v, %v", len(signers), cp, err)
			}
		}
	})

	cases := []struct {
		name string
		note []byte
		want error
	}{
		{"origin of another org", signText(t, checkpointText("nuxari-test/orgs/other", 10, root), key.signer), verify.ErrOrigin},
		{"origin of another log", signText(t, checkpointText("other/orgs/acme", 10, root), key.signer), verify.ErrOrigin},
		{"origin with a suffix", signText(t, checkpointText(testOrigin+"x", 10, root), key.signer), verify.ErrOrigin},
		{"origin prefix", signText(t, checkpointText("nuxari-test/orgs/acm", 10, root), key.signer), verify.ErrOrigin},
		{"signed by another key", signText(t, valid, other.signer), verify.ErrSignature},
		{"signed by another key with the same name", signText(t, valid, sameName.signer), verify.ErrSignature},
		{"signed by a witness only", signText(t, valid, witness.signer), verify.ErrSignature},
		{"size changed after signing", bytes.Replace(signed, []byte("\n10\n"), []byte("\n11\n"), 1), verify.ErrSignature},
		{"size padded after signing", bytes.Replace(signed, []byte("\n10\n"), []byte("\n010\n"), 1), verify.ErrSignature},
		{"root changed after signing", bytes.Replace(signed, []byte(b64), []byte(base64.StdEncoding.EncodeToString(tr.root(t, 9))), 1), verify.ErrSignature},
		{"origin changed after signing", bytes.Replace(signed, []byte("orgs/acme"), []byte("orgs/acmf"), 1), verify.ErrSignature},
		{"line added after signing", bytes.Replace(signed, []byte(b64+"\n"), []byte(b64+"\next\n"), 1), verify.ErrSignature},
		{"signature bit flipped", flipSignature(t, signed), verify.ErrSignature},
		{"bad size", signText(t, testOrigin+"\nten\n"+b64+"\n", key.signer), verify.ErrCheckpoint},
		{"negative size", signText(t, testOrigin+"\n-1\n"+b64+"\n", key.signer), verify.ErrCheckpoint},
		{"size overflows", signText(t, testOrigin+"\n18446744073709551616\n"+b64+"\n", key.signer), verify.ErrCheckpoint},
		{"empty size", signText(t, testOrigin+"\n\n"+b64+"\n", key.signer), verify.ErrCheckpoint},
		{"bad base64", signText(t, testOrigin+"\n10\n"+b64[:len(b64)-2]+"!=\n", key.signer), verify.ErrCheckpoint},
		{"unpadded base64", signText(t, testOrigin+"\n10\n"+strings.TrimRight(b64, "=")+"\n", key.signer), verify.ErrCheckpoint},
		{"hex root", signText(t, testOrigin+"\n10\n"+fmt.Sprintf("%x", root)+"\n", key.signer), verify.ErrCheckpoint},
		{"root of 31 bytes", signText(t, checkpointText(testOrigin, 10, root[:31]), key.signer), verify.ErrCheckpoint},
		{"root of 33 bytes", signText(t, checkpointText(testOrigin, 10, append(append([]byte(nil), root...), 0)), key.signer), verify.ErrCheckpoint},
		{"root of 64 bytes", signText(t, checkpointText(testOrigin, 10, append(append([]byte(nil), root...), root...)), key.signer), verify.ErrCheckpoint},
		{"empty root", signText(t, testOrigin+"\n10\n\n", key.signer), verify.ErrCheckpoint},
		{"extension line", signText(t, valid+"ext\n", key.signer), verify.ErrCheckpoint},
		{"two extension lines", signText(t, valid+"a\nb\n", key.signer), verify.ErrCheckpoint},
		{"too few lines", signText(t, testOrigin+"\n10\n", key.signer), verify.ErrCheckpoint},
		{"empty origin", signText(t, "\n10\n"+b64+"\n", key.signer), verify.ErrCheckpoint},
		{"empty tree with non-empty root", signText(t, checkpointText(testOrigin, 0, root), key.signer), verify.ErrCheckpoint},
		{"empty tree with zero root", signText(t, checkpointText(testOrigin, 0, make([]byte, 32)), key.signer), verify.ErrCheckpoint},
		{"no signature block", []byte(valid), verify.ErrCheckpoint},
		{"text only, blank line", []byte(valid + "\n"), verify.ErrCheckpoint},
		{"signature line malformed", append(append([]byte(nil), signed[:len(signed)-1]...), " x\n"...), verify.ErrCheckpoint},
		{"empty", nil, verify.ErrCheckpoint},
		{"garbage", []byte("\x00\x01\x02"), verify.ErrCheckpoint},
		{"CR in text", bytes.Replace(signed, []byte("\n10\n"), []byte("\n10\r\n"), 1), verify.ErrCheckpoint},
		// Signed, but not the one spelling of the checkpoint: a reader
		// that refuses it and one that accepts it must not both conform.
		{"size with a leading zero, signed", signText(t, testOrigin+"\n010\n"+b64+"\n", key.signer), verify.ErrCheckpoint},
		{"root with non-zero padding bits, signed", signText(t, testOrigin+"\n10\n"+paddingBits(b64)+"\n", key.signer), verify.ErrCheckpoint},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cp, err := v.Checkpoint(c.note)
			if !errors.Is(err, c.want) {
				t.Fatalf("Checkpoint = %+v, %v; want %v", cp, err, c.want)
			}
			if !wrapsOnly(err, c.want) {
				t.Fatalf("error %v wraps more than %v", err, c.want)
			}
			if cp.Size != 0 || cp.Root != nil || cp.Note != nil || cp.Origin != "" {
				t.Fatalf("failed Checkpoint returned data %+v", cp)
			}
		})
	}
}

// paddingBits returns the base64 of 32 bytes with a non-zero padding bit:
// it decodes, leniently, to the same bytes.
func paddingBits(b64 string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := strings.IndexByte(alphabet, b64[42])
	return b64[:42] + string(alphabet[i^1]) + b64[43:]
}

// flipSignature flips one bit of the first signature in a signed note.
func flipSignature(tb testing.TB, signed []byte) []byte {
	tb.Helper()
	i := bytes.Index(signed, []byte("\n\n— "))
	if i < 0 {
		tb.Fatal("no signature block")
	}
	line := signed[i+2 : len(signed)-1]
	_, b64, ok := strings.Cut(string(line[len("— "):]), " ")
	if !ok {
		tb.Fatal("malformed signature line")
	}
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		tb.Fatal(err)
	}
	sig[len(sig)-1] ^= 1
	return bytes.Replace(signed, []byte(b64), []byte(base64.StdEncoding.EncodeToString(sig)), 1)
}

func TestNewVerifier(t *testing.T) {
	skey, vkey, err := note.GenerateKey(seededReader(9), "nuxari-test")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, vkey, origin string
		ok                 bool
	}{
		{"valid", vkey, testOrigin, true},
		{"empty origin", vkey, "", false},
		{"empty key", "", testOrigin, false},
		{"signer key", skey, testOrigin, false},
		{"garbage key", "not a key", testOrigin, false},
		{"truncated key", vkey[:len(vkey)-4], testOrigin, false},
		{"key hash changed", strings.Replace(vkey, "+", "+0", 1), testOrigin, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := verify.NewVerifier(c.vkey, c.origin)
			if c.ok {
				if err != nil || v.Origin() != c.origin {
					t.Fatalf("NewVerifier = %v, %v", v, err)
				}
				return
			}
			if !errors.Is(err, verify.ErrVerifierKey) || v != nil {
				t.Fatalf("NewVerifier = %v, %v; want ErrVerifierKey", v, err)
			}
		})
	}
}

func TestOrigin(t *testing.T) {
	if got := verify.Origin("nuxari", "acme"); got != "nuxari/orgs/acme" {
		t.Fatalf("Origin = %q", got)
	}
}

func TestLeaf(t *testing.T) {
	b := leaf.Append(nil, &leaf.Leaf{Org: "acme", Index: 3, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Event: json.RawMessage(`{"a":1}`)})
	want := tlog.RecordHash(b)
	if got := verify.LeafHash(b); !bytes.Equal(got, want[:]) {
		t.Fatalf("LeafHash = %x, tlog says %x", got, want)
	}
	cases := []struct {
		name  string
		bytes []byte
		hash  []byte
		ok    bool
	}{
		{"match", b, want[:], true},
		{"hash bit flipped", b, flip(want[:], 0), false},
		{"hash last bit flipped", b, flip(want[:], 255), false},
		{"bytes changed", bytes.Replace(b, []byte(`"a":1`), []byte(`"a":2`), 1), want[:], false},
		{"byte appended", append(append([]byte(nil), b...), ' '), want[:], false},
		{"byte removed", b[:len(b)-1], want[:], false},
		{"hash short", b, want[:31], false},
		{"hash nil", b, nil, false},
		{"plain SHA-256 without the leaf prefix", b, sha256Of(b), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := verify.Leaf(c.bytes, c.hash)
			if c.ok && err != nil {
				t.Fatal(err)
			}
			if !c.ok && !wrapsOnly(err, verify.ErrLeafHash) {
				t.Fatalf("Leaf = %v, want ErrLeafHash", err)
			}
		})
	}
}

func sha256Of(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

func TestLeafAt(t *testing.T) {
	l := leaf.Leaf{Org: "acme", Index: 42, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), IdempotencyKey: "req-1", Event: json.RawMessage(`{"a":1}`)}
	b := leaf.Append(nil, &l)
	cases := []struct {
		name  string
		bytes []byte
		org   string
		index uint64
		ok    bool
	}{
		{"match", b, "acme", 42, true},
		{"other org", b, "acme2", 42, false},
		{"org prefix", b, "acm", 42, false},
		{"other org, upper case", b, "ACME", 42, false},
		{"index below", b, "acme", 41, false},
		{"index above", b, "acme", 43, false},
		{"index 0", b, "acme", 0, false},
		{"index far out", b, "acme", 42 + 1<<53, false},
		{"non-canonical bytes", append([]byte(" "), b...), "acme", 42, false},
		{"not a leaf", []byte(`{"a":1}`), "acme", 42, false},
		{"empty", nil, "acme", 42, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := verify.LeafAt(c.bytes, c.org, c.index)
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				if got.Org != l.Org || got.Index != l.Index || !got.Time.Equal(l.Time) || got.IdempotencyKey != l.IdempotencyKey || !bytes.Equal(got.Event, l.Event) {
					t.Fatalf("LeafAt = %+v, want %+v", got, l)
				}
				return
			}
			if !wrapsOnly(err, verify.ErrLeafMismatch) {
				t.Fatalf("LeafAt = %v, want ErrLeafMismatch", err)
			}
			if got.Org != "" || got.Event != nil {
				t.Fatalf("failed LeafAt returned %+v", got)
			}
		})
	}
	if _, err := verify.LeafAt([]byte("x"), "acme", 0); !errors.Is(err, leaf.ErrMalformed) {
		t.Fatalf("LeafAt of garbage = %v, want it to wrap leaf.ErrMalformed", err)
	}
}

// TestOfflineAudit checks one leaf end to end the way an auditor does:
// checkpoint, leaf bytes, position, hash, inclusion, and consistency to an
// earlier checkpoint.
func TestOfflineAudit(t *testing.T) {
	key := newLogKey(t, 1, "nuxari-test")
	tr := &tree{}
	for i := range 21 {
		lf := leaf.Leaf{Org: "acme", Index: uint64(i), Time: time.Date(2026, 1, 2, 3, 4, 5, i, time.UTC), Event: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}
		tr.add(t, leaf.Append(nil, &lf))
	}
	v, err := verify.NewVerifier(key.vkey, testOrigin)
	if err != nil {
		t.Fatal(err)
	}
	old, err := v.Checkpoint(signText(t, checkpointText(testOrigin, 13, tr.root(t, 13)), key.signer))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := v.Checkpoint(signText(t, checkpointText(testOrigin, 21, tr.root(t, 21)), key.signer))
	if err != nil {
		t.Fatal(err)
	}
	if err := verify.Consistency(old.Size, cp.Size, tr.consistency(t, old.Size, cp.Size), old.Root, cp.Root); err != nil {
		t.Fatal(err)
	}
	for i := range cp.Size {
		b := tr.leaves[i]
		if _, err := verify.LeafAt(b, "acme", i); err != nil {
			t.Fatal(err)
		}
		h := verify.LeafHash(b)
		if err := verify.Inclusion(h, i, cp.Size, tr.inclusion(t, i, cp.Size), cp.Root); err != nil {
			t.Fatal(err)
		}
		// The same leaf presented at another position fails.
		if _, err := verify.LeafAt(b, "acme", (i+1)%cp.Size); !errors.Is(err, verify.ErrLeafMismatch) {
			t.Fatalf("leaf %d accepted at index %d: %v", i, (i+1)%cp.Size, err)
		}
	}
}
