package cli

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/transparency-dev/formats/proof"

	"github.com/nuxari/nuxari/ledger/verify"
)

// The C2SP tlog-proof format (https://c2sp.org/tlog-proof), written by
// "nuxctl ledger prove --out FILE.tlog-proof" and checked by "nuxctl
// verify": a text file, readable by any tlog-proof tool,
//
//	c2sp.org/tlog-proof@v1
//	extra <the leaf bytes, base64>
//	index <the leaf index>
//	<inclusion proof: one base64 hash a line>
//
//	<the C2SP tlog-checkpoint signed note, verbatim>
//
// The spec leaves "extra" to the application: here it carries the leaf,
// so the file is self-contained. A verifier trusts none of it: the leaf
// is hashed, the hash proven into the root of the checkpoint, and the
// checkpoint verified with the pinned key and origin.

// FormatJSON and FormatTlogProof are the formats "ledger prove" writes.
const (
	FormatJSON      = "json"
	FormatTlogProof = "tlog-proof"
	// TlogProofExt is the spec's file extension; --out names ending in
	// it choose FormatTlogProof.
	TlogProofExt = ".tlog-proof"
)

// tlogProofHeader starts every tlog-proof: files are told apart by it.
const tlogProofHeader = "c2sp.org/tlog-proof@v1\n"

// MaxTlogProofLeaf is the longest leaf a tlog-proof carries: parsers read
// the "extra " line (the leaf in base64) into a 64 KiB buffer, as
// transparency-dev/formats/proof does, so longer leaves go in the JSON
// bundle.
const MaxTlogProofLeaf = 49146

// isTlogProof reports whether data is a tlog-proof rather than a JSON
// bundle.
func isTlogProof(data []byte) bool { return bytes.HasPrefix(data, []byte(tlogProofHeader)) }

// MarshalTlogProof writes b as a tlog-proof, with its leaf as the extra
// data. A bundle with a consistency proof has no tlog-proof form.
func MarshalTlogProof(b *Bundle) ([]byte, error) {
	if b.Consistency != nil {
		return nil, fmt.Errorf("a tlog-proof holds no consistency proof: write the JSON bundle")
	}
	if len(b.Leaf) > MaxTlogProofLeaf {
		return nil, fmt.Errorf("event %d's leaf is %d bytes; a tlog-proof carries at most %d: write the JSON bundle instead (--format json)", b.Index, len(b.Leaf), MaxTlogProofLeaf)
	}
	p := proof.TLogProof{Index: b.Index, Checkpoint: []byte(b.Checkpoint), ExtraData: b.Leaf, Hashes: make([][sha256.Size]byte, len(b.Proof))}
	for i, h := range b.Proof {
		if len(h) != sha256.Size {
			return nil, fmt.Errorf("proof hash %d is %d bytes, want %d", i, len(h), sha256.Size)
		}
		p.Hashes[i] = [sha256.Size]byte(h)
	}
	return p.Marshal(), nil
}

// ParseTlogProof reads a tlog-proof written by MarshalTlogProof: parsed
// by transparency-dev/formats/proof, it must be in the one form that
// package writes, and carry a leaf.
func ParseTlogProof(data []byte) (*proof.TLogProof, error) {
	var p proof.TLogProof
	if err := p.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("malformed tlog-proof: %w", err)
	}
	if len(p.ExtraData) == 0 {
		return nil, fmt.Errorf("the tlog-proof carries no leaf (its \"extra\" line): verify it with the event's leaf beside it, or write it with 'nuxctl ledger prove'")
	}
	if !bytes.Equal(p.Marshal(), data) {
		return nil, fmt.Errorf("malformed tlog-proof: not in canonical form (base64, decimal index without leading zeroes, one final newline)")
	}
	return &p, nil
}

// VerifyTlogProof checks the tlog-proof file data against pins, with no
// network access, and stops at the first failure. The checks are those
// of VerifyBundle that apply: a tlog-proof names no key and no org, so
// the pinned ones are checked against the checkpoint and the leaf, and
// the leaf hash is computed, never read.
func VerifyTlogProof(file string, data []byte, pins Pins) *VerifyResult {
	r := &VerifyResult{File: file, Format: FormatTlogProof, LogOrigin: pins.Origin, VerifierKey: pins.VerifierKey, Checks: []CheckResult{}}
	fail, pass := r.fail, r.pass

	p, err := ParseTlogProof(data)
	if err != nil {
		return fail(CheckBundle, "%v", err)
	}
	pass(CheckBundle, "tlog-proof, event %d, leaf of %d bytes, proof of %d hashes", p.Index, len(p.ExtraData), len(p.Hashes))

	v, err := verify.NewVerifier(pins.VerifierKey, pins.Origin)
	if err != nil {
		return fail(CheckVerifierKey, "the pinned --key is not usable: %v", err)
	}
	pass(CheckVerifierKey, "the checkpoint must be signed by the pinned key")

	org := pins.Org
	if org == "" {
		i := strings.LastIndex(pins.Origin, "/orgs/")
		if i < 0 {
			return fail(CheckOrigin, "the pinned origin %q names no org (…/orgs/<org>): pin the org with --org", pins.Origin)
		}
		org = pins.Origin[i+len("/orgs/"):]
	}
	r.Org = org
	pass(CheckOrigin, "%s (org %s)", pins.Origin, org)

	cp, err := v.Checkpoint(p.Checkpoint)
	if err != nil {
		return fail(CheckCheckpoint, "%v", err)
	}
	r.TreeSize, r.RootHash = cp.Size, cp.Root
	pass(CheckCheckpoint, "size %d, root %s, signed by the pinned key", cp.Size, b64(cp.Root))

	if p.Index >= cp.Size {
		return fail(CheckTreeSize, "index %d is not in a tree of size %d", p.Index, cp.Size)
	}
	pass(CheckTreeSize, "index %d < tree size %d", p.Index, cp.Size)

	leafHash := verify.LeafHash(p.ExtraData)
	r.LeafHash = leafHash
	pass(CheckLeafHash, "%s, computed from the leaf", b64(leafHash))

	l, err := verify.LeafAt(p.ExtraData, org, p.Index)
	if err != nil {
		return fail(CheckLeafPosition, "%v", err)
	}
	idx := p.Index
	r.Index = &idx
	r.Event = summarize(l.Event, l.Time.UTC().Format(time.RFC3339Nano), l.IdempotencyKey)
	pass(CheckLeafPosition, "the leaf names org %s and index %d", l.Org, l.Index)

	hashes := make([][]byte, len(p.Hashes))
	for i := range p.Hashes {
		hashes[i] = p.Hashes[i][:]
	}
	if err := verify.Inclusion(leafHash, p.Index, cp.Size, hashes, cp.Root); err != nil {
		return fail(CheckInclusion, "%v", err)
	}
	pass(CheckInclusion, "leaf %d is in the tree of size %d (proof of %d hashes)", p.Index, cp.Size, len(p.Hashes))

	r.Verified = true
	return r
}
