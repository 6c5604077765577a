package sealing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/core/registry"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// KEK is a key-encryption key: the AEAD that seals every org's keyset.
type KEK = tink.AEAD

// ErrNoKMSClient is returned by [KEKFromURI] for a key URI that no
// registered KMS client supports.
var ErrNoKMSClient = errors.New("sealing: no KMS client is registered for this key URI")

// LocalKEK returns the key-encryption key held in jsonKeyset, a Tink
// keyset in JSON with its key material in clear (as nuxarid writes
// kek.json). Its errors are fixed texts that never quote the keyset.
func LocalKEK(jsonKeyset []byte) (KEK, error) {
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(jsonKeyset)))
	if err != nil {
		return nil, errors.New("sealing: not a Tink JSON keyset with its key material in clear")
	}
	kek, err := aead.New(h)
	if err != nil {
		return nil, errors.New("sealing: not a Tink AEAD keyset")
	}
	return kek, nil
}

// KEKFromURI returns the key-encryption key that uri names in a KMS
// (gcp-kms://..., aws-kms://..., hcvault://...), through the KMS client
// registered for it with Tink's registry.RegisterKMSClient. No client is
// registered by default (see the package documentation); for a URI no
// client supports the error satisfies errors.Is(err, [ErrNoKMSClient])
// and names the scheme and the integration to link in. ctx is checked
// before the client is asked: Tink's clients take none.
func KEKFromURI(ctx context.Context, uri string) (KEK, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	scheme, _, ok := strings.Cut(uri, "://")
	if !ok || scheme == "" {
		return nil, errors.New("sealing: a KMS key URI has the form scheme://key (gcp-kms://, aws-kms://, hcvault://)")
	}
	client, err := registry.GetKMSClient(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: scheme %q: link in the Tink KMS integration for it (%s) and register its client with registry.RegisterKMSClient at start-up",
			ErrNoKMSClient, scheme, integration(scheme))
	}
	kek, err := client.GetAEAD(uri)
	if err != nil {
		return nil, fmt.Errorf("sealing: KMS key (%s://): %w", scheme, err)
	}
	return kek, nil
}

// integration names the Tink module that provides a KMS client for scheme.
func integration(scheme string) string {
	switch scheme {
	case "gcp-kms":
		return "github.com/tink-crypto/tink-go-gcpkms/v2"
	case "aws-kms":
		return "github.com/tink-crypto/tink-go-awskms/v2"
	case "hcvault":
		return "github.com/tink-crypto/tink-go-hcvault/v2"
	}
	return "a module providing a Tink registry.KMSClient for " + scheme + "://"
}
