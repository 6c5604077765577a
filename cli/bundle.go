package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nuxari/nuxari/internal/strictjson"
	"github.com/nuxari/nuxari/ledger/verify"
)

// BundleVersion is the version of the proof bundle format.
const BundleVersion = 1

// Bundle is a self-contained proof that one event is in an org's log,
// written by "nuxctl ledger prove" and checked offline by "nuxctl verify".
// It is one JSON object (byte strings in canonical standard base64, sizes
// and indexes as JSON integers of at most 2^53-1):
//
//	{
//	  "version": 1,
//	  "org": "acme",                        // the org whose log it is
//	  "log_origin": "nuxari/orgs/acme",     // the checkpoints' origin line
//	  "verifier_key": "nuxari+1a2b3c4d+AQ…", // note verifier key of the log
//	  "index": 7,                           // the event's leaf index
//	  "leaf": "eyJldmVudCI6…",              // the leaf bytes, verbatim (RFC 8785 JSON)
//	  "leaf_hash": "…",                     // RFC 6962 SHA-256(0x00 || leaf)
//	  "tree_size": 12,                      // the size of the checkpoint's tree
//	  "proof": ["…", …],                    // RFC 6962 inclusion proof of index in tree_size
//	  "checkpoint": "nuxari/orgs/acme\n12\n…\n\n— nuxari …\n", // C2SP tlog-checkpoint signed note
//	  "consistency": {                      // optional (ledger prove --consistency-from)
//	    "from_size": 5,                     // an earlier checkpoint's size
//	    "from_checkpoint": "…",             // that checkpoint's signed note
//	    "proof": ["…", …]                   // RFC 6962 consistency proof from_size → tree_size
//	  }
//	}
//
// A verifier MUST NOT trust "verifier_key" or "log_origin": it pins both
// (from the org's settings, obtained out of band) and only compares them
// with the bundle's, to name a mismatch precisely.
type Bundle struct {
	Version     int                `json:"version"`
	Org         string             `json:"org"`
	LogOrigin   string             `json:"log_origin"`
	VerifierKey string             `json:"verifier_key"`
	Index       uint64             `json:"index"`
	Leaf        []byte             `json:"leaf"`
	LeafHash    []byte             `json:"leaf_hash"`
	TreeSize    uint64             `json:"tree_size"`
	Proof       [][]byte           `json:"proof"`
	Checkpoint  string             `json:"checkpoint"`
	Consistency *BundleConsistency `json:"consistency,omitempty"`
}

// BundleConsistency proves that the bundle's tree extends an earlier
// checkpoint's.
type BundleConsistency struct {
	FromSize       uint64   `json:"from_size"`
	FromCheckpoint string   `json:"from_checkpoint"`
	Proof          [][]byte `json:"proof"`
}

