package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/storage"
)

// Entry is one event to append.
type Entry struct {
	// Event is a JSON object, at most MaxEntrySize bytes, which callers
	// SHOULD give in RFC 8785 canonical form. It is stored verbatim
	// inside the leaf.
	Event []byte
	// IdempotencyKey, if set, makes the append idempotent: a later entry
	// with the same key and event returns the first entry's receipt
	// (Duplicate set) and adds no leaf; the same key with a different
	// event fails with ErrIdempotencyConflict.
	IdempotencyKey string
	// Conditions must all hold, against the org's governance state as of
	// this commit, or the whole Append fails with ErrPrecondition.
	Conditions []Condition
	// Writes are applied to the org's governance state in the same
	// durable batch as the entry's leaf.
	Writes []Write
	// Retention, if positive, sets the org's retention window in the same
	// durable batch as the entry's leaf (see SetRetention).
	Retention time.Duration
}

// Condition requires the org's state key Key to hold exactly Value; a nil
// Value requires the key to be absent.
type Condition struct {
	Key   []byte
	Value []byte
}

// Write sets the org's state key Key to Value, or deletes it.
type Write struct {
	Key    []byte
	Value  []byte
	Delete bool
}

// Ack says when Append returns.
type Ack int

const (
	// AckDurable returns once the entries are durable.
	AckDurable Ack = iota
	// AckCheckpoint returns once a signed checkpoint covers the entries;
	// each Receipt then carries it.
	AckCheckpoint
)

// Receipt is the acknowledgement of one entry.
type Receipt struct {
	Index     uint64
	LeafHash  []byte
	Time      time.Time
	Duplicate bool
	// Checkpoint covers Index (AckCheckpoint only).
	Checkpoint *Checkpoint
}

type request struct {
	org      string
	entries  []Entry
	ack      Ack
	bytes    int
	receipts []Receipt
	err      error
	done     chan struct{}
	// reads: the request has idempotency keys or conditions.
	reads bool
	// need is the tree size a checkpoint must reach (AckCheckpoint).
	need uint64
}

func (r *request) finish(err error) {
	r.err = err
	close(r.done)
}

