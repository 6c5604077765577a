package access

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/governance/connectors"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/jobs"
	"github.com/nuxari/nuxari/governance/store"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/ledger"
)

// runPlan is the plan job: it runs each action not yet done through its
// connector and records its result ("access.action.executed") with the
// grant it makes or ends, one commit per action. A restart runs it again
// from the first action not done; a connector grants what is held and
// revokes what is not without a change, so an action interrupted between
// the system and the commit is not made twice.
func (s *Service) runPlan(ctx context.Context, o store.Org, j *jobs.Job) (jobs.Result, error) {
	pl, _, err := loadPlan(ctx, o, j.ID)
	if err != nil {
		return jobs.Result{}, err
	}
	if len(pl.Actions) == 0 {
		return jobs.Result{Data: map[string]any{"plan_id": pl.ID, "actions": 0, "failed": 0}}, nil
	}
	failed := 0
	cid := pl.Actions[0].ConnectorID
	err = s.connectors.Use(ctx, o, ec.System, cid, pl.ID, func(c connector.Connector) error {
		for i := range pl.Actions {
			j.Report(uint64(i), uint64(len(pl.Actions)))
			if pl.Actions[i].State != "pending" {
				continue
			}
			a := pl.Actions[i]
			var aerr error
			switch a.Kind {
			case "grant":
				aerr = c.Grant(ctx, a.IdentityID, a.EntitlementID)
			case "revoke":
				aerr = c.Revoke(ctx, a.IdentityID, a.EntitlementID)
			default:
				aerr = fmt.Errorf("unknown action %q", a.Kind)
			}
			if aerr != nil && ctx.Err() != nil {
				return ctx.Err() // stopping: the next run does it
			}
			if aerr != nil {
				failed++
			}
			if err := s.recordAction(ctx, o, pl.ID, i, aerr); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if ctx.Err() != nil {
			return jobs.Result{}, ctx.Err()
		}
		return jobs.Result{}, jobs.Failure("the plan could not run: "+connectors.FailureText(err), err)
	}
	if pl.ReviewID != "" {
		if _, err := s.completeReview(ctx, o, pl.ReviewID); err != nil {
			s.env.Logger.Warn("review not completed", slog.String("org", o.ID()), slog.String("review", pl.ReviewID), slog.String("error", err.Error()))
		}
	}
	if failed > 0 {
		return jobs.Result{}, jobs.Failure(fmt.Sprintf("%d of the plan's %d actions failed; each one's event says why", failed, len(pl.Actions)), nil)
	}
	if pl.FindingID != "" {
		a := pl.Actions[0]
		kind := DriftUnexpected
		if a.Kind == "grant" {
			kind = DriftMissing
		}
		if err := s.resolveFinding(ctx, o, openKey(a.ConnectorID, a.IdentityID, a.EntitlementID, kind), "remediated"); err != nil {
			return jobs.Result{}, err
		}
	}
	return jobs.Result{Data: map[string]any{"plan_id": pl.ID, "actions": len(pl.Actions), "failed": 0}}, nil
}

// recordAction records action i of plan id as done (aerr nil) or failed,
// with the grant it makes or ends.
func (s *Service) recordAction(ctx context.Context, o store.Org, id string, i int, aerr error) error {
	for attempt := 0; ; attempt++ {
		pl, raw, err := loadPlan(ctx, o, id)
		if err != nil {
			return err
		}
		a := &pl.Actions[i]
		if a.State != "pending" {
			return nil
		}
		now := s.env.Now()
		data := map[string]any{"plan_id": id, "action": i, "kind": a.Kind, "connector_id": a.ConnectorID,
			"identity_id": a.IdentityID, "entitlement_id": a.EntitlementID, "grant_id": a.GrantID, "ok": aerr == nil, "error": ""}
		c := store.Change{Require: map[string][]byte{prefixPlan + id: raw}, Put: map[string]any{}}
		if aerr != nil {
			a.State, a.Error = "failed", connectors.FailureText(aerr)
			data["error"] = a.Error
		} else {
			a.State = "done"
		}
		switch a.Kind {
		case "grant":
			if aerr == nil && a.GrantID != "" {
				g := Grant{
					ID: a.GrantID, ConnectorID: a.ConnectorID, IdentityID: a.IdentityID, EntitlementID: a.EntitlementID,
					RequestID: pl.RequestID, PolicyID: pl.PolicyID, PolicyVersion: pl.PolicyVersion, Granted: now, State: GrantActive,
				}
				// Access time starts when the grant is made.
				if pl.Duration > 0 {
					g.Expires = now.Add(time.Duration(pl.Duration))
					data["expires"] = g.Expires
				}
				c.Require[prefixGrant+g.ID] = nil
				c.Put[prefixGrant+g.ID] = g
			}
		case "revoke":
			if aerr == nil {
				dropped, err := dropFromBaseline(ctx, o, &c, a.ConnectorID, a.IdentityID, a.EntitlementID)
				if err != nil {
					return err
				}
				data["baseline_dropped"] = dropped
			}
			if a.GrantID == "" {
				break
			}
			var g Grant
			graw, err := o.GetJSON(ctx, prefixGrant+a.GrantID, &g)
			if err == nil {
				g.State, g.Ended = GrantRevoked, now
				if aerr != nil {
					g.State, g.Ended = GrantRevokeFailed, time.Time{}
				}
				c.Require[prefixGrant+g.ID] = graw
				c.Put[prefixGrant+g.ID] = g
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if aerr == nil {
			at, _ := now.MarshalText()
			c.Put[changedKey(a.ConnectorID, a.IdentityID, a.EntitlementID)] = at
		}
		c.Put[prefixPlan+id] = pl
		c.Event = core.NewEvent(ctx, ec.AccessActionExecuted, ec.System, "plan:"+id, data)
		_, err = o.Commit(ctx, ledger.AckDurable, c)
		if errors.Is(err, store.ErrConflict) && attempt < 4 {
			continue
		}
		return err
	}
}

// RunSchedule compares each connector synced since it last looked with
// its desired state (CheckDrift), and ends what time ends, in every org:
// pending requests past
// their expiry ("access.request.expired"), and grants past theirs, each
// with a revoke plan ("access.grant.expired") that runs at once, or
// waits for approval if its policy says so.
func (s *Service) RunSchedule(ctx context.Context) {
	now := s.env.Now()
	for _, o := range s.env.Store.Orgs() {
		// One scan of the access grants: the expired, and the connectors
		// whose governed access drift compares.
		var grants []string
		governed := map[string]bool{}
		err := core.ScanJSON(ctx, o, prefixGrant, func(g *Grant) bool {
			governed[g.ConnectorID] = true
			if g.State == GrantActive && !g.Expires.IsZero() && !now.Before(g.Expires) {
				grants = append(grants, g.ID)
			}
			return true
		})
		if err != nil {
			s.env.Logger.Warn("access schedule: cannot read", slog.String("org", o.ID()), slog.String("error", err.Error()))
			continue
		}
		if err := s.checkDrift(ctx, o, governed); err != nil {
			s.env.Logger.Warn("access schedule: drift", slog.String("org", o.ID()), slog.String("error", err.Error()))
		}
		if err := s.completeReviews(ctx, o); err != nil {
			s.env.Logger.Warn("access schedule: reviews", slog.String("org", o.ID()), slog.String("error", err.Error()))
		}
		if s.pruneDue(o) {
			if err := s.PruneHistory(ctx, o); err != nil {
				s.env.Logger.Warn("access schedule: history", slog.String("org", o.ID()), slog.String("error", err.Error()))
			}
		}
		var reqs []string
		err = core.ScanJSON(ctx, o, prefixRequest, func(r *Request) bool {
			if r.State == RequestPending && !now.Before(r.Expires) {
				reqs = append(reqs, r.ID)
			}
			return true
		})
		if err != nil {
			s.env.Logger.Warn("access schedule: cannot read", slog.String("org", o.ID()), slog.String("error", err.Error()))
			continue
		}
		for _, id := range reqs {
			r, raw, err := loadRequest(ctx, o, id)
			if err == nil && r.State == RequestPending {
				_, err = s.endRequest(ctx, o, r, raw, ec.System, RequestExpired, PlanExpired, ec.AccessRequestExpired)
			}
			if err != nil {
				s.env.Logger.Info("access schedule: request not expired", slog.String("org", o.ID()), slog.String("request", id), slog.String("error", err.Error()))
			}
		}
		for _, id := range grants {
			if err := s.expireGrant(ctx, o, id); err != nil {
				s.env.Logger.Info("access schedule: grant not expired", slog.String("org", o.ID()), slog.String("grant", id), slog.String("error", err.Error()))
			}
		}
	}
}

// expireGrant makes the revoke plan of an expired grant.
func (s *Service) expireGrant(ctx context.Context, o store.Org, id string) error {
	var g Grant
	graw, err := o.GetJSON(ctx, prefixGrant+id, &g)
	if err != nil {
		return err
	}
	if g.State != GrantActive {
		return nil
	}
	pol, _, err := loadPolicy(ctx, o, g.PolicyID, g.PolicyVersion)
	if err != nil {
		return err
	}
	now := s.env.Now()
	pl := Plan{
		ID: core.NewID("l"), Reason: "expiry", RequestID: g.RequestID, RequestedBy: ec.System, State: PlanExecuting,
		Actions:  []Action{{Kind: "revoke", ConnectorID: g.ConnectorID, IdentityID: g.IdentityID, EntitlementID: g.EntitlementID, State: "pending", GrantID: g.ID}},
		PolicyID: pol.ID, PolicyVersion: pol.Version, ApproverIDs: []string{}, ApproverRoles: []string{}, Approvals: []Approval{}, Created: now,
	}
	if pol.ApproveExpiry {
		pl.State, pl.Required, pl.ApproverIDs, pl.ApproverRoles = PlanPending, pol.Approvals, pol.ApproverIDs, pol.ApproverRoles
	}
	g.State, g.RevokePlan = GrantRevoking, pl.ID
	c := store.Change{
		Event: core.NewEvent(ctx, ec.AccessGrantExpired, ec.System, "grant:"+g.ID, map[string]any{
			"plan": pl, "expired": g.Expires,
		}),
		Require: map[string][]byte{prefixGrant + g.ID: graw},
		Put:     map[string]any{prefixGrant + g.ID: g, prefixPlan + pl.ID: pl},
	}
	if pl.State == PlanPending {
		_, err = o.Commit(ctx, ledger.AckDurable, c)
		return err
	}
	return s.startPlan(ctx, o, pl.ID, c)
}
