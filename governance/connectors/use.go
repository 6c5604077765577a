package connectors

import (
	"context"
	"fmt"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/store"
)

// What other features read of a connector's snapshot, and how they act
// through a connector: the access feature looks identities and
// entitlements up before it decides a request, and grants and revokes
// through Use.

// ErrNoSnapshot: the connector has never been synced.
var ErrNoSnapshot = errs.New(errs.Precondition, "the connector has no snapshot yet: sync it first")

// Facts are what a snapshot says of one identity and one entitlement.
type Facts struct {
	Identity    connector.Identity
	Entitlement connector.Entitlement
	// Held are the entitlement IDs the identity holds, in ID order.
	Held []string
	// Snapshot is the snapshot they were read from.
	Snapshot Snapshot
}

// Lookup reads, from connector id's latest snapshot, the identity, the
// entitlement and what the identity holds. Each is named by its ID or,
// failing that, by its name when exactly one item has it. One the
// snapshot does not list is NotFound.
func Lookup(ctx context.Context, o store.Org, id, identity, entitlement string) (Facts, error) {
	if _, _, err := load(ctx, o, id); err != nil {
		return Facts{}, err
	}
	ss, _, err := loadSync(ctx, o, id)
	if err != nil {
		return Facts{}, err
	}
	if ss.Last == nil {
		return Facts{}, ErrNoSnapshot
	}
	f := Facts{Snapshot: *ss.Last}
	it, err := find(ctx, o, id, setIdentities, ss.Last.Identities, identity, "identity", func(x identityItem) (string, string) { return x.ID, x.Name })
	if err != nil {
		return Facts{}, err
	}
	f.Identity = connector.Identity{ID: it.ID, Name: it.Name, Kind: it.Kind, Attributes: it.Attrs}
	en, err := find(ctx, o, id, setEntitlements, ss.Last.Entitlements, entitlement, "entitlement", func(x entitlementItem) (string, string) { return x.ID, x.Name })
	if err != nil {
		return Facts{}, err
	}
	f.Entitlement = connector.Entitlement{ID: en.ID, Name: en.Name, Kind: en.Kind, Description: en.Description}
	err = scanChunks(ctx, o, id, setGrants, ss.Last.Grants, func(g grantItem) bool {
		if g.IdentityID == f.Identity.ID {
			f.Held = append(f.Held, g.EntitlementID)
		}
		return g.IdentityID <= f.Identity.ID
	})
	return f, err
}

// find returns the item of a snapshot set whose ID is key or, failing
// that, the one item whose name is key.
func find[T any](ctx context.Context, o store.Org, id, set string, n int, key, what string, idName func(T) (string, string)) (T, error) {
	var byID, byName T
	var foundID bool
	names := 0
	err := scanChunks(ctx, o, id, set, n, func(x T) bool {
		xid, name := idName(x)
		if xid == key {
			byID, foundID = x, true
			return false
		}
		if name == key {
			byName = x
			names++
		}
		return true
	})
	switch {
	case err != nil:
		return byID, err
	case foundID:
		return byID, nil
	case names == 1:
		return byName, nil
	case names > 1:
		return byID, errs.New(errs.InvalidArgument, "%d %s items are named %q in the connector's latest snapshot: give the ID", names, what, key)
	}
	return byID, errs.New(errs.NotFound, "%s %q is not in the connector's latest snapshot", what, key)
}

// scanChunks calls fn with the items of a snapshot set in order, until
// fn returns false. Chunks are in ID order, so a caller looking for an ID
// stops past it.
func scanChunks[T any](ctx context.Context, o store.Org, id, set string, n int, fn func(T) bool) error {
	for c := 0; c*chunkSize < n; c++ {
		var items []T
		if _, err := o.GetJSON(ctx, chunkKey(id, set, c), &items); err != nil {
			return fmt.Errorf("connector %s: snapshot chunk %s/%d: %w", id, set, c, err)
		}
		for _, it := range items {
			if !fn(it) {
				return nil
			}
		}
	}
	return nil
}

// Use records a use of connector id's credentials by actor
// ("connector.credential.accessed" with purpose "plan" and the plan's
// ID), opens them, and
// calls fn with a connector, closed after. A connector that is not active
// or failed is refused (Precondition).
func (s *Service) Use(ctx context.Context, o store.Org, actor, id, planID string, fn func(connector.Connector) error) error {
	r, _, err := load(ctx, o, id)
	if err != nil {
		return err
	}
	if r.State != Active && r.State != Failed {
		return errs.New(errs.Precondition, "connector %s is %s", id, r.State)
	}
	if err := s.recordAccess(ctx, o, actor, r, "plan", map[string]any{"plan_id": planID}); err != nil {
		return err
	}
	c, err := s.open(ctx, o, r)
	if err != nil {
		return err
	}
	defer c.Close()
	return fn(c)
}

// FailureText is what may be shown or recorded of a connector's failure
// (never a credential or the system's own text).
func FailureText(err error) string { return failureText(err) }

// SnapshotGrants calls fn with each grant of connector id's latest
// snapshot, in identity then entitlement ID order, until it returns
// false, and returns the snapshot's summary (ErrNoSnapshot before the
// first sync).
func SnapshotGrants(ctx context.Context, o store.Org, id string, fn func(GrantView) bool) (Snapshot, error) {
	if _, _, err := load(ctx, o, id); err != nil {
		return Snapshot{}, err
	}
	ss, _, err := loadSync(ctx, o, id)
	if err != nil {
		return Snapshot{}, err
	}
	if ss.Last == nil {
		return Snapshot{}, ErrNoSnapshot
	}
	err = scanChunks(ctx, o, id, setGrants, ss.Last.Grants, func(g grantItem) bool { return fn(GrantView(g)) })
	return *ss.Last, err
}
