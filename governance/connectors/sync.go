package connectors

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/jobs"
	"github.com/nuxari/nuxari/governance/store"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/ledger"
)

// SyncJobKind is the job kind of syncs.
const SyncJobKind = "connector.sync"

// Snapshot storage: each set's items in chunks of chunkSize, under
// prefixSnapshot+<connector>/<set>/<chunk number, 6 digits>.
const (
	chunkSize       = 1000
	setIdentities   = "i"
	setEntitlements = "e"
	setGrants       = "g"
	// listPageSize is the page size a sync asks the connector for.
	listPageSize = connector.MaxPageSize
	// maxRetries bounds the retries of one page that failed as
	// unavailable.
	maxRetries = 3
)

func chunkKey(id, set string, n int) string {
	return fmt.Sprintf("%s%s/%s/%06d", prefixSnapshot, id, set, n)
}

// syncArgs are a sync job's arguments.
type syncArgs struct {
	ConnectorID string `json:"connector_id"`
	RequestedBy string `json:"requested_by"`
}

// Sync is a sync as callers see it.
type Sync struct {
	ID          string
	ConnectorID string
	// State is "running", "succeeded" or "failed".
	State       string
	RequestedBy string
	Created     time.Time
	Completed   time.Time
	// ItemsRead counts the identities, entitlements and grants read.
	ItemsRead uint64
	// Error says why it failed: a fixed or connector's safe text.
	Error string
	// Summary is the snapshot it recorded, once it succeeded.
	Summary *Snapshot
}

func syncOf(j jobs.Job) (Sync, error) {
	var a syncArgs
	if err := json.Unmarshal(j.Args, &a); err != nil {
		return Sync{}, fmt.Errorf("sync %s: args: %w", j.ID, err)
	}
	sy := Sync{
		ID: j.ID, ConnectorID: a.ConnectorID, State: jobState(j.State), RequestedBy: a.RequestedBy,
		Created: j.Created, Completed: j.Ended, ItemsRead: j.Done, Error: j.Reason,
	}
	if len(j.Result) > 0 {
		sy.Summary = new(Snapshot)
		if err := json.Unmarshal(j.Result, sy.Summary); err != nil {
			return Sync{}, fmt.Errorf("sync %s: result: %w", j.ID, err)
		}
	}
	return sy, nil
}

// StartSync starts a sync of connector id ("connector.sync.requested"),
// or returns the one queued or running.
func (s *Service) StartSync(ctx context.Context, p *core.Principal, id string) (Sync, error) {
	o := s.env.OrgOf(p)
	sy, _, err := s.submitSync(ctx, o, id, p.Actor(), nil)
	return sy, err
}

// submitSync submits a sync of connector id unless one is queued or
// running, which it returns instead; due, if set, decides from the
// connector's sync bookkeeping whether to submit at all (submitted says
// whether it did).
func (s *Service) submitSync(ctx context.Context, o store.Org, id, actor string, due func(*record, *syncState) bool) (sy Sync, submitted bool, err error) {
	for attempt := 0; ; attempt++ {
		r, _, err := load(ctx, o, id)
		if err != nil {
			return Sync{}, false, err
		}
		switch r.State {
		case Paused, Decommissioned:
			return Sync{}, false, errs.New(errs.Precondition, "connector %s is %s", id, r.State)
		case Rotating:
			return Sync{}, false, errs.New(errs.Precondition, "connector %s is rotating its credentials; sync when the rotation ends", id)
		}
		ss, ssRaw, err := loadSync(ctx, o, id)
		if err != nil {
			return Sync{}, false, err
		}
		if ss.SyncID != "" {
			j, err := s.runner.Get(ctx, o, SyncJobKind, ss.SyncID)
			if err == nil && !j.State.Ended() {
				sy, err := syncOf(j)
				return sy, false, err
			}
		}
		if due != nil && !due(r, ss) {
			return Sync{}, false, nil
		}
		jobID := core.NewID("s")
		ss.SyncID, ss.Requested = jobID, s.env.Now()
		j, err := s.runner.Submit(ctx, o, jobs.Request{
			Kind: SyncJobKind, ID: jobID, Args: syncArgs{ConnectorID: id, RequestedBy: actor},
			Change: store.Change{
				Event:   core.NewEvent(ctx, ec.ConnectorSyncRequested, actor, "sync:"+jobID, map[string]any{"connector_id": id}),
				Require: map[string][]byte{prefixSync + id: ssRaw},
				Put:     map[string]any{prefixSync + id: ss},
			},
		})
		switch {
		case errors.Is(err, jobs.ErrBusy):
			return Sync{}, false, errs.New(errs.RateLimited, "the org has as many jobs queued or running as it may have; sync again when one ends")
		case errors.Is(err, store.ErrConflict) && attempt < 2:
			continue // another sync was submitted meanwhile
		case err != nil:
			return Sync{}, false, core.Conflict(err)
		}
		sy, err := syncOf(j)
		return sy, true, err
	}
}

