package connectors

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/jobs"
	"github.com/nuxari/nuxari/governance/sealing"
	"github.com/nuxari/nuxari/governance/store"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/ledger"
)

// orgRing is an org's keyring as read for one commit: the keyring, the
// sealed keyset it was opened from, and, for an org without one yet, the
// change that stores the new keyring.
type orgRing struct {
	ring   *sealing.Keyring
	sealed []byte
	create *store.Change
}

// keyring returns the org's keyring, made (in memory: see orgRing.with)
// if it has none. An opened keyring is kept while the stored keyset
// stays the same, so a KMS is asked once per change, not per use.
func (s *Service) keyring(ctx context.Context, o store.Org) (*orgRing, error) {
	if s.cfg.KEK == nil {
		return nil, errNoSealing
	}
	sealed, err := o.Get(ctx, keyKeyring)
	if errors.Is(err, store.ErrNotFound) {
		ring, sealed, err := sealing.NewKeyring(s.cfg.KEK, o.ID())
		if err != nil {
			return nil, err
		}
		return &orgRing{ring: ring, sealed: sealed, create: &store.Change{
			Event:   core.NewEvent(ctx, ec.SealingKeyringCreated, ec.System, o.ID(), map[string]any{"key_id": ring.Primary()}),
			Require: map[string][]byte{keyKeyring: nil},
			Put:     map[string]any{keyKeyring: sealed},
		}}, nil
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	cached, ok := s.rings[o.ID()]
	s.mu.Unlock()
	if ok && bytes.Equal(cached.sealed, sealed) {
		return &orgRing{ring: cached.ring, sealed: sealed}, nil
	}
	ring, err := sealing.OpenKeyring(s.cfg.KEK, o.ID(), sealed)
	if err != nil {
		return nil, fmt.Errorf("org %s: %w", o.ID(), err)
	}
	s.mu.Lock()
	s.rings[o.ID()] = openRing{sealed: sealed, ring: ring}
	s.mu.Unlock()
	return &orgRing{ring: ring, sealed: sealed}, nil
}

// with returns the changes of a commit that seals with the keyring: c,
// which also requires the keyset to be the one sealed with, after the
// change that stores a new keyring.
func (k *orgRing) with(c store.Change) []store.Change {
	if k.create != nil {
		return []store.Change{*k.create, c}
	}
	if c.Require == nil {
		c.Require = map[string][]byte{}
	}
	c.Require[keyKeyring] = k.sealed
	return []store.Change{c}
}

// seal seals each credential for connector id of org.
func (k *orgRing) seal(org, id string, creds map[string]secret.String, now time.Time) (map[string]credential, error) {
	out := make(map[string]credential, len(creds))
	key := k.ring.Primary()
	for f, v := range creds {
		ct, err := k.ring.Seal(v, sealing.AD{Org: org, Connector: id, Field: f})
		if err != nil {
			return nil, err
		}
		out[f] = credential{Sealed: ct, KeyID: key, Rotated: now}
	}
	return out, nil
}

// openCredentials opens connector id's credentials.
func (s *Service) openCredentials(ctx context.Context, o store.Org, id string, creds map[string]credential) (map[string]secret.String, error) {
	k, err := s.keyring(ctx, o)
	if err != nil {
		return nil, err
	}
	if k.create != nil {
		return nil, fmt.Errorf("%w: the org has no keyring", sealing.ErrCannotOpen)
	}
	out := make(map[string]secret.String, len(creds))
	for f, c := range creds {
		v, err := k.ring.Open(c.Sealed, sealing.AD{Org: o.ID(), Connector: id, Field: f})
		if err != nil {
			return nil, err
		}
		out[f] = v
	}
	return out, nil
}

// KeyInfo describes one of the org's sealing keys.
type KeyInfo struct {
	ID      uint32
	Primary bool
	Enabled bool
	// Credentials counts the credentials sealed under it.
	Credentials int
}

// Keys are the org's sealing keys and its latest reseal job.
type Keys struct {
	Keys []KeyInfo
	// ResealJob is the latest reseal job's ID; ResealState "running",
	// "succeeded" or "failed"; both empty without one.
	ResealJob, ResealState string
}

// eachCiphertext calls fn with every sealed credential of r: its fields,
// and a rotation's new and old ones.
func (r *record) eachCiphertext(fn func(set map[string]credential, field string)) {
	for _, set := range r.credentialSets() {
		for _, f := range sortedFields(set) {
			fn(set, f)
		}
	}
}

func (r *record) credentialSets() []map[string]credential {
	sets := []map[string]credential{r.Credentials}
	if r.Rotation != nil {
		sets = append(sets, r.Rotation.New, r.Rotation.Old)
	}
	return sets
}

// scanRecords calls fn with each connector record of the org.
func scanRecords(ctx context.Context, o store.Org, fn func(r *record)) error {
	return core.ScanJSON(ctx, o, prefixConnector, func(r *record) bool { fn(r); return true })
}

// GetKeys returns the org's sealing keys, with the credentials under
// each, and its latest reseal job.
func (s *Service) GetKeys(ctx context.Context, p *core.Principal) (Keys, error) {
	o := s.env.OrgOf(p)
	if _, err := o.Get(ctx, keyKeyring); errors.Is(err, store.ErrNotFound) {
		return Keys{}, nil
	} else if err != nil {
		return Keys{}, err
	}
	// The reseal job's state first: keys read after a job's end show
	// what it did.
	var out Keys
	if id, err := o.Get(ctx, keyReseal); err == nil {
		out.ResealJob = string(id)
		if j, err := s.runner.Get(ctx, o, ResealJobKind, out.ResealJob); err == nil {
			out.ResealState = jobState(j.State)
		}
	}
	k, err := s.keyring(ctx, o)
	if err != nil {
		return Keys{}, err
	}
	uses := map[uint32]int{}
	if err := scanRecords(ctx, o, func(r *record) {
		r.eachCiphertext(func(set map[string]credential, f string) { uses[set[f].KeyID]++ })
	}); err != nil {
		return Keys{}, err
	}
	for _, ki := range k.ring.Keys() {
		out.Keys = append(out.Keys, KeyInfo{ID: ki.ID, Primary: ki.Primary, Enabled: ki.Enabled, Credentials: uses[ki.ID]})
	}
	return out, nil
}

// jobState is a job's state as callers see a sync or reseal: queued and
// running are running, canceled is failed.
func jobState(st jobs.State) string {
	switch st {
	case jobs.Succeeded:
		return "succeeded"
	case jobs.Failed, jobs.Canceled:
		return "failed"
	}
	return "running"
}

// ResealJobKind is the job kind that reseals an org's credentials under
// its primary key after a rotation, then disables the keys nothing uses.
const ResealJobKind = "sealing.reseal"

// RotateKey adds a new primary sealing key ("sealing.key.rotated") and
// starts the reseal job; it returns the new key and the job's ID.
func (s *Service) RotateKey(ctx context.Context, p *core.Principal) (KeyInfo, string, error) {
	if s.cfg.KEK == nil {
		return KeyInfo{}, "", errNoSealing
	}
	o := s.env.OrgOf(p)
	sealed, err := o.Get(ctx, keyKeyring)
	if errors.Is(err, store.ErrNotFound) {
		return KeyInfo{}, "", errs.New(errs.Precondition, "the org has no sealing keys yet: they are made with its first connector")
	}
	if err != nil {
		return KeyInfo{}, "", err
	}
	// A keyring of its own: the cached one must not run ahead of what is
	// stored.
	ring, err := sealing.OpenKeyring(s.cfg.KEK, o.ID(), sealed)
	if err != nil {
		return KeyInfo{}, "", err
	}
	prev := ring.Primary()
	id, newSealed, err := ring.Rotate()
	if err != nil {
		return KeyInfo{}, "", err
	}
	jobID := core.NewID("k")
	_, err = s.runner.Submit(ctx, o, jobs.Request{
		Kind: ResealJobKind, ID: jobID, Args: map[string]any{},
		Change: store.Change{
			Event: core.NewEvent(ctx, ec.SealingKeyRotated, p.Actor(), o.ID(), map[string]any{
				"key_id": id, "previous_key_id": prev, "reseal_job_id": jobID,
			}),
			Require: map[string][]byte{keyKeyring: sealed},
			Put:     map[string]any{keyKeyring: newSealed, keyReseal: []byte(jobID)},
		},
	})
	switch {
	case errors.Is(err, jobs.ErrBusy):
		return KeyInfo{}, "", errs.New(errs.RateLimited, "the org has as many jobs queued or running as it may have; rotate again when one ends")
	case err != nil:
		return KeyInfo{}, "", core.Conflict(err)
	}
	return KeyInfo{ID: id, Primary: true, Enabled: true}, jobID, nil
}

// runReseal is the reseal job: it reseals every credential not under the
// primary key, one connector per commit ("sealing.credentials.resealed"),
// then disables every other key that no credential uses
// ("sealing.keys.disabled"). It is idempotent: a restart runs it again.
func (s *Service) runReseal(ctx context.Context, o store.Org, j *jobs.Job) (jobs.Result, error) {
	resealed := 0
	var ids []string
	if err := scanRecords(ctx, o, func(r *record) {
		ids = append(ids, r.ID)
	}); err != nil {
		return jobs.Result{}, err
	}
	j.Report(0, uint64(len(ids)))
	for i, id := range ids {
		n, err := s.resealOne(ctx, o, id)
		if err != nil {
			return jobs.Result{}, jobs.Failure(fmt.Sprintf("connector %s could not be resealed; the server log has details under job ID %s", id, j.ID), err)
		}
		resealed += n
		j.Report(uint64(i+1), uint64(len(ids)))
	}
	disabled, err := s.disableUnused(ctx, o)
	if err != nil {
		return jobs.Result{}, err
	}
	return jobs.Result{
		Record: map[string]any{"resealed": resealed, "disabled": disabled},
		Data:   map[string]any{"resealed": resealed, "disabled_key_ids": disabled},
	}, nil
}

// resealOne reseals connector id's credentials that are not under the
// primary key, and returns how many it resealed.
func (s *Service) resealOne(ctx context.Context, o store.Org, id string) (int, error) {
	for attempt := 0; ; attempt++ {
		r, raw, err := load(ctx, o, id)
		if err != nil {
			return 0, err
		}
		k, err := s.keyring(ctx, o)
		if err != nil {
			return 0, err
		}
		primary := k.ring.Primary()
		var fields []string
		from := map[uint32]bool{}
		var rerr error
		r.eachCiphertext(func(set map[string]credential, f string) {
			c := set[f]
			if c.KeyID == primary || rerr != nil {
				return
			}
			ct, err := k.ring.Reseal(c.Sealed, sealing.AD{Org: o.ID(), Connector: id, Field: f})
			if err != nil {
				rerr = err
				return
			}
			from[c.KeyID] = true
			c.Sealed, c.KeyID = ct, primary
			set[f] = c
			fields = append(fields, f)
		})
		if rerr != nil {
			return 0, rerr
		}
		if len(fields) == 0 {
			return 0, nil
		}
		var fromIDs []uint32
		for id := range from {
			fromIDs = append(fromIDs, id)
		}
		slices.Sort(fromIDs)
		_, err = o.Commit(ctx, ledger.AckDurable, k.with(store.Change{
			Event: core.NewEvent(ctx, ec.SealingCredentialsResealed, ec.System, subject(id), map[string]any{
				"fields": fields, "from_key_ids": fromIDs, "key_id": primary,
			}),
			Require: map[string][]byte{prefixConnector + id: raw},
			Put:     map[string]any{prefixConnector + id: r},
		})...)
		if errors.Is(err, store.ErrConflict) && attempt < 4 {
			continue
		}
		return len(fields), err
	}
}

// disableUnused disables every enabled key but the primary that no
// credential uses, in one commit, and returns their IDs.
func (s *Service) disableUnused(ctx context.Context, o store.Org) ([]uint32, error) {
	for attempt := 0; ; attempt++ {
		sealed, err := o.Get(ctx, keyKeyring)
		if err != nil {
			return nil, err
		}
		ring, err := sealing.OpenKeyring(s.cfg.KEK, o.ID(), sealed)
		if err != nil {
			return nil, err
		}
		used := map[uint32]bool{}
		if err := scanRecords(ctx, o, func(r *record) {
			r.eachCiphertext(func(set map[string]credential, f string) { used[set[f].KeyID] = true })
		}); err != nil {
			return nil, err
		}
		var disabled []uint32
		newSealed := sealed
		for _, ki := range ring.Keys() {
			if ki.Primary || !ki.Enabled || used[ki.ID] {
				continue
			}
			if newSealed, err = ring.Disable(ki.ID); err != nil {
				return nil, err
			}
			disabled = append(disabled, ki.ID)
		}
		if len(disabled) == 0 {
			return nil, nil
		}
		// Every commit that seals requires the keyset it sealed with, and
		// new credentials go under the primary: none can start using a
		// key disabled here.
		_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
			Event:   core.NewEvent(ctx, ec.SealingKeysDisabled, ec.System, o.ID(), map[string]any{"key_ids": disabled}),
			Require: map[string][]byte{keyKeyring: sealed},
			Put:     map[string]any{keyKeyring: newSealed},
		})
		if errors.Is(err, store.ErrConflict) && attempt < 4 {
			continue
		}
		return disabled, err
	}
}
