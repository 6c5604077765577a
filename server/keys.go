package server

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nuxari/nuxari/ledger"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
	"golang.org/x/mod/sumdb/note"
)

// File names inside the data directory.
const (
	logKeyFile = "log.key"  // note signer key of the log (Ed25519)
	kekFile    = "kek.json" // key-encryption key: a Tink AES-256-GCM keyset
	ledgerDir  = "ledger"
)

// writeNew writes a new file with mode 0600, failing if it exists, and
// syncs it so that a key is never lost after it was first used.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// readPrivate reads a key file, refusing one that others may read.
func readPrivate(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %v: a key file must be readable by its owner only (chmod 600)", path, st.Mode().Perm())
	}
	return os.ReadFile(path)
}

// logSigner loads the log's signing key from dir, generating it on first
// start.
func logSigner(dir, logName string) (note.Signer, string, error) {
	path := filepath.Join(dir, logKeyFile)
	b, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		skey, _, gerr := ledger.GenerateSignerKey(rand.Reader, logName)
		if gerr != nil {
			return nil, "", gerr
		}
		if err := writeNew(path, []byte(skey+"\n")); err != nil {
			return nil, "", fmt.Errorf("write log key: %w", err)
		}
		b, err = []byte(skey), nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("log key: %w", err)
	}
	s, vkey, err := ledger.ParseSignerKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, "", fmt.Errorf("log key %s: %w", path, err)
	}
	if s.Name() != logName {
		return nil, "", fmt.Errorf("log key %s signs for log %q, not %q: the log name cannot change once keys exist", path, s.Name(), logName)
	}
	return s, vkey, nil
}

// keyEncryptionKey loads the key-encryption key from dir, generating it on
// first start. It wraps the per-org keys that seal credentials. A KMS URI
// replaces this file in production.
func keyEncryptionKey(dir string) (tink.AEAD, error) {
	path := filepath.Join(dir, kekFile)
	b, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		h, gerr := keyset.NewHandle(aead.AES256GCMKeyTemplate())
		if gerr != nil {
			return nil, gerr
		}
		var buf bytes.Buffer
		if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
			return nil, err
		}
		if err := writeNew(path, buf.Bytes()); err != nil {
			return nil, fmt.Errorf("write key-encryption key: %w", err)
		}
		b, err = buf.Bytes(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(b)))
	if err != nil {
		return nil, fmt.Errorf("key-encryption key %s: %w", path, err)
	}
	return aead.New(h)
}
