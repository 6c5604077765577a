// Package objstoretest is the conformance suite for objstore.Store: every
// implementation runs [Run] in its tests.
package objstoretest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nuxari/nuxari/evidence/objstore"
)

// Run checks the behaviour every objstore.Store MUST have. s MUST be empty
// under the "conformance/" prefix, or at least have none of the random
// keys Run makes there.
func Run(t *testing.T, s objstore.Store) {
	t.Helper()
	ctx := t.Context()
	retain := time.Now().Add(time.Hour)
	newKey := func(t *testing.T) string {
		var b [8]byte
		_, _ = rand.Read(b[:])
		return "conformance/" + strings.ReplaceAll(t.Name(), "/", "-") + "/" + hex.EncodeToString(b[:])
	}

	t.Run("RoundTrip", func(t *testing.T) {
		for _, size := range []int{0, 1, 1000, 100 << 10} {
			key := newKey(t)
			data := randomBytes(t, size)
			obj, err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), retain)
			if err != nil {
				t.Fatalf("Put(%d bytes): %v", size, err)
			}
			if obj.Key != key || obj.Size != int64(size) {
				t.Errorf("Put returned %+v, want key %s size %d", obj, key, size)
			}
			if got := readAll(t, s, key); !bytes.Equal(got, data) {
				t.Errorf("Open(%d bytes) returned %d other bytes", size, len(got))
			}
		}
	})

	t.Run("PutExistingKey", func(t *testing.T) {
		key := newKey(t)
		first := []byte("first")
		if _, err := s.Put(ctx, key, bytes.NewReader(first), int64(len(first)), retain); err != nil {
			t.Fatal(err)
		}
		second := []byte("second!")
		_, err := s.Put(ctx, key, bytes.NewReader(second), int64(len(second)), retain)
		if !errors.Is(err, objstore.ErrExists) {
			t.Fatalf("second Put: err = %v, want ErrExists", err)
		}
		if got := readAll(t, s, key); !bytes.Equal(got, first) {
			t.Errorf("after a refused Put, Open = %q, want %q", got, first)
		}
	})

	t.Run("ConcurrentPutsOneWins", func(t *testing.T) {
		key := newKey(t)
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				data := []byte{byte('a' + i)}
				_, errs[i] = s.Put(ctx, key, bytes.NewReader(data), 1, retain)
			})
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won >= 0:
				t.Errorf("Puts %d and %d of the same key both succeeded", won, i)
			case err == nil:
				won = i
			case !errors.Is(err, objstore.ErrExists):
				t.Errorf("Put %d: %v, want nil or ErrExists", i, err)
			}
		}
		if won < 0 {
			t.Fatal("no Put succeeded")
		}
		if got := readAll(t, s, key); !bytes.Equal(got, []byte{byte('a' + won)}) {
			t.Errorf("Open = %q, want the winner's %q", got, []byte{byte('a' + won)})
		}
	})

	t.Run("OpenMissing", func(t *testing.T) {
		_, _, err := s.Open(ctx, newKey(t))
		if !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Open of a missing key: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("ReaderSizeMismatch", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			data string
			size int64
		}{
			{"short", "abc", 4},
			{"long", "abcde", 4},
			{"long-empty", "a", 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				key := newKey(t)
				if _, err := s.Put(ctx, key, strings.NewReader(tc.data), tc.size, retain); err == nil {
					t.Fatalf("Put of %d bytes with size %d succeeded", len(tc.data), tc.size)
				}
				if _, _, err := s.Open(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
					t.Fatalf("after a failed Put, Open: err = %v, want ErrNotFound", err)
				}
				// The key is still free.
				if _, err := s.Put(ctx, key, strings.NewReader("ok"), 2, retain); err != nil {
					t.Fatalf("Put after a failed Put: %v", err)
				}
			})
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		for _, key := range InvalidKeys {
			if _, err := s.Put(ctx, key, strings.NewReader("x"), 1, retain); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("Put(%q): err = %v, want ErrInvalidKey", key, err)
			}
			if _, _, err := s.Open(ctx, key); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("Open(%q): err = %v, want ErrInvalidKey", key, err)
			}
		}
	})

	t.Run("PresignGet", func(t *testing.T) {
		key := newKey(t)
		if _, err := s.Put(ctx, key, strings.NewReader("x"), 1, retain); err != nil {
			t.Fatal(err)
		}
		u, err := s.PresignGet(ctx, key, time.Minute)
		switch {
		case s.WORM() && err != nil:
			t.Errorf("PresignGet on a WORM store: %v", err)
		case err != nil && !errors.Is(err, objstore.ErrNoPresign):
			t.Errorf("PresignGet: %v, want a URL or ErrNoPresign", err)
		case err == nil && u == "":
			t.Error("PresignGet returned an empty URL")
		}
	})
}

// InvalidKeys are keys every store MUST refuse.
var InvalidKeys = []string{
	"",
	"../x",
	"/abs",
	"a/../../b",
	"a/..",
	"..",
	".",
	"a/./b",
	"a//b",
	"a/",
	".hidden",
	"a..b",
	"nul\x00byte",
	"space here",
	"back\\slash",
	"percent%2e",
	"é",
	strings.Repeat("k", objstore.MaxKeyLen+1),
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func readAll(t *testing.T, s objstore.Store, key string) []byte {
	t.Helper()
	rc, size, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if int64(len(b)) != size {
		t.Errorf("Open(%s) reported size %d, read %d bytes", key, size, len(b))
	}
	return b
}
