package server

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/nuxari/nuxari/internal/buildinfo"
	"github.com/nuxari/nuxari/ledger"
)

// Backups and restores (docs/operations.md).
//
// A backup is a directory: ledger/ (a consistent Pebble checkpoint of the
// whole ledger: every org's log, checkpoints and governance state), the
// key files found in the data directory (log.key, kek.json,
// evidence-signing.pem), the local evidence packages (evidence/) if the
// server keeps them there, and backup.json. A running server takes one
// when asked on its admin socket (<data-dir>/admin.sock, mode 0600: only
// the server's own user, or root, may ask), so backups need no downtime.
//
// A restore copies a backup into a new data directory and marks it
// restored. A restored server may be behind what it signed before the
// backup was lost: it may have handed out checkpoints (receipts, evidence
// packages) of a longer log. Appending to the restored log would then
// sign a different tree at sizes already signed: a fork that every
// verifier holding one of those checkpoints detects. So Open logs each
// org's newest checkpoint and refuses to serve a restored data directory
// until the operator, having compared them with the checkpoints handed
// out, starts it once with Config.AcceptRestore.

const (
	backupManifest = "backup.json"
	restoredMarker = "RESTORED.json"
	adminSocket    = "admin.sock"
	evidenceDir    = "evidence"
)

// ErrRestored is returned by Open for a restored data directory until it
// is accepted (Config.AcceptRestore).
var ErrRestored = errors.New("the data directory was restored from a backup and may be behind checkpoints already handed out")

// BackupManifest describes a backup.
type BackupManifest struct {
	Created time.Time `json:"created"`
	// Version is the build that took it.
	Version string `json:"version"`
	// Files lists what the backup holds besides ledger/.
	Files []string `json:"files"`
	// Checkpoints are each org's latest checkpoint when the backup began;
	// the backup holds at least these.
	Checkpoints []OrgCheckpoint `json:"checkpoints"`
}

// OrgCheckpoint is an org's latest checkpoint, as a backup, a restore and
// a restored server's log lines state it.
type OrgCheckpoint struct {
	Org      string `json:"org"`
	TreeSize uint64 `json:"tree_size"`
	RootHash string `json:"root_hash"` // hex
}

// orgCheckpoints returns each org's latest checkpoint, each org's tree
// verified against it first.
func orgCheckpoints(l *ledger.Ledger) ([]OrgCheckpoint, error) {
	latest, err := l.LatestCheckpoints()
	if err != nil {
		return nil, err
	}
	var out []OrgCheckpoint
	for _, oc := range latest {
		out = append(out, OrgCheckpoint{Org: oc.Org, TreeSize: oc.Checkpoint.Size, RootHash: hex.EncodeToString(oc.Checkpoint.Root)})
	}
	return out, nil
}

// Backup writes a backup of the running server into dir, which must not
// exist, while it goes on serving.
func (s *Server) Backup(dir string) (BackupManifest, error) {
	m, err := backup(s.ledger, s.cfg.DataDir, dir)
	if err == nil {
		s.log.Info("backup written", slog.String("dir", absPath(dir)), slog.Any("files", m.Files), slog.Int("orgs", len(m.Checkpoints)))
	}
	return m, err
}

// BackupStopped writes a backup of the data directory of a server that
// is not running into dir, which must not exist.
func BackupStopped(dataDir, dir, logName string) (BackupManifest, error) {
	if _, err := os.Stat(filepath.Join(dataDir, ledgerDir)); err != nil {
		return BackupManifest{}, fmt.Errorf("backup: %s holds no ledger: %w", dataDir, err)
	}
	l, closeLedger, err := openLedgerOnly(dataDir, logName)
	if err != nil {
		return BackupManifest{}, fmt.Errorf("backup: %w", withAdvice(err, adviceBackup))
	}
	m, err := backup(l, dataDir, dir)
	if cerr := closeLedger(); err == nil && cerr != nil {
		err = fmt.Errorf("backup: %w", cerr)
	}
	return m, err
}

