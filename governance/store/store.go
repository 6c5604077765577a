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
	"context"
	"encoding/json"
	"errors"
	"fmt"

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
	l  *ledger.Ledger
	id string
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
}

// Ack says when Commit returns; see ledger.Ack.
type Ack = ledger.Ack

// Commit appends the changes' events to the org's log, with their state
// writes, in one durable batch: all of them or none. It returns once the
// batch is durable (ledger.AckDurable) or a signed checkpoint covers it
// (ledger.AckCheckpoint).
func (o Org) Commit(ctx context.Context, ack Ack, changes ...Change) ([]ledger.Receipt, error) {
	entries := make([]ledger.Entry, len(changes))
	for i, c := range changes {
		ev, err := jcs.Marshal(c.Event)
		if err != nil {
			return nil, fmt.Errorf("encode event: %w", err)
		}
		e := ledger.Entry{Event: ev, IdempotencyKey: c.IdempotencyKey}
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
	rs, err := o.l.Append(ctx, o.id, entries, ack)
	return rs, mapErr(err)
}

func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ledger.ErrNotFound), errors.Is(err, ledger.ErrUnknownOrg):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, ledger.ErrPrecondition):
		return fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return err
}
