// Package store is the governance layer's only way to reach storage: a
// handle scoped to one org, over the ledger. Every state read and write, and
// every event, goes through Org, so a read or write across orgs cannot be
// expressed.
//
// State changes are committed as events: Commit appends each event to the
// org's log in the same durable batch as its state writes, checked against
// its preconditions (DESIGN.md, "Events first").
package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/jcs"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/tile"
)

// Errors returned by this package.
var (
	// ErrNotFound: the key, or the org itself, does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a precondition did not hold; the state changed since it
	// was read. Nothing was written.
	ErrConflict = errors.New("state changed concurrently")
	// ErrHoldBroken: a hold of the handle (the actor's session, token,
	// membership or role) changed after it was read. Nothing was written.
	// It is wrapped with the hold's own error.
	ErrHoldBroken = errors.New("the caller's credentials or role changed while the request ran; nothing was changed")
	// ErrInvalidOrg: not an org ID (leaf.ValidateOrg).
	ErrInvalidOrg = errors.New("invalid org ID")
)

// Store holds every org's governance state and log. It hands out one
// handle per org; nothing else reaches storage.
type Store struct {
	l *ledger.Ledger
}

// New returns a Store over l.
func New(l *ledger.Ledger) *Store { return &Store{l: l} }

// Org returns the handle of org id, its ID checked once here
// (ErrInvalidOrg). It does not check that the org exists; reads of a
// missing org return ErrNotFound, and its first commit creates it.
func (s *Store) Org(id string) (Org, error) {
	h, err := s.l.Org(id)
	if err != nil {
		return Org{}, fmt.Errorf("%w: %w", ErrInvalidOrg, err)
	}
	return Org{h: h}, nil
}

// Orgs returns the handle of every org that has a log, for work that
// goes through all of them (sweeps, recovery at start).
func (s *Store) Orgs() []Org {
	ids := s.l.Orgs()
	out := make([]Org, 0, len(ids))
	for _, id := range ids {
		if o, err := s.Org(id); err == nil {
			out = append(out, o)
		}
	}
	return out
}

// VerifierKey returns the note verifier key of every org's checkpoints.
func (s *Store) VerifierKey() string { return s.l.VerifierKey() }

// Org is the storage of one org: its state, its commits and the read
// side of its log. A handle forms keys only inside its org's space, so a
// read or write across orgs cannot be expressed.
type Org struct {
	h      *ledger.Org
	holds  []Hold
	before func(ctx context.Context, events []any)
}

// Log is the read side of an org's log; its errors are the ledger's
// (ledger.ErrUnknownOrg, ErrIndexOutOfRange, ErrPurged ...). Appends go
// through Org.Commit only.
type Log interface {
	Size() (uint64, error)
	Leaf(ctx context.Context, index uint64) (ledger.Leaf, error)
	Leaves(ctx context.Context, start, end uint64, fn func(ledger.Leaf) error) error
	Checkpoint(ctx context.Context) (ledger.Checkpoint, error)
	CheckpointAt(ctx context.Context, size uint64) (ledger.Checkpoint, error)
	InclusionProof(ctx context.Context, index, size uint64) ([][]byte, error)
	ConsistencyProof(ctx context.Context, size1, size2 uint64) ([][]byte, error)
	SubtreeHash(ctx context.Context, lo, hi uint64) ([]byte, error)
	Retention(ctx context.Context) (ledger.Retention, error)
	Origin() string
	VerifierKey() string
	// The log as C2SP tlog-tiles: hash tiles and entry bundles.
	ledger.TileReader
}

// Valid reports whether o is a handle made by Store.Org (the zero Org is
// not).
func (o Org) Valid() bool { return o.h != nil }

// Log returns the read side of the org's log.
func (o Org) Log() Log {
	if o.h == nil {
		return zeroLog{}
	}
	return o.h
}

// zeroLog is the log of the zero Org: every read fails.
type zeroLog struct{}

