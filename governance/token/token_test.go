package token_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/governance/token"
)

var kinds = []token.Kind{token.Session, token.API, token.Agent, token.Join, token.Setup}

func mustNew(t testing.TB, kind token.Kind, org string) (string, [32]byte) {
	t.Helper()
	tok, hash, err := token.New(kind, org)
	if err != nil {
		t.Fatalf("New(%q, %q): %v", kind, org, err)
	}
	return tok, hash
}

func TestRoundTrip(t *testing.T) {
	shape := regexp.MustCompile(`^nx[sagjp]\.[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{43}$`)
	orgs := []string{"acme", "o", "org_with-both_-", "0123", strings.Repeat("Z", 64)}
	for _, kind := range kinds {
		for _, org := range orgs {
			t.Run(string(kind)+"/"+org, func(t *testing.T) {
				tok, hash := mustNew(t, kind, org)
				if !shape.MatchString(tok) {
					t.Fatalf("token %q has the wrong shape", tok)
				}
				if !strings.HasPrefix(tok, "nx"+string(kind)+"."+org+".") {
					t.Fatalf("token %q does not start with kind and org", tok)
				}
				if hash != sha256.Sum256([]byte(tok)) || hash != token.Hash(tok) {
					t.Fatal("New's hash is not SHA-256 of the token")
				}
				body := tok[strings.LastIndexByte(tok, '.')+1:]
				if b, err := base64.RawURLEncoding.DecodeString(body); err != nil || len(b) != 32 {
					t.Fatalf("body decodes to %d bytes, %v; want 32", len(b), err)
				}
				gotKind, gotOrg, gotHash, err := token.Parse(tok)
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if gotKind != kind || gotOrg != org || gotHash != hash {
					t.Fatalf("Parse = %q, %q, %x; want %q, %q, %x", gotKind, gotOrg, gotHash, kind, org, hash)
				}
			})
		}
	}
}

func TestUnique(t *testing.T) {
	const n = 1000
	toks := make(map[string]bool, n)
	bodies := make(map[string]bool, n)
	hashes := make(map[[32]byte]bool, n)
	ids := make(map[string]bool, n)
	for range n {
		tok, hash := mustNew(t, token.API, "acme")
		toks[tok] = true
		bodies[tok[strings.LastIndexByte(tok, '.')+1:]] = true
		hashes[hash] = true
		ids[token.ID(hash)] = true
	}
	for name, got := range map[string]int{"tokens": len(toks), "bodies": len(bodies), "hashes": len(hashes), "IDs": len(ids)} {
		if got != n {
			t.Errorf("%d distinct %s in %d", got, name, n)
		}
	}
}

func TestNewRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		kind token.Kind
		org  string
	}{
		{"empty kind", "", "acme"},
		{"unknown kind", "x", "acme"},
		{"upper-case kind", "S", "acme"},
		{"two-letter kind", "sa", "acme"},
		{"empty org", token.Session, ""},
		{"org too long", token.Session, strings.Repeat("a", 65)},
		{"org with dot", token.Session, "ac.me"},
		{"org with slash", token.Session, "ac/me"},
		{"org with space", token.Session, "ac me"},
		{"org with NUL", token.Session, "acme\x00"},
		{"org non-ascii", token.Session, "ácme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, hash, err := token.New(tc.kind, tc.org)
			if !errors.Is(err, token.ErrMalformed) || tok != "" || hash != [32]byte{} {
				t.Fatalf("New = %q, %x, %v; want ErrMalformed", tok, hash, err)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	valid, _ := mustNew(t, token.Session, "acme")
	body := valid[len("nxs.acme."):]
	// A body whose last character sets the two bits that 32 bytes leave
	// unused: it decodes, but is not the canonical spelling.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	nonCanonical := body[:42] + string(alphabet[strings.IndexByte(alphabet, body[42])+1])
	for _, tc := range []struct {
		name, tok string
	}{
		{"empty", ""},
		{"body only", body},
		{"no prefix", "s.acme." + body},
		{"wrong prefix", "nz" + valid[2:]},
		{"upper-case prefix", "NX" + valid[2:]},
		{"unknown kind", "nxx.acme." + body},
		{"upper-case kind", "nxS.acme." + body},
		{"missing kind", "nx.acme." + body},
		{"two-letter kind", "nxsa.acme." + body},
		{"underscore separators", "nxs_acme_" + body},
		{"empty org", "nxs.." + body},
		{"org with slash", "nxs.ac/me." + body},
		{"org with NUL", "nxs.ac\x00me." + body},
		{"org ../", "nxs.../" + body},
		{"org with ..", "nxs.../acme." + body},
		{"org containing ../", "nxs.a/../b." + body},
		{"org with space", "nxs.ac me." + body},
		{"org too long", "nxs." + strings.Repeat("a", 65) + "." + body},
		{"missing body", "nxs.acme."},
		{"missing body and separator", "nxs.acme"},
		{"extra field", valid + ".x"},
		{"body 42 chars", "nxs.acme." + body[:42]},
		{"body 44 chars", "nxs.acme." + body + "A"},
		{"body with +", "nxs.acme.+" + body[1:]},
		{"body with /", "nxs.acme./" + body[1:]},
		{"body with dot", "nxs.acme.." + body[1:]},
		{"body with NUL", "nxs.acme.\x00" + body[1:]},
		{"body with newline", "nxs.acme." + body[:20] + "\n" + body[21:]},
		{"body padded", "nxs.acme." + body[:42] + "="},
		{"body padded 44", "nxs.acme." + body + "="},
		{"body non-canonical", "nxs.acme." + nonCanonical},
		{"leading space", " " + valid},
		{"trailing newline", valid + "\n"},
		{"bearer prefix", "Bearer " + valid},
		{"over-long input", "nxs.acme." + body + strings.Repeat("A", 200)},
		{"over-long org", "nxs." + strings.Repeat("a", 300) + "." + body},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind, org, hash, err := token.Parse(tc.tok)
			if !errors.Is(err, token.ErrMalformed) {
				t.Fatalf("Parse(%q) error = %v; want ErrMalformed", tc.tok, err)
			}
			if kind != "" || org != "" || hash != [32]byte{} {
				t.Errorf("Parse(%q) = %q, %q, %x with an error; want zero values", tc.tok, kind, org, hash)
			}
			msg := err.Error()
			for _, secret := range []string{body, body[:8], body[len(body)-8:], tc.tok} {
				if len(tc.tok) > 0 && strings.Contains(msg, secret) {
					t.Errorf("error %q contains part of the token", msg)
				}
			}
		})
	}
	if nonCanonical == body {
		t.Fatal("non-canonical body equals the body")
	}
}

