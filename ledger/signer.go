package ledger

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"

	"github.com/nuxari/nuxari/ledger/verify"
)

// signWork is what the committer hands the signer after one commit.
type signWork struct {
	at      time.Time
	updates []orgUpdate
	waiters []waiter
}

type orgUpdate struct {
	info *orgInfo
	size uint64
	root []byte
	// hashes are the leaf hashes the commit appended: leaves
	// size-len(hashes) … size-1; tip is the committer's compact range of
	// the tree of size (never changed after).
	hashes, tip [][]byte
}

type waiter struct {
	info *orgInfo
	req  *request
}

// pendingOrg is an org with durable entries no checkpoint covers yet.
type pendingOrg struct {
	info    *orgInfo
	size    uint64
	root    []byte
	since   time.Time // when the oldest unsigned entry became durable
	waiters []*request
	// rng is the org's signed compact range (orgInfo.signed) extended
	// with the leaf hashes committed since, in order; nil when they are
	// not all known, and the tree's extension is then proved from
	// storage.
	rng *compact.Range
	// tip is the committer's compact range of the tree of size.
	tip [][]byte
}

// signer issues checkpoints. Policy, per org:
//   - an org with appenders waiting for a checkpoint is signed in the next
//     round (one round follows each commit, so at most once per commit),
//     up to MaxSignaturesPerRound such orgs a round, oldest first;
//   - any org is signed once its oldest unsigned entry is
//     CheckpointInterval minus a margin old, whatever the budget, so no
//     durable entry stays unsigned longer than CheckpointInterval and an
//     org nobody waits on is signed at most about once per interval.
type signer struct {
	l       *Ledger
	pending map[*orgInfo]*pendingOrg
	margin  time.Duration
	// handouts wait for the marker of the checkpoint they are handed
	// (the latest, signed before) to be durable.
	handouts []waiter
}

func newSigner(l *Ledger) *signer {
	m := l.cfg.CheckpointInterval / 10
	if m > 10*time.Millisecond {
		m = 10 * time.Millisecond
	}
	return &signer{l: l, pending: make(map[*orgInfo]*pendingOrg), margin: m}
}

func (s *signer) add(info *orgInfo, size uint64, root []byte, at time.Time, w *request) *pendingOrg {
	p := s.pending[info]
	if p == nil {
		p = &pendingOrg{info: info, since: at}
		if info.signed != nil {
			// A copy: Append changes a range's hashes in place.
			p.rng, _ = rangeFactory.NewRange(0, info.signed.End(), slices.Clone(info.signed.Hashes()))
		}
		s.pending[info] = p
	}
	if size > p.size {
		p.size, p.root = size, root
	}
	if w != nil {
		p.waiters = append(p.waiters, w)
	}
	return p
}

// follow extends p's range with the hashes of a commit that ended at
// size, or drops it if they do not follow on from it.
func (p *pendingOrg) follow(size uint64, hashes [][]byte) {
	if p.rng == nil {
		return
	}
	if p.rng.End()+uint64(len(hashes)) != size {
		p.rng = nil
		return
	}
	for _, h := range hashes {
		if err := p.rng.Append(h, nil); err != nil {
			p.rng = nil
			return
		}
	}
}

func (s *signer) merge(w signWork) {
	for _, u := range w.updates {
		p := s.add(u.info, u.size, u.root, w.at, nil)
		p.follow(u.size, u.hashes)
		if u.size == p.size {
			p.tip = u.tip
		}
	}
	for _, wt := range w.waiters {
		if p := s.pending[wt.info]; p != nil {
			p.waiters = append(p.waiters, wt.req)
			continue
		}
		// Every durable size is pending until signed, so a waiter with no
		// pending org is covered by a checkpoint issued since its commit.
		if cp := wt.info.cp.Load(); cp != nil && cp.Size >= wt.req.need {
			if wt.info.marked.Load() == cp.Size {
				setCheckpoint(wt.req, cp)
				wt.req.finish(nil)
			} else {
				s.handouts = append(s.handouts, wt)
			}
			continue
		}
		wt.req.finish(fmt.Errorf("%w: no checkpoint pending for tree size %d of org %q", ErrFailed, wt.req.need, wt.info.id))
	}
}

func (s *signer) run() {
	// Fire at once: orgs left unsigned by a previous run are pending.
	timer := time.NewTimer(0)
	defer timer.Stop()
	open := true
	for open {
		select {
		case w, ok := <-s.l.signq:
			if !ok {
				open = false
				break
			}
			s.merge(w)
		drain:
			for {
				select {
				case w, ok := <-s.l.signq:
					if !ok {
						open = false
						break drain
					}
					s.merge(w)
				default:
					break drain
				}
			}
		case <-timer.C:
		}
		next := s.round(!open)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if next > 0 {
			timer.Reset(next)
		} else {
			timer.Reset(time.Hour)
		}
	}
}

// round signs the orgs that are due and returns when the next one will be
// (0: none pending). With all set it signs every pending org.
func (s *signer) round(all bool) time.Duration {
	if len(s.pending) == 0 {
		if len(s.handouts) > 0 {
			s.sign(nil)
		}
		return 0
	}
	now := s.l.cfg.Clock()
	var due, waiting []*pendingOrg
	for _, p := range s.pending {
		switch {
		case all || now.Sub(p.since) >= s.l.cfg.CheckpointInterval-s.margin:
			due = append(due, p)
		case len(p.waiters) > 0:
			waiting = append(waiting, p)
		}
	}
	sort.Slice(waiting, func(i, j int) bool { return waiting[i].since.Before(waiting[j].since) })
	if budget := s.l.cfg.MaxSignaturesPerRound; len(waiting) > budget {
		waiting = waiting[:budget]
	}
	due = append(due, waiting...)
	if len(due) > 0 || len(s.handouts) > 0 {
		s.sign(due)
	}
	var next time.Duration
	for _, p := range s.pending {
		d := s.l.cfg.CheckpointInterval - s.margin - now.Sub(p.since)
		if len(p.waiters) > 0 || d <= 0 {
			d = time.Millisecond // budget overflow: next round soon
		}
		if next == 0 || d < next {
			next = d
		}
	}
	return next
}

