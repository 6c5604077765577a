package server_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"connectrpc.com/connect"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/core/registry"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/nuxari/nuxari/governance/sealing"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// tinkKMS is a Tink KMS client whose keys are local AEADs, one per URI,
// counting their uses.
type tinkKMS struct {
	mu   sync.Mutex
	keys map[string]*countingAEAD
}

type countingAEAD struct {
	tink.AEAD
	decrypts atomic.Int64
}

func (c *countingAEAD) Decrypt(ct, ad []byte) ([]byte, error) {
	c.decrypts.Add(1)
	return c.AEAD.Decrypt(ct, ad)
}

const tinkKMSScheme = "nuxari-test-tink-kms://"

func (k *tinkKMS) Supported(uri string) bool { return strings.HasPrefix(uri, tinkKMSScheme) }

func (k *tinkKMS) GetAEAD(uri string) (tink.AEAD, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if a, ok := k.keys[uri]; ok {
		return a, nil
	}
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, err
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, err
	}
	k.keys[uri] = &countingAEAD{AEAD: a}
	return k.keys[uri], nil
}

var testTinkKMS = sync.OnceValue(func() *tinkKMS {
	k := &tinkKMS{keys: map[string]*countingAEAD{}}
	registry.RegisterKMSClient(k)
	return k
})

// TestKEKFromKMS runs a server whose key-encryption key is a KMS key:
// the org's keyring is sealed under it (no kek.json is made), opens
// again after a restart, and does not open under another key.
func TestKEKFromKMS(t *testing.T) {
	kms := testTinkKMS()
	uri := tinkKMSScheme + "keys/" + t.Name()
	dir := t.TempDir()
	withKEK := func(uri string) servertest.Option {
		return func(c *server.Config) { c.DataDir, c.KEKURI = dir, uri }
	}
	ts := servertest.Start(t, withKEK(uri))
	ctx := context.Background()
	ownerTok, _ := ts.Signup(t, "kmsorg", "o@example.com", ownerPW)
	c := ts.Clients(ownerTok).Connectors
	_, err := c.CreateConnector(ctx, connect.NewRequest(&nuxariv1.CreateConnectorRequest{
		Name: "db",
		Settings: &nuxariv1.ConnectorSettings{Kind: &nuxariv1.ConnectorSettings_Postgres{Postgres: &nuxariv1.PostgresSettings{
			Host: "db.example", Database: "app", User: "nuxari",
		}}},
		Credentials: &nuxariv1.ConnectorCredentials{Kind: &nuxariv1.ConnectorCredentials_Postgres{Postgres: &nuxariv1.PostgresCredentials{Password: "pw"}}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "kek.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("kek.json with a KMS key: %v", err)
	}
	if err := ts.Stop(); err != nil {
		t.Fatal(err)
	}

	ts = servertest.Start(t, withKEK(uri))
	before := kms.keys[uri].decrypts.Load()
	keys, err := ts.Clients(ts.Login(t, "kmsorg", "o@example.com", ownerPW)).Connectors.GetSealingKeys(ctx, connect.NewRequest(&nuxariv1.GetSealingKeysRequest{}))
	if err != nil || len(keys.Msg.Keys) != 1 || keys.Msg.Keys[0].Credentials != 1 {
		t.Fatalf("keys after a restart: %v, %v", keys, err)
	}
	if kms.keys[uri].decrypts.Load() == before {
		t.Fatal("the keyring was not opened through the KMS")
	}
	if err := ts.Stop(); err != nil {
		t.Fatal(err)
	}

	// Under another KMS key, the org's keyring does not open.
	ts = servertest.Start(t, withKEK(uri+"-other"))
	_, err = ts.Clients(ts.Login(t, "kmsorg", "o@example.com", ownerPW)).Connectors.GetSealingKeys(ctx, connect.NewRequest(&nuxariv1.GetSealingKeysRequest{}))
	if err == nil {
		t.Fatal("the keyring opened under another key-encryption key")
	}
	if !strings.Contains(ts.Logs.String(), sealing.ErrCannotOpenKeyring.Error()) {
		t.Fatalf("the server log does not say the keyring cannot be opened: %v", err)
	}
}

// TestKEKURIRefusedAtStart: a KEK URI no KMS client supports stops the
// server from opening, with an error naming the scheme.
func TestKEKURIRefusedAtStart(t *testing.T) {
	s, err := server.Open(server.Config{DataDir: t.TempDir(), KEKURI: "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k"})
	if err == nil {
		s.Close()
		t.Fatal("Open with an unsupported KEK URI succeeded")
	}
	if !errors.Is(err, sealing.ErrNoKMSClient) || !strings.Contains(err.Error(), `"gcp-kms"`) {
		t.Fatalf("Open: %v", err)
	}
}
