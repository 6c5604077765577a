// Package verify checks ledger data offline: C2SP tlog-checkpoint signed
// notes (https://c2sp.org/tlog-checkpoint) against a pinned Ed25519 verifier
// key and origin, RFC 6962 inclusion and consistency proofs, and leaf bytes
// against their hashes.
//
// It depends only on the standard library, golang.org/x/mod/sumdb/note,
// github.com/transparency-dev/formats and github.com/transparency-dev/merkle,
// so auditors can build it without any server code. It never trusts what a
// server says about itself: the caller pins the key and the origin.
package verify

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// HashSize is the size of every hash in the log (SHA-256).
const HashSize = 32

// Errors returned by this package; each failure wraps exactly one of them.
var (
	ErrVerifierKey  = errors.New("invalid verifier key")
	ErrSignature    = errors.New("checkpoint signature not valid for the pinned key")
	ErrCheckpoint   = errors.New("malformed checkpoint")
	ErrOrigin       = errors.New("checkpoint origin does not match the pinned origin")
	ErrInclusion    = errors.New("inclusion proof does not verify")
	ErrConsistency  = errors.New("consistency proof does not verify")
	ErrLeafHash     = errors.New("leaf bytes do not match the leaf hash")
	ErrLeafMismatch = errors.New("leaf does not belong at this position")
)

// DefaultLogName is the log name of a server that sets none: the first
// part of every org's origin line.
const DefaultLogName = "nuxari"

// Origin returns the checkpoint origin line of org's log in the log named
// logName: "<logName>/orgs/<org>".
func Origin(logName, org string) string {
	return logName + "/orgs/" + org
}

// Checkpoint is a verified checkpoint.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte
	// Note is the signed note, verbatim.
	Note []byte
}

// Verifier checks checkpoints of one log: one origin, one key.
type Verifier struct {
	v      note.Verifier
	origin string
}

// NewVerifier returns a Verifier for checkpoints with the given origin,
// signed by the note verifier key vkey ("<name>+<hash>+<base64 key>").
func NewVerifier(vkey, origin string) (*Verifier, error) {
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVerifierKey, err)
	}
	if origin == "" {
		return nil, fmt.Errorf("%w: empty origin", ErrVerifierKey)
	}
	return &Verifier{v: v, origin: origin}, nil
}

// Origin returns the pinned origin.
func (v *Verifier) Origin() string { return v.origin }

// Checkpoint verifies the signed note b and returns the checkpoint it holds.
// The note MUST carry a valid signature by the pinned key and name the
// pinned origin; other signatures (witnesses) are ignored. Its text MUST be
// exactly the three lines origin, size and root hash, in the one canonical
// form C2SP tlog-checkpoint writes (decimal size without leading zeros,
// root in canonical standard base64).
func (v *Verifier) Checkpoint(b []byte) (Checkpoint, error) {
	n, err := note.Open(b, note.VerifierList(v.v))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return Checkpoint{}, fmt.Errorf("%w: %w", ErrSignature, err)
		}
		return Checkpoint{}, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	var cp log.Checkpoint
	rest, err := cp.Unmarshal([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("%w: %w", ErrCheckpoint, err)
	}
	if len(rest) != 0 {
		return Checkpoint{}, fmt.Errorf("%w: unexpected extension lines", ErrCheckpoint)
	}
	// One checkpoint has one spelling: the size in decimal without leading
	// zeros, the root in canonical standard base64.
	if string(cp.Marshal()) != n.Text {
		return Checkpoint{}, fmt.Errorf("%w: not in canonical form (size without leading zeros, root in canonical base64)", ErrCheckpoint)
	}
	if len(cp.Hash) != HashSize {
		return Checkpoint{}, fmt.Errorf("%w: root hash is %d bytes, want %d", ErrCheckpoint, len(cp.Hash), HashSize)
	}
	if cp.Origin != v.origin {
		return Checkpoint{}, fmt.Errorf("%w: got %q, want %q", ErrOrigin, cp.Origin, v.origin)
	}
	if cp.Size == 0 && !bytes.Equal(cp.Hash, rfc6962.DefaultHasher.EmptyRoot()) {
		return Checkpoint{}, fmt.Errorf("%w: empty tree with non-empty root", ErrCheckpoint)
	}
	return Checkpoint{Origin: cp.Origin, Size: cp.Size, Root: cp.Hash, Note: b}, nil
}

