package governance

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	ec "github.com/nuxari/nuxari/internal/eventcatalog"

	"github.com/nuxari/nuxari/governance/agents"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/sessions"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/ledger"
)

// maxSweepKeys bounds the records one sweep event deletes; an org with
// more is swept in several events.
const maxSweepKeys = 1000

// swept are the records a sweep deletes once expired: each feature's.
var swept = slices.Concat(sessions.Expiring, orgs.Expiring, agents.Expiring)

// startSweeper sweeps expired credentials every SweepInterval until
// Close.
func (s *Service) startSweeper() {
	if s.cfg.SweepInterval < 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.sweepStop = cancel
	s.bg.Go(func() {
		t := time.NewTicker(s.cfg.SweepInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
					s.cfg.Logger.Error("sweep expired credentials", "error", err)
				}
			}
		}
	})
}

// startSchedule starts the scheduled syncs of connectors every
// ScheduleInterval until Close.
func (s *Service) startSchedule() {
	if s.cfg.ScheduleInterval < 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	prev := s.sweepStop
	s.sweepStop = func() {
		cancel()
		if prev != nil {
			prev()
		}
	}
	s.bg.Go(func() {
		t := time.NewTicker(s.cfg.ScheduleInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.Connectors.RunSchedule(ctx)
			}
		}
	})
}

// Sweep deletes every org's expired sessions, API tokens, password setup
// tokens, join tokens and agent tokens, each org's in audited events
// ("auth.expired_swept", actor "system") that count what went. An
// expired credential is refused whether swept or not; sweeping keeps the
// state small and says in the log when each kind ended.
func (s *Service) Sweep(ctx context.Context) error {
	var errs []error
	for _, o := range s.env.Store.Orgs() {
		if err := s.sweepOrg(ctx, o); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Service) sweepOrg(ctx context.Context, o store.Org) error {
	for {
		now := s.cfg.Clock()
		c := store.Change{Require: map[string][]byte{}}
		counts := map[string]any{}
		for _, k := range swept {
			n := 0
			err := o.Scan(ctx, k.Prefix, "", func(key string, v []byte) bool {
				if len(c.Require) >= maxSweepKeys {
					return false
				}
				var r struct {
					Expires time.Time `json:"expires"`
				}
				if json.Unmarshal(v, &r) != nil || r.Expires.IsZero() || now.Before(r.Expires) {
					return true
				}
				c.Require[key] = v
				c.Delete = append(c.Delete, key)
				if k.Also != nil {
					c.Delete = append(c.Delete, k.Also(v)...)
				}
				n++
				return true
			})
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			if n > 0 {
				counts[k.Name] = n
			}
		}
		if len(c.Require) == 0 {
			return nil
		}
		c.Event = core.NewEvent(ctx, ec.AuthExpiredSwept, ec.System, o.ID(), counts)
		if _, err := o.Commit(ctx, ledger.AckDurable, c); err != nil {
			// A record changed under the sweep: the next round sees it.
			return core.Conflict(err)
		}
		if len(c.Require) < maxSweepKeys {
			return nil
		}
	}
}
