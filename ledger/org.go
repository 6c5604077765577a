package ledger

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/verify"
)

// Org is the handle of one org's log and governance state: appends with
// their state writes and preconditions, leaves, checkpoints, proofs,
// subtree hashes, state reads and retention. Its org ID is checked once,
// when Ledger.Org makes it, and every key it reads or writes is formed
// under that org's prefix, so nothing done through it can reach another
// org. Domain code holds an Org, never the Ledger, and never passes an org
// ID to storage.
//
// An Org may be made before the org's first entry: its reads then fail
// with ErrUnknownOrg, and its first Append creates the log, which it and
// every other handle of the org see from then on. It is safe for
// concurrent use and stays valid until the Ledger is closed.
type Org struct {
	l  *Ledger
	id string
	// found is the org's log once found; an org's info never changes
	// after its first entry is durable.
	found atomic.Pointer[orgInfo]
}

// Org returns the handle of org id. It fails only if id is not a valid
// org ID (ErrInvalidOrg, see leaf.ValidateOrg); it does not require the
// org to have a log yet.
func (l *Ledger) Org(id string) (*Org, error) {
	if err := leaf.ValidateOrg(id); err != nil {
		return nil, err
	}
	return &Org{l: l, id: id}, nil
}

// ID returns the org's ID.
func (h *Org) ID() string { return h.id }

// Origin returns the checkpoint origin of the org's log.
func (h *Org) Origin() string { return verify.Origin(h.l.cfg.LogName, h.id) }

// VerifierKey returns the note verifier key of the log's checkpoints.
func (h *Org) VerifierKey() string { return h.l.vkey }

// info returns the org's log, or ErrUnknownOrg while it has no durable
// entry. The first lookup that finds it is the last.
func (h *Org) info() (*orgInfo, error) {
	if o := h.found.Load(); o != nil {
		return o, nil
	}
	h.l.mu.RLock()
	o := h.l.orgs[h.id]
	h.l.mu.RUnlock()
	if o == nil || o.size.Load() == 0 {
		return nil, fmt.Errorf("%w: %q", ErrUnknownOrg, h.id)
	}
	if err := h.l.ensure(o); err != nil {
		return nil, err
	}
	h.found.Store(o)
	return o, nil
}

// The methods below take an org ID on each call. Domain code MUST use the
// org's handle (Ledger.Org) instead; these serve tools, benchmarks and
// tests that work across orgs by design. Each validates org and calls the
// handle's method of the same name.

// Append appends entries to org's log; see Org.Append.
func (l *Ledger) Append(ctx context.Context, org string, entries []Entry, ack Ack) ([]Receipt, error) {
	h, err := l.Org(org)
	if err != nil {
		return nil, err
	}
	return h.Append(ctx, entries, ack)
}

// Size returns the durable tree size of org's log; see Org.Size.
func (l *Ledger) Size(org string) (uint64, error) {
	h, err := l.Org(org)
	if err != nil {
		return 0, err
	}
	return h.Size()
}

// Checkpoint returns the latest checkpoint of org's log; see
// Org.Checkpoint.
func (l *Ledger) Checkpoint(ctx context.Context, org string) (Checkpoint, error) {
	h, err := l.Org(org)
	if err != nil {
		return Checkpoint{}, err
	}
	return h.Checkpoint(ctx)
}

// CheckpointAt returns the checkpoint of org's log at size; see
// Org.CheckpointAt.
func (l *Ledger) CheckpointAt(ctx context.Context, org string, size uint64) (Checkpoint, error) {
	h, err := l.Org(org)
	if err != nil {
		return Checkpoint{}, err
	}
	return h.CheckpointAt(ctx, size)
}

// CheckpointSizes lists the checkpoint sizes of org's log; see
// Org.CheckpointSizes.
func (l *Ledger) CheckpointSizes(ctx context.Context, org string, fn func(size uint64) bool) error {
	h, err := l.Org(org)
	if err != nil {
		return err
	}
	return h.CheckpointSizes(ctx, fn)
}

// InclusionProof proves leaf index of org's log in the tree of size; see
// Org.InclusionProof.
func (l *Ledger) InclusionProof(ctx context.Context, org string, index, size uint64) ([][]byte, error) {
	h, err := l.Org(org)
	if err != nil {
		return nil, err
	}
	return h.InclusionProof(ctx, index, size)
}

// ConsistencyProof proves that org's tree of size2 extends that of size1;
// see Org.ConsistencyProof.
func (l *Ledger) ConsistencyProof(ctx context.Context, org string, size1, size2 uint64) ([][]byte, error) {
	h, err := l.Org(org)
	if err != nil {
		return nil, err
	}
	return h.ConsistencyProof(ctx, size1, size2)
}

// SubtreeHash returns the hash of the leaves [lo, hi) of org's log; see
// Org.SubtreeHash.
func (l *Ledger) SubtreeHash(ctx context.Context, org string, lo, hi uint64) ([]byte, error) {
	h, err := l.Org(org)
	if err != nil {
		return nil, err
	}
	return h.SubtreeHash(ctx, lo, hi)
}

// Leaf returns leaf index of org's log; see Org.Leaf.
func (l *Ledger) Leaf(ctx context.Context, org string, index uint64) (Leaf, error) {
	h, err := l.Org(org)
	if err != nil {
		return Leaf{}, err
	}
	return h.Leaf(ctx, index)
}

// Leaves streams the leaves [start, end) of org's log; see Org.Leaves.
func (l *Ledger) Leaves(ctx context.Context, org string, start, end uint64, fn func(Leaf) error) error {
	h, err := l.Org(org)
	if err != nil {
		return err
	}
	return h.Leaves(ctx, start, end, fn)
}

// State returns a governance state value of org; see Org.State.
func (l *Ledger) State(ctx context.Context, org string, key []byte) ([]byte, error) {
	h, err := l.Org(org)
	if err != nil {
		return nil, err
	}
	return h.State(ctx, key)
}

// ScanState scans org's governance state by prefix; see Org.ScanState.
func (l *Ledger) ScanState(ctx context.Context, org string, prefix []byte, fn func(key, value []byte) error) error {
	h, err := l.Org(org)
	if err != nil {
		return err
	}
	return h.ScanState(ctx, prefix, fn)
}

// Retention returns org's retention policy; see Org.Retention.
func (l *Ledger) Retention(ctx context.Context, org string) (Retention, error) {
	h, err := l.Org(org)
	if err != nil {
		return Retention{}, err
	}
	return h.Retention(ctx)
}

// SetRetention sets org's retention window; see Org.SetRetention.
func (l *Ledger) SetRetention(ctx context.Context, org string, window time.Duration) error {
	h, err := l.Org(org)
	if err != nil {
		return err
	}
	return h.SetRetention(ctx, window)
}

// Purge purges org's payloads outside its retention window; see Org.Purge.
func (l *Ledger) Purge(ctx context.Context, org string) (Retention, error) {
	h, err := l.Org(org)
	if err != nil {
		return Retention{}, err
	}
	return h.Purge(ctx)
}
