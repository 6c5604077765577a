package server

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/logapi"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/verify"
)

// Migrations of the ledger's storage layout (docs/operations.md,
// "Upgrades").
//
// ledger.Open refuses a store in an older layout (ledger.ErrOldLayout);
// Open and the backup commands then name the command that converts it,
// 'nuxarid migrate', which runs MigrateLedger with the server stopped.
//
// Each org whose log was converted gets a ledger.migrated event. The
// event cannot be appended in the batch that switches the store to the
// new layout (ledger.Migrate writes that batch, and appends need an open
// ledger), so a crash can fall between the two. The data directory's
// migration record (MIGRATION.json) bridges it: written before
// ledger.Migrate starts, rewritten with each org's size and root hash
// once it returns, and removed once every org's event is in its log.
// Whoever opens the migrated ledger to append (MigrateLedger itself, or
// Open, before anything else can append) first records what the record
// names, each event under its org's idempotency key
// (logapi.MigrationKey), so a crash while recording records nothing twice.
// If the crash fell after the switch but before the record held the
// orgs, nothing has been appended since (every path that appends records
// first), so each org's size and root now are those it was migrated at.

// The storage layouts a migration converts from and to: 1, the first
// releases' leaf and node records; 2, hash tiles.
const (
	fromLayout = 1
	toLayout   = 2
)

// migrationFile is the migration record of a data directory.
const migrationFile = "MIGRATION.json"

// MigrationStatus says what MigrateLedger found and did.
type MigrationStatus string

// The outcomes of MigrateLedger.
const (
	// MigrationNoLedger: the data directory holds no ledger yet; nothing
	// was done.
	MigrationNoLedger MigrationStatus = "no_ledger"
	// MigrationCurrent: the ledger is already in the current layout, with
	// nothing left to record; nothing changed.
	MigrationCurrent MigrationStatus = "current"
	// MigrationMigrated: the ledger was converted (an interrupted run
	// resumed, if there was one).
	MigrationMigrated MigrationStatus = "migrated"
	// MigrationRecorded: an earlier run had converted the ledger but
	// stopped before recording every org's ledger.migrated event; this
	// run recorded them.
	MigrationRecorded MigrationStatus = "recorded"
)

// MigrationReport is what MigrateLedger did.
type MigrationReport struct {
	DataDir    string          `json:"data_dir"`
	Status     MigrationStatus `json:"status"`
	FromLayout int             `json:"from_layout,omitempty"`
	ToLayout   int             `json:"to_layout,omitempty"`
	// Orgs are the orgs converted, by ID.
	Orgs []MigratedOrg `json:"orgs,omitempty"`
	// RecordPending: the data directory was restored from a backup and
	// not yet accepted, so the ledger.migrated events are recorded at its
	// first start with --accept-restore, not now.
	RecordPending bool `json:"record_pending,omitempty"`
}

// MigratedOrg is one org's conversion.
type MigratedOrg struct {
	Org string `json:"org"`
	// TreeSize and RootHash (hex) are the org's tree when it was
	// converted: the same root from the old records and the tiles, and a
	// tree that extends the org's latest checkpoint.
	TreeSize uint64 `json:"tree_size"`
	RootHash string `json:"root_hash"`
	// Resumed says an earlier, interrupted run had begun the org.
	Resumed bool `json:"resumed"`
	// Event is the index of the org's ledger.migrated event, once
	// recorded; Recorded says this run appended it (an earlier one
	// did otherwise).
	Event    *uint64 `json:"event,omitempty"`
	Recorded bool    `json:"recorded,omitempty"`
}

// migrationRecord is MIGRATION.json.
type migrationRecord struct {
	FromLayout int       `json:"from_layout"`
	ToLayout   int       `json:"to_layout"`
	Started    time.Time `json:"started"`
	// Converted is set once the ledger is in the new layout and Orgs
	// lists every org converted.
	Converted bool          `json:"converted"`
	Orgs      []MigratedOrg `json:"orgs"`
}

