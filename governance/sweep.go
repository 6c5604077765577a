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

// startBackground starts the domain's periodic work until Close: the
// sweep of expired credentials every SweepInterval, and the connectors'
// and access's schedules every ScheduleInterval (a negative interval turns either off).
func (s *Service) startBackground() {
	ctx, cancel := context.WithCancel(context.Background())
	s.bgStop = cancel
	s.every(ctx, s.cfg.SweepInterval, func() {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.cfg.Logger.Error("sweep expired credentials", "error", err)
		}
	})
	s.every(ctx, s.cfg.ScheduleInterval, func() {
		s.Connectors.RunSchedule(ctx)
		s.Access.RunSchedule(ctx)
	})
}

// every runs fn every d until ctx ends; never for a negative d.
func (s *Service) every(ctx context.Context, d time.Duration, fn func()) {
	if d < 0 {
		return
	}
	s.bg.Go(func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fn()
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