func (zeroLog) Size() (uint64, error)                             { return 0, errZero }
func (zeroLog) Leaf(context.Context, uint64) (ledger.Leaf, error) { return ledger.Leaf{}, errZero }
func (zeroLog) Checkpoint(context.Context) (ledger.Checkpoint, error) {
	return ledger.Checkpoint{}, errZero
}
func (zeroLog) Origin() string      { return "" }
func (zeroLog) VerifierKey() string { return "" }
func (zeroLog) Retention(context.Context) (ledger.Retention, error) {
	return ledger.Retention{}, errZero
}
func (zeroLog) Leaves(context.Context, uint64, uint64, func(ledger.Leaf) error) error {
	return errZero
}
func (zeroLog) CheckpointAt(context.Context, uint64) (ledger.Checkpoint, error) {
	return ledger.Checkpoint{}, errZero
}
func (zeroLog) InclusionProof(context.Context, uint64, uint64) ([][]byte, error) {
	return nil, errZero
}
func (zeroLog) ConsistencyProof(context.Context, uint64, uint64) ([][]byte, error) {
	return nil, errZero
}
func (zeroLog) SubtreeHash(context.Context, uint64, uint64) ([]byte, error) { return nil, errZero }
func (zeroLog) ReadTile(context.Context, uint64, tile.Tile) ([]byte, error) { return nil, errZero }
func (zeroLog) ReadEntryBundle(context.Context, uint64, tile.Tile) ([]byte, error) {
	return nil, errZero
}

// Hold is a state key whose value an actor's authority rests on (its
// session or token, its membership and role) as read when the actor was
// authenticated. A handle with holds commits only while every one of them
// still has that value.
type Hold struct {
	Key string
	// Value is the key's value as read; nil means it must be absent.
	Value []byte
	// Err is returned, wrapped, when a commit is refused because Key
	// changed (for example the caller's ErrUnauthenticated for a session,
	// ErrPermission for a membership).
	Err error
}

// Holding returns a handle of the same org whose commits also require
// every hold, checked in the same batch as the commit's own
// preconditions. Reads are unaffected.
func (o Org) Holding(holds ...Hold) Org {
	o.holds = append(append([]Hold(nil), o.holds...), holds...)
	return o
}

// ID returns the org's ID.
func (o Org) ID() string {
	if o.h == nil {
		return ""
	}
	return o.h.ID()
}

// errZero is every answer of the zero Org, which names no org.
var errZero = fmt.Errorf("%w: no org", ErrInvalidOrg)

// Get returns the value of key.
func (o Org) Get(ctx context.Context, key string) ([]byte, error) {
	if o.h == nil {
		return nil, errZero
	}
	v, err := o.h.State(ctx, []byte(key))
	return v, mapErr(err)
}

// GetJSON decodes the JSON value of key into v and returns the raw bytes,
// for use as a precondition.
func (o Org) GetJSON(ctx context.Context, key string, v any) ([]byte, error) {
	b, err := o.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("state %q of org %s: %w", key, o.ID(), err)
	}
	return b, nil
}

// Scan calls fn for each key with prefix, in key order, from start
// (inclusive; empty means the first). fn returns false to stop; value is
// fn's to keep.
func (o Org) Scan(ctx context.Context, prefix, start string, fn func(key string, value []byte) bool) error {
	if o.h == nil {
		return errZero
	}
	stop := errors.New("stop")
	err := o.h.ScanState(ctx, []byte(prefix), func(k, v []byte) error {
		if string(k) < start {
			return nil
		}
		// The iterator's value lives only until the next one: fn gets a
		// copy it may keep.
		if !fn(string(k), bytes.Clone(v)) {
			return stop
		}
		return nil
	})
	if err == stop {
		return nil
	}
	return mapErr(err)
}

// BeforeCommit returns a handle of the same org that calls fn with the
// changes' events before each commit, for tests that order a concurrent
// change deterministically.
func (o Org) BeforeCommit(fn func(ctx context.Context, events []any)) Org {
	o.before = fn
	return o
}