// MarshalBundle encodes b, indented, with a final newline.
func MarshalBundle(b *Bundle) ([]byte, error) {
	c := *b
	if c.Proof == nil {
		c.Proof = [][]byte{}
	}
	if c.Consistency != nil && c.Consistency.Proof == nil {
		cc := *c.Consistency
		cc.Proof = [][]byte{}
		c.Consistency = &cc
	}
	out, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// ParseBundle decodes a version 1 bundle by the rules of strictjson:
// unknown, duplicate and case-variant members are refused at every level,
// every member but "consistency" is required, integers are at most
// 2^53-1 and byte strings are canonical base64 (docs/proof-bundle.md).
func ParseBundle(data []byte) (*Bundle, error) {
	var b Bundle
	if err := strictjson.Unmarshal(data, &b); err != nil {
		// Name another version as such; its members may differ.
		var probe struct {
			Version *int `json:"version"`
		}
		if json.Unmarshal(data, &probe) != nil {
			return nil, fmt.Errorf("not a JSON proof bundle: %w", err)
		}
		if probe.Version != nil && *probe.Version != BundleVersion {
			return nil, fmt.Errorf("proof bundle version %d is not supported (want %d)", *probe.Version, BundleVersion)
		}
		return nil, fmt.Errorf("malformed proof bundle: %w", err)
	}
	if b.Version != BundleVersion {
		return nil, fmt.Errorf("proof bundle version %d is not supported (want %d)", b.Version, BundleVersion)
	}
	switch {
	case b.Checkpoint == "":
		return nil, fmt.Errorf("malformed proof bundle: no checkpoint")
	case len(b.Leaf) == 0:
		return nil, fmt.Errorf("malformed proof bundle: no leaf bytes")
	case b.Consistency != nil && b.Consistency.FromCheckpoint == "":
		return nil, fmt.Errorf("malformed proof bundle: consistency without from_checkpoint")
	}
	return &b, nil
}

// Pins are what a verifier trusts, given on its command line.
type Pins struct {
	VerifierKey string
	Origin      string
	// Org, when set, must be the bundle's org. When empty, the bundle's
	// org must be the one the pinned origin names ("…/orgs/<org>").
	Org string
}

// Check names, in the order they run; stable for scripts.
const (
	CheckBundle       = "bundle"
	CheckVerifierKey  = "verifier_key"
	CheckOrigin       = "origin"
	CheckCheckpoint   = "checkpoint"
	CheckTreeSize     = "tree_size"
	CheckLeafHash     = "leaf_hash"
	CheckLeafPosition = "leaf_position"
	CheckInclusion    = "inclusion"
	CheckConsistency  = "consistency"
)

// CheckResult is the outcome of one check.
type CheckResult struct {
	Check  string `json:"check"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// VerifyResult is what "nuxctl verify --json" prints: a stable object.
// Verified is true only when every check passed; Failure names the first
// one that did not (and the checks after it did not run).
type VerifyResult struct {
	File string `json:"file"`
	// Format is "tlog-proof" for a C2SP tlog-proof, absent for a JSON
	// bundle.
	Format      string        `json:"format,omitempty"`
	Verified    bool          `json:"verified"`
	Org         string        `json:"org,omitempty"`
	LogOrigin   string        `json:"log_origin"`
	VerifierKey string        `json:"verifier_key"`
	Index       *uint64       `json:"index,omitempty"`
	TreeSize    uint64        `json:"tree_size,omitempty"`
	RootHash    []byte        `json:"root_hash,omitempty"`
	LeafHash    []byte        `json:"leaf_hash,omitempty"`
	Event       *EventSummary `json:"event,omitempty"`
	// ConsistencyFrom is the earlier checkpoint's size when the bundle
	// proves consistency.
	ConsistencyFrom *uint64       `json:"consistency_from,omitempty"`
	Checks          []CheckResult `json:"checks"`
	Failure         *CheckResult  `json:"failure,omitempty"`
}

// EventSummary describes the verified event.
type EventSummary struct {
	Time           string `json:"time"`
	Type           string `json:"type,omitempty"`
	Actor          string `json:"actor,omitempty"`
	Subject        string `json:"subject,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// fail records check as failed, with its detail, and returns r.
func (r *VerifyResult) fail(check, format string, args ...any) *VerifyResult {
	c := CheckResult{Check: check, Detail: fmt.Sprintf(format, args...)}
	r.Checks = append(r.Checks, c)
	r.Failure = &c
	return r
}

// pass records check as passed, with its detail.
func (r *VerifyResult) pass(check, format string, args ...any) {
	r.Checks = append(r.Checks, CheckResult{Check: check, OK: true, Detail: fmt.Sprintf(format, args...)})
}

// VerifyBundle checks the bundle file data against pins, with no network
// access, and stops at the first failure.
func VerifyBundle(file string, data []byte, pins Pins) *VerifyResult {
	r := &VerifyResult{File: file, LogOrigin: pins.Origin, VerifierKey: pins.VerifierKey, Checks: []CheckResult{}}
	fail, pass := r.fail, r.pass

	b, err := ParseBundle(data)
	if err != nil {
		return fail(CheckBundle, "%v", err)
	}
	pass(CheckBundle, "version %d, event %d, tree size %d", b.Version, b.Index, b.TreeSize)

	v, err := verify.NewVerifier(pins.VerifierKey, pins.Origin)
	if err != nil {
		return fail(CheckVerifierKey, "the pinned --key is not usable: %v", err)
	}
	if b.VerifierKey != pins.VerifierKey {
		return fail(CheckVerifierKey, "the bundle's verifier key %q differs from the pinned key %q", b.VerifierKey, pins.VerifierKey)
	}
	pass(CheckVerifierKey, "the bundle names the pinned key")

	if b.LogOrigin != pins.Origin {
		return fail(CheckOrigin, "the bundle's log origin %q differs from the pinned origin %q", b.LogOrigin, pins.Origin)
	}
	switch {
	case pins.Org != "" && b.Org != pins.Org:
		return fail(CheckOrigin, "the bundle is for org %q, not the pinned org %q", b.Org, pins.Org)
	case pins.Org == "" && !strings.HasSuffix(pins.Origin, "/orgs/"+b.Org):
		return fail(CheckOrigin, "the bundle's org %q is not the org of the pinned origin %q", b.Org, pins.Origin)
	}
	r.Org = b.Org
	pass(CheckOrigin, "%s (org %s)", pins.Origin, b.Org)

	cp, err := v.Checkpoint([]byte(b.Checkpoint))
	if err != nil {
		return fail(CheckCheckpoint, "%v", err)
	}
	r.TreeSize, r.RootHash = cp.Size, cp.Root
	pass(CheckCheckpoint, "size %d, root %s, signed by the pinned key", cp.Size, b64(cp.Root))

	if cp.Size != b.TreeSize {
		return fail(CheckTreeSize, "the checkpoint is for tree size %d but the bundle says %d", cp.Size, b.TreeSize)
	}
	if b.Index >= cp.Size {
		return fail(CheckTreeSize, "index %d is not in a tree of size %d", b.Index, cp.Size)
	}
	pass(CheckTreeSize, "index %d < tree size %d", b.Index, cp.Size)

	if err := verify.Leaf(b.Leaf, b.LeafHash); err != nil {
		return fail(CheckLeafHash, "%v: the leaf hashes to %s, the bundle says %s", err, b64(verify.LeafHash(b.Leaf)), b64(b.LeafHash))
	}
	r.LeafHash = b.LeafHash
	pass(CheckLeafHash, "%s", b64(b.LeafHash))

	l, err := verify.LeafAt(b.Leaf, b.Org, b.Index)
	if err != nil {
		return fail(CheckLeafPosition, "%v", err)
	}
	idx := b.Index
	r.Index = &idx
	r.Event = summarize(l.Event, l.Time.UTC().Format(time.RFC3339Nano), l.IdempotencyKey)
	pass(CheckLeafPosition, "the leaf names org %s and index %d", l.Org, l.Index)

	if err := verify.Inclusion(b.LeafHash, b.Index, cp.Size, b.Proof, cp.Root); err != nil {
		return fail(CheckInclusion, "%v", err)
	}
	pass(CheckInclusion, "leaf %d is in the tree of size %d (proof of %d hashes)", b.Index, cp.Size, len(b.Proof))

	if c := b.Consistency; c != nil {
		old, err := v.Checkpoint([]byte(c.FromCheckpoint))
		if err != nil {
			return fail(CheckConsistency, "the earlier checkpoint: %v", err)
		}
		if old.Size != c.FromSize {
			return fail(CheckConsistency, "the earlier checkpoint is for tree size %d but the bundle says %d", old.Size, c.FromSize)
		}
		if old.Size > cp.Size {
			return fail(CheckConsistency, "the earlier checkpoint's size %d is larger than %d", old.Size, cp.Size)
		}
		if err := verify.Consistency(old.Size, cp.Size, c.Proof, old.Root, cp.Root); err != nil {
			return fail(CheckConsistency, "%v", err)
		}
		from := old.Size
		r.ConsistencyFrom = &from
		pass(CheckConsistency, "the tree of size %d (root %s) extends the earlier tree of size %d (root %s)", cp.Size, b64(cp.Root), old.Size, b64(old.Root))
	}
	r.Verified = true
	return r
}

// summarize extracts what a person wants to see of an event body.
func summarize(event []byte, t, key string) *EventSummary {
	var body struct {
		Type    string `json:"type"`
		Actor   string `json:"actor"`
		Subject string `json:"subject"`
	}
	_ = json.Unmarshal(event, &body) // the body's shape is the server's; show what parses
	return &EventSummary{Time: t, Type: body.Type, Actor: body.Actor, Subject: body.Subject, IdempotencyKey: key}
}
