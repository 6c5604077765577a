// Package objstore keeps evidence packages write-once: in an S3 bucket with
// Object Lock in COMPLIANCE mode, or in a local directory.
//
// [S3] is the store for production. Every object it writes carries an
// object-lock retention in COMPLIANCE mode (see the Amazon S3 User Guide,
// "Locking objects with Object Lock"): until its retain-until date no one,
// not even the account root, can delete or overwrite that object version,
// and the date can only be extended. [NewS3] refuses a bucket without an
// Object Lock configuration.
//
// [Local] keeps objects as read-only files in a directory, written once.
// It is for development and tests and gives no WORM guarantee: anyone with
// write access to the directory can delete or replace the files.
//
// Keys are the same for both stores: 1 to [MaxKeyLen] bytes of
// [A-Za-z0-9._/-], split by "/" into non-empty elements, none of which starts
// with "." (so no ".", "..", or hidden names) and no ".." anywhere. A key
// therefore maps to a path inside the store's directory or prefix and never
// outside it.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Store keeps objects write-once. Implementations are safe for concurrent
// use.
type Store interface {
	// Put stores the object under key, once; retainUntil is the
	// object-lock retain-until date (COMPLIANCE mode). r MUST yield exactly
	// size bytes; Put fails, storing nothing, if it yields fewer or more.
	// Put returns an error wrapping ErrExists if the key is already taken.
	Put(ctx context.Context, key string, r io.Reader, size int64, retainUntil time.Time) (Object, error)
	// Open returns the object's content (the version Put wrote) and its
	// size, or an error wrapping ErrNotFound. The caller MUST close it.
	Open(ctx context.Context, key string) (io.ReadCloser, int64, error)
	// PresignGet returns a URL valid for expiry, or ErrNoPresign (local
	// store).
	PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error)
	// WORM reports whether the store enforces write-once retention.
	WORM() bool
}

// Object describes a stored object.
type Object struct {
	// Key is the key the object was stored under, without any store
	// prefix.
	Key string
	// VersionID is the S3 version ID of the locked version; empty for the
	// local store.
	VersionID string
	// Size is the object's length in bytes.
	Size int64
}

var (
	// ErrNotFound reports that no object exists under the key.
	ErrNotFound = errors.New("objstore: object not found")
	// ErrExists reports that an object already exists under the key; a
	// stored object is never replaced.
	ErrExists = errors.New("objstore: object already exists")
	// ErrNoPresign reports that the store cannot hand out presigned URLs.
	ErrNoPresign = errors.New("objstore: store does not support presigned URLs")
	// ErrNoObjectLock reports that an S3 bucket has no Object Lock
	// configuration, so objects in it could be deleted.
	ErrNoObjectLock = errors.New("objstore: bucket has no object lock")
	// ErrInvalidKey reports a key that is not a valid object key.
	ErrInvalidKey = errors.New("objstore: invalid key")
)

// MaxKeyLen is the longest key, in bytes, that the stores accept.
const MaxKeyLen = 512

// MaxPresignExpiry is the longest validity PresignGet grants.
const MaxPresignExpiry = time.Hour

// ValidKey returns nil if key is a valid object key (see the package
// documentation), or an error wrapping ErrInvalidKey that says why not.
func ValidKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidKey, len(key), MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if !keyByte(key[i]) {
			return fmt.Errorf("%w: byte %#02x at offset %d is not one of [A-Za-z0-9._/-]", ErrInvalidKey, key[i], i)
		}
	}
	if strings.Contains(key, "..") {
		return fmt.Errorf("%w: %q contains \"..\"", ErrInvalidKey, key)
	}
	for elem := range strings.SplitSeq(key, "/") {
		switch {
		case elem == "":
			return fmt.Errorf("%w: %q has an empty path element (leading, trailing or double \"/\")", ErrInvalidKey, key)
		case elem[0] == '.':
			return fmt.Errorf("%w: %q has a path element starting with \".\"", ErrInvalidKey, key)
		}
	}
	return nil
}

func keyByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '/' || c == '-'
}

// exactReader passes through exactly n bytes of r and fails if r holds
// fewer or more. It checks for more before it hands out the last byte, so
// an upload reading from it fails before it completes.
type exactReader struct {
	r io.Reader
	n int64 // bytes still to hand out
}

// errTooLong reports a reader that holds more than the size given to Put.
var errTooLong = errors.New("objstore: reader holds more bytes than the given size")

func (e *exactReader) Read(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, e.checkEnd()
	}
	if int64(len(p)) > e.n {
		p = p[:e.n]
	}
	n, err := e.r.Read(p)
	e.n -= int64(n)
	switch {
	case err != nil && err != io.EOF:
		return n, err
	case e.n == 0:
		if end := e.checkEnd(); end != io.EOF {
			return 0, end
		}
		return n, nil
	case err == io.EOF:
		return n, io.ErrUnexpectedEOF
	}
	return n, nil
}

// checkEnd returns io.EOF if r is at its end, errTooLong if it holds more,
// or r's error.
func (e *exactReader) checkEnd() error {
	var b [1]byte
	for {
		n, err := e.r.Read(b[:])
		if n > 0 {
			return errTooLong
		}
		if err != nil {
			return err
		}
	}
}
