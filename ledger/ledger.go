// Package ledger keeps one append-only Merkle log per org, over a storage
// driver (package storage; Pebble by default).
//
// Each org's log is an RFC 6962 Merkle tree whose leaves are the canonical
// bytes defined by package leaf, its hashes stored as C2SP tlog-tiles hash
// tiles (https://c2sp.org/tlog-tiles). A single committer gathers appends
// from all orgs and writes leaves, tiles, tree state and any governance
// state written with them in one durable batch (group commit) before
// anyone is acknowledged. A signer then issues C2SP tlog-checkpoint signed
// notes (https://c2sp.org/tlog-checkpoint) per org, after checking that
// each new tree extends the previous checkpoint; checkpoints are kept for
// a day, and beyond it the latest, those handed out and one per hour.
//
// Package ledger/verify checks everything this package serves, offline.
package ledger

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"

	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/storage"
	"github.com/nuxari/nuxari/ledger/storage/pebblestore"
	"github.com/nuxari/nuxari/ledger/verify"
)

// Limits.
const (
	// MaxEntrySize is the largest event (and the largest governance state
	// value) one entry may carry: 1 MiB.
	MaxEntrySize = 1 << 20
	// MaxStateKeySize is the longest governance state key.
	MaxStateKeySize = 1024
)

// Errors. Every error about the caller's input, the log's state or the
// ledger's health wraps one of these (or a context error), so callers
// match with errors.Is; an I/O error from storage is returned as Pebble
// reports it, with context.
var (
	ErrInvalidOrg            = leaf.ErrInvalidOrg
	ErrInvalidIdempotencyKey = leaf.ErrInvalidIdempotencyKey
	ErrInvalidEvent          = leaf.ErrInvalidEvent
	ErrEntryTooLarge         = errors.New("entry too large")
	ErrInvalidEntry          = errors.New("invalid entry")
	ErrUnknownOrg            = errors.New("unknown org")
	ErrIndexOutOfRange       = errors.New("leaf index out of range")
	ErrSizeOutOfRange        = errors.New("tree size larger than the log")
	ErrInvalidRange          = errors.New("invalid range")
	ErrNotFound              = errors.New("not found")
	ErrPurged                = errors.New("leaf payload purged after its retention window")
	// ErrBundleEntryTooLarge: an entry bundle cannot carry a leaf longer
	// than tile.MaxEntrySize bytes.
	ErrBundleEntryTooLarge = errors.New("leaf too large for a tlog-tiles entry bundle")
	ErrPrecondition        = errors.New("state precondition failed")
	ErrIdempotencyConflict = errors.New("idempotency key reused with a different event")
	ErrInvalidRetention    = errors.New("invalid retention window")
	ErrLogFull             = errors.New("log full")
	ErrClosed              = errors.New("ledger closed")
	// ErrFailed: storage failed during a commit; every later append is
	// refused until the ledger is reopened. An append that failed this way
	// may still be present after reopening: retry it with its idempotency
	// keys.
	ErrFailed  = errors.New("ledger failed; reopen it to recover")
	ErrCorrupt = errors.New("ledger storage does not match its checkpoint")
	// ErrOldLayout: the store was written in an older storage layout,
	// which Migrate converts.
	ErrOldLayout = errors.New("ledger storage is in an older layout; migrate it")
)

// CorruptionError reports an org whose stored tree does not match what it
// has signed. It wraps ErrCorrupt.
type CorruptionError struct {
	Org    string
	Size   uint64
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("ledger: org %q at tree size %d: %s", e.Org, e.Size, e.Reason)
}

// Unwrap returns ErrCorrupt.
func (e *CorruptionError) Unwrap() error { return ErrCorrupt }

// corrupt returns a *CorruptionError for o at its durable size.
func (o *orgInfo) corrupt(format string, args ...any) error {
	return &CorruptionError{Org: o.id, Size: o.size.Load(), Reason: fmt.Sprintf(format, args...)}
}

// Checkpoint is a signed tree head, as issued.
type Checkpoint = verify.Checkpoint

