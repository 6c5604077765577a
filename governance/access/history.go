package access

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/store"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/ledger"
)

// History: finished requests, plans, ended access grants, resolved
// findings and ended reviews stay in the org's state, listable, for its
// retention window (the log's: ledger.Retention); then PruneHistory
// deletes them. Their events stay in the log for as long as the log keeps
// them.

// maxPruneKeys bounds the records one prune event deletes (a review goes
// with all its items, in an event of its own).
const maxPruneKeys = 1000

// pruneEvery is how often the schedule prunes an org.
const pruneEvery = time.Hour

// PruneHistory deletes o's access records that ended before its
// retention window ("access.history.pruned", actor "system", with what
// went), in events of at most maxPruneKeys records.
func (s *Service) PruneHistory(ctx context.Context, o store.Org) error {
	ret, err := o.Log().Retention(ctx)
	if err != nil {
		return err
	}
	before := s.env.Now().Add(-ret.Window)
	for {
		c := store.Change{Require: map[string][]byte{}}
		counts := map[string]int{"requests": 0, "plans": 0, "grants": 0, "findings": 0, "reviews": 0}
		full := func() bool { return len(c.Require) >= maxPruneKeys }
		take := func(kind, key string, raw []byte) {
			c.Require[key] = raw
			c.Delete = append(c.Delete, key)
			counts[kind]++
		}
		// A plan goes once it has ended; its request with it.
		var perr error
		err := o.Scan(ctx, prefixPlan, "", func(k string, v []byte) bool {
			var pl Plan
			if perr = decode(k, v, &pl); perr != nil {
				return false
			}
			pl = s.planView(ctx, o, pl)
			if !planEnded(pl.State) || pl.Completed.IsZero() || !pl.Completed.Before(before) {
				return !full()
			}
			if pl.Reason == "request" && pl.RequestID != "" {
				r, raw, err := loadRequest(ctx, o, pl.RequestID)
				if err == nil && r.State == RequestPending {
					return !full()
				}
				if err == nil {
					take("requests", prefixRequest+r.ID, raw)
				}
			}
			take("plans", k, v)
			return !full()
		})
		if err == nil {
			err = perr
		}
		if err == nil && !full() {
			err = scanEnded(ctx, o, prefixGrant, func(g *Grant) bool {
				return g.State == GrantRevoked && !g.Ended.IsZero() && g.Ended.Before(before)
			}, func(k string, v []byte) bool { take("grants", k, v); return !full() })
		}
		if err == nil && !full() {
			err = scanEnded(ctx, o, prefixFinding, func(f *Finding) bool {
				return f.State == FindingResolved && f.Resolved.Before(before)
			}, func(k string, v []byte) bool { take("findings", k, v); return !full() })
		}
		if err != nil && !isNotFound(err) {
			return err
		}
		if len(c.Require) > 0 {
			if err := s.commitPrune(ctx, o, c, counts, before); err != nil {
				return err
			}
			if full() {
				continue
			}
		}
		return s.pruneReviews(ctx, o, before)
	}
}

// pruneReviews deletes the reviews that ended before before, each with
// its items in one event.
func (s *Service) pruneReviews(ctx context.Context, o store.Org, before time.Time) error {
	var ended []string
	err := scanEnded(ctx, o, prefixReview, func(r *Review) bool {
		return r.State != ReviewOpen && !r.Completed.IsZero() && r.Completed.Before(before)
	}, func(k string, _ []byte) bool { ended = append(ended, k[len(prefixReview):]); return true })
	if err != nil && !isNotFound(err) {
		return err
	}
	for _, id := range ended {
		_, raw, err := loadReview(ctx, o, id)
		if err != nil {
			return err
		}
		c := store.Change{Require: map[string][]byte{prefixReview + id: raw}, Delete: []string{prefixReview + id}}
		if err := o.Scan(ctx, prefixReviewItem+id+"/", "", func(k string, _ []byte) bool {
			c.Delete = append(c.Delete, k)
			return true
		}); err != nil && !isNotFound(err) {
			return err
		}
		counts := map[string]int{"requests": 0, "plans": 0, "grants": 0, "findings": 0, "reviews": 1}
		if err := s.commitPrune(ctx, o, c, counts, before); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) commitPrune(ctx context.Context, o store.Org, c store.Change, counts map[string]int, before time.Time) error {
	data := map[string]any{"before": before}
	for k, n := range counts {
		data[k] = n
	}
	c.Event = core.NewEvent(ctx, ec.AccessHistoryPruned, ec.System, o.ID(), data)
	_, err := o.Commit(ctx, ledger.AckDurable, c)
	// A record changed under the prune: the next round sees it.
	return core.Conflict(err)
}

// scanEnded calls take with the key and value of each record under
// prefix that ended says is over, until take returns false.
func scanEnded[T any](ctx context.Context, o store.Org, prefix string, ended func(*T) bool, take func(k string, v []byte) bool) error {
	var derr error
	err := o.Scan(ctx, prefix, "", func(k string, v []byte) bool {
		var x T
		if derr = decode(k, v, &x); derr != nil {
			return false
		}
		if !ended(&x) {
			return true
		}
		return take(k, v)
	})
	if err == nil {
		err = derr
	}
	return err
}

func decode(k string, v []byte, x any) error {
	if err := json.Unmarshal(v, x); err != nil {
		return fmt.Errorf("state %q: %w", k, err)
	}
	return nil
}

func planEnded(state string) bool {
	switch state {
	case PlanDone, PlanFailed, PlanRejected, PlanExpired, PlanCanceled:
		return true
	}
	return false
}

// pruneDue reports whether o was last pruned pruneEvery ago or more, and
// if so marks it pruned now.
func (s *Service) pruneDue(o store.Org) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.env.Now()
	if last, ok := s.pruned[o.ID()]; ok && now.Sub(last) < pruneEvery {
		return false
	}
	if s.pruned == nil {
		s.pruned = map[string]time.Time{}
	}
	s.pruned[o.ID()] = now
	return true
}
