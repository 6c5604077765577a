package ledger

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// ErrSignerKey reports a malformed note signer key.
var ErrSignerKey = errors.New("invalid note signer key")

// GenerateSignerKey returns a new Ed25519 note signer key and its verifier
// key for a log named name, in golang.org/x/mod/sumdb/note encoding.
func GenerateSignerKey(rand io.Reader, name string) (skey, vkey string, err error) {
	return note.GenerateKey(rand, name)
}

// ParseSignerKey parses a note signer key ("PRIVATE+KEY+<name>+<hash>+
// <base64>") and returns the signer and the matching verifier key.
func ParseSignerKey(skey string) (note.Signer, string, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrSignerKey, err)
	}
	// The key material is the fifth field (base64 may itself hold '+'):
	// algorithm byte 0x01 (Ed25519) followed by the 32-byte seed.
	fields := strings.SplitN(skey, "+", 5)
	if len(fields) != 5 {
		return nil, "", ErrSignerKey
	}
	raw, err := base64.StdEncoding.DecodeString(fields[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, "", fmt.Errorf("%w: not an Ed25519 key", ErrSignerKey)
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	vkey, err := note.NewEd25519VerifierKey(s.Name(), pub)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", ErrSignerKey, err)
	}
	return s, vkey, nil
}

// keyName returns the name field of a note verifier key.
func keyName(vkey string) string {
	name, _, _ := strings.Cut(vkey, "+")
	return name
}
