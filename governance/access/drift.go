package access

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/governance/connectors"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/store"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/ledger"
)

// Drift: the desired state of a connector is its baseline (the access it
// had when an admin accepted its snapshot) and the access grants plans
// made that are active; the actual state is its latest snapshot. Each
// difference is a finding; a policy covering the entitlement with
// RemediateDrift makes it a remediation plan.

// The state keys of drift.
const (
	prefixBaseline = "access-baseline/" // <connector>: baseline
	prefixFinding  = "access-finding/"  // <id>: Finding
	prefixOpen     = "access-open/"     // <connector>/<hash of identity, entitlement, kind>: open finding's ID
	prefixChecked  = "access-checked/"  // <connector>: the sync last compared
	prefixChanged  = "access-changed/"  // <connector>/<hash of identity, entitlement>: when a plan last changed it
)

// MaxBaselineGrants bounds a baseline (kept in one record).
const MaxBaselineGrants = 20_000

// baseline is a connector's accepted access.
type baseline struct {
	SyncID   string      `json:"sync_id"`
	Accepted time.Time   `json:"accepted"`
	By       string      `json:"by"`
	Grants   [][2]string `json:"grants"` // sorted identity, entitlement pairs
	Digest   string      `json:"grants_digest"`
}

// Finding is a drift finding.
type Finding struct {
	ID            string    `json:"id"`
	ConnectorID   string    `json:"connector_id"`
	IdentityID    string    `json:"identity_id"`
	EntitlementID string    `json:"entitlement_id"`
	Kind          string    `json:"kind"` // "unexpected", "missing"
	State         string    `json:"state"`
	SyncID        string    `json:"sync_id"`
	Detected      time.Time `json:"detected"`
	Resolved      time.Time `json:"resolved,omitzero"`
	Resolution    string    `json:"resolution,omitempty"`
	PlanID        string    `json:"plan_id,omitempty"`
}

// Finding kinds and states.
const (
	DriftUnexpected = "unexpected"
	DriftMissing    = "missing"
	FindingOpen     = "open"
	FindingResolved = "resolved"
)

// BaselineInfo describes an accepted baseline.
type BaselineInfo struct {
	ConnectorID, SyncID, Digest string
	Grants                      int
}

// AcceptBaseline takes connector id's latest snapshot as its baseline
// ("access.baseline.accepted"); drift is found against it from the next
// comparison on.
func (s *Service) AcceptBaseline(ctx context.Context, pr *core.Principal, id string) (BaselineInfo, error) {
	o := s.env.OrgOf(pr)
	var pairs []connector.Grant
	snap, err := connectors.SnapshotGrants(ctx, o, id, func(g connectors.GrantView) bool {
		pairs = append(pairs, connector.Grant{IdentityID: g.IdentityID, EntitlementID: g.EntitlementID})
		return len(pairs) <= MaxBaselineGrants
	})
	if err != nil {
		return BaselineInfo{}, err
	}
	if len(pairs) > MaxBaselineGrants {
		return BaselineInfo{}, errs.New(errs.LimitExceeded, "the snapshot has more than %d grants, the most a baseline holds", MaxBaselineGrants)
	}
	b := baseline{SyncID: snap.SyncID, Accepted: s.env.Now(), By: pr.Actor(), Grants: make([][2]string, len(pairs)), Digest: connectors.GrantsDigest(pairs)}
	for i, g := range pairs {
		b.Grants[i] = [2]string{g.IdentityID, g.EntitlementID}
	}
	_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
		Event: core.NewEvent(ctx, ec.AccessBaselineAccepted, pr.Actor(), "connector:"+id, map[string]any{
			"sync_id": b.SyncID, "grants": len(b.Grants), "grants_digest": b.Digest,
		}),
		Put:    map[string]any{prefixBaseline + id: b},
		Delete: []string{prefixChecked + id},
	})
	if err != nil {
		return BaselineInfo{}, core.Conflict(err)
	}
	return BaselineInfo{ConnectorID: id, SyncID: b.SyncID, Digest: b.Digest, Grants: len(b.Grants)}, nil
}