func (s *signer) sign(due []*pendingOrg) {
	start := time.Now()
	b := s.l.db.NewBatch(0)
	defer b.Close()
	cps := make([]*Checkpoint, len(due))
	for i, p := range due {
		cp, err := s.l.signCheckpoint(p.info, p.size, p.root, p.rng)
		if err != nil {
			s.l.fail(err)
			s.failAll(fmt.Errorf("%w: %w", ErrFailed, err))
			return
		}
		cps[i] = cp
		b.Set(p.info.keys.checkpoint(cp.Size), cp.Note)
		b.Set(dirKey(dirCP, p.info.id), be64(cp.Size))
		if len(p.waiters) > 0 {
			// Handed out with the receipts: kept for good.
			b.Set(p.info.keys.handedOut(cp.Size), nil)
		}
	}
	handouts := s.handouts
	s.handouts = nil
	handed := make([]*Checkpoint, len(handouts))
	for i, h := range handouts {
		// The org's latest: only this goroutine replaces it, after the
		// commit below.
		handed[i] = h.info.cp.Load()
		b.Set(h.info.keys.handedOut(handed[i].Size), nil)
	}
	if err := s.l.commitSync(b); err != nil {
		s.failAll(fmt.Errorf("store checkpoints: %w", err))
		for _, h := range handouts {
			h.req.finish(fmt.Errorf("store checkpoints: %w", err))
		}
		return
	}
	for i, p := range due {
		cp := cps[i]
		p.info.signed = p.signedRange()
		p.info.cp.Store(cp)
		p.info.cpAt.Store(s.l.cfg.Clock().UnixNano())
		if len(p.waiters) > 0 {
			p.info.marked.Store(cp.Size)
		}
		for _, w := range p.waiters {
			setCheckpoint(w, cp)
			w.finish(nil)
		}
		delete(s.pending, p.info)
	}
	for i, h := range handouts {
		if cp := handed[i]; h.info.marked.Load() < cp.Size {
			h.info.marked.Store(cp.Size)
		}
		setCheckpoint(h.req, handed[i])
		h.req.finish(nil)
	}
	if len(due) > 0 {
		s.l.m.signed(len(due), time.Since(start))
	}
}

// signedRange returns the compact range of the tree just signed: the
// one the check followed or, after a check from storage, the
// committer's, if its root is the one signed; nil if neither.
func (p *pendingOrg) signedRange() *compact.Range {
	if p.rng != nil && p.rng.End() == p.size {
		return p.rng
	}
	if p.tip == nil {
		return nil
	}
	r, err := rangeFactory.NewRange(0, p.size, slices.Clone(p.tip))
	if err != nil {
		return nil
	}
	if h, err := r.GetRootHash(nil); err != nil || !bytes.Equal(h, p.root) {
		return nil
	}
	return r
}

func (s *signer) failAll(err error) {
	for k, p := range s.pending {
		for _, w := range p.waiters {
			w.finish(err)
		}
		delete(s.pending, k)
	}
}

// signCheckpoint checks that the tree of the given size and root extends
// the org's latest checkpoint, and signs it. It never signs a tree that
// does not extend what was signed before. With rng, the compact range of
// the latest checkpoint extended by every leaf hash committed since, the
// check is in memory: rng's root must be root. Without, it proves the
// extension with a consistency proof built from the stored node hashes.
func (l *Ledger) signCheckpoint(o *orgInfo, size uint64, root []byte, rng *compact.Range) (*Checkpoint, error) {
	if prev := o.cp.Load(); prev != nil {
		if size < prev.Size {
			return nil, &CorruptionError{Org: o.id, Size: size, Reason: fmt.Sprintf("tree shrank below checkpoint size %d", prev.Size)}
		}
		if size == prev.Size {
			if !bytes.Equal(root, prev.Root) {
				return nil, &CorruptionError{Org: o.id, Size: size, Reason: "root differs from the checkpoint of the same size"}
			}
			return prev, nil
		}
	}
	if rng != nil && rng.End() == size {
		l.m.checks.WithLabelValues("memory").Inc()
		got, err := rng.GetRootHash(nil)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(got, root) {
			return nil, &CorruptionError{Org: o.id, Size: size, Reason: "tree does not extend the latest checkpoint: the root differs from the signed range extended by the leaves committed since"}
		}
	} else if prev := o.cp.Load(); prev != nil {
		l.m.checks.WithLabelValues("storage").Inc()
		p, err := l.consistency(o, prev.Size, size)
		if err != nil {
			return nil, err
		}
		if err := verify.Consistency(prev.Size, size, p, prev.Root, root); err != nil {
			return nil, &CorruptionError{Org: o.id, Size: size, Reason: fmt.Sprintf("tree does not extend checkpoint %d: %v", prev.Size, err)}
		}
	}
	text := log.Checkpoint{Origin: l.Origin(o.id), Size: size, Hash: root}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(text)}, l.signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint of org %q: %w", o.id, err)
	}
	l.cfg.Logger.Debug("checkpoint signed", slog.String("org", o.id), slog.Uint64("size", size))
	return &Checkpoint{Origin: l.Origin(o.id), Size: size, Root: root, Note: signed}, nil
}