// Append appends entries to the org's log as one unit: all of them commit
// in the same durable batch, or none does. It returns one receipt per
// entry. The org's log is created by its first append.
//
// If ctx ends before the receipt, Append returns the context's error, but
// the entries may still commit: retry with the same idempotency keys.
// When the committer is behind, Append blocks (backpressure).
func (h *Org) Append(ctx context.Context, entries []Entry, ack Ack) ([]Receipt, error) {
	l := h.l
	n, err := l.validate(entries)
	if err != nil {
		return nil, err
	}
	if err := l.failed(); err != nil {
		return nil, err
	}
	r := &request{org: h.id, entries: entries, ack: ack, bytes: n, done: make(chan struct{})}
	for _, e := range entries {
		r.reads = r.reads || e.IdempotencyKey != "" || len(e.Conditions) > 0
	}
	l.sendMu.RLock()
	if l.closed {
		l.sendMu.RUnlock()
		return nil, ErrClosed
	}
	select {
	case l.queue <- r:
		l.sendMu.RUnlock()
	case <-ctx.Done():
		l.sendMu.RUnlock()
		return nil, ctx.Err()
	}
	select {
	case <-r.done:
		if r.err != nil {
			// A waiter for a checkpoint may fail after its receipts were
			// built: an error carries no receipt.
			return nil, r.err
		}
		return r.receipts, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// validate checks entries and returns their bytes. The org ID was checked
// when its handle was made.
func (l *Ledger) validate(entries []Entry) (int, error) {
	if len(entries) == 0 {
		return 0, fmt.Errorf("%w: no entries", ErrInvalidEntry)
	}
	if len(entries) > l.cfg.MaxBatchEntries {
		return 0, fmt.Errorf("%w: %d entries in one append, limit %d", ErrEntryTooLarge, len(entries), l.cfg.MaxBatchEntries)
	}
	total := 0
	for i, e := range entries {
		if len(e.Event) > MaxEntrySize {
			return 0, fmt.Errorf("%w: entry %d: event of %d bytes, limit %d", ErrEntryTooLarge, i, len(e.Event), MaxEntrySize)
		}
		if err := leaf.ValidateEvent(e.Event); err != nil {
			return 0, fmt.Errorf("entry %d: %w", i, err)
		}
		if err := leaf.ValidateIdempotencyKey(e.IdempotencyKey); err != nil {
			return 0, fmt.Errorf("entry %d: %w", i, err)
		}
		total += len(e.Event)
		for _, c := range e.Conditions {
			if err := validStateKey(c.Key); err != nil {
				return 0, fmt.Errorf("entry %d: condition: %w", i, err)
			}
		}
		if e.Retention < 0 {
			return 0, fmt.Errorf("%w: entry %d: %v", ErrInvalidRetention, i, e.Retention)
		}
		for _, w := range e.Writes {
			if err := validStateKey(w.Key); err != nil {
				return 0, fmt.Errorf("entry %d: write: %w", i, err)
			}
			if len(w.Value) > MaxEntrySize {
				return 0, fmt.Errorf("%w: entry %d: state value of %d bytes, limit %d", ErrEntryTooLarge, i, len(w.Value), MaxEntrySize)
			}
			total += len(w.Key) + len(w.Value)
		}
	}
	if total > l.cfg.MaxBatchBytes {
		return 0, fmt.Errorf("%w: %d bytes in one append, limit %d", ErrEntryTooLarge, total, l.cfg.MaxBatchBytes)
	}
	return total, nil
}

func validStateKey(k []byte) error {
	if len(k) == 0 || len(k) > MaxStateKeySize {
		return fmt.Errorf("%w: state key of %d bytes (1 to %d)", ErrInvalidEntry, len(k), MaxStateKeySize)
	}
	return nil
}

// commitLoop is the single committer: it gathers every queued append, from
// all orgs, into one batch and builds it (see commit).
func (l *Ledger) commitLoop() {
	defer close(l.applyq)
	var carry *request
	for {
		first := carry
		carry = nil
		if first == nil {
			r, ok := <-l.queue
			if !ok {
				return
			}
			first = r
		}
		batch := []*request{first}
		entries, bytes := len(first.entries), first.bytes
	gather:
		for entries < l.cfg.MaxBatchEntries && bytes < l.cfg.MaxBatchBytes {
			select {
			case r, ok := <-l.queue:
				if !ok {
					break gather
				}
				if entries+len(r.entries) > l.cfg.MaxBatchEntries || bytes+r.bytes > l.cfg.MaxBatchBytes {
					carry = r
					break gather
				}
				batch = append(batch, r)
				entries += len(r.entries)
				bytes += r.bytes
			default:
				break gather
			}
		}
		l.commit(batch, entries)
	}
}

// orgBatch is one org's share of a commit.
type orgBatch struct {
	info    *orgInfo
	isNew   bool
	reqs    []*request
	leaves  []newLeaf
	overlay map[string][]byte // state writes earlier in this batch; nil value = deleted
	idem    map[string]idemRef
	out     integrated
}

// idemRef resolves an idempotency key: an existing leaf, or a leaf of this
// batch (pending ≥ 0).
type idemRef struct {
	digest  [32]byte
	pending int
	rec     idemRecord
}

// idemRecord is the stored value of an idempotency key.
type idemRecord struct {
	index    uint64
	time     int64
	leafHash []byte
	digest   [32]byte
}

func (r idemRecord) marshal() []byte {
	b := make([]byte, 0, 80)
	b = binary.BigEndian.AppendUint64(b, r.index)
	b = binary.BigEndian.AppendUint64(b, uint64(r.time))
	b = append(b, r.digest[:]...)
	return append(b, r.leafHash...)
}

func unmarshalIdem(b []byte) (idemRecord, bool) {
	if len(b) != 80 {
		return idemRecord{}, false
	}
	r := idemRecord{index: binary.BigEndian.Uint64(b), time: int64(binary.BigEndian.Uint64(b[8:])), leafHash: append([]byte(nil), b[48:]...)}
	copy(r.digest[:], b[16:48])
	return r, true
}

// planned is how one entry of a request resolves.
type planned struct {
	pending int // index into orgBatch.leaves, or -1 for an existing leaf
	rec     idemRecord
	dup     bool
}

// inflight is a batch applied to Pebble and waiting for its WAL sync.
type inflight struct {
	b       storage.Batch
	order   []*orgBatch
	plans   map[*request][]planned
	entries int
	start   time.Time
}

// commit builds one batch. Three stages run concurrently on consecutive
// batches: the committer builds batch N+2 on the trees as advanced by the
// batches before it, the applier applies batch N+1 to Pebble, and the
// acker waits for batch N's WAL sync and acknowledges it. Batches are
// applied and synced in order; once any fails, the ledger fails and no
// later batch is acknowledged.
func (l *Ledger) commit(batch []*request, entries int) {
	start := time.Now()
	if err := l.failed(); err != nil {
		for _, r := range batch {
			r.finish(err)
		}
		return
	}
	// Idempotency keys and conditions are resolved against the store:
	// let every earlier batch reach it first.
	for _, r := range batch {
		if r.reads {
			l.applying.Wait()
			break
		}
	}
	now := l.cfg.Clock()
	var order []*orgBatch
	byOrg := make(map[string]*orgBatch)
	plans := make(map[*request][]planned, len(batch))
	for _, r := range batch {
		ob := byOrg[r.org]
		if ob == nil {
			ob = &orgBatch{}
			l.mu.RLock()
			ob.info = l.orgs[r.org]
			l.mu.RUnlock()
			if ob.info != nil {
				if err := l.ensure(ob.info); err != nil {
					r.finish(err)
					continue
				}
			} else {
				info, err := l.newOrgInfo(r.org)
				if err != nil {
					r.finish(err)
					continue
				}
				info.ready.Do(func() {}) // a new log: nothing stored to verify
				info.inUse.Store(true)
				ob.info, ob.isNew = info, true
			}
			byOrg[r.org] = ob
			order = append(order, ob)
		}
		p, err := l.plan(ob, r)
		if err != nil {
			r.finish(err)
			continue
		}
		plans[r] = p
		ob.reqs = append(ob.reqs, r)
	}

	b := l.db.NewBatch(entries*700 + 1024)
	for _, ob := range order {
		if len(ob.leaves) == 0 {
			ob.out.state = ob.info.st
			continue
		}
		out, err := integrate(ob.info.id, ob.info.st, now, ob.leaves)
		if err != nil {
			for _, r := range ob.reqs {
				r.finish(err)
			}
			ob.reqs = nil
			ob.leaves = nil
			ob.out.state = ob.info.st
			continue
		}
		ob.out = out
		persist(b, ob)
		for _, r := range ob.reqs {
			for _, e := range r.entries {
				for _, w := range e.Writes {
					if w.Delete {
						b.Delete(ob.info.keys.value(w.Key))
					} else {
						b.Set(ob.info.keys.value(w.Key), w.Value)
					}
				}
				if e.Retention > 0 {
					b.Set(ob.info.keys.window(), marshalWindow(e.Retention))
				}
			}
		}
	}
	// The next batch builds on these trees.
	for _, ob := range order {
		if len(ob.leaves) == 0 {
			continue
		}
		ob.info.st = ob.out.state
		if ob.isNew {
			l.mu.Lock()
			l.orgs[ob.info.id] = ob.info
			l.mu.Unlock()
		}
	}
	l.applying.Add(1)
	l.applyq <- inflight{b: b, order: order, plans: plans, entries: entries, start: start}
}

// applyLoop applies built batches to Pebble in order, without waiting for
// their WAL sync.
func (l *Ledger) applyLoop() {
	defer close(l.ackq)
	for f := range l.applyq {
		if l.failed() == nil {
			if err := f.b.Apply(); err != nil {
				l.fail(err)
				f.b.Close()
				f.b = nil
			}
		}
		l.applying.Done()
		l.ackq <- f
	}
}

// ackLoop waits for each applied batch's WAL sync, in commit order, then
// publishes the new tree sizes and acknowledges.
func (l *Ledger) ackLoop() {
	defer close(l.signq)
	for f := range l.ackq {
		if f.b != nil {
			// An applied batch is waited for before it is closed, even
			// once the ledger has failed (storage.Batch).
			err := f.b.Wait()
			f.b.Close()
			if err != nil {
				l.fail(err)
			}
		}
		if err := l.failed(); err != nil {
			for _, ob := range f.order {
				for _, r := range ob.reqs {
					r.finish(err)
				}
			}
			continue
		}
		l.m.commit(f.entries, time.Since(f.start))
		l.acknowledge(f)
	}
}

func (l *Ledger) acknowledge(f inflight) {
	work := signWork{at: l.cfg.Clock()}
	for _, ob := range f.order {
		size := ob.out.state.size
		if len(ob.leaves) > 0 {
			ob.info.size.Store(size)
			work.updates = append(work.updates, orgUpdate{info: ob.info, size: size, root: ob.out.root, hashes: ob.out.hashes, tip: ob.out.state.hashes})
		}
		first := size - uint64(len(ob.leaves))
		for _, r := range ob.reqs {
			r.receipts = make([]Receipt, len(r.entries))
			for i, p := range f.plans[r] {
				rc := &r.receipts[i]
				if p.pending >= 0 {
					rc.Index, rc.LeafHash, rc.Time = first+uint64(p.pending), ob.out.hashes[p.pending], time.Unix(0, ob.out.time).UTC()
				} else {
					rc.Index, rc.LeafHash, rc.Time = p.rec.index, p.rec.leafHash, time.Unix(0, p.rec.time).UTC()
				}
				rc.Duplicate = p.dup
				if rc.Index+1 > r.need {
					r.need = rc.Index + 1
				}
			}
			if r.ack == AckCheckpoint {
				// A checkpoint is handed out once its marker is durable
				// (checkpoints.go); the signer writes it otherwise.
				if cp := ob.info.cp.Load(); cp != nil && cp.Size >= r.need && ob.info.marked.Load() == cp.Size {
					setCheckpoint(r, cp)
					r.finish(nil)
				} else {
					work.waiters = append(work.waiters, waiter{info: ob.info, req: r})
				}
				continue
			}
			r.finish(nil)
		}
	}
	if len(work.updates) > 0 || len(work.waiters) > 0 {
		l.signq <- work
	}
}

// plan checks r's conditions and idempotency keys against the batch so far
// and the store, and adds its new leaves to ob. It changes ob only if r is
// accepted whole.
func (l *Ledger) plan(ob *orgBatch, r *request) ([]planned, error) {
	keys := ob.info.keys
	for i, e := range r.entries {
		for _, c := range e.Conditions {
			cur, ok, err := l.stateValue(ob, c.Key)
			if err != nil {
				return nil, err
			}
			if c.Value == nil && ok || c.Value != nil && (!ok || !bytes.Equal(cur, c.Value)) {
				return nil, fmt.Errorf("%w: entry %d: key %q", ErrPrecondition, i, c.Key)
			}
		}
	}
	out := make([]planned, len(r.entries))
	var local map[string]int // keys first seen in this request → leaves offset
	base := len(ob.leaves)
	var add []newLeaf
	for i, e := range r.entries {
		out[i].pending = -1
		if e.IdempotencyKey == "" {
			out[i].pending = base + len(add)
			add = append(add, newLeaf{event: e.Event})
			continue
		}
		d := sha256.Sum256(e.Event)
		if j, ok := local[e.IdempotencyKey]; ok {
			if !bytes.Equal(add[j-base].event, e.Event) {
				return nil, fmt.Errorf("%w: key %q", ErrIdempotencyConflict, e.IdempotencyKey)
			}
			out[i].pending, out[i].dup = j, true
			continue
		}
		if ref, ok := ob.idem[e.IdempotencyKey]; ok {
			if ref.digest != d {
				return nil, fmt.Errorf("%w: key %q", ErrIdempotencyConflict, e.IdempotencyKey)
			}
			out[i].pending, out[i].rec, out[i].dup = ref.pending, ref.rec, true
			continue
		}
		if !ob.isNew {
			v, err := l.db.Get(keys.idem(e.IdempotencyKey))
			if err == nil {
				rec, ok := unmarshalIdem(v)
				if !ok {
					return nil, fmt.Errorf("%w: idempotency record of key %q", ErrCorrupt, e.IdempotencyKey)
				}
				if rec.digest != d {
					return nil, fmt.Errorf("%w: key %q", ErrIdempotencyConflict, e.IdempotencyKey)
				}
				out[i].rec, out[i].dup = rec, true
				continue
			} else if err != storage.ErrNotFound {
				return nil, fmt.Errorf("read idempotency record of key %q: %w", e.IdempotencyKey, err)
			}
		}
		if local == nil {
			local = make(map[string]int)
		}
		local[e.IdempotencyKey] = base + len(add)
		out[i].pending = base + len(add)
		add = append(add, newLeaf{event: e.Event, idemKey: e.IdempotencyKey})
	}
	// Accepted: commit the plan to the org batch.
	ob.leaves = append(ob.leaves, add...)
	for k, j := range local {
		if ob.idem == nil {
			ob.idem = make(map[string]idemRef)
		}
		ob.idem[k] = idemRef{digest: sha256.Sum256(ob.leaves[j].event), pending: j}
	}
	for i, p := range out {
		if p.pending < 0 {
			if ob.idem == nil {
				ob.idem = make(map[string]idemRef)
			}
			ob.idem[r.entries[i].IdempotencyKey] = idemRef{digest: p.rec.digest, pending: -1, rec: p.rec}
		}
	}
	for _, e := range r.entries {
		for _, w := range e.Writes {
			if ob.overlay == nil {
				ob.overlay = make(map[string][]byte)
			}
			if w.Delete {
				ob.overlay[string(w.Key)] = nil
			} else {
				ob.overlay[string(w.Key)] = append([]byte{}, w.Value...)
			}
		}
	}
	return out, nil
}

// stateValue reads a governance state key as of this batch.
func (l *Ledger) stateValue(ob *orgBatch, key []byte) ([]byte, bool, error) {
	if v, ok := ob.overlay[string(key)]; ok {
		return v, v != nil, nil
	}
	v, err := l.db.Get(ob.info.keys.value(key))
	if err == storage.ErrNotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read state key %q: %w", key, err)
	}
	return append([]byte{}, v...), true, nil
}

// persist adds one org's integration output to the batch.
func persist(b storage.Batch, ob *orgBatch) {
	k := ob.info.keys
	first := ob.out.state.size - uint64(len(ob.out.records))
	for i, rec := range ob.out.records {
		idx := first + uint64(i)
		b.Set(k.leaf(idx), rec)
		if key := ob.leaves[i].idemKey; key != "" {
			ir := idemRecord{index: idx, time: ob.out.time, leafHash: ob.out.hashes[i], digest: sha256.Sum256(ob.leaves[i].event)}
			b.Set(k.idem(key), ir.marshal())
		}
	}
	persistTiles(b, k, ob.out.tiles)
	b.Set(k.state(), ob.out.state.marshal())
	b.Set(dirKey(dirSize, ob.info.id), be64(ob.out.state.size))
}

func setCheckpoint(r *request, cp *Checkpoint) {
	for i := range r.receipts {
		r.receipts[i].Checkpoint = cp
	}
}