// Config configures a Ledger. The zero value of every field but Dir (or
// FS), Signer and VerifierKey is a working default.
type Config struct {
	// Dir is the Pebble directory.
	Dir string
	// FS is the file system (default: the OS file system).
	FS vfs.FS
	// LogName prefixes each org's checkpoint origin:
	// "<LogName>/orgs/<org>" (default "nuxari").
	LogName string
	// Signer signs checkpoints; VerifierKey is its note verifier key. See
	// ParseSignerKey.
	Signer      note.Signer
	VerifierKey string
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// MaxBatchEntries bounds the entries of one commit (default 4096).
	MaxBatchEntries int
	// MaxBatchBytes bounds the event bytes of one commit (default 32 MiB;
	// at least MaxEntrySize).
	MaxBatchBytes int
	// QueueLength is how many Append calls may wait for the committer
	// before further callers block (default 8192).
	QueueLength int
	// CheckpointInterval is the longest a durable entry stays unsigned
	// (default 100 ms). Orgs nobody waits on are signed once per interval.
	CheckpointInterval time.Duration
	// CheckpointHorizon is how long every checkpoint is kept (default 24
	// hours; negative: every checkpoint, for good). Beyond it an org keeps
	// the checkpoints handed out, its latest, and the last of each
	// CheckpointSpacing (default 1 hour) of entry time; see
	// Org.ThinCheckpoints.
	CheckpointHorizon time.Duration
	CheckpointSpacing time.Duration
	// MaxSignaturesPerRound bounds the checkpoints signed for waiting
	// appenders in one signing round (default 128, ~2.3 ms of Ed25519);
	// orgs beyond it wait for the next round, never past
	// CheckpointInterval.
	MaxSignaturesPerRound int
	// DefaultRetention is the retention window of an org that has none
	// set (default 7 × 365 days).
	DefaultRetention time.Duration
	// Store is where the ledger keeps its bytes (package storage); the
	// ledger closes it on Close. Default: Pebble in Dir (package
	// pebblestore), with FS and CacheSize.
	Store storage.Store
	// CacheSize is Pebble's block cache size (default 256 MiB).
	CacheSize int64
	// TileCacheSize bounds the cache of expanded hash tiles that proofs,
	// checkpoints and tile reads use: a full tile's 511 hashes (16 KiB)
	// and about 160 bytes of bookkeeping each, so the default 96 MiB
	// holds about 6,000 tiles, every tile of a 1.5-million-entry log.
	// Negative disables it.
	TileCacheSize int64
	// Registerer receives the ledger's metrics (default: none).
	Registerer prometheus.Registerer
	// Logger (default: discard).
	Logger *slog.Logger
}

// DefaultRetention is an org's retention window unless set: seven years.
const DefaultRetention = 7 * 365 * 24 * time.Hour

