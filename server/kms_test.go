package server_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"

	"github.com/nuxari/nuxari/evidence/archive"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// testKMSScheme is the URI scheme of the fake KMS, registered with
// sigstore's KMS provider registry as a cloud KMS provider registers.
const testKMSScheme = "nuxaritestkms://"

// fakeKMS is a KMS key: a sigstore kms.SignerVerifier whose private key
// never leaves it. Each method that a test does not need fails.
type fakeKMS struct {
	sv    signature.SignerVerifier
	signs atomic.Int64
}

func (k *fakeKMS) PublicKey(opts ...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return k.sv.PublicKey(opts...)
}

func (k *fakeKMS) SignMessage(msg io.Reader, opts ...signature.SignOption) ([]byte, error) {
	k.signs.Add(1)
	return k.sv.SignMessage(msg, opts...)
}

func (k *fakeKMS) VerifySignature(sig, msg io.Reader, opts ...signature.VerifyOption) error {
	return k.sv.VerifySignature(sig, msg, opts...)
}

func (k *fakeKMS) CreateKey(context.Context, string) (crypto.PublicKey, error) {
	return nil, errors.New("fake KMS: CreateKey is not supported")
}

func (k *fakeKMS) CryptoSigner(context.Context, func(error)) (crypto.Signer, crypto.SignerOpts, error) {
	return nil, nil, errors.New("fake KMS: CryptoSigner is not supported")
}

func (k *fakeKMS) SupportedAlgorithms() []string { return []string{"ecdsa-p256-sha256"} }
func (k *fakeKMS) DefaultAlgorithm() string      { return "ecdsa-p256-sha256" }

var (
	testKMSOnce sync.Once
	testKMSMu   sync.Mutex
	testKMSKeys = map[string]*fakeKMS{}
)

// newTestKMSKey creates a key in the fake KMS on curve c and returns its
// URI and the key.
func newTestKMSKey(t *testing.T, c elliptic.Curve, h crypto.Hash) (string, *fakeKMS) {
	t.Helper()
	testKMSOnce.Do(func() {
		kms.AddProvider(testKMSScheme, func(_ context.Context, ref string, _ crypto.Hash, _ ...signature.RPCOption) (kms.SignerVerifier, error) {
			testKMSMu.Lock()
			defer testKMSMu.Unlock()
			k := testKMSKeys[strings.TrimPrefix(ref, testKMSScheme)]
			if k == nil {
				return nil, fmt.Errorf("fake KMS: no key %q", ref)
			}
			return k, nil
		})
	})
	priv, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, h)
	if err != nil {
		t.Fatal(err)
	}
	k := &fakeKMS{sv: sv}
	name := strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())
	testKMSMu.Lock()
	testKMSKeys[name] = k
	testKMSMu.Unlock()
	return testKMSScheme + name, k
}

// TestEvidenceSigningKMS: with --evidence-signing-kms, manifests are
// signed by the KMS key, and a package verifies with the public key the
// auditor takes from the KMS itself.
func TestEvidenceSigningKMS(t *testing.T) {
	uri, key := newTestKMSKey(t, elliptic.P256(), crypto.SHA256)
	ts := servertest.Start(t, func(c *server.Config) { c.Evidence.SigningKMS = uri })
	ctx := context.Background()
	ownerTok, _ := ts.Signup(t, "kms", "o@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	for range 3 {
		if _, err := owner.Ledger.AppendEvents(ctx, req(&nuxariv1.AppendEventsRequest{Events: []*nuxariv1.NewEvent{{Type: "custom.deploy"}}})); err != nil {
			t.Fatal(err)
		}
	}
	size, err := ts.Ledger().Size("kms")
	if err != nil {
		t.Fatal(err)
	}
	waitCheckpoint(t, owner, size)
	before := key.signs.Load()
	exp := exportAndWait(t, owner, &nuxariv1.EvidenceScope{})
	pkg := download(t, owner, exp.ExportId)
	if key.signs.Load() == before {
		t.Fatal("the export did not sign through the KMS")
	}

	kmsPub, err := key.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	p := pins(t, owner, "kms")
	served, err := cryptoutils.UnmarshalPEMToPublicKey(p.SigningKey.([]byte))
	if err != nil {
		t.Fatal(err)
	}
	if err := cryptoutils.EqualKeys(served, kmsPub); err != nil {
		t.Fatalf("the server's signing key is not the KMS key: %v", err)
	}
	p.SigningKey = kmsPub // pinned from the KMS, not from the server
	rep := verifyPackage(t, pkg, p)
	if rep.Org != "kms" || rep.Events.Count == 0 {
		t.Fatalf("report %+v", rep)
	}

	// Another key does not verify it.
	_, other := newTestKMSKey(t, elliptic.P256(), crypto.SHA256)
	p.SigningKey, _ = other.PublicKey()
	if _, err := archive.Verify(strings.NewReader(string(pkg)), int64(len(pkg)), p); !errors.Is(err, archive.ErrPackage) {
		t.Fatalf("verified with another key: %v", err)
	}
}

// TestEvidenceSigningKMSRefusedAtStart: a KMS URI that names no provider,
// no key, or a key that cannot sign packages stops the server from
// opening, with an error that names the URI.
func TestEvidenceSigningKMSRefusedAtStart(t *testing.T) {
	p384, _ := newTestKMSKey(t, elliptic.P384(), crypto.SHA384)
	for _, c := range []struct {
		name, uri string
		is        func(error) bool
		substr    string
	}{
		{"unknown provider", "nuxarinosuchkms://key", func(err error) bool {
			var nf *kms.ProviderNotFoundError
			return errors.As(err, &nf)
		}, "no kms provider found"},
		{"unknown key", testKMSScheme + "no-such-key", func(error) bool { return true }, `fake KMS: no key`},
		{"P-384 key", p384, func(err error) bool { return errors.Is(err, archive.ErrKeyType) }, "ECDSA P-256 only"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := server.Open(server.Config{DataDir: t.TempDir(), Evidence: server.EvidenceConfig{SigningKMS: c.uri}})
			if err == nil {
				s.Close()
				t.Fatalf("Open with %s succeeded", c.uri)
			}
			if !c.is(err) || !strings.Contains(err.Error(), c.substr) || !strings.Contains(err.Error(), "evidence signing key "+c.uri) {
				t.Fatalf("Open with %s: %v; want an error naming the URI and %q", c.uri, err, c.substr)
			}
		})
	}
}
