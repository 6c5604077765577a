package server

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
	"golang.org/x/mod/sumdb/note"

	"github.com/nuxari/nuxari/governance/sealing"
	"github.com/nuxari/nuxari/ledger"
)

// File names inside the data directory.
const (
	logKeyFile = "log.key"  // note signer key of the log (Ed25519)
	kekFile    = "kek.json" // key-encryption key: a Tink AES-256-GCM keyset
	ledgerDir  = "ledger"
)

// keyFiles lists the key files Open loaded or generated.
type keyFiles struct{ generated, loaded []string }

func (k *keyFiles) add(path string, generated bool) {
	if generated {
		k.generated = append(k.generated, absPath(path))
	} else {
		k.loaded = append(k.loaded, absPath(path))
	}
}

// log says which key files were generated, and that they need a backup:
// without them the log cannot go on under its verifier key, sealed
// credentials cannot be opened, and manifests cannot be signed with the
// key auditors pinned.
func (k *keyFiles) log(log *slog.Logger) {
	if len(k.generated) > 0 {
		log.Warn("generated new keys: back these files up now, they cannot be recreated", slog.Any("files", k.generated))
	}
	if len(k.loaded) > 0 {
		log.Info("loaded keys", slog.Any("files", k.loaded))
	}
}

// absPath returns path made absolute for log lines and messages, or path
// as it is if that fails.
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// writeNew writes a new file with mode 0600, failing if it exists, and
// syncs it so that a key is never lost after it was first used.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// readPrivate reads a key file, refusing one that others may read.
func readPrivate(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %v: a key file must be readable by its owner only (chmod 600)", path, st.Mode().Perm())
	}
	return os.ReadFile(path)
}

// logSigner loads the log's signing key from dir, generating it on first
// start (generated says so).
func logSigner(dir, logName string) (s note.Signer, vkey string, generated bool, err error) {
	path := filepath.Join(dir, logKeyFile)
	b, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		skey, _, gerr := ledger.GenerateSignerKey(rand.Reader, logName)
		if gerr != nil {
			return nil, "", false, gerr
		}
		if err := writeNew(path, []byte(skey+"\n")); err != nil {
			return nil, "", false, fmt.Errorf("write log key: %w", err)
		}
		b, err, generated = []byte(skey), nil, true
	}
	if err != nil {
		return nil, "", false, fmt.Errorf("log key: %w", err)
	}
	s, vkey, err = ledger.ParseSignerKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, "", false, fmt.Errorf("log key %s: %w", path, err)
	}
	if s.Name() != logName {
		return nil, "", false, fmt.Errorf("log key %s signs for log %q, not %q: the log name cannot change once keys exist", path, s.Name(), logName)
	}
	return s, vkey, generated, nil
}

// keyEncryptionKey loads the key-encryption key from dir, generating it on
// first start (generated says so). It wraps the per-org keys that seal
// credentials. A KMS URI replaces this file in production.
func keyEncryptionKey(dir string) (kek tink.AEAD, generated bool, err error) {
	path := filepath.Join(dir, kekFile)
	b, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		h, gerr := keyset.NewHandle(aead.AES256GCMKeyTemplate())
		if gerr != nil {
			return nil, false, gerr
		}
		var buf bytes.Buffer
		if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
			return nil, false, err
		}
		if err := writeNew(path, buf.Bytes()); err != nil {
			return nil, false, fmt.Errorf("write key-encryption key: %w", err)
		}
		b, err, generated = buf.Bytes(), nil, true
	}
	if err != nil {
		return nil, false, fmt.Errorf("key-encryption key: %w", err)
	}
	kek, err = sealing.LocalKEK(b)
	if err != nil {
		return nil, false, fmt.Errorf("key-encryption key %s: %w", path, err)
	}
	return kek, generated, nil
}

// makePrivateDir creates dir 0700, or tightens an existing one that
// others may enter, with a log line.
func makePrivateDir(dir string, log *slog.Logger) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return tighten(dir, log)
}

// tighten takes the group's and others' permissions off path, with a log
// line, if it has any.
func tighten(path string, log *slog.Logger) error {
	st, err := os.Lstat(path)
	if err != nil || st.Mode()&fs.ModeSymlink != 0 {
		return err
	}
	perm := st.Mode().Perm()
	if perm&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, perm&^0o077); err != nil {
		return err
	}
	log.Warn("tightened the mode of a data directory entry: only the server's user may read it",
		slog.String("path", path), slog.String("was", perm.String()), slog.String("now", (perm&^0o077).String()))
	return nil
}

// tightenDataDir walks the data directory and tightens every directory
// and file that others may read: the data directory holds keys and
// plaintext ledger data (directories 0700, files 0600 or stricter). Key
// files are left to readPrivate, which refuses a loose one: a key others
// could read may have leaked, and the operator must know.
func tightenDataDir(dir string, log *slog.Logger) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch path {
		case filepath.Join(dir, logKeyFile), filepath.Join(dir, kekFile), filepath.Join(dir, signingKeyFile):
			return nil
		}
		return tighten(path, log)
	})
}

// privateFS is the OS file system for the ledger's files, creating them
// readable by the server's user only whatever the umask (Pebble asks for
// 0666 and 0755).
type privateFS struct{ vfs.FS }

func (p privateFS) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return private(p.FS.Create(name, c))(name, 0o600)
}

func (p privateFS) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return private(p.FS.OpenReadWrite(name, c, opts...))(name, 0o600)
}

func (p privateFS) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	return private(p.FS.ReuseForWrite(oldname, newname, c))(newname, 0o600)
}

func (p privateFS) MkdirAll(dir string, _ os.FileMode) error {
	if err := p.FS.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// dataDirLock is the data directory's own lock file: taken before
// anything in the directory is read or written, so that a second process
// (or a second start racing the first on a fresh directory) is told the
// directory is in use before it touches the keys.
const dataDirLock = "LOCK"

// lockDataDir takes the lock of dataDir, or says another process holds
// it.
func lockDataDir(dataDir string) (io.Closer, error) {
	return inUse(dataDir)(privateFS{vfs.Default}.Lock(filepath.Join(dataDir, dataDirLock)))
}

// inUse returns a function that passes its arguments on, with an
// ErrDataDirInUse said in full: which directory, which lock file.
func inUse(dataDir string) func(io.Closer, error) (io.Closer, error) {
	return func(c io.Closer, err error) (io.Closer, error) {
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) && errors.Is(err, ErrDataDirInUse) {
			return nil, fmt.Errorf("data directory %s is %w (lock file %s)", absPath(dataDir), ErrDataDirInUse, absPath(pe.Path))
		}
		return c, err
	}
}

// Lock takes a lock file. A lock that another process holds
// (fcntl's EAGAIN or EWOULDBLOCK) is reported as ErrDataDirInUse, in an
// *fs.PathError naming the lock file.
func (p privateFS) Lock(name string) (io.Closer, error) {
	c, err := p.FS.Lock(name)
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, &fs.PathError{Op: "lock", Path: name, Err: ErrDataDirInUse}
	}
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(name, 0o600); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// private sets the mode of a file just opened, closing it on failure.
func private(f vfs.File, err error) func(name string, mode os.FileMode) (vfs.File, error) {
	return func(name string, mode os.FileMode) (vfs.File, error) {
		if err != nil {
			return nil, err
		}
		if err := os.Chmod(name, mode); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
}