// dropFromBaseline removes identity's entitlement from connector id's
// baseline in c, if the baseline holds it: access Nuxari revoked is no
// longer desired.
func dropFromBaseline(ctx context.Context, o store.Org, c *store.Change, id, identity, entitlement string) (bool, error) {
	var b baseline
	raw, err := o.GetJSON(ctx, prefixBaseline+id, &b)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	i := slices.Index(b.Grants, [2]string{identity, entitlement})
	if i < 0 {
		return false, nil
	}
	b.Grants = slices.Delete(b.Grants, i, i+1)
	pairs := make([]connector.Grant, len(b.Grants))
	for i, g := range b.Grants {
		pairs[i] = connector.Grant{IdentityID: g[0], EntitlementID: g[1]}
	}
	b.Digest = connectors.GrantsDigest(pairs)
	c.Require[prefixBaseline+id], c.Put[prefixBaseline+id] = raw, b
	return true, nil
}

func openKey(connectorID, identity, entitlement, kind string) string {
	h := sha256.Sum256([]byte(identity + "\x00" + entitlement + "\x00" + kind))
	return prefixOpen + connectorID + "/" + hex.EncodeToString(h[:])
}

// changedKey records when a plan last granted or revoked identity's
// entitlement: a snapshot whose listing began before may not show it, so
// a difference there is not drift.
func changedKey(connectorID, identity, entitlement string) string {
	h := sha256.Sum256([]byte(identity + "\x00" + entitlement))
	return prefixChanged + connectorID + "/" + hex.EncodeToString(h[:])
}

// CheckDrift compares every connector whose latest snapshot has not been
// compared yet with its desired state: with a baseline, all its access;
// without, the access plans governed (each access grant's pair). New
// differences become findings ("access.drift.found", with a remediation
// plan when a policy says so), open findings no longer seen are resolved
// ("access.drift.resolved"). The schedule runs it after syncs.
func (s *Service) CheckDrift(ctx context.Context, o store.Org) error {
	governed := map[string]bool{}
	if err := core.ScanJSON(ctx, o, prefixGrant, func(g *Grant) bool {
		governed[g.ConnectorID] = true
		return true
	}); err != nil && !isNotFound(err) {
		return err
	}
	return s.checkDrift(ctx, o, governed)
}

// checkDrift is CheckDrift given the connectors that have access grants.
func (s *Service) checkDrift(ctx context.Context, o store.Org, governed map[string]bool) error {
	ids := maps.Clone(governed)
	if err := o.Scan(ctx, prefixBaseline, "", func(k string, _ []byte) bool {
		ids[strings.TrimPrefix(k, prefixBaseline)] = true
		return true
	}); err != nil && !isNotFound(err) {
		return err
	}
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		if err := s.checkConnector(ctx, o, id); err != nil {
			s.env.Logger.Warn("drift check failed", slog.String("org", o.ID()), slog.String("connector", id), slog.String("error", err.Error()))
		}
	}
	return nil
}

