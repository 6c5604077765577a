package sealing_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/core/registry"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/insecuresecretdataaccess"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/mac"

	"github.com/nuxari/nuxari/governance/sealing"
	"github.com/nuxari/nuxari/internal/secret"
)

// canary is a credential no output may ever show.
const canary = "canary-7f3a9c-client-secret"

var adAcme = sealing.AD{Org: "acme", Connector: "okta-1", Field: "client_secret"}

// kekJSON returns a new Tink JSON keyset such as nuxarid writes to kek.json.
func kekJSON(t testing.TB) []byte {
	t.Helper()
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// newKEK returns a new local key-encryption key.
func newKEK(t testing.TB) sealing.KEK {
	t.Helper()
	kek, err := sealing.LocalKEK(kekJSON(t))
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

func newKeyring(t testing.TB, kek sealing.KEK, org string) (*sealing.Keyring, []byte) {
	t.Helper()
	k, sealed, err := sealing.NewKeyring(kek, org)
	if err != nil {
		t.Fatal(err)
	}
	return k, sealed
}

func seal(t testing.TB, k *sealing.Keyring, plaintext string, ad sealing.AD) []byte {
	t.Helper()
	ct, err := k.Seal(secret.New(plaintext), ad)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// mustOpen opens ct and checks that it holds want.
func mustOpen(t testing.TB, k *sealing.Keyring, ct []byte, ad sealing.AD, want string) {
	t.Helper()
	got, err := k.Open(ct, ad)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got.Reveal() != want {
		t.Fatalf("Open returned a different plaintext (%d bytes, want %d)", len(got.Reveal()), len(want))
	}
}

// mustFail checks that ct does not open with ad, with an error that is
// ErrCannotOpen and is ErrKeyDisabled exactly when disabled says so.
func mustFail(t testing.TB, k *sealing.Keyring, ct []byte, ad sealing.AD, disabled bool) {
	t.Helper()
	got, err := k.Open(ct, ad)
	if err == nil {
		t.Fatal("Open succeeded")
	}
	if !got.IsZero() {
		t.Error("a failed Open returned a plaintext")
	}
	if !errors.Is(err, sealing.ErrCannotOpen) {
		t.Errorf("error %v is not ErrCannotOpen", err)
	}
	if errors.Is(err, sealing.ErrKeyDisabled) != disabled {
		t.Errorf("error %v: errors.Is(err, ErrKeyDisabled) = %v, want %v", err, !disabled, disabled)
	}
}

func keyID(t testing.TB, ct []byte) uint32 {
	t.Helper()
	id, err := sealing.KeyIDOf(ct)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestRoundTrip(t *testing.T) {
	kek := newKEK(t)
	k, sealed := newKeyring(t, kek, "acme")
	if k.Org() != "acme" {
		t.Errorf("Org() = %q", k.Org())
	}
	ct := seal(t, k, canary, adAcme)
	if bytes.Contains(ct, []byte(canary)) {
		t.Fatal("the ciphertext contains the plaintext")
	}
	mustOpen(t, k, ct, adAcme, canary)
	if ct2 := seal(t, k, canary, adAcme); bytes.Equal(ct, ct2) {
		t.Error("two seals of one plaintext gave the same ciphertext")
	}
	if id := keyID(t, ct); id != k.Primary() {
		t.Errorf("KeyIDOf = %d, primary is %d", id, k.Primary())
	}

	// The stored keyset opens again and opens what the first opening sealed.
	k2, err := sealing.OpenKeyring(kek, "acme", sealed)
	if err != nil {
		t.Fatal(err)
	}
	mustOpen(t, k2, ct, adAcme, canary)

	// The empty credential round-trips too.
	mustOpen(t, k, seal(t, k, "", adAcme), adAcme, "")
}

func TestRotate(t *testing.T) {
	kek := newKEK(t)
	k, sealed1 := newKeyring(t, kek, "acme")
	old := k.Primary()
	ct1 := seal(t, k, "old secret", adAcme)

	id, sealed2, err := k.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	if id == old || k.Primary() != id {
		t.Fatalf("after Rotate: new key %d, old %d, primary %d", id, old, k.Primary())
	}
	ct2 := seal(t, k, "new secret", adAcme)
	if got := keyID(t, ct2); got != id {
		t.Errorf("a seal after Rotate used key %d, want the new primary %d", got, id)
	}
	if got := keyID(t, ct1); got != old {
		t.Errorf("KeyIDOf(old ciphertext) = %d, want %d", got, old)
	}
	mustOpen(t, k, ct1, adAcme, "old secret")
	mustOpen(t, k, ct2, adAcme, "new secret")

	want := []sealing.KeyInfo{{ID: old, Enabled: true}, {ID: id, Primary: true, Enabled: true}}
	if got := k.Keys(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Keys() = %v, want %v", got, want)
	}

	// The rotated keyset is what was returned; the one stored before
	// the rotation does not hold the new key.
	k2, err := sealing.OpenKeyring(kek, "acme", sealed2)
	if err != nil {
		t.Fatal(err)
	}
	mustOpen(t, k2, ct1, adAcme, "old secret")
	mustOpen(t, k2, ct2, adAcme, "new secret")
	if k2.Primary() != id {
		t.Errorf("reopened primary %d, want %d", k2.Primary(), id)
	}
	k1, err := sealing.OpenKeyring(kek, "acme", sealed1)
	if err != nil {
		t.Fatal(err)
	}
	mustFail(t, k1, ct2, adAcme, false)
}

func TestDisable(t *testing.T) {
	kek := newKEK(t)
	k, _ := newKeyring(t, kek, "acme")
	old := k.Primary()
	ct1 := seal(t, k, "old secret", adAcme)
	if _, err := k.Disable(old); err == nil {
		t.Fatal("Disable of the primary key succeeded")
	}
	mustOpen(t, k, ct1, adAcme, "old secret")

	id, _, err := k.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	ct2 := seal(t, k, "new secret", adAcme)
	sealed, err := k.Disable(old)
	if err != nil {
		t.Fatal(err)
	}
	mustFail(t, k, ct1, adAcme, true)
	mustOpen(t, k, ct2, adAcme, "new secret")
	if _, err := k.Reseal(ct1, adAcme); !errors.Is(err, sealing.ErrKeyDisabled) {
		t.Errorf("Reseal under a disabled key: %v, want ErrKeyDisabled", err)
	}
	want := []sealing.KeyInfo{{ID: old}, {ID: id, Primary: true, Enabled: true}}
	if got := k.Keys(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Keys() = %v, want %v", got, want)
	}
	if s := k.String(); !strings.Contains(s, fmt.Sprintf("%d (disabled)", old)) || !strings.Contains(s, fmt.Sprintf("%d (primary)", id)) {
		t.Errorf("String() = %q, want the disabled and the primary key marked", s)
	}

	// The disabled state is in the stored keyset.
	k2, err := sealing.OpenKeyring(kek, "acme", sealed)
	if err != nil {
		t.Fatal(err)
	}
	mustFail(t, k2, ct1, adAcme, true)
	mustOpen(t, k2, ct2, adAcme, "new secret")

	// Only a disabled key is deleted; Enable undoes a Disable.
	if _, err := k2.Delete(id); err == nil {
		t.Error("Delete of an enabled key succeeded")
	}
	if _, err := k2.Disable(12345); err == nil || k2.Keys()[0].ID == 12345 {
		t.Error("Disable of an unknown key succeeded")
	}
	if _, err := k2.Enable(old); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, k2, ct1, adAcme, "old secret")
	if _, err := k2.Delete(old); err == nil {
		t.Error("Delete of an enabled old key succeeded")
	}
	mustOpen(t, k2, ct1, adAcme, "old secret")

	// A deleted key's ciphertexts fail for good, and not as disabled.
	if _, err := k.Delete(old); err != nil {
		t.Fatal(err)
	}
	mustFail(t, k, ct1, adAcme, false)
	mustOpen(t, k, ct2, adAcme, "new secret")
	if got := k.Keys(); len(got) != 1 || got[0].ID != id {
		t.Errorf("Keys() after Delete = %v", got)
	}
}

func TestReseal(t *testing.T) {
	kek := newKEK(t)
	k, _ := newKeyring(t, kek, "acme")
	old := k.Primary()
	ct := seal(t, k, canary, adAcme)
	id, _, err := k.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	moved, err := k.Reseal(ct, adAcme)
	if err != nil {
		t.Fatal(err)
	}
	if got := keyID(t, moved); got != id {
		t.Fatalf("Reseal sealed under key %d, want the primary %d", got, id)
	}
	if _, err := k.Disable(old); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, k, moved, adAcme, canary)
	mustFail(t, k, ct, adAcme, true)

	// Reseal keeps the binding: the moved ciphertext opens only for its AD.
	other := adAcme
	other.Field = "password"
	mustFail(t, k, moved, other, false)
	if _, err := k.Reseal(moved, other); !errors.Is(err, sealing.ErrCannotOpen) {
		t.Errorf("Reseal with another AD: %v, want ErrCannotOpen", err)
	}
}

func TestBoundToAD(t *testing.T) {
	kek := newKEK(t)
	k, _ := newKeyring(t, kek, "acme")
	base := sealing.AD{Org: "acme", Connector: "ab", Field: "c"}
	ct := seal(t, k, canary, base)
	mustOpen(t, k, ct, base, canary)

	for name, ad := range map[string]sealing.AD{
		"org":       {Org: "globex", Connector: "ab", Field: "c"},
		"connector": {Org: "acme", Connector: "ab2", Field: "c"},
		"field":     {Org: "acme", Connector: "ab", Field: "d"},
		// Without a length before each part these would encode alike.
		"boundary":  {Org: "acme", Connector: "a", Field: "bc"},
		"boundary2": {Org: "acmea", Connector: "b", Field: "c"},
		"swapped":   {Org: "acme", Connector: "c", Field: "ab"},
		"empty":     {},
	} {
		t.Run(name, func(t *testing.T) { mustFail(t, k, ct, ad, false) })
	}

	// Another org's keyring does not open it, even with the right AD.
	g, _ := newKeyring(t, kek, "globex")
	mustFail(t, g, ct, base, false)

	// A keyring seals only for its own org, and only a complete AD.
	if _, err := g.Seal(secret.New(canary), base); err == nil {
		t.Error("the keyring of globex sealed for acme")
	}
	for _, ad := range []sealing.AD{{Org: "acme", Connector: "x"}, {Org: "acme", Field: "x"}, {Connector: "x", Field: "y"}} {
		if _, err := k.Seal(secret.New(canary), ad); err == nil {
			t.Errorf("Seal with incomplete AD %+v succeeded", ad)
		}
	}
}

func TestEveryByteFlipped(t *testing.T) {
	k, _ := newKeyring(t, newKEK(t), "acme")
	// Two keys, so that a changed key ID could name the other one.
	if _, _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	ct := seal(t, k, canary, adAcme)
	mustOpen(t, k, ct, adAcme, canary)
	for i := range ct {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(ct)
			bad[i] ^= mask
			if _, err := k.Open(bad, adAcme); !errors.Is(err, sealing.ErrCannotOpen) {
				t.Fatalf("byte %d ^ %#x: Open: %v, want ErrCannotOpen", i, mask, err)
			}
		}
	}
	for n := range len(ct) {
		if _, err := k.Open(ct[:n], adAcme); !errors.Is(err, sealing.ErrCannotOpen) {
			t.Fatalf("truncated to %d bytes: Open: %v, want ErrCannotOpen", n, err)
		}
	}
	if _, err := k.Open(append(bytes.Clone(ct), 0), adAcme); !errors.Is(err, sealing.ErrCannotOpen) {
		t.Fatalf("extended by a byte: Open: %v, want ErrCannotOpen", err)
	}
}

func TestKeysetBinding(t *testing.T) {
	kek := newKEK(t)
	k, sealed := newKeyring(t, kek, "acme")
	ct := seal(t, k, canary, adAcme)

	if _, err := sealing.OpenKeyring(newKEK(t), "acme", sealed); !errors.Is(err, sealing.ErrCannotOpenKeyring) {
		t.Errorf("under another KEK: %v, want ErrCannotOpenKeyring", err)
	}
	if _, err := sealing.OpenKeyring(kek, "globex", sealed); !errors.Is(err, sealing.ErrCannotOpenKeyring) {
		t.Errorf("as another org's: %v, want ErrCannotOpenKeyring", err)
	}
	for _, junk := range [][]byte{nil, {}, []byte("not a keyset"), sealed[:len(sealed)/2]} {
		if _, err := sealing.OpenKeyring(kek, "acme", junk); !errors.Is(err, sealing.ErrCannotOpenKeyring) {
			t.Errorf("%d junk bytes: %v, want ErrCannotOpenKeyring", len(junk), err)
		}
	}
	k2, err := sealing.OpenKeyring(kek, "acme", sealed)
	if err != nil {
		t.Fatal(err)
	}
	mustOpen(t, k2, ct, adAcme, canary)
}

// keyBytes returns the AES keys of k, read from a cleartext export, and
// that export.
func keyBytes(t *testing.T, k *sealing.Keyring) (keys [][]byte, clear []byte) {
	t.Helper()
	clear, err := sealing.CleartextKeyset(k)
	if err != nil {
		t.Fatal(err)
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewBinaryReader(bytes.NewReader(clear)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range h.Len() {
		e, err := h.Entry(i)
		if err != nil {
			t.Fatal(err)
		}
		key, ok := e.Key().(*aesgcm.Key)
		if !ok {
			t.Fatalf("key %d is a %T", e.KeyID(), e.Key())
		}
		b := key.KeyBytes().Data(insecuresecretdataaccess.Token{})
		if len(b) != 32 {
			t.Fatalf("key %d has %d bytes, want 32", e.KeyID(), len(b))
		}
		keys = append(keys, b)
	}
	return keys, clear
}

func TestSealedKeysetHidesKeys(t *testing.T) {
	k, sealed := newKeyring(t, newKEK(t), "acme")
	_, rotated, err := k.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	keys, clear := keyBytes(t, k)
	if len(keys) != 2 {
		t.Fatalf("%d keys, want 2", len(keys))
	}
	for i, key := range keys {
		// The search finds the key where it is in clear...
		if !bytes.Contains(clear, key) {
			t.Fatalf("key %d is not in the cleartext export: the search is broken", i)
		}
		// ...and not in the sealed keysets.
		for name, s := range map[string][]byte{"new": sealed, "rotated": rotated} {
			for _, form := range [][]byte{key, []byte(hex.EncodeToString(key)), []byte(base64.StdEncoding.EncodeToString(key)), key[:16], key[16:]} {
				if bytes.Contains(s, form) {
					t.Errorf("the %s sealed keyset contains key %d's material", name, i)
				}
			}
		}
	}
}

func TestNothingPrints(t *testing.T) {
	k, _ := newKeyring(t, newKEK(t), "acme")
	old := k.Primary()
	ct := seal(t, k, canary, adAcme)
	if _, _, err := k.Rotate(); err != nil {
		t.Fatal(err)
	}
	keys, _ := keyBytes(t, k)

	var errs []error
	record := func(err error) {
		if err == nil {
			t.Fatal("expected an error")
		}
		errs = append(errs, err)
	}
	_, err := k.Open(ct[:len(ct)-1], adAcme)
	record(err)
	_, err = k.Open(ct, sealing.AD{Org: "acme", Connector: "okta-1", Field: "password"})
	record(err)
	_, err = k.Seal(secret.New(canary), sealing.AD{Org: "globex", Connector: "c", Field: "f"})
	record(err)
	_, err = k.Seal(secret.New(canary), sealing.AD{Org: "acme"})
	record(err)
	_, err = k.Reseal(ct[1:], adAcme)
	record(err)
	if _, err := k.Disable(old); err != nil {
		t.Fatal(err)
	}
	_, err = k.Open(ct, adAcme)
	record(err)
	_, err = k.Reseal(ct, adAcme)
	record(err)
	_, err = k.Disable(k.Primary())
	record(err)

	var outputs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		outputs = append(outputs, fmt.Sprintf(verb, k))
		for _, err := range errs {
			outputs = append(outputs, fmt.Sprintf(verb, err))
		}
	}
	outputs = append(outputs, k.String())
	if !strings.Contains(k.String(), `"acme"`) || !strings.Contains(k.String(), fmt.Sprint(old)) {
		t.Errorf("String() = %q, want the org and the key IDs", k.String())
	}
	for _, out := range outputs {
		if strings.Contains(out, canary) || strings.Contains(out, hex.EncodeToString([]byte(canary))) {
			t.Errorf("output shows the plaintext: %s", out)
		}
		for _, key := range keys {
			if strings.Contains(out, string(key)) || strings.Contains(out, hex.EncodeToString(key)) || strings.Contains(out, base64.StdEncoding.EncodeToString(key)) {
				t.Errorf("output shows key material: %s", out)
			}
		}
	}
}

func TestLocalKEK(t *testing.T) {
	good := kekJSON(t)
	if _, err := sealing.LocalKEK(good); err != nil {
		t.Fatal(err)
	}
	// A broken file's error does not quote it.
	broken := bytes.Replace(good, []byte(`"value":"`), []byte(`"value":"`+canary), 1)
	if bytes.Equal(broken, good) {
		t.Fatal("the keyset JSON has no value field to break")
	}
	for _, b := range [][]byte{nil, []byte("{}"), []byte(canary), broken, good[:len(good)-5]} {
		_, err := sealing.LocalKEK(b)
		if err == nil {
			t.Fatalf("LocalKEK(%d bytes) succeeded", len(b))
		}
		if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "value") {
			t.Errorf("error quotes the keyset: %v", err)
		}
	}
	// A keyset of another primitive is no KEK.
	h, err := keyset.NewHandle(mac.HMACSHA256Tag256KeyTemplate())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		t.Fatal(err)
	}
	if _, err := sealing.LocalKEK(buf.Bytes()); err == nil {
		t.Error("LocalKEK accepted a MAC keyset")
	}
}