// LeafHash returns the RFC 6962 hash of the leaf bytes b.
func LeafHash(b []byte) []byte { return leaf.Hash(b) }

// Leaf checks that the leaf bytes b hash to hash.
func Leaf(b, hash []byte) error {
	if !bytes.Equal(leaf.Hash(b), hash) {
		return ErrLeafHash
	}
	return nil
}

// LeafAt parses the leaf bytes b and checks that they name the given org
// and index, so that a leaf cannot be presented at another position or in
// another org's log.
func LeafAt(b []byte, org string, index uint64) (leaf.Leaf, error) {
	l, err := leaf.Parse(b)
	if err != nil {
		return leaf.Leaf{}, fmt.Errorf("%w: %w", ErrLeafMismatch, err)
	}
	if l.Org != org {
		return leaf.Leaf{}, fmt.Errorf("%w: leaf names org %q, want %q", ErrLeafMismatch, l.Org, org)
	}
	if l.Index != index {
		return leaf.Leaf{}, fmt.Errorf("%w: leaf names index %d, want %d", ErrLeafMismatch, l.Index, index)
	}
	return l, nil
}

// Inclusion checks that leafHash is at index in the tree of the given size
// and root.
func Inclusion(leafHash []byte, index, size uint64, p [][]byte, root []byte) error {
	if err := checkHashes(p, leafHash, root); err != nil {
		return fmt.Errorf("%w: %w", ErrInclusion, err)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leafHash, p, root); err != nil {
		return fmt.Errorf("%w: index %d, size %d: %w", ErrInclusion, index, size, err)
	}
	return nil
}

// Consistency checks that the tree of size2 and root2 extends the tree of
// size1 and root1.
func Consistency(size1, size2 uint64, p [][]byte, root1, root2 []byte) error {
	if err := checkHashes(p, root1, root2); err != nil {
		return fmt.Errorf("%w: %w", ErrConsistency, err)
	}
	// proof.VerifyConsistency accepts any root1 when size1 is 0, but the
	// empty tree has exactly one root.
	if size1 == 0 && !bytes.Equal(root1, rfc6962.DefaultHasher.EmptyRoot()) {
		return fmt.Errorf("%w: tree of size 0 with a non-empty root", ErrConsistency)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, p, root1, root2); err != nil {
		return fmt.Errorf("%w: sizes %d to %d: %w", ErrConsistency, size1, size2, err)
	}
	return nil
}

func checkHashes(p [][]byte, hs ...[]byte) error {
	for _, h := range hs {
		if len(h) != HashSize {
			return fmt.Errorf("hash is %d bytes, want %d", len(h), HashSize)
		}
	}
	for i, h := range p {
		if len(h) != HashSize {
			return fmt.Errorf("proof node %d is %d bytes, want %d", i, len(h), HashSize)
		}
	}
	return nil
}

// KeyFingerprint returns the fingerprint of an Ed25519 note verifier key
// ("<name>+<hash>+<base64 key>"), for people to compare out of band: the
// SHA-256 of the 32-byte public key, in hex, in groups of four. nuxctl
// and the web console show the same fingerprint for the same key.
func KeyFingerprint(vkey string) (string, error) {
	if _, err := note.NewVerifier(vkey); err != nil {
		return "", fmt.Errorf("%w: %w", ErrVerifierKey, err)
	}
	// Names hold no '+'; the base64 key may.
	parts := strings.SplitN(vkey, "+", 3)
	key, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(key) != 1+ed25519.PublicKeySize || key[0] != 1 {
		return "", fmt.Errorf("%w: not an Ed25519 key", ErrVerifierKey)
	}
	sum := sha256.Sum256(key[1:])
	h := hex.EncodeToString(sum[:])
	var b strings.Builder
	for i := 0; i < len(h); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(h[i : i+4])
	}
	return b.String(), nil
}
