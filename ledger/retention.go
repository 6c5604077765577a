package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/storage"
)

// purgeChunk is how many leaves one purge batch rewrites.
const purgeChunk = 4096

// Retention is an org's retention policy and purge progress.
type Retention struct {
	// Window: entries younger than this are never purged.
	Window time.Duration
	// PurgedThrough: leaves [0, PurgedThrough) have had their payloads
	// purged.
	PurgedThrough uint64
}

// retention reads org's retention: the purge progress from its 'r'
// record and the window from its 'w' record, which appends write in the
// batch of the event that changes it (the 'r' record's window is kept
// for data written before 'w' existed).
func (l *Ledger) retention(o *orgInfo) (Retention, error) {
	r := Retention{Window: l.cfg.DefaultRetention}
	v, err := l.db.Get(o.keys.retention())
	switch {
	case err == nil:
		ok := len(v) == 16
		if ok {
			r = Retention{Window: time.Duration(binary.BigEndian.Uint64(v)), PurgedThrough: binary.BigEndian.Uint64(v[8:])}
		}
		if !ok {
			return Retention{}, o.corrupt("malformed retention record")
		}
	case !errors.Is(err, storage.ErrNotFound):
		return Retention{}, err
	}
	v, err = l.db.Get(o.keys.window())
	switch {
	case err == nil:
		ok := len(v) == 8
		if ok {
			r.Window = time.Duration(binary.BigEndian.Uint64(v))
		}
		if !ok {
			return Retention{}, o.corrupt("malformed retention window")
		}
	case !errors.Is(err, storage.ErrNotFound):
		return Retention{}, err
	}
	return r, nil
}

func marshalWindow(w time.Duration) []byte { return binary.BigEndian.AppendUint64(nil, uint64(w)) }

func (r Retention) marshal() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(r.Window))
	return binary.BigEndian.AppendUint64(b, r.PurgedThrough)
}

// Retention returns the org's retention policy.
func (h *Org) Retention(ctx context.Context) (Retention, error) {
	o, err := h.info()
	if err != nil {
		return Retention{}, err
	}
	return h.l.retention(o)
}

// SetRetention sets the org's retention window; it must be positive. A
// window that must agree with an event is set by that event's entry
// instead (Entry.Retention), in the same batch.
func (h *Org) SetRetention(ctx context.Context, window time.Duration) error {
	if window <= 0 {
		return fmt.Errorf("%w: %v", ErrInvalidRetention, window)
	}
	o, err := h.info()
	if err != nil {
		return err
	}
	b := h.l.db.NewBatch(0)
	defer b.Close()
	b.Set(o.keys.window(), marshalWindow(window))
	return h.l.commitSync(b)
}

// Purge removes the payloads of the org's leaves older than the retention
// window, keeping their hashes, so every proof stays valid. Leaves inside
// the window are never touched. It returns the new retention state.
func (h *Org) Purge(ctx context.Context) (Retention, error) {
	o, err := h.info()
	if err != nil {
		return Retention{}, err
	}
	h.l.retMu.Lock()
	defer h.l.retMu.Unlock()
	r, err := h.l.retention(o)
	if err != nil {
		return Retention{}, err
	}
	cutoff := h.l.cfg.Clock().Add(-r.Window)
	size := o.size.Load()
	// Leaf times never decrease, so the leaves to purge are a prefix.
	var searchErr error
	n := r.PurgedThrough + uint64(sort.Search(int(size-r.PurgedThrough), func(i int) bool {
		t, err := h.l.leafTime(o, r.PurgedThrough+uint64(i))
		if err != nil {
			searchErr = err
			return true
		}
		return !t.Before(cutoff)
	}))
	if searchErr != nil {
		return Retention{}, searchErr
	}
	for r.PurgedThrough < n {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		end := min(n, r.PurgedThrough+purgeChunk)
		b := h.l.db.NewBatch(0)
		for i := r.PurgedThrough; i < end; i++ {
			var lh []byte
			if lh, err = h.l.nodeHash(o, size, leafID(i)); err != nil {
				b.Close()
				return r, err
			}
			b.Set(o.keys.leaf(i), lh)
		}
		next := Retention{Window: r.Window, PurgedThrough: end}
		b.Set(o.keys.retention(), next.marshal())
		err := h.l.commitSync(b)
		b.Close()
		if err != nil {
			return r, err
		}
		r = next
	}
	return r, nil
}

// leafTime returns the time stamped in a stored leaf.
func (l *Ledger) leafTime(o *orgInfo, index uint64) (time.Time, error) {
	v, err := l.db.Get(o.keys.leaf(index))
	if err != nil {
		return time.Time{}, err
	}
	if len(v) <= purgedLen {
		return time.Time{}, fmt.Errorf("%w: leaf %d", ErrPurged, index)
	}
	return leaf.TimeOf(v)
}