func (s *Service) checkConnector(ctx context.Context, o store.Org, id string) error {
	// The latest snapshot's summary first (its first chunk, no more):
	// most minutes it has been compared already.
	snap, err := connectors.SnapshotGrants(ctx, o, id, func(connectors.GrantView) bool { return false })
	if errors.Is(err, connectors.ErrNoSnapshot) {
		return nil
	}
	if err != nil {
		return err
	}
	checked, err := o.Get(ctx, prefixChecked+id)
	if err == nil && string(checked) == snap.SyncID {
		return nil // compared already
	}
	var b baseline
	_, err = o.GetJSON(ctx, prefixBaseline+id, &b)
	hasBaseline := err == nil
	if err != nil && !isNotFound(err) {
		return err
	}
	actual := map[[2]string]bool{}
	snap, err = connectors.SnapshotGrants(ctx, o, id, func(g connectors.GrantView) bool {
		actual[[2]string{g.IdentityID, g.EntitlementID}] = true
		return true
	})
	if err != nil {
		return err
	}
	desired := map[[2]string]bool{}
	for _, g := range b.Grants {
		desired[g] = true
	}
	// Pairs access grants govern; the grant whose revoke failed, of each.
	governed := map[[2]string]bool{}
	failedRevoke := map[[2]string]string{}
	err = core.ScanJSON(ctx, o, prefixGrant, func(g *Grant) bool {
		if g.ConnectorID != id {
			return true
		}
		pair := [2]string{g.IdentityID, g.EntitlementID}
		governed[pair] = true
		switch g.State {
		case GrantActive:
			desired[pair] = true
		case GrantRevokeFailed:
			failedRevoke[pair] = g.ID
		}
		return true
	})
	if err != nil {
		return err
	}
	type diff struct{ identity, entitlement, kind string }
	var diffs []diff
	for g := range actual {
		if !desired[g] && (hasBaseline || governed[g]) {
			diffs = append(diffs, diff{g[0], g[1], DriftUnexpected})
		}
	}
	for g := range desired {
		if !actual[g] {
			diffs = append(diffs, diff{g[0], g[1], DriftMissing})
		}
	}
	slices.SortFunc(diffs, func(a, b diff) int {
		return strings.Compare(a.identity+"\x00"+a.entitlement+"\x00"+a.kind, b.identity+"\x00"+b.entitlement+"\x00"+b.kind)
	})
	// What plans changed since the listing began is in flux, not drift;
	// what they changed before it, the snapshot shows, so its record
	// goes.
	began := snap.Started
	if began.IsZero() {
		began = snap.Time
	}
	settled := map[string][]byte{}
	inFlux := map[string]bool{}
	if err := o.Scan(ctx, prefixChanged+id+"/", "", func(k string, v []byte) bool {
		var at time.Time
		if at.UnmarshalText(v) == nil && !at.Before(began) {
			inFlux[k] = true
		} else {
			settled[k] = v
		}
		return true
	}); err != nil && !isNotFound(err) {
		return err
	}
	seen := map[string]bool{}
	policies, err := policiesFor(ctx, o, id)
	if err != nil {
		return err
	}
	now := s.env.Now()
	for _, d := range diffs {
		key := openKey(id, d.identity, d.entitlement, d.kind)
		seen[key] = true
		if inFlux[changedKey(id, d.identity, d.entitlement)] {
			continue
		}
		if _, err := o.Get(ctx, key); err == nil {
			continue // already open
		}
		f := Finding{
			ID: core.NewID("f"), ConnectorID: id, IdentityID: d.identity, EntitlementID: d.entitlement, Kind: d.kind,
			State: FindingOpen, SyncID: snap.SyncID, Detected: now,
		}
		c := store.Change{
			Require: map[string][]byte{key: nil},
			Put:     map[string]any{key: []byte(f.ID)},
		}
		var pl *Plan
		if pol := remediating(policies, d.entitlement); pol != nil {
			kind := "revoke"
			if d.kind == DriftMissing {
				kind = "grant"
			}
			pl = &Plan{
				ID: core.NewID("l"), Reason: "drift", FindingID: f.ID, RequestedBy: ec.System, State: PlanPending,
				Actions: []Action{{
					Kind: kind, ConnectorID: id, IdentityID: d.identity, EntitlementID: d.entitlement, State: "pending",
				}},
				PolicyID: pol.ID, PolicyVersion: pol.Version, Required: pol.Approvals, ApproverIDs: pol.ApproverIDs,
				ApproverRoles: pol.ApproverRoles, Approvals: []Approval{}, Created: now,
			}
			if kind == "revoke" {
				// A revoke that succeeds ends the grant whose revoke failed.
				pl.Actions[0].GrantID = failedRevoke[[2]string{d.identity, d.entitlement}]
			}
			f.PlanID = pl.ID
			if pl.Required == 0 {
				pl.State = PlanExecuting
			}
			c.Put[prefixPlan+pl.ID] = *pl
		}
		c.Put[prefixFinding+f.ID] = f
		data := map[string]any{"finding": f}
		if pl != nil {
			data["plan"] = *pl
		}
		c.Event = core.NewEvent(ctx, ec.AccessDriftFound, ec.System, "connector:"+id, data)
		if pl != nil && pl.State == PlanExecuting {
			err = s.startPlan(ctx, o, pl.ID, c)
		} else {
			_, err = o.Commit(ctx, ledger.AckDurable, c)
		}
		if err != nil {
			return err
		}
	}
	// Open findings the snapshot no longer shows are resolved.
	var stale []string
	if err := o.Scan(ctx, prefixOpen+id+"/", "", func(k string, _ []byte) bool {
		if !seen[k] {
			stale = append(stale, k)
		}
		return true
	}); err != nil && !isNotFound(err) {
		return err
	}
	for _, k := range stale {
		if err := s.resolveFinding(ctx, o, k, "synced"); err != nil {
			return err
		}
	}
	_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
		Event: core.NewEvent(ctx, ec.AccessDriftChecked, ec.System, "connector:"+id, map[string]any{
			"sync_id": snap.SyncID, "differences": len(diffs), "resolved": len(stale),
		}),
		Put:     map[string]any{prefixChecked + id: []byte(snap.SyncID)},
		Require: settled,
		Delete:  slices.Collect(maps.Keys(settled)),
	})
	return err
}

