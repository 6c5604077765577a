package pebblestore_test

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/nuxari/nuxari/ledger/storage"
	"github.com/nuxari/nuxari/ledger/storage/pebblestore"
	"github.com/nuxari/nuxari/ledger/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, dir string) storage.Store {
		s, err := pebblestore.Open(dir, pebblestore.Config{CacheSize: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestConformanceInMemory runs the suite on Pebble's in-memory file
// system, which the ledger's unit tests use; each directory keeps its
// file system across a close and reopen.
func TestConformanceInMemory(t *testing.T) {
	fss := map[string]vfs.FS{}
	storagetest.Run(t, func(t *testing.T, dir string) storage.Store {
		fs, ok := fss[dir]
		if !ok {
			fs = vfs.NewMem()
			fss[dir] = fs
		}
		s, err := pebblestore.Open(dir, pebblestore.Config{FS: fs, CacheSize: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