// TestErrorsCarryNoToken checks that no error from Parse, whatever part of
// a token is wrong, contains the token's body.
func TestErrorsCarryNoToken(t *testing.T) {
	for _, kind := range kinds {
		tok, _ := mustNew(t, kind, "acme")
		body := tok[len(tok)-43:]
		for i := range len(tok) {
			for _, c := range []byte{'.', '/', '=', 0, 'x'} {
				b := []byte(tok)
				b[i] = c
				_, _, _, err := token.Parse(string(b))
				if err == nil {
					continue
				}
				if strings.Contains(err.Error(), body[:10]) || strings.Contains(err.Error(), body[33:]) {
					t.Fatalf("error %q contains part of the body", err)
				}
			}
		}
	}
}

func TestEqual(t *testing.T) {
	_, a := mustNew(t, token.API, "acme")
	_, b := mustNew(t, token.API, "acme")
	last := a
	last[31] ^= 1
	first := a
	first[0] ^= 0x80
	for _, tc := range []struct {
		name string
		x, y [32]byte
		want bool
	}{
		{"same", a, a, true},
		{"copy", a, [32]byte(a[:]), true},
		{"zero", [32]byte{}, [32]byte{}, true},
		{"different tokens", a, b, false},
		{"last bit", a, last, false},
		{"first bit", a, first, false},
		{"zero and hash", [32]byte{}, a, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := token.Equal(tc.x, tc.y); got != tc.want {
				t.Fatalf("Equal = %v; want %v", got, tc.want)
			}
		})
	}
}

func TestID(t *testing.T) {
	tok, hash := mustNew(t, token.Agent, "acme")
	id := token.ID(hash)
	if !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(id) {
		t.Fatalf("ID = %q; want 24 lower-case hex digits", id)
	}
	if token.ID(hash) != id || token.ID(token.Hash(tok)) != id {
		t.Fatal("ID is not stable")
	}
	for _, leak := range []string{tok, hex.EncodeToString(hash[:])[:24], hex.EncodeToString(hash[8:20])} {
		if strings.Contains(leak, id) || id == leak {
			t.Fatalf("ID %q is part of the token or its hash", id)
		}
	}

	// Known answers, computed here independently of the package.
	for _, tc := range []struct {
		name string
		hash [32]byte
	}{
		{"zero", [32]byte{}},
		{"hash of a fixed token", sha256.Sum256([]byte("nxs.acme.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))},
		{"generated", hash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sum := sha256.Sum256(append([]byte("nuxari token id"), tc.hash[:]...))
			if got, want := token.ID(tc.hash), hex.EncodeToString(sum[:12]); got != want {
				t.Fatalf("ID = %s; want %s", got, want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, kind := range kinds {
		tok, _ := mustNew(f, kind, "org_-1")
		f.Add(tok)
	}
	f.Add("nxs.acme.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("nxs.acme.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB")
	f.Add("")
	f.Add("nxs..")
	f.Fuzz(func(t *testing.T, tok string) {
		kind, org, hash, err := token.Parse(tok)
		if err != nil {
			if !errors.Is(err, token.ErrMalformed) {
				t.Fatalf("Parse error %v does not wrap ErrMalformed", err)
			}
			if len(tok) >= 8 && strings.Contains(err.Error(), tok) {
				t.Fatalf("error %q contains the token", err)
			}
			return
		}
		// Accepted: the token must be exactly nx<kind>.<org>.<body> in its
		// one canonical spelling.
		if len(tok) > token.MaxLen || hash != token.Hash(tok) {
			t.Fatalf("Parse(%q) accepted with length %d or wrong hash", tok, len(tok))
		}
		prefix := "nx" + string(kind) + "." + org + "."
		body, ok := strings.CutPrefix(tok, prefix)
		if !ok {
			t.Fatalf("Parse(%q) = %q, %q; not its prefix", tok, kind, org)
		}
		b, err := base64.RawURLEncoding.DecodeString(body)
		if err != nil || len(b) != 32 || base64.RawURLEncoding.EncodeToString(b) != body {
			t.Fatalf("Parse(%q) accepted a body that is not canonical base64url of 32 bytes", tok)
		}
	})
}