// Change is one event with the state writes that commit with it.
type Change struct {
	// Event is encoded as RFC 8785 canonical JSON: a struct or map that
	// encodes to a JSON object.
	Event any
	// IdempotencyKey, if set, makes the change idempotent.
	IdempotencyKey string
	// Require lists keys that must hold exactly the given bytes (nil:
	// absent) or nothing is written (ErrConflict).
	Require map[string][]byte
	// Put sets keys to values: []byte as is, anything else as JSON.
	Put map[string]any
	// Delete removes keys.
	Delete []string
	// Retention, if positive, sets the org's retention window with the
	// event (ledger.Entry.Retention).
	Retention time.Duration
}

// Ack says when Commit returns; see ledger.Ack.
type Ack = ledger.Ack

// Commit appends the changes' events to the org's log, with their state
// writes, in one durable batch: all of them or none. It returns once the
// batch is durable (ledger.AckDurable) or a signed checkpoint covers it
// (ledger.AckCheckpoint).
func (o Org) Commit(ctx context.Context, ack Ack, changes ...Change) ([]ledger.Receipt, error) {
	if o.h == nil {
		return nil, errZero
	}
	if o.before != nil {
		events := make([]any, len(changes))
		for i, c := range changes {
			events[i] = c.Event
		}
		o.before(ctx, events)
	}
	entries := make([]ledger.Entry, len(changes))
	for i, c := range changes {
		ev, err := jcs.Marshal(c.Event)
		if err != nil {
			return nil, fmt.Errorf("encode event: %w", err)
		}
		e := ledger.Entry{Event: ev, IdempotencyKey: c.IdempotencyKey, Retention: c.Retention}
		for k, v := range c.Require {
			e.Conditions = append(e.Conditions, ledger.Condition{Key: []byte(k), Value: v})
		}
		for k, v := range c.Put {
			b, ok := v.([]byte)
			if !ok {
				if b, err = json.Marshal(v); err != nil {
					return nil, fmt.Errorf("encode state %q: %w", k, err)
				}
			}
			e.Writes = append(e.Writes, ledger.Write{Key: []byte(k), Value: b})
		}
		for _, k := range c.Delete {
			e.Writes = append(e.Writes, ledger.Write{Key: []byte(k), Delete: true})
		}
		entries[i] = e
	}
	if len(o.holds) > 0 && len(entries) > 0 {
		// Conditions of one append all hold against the state before it,
		// so the first entry carrying them covers the whole batch.
		for _, h := range o.holds {
			entries[0].Conditions = append(entries[0].Conditions, ledger.Condition{Key: []byte(h.Key), Value: h.Value})
		}
	}
	rs, err := o.h.Append(ctx, entries, ack)
	if errors.Is(err, ledger.ErrPrecondition) {
		if herr := o.brokenHold(ctx); herr != nil {
			return nil, herr
		}
	}
	return rs, mapErr(err)
}

// brokenHold returns the error of the first hold whose key no longer has
// its value, nil if all still hold. A refused commit calls it to tell the
// caller's lost authority from an ordinary concurrent change.
func (o Org) brokenHold(ctx context.Context) error {
	for _, h := range o.holds {
		v, err := o.h.State(ctx, []byte(h.Key))
		switch {
		case errors.Is(err, ledger.ErrNotFound) || errors.Is(err, ledger.ErrUnknownOrg):
			if h.Value == nil {
				continue
			}
		case err != nil:
			return mapErr(err)
		case h.Value != nil && bytes.Equal(v, h.Value):
			continue
		}
		return fmt.Errorf("%w: %w", h.Err, ErrHoldBroken)
	}
	return nil
}

func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ledger.ErrNotFound), errors.Is(err, ledger.ErrUnknownOrg):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, ledger.ErrPrecondition):
		return fmt.Errorf("%w: %w", ErrConflict, err)
	case errors.Is(err, ledger.ErrClosed):
		return errs.Wrap(errs.Unavailable, err, "the server is shutting down; retry")
	case errors.Is(err, ledger.ErrFailed):
		return errs.Wrap(errs.Unavailable, err, "the log's storage failed; retry later")
	}
	return err
}
