// Package storage is the seam between the ledger's log logic and the
// engine that keeps its bytes: an ordered key-value store with atomic
// batches that become visible when applied and durable, in order, when
// synced. Sequencing, integration, hash tiles, checkpoints, proofs,
// idempotency, retention and the governance state all live above it, in
// package ledger; a driver only stores and returns bytes.
//
// The interface is that small on purpose: the governance state must
// commit atomically with the events that change it, which one batch of
// one ordered store gives for free, and an ordered key-value store maps
// onto every engine worth running a ledger on: Pebble (pebblestore, the
// embedded default), or one table (key bytea primary key, value bytea) of
// a PostgreSQL-compatible SQL engine, where a batch is a transaction, a
// range deletion a DELETE over a key range and an iterator a range scan
// in a snapshot. Package storagetest is the conformance suite every
// driver passes.
package storage

import (
	"context"
	"errors"
)

// ErrNotFound is returned by Get for a key the store does not hold.
var ErrNotFound = errors.New("storage: not found")

// Store is an ordered key-value store. Keys order bytewise. It is safe
// for concurrent use; batches are applied one at a time, by one writer.
type Store interface {
	Reader
	// NewBatch returns an empty batch; sizeHint is the bytes it will
	// probably hold.
	NewBatch(sizeHint int) Batch
	// Close releases the store. Every applied batch must have been
	// waited for.
	Close() error
}

// Reader reads a store's current state.
type Reader interface {
	// Get returns a copy of the value of key, or ErrNotFound. A stored
	// empty value is returned as an empty, non-nil slice.
	Get(key []byte) ([]byte, error)
	// NewIter returns an iterator over the keys in [lower, upper) (nil:
	// unbounded) as of its creation: batches applied later are not seen.
	NewIter(ctx context.Context, lower, upper []byte) (Iterator, error)
}

// Batch is a set of writes applied atomically: a reader sees all of them
// or none. Writes are applied in the order they were added; the store
// copies keys and values as they are added.
type Batch interface {
	Set(key, value []byte)
	Delete(key []byte)
	// DeleteRange deletes every key in [start, end).
	DeleteRange(start, end []byte)
	// Empty reports whether the batch holds no write.
	Empty() bool
	// Apply makes the batch visible to readers and starts making it
	// durable. Batches become durable in the order they were applied.
	Apply() error
	// Wait returns once the applied batch is durable: a crash after it
	// returns nil keeps the batch. An error from Apply or Wait may leave
	// the store unable to write: the caller stops writing and reopens
	// it.
	Wait() error
	// Close releases the batch: before Apply, or after Wait.
	Close()
}

// Iterator walks keys in order within its bounds. Key and Value are
// valid until the next move.
type Iterator interface {
	First() bool
	Last() bool
	Next() bool
	// SeekGE moves to the first key ≥ key; SeekLT to the last key < key.
	SeekGE(key []byte) bool
	SeekLT(key []byte) bool
	Valid() bool
	Key() []byte
	Value() ([]byte, error)
	// Error returns the error that stopped iteration, if any.
	Error() error
	Close() error
}

// Backuper is a store that can write a consistent copy of itself into a
// new directory while it is being written to.
type Backuper interface {
	Backup(dir string) error
}
