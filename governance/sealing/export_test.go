package sealing

import (
	"bytes"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
)

// CleartextKeyset returns k's keyset in Tink's binary format with its key
// material in clear, for tests that look for that material elsewhere.
func CleartextKeyset(k *Keyring) ([]byte, error) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(k.h, keyset.NewBinaryWriter(&buf)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
