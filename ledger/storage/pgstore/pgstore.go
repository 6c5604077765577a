// Package pgstore is a storage.Store on one table of a PostgreSQL-
// compatible SQL engine, through pgx: a key is a bytea primary key
// (bytea orders bytewise, as the ledger's keys must), a batch one
// transaction, a range deletion one DELETE over a key range, and an
// iterator paged range scans inside one read-only REPEATABLE READ
// transaction, so it sees the table as of its creation.
//
// It shows that the ledger's log logic runs on a SQL engine unchanged;
// it is not tuned: every commit is one transaction, acknowledged when
// PostgreSQL has made it durable (synchronous_commit on).
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nuxari/nuxari/ledger/storage"
)

// pageRows is how many rows an iterator reads per query.
const pageRows = 256

// Store is a storage.Store on one table.
type Store struct {
	pool  *pgxpool.Pool
	table string // quoted identifier
	// writeMu makes batches apply one at a time, in the order Apply is
	// called.
	writeMu sync.Mutex
}

var _ storage.Store = (*Store)(nil)

// Open returns a store on the table of that name, created if missing.
// The pool stays the caller's: Close does not close it.
func Open(ctx context.Context, pool *pgxpool.Pool, table string) (*Store, error) {
	s := &Store{pool: pool, table: pgx.Identifier{table}.Sanitize()}
	if _, err := pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+s.table+" (k bytea PRIMARY KEY, v bytea NOT NULL)"); err != nil {
		return nil, fmt.Errorf("pgstore: create table: %w", err)
	}
	return s, nil
}

// Get implements storage.Reader.
func (s *Store) Get(key []byte) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(context.Background(), "SELECT v FROM "+s.table+" WHERE k = $1", key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, storage.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// NewIter implements storage.Reader.
func (s *Store) NewIter(ctx context.Context, lower, upper []byte) (storage.Iterator, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	// A REPEATABLE READ snapshot is taken at the first statement.
	if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
		_ = tx.Rollback(ctx)
		return nil, err
	}
	return &iter{s: s, ctx: ctx, tx: tx, lower: clone(lower), upper: clone(upper)}, nil
}

// NewBatch implements storage.Store.
func (s *Store) NewBatch(int) storage.Batch { return &batch{s: s} }

// Close implements storage.Store.
func (s *Store) Close() error { return nil }

type op struct {
	kind       byte // 's' set, 'd' delete, 'r' range deletion
	key, value []byte
}

type batch struct {
	s   *Store
	ops []op
	err error
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

func (b *batch) Set(key, value []byte) {
	b.ops = append(b.ops, op{kind: 's', key: clone(key), value: append(make([]byte, 0, len(value)), value...)})
}
func (b *batch) Delete(key []byte) { b.ops = append(b.ops, op{kind: 'd', key: clone(key)}) }
func (b *batch) DeleteRange(start, end []byte) {
	b.ops = append(b.ops, op{kind: 'r', key: clone(start), value: clone(end)})
}
func (b *batch) Empty() bool { return len(b.ops) == 0 }

// Apply runs the batch as one transaction, its statements pipelined.
// Once committed it is visible and durable, so Wait has nothing left to
// wait for.
func (b *batch) Apply() error {
	b.s.writeMu.Lock()
	defer b.s.writeMu.Unlock()
	ctx := context.Background()
	b.err = pgx.BeginFunc(ctx, b.s.pool, func(tx pgx.Tx) error {
		var q pgx.Batch
		for _, o := range b.ops {
			switch o.kind {
			case 's':
				q.Queue("INSERT INTO "+b.s.table+" (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v", o.key, o.value)
			case 'd':
				q.Queue("DELETE FROM "+b.s.table+" WHERE k = $1", o.key)
			case 'r':
				q.Queue("DELETE FROM "+b.s.table+" WHERE k >= $1 AND k < $2", o.key, o.value)
			}
		}
		return tx.SendBatch(ctx, &q).Close()
	})
	return b.err
}

func (b *batch) Wait() error { return b.err }
func (b *batch) Close()      { b.ops = nil }

type row struct{ k, v []byte }

// iter pages through [lower, upper) in key order. After Last or SeekLT
// it holds one row and pages forward from it on Next.
type iter struct {
	s            *Store
	ctx          context.Context
	tx           pgx.Tx
	lower, upper []byte
	rows         []row
	pos          int
	more         bool // rows after the page may exist
	err          error
}

// load runs one query of at most pageRows rows: forward from key
// (inclusive or not), or the last row below key (nil: the upper bound).
func (it *iter) load(key []byte, inclusive, backward bool) bool {
	var conds []string
	var args []any
	arg := func(v []byte) string { args = append(args, v); return fmt.Sprintf("$%d", len(args)) }
	if it.lower != nil {
		conds = append(conds, "k >= "+arg(it.lower))
	}
	if it.upper != nil {
		conds = append(conds, "k < "+arg(it.upper))
	}
	order, limit := "ASC", pageRows
	switch {
	case backward:
		if key != nil {
			conds = append(conds, "k < "+arg(key))
		}
		order, limit = "DESC", 1
	case key != nil && inclusive:
		conds = append(conds, "k >= "+arg(key))
	case key != nil:
		conds = append(conds, "k > "+arg(key))
	}
	q := "SELECT k, v FROM " + it.s.table
	for i, c := range conds {
		if i == 0 {
			q += " WHERE " + c
		} else {
			q += " AND " + c
		}
	}
	q += fmt.Sprintf(" ORDER BY k %s LIMIT %d", order, limit)
	rs, err := it.tx.Query(it.ctx, q, args...)
	if err != nil {
		it.err, it.rows = err, nil
		return false
	}
	it.rows, it.pos = it.rows[:0], 0
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.k, &r.v); err != nil {
			rs.Close()
			it.err, it.rows = err, nil
			return false
		}
		it.rows = append(it.rows, r)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		it.err, it.rows = err, nil
		return false
	}
	it.more = len(it.rows) == limit
	return len(it.rows) > 0
}

func (it *iter) First() bool { return it.load(nil, true, false) }
func (it *iter) Last() bool  { return it.load(nil, false, true) }

func (it *iter) SeekGE(key []byte) bool { return it.load(key, true, false) }

func (it *iter) SeekLT(key []byte) bool { return it.load(key, false, true) }

func (it *iter) Next() bool {
	if !it.Valid() {
		return false
	}
	it.pos++
	if it.pos < len(it.rows) {
		return true
	}
	if !it.more {
		it.rows = it.rows[:0]
		return false
	}
	return it.load(it.rows[len(it.rows)-1].k, false, false)
}

func (it *iter) Valid() bool            { return it.err == nil && it.pos < len(it.rows) }
func (it *iter) Key() []byte            { return it.rows[it.pos].k }
func (it *iter) Value() ([]byte, error) { return it.rows[it.pos].v, nil }
func (it *iter) Error() error           { return it.err }
func (it *iter) Close() error           { return it.tx.Rollback(context.Background()) }