// MigrateLedger converts the ledger of cfg.DataDir to the storage layout
// this version reads and records a ledger.migrated event in each
// converted org's log. It must run with no server on the data directory:
// it takes the directory's lock (ErrDataDirInUse otherwise). It is
// resumable: after an interruption (a crash, or ctx ending, which stops
// it after the batch in progress) a rerun goes on where it stopped. A
// ledger already in the current layout, or a data directory without a
// ledger, is left unchanged. progress, if not nil, is called after each
// batch of an org's entries is durable.
//
// It opens only the ledger and the log feature: no key is generated, no
// job or connector runs.
func MigrateLedger(ctx context.Context, cfg Config, progress func(org string, done, size uint64)) (MigrationReport, error) {
	if cfg.DataDir == "" {
		return MigrationReport{}, errors.New("server: DataDir is required")
	}
	if cfg.Ledger.Store != nil {
		return MigrationReport{}, errors.New("server: MigrateLedger converts the data directory's own ledger; Config.Ledger.Store must be nil")
	}
	if cfg.LogName == "" {
		cfg.LogName = verify.DefaultLogName
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	rep := MigrationReport{DataDir: absPath(cfg.DataDir)}
	if _, err := os.Stat(filepath.Join(cfg.DataDir, ledgerDir)); errors.Is(err, fs.ErrNotExist) {
		rep.Status = MigrationNoLedger
		return rep, nil
	} else if err != nil {
		return rep, fmt.Errorf("migrate: %w", err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return rep, err
	}
	defer lock.Close()
	keyPath := filepath.Join(cfg.DataDir, logKeyFile)
	if _, err := os.Stat(keyPath); err != nil {
		return rep, fmt.Errorf("migrate: the data directory has a ledger but no log key: %w", err)
	}
	signer, vkey, _, err := logSigner(cfg.DataDir, cfg.LogName)
	if err != nil {
		return rep, err
	}
	lc := ledgerConfig(cfg, signer, vkey, nil)
	rec, err := readMigrationRecord(cfg.DataDir)
	if err != nil {
		return rep, err
	}
	l, err := ledger.Open(lc)
	switch {
	case errors.Is(err, ledger.ErrOldLayout):
		if rec == nil {
			rec = &migrationRecord{FromLayout: fromLayout, ToLayout: toLayout, Started: time.Now().UTC()}
			if err := writeMigrationRecord(cfg.DataDir, rec); err != nil {
				return rep, err
			}
		}
		migrated, err := ledger.Migrate(ctx, lc, progress)
		if err != nil {
			return rep, fmt.Errorf("migrate: %w (run the command again to resume)", err)
		}
		rec.Orgs = make([]MigratedOrg, 0, len(migrated))
		for _, m := range migrated {
			rec.Orgs = append(rec.Orgs, MigratedOrg{Org: m.Org, TreeSize: m.Size, RootHash: hex.EncodeToString(m.Root), Resumed: m.ResumedAt > 0})
		}
		rec.Converted = true
		if err := writeMigrationRecord(cfg.DataDir, rec); err != nil {
			return rep, err
		}
		rep.Status = MigrationMigrated
		if l, err = ledger.Open(lc); err != nil {
			return rep, fmt.Errorf("migrate: the migrated ledger does not open: %w", err)
		}
	case err != nil:
		return rep, openLedgerError(cfg.DataDir, cfg.LogName, err)
	case rec == nil:
		rep.Status = MigrationCurrent
		return rep, l.Close()
	default:
		rep.Status = MigrationRecorded
	}
	rep.FromLayout, rep.ToLayout = rec.FromLayout, rec.ToLayout
	if _, err := os.Stat(filepath.Join(cfg.DataDir, restoredMarker)); err == nil {
		// A restored data directory appends nothing before it is
		// accepted: its first start with AcceptRestore records.
		err := completeMigrationRecord(ctx, cfg.DataDir, l, rec)
		rep.Orgs, rep.RecordPending = rec.Orgs, true
		if rep.Status == MigrationRecorded {
			rep.Status = MigrationCurrent
		}
		return rep, errors.Join(err, l.Close())
	}
	svc := logapi.New(core.NewEnv(store.New(l), nil, cfg.Logger, nil), logapi.Config{})
	rec, err = recordMigration(ctx, cfg.DataDir, l, svc, cfg.Logger)
	if rec != nil {
		rep.Orgs = rec.Orgs
	}
	return rep, errors.Join(err, l.Close())
}

// recordMigration appends the ledger.migrated event of each org that the
// data directory's migration record names, once (see the top of this
// file), then removes the record. It returns the record, with each org's
// event, or nil if there is none. Open calls it before anything else can
// append.
func recordMigration(ctx context.Context, dataDir string, l *ledger.Ledger, svc *logapi.Service, log *slog.Logger) (*migrationRecord, error) {
	rec, err := readMigrationRecord(dataDir)
	if err != nil || rec == nil {
		return nil, err
	}
	if err := completeMigrationRecord(ctx, dataDir, l, rec); err != nil {
		return nil, err
	}
	for i := range rec.Orgs {
		o := &rec.Orgs[i]
		root, err := hex.DecodeString(o.RootHash)
		if err != nil {
			return nil, fmt.Errorf("%s: org %s: root hash: %w", migrationFile, o.Org, err)
		}
		index, appended, err := svc.RecordMigration(ctx, o.Org, logapi.Migration{
			FromLayout: rec.FromLayout, ToLayout: rec.ToLayout, TreeSize: o.TreeSize, RootHash: root, Resumed: o.Resumed,
		})
		if err != nil {
			return nil, fmt.Errorf("record the ledger's migration: %w", err)
		}
		o.Event, o.Recorded = &index, appended
		log.Info("recorded the ledger's migration", slog.String("org", o.Org), slog.Uint64("tree_size", o.TreeSize),
			slog.String("root_hash", o.RootHash), slog.Uint64("event", index), slog.Bool("appended", appended))
	}
	if err := removeSynced(filepath.Join(dataDir, migrationFile)); err != nil {
		return nil, fmt.Errorf("record the ledger's migration: %w", err)
	}
	return rec, nil
}

// completeMigrationRecord fills in the orgs of a record that a crash left
// without them, after the ledger had switched layouts: each org's tree
// now is the tree it was migrated at, since nothing appends before the
// record is done. Which orgs an earlier run had begun is lost with the
// crash; the conversion did take two runs, so each is marked resumed.
func completeMigrationRecord(ctx context.Context, dataDir string, l *ledger.Ledger, rec *migrationRecord) error {
	if rec.Converted {
		return nil
	}
	ids := l.Orgs()
	slices.Sort(ids)
	rec.Orgs = make([]MigratedOrg, 0, len(ids))
	for _, id := range ids {
		size, err := l.Size(id)
		if err != nil {
			return err
		}
		root, err := l.SubtreeHash(ctx, id, 0, size)
		if err != nil {
			return fmt.Errorf("org %s: %w", id, err)
		}
		rec.Orgs = append(rec.Orgs, MigratedOrg{Org: id, TreeSize: size, RootHash: hex.EncodeToString(root), Resumed: true})
	}
	rec.Converted = true
	return writeMigrationRecord(dataDir, rec)
}

// readMigrationRecord reads the data directory's migration record, nil
// if there is none.
func readMigrationRecord(dataDir string) (*migrationRecord, error) {
	raw, err := os.ReadFile(filepath.Join(dataDir, migrationFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec migrationRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dataDir, migrationFile), err)
	}
	return &rec, nil
}

// writeMigrationRecord replaces the data directory's migration record
// durably: a new file, synced, renamed over the old, the directory
// synced.
func writeMigrationRecord(dataDir string, rec *migrationRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dataDir, migrationFile)
	tmp := path + ".tmp"
	os.Remove(tmp)
	if err := writeNew(tmp, append(b, '\n')); err != nil {
		return fmt.Errorf("write %s: %w", migrationFile, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", migrationFile, err)
	}
	return syncDir(dataDir)
}

// removeSynced removes path and syncs its directory.
func removeSynced(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// openLedgerError is the error of a ledger that did not open: for one in
// an older storage layout, what to do, with the command to run.
func openLedgerError(dataDir, logName string, err error) error {
	if !errors.Is(err, ledger.ErrOldLayout) {
		return fmt.Errorf("open ledger: %w", err)
	}
	return &oldLayoutError{dataDir: absPath(dataDir), cmd: MigrateCommand(dataDir, logName), advice: adviceMigrate, err: err}
}

// What to do about a ledger in an older layout, with %s for the command
// that migrates it: before a start, before a backup, after a restore.
const (
	adviceMigrate = "back it up, then, with no server running, run '%s'"
	adviceBackup  = "back it up with the nuxarid that wrote it (while that server runs, or with it stopped), " +
		"or copy the whole data directory while no server runs; then run '%s'"
	adviceRestore = "run '%s' to convert the restored copy; the data directory stays marked restored " +
		"(check its checkpoints, then start it once with --accept-restore)"
)

// oldLayoutError says that a data directory's ledger must be migrated,
// and how; it wraps ledger.ErrOldLayout.
type oldLayoutError struct {
	dataDir, cmd string
	advice       string // with %s for cmd
	err          error
}

func (e *oldLayoutError) Error() string {
	return fmt.Sprintf("the ledger of data directory %s is in an older storage layout (layout %d), which this version of nuxarid does not read: ",
		e.dataDir, fromLayout) + fmt.Sprintf(e.advice, e.cmd) + ` (see docs/operations.md, "Upgrades")`
}

func (e *oldLayoutError) Unwrap() error { return e.err }

// withAdvice replaces the advice of an oldLayoutError in err, if any.
func withAdvice(err error, advice string) error {
	var ole *oldLayoutError
	if errors.As(err, &ole) {
		c := *ole
		c.advice = advice
		return &c
	}
	return err
}

// MigrateCommand is the command line that migrates dataDir's ledger.
func MigrateCommand(dataDir, logName string) string {
	cmd := "nuxarid migrate --data-dir " + shellQuote(absPath(dataDir))
	if logName != "" && logName != verify.DefaultLogName {
		cmd += " --log-name " + shellQuote(logName)
	}
	return cmd
}

// shellQuote quotes s for a POSIX shell if it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+,:@=%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