// GetSync returns sync id of the principal's org.
func (s *Service) GetSync(ctx context.Context, p *core.Principal, id string) (Sync, error) {
	if err := core.ValidateID("sync_id", id); err != nil {
		return Sync{}, err
	}
	j, err := s.runner.Get(ctx, s.env.OrgOf(p), SyncJobKind, id)
	if err != nil {
		return Sync{}, core.NotFoundAs(err, errs.New(errs.NotFound, "sync"))
	}
	return syncOf(j)
}

// RunSchedule submits a sync of every active or failed connector of
// every org whose sync interval has passed since its last sync was
// requested, by the system. An org at its job cap is passed over until
// the next run. It also ends a rotation left rotating for longer than a
// rotation can take (its request failed to commit a step and is over),
// as a restart would (Recover).
func (s *Service) RunSchedule(ctx context.Context) {
	now := s.env.Now()
	due := func(r *record, ss *syncState) bool {
		return r.SyncInterval > 0 && (r.State == Active || r.State == Failed) &&
			!now.Before(ss.Requested.Add(r.SyncInterval))
	}
	for _, o := range s.env.Store.Orgs() {
		var ids, stale []string
		if err := scanRecords(ctx, o, func(r *record) {
			if r.SyncInterval > 0 && (r.State == Active || r.State == Failed) {
				ids = append(ids, r.ID)
			}
			if r.State == Rotating && r.Rotation != nil && now.Sub(r.Rotation.Started) > s.staleRotation() {
				stale = append(stale, r.ID)
			}
		}); err != nil {
			s.env.Logger.Warn("connector schedule: cannot list connectors", slog.String("org", o.ID()), slog.String("error", err.Error()))
			continue
		}
		for _, id := range stale {
			if err := s.recoverRotation(ctx, o, id); err != nil {
				s.env.Logger.Warn("connector schedule: cannot end a stale rotation", slog.String("org", o.ID()), slog.String("connector", id), slog.String("error", err.Error()))
			}
		}
		for _, id := range ids {
			if _, _, err := s.submitSync(ctx, o, id, ec.System, due); err != nil {
				s.env.Logger.Info("connector schedule: sync not started", slog.String("org", o.ID()), slog.String("connector", id), slog.String("error", err.Error()))
			}
		}
	}
}

// limitError fails a sync that reads more than a snapshot holds; the
// connector is not at fault.
type limitError struct{ msg string }

func (e *limitError) Error() string { return e.msg }

// items is what a sync read: every set, sorted by ID.
type items struct {
	identities   []connector.Identity
	entitlements []connector.Entitlement
	grants       []connector.Grant
}

// runSync is the sync job: it reads the connector's identities,
// entitlements and grants and records them as the connector's snapshot
// ("connector.snapshot.recorded"). A connector the system refuses
// becomes failed ("connector.failed").
func (s *Service) runSync(ctx context.Context, o store.Org, j *jobs.Job) (jobs.Result, error) {
	var a syncArgs
	if err := json.Unmarshal(j.Args, &a); err != nil {
		return jobs.Result{}, err
	}
	r, _, err := load(ctx, o, a.ConnectorID)
	if err != nil {
		return jobs.Result{}, jobs.Failure("the connector no longer exists", err)
	}
	if r.State != Active && r.State != Failed {
		return jobs.Result{}, jobs.Failure(fmt.Sprintf("the connector is %s", r.State), nil)
	}
	if err := s.recordAccess(ctx, o, ec.System, r, "sync", map[string]any{"sync_id": j.ID}); err != nil {
		return jobs.Result{}, err
	}
	rctx, cancel := context.WithTimeout(ctx, s.cfg.SyncTimeout)
	defer cancel()
	started := s.env.Now()
	it, err := s.read(rctx, o, r, j)
	var le *limitError
	if errors.As(err, &le) {
		return jobs.Result{}, jobs.Failure(le.msg, nil)
	}
	if err != nil {
		if ctx.Err() != nil {
			return jobs.Result{}, ctx.Err() // the runner is stopping
		}
		msg := failureText(err)
		s.logFailure(o, r.ID, "sync", err)
		if ferr := s.markHealth(ctx, o, r.ID, msg); ferr != nil {
			s.logFailure(o, r.ID, "state change", ferr)
		}
		return jobs.Result{}, jobs.Failure(msg, err)
	}
	snap, err := s.recordSnapshot(ctx, o, r.ID, j.ID, started, it)
	if err != nil {
		return jobs.Result{}, err
	}
	return jobs.Result{Record: snap, Data: map[string]any{
		"connector_id": r.ID, "identities": snap.Identities, "entitlements": snap.Entitlements,
		"grants": snap.Grants, "grants_digest": snap.GrantsDigest,
	}}, nil
}

