package objstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"
)

// Local is a [Store] in a local directory, for development and tests.
//
// It offers NO WORM guarantee: it writes each object once, as a read-only
// (0400) file, and never replaces one, but anyone who can write to the
// directory can still delete or replace the files. [Local.WORM] reports
// false, and production deployments MUST use [S3].
//
// A key maps to the file of the same relative path under the directory;
// sub-directories are created 0700. All access goes through an [os.Root],
// so no key or symbolic link reaches outside the directory.
type Local struct {
	root *os.Root
}

var _ Store = (*Local)(nil)

// NewLocal returns a store in dir, creating dir (mode 0700) if it does not
// exist. Close it when done.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("objstore: local store needs a directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("objstore: create local store directory: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("objstore: open local store directory: %w", err)
	}
	return &Local{root: root}, nil
}

// Close releases the directory.
func (l *Local) Close() error { return l.root.Close() }

// WORM reports false: a local directory does not enforce retention.
func (l *Local) WORM() bool { return false }

// PresignGet returns ErrNoPresign.
func (l *Local) PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error) {
	return "", ErrNoPresign
}

// Put writes the object to a new file, once, and makes it durable before
// it returns: it writes a temporary file in the key's directory (created
// with O_EXCL, mode 0400), syncs it, links it under the key's name (which
// fails if the name exists, so a concurrent Put of the same key cannot
// replace it), removes the temporary name and syncs the directories.
// retainUntil is ignored: the local store keeps no retention.
func (l *Local) Put(ctx context.Context, key string, r io.Reader, size int64, retainUntil time.Time) (Object, error) {
	if err := ValidKey(key); err != nil {
		return Object{}, err
	}
	if size < 0 {
		return Object{}, fmt.Errorf("objstore: put %s: negative size %d", key, size)
	}
	if err := ctx.Err(); err != nil {
		return Object{}, err
	}
	if _, err := l.root.Lstat(key); err == nil {
		return Object{}, fmt.Errorf("%w: %s", ErrExists, key)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Object{}, fmt.Errorf("objstore: put %s: %w", key, err)
	}
	dir := path.Dir(key)
	if err := l.root.MkdirAll(dir, 0o700); err != nil {
		return Object{}, fmt.Errorf("objstore: put %s: %w", key, err)
	}
	tmp, err := l.writeTemp(ctx, dir, r, size)
	if err != nil {
		return Object{}, fmt.Errorf("objstore: put %s: %w", key, err)
	}
	defer func() { _ = l.root.Remove(tmp) }()
	if err := l.root.Link(tmp, key); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Object{}, fmt.Errorf("%w: %s", ErrExists, key)
		}
		return Object{}, fmt.Errorf("objstore: put %s: %w", key, err)
	}
	if err := l.root.Remove(tmp); err != nil {
		return Object{}, fmt.Errorf("objstore: put %s: remove temporary file: %w", key, err)
	}
	// Sync the key's directory and its ancestors, some of which MkdirAll
	// may have just created.
	for d := dir; ; d = path.Dir(d) {
		if err := l.syncDir(d); err != nil {
			return Object{}, fmt.Errorf("objstore: put %s: %w", key, err)
		}
		if d == "." {
			break
		}
	}
	return Object{Key: key, Size: size}, nil
}

// writeTemp writes exactly size bytes of r to a new, synced, read-only
// file in dir and returns its name. Its name starts with ".", which no key
// element does, so it never collides with a key.
func (l *Local) writeTemp(ctx context.Context, dir string, r io.Reader, size int64) (name string, err error) {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	name = path.Join(dir, ".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := l.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o400)
	if err != nil {
		return "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			_ = l.root.Remove(name)
		}
	}()
	if _, err := io.Copy(f, &exactReader{r: ctxReader{ctx, r}, n: size}); err != nil {
		return name, err
	}
	return name, f.Sync()
}

func (l *Local) syncDir(dir string) error {
	d, err := l.root.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Open returns the object's file.
func (l *Local) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := ValidKey(key); err != nil {
		return nil, 0, err
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	f, err := l.root.Open(key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, key)
	} else if err != nil {
		return nil, 0, fmt.Errorf("objstore: open %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, 0, fmt.Errorf("objstore: open %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return f, fi.Size(), nil
}

// ctxReader fails reads once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