// openLedgerOnly opens the ledger of dataDir without the rest of a
// server, holding the data directory's lock: for backups and restores.
// close closes the ledger and releases the lock.
func openLedgerOnly(dataDir, logName string) (l *ledger.Ledger, close func() error, err error) {
	lock, err := lockDataDir(dataDir)
	if err != nil {
		return nil, nil, err
	}
	signer, vkey, _, err := logSigner(dataDir, logName)
	if err == nil {
		l, err = ledger.Open(ledger.Config{
			Dir: filepath.Join(dataDir, ledgerDir), FS: privateFS{vfs.Default}, LogName: logName, Signer: signer, VerifierKey: vkey,
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			err = openLedgerError(dataDir, logName, err)
		}
	}
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	return l, func() error {
		defer lock.Close()
		return l.Close()
	}, nil
}

func backup(l *ledger.Ledger, dataDir, dir string) (BackupManifest, error) {
	cps, err := orgCheckpoints(l)
	if err != nil {
		return BackupManifest{}, fmt.Errorf("backup: %w", err)
	}
	m := BackupManifest{Created: time.Now().UTC(), Version: buildinfo.Read().Version, Checkpoints: cps}
	if _, err := os.Lstat(dir); err == nil {
		return m, fmt.Errorf("backup: %s already exists; name a new directory", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	fail := func(err error) (BackupManifest, error) {
		os.RemoveAll(dir)
		return m, fmt.Errorf("backup: %w", err)
	}
	if err := l.Backup(filepath.Join(dir, ledgerDir)); err != nil {
		return fail(err)
	}
	for _, name := range []string{logKeyFile, kekFile, signingKeyFile, evidenceDir, migrationFile} {
		src := filepath.Join(dataDir, name)
		if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := copyTree(src, filepath.Join(dir, name)); err != nil {
			return fail(err)
		}
		m.Files = append(m.Files, name)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fail(err)
	}
	if err := writeNew(filepath.Join(dir, backupManifest), append(b, '\n')); err != nil {
		return fail(err)
	}
	return m, nil
}

// Restore copies the backup in dir into dataDir, which must not exist or
// be empty, marks it restored and returns each org's latest checkpoint in
// it, after checking that its every log verifies against that checkpoint
// (as every start does). The restored data directory is served only once
// accepted: see ErrRestored.
func Restore(dir, dataDir, logName string) ([]OrgCheckpoint, error) {
	raw, err := os.ReadFile(filepath.Join(dir, backupManifest))
	if err != nil {
		return nil, fmt.Errorf("restore: %s is not a backup: %w", dir, err)
	}
	var m BackupManifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("restore: %s: %w", backupManifest, err)
	}
	if entries, err := os.ReadDir(dataDir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("restore: %s is not empty; restore into a new data directory", dataDir)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	// The directory is marked restored before anything is copied into
	// it, so that whatever happens next (an interrupted copy, a ledger
	// that does not open or verify, one to migrate first), no server
	// serves it unaccepted.
	marker, err := json.MarshalIndent(map[string]any{"from": absPath(dir), "backup_created": m.Created, "restored": time.Now().UTC()}, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := writeNew(filepath.Join(dataDir, restoredMarker), append(marker, '\n')); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	for _, name := range append([]string{ledgerDir}, m.Files...) {
		if filepath.Base(name) != name || name == "." || name == ".." {
			return nil, fmt.Errorf("restore: %s names %q, not a file of a data directory", backupManifest, name)
		}
		if err := copyTree(filepath.Join(dir, name), filepath.Join(dataDir, name)); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
	}
	// Every org's tree is verified against its latest checkpoint. Opening
	// may sign checkpoints over entries the backup holds uncovered: those
	// are a prefix of what the lost server held, so they cannot
	// contradict its checkpoints. Nothing is appended.
	l, closeLedger, err := openLedgerOnly(dataDir, logName)
	if err != nil {
		return nil, fmt.Errorf("restore: the backup's ledger does not open: %w", withAdvice(err, adviceRestore))
	}
	cps, err := orgCheckpoints(l)
	if err != nil {
		closeLedger()
		return nil, fmt.Errorf("restore: the backup's ledger does not verify: %w", err)
	}
	if err := closeLedger(); err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	return cps, nil
}

// checkRestored logs each org's latest checkpoint if dataDir was restored
// and, unless accept is set, refuses with ErrRestored. Accepted, the mark
// goes, once the server has opened (clear).
func checkRestored(dataDir string, l *ledger.Ledger, accept bool, log *slog.Logger) (clear func() error, err error) {
	marker := filepath.Join(dataDir, restoredMarker)
	raw, err := os.ReadFile(marker)
	if errors.Is(err, fs.ErrNotExist) {
		return func() error { return nil }, nil
	}
	if err != nil {
		return nil, err
	}
	log.Warn("this data directory was restored from a backup: compare each org's newest checkpoint below with the newest checkpoint handed out for it (receipts, evidence packages, auditors' pins); serving with a shorter log would fork it", slog.String("restore", string(raw)))
	cps, err := orgCheckpoints(l)
	if err != nil {
		return nil, fmt.Errorf("the restored ledger does not verify: %w", err)
	}
	for _, oc := range cps {
		log.Warn("restored checkpoint", slog.String("org", oc.Org), slog.Uint64("tree_size", oc.TreeSize), slog.String("root_hash", oc.RootHash))
	}
	if !accept {
		return nil, fmt.Errorf("%w: check each org's newest checkpoint (logged above), then start once with --accept-restore", ErrRestored)
	}
	return func() error {
		log.Warn("restore accepted: serving the restored data directory")
		return os.Remove(marker)
	}, nil
}

// copyTree copies src (a file or a directory) to dst, which must not
// exist: hard links where the file system allows (backups of immutable
// files are cheap), copies otherwise; files are 0600 and directories
// 0700.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.Mkdir(to, 0o700)
		case !d.Type().IsRegular():
			return fmt.Errorf("%s is not a regular file", path)
		}
		if err := os.Link(path, to); err == nil {
			return nil
		}
		return copyFile(path, to)
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// The admin socket: operator requests to a running server, authorized by
// the file system (the socket is 0600 in the 0700 data directory).

// maxSocketPath is the longest path a Unix socket may have here.
const maxSocketPath = 104

// serveAdmin listens on the admin socket of the data directory until
// Close; a path too long for a socket leaves the server without one,
// with a warning (a backup then needs the server stopped).
func (s *Server) serveAdmin() {
	path := filepath.Join(absPath(s.cfg.DataDir), adminSocket)
	if len(path) > maxSocketPath {
		s.log.Warn("no admin socket: the data directory's path is too long for one; 'nuxarid backup' needs the server stopped", slog.String("path", path))
		return
	}
	os.Remove(path) // a stale socket: the data directory's lock is ours
	ln, err := net.Listen("unix", path)
	if err != nil {
		s.log.Warn("no admin socket", slog.String("path", path), slog.Any("error", err))
		return
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		s.log.Warn("no admin socket", slog.String("path", path), slog.Any("error", err))
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/backup", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Dir string `json:"dir"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil || !filepath.IsAbs(req.Dir) {
			http.Error(w, "the request is {\"dir\": an absolute path}", http.StatusBadRequest)
			return
		}
		m, err := s.Backup(req.Dir)
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(m)
	})
	s.admin = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.adminDone = make(chan struct{})
	go func() {
		defer close(s.adminDone)
		s.admin.Serve(ln)
	}()
}

func (s *Server) closeAdmin() {
	if s.admin == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s.admin.Shutdown(ctx) // a backup in progress finishes
	<-s.adminDone
	os.Remove(filepath.Join(absPath(s.cfg.DataDir), adminSocket))
}

// RequestBackup asks the server running on dataDir, through its admin
// socket, to write a backup into dir; ok is false when no server answers
// there (none runs, or it has no socket).
func RequestBackup(ctx context.Context, dataDir, dir string) (m BackupManifest, ok bool, err error) {
	path := filepath.Join(absPath(dataDir), adminSocket)
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
	body, err := json.Marshal(map[string]string{"dir": absPath(dir)})
	if err != nil {
		return m, false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://admin/v1/backup", bytes.NewReader(body))
	if err != nil {
		return m, false, err
	}
	resp, err := c.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return m, false, nil
		}
		return m, true, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return m, true, err
	}
	if resp.StatusCode != http.StatusOK {
		return m, true, fmt.Errorf("the server refused: %s", string(b))
	}
	return m, true, json.Unmarshal(b, &m)
}
