package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"time"

	"github.com/nuxari/nuxari/ledger/storage"
)

// Checkpoints kept. Every checkpoint is stored when signed, and kept for
// at least Config.CheckpointHorizon. Beyond it, an org keeps:
//
//   - every checkpoint ever handed out: with a receipt, or by Checkpoint
//     or CheckpointAt (to an API caller, into an evidence package). A
//     checkpoint is handed out only once its marker ('k' size) is
//     durable: the signer writes the marker in the checkpoint's own
//     batch when appenders wait for it, and in its next batch for
//     receipts of a checkpoint signed before; Checkpoint and
//     CheckpointAt write it themselves the first time;
//   - its latest checkpoint;
//   - the last checkpoint of each CheckpointSpacing of entry time (the
//     time of the newest entry a checkpoint covers).
//
// So an org's checkpoints beyond the horizon cost at most one record per
// spacing interval plus the ones handed out, whatever the signing rate
// (ten per second for a busy org). Any dropped checkpoint's tree is a
// prefix of the log and stays provable from a kept one.
//
// ThinCheckpoints applies this; the ledger runs it for every org once per
// spacing interval.

// thinChunk bounds the checkpoints one ThinCheckpoints call examines.
const thinChunk = 4096

// thinGrace: a checkpoint is dropped only if its successor's entries are
// at least this old, so that a receipt that loaded it as the latest just
// before the successor was signed has had its marker written.
const thinGrace = time.Minute

// handOut makes the marker of cp, o's latest checkpoint about to be
// handed out, durable.
func (l *Ledger) handOut(o *orgInfo, cp *Checkpoint) error {
	if o.marked.Load() == cp.Size {
		return nil
	}
	l.cpMu.RLock()
	defer l.cpMu.RUnlock()
	return l.handOutLocked(o, cp)
}

// handOutLocked is handOut with l.cpMu held (read), so that the
// checkpoint cannot be thinned before its marker is written.
func (l *Ledger) handOutLocked(o *orgInfo, cp *Checkpoint) error {
	if o.marked.Load() == cp.Size {
		return nil
	}
	l.sendMu.RLock()
	closed := l.closed
	l.sendMu.RUnlock()
	if closed {
		return ErrClosed
	}
	if _, err := l.db.Get(o.keys.handedOut(cp.Size)); err == nil {
		return nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	b := l.db.NewBatch(0)
	defer b.Close()
	b.Set(o.keys.handedOut(cp.Size), nil)
	if err := l.commitSync(b); err != nil {
		return err
	}
	if latest := o.cp.Load(); latest != nil && latest.Size == cp.Size {
		o.marked.Store(cp.Size)
	}
	return nil
}

// ThinCheckpoints drops the org's checkpoints that the keeping rules
// above do not keep, examining at most a few thousand from where the
// previous call stopped; more reports that it stopped early. A dropped
// checkpoint is ErrNotFound for CheckpointAt.
func (h *Org) ThinCheckpoints(ctx context.Context) (dropped int, more bool, err error) {
	o, err := h.info()
	if err != nil {
		return 0, false, err
	}
	l := h.l
	if l.cfg.CheckpointHorizon < 0 {
		return 0, false, nil
	}
	l.cpMu.Lock()
	defer l.cpMu.Unlock()
	latest := o.cp.Load()
	if latest == nil {
		return 0, false, nil
	}
	now := l.cfg.Clock()
	cutoff, grace := now.Add(-l.cfg.CheckpointHorizon), now.Add(-thinGrace)
	spacing := l.cfg.CheckpointSpacing.Nanoseconds()
	var decided uint64
	if v, err := l.db.Get(o.keys.thinned()); err == nil && len(v) == 8 {
		decided = binary.BigEndian.Uint64(v)
	} else if err == nil {
		return 0, false, o.corrupt("malformed checkpoint thinning record")
	} else if !errors.Is(err, storage.ErrNotFound) {
		return 0, false, err
	}
	was := decided
	lo, hi := o.keys.checkpoint(decided+1), o.keys.checkpoint(latest.Size+1)
	it, err := l.db.NewIter(ctx, lo, hi)
	if err != nil {
		return 0, false, err
	}
	defer it.Close()
	type cand struct {
		size   uint64
		bucket int64
	}
	var prev *cand
	var drop []uint64
	examined := 0
	for ok := it.First(); ok; ok = it.Next() {
		size := binary.BigEndian.Uint64(it.Key()[len(it.Key())-8:])
		t, err := l.leafTime(o, size-1)
		if errors.Is(err, ErrPurged) {
			break // entries past retention: their checkpoints stay
		}
		if err != nil {
			return 0, false, err
		}
		if prev != nil {
			// prev is dropped if a later checkpoint of its interval, old
			// enough, stands for it and it was never handed out.
			if prev.bucket == t.UnixNano()/spacing && t.Before(grace) {
				switch _, err := l.db.Get(o.keys.handedOut(prev.size)); {
				case errors.Is(err, storage.ErrNotFound):
					drop = append(drop, prev.size)
				case err != nil:
					return 0, false, err
				}
			}
			decided = prev.size
			prev = nil
		}
		if examined++; size == latest.Size || !t.Before(cutoff) {
			break
		}
		if examined > thinChunk {
			more = true
			break
		}
		prev = &cand{size: size, bucket: t.UnixNano() / spacing}
	}
	if err := it.Error(); err != nil {
		return 0, false, err
	}
	if len(drop) == 0 && decided == was {
		return 0, more, nil // nothing new decided: no write
	}
	b := l.db.NewBatch(0)
	defer b.Close()
	for _, s := range drop {
		b.Delete(o.keys.checkpoint(s))
	}
	b.Set(o.keys.thinned(), be64(decided))
	if err := l.commitSync(b); err != nil {
		return 0, false, err
	}
	return len(drop), more, nil
}

// thinLoop thins the checkpoints of every org in use once per
// CheckpointSpacing, until the ledger closes.
func (l *Ledger) thinLoop() {
	defer close(l.thinDone)
	if l.cfg.CheckpointHorizon < 0 {
		return
	}
	t := time.NewTicker(l.cfg.CheckpointSpacing)
	defer t.Stop()
	for {
		select {
		case <-l.thinStop:
			return
		case <-t.C:
		}
		l.thinPass()
	}
}

// thinPass thins the checkpoints of every org in use, stopping early if
// the ledger closes.
func (l *Ledger) thinPass() {
	l.mu.RLock()
	var ids []string
	for id, o := range l.orgs {
		// An org not used since Open is left unverified and unloaded: no
		// checkpoint is added to it while it is idle, and it is thinned
		// from its first use on.
		if o.inUse.Load() {
			ids = append(ids, id)
		}
	}
	l.mu.RUnlock()
	for _, id := range ids {
		h, err := l.Org(id)
		if err != nil {
			continue
		}
		for more := true; more; {
			select {
			case <-l.thinStop:
				return
			default:
			}
			var n int
			if n, more, err = h.ThinCheckpoints(context.Background()); err != nil {
				l.cfg.Logger.Error("thin checkpoints", slog.String("org", id), slog.String("error", err.Error()))
				break
			}
			if n > 0 {
				l.cfg.Logger.Debug("checkpoints thinned", slog.String("org", id), slog.Int("dropped", n))
			}
		}
	}
}
