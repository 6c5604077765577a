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
)

// Store holds every org's governance state.
type Store struct {
	l *ledger.Ledger
}

// New returns a Store over l.
func New(l *ledger.Ledger) *Store { return &Store{l: l} }

// Ledger returns the underlying ledger, for reads of the log itself.
func (s *Store) Ledger() *ledger.Ledger { return s.l }

// Org returns the handle of org id. It does not check that the org
// exists; reads of a missing org return ErrNotFound.
func (s *Store) Org(id string) Org { return Org{l: s.l, id: id} }

// Org is the storage of one org.
type Org struct {
	l      *ledger.Ledger
	id     string
	holds  []Hold
	before func(ctx context.Context, events []any)
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
func (o Org) ID() string { return o.id }

// Get returns the value of key.
func (o Org) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := o.l.State(ctx, o.id, []byte(key))
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
		return nil, fmt.Errorf("state %q of org %s: %w", key, o.id, err)
	}
	return b, nil
}

// Scan calls fn for each key with prefix, in key order, from start
// (inclusive; empty means the first). fn returns false to stop.
func (o Org) Scan(ctx context.Context, prefix, start string, fn func(key string, value []byte) bool) error {
	stop := errors.New("stop")
	err := o.l.ScanState(ctx, o.id, []byte(prefix), func(k, v []byte) error {
		if string(k) < start {
			return nil
		}
		if !fn(string(k), v) {
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
	rs, err := o.l.Append(ctx, o.id, entries, ack)
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
		v, err := o.l.State(ctx, o.id, []byte(h.Key))
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
