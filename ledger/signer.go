package ledger

import (
	"bytes"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"github.com/nuxari/nuxari/ledger/verify"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
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
}

func newSigner(l *Ledger) *signer {
	m := l.cfg.CheckpointInterval / 10
	if m > 10*time.Millisecond {
		m = 10 * time.Millisecond
	}
	return &signer{l: l, pending: make(map[*orgInfo]*pendingOrg), margin: m}
}

func (s *signer) add(info *orgInfo, size uint64, root []byte, at time.Time, w *request) {
	p := s.pending[info]
	if p == nil {
		p = &pendingOrg{info: info, since: at}
		s.pending[info] = p
	}
	if size > p.size {
		p.size, p.root = size, root
	}
	if w != nil {
		p.waiters = append(p.waiters, w)
	}
}

func (s *signer) merge(w signWork) {
	for _, u := range w.updates {
		s.add(u.info, u.size, u.root, w.at, nil)
	}
	for _, wt := range w.waiters {
		if p := s.pending[wt.info]; p != nil {
			p.waiters = append(p.waiters, wt.req)
			continue
		}
		// Every durable size is pending until signed, so a waiter with no
		// pending org is covered by a checkpoint issued since its commit.
		if cp := wt.info.cp.Load(); cp != nil && cp.Size >= wt.req.need {
			setCheckpoint(wt.req, cp)
			wt.req.finish(nil)
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
	if len(due) > 0 {
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
	b := s.l.db.NewBatch()
	defer b.Close()
	cps := make([]*Checkpoint, len(due))
	for i, p := range due {
		cp, err := s.l.signCheckpoint(p.info, p.size, p.root)
		if err != nil {
			s.l.fail(err)
			s.failAll(fmt.Errorf("%w: %w", ErrFailed, err))
			return
		}
		cps[i] = cp
		_ = b.Set(p.info.keys.checkpoint(cp.Size), cp.Note, nil)
	}
	if err := s.l.commitSync(b); err != nil {
		s.failAll(fmt.Errorf("store checkpoints: %w", err))
		return
	}
	for i, p := range due {
		cp := cps[i]
		p.info.cp.Store(cp)
		p.info.cpAt.Store(s.l.cfg.Clock().UnixNano())
		for _, w := range p.waiters {
			setCheckpoint(w, cp)
			w.finish(nil)
		}
		delete(s.pending, p.info)
	}
	s.l.m.signed(len(due), time.Since(start))
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
// the org's latest checkpoint, using a consistency proof built from the
// stored node hashes, and signs it. It never signs a tree that does not
// extend what was signed before.
func (l *Ledger) signCheckpoint(o *orgInfo, size uint64, root []byte) (*Checkpoint, error) {
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