func (c *Config) setDefaults() {
	if c.LogName == "" {
		c.LogName = verify.DefaultLogName
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.MaxBatchEntries <= 0 {
		c.MaxBatchEntries = 4096
	}
	if c.MaxBatchBytes < MaxEntrySize {
		c.MaxBatchBytes = 32 << 20
	}
	if c.QueueLength <= 0 {
		c.QueueLength = 8192
	}
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = 100 * time.Millisecond
	}
	if c.CheckpointHorizon == 0 {
		c.CheckpointHorizon = 24 * time.Hour
	}
	if c.CheckpointSpacing <= 0 {
		c.CheckpointSpacing = time.Hour
	}
	if c.MaxSignaturesPerRound <= 0 {
		c.MaxSignaturesPerRound = 128
	}
	if c.DefaultRetention <= 0 {
		c.DefaultRetention = DefaultRetention
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 256 << 20
	}
	if c.TileCacheSize == 0 {
		c.TileCacheSize = 96 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Ledger is the set of per-org logs in one Pebble database. It is safe for
// concurrent use.
type Ledger struct {
	cfg    Config
	db     storage.Store
	signer note.Signer
	vkey   string
	m      *metrics
	tiles  *tileCache

	// sendMu guards closed and sends on queue.
	sendMu sync.RWMutex
	closed bool
	queue  chan *request
	applyq chan inflight
	ackq   chan inflight
	// applying counts built batches not yet applied to Pebble.
	applying sync.WaitGroup
	signq    chan signWork
	done     chan struct{}

	mu   sync.RWMutex
	orgs map[string]*orgInfo

	failure atomic.Pointer[error]
	// cpMu orders checkpoint thinning (write) against the markers of
	// checkpoints handed out by CheckpointAt and Checkpoint (read).
	cpMu     sync.RWMutex
	thinStop chan struct{}
	thinDone chan struct{}
	retMu    sync.Mutex // serializes retention record updates
}

// orgInfo is the in-memory view of one org's log.
type orgInfo struct {
	id   string
	keys orgKeys
	// st is owned by the committer goroutine.
	st treeState
	// size is the durable tree size, published after each commit.
	size atomic.Uint64
	// cp is the latest issued checkpoint (nil before the first).
	cp atomic.Pointer[Checkpoint]
	// cpAt is when cp was issued, or loaded when the ledger opened, or,
	// before the first, when the org was first seen (Unix nanoseconds,
	// by the ledger's clock).
	cpAt atomic.Int64
	// verifier checks this org's checkpoints.
	verifier *verify.Verifier
	// signed is the compact range of the tree cp signed, when the signer
	// knows it (owned by the signer goroutine): the next checkpoint's
	// tree is checked against it, extended by the leaves committed since,
	// without reading storage. Nil after Open until a checkpoint is
	// signed from a known range: then the check reads a consistency
	// proof from storage.
	signed *compact.Range
	// claimed is the size of the latest checkpoint stored when the
	// ledger opened, before it is verified (for Stats).
	claimed atomic.Uint64
	// marked is the size of the latest checkpoint whose handed-out
	// marker is durable (checkpoints.go).
	marked atomic.Uint64
	// ready verifies the stored tree once, on first use (Ledger.ensure);
	// readyErr is its outcome. Until then st and cp are unset.
	ready    sync.Once
	readyErr error
	// inUse: the org's tree has been verified (or the org is new) and
	// its state loaded; thinning visits only such orgs, so that it never
	// verifies or loads an idle one.
	inUse atomic.Bool
}

// Open opens (creating if needed) the ledger in cfg.Dir, finds its orgs,
// and starts the committer and signer. Each org's stored tree is checked
// against its latest checkpoint on the org's first use (at once if
// entries wait for a checkpoint): a mismatch is a *CorruptionError, from
// Open or from the org's calls.
func Open(cfg Config) (*Ledger, error) {
	cfg.setDefaults()
	if cfg.Signer == nil || cfg.VerifierKey == "" {
		return nil, errors.New("ledger: Config.Signer and Config.VerifierKey are required")
	}
	if cfg.Signer.Name() != keyName(cfg.VerifierKey) {
		return nil, errors.New("ledger: Config.Signer and Config.VerifierKey name different keys")
	}
	db, err := openStorage(cfg)
	if err != nil {
		return nil, err
	}
	l := &Ledger{
		cfg:    cfg,
		db:     db,
		signer: cfg.Signer,
		vkey:   cfg.VerifierKey,
		queue:  make(chan *request, cfg.QueueLength),
		applyq: make(chan inflight, 1),
		ackq:   make(chan inflight, 2),
		signq:  make(chan signWork, 64),
		done:   make(chan struct{}),
		orgs:   make(map[string]*orgInfo),
	}
	if cfg.TileCacheSize > 0 {
		l.tiles = newTileCache(cfg.TileCacheSize)
	}
	if err := l.recover(); err != nil {
		db.Close()
		return nil, err
	}
	l.m = newMetrics(cfg.Registerer, func() float64 { return float64(len(l.queue)) })
	s := newSigner(l)
	for _, o := range l.orgs {
		if cp := o.cp.Load(); o.st.size > 0 && (cp == nil || cp.Size < o.st.size) {
			s.add(o, o.st.size, o.st.root(), cfg.Clock(), nil)
		}
	}
	go l.commitLoop()
	go l.applyLoop()
	go l.ackLoop()
	go func() { s.run(); close(l.done) }()
	l.thinStop, l.thinDone = make(chan struct{}), make(chan struct{})
	go l.thinLoop()
	return l, nil
}

// openStorage returns cfg's store: Config.Store, or Pebble in Dir.
func openStorage(cfg Config) (storage.Store, error) {
	if cfg.Store != nil {
		return cfg.Store, nil
	}
	s, err := pebblestore.Open(cfg.Dir, pebblestore.Config{FS: cfg.FS, CacheSize: cfg.CacheSize, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	return s, nil
}

// VerifierKey returns the note verifier key of the log's checkpoints.
func (l *Ledger) VerifierKey() string { return l.vkey }

// Origin returns the checkpoint origin of org's log (Org.Origin for a
// handle).
func (l *Ledger) Origin(org string) string { return verify.Origin(l.cfg.LogName, org) }

// Close stops accepting appends, commits and acknowledges everything
// already queued, signs a final checkpoint for every org with unsigned
// entries, and closes the database.
func (l *Ledger) Close() error {
	l.sendMu.Lock()
	if l.closed {
		l.sendMu.Unlock()
		return ErrClosed
	}
	l.closed = true
	close(l.queue)
	l.sendMu.Unlock()
	close(l.thinStop)
	<-l.thinDone
	<-l.done
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("ledger: close: %w", err)
	}
	return nil
}

// fail records the first fatal storage error. After it every append fails
// with ErrFailed: Pebble's WAL errors are sticky, so the ledger must be
// reopened, which replays only what was durably written.
func (l *Ledger) fail(err error) {
	if l.failure.CompareAndSwap(nil, &err) {
		l.cfg.Logger.Error("ledger storage failed; appends refused until reopen", slog.Any("error", err))
	}
}

// commitSync applies b and waits for it to be durable; an error fails
// the ledger.
func (l *Ledger) commitSync(b storage.Batch) error {
	if err := l.failed(); err != nil {
		return err
	}
	err := b.Apply()
	if err == nil {
		err = b.Wait()
	}
	if err != nil {
		l.fail(err)
		return fmt.Errorf("%w: %w", ErrFailed, err)
	}
	return nil
}

func (l *Ledger) failed() error {
	if p := l.failure.Load(); p != nil {
		return fmt.Errorf("%w: %w", ErrFailed, *p)
	}
	return nil
}

func (l *Ledger) newOrgInfo(org string) (*orgInfo, error) {
	v, err := verify.NewVerifier(l.vkey, l.Origin(org))
	if err != nil {
		return nil, err
	}
	o := &orgInfo{id: org, keys: keysFor(org), verifier: v}
	o.cpAt.Store(l.cfg.Clock().UnixNano())
	return o, nil
}

// Stats are the ledger's totals, for metrics: none names an org.
type Stats struct {
	// Orgs counts the orgs with at least one entry; Entries their
	// entries, Uncovered those no checkpoint covers yet.
	Orgs               int
	Entries, Uncovered uint64
	// NewestCheckpoint is when the newest checkpoint of any org was
	// issued (zero before the first); UncoveredSince is when the oldest
	// wait for a checkpoint began: the newest checkpoint of the org
	// whose uncovered entries have waited longest (zero when every entry
	// is covered).
	NewestCheckpoint, UncoveredSince time.Time
}

// Stats returns the ledger's totals from memory: it reads no storage.
func (l *Ledger) Stats() Stats {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var st Stats
	var newest, oldest int64
	for _, o := range l.orgs {
		size := o.size.Load()
		if size == 0 {
			continue
		}
		st.Orgs++
		st.Entries += size
		at := o.cpAt.Load()
		covered := o.claimed.Load()
		if cp := o.cp.Load(); cp != nil {
			covered = cp.Size
		}
		if covered > 0 {
			newest = max(newest, at)
		}
		if size > covered {
			st.Uncovered += size - covered
			if oldest == 0 || at < oldest {
				oldest = at
			}
		}
	}
	if newest != 0 {
		st.NewestCheckpoint = time.Unix(0, newest)
	}
	if oldest != 0 {
		st.UncoveredSince = time.Unix(0, oldest)
	}
	return st
}

// Orgs returns the IDs of every org with at least one entry.
func (l *Ledger) Orgs() []string {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]string, 0, len(l.orgs))
	for id, o := range l.orgs {
		if o.size.Load() > 0 {
			out = append(out, id)
		}
	}
	return out
}