// markHealth moves connector id between active and failed after a use
// that failed with msg (or succeeded, msg empty), by the system.
func (s *Service) markHealth(ctx context.Context, o store.Org, id, msg string) error {
	for attempt := 0; ; attempt++ {
		r, raw, err := load(ctx, o, id)
		if err != nil {
			return err
		}
		c, ok := s.health(ctx, r, raw, ec.System, msg)
		if !ok {
			return nil
		}
		_, err = o.Commit(ctx, ledger.AckDurable, c)
		if errors.Is(err, store.ErrConflict) && attempt < 2 {
			continue
		}
		return err
	}
}

// read opens the connector and reads every set, reporting progress.
func (s *Service) read(ctx context.Context, o store.Org, r *record, j *jobs.Job) (*items, error) {
	c, err := s.open(ctx, o, r)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var n uint64
	budget := s.cfg.MaxSnapshotItems
	count := func() error {
		n++
		j.Report(n, 0)
		if int(n) > budget {
			return &limitError{fmt.Sprintf("the system has more than %d identities, entitlements and grants, the most a snapshot holds", budget)}
		}
		return nil
	}
	it := &items{}
	if it.identities, err = listAll(ctx, s, c.ListIdentities, connector.CheckIdentity, count); err != nil {
		return nil, err
	}
	if it.entitlements, err = listAll(ctx, s, c.ListEntitlements, connector.CheckEntitlement, count); err != nil {
		return nil, err
	}
	if it.grants, err = listAll(ctx, s, c.ListGrants, connector.CheckGrant, count); err != nil {
		return nil, err
	}
	slices.SortFunc(it.identities, func(a, b connector.Identity) int { return strings.Compare(a.ID, b.ID) })
	it.identities = slices.CompactFunc(it.identities, func(a, b connector.Identity) bool { return a.ID == b.ID })
	slices.SortFunc(it.entitlements, func(a, b connector.Entitlement) int { return strings.Compare(a.ID, b.ID) })
	it.entitlements = slices.CompactFunc(it.entitlements, func(a, b connector.Entitlement) bool { return a.ID == b.ID })
	sortGrants(it.grants)
	it.grants = slices.Compact(it.grants)
	return it, nil
}

func sortGrants(gs []connector.Grant) {
	slices.SortFunc(gs, func(a, b connector.Grant) int {
		return cmp.Or(strings.Compare(a.IdentityID, b.IdentityID), strings.Compare(a.EntitlementID, b.EntitlementID))
	})
}

// listAll reads every page of a listing, retrying a page that failed as
// unavailable from its token, and checks each item.
func listAll[T any](ctx context.Context, s *Service, list func(context.Context, connector.Page) ([]T, string, error), check func(T) error, count func() error) ([]T, error) {
	var out []T
	tok := ""
	for {
		var page []T
		var next string
		var err error
		for try := 0; ; try++ {
			page, next, err = list(ctx, connector.Page{Token: tok, Size: listPageSize})
			if err == nil || !errors.Is(err, connector.ErrUnavailable) || ctx.Err() != nil || try == maxRetries {
				break
			}
			wait := s.cfg.RetryWait << try
			select {
			case <-ctx.Done():
				return nil, connector.ContextError(ctx, "sync")
			case <-time.After(wait):
			}
		}
		if err != nil {
			return nil, err
		}
		for _, x := range page {
			if err := check(x); err != nil {
				return nil, fmt.Errorf("the connector listed an item out of bounds: %w", err)
			}
			if err := count(); err != nil {
				return nil, err
			}
		}
		out = append(out, page...)
		if next == "" {
			return out, nil
		}
		tok = next
	}
}