// remediating returns the first policy covering entitlement that
// remediates drift.
func remediating(ps []Policy, entitlement string) *Policy {
	for i := range ps {
		if ps[i].RemediateDrift && (len(ps[i].Entitlements) == 0 || slices.Contains(ps[i].Entitlements, entitlement)) {
			return &ps[i]
		}
	}
	return nil
}

// resolveFinding resolves the open finding under key
// ("access.drift.resolved").
func (s *Service) resolveFinding(ctx context.Context, o store.Org, key, how string) error {
	id, err := o.Get(ctx, key)
	if err != nil {
		return nil
	}
	var f Finding
	raw, err := o.GetJSON(ctx, prefixFinding+string(id), &f)
	if err != nil {
		return err
	}
	f.State, f.Resolved, f.Resolution = FindingResolved, s.env.Now(), how
	data := map[string]any{"resolution": how, "plan_canceled": false}
	c := store.Change{
		Event:   core.NewEvent(ctx, ec.AccessDriftResolved, ec.System, "finding:"+f.ID, data),
		Require: map[string][]byte{prefixFinding + f.ID: raw},
		Put:     map[string]any{prefixFinding + f.ID: f},
		Delete:  []string{key},
	}
	// A remediation plan still awaiting approval has nothing left to do.
	if f.PlanID != "" {
		pl, praw, err := loadPlan(ctx, o, f.PlanID)
		if err != nil && !errors.Is(err, errs.NotFound) { // a plan ended long ago may be pruned
			return err
		}
		if err == nil && pl.State == PlanPending {
			pl.State, pl.Completed = PlanCanceled, s.env.Now()
			c.Require[prefixPlan+pl.ID], c.Put[prefixPlan+pl.ID] = praw, pl
			data["plan_canceled"] = true
		}
	}
	_, err = o.Commit(ctx, ledger.AckDurable, c)
	return err
}

// ListFindings lists drift findings in ID order: open ones, or all.
func (s *Service) ListFindings(ctx context.Context, pr *core.Principal, connectorID string, all bool, size int32, token string) ([]Finding, string, error) {
	if connectorID != "" {
		if err := core.ValidateID("connector_id", connectorID); err != nil {
			return nil, "", err
		}
	}
	return core.ListFiltered(ctx, s.env.OrgOf(pr), prefixFinding, size, token, func(f *Finding) bool {
		return (all || f.State == FindingOpen) && (connectorID == "" || f.ConnectorID == connectorID)
	})
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
