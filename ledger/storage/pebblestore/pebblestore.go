// Package pebblestore is the ledger's embedded storage driver: a
// storage.Store on Pebble (github.com/cockroachdb/pebble/v2).
package pebblestore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/nuxari/nuxari/ledger/storage"
)

// Config configures a store.
type Config struct {
	// FS is the file system (default: the OS file system).
	FS vfs.FS
	// CacheSize is the block cache size (default 256 MiB).
	CacheSize int64
	// Logger receives Pebble's messages (default: discard).
	Logger *slog.Logger
}

// Store is a storage.Store on one Pebble database.
type Store struct {
	db    *pebble.DB
	cache *pebble.Cache
}

var (
	_ storage.Store    = (*Store)(nil)
	_ storage.Backuper = (*Store)(nil)
)

// Open opens (creating if needed) the Pebble database in dir.
func Open(dir string, cfg Config) (*Store, error) {
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 256 << 20
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cache := pebble.NewCache(cfg.CacheSize)
	opts := Options(cache)
	opts.FS = cfg.FS
	opts.Logger = logger{cfg.Logger}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		cache.Unref()
		return nil, fmt.Errorf("open pebble: %w", err)
	}
	return &Store{db: db, cache: cache}, nil
}

// Options returns the Pebble options Open uses with the given block
// cache, so that baselines can measure the same engine: fast block
// compression over 16 KiB blocks (so the repeated framing of consecutive
// leaves compresses), Bloom filters for point reads, large memtables.
func Options(cache *pebble.Cache) *pebble.Options {
	opts := &pebble.Options{
		Cache:                       cache,
		FormatMajorVersion:          pebble.FormatNewest,
		MemTableSize:                64 << 20,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       24,
		LBaseMaxBytes:               256 << 20,
	}
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		opts.Levels[i].BlockSize = 16 << 10
	}
	opts.EnsureDefaults()
	opts.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionFastest })
	return opts
}

// Get implements storage.Reader.
func (s *Store) Get(key []byte) ([]byte, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := append(make([]byte, 0, len(v)), v...)
	return out, closer.Close()
}

// NewIter implements storage.Reader.
func (s *Store) NewIter(ctx context.Context, lower, upper []byte) (storage.Iterator, error) {
	it, err := s.db.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	return iter{it}, nil
}

// NewBatch implements storage.Store.
func (s *Store) NewBatch(sizeHint int) storage.Batch {
	return &batch{db: s.db, b: s.db.NewBatchWithSize(sizeHint)}
}

// Backup implements storage.Backuper with a Pebble checkpoint: files are
// hard-linked where the file system allows.
func (s *Store) Backup(dir string) error {
	return s.db.Checkpoint(dir, pebble.WithFlushedWAL())
}

// Close implements storage.Store.
func (s *Store) Close() error {
	err := s.db.Close()
	s.cache.Unref()
	return err
}

type batch struct {
	db *pebble.DB
	b  *pebble.Batch
}

func (b *batch) Set(key, value []byte)         { _ = b.b.Set(key, value, nil) }
func (b *batch) Delete(key []byte)             { _ = b.b.Delete(key, nil) }
func (b *batch) DeleteRange(start, end []byte) { _ = b.b.DeleteRange(start, end, nil) }
func (b *batch) Empty() bool                   { return b.b.Empty() }

// Apply applies the batch without waiting for its WAL sync: Pebble turns
// a WAL error in a synchronous commit into Logger.Fatalf, while
// ApplyNoSyncWait returns it from SyncWait.
func (b *batch) Apply() error { return b.db.ApplyNoSyncWait(b.b, pebble.Sync) }

// Wait waits for the WAL sync. Pebble MUST NOT be handed back a batch
// applied with ApplyNoSyncWait before its SyncWait, even after an error:
// the WAL still holds it until the sync is over.
func (b *batch) Wait() error { return b.b.SyncWait() }
func (b *batch) Close()      { _ = b.b.Close() }

type iter struct{ it *pebble.Iterator }

func (i iter) First() bool            { return i.it.First() }
func (i iter) Last() bool             { return i.it.Last() }
func (i iter) Next() bool             { return i.it.Next() }
func (i iter) SeekGE(key []byte) bool { return i.it.SeekGE(key) }
func (i iter) SeekLT(key []byte) bool { return i.it.SeekLT(key) }
func (i iter) Valid() bool            { return i.it.Valid() }
func (i iter) Key() []byte            { return i.it.Key() }
func (i iter) Value() ([]byte, error) { return i.it.ValueAndErr() }
func (i iter) Error() error           { return i.it.Error() }
func (i iter) Close() error           { return i.it.Close() }

type logger struct{ l *slog.Logger }

func (q logger) Infof(format string, args ...any) {
	q.l.Debug(fmt.Sprintf(format, args...), slog.String("component", "pebble"))
}
func (q logger) Errorf(format string, args ...any) {
	q.l.Error(fmt.Sprintf(format, args...), slog.String("component", "pebble"))
}
func (q logger) Fatalf(format string, args ...any) {
	q.l.Error(fmt.Sprintf(format, args...), slog.String("component", "pebble"))
	panic(fmt.Sprintf(format, args...))
}