// GrantsDigest returns the SHA-256 (hex) of a grant set: over the grants
// in order of identity ID then entitlement ID (byte order), without
// repeats, each as its identity ID and its entitlement ID, each ID
// preceded by its length in bytes as 4 bytes big-endian. Two syncs that
// read the same grants have the same digest.
func GrantsDigest(grants []connector.Grant) string {
	gs := slices.Clone(grants)
	sortGrants(gs)
	gs = slices.Compact(gs)
	h := sha256.New()
	var n [4]byte
	for _, g := range gs {
		for _, id := range [2]string{g.IdentityID, g.EntitlementID} {
			binary.BigEndian.PutUint32(n[:], uint32(len(id)))
			h.Write(n[:])
			h.Write([]byte(id))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Stored snapshot items: short member names, since a snapshot may hold
// hundreds of thousands.
type (
	identityItem struct {
		ID    string            `json:"id"`
		Name  string            `json:"n"`
		Kind  string            `json:"k"`
		Attrs map[string]string `json:"a,omitempty"`
	}
	entitlementItem struct {
		ID          string `json:"id"`
		Name        string `json:"n"`
		Kind        string `json:"k"`
		Description string `json:"d,omitempty"`
	}
	grantItem struct {
		IdentityID      string `json:"i"`
		IdentityName    string `json:"in,omitempty"`
		EntitlementID   string `json:"e"`
		EntitlementName string `json:"en,omitempty"`
		EntitlementKind string `json:"ek,omitempty"`
	}
)

// chunks splits xs into chunks of chunkSize, as state writes of set.
func chunks[T any](id, set string, xs []T, put map[string]any) {
	for i := 0; i*chunkSize < len(xs); i++ {
		put[chunkKey(id, set, i)] = xs[i*chunkSize : min((i+1)*chunkSize, len(xs))]
	}
}

// snapshotKeys returns the keys of connector id's stored snapshot.
func snapshotKeys(ctx context.Context, o store.Org, id string) ([]string, error) {
	var keys []string
	err := o.Scan(ctx, prefixSnapshot+id+"/", "", func(k string, _ []byte) bool {
		keys = append(keys, k)
		return true
	})
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	return keys, err
}

// recordSnapshot stores it as connector id's snapshot, replacing the
// previous one, with its event; a failed connector becomes active.
func (s *Service) recordSnapshot(ctx context.Context, o store.Org, id, syncID string, started time.Time, it *items) (*Snapshot, error) {
	idents := make([]identityItem, len(it.identities))
	names := make(map[string]string, len(it.identities))
	for i, x := range it.identities {
		idents[i] = identityItem{ID: x.ID, Name: x.Name, Kind: x.Kind, Attrs: x.Attributes}
		names[x.ID] = x.Name
	}
	ents := make([]entitlementItem, len(it.entitlements))
	entOf := make(map[string]*entitlementItem, len(it.entitlements))
	for i, x := range it.entitlements {
		ents[i] = entitlementItem{ID: x.ID, Name: x.Name, Kind: x.Kind, Description: x.Description}
		entOf[x.ID] = &ents[i]
	}
	grants := make([]grantItem, len(it.grants))
	for i, g := range it.grants {
		grants[i] = grantItem{IdentityID: g.IdentityID, IdentityName: names[g.IdentityID], EntitlementID: g.EntitlementID}
		if e := entOf[g.EntitlementID]; e != nil {
			grants[i].EntitlementName, grants[i].EntitlementKind = e.Name, e.Kind
		}
	}
	snap := &Snapshot{
		SyncID: syncID, Started: started, Time: s.env.Now(), Identities: len(idents), Entitlements: len(ents), Grants: len(grants),
		GrantsDigest: GrantsDigest(it.grants),
	}
	put := map[string]any{}
	chunks(id, setIdentities, idents, put)
	chunks(id, setEntitlements, ents, put)
	chunks(id, setGrants, grants, put)
	for attempt := 0; ; attempt++ {
		r, raw, err := load(ctx, o, id)
		if err != nil {
			return nil, jobs.Failure("the connector no longer exists", err)
		}
		if r.State != Active && r.State != Failed && r.State != Rotating {
			return nil, jobs.Failure(fmt.Sprintf("the connector became %s during the sync; its snapshot was not recorded", r.State), nil)
		}
		ss, ssRaw, err := loadSync(ctx, o, id)
		if err != nil {
			return nil, err
		}
		old, err := snapshotKeys(ctx, o, id)
		if err != nil {
			return nil, err
		}
		prev := ""
		if ss.Last != nil {
			prev = ss.Last.GrantsDigest
		}
		ss.Last = snap
		c := store.Change{
			Event: core.NewEvent(ctx, ec.ConnectorSnapshotRecorded, ec.System, subject(id), map[string]any{
				"sync_id": syncID, "identities": snap.Identities, "entitlements": snap.Entitlements,
				"grants": snap.Grants, "grants_digest": snap.GrantsDigest, "previous_grants_digest": prev,
			}),
			Require: map[string][]byte{prefixConnector + id: raw, prefixSync + id: ssRaw},
			Put:     map[string]any{prefixSync + id: ss},
		}
		for k, v := range put {
			c.Put[k] = v
		}
		for _, k := range old {
			if _, ok := put[k]; !ok {
				c.Delete = append(c.Delete, k)
			}
		}
		changes := []store.Change{c}
		if hc, ok := s.health(ctx, r, raw, ec.System, ""); ok {
			changes = append(changes, hc)
		}
		_, err = o.Commit(ctx, ledger.AckDurable, changes...)
		if errors.Is(err, store.ErrConflict) && attempt < 4 {
			continue
		}
		if err != nil {
			return nil, err
		}
		return snap, nil
	}
}

// GrantView is a grant of a snapshot, with the names the sync read.
type GrantView struct {
	IdentityID, IdentityName                        string
	EntitlementID, EntitlementName, EntitlementKind string
}

// ListGrants lists the grants of connector id's latest snapshot, in
// identity then entitlement ID order, and describes the snapshot (nil
// before the first sync). A page token is bound to its snapshot.
func (s *Service) ListGrants(ctx context.Context, p *core.Principal, id string, size int32, pageToken string) ([]GrantView, string, *Snapshot, error) {
	o := s.env.OrgOf(p)
	if _, _, err := load(ctx, o, id); err != nil {
		return nil, "", nil, err
	}
	n, err := core.PageSize(size)
	if err != nil {
		return nil, "", nil, err
	}
	ss, _, err := loadSync(ctx, o, id)
	if err != nil {
		return nil, "", nil, err
	}
	listing := prefixSnapshot + id
	if ss.Last == nil {
		if pageToken != "" {
			if _, err := core.DecodePageToken(ctx, o, listing, pageToken); err != nil {
				return nil, "", nil, err
			}
		}
		return nil, "", nil, nil
	}
	snap := ss.Last
	offset := 0
	if pageToken != "" {
		b, err := core.DecodePageToken(ctx, o, listing, pageToken)
		if err != nil {
			return nil, "", nil, err
		}
		sid, off, ok := strings.Cut(string(b), " ")
		if offset, err = strconv.Atoi(off); !ok || err != nil || offset < 0 {
			return nil, "", nil, core.Invalid("page_token is not valid")
		}
		if sid != snap.SyncID {
			return nil, "", nil, errs.New(errs.Precondition, "a newer sync replaced the snapshot this listing started on; list again")
		}
	}
	var out []GrantView
	for i := offset; i < snap.Grants && len(out) < n; {
		var chunk []grantItem
		if _, err := o.GetJSON(ctx, chunkKey(id, setGrants, i/chunkSize), &chunk); err != nil {
			return nil, "", nil, err
		}
		if i%chunkSize >= len(chunk) {
			return nil, "", nil, fmt.Errorf("connector %s: snapshot %s: chunk %d is short", id, snap.SyncID, i/chunkSize)
		}
		for _, g := range chunk[i%chunkSize:] {
			if len(out) == n {
				break
			}
			out = append(out, GrantView(g))
			i++
		}
	}
	next := ""
	if end := offset + len(out); end < snap.Grants {
		if next, err = core.EncodePageToken(ctx, o, listing, fmt.Appendf(nil, "%s %d", snap.SyncID, end)); err != nil {
			return nil, "", nil, err
		}
	}
	return out, next, snap, nil
}