// fakeKMS serves one local AEAD for every key URI under its prefix.
type fakeKMS struct {
	prefix string
	kek    sealing.KEK
}

func (f fakeKMS) Supported(uri string) bool { return strings.HasPrefix(uri, f.prefix) }

func (f fakeKMS) GetAEAD(uri string) (sealing.KEK, error) {
	if !f.Supported(uri) {
		return nil, errors.New("unsupported")
	}
	return f.kek, nil
}

var (
	registerFake sync.Once
	fakeKEK      sealing.KEK
)

func TestKEKFromURI(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct{ uri, scheme, module string }{
		{"nuxari-unregistered://keys/1", "nuxari-unregistered", "registry.KMSClient for nuxari-unregistered://"},
		{"gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k", "gcp-kms", "github.com/tink-crypto/tink-go-gcpkms/v2"},
		{"aws-kms://arn:aws:kms:eu-west-1:1:key/k", "aws-kms", "github.com/tink-crypto/tink-go-awskms/v2"},
	} {
		_, err := sealing.KEKFromURI(ctx, c.uri)
		if !errors.Is(err, sealing.ErrNoKMSClient) {
			t.Fatalf("%s: %v, want ErrNoKMSClient", c.uri, err)
		}
		for _, want := range []string{`"` + c.scheme + `"`, c.module, "registry.RegisterKMSClient"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q does not say %q", c.uri, err, want)
			}
		}
	}
	for _, uri := range []string{"", "no-scheme", "://x"} {
		if _, err := sealing.KEKFromURI(ctx, uri); err == nil || errors.Is(err, sealing.ErrNoKMSClient) {
			t.Errorf("%q: %v, want a malformed-URI error", uri, err)
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := sealing.KEKFromURI(canceled, "gcp-kms://x"); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v, want context.Canceled", err)
	}

	// With a client registered (once per process: the registry is
	// global), the URI resolves to its key.
	registerFake.Do(func() {
		fakeKEK = newKEK(t)
		registry.RegisterKMSClient(fakeKMS{prefix: "sealing-test-kms://", kek: fakeKEK})
	})
	local := fakeKEK
	kek, err := sealing.KEKFromURI(ctx, "sealing-test-kms://keys/1")
	if err != nil {
		t.Fatal(err)
	}
	k, sealed := newKeyring(t, kek, "acme")
	ct := seal(t, k, canary, adAcme)
	k2, err := sealing.OpenKeyring(local, "acme", sealed)
	if err != nil {
		t.Fatal(err)
	}
	mustOpen(t, k2, ct, adAcme, canary)
}

func TestConcurrentUse(t *testing.T) {
	k, _ := newKeyring(t, newKEK(t), "acme")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				ct, err := k.Seal(secret.New(canary), adAcme)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := k.Open(ct, adAcme); err != nil || got.Reveal() != canary {
					t.Errorf("Open: %v", err)
					return
				}
				_ = k.Keys()
				_ = k.String()
			}
		})
	}
	for range 5 {
		if _, _, err := k.Rotate(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if n := len(k.Keys()); n != 6 {
		t.Errorf("%d keys after 5 rotations, want 6", n)
	}
}
