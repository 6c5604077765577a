package objstore_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/evidence/objstore"
	"github.com/nuxari/nuxari/evidence/objstore/objstoretest"
)

func newLocal(t *testing.T, dir string) *objstore.Local {
	t.Helper()
	s, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestLocalConformance(t *testing.T) {
	objstoretest.Run(t, newLocal(t, t.TempDir()))
}

func TestLocalWriteOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s := newLocal(t, dir)
	ctx := t.Context()
	if s.WORM() {
		t.Error("local store claims WORM")
	}

	obj, err := s.Put(ctx, "org-1/pkg/a.tar", strings.NewReader("evidence"), 8, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if obj.VersionID != "" {
		t.Errorf("local store returned version ID %q", obj.VersionID)
	}

	for _, tc := range []struct {
		path string
		mode fs.FileMode
	}{
		{dir, fs.ModeDir | 0o700},
		{filepath.Join(dir, "org-1"), fs.ModeDir | 0o700},
		{filepath.Join(dir, "org-1", "pkg"), fs.ModeDir | 0o700},
		{filepath.Join(dir, "org-1", "pkg", "a.tar"), 0o400},
	} {
		fi, err := os.Stat(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != tc.mode {
			t.Errorf("%s: mode %v, want %v", tc.path, fi.Mode(), tc.mode)
		}
	}
	// No temporary file is left beside the object.
	entries, err := os.ReadDir(filepath.Join(dir, "org-1", "pkg"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only a.tar: %v", len(entries), entries)
	}

	_, err = s.Put(ctx, "org-1/pkg/a.tar", strings.NewReader("forged!!"), 8, time.Now().Add(time.Hour))
	if !errors.Is(err, objstore.ErrExists) {
		t.Fatalf("second Put: err = %v, want ErrExists", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "org-1", "pkg", "a.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "evidence" {
		t.Errorf("file holds %q after a refused Put, want %q", b, "evidence")
	}

	if _, err := s.PresignGet(ctx, "org-1/pkg/a.tar", time.Minute); !errors.Is(err, objstore.ErrNoPresign) {
		t.Errorf("PresignGet: err = %v, want ErrNoPresign", err)
	}
	// A directory is not an object.
	if _, _, err := s.Open(ctx, "org-1/pkg"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Open of a directory: err = %v, want ErrNotFound", err)
	}
}

func TestLocalSymlinkEscape(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	s := newLocal(t, dir)
	if _, err := s.Put(t.Context(), "link/x", strings.NewReader("x"), 1, time.Now().Add(time.Hour)); err == nil {
		t.Error("Put through a symbolic link out of the directory succeeded")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("Put wrote outside the store: %v", entries)
	}
}

func TestValidKey(t *testing.T) {
	for _, key := range []string{
		"a",
		"org-1/evidence/2026-11-29T03.13.56Z_pkg.tar.gz",
		"A_b-C.d/e",
		strings.Repeat("k", objstore.MaxKeyLen),
	} {
		if err := objstore.ValidKey(key); err != nil {
			t.Errorf("ValidKey(%q) = %v, want nil", key, err)
		}
	}
	for _, tc := range []struct{ name, key string }{
		{"parent", "../x"},
		{"absolute", "/abs"},
		{"parent-inside", "a/../../b"},
		{"NUL", "a\x00b"},
		{"empty", ""},
		{"too-long", strings.Repeat("k", objstore.MaxKeyLen+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := objstore.ValidKey(tc.key); !errors.Is(err, objstore.ErrInvalidKey) {
				t.Errorf("ValidKey(%q) = %v, want ErrInvalidKey", tc.key, err)
			}
		})
	}
	for _, key := range objstoretest.InvalidKeys {
		if err := objstore.ValidKey(key); !errors.Is(err, objstore.ErrInvalidKey) {
			t.Errorf("ValidKey(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
}

func FuzzValidKey(f *testing.F) {
	for _, k := range append([]string{"a/b", "org-1/x.tar"}, objstoretest.InvalidKeys...) {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if objstore.ValidKey(key) != nil {
			return
		}
		// A valid key is a clean relative path that stays inside its
		// directory.
		if !filepath.IsLocal(key) || filepath.Clean(key) != key || len(key) > objstore.MaxKeyLen {
			t.Errorf("ValidKey accepted %q", key)
		}
	})
}
