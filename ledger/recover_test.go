package ledger_test

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/nuxari/nuxari/ledger"
)

// rawKey builds a storage key of org by the layout documented in keys.go.
func rawKey(org string, kind byte, parts ...uint64) []byte {
	k := append([]byte{'o'}, org...)
	k = append(k, 0, kind)
	for _, p := range parts {
		k = binary.BigEndian.AppendUint64(k, p)
	}
	return k
}

// tileRecordKey is the key of hash tile (level, n) of org, or of its
// segment from position start if start ≥ 0.
func tileRecordKey(org string, level int, n uint64, start int) []byte {
	k := append(rawKey(org, 't'), byte(level))
	k = binary.BigEndian.AppendUint64(k, n)
	if start >= 0 {
		k = append(k, byte(start))
	}
	return k
}

// tamper opens the closed ledger's Pebble directly and applies f.
func tamper(t *testing.T, dir string, f func(db *pebble.DB)) {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{FormatMajorVersion: pebble.FormatNewest, Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	f(db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, db *pebble.DB, key []byte, at int) {
	t.Helper()
	v, closer, err := db.Get(key)
	if err != nil {
		t.Fatalf("get %q: %v", key, err)
	}
	v = append([]byte(nil), v...)
	closer.Close()
	v[at] ^= 0x01
	if err := db.Set(key, v, pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

func TestOpenDetectsTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, db *pebble.DB, cfg ledger.Config)
		size   uint64
	}{
		{"hash under an interior node of the compact range", func(t *testing.T, db *pebble.DB, _ ledger.Config) {
			flipByte(t, db, tileRecordKey("acme", 0, 0, 0), 32+7) // leaf 1's hash, under node (2, 0)
		}, 5},
		{"hash of the last leaf", func(t *testing.T, db *pebble.DB, _ ledger.Config) {
			flipByte(t, db, tileRecordKey("acme", 0, 0, 0), 4*32)
		}, 5},
		{"last leaf's bytes", func(t *testing.T, db *pebble.DB, _ ledger.Config) {
			flipByte(t, db, rawKey("acme", 'l', 4), 0)
		}, 5},
		{"partial tile segment deleted", func(t *testing.T, db *pebble.DB, _ ledger.Config) {
			if err := db.Delete(tileRecordKey("acme", 0, 0, 0), pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}, 5},
		{"tree state size", func(t *testing.T, db *pebble.DB, _ ledger.Config) {
			flipByte(t, db, rawKey("acme", 's'), 8) // size 5 → 4
		}, 4},
		{"tree state record", func(t *testing.T, db *pebble.DB, _ ledger.Config) {
			if err := db.Set(rawKey("acme", 's'), []byte{2, 0}, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"org directory's tree size", func(t *testing.T, db *pebble.DB, _ ledger.Config) {
			flipByte(t, db, append([]byte("ds"), "acme"...), 7) // size 5 → 4
		}, 5},
		{"last leaf deleted", func(t *testing.T, db *pebble.DB, _ ledger.Config) {
			if err := db.Delete(rawKey("acme", 'l', 4), pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}, 5},
		{"checkpoint from another key", func(t *testing.T, db *pebble.DB, cfg ledger.Config) {
			skey, _, err := note.GenerateKey(rand.Reader, "nuxari-test")
			if err != nil {
				t.Fatal(err)
			}
			s, _ := note.NewSigner(skey)
			text := log.Checkpoint{Origin: cfg.LogName + "/orgs/acme", Size: 5, Hash: make([]byte, 32)}.Marshal()
			n, err := note.Sign(&note.Note{Text: string(text)}, s)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Set(rawKey("acme", 'c', 5), n, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}, 5},
		{"checkpoint stored under the wrong size", func(t *testing.T, db *pebble.DB, _ ledger.Config) {
			// Claim a checkpoint at size 9 by copying the size-5 one
			// under a larger key: the checkpoint's own size disagrees.
			v, closer, err := db.Get(rawKey("acme", 'c', 5))
			if err != nil {
				t.Fatal(err)
			}
			v = append([]byte(nil), v...)
			closer.Close()
			if err := db.Set(rawKey("acme", 'c', 9), v, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			ctx := context.Background()

			l, err := ledger.Open(cfg)
			if err != nil {
				t.Fatal(err)
			}
			// "acme" is tampered with; "aaa", the first org, is verified
			// at Open, "acme" on its first use.
			appendN(t, l, "aaa", 3, ledger.AckCheckpoint)
			appendN(t, l, "acme", 5, ledger.AckCheckpoint)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			tamper(t, cfg.Dir, func(db *pebble.DB) { tt.tamper(t, db, cfg) })
			l, err = ledger.Open(cfg)
			if err != nil {
				t.Fatalf("Open, with only a later org tampered with: %v", err)
			}
			defer l.Close()
			_, err = l.Checkpoint(ctx, "acme")
			wantCorruption(t, "the tampered org's first use", err, tt.size)
			_, err = l.Append(ctx, "acme", []ledger.Entry{{Event: event("x")}}, ledger.AckDurable)
			wantCorruption(t, "an append to it", err, tt.size)
			if rs := appendN(t, l, "aaa", 1, ledger.AckCheckpoint); rs[0].Index != 3 {
				t.Fatalf("another org's append: %+v", rs[0])
			}
		})
	}
}

func wantCorruption(t *testing.T, what string, err error, size uint64) {
	t.Helper()
	var ce *ledger.CorruptionError
	if !errors.As(err, &ce) || !errors.Is(err, ledger.ErrCorrupt) {
		t.Fatalf("%s: got %v, want a *CorruptionError", what, err)
	}
	if ce.Org != "acme" || ce.Size != size || !strings.Contains(err.Error(), `"acme"`) {
		t.Fatalf("%s: error %q names org %q size %d, want acme at %d", what, err, ce.Org, ce.Size, size)
	}
}

func TestOpenDetectsRollback(t *testing.T) {
	cfg := testConfig(t)
	l, err := ledger.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "acme", 5, ledger.AckCheckpoint)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var state []byte
	tamper(t, cfg.Dir, func(db *pebble.DB) {
		v, closer, err := db.Get(rawKey("acme", 's'))
		if err != nil {
			t.Fatal(err)
		}
		state = append([]byte(nil), v...)
		closer.Close()
	})
	l = openLedger(t, cfg)
	appendN(t, l, "acme", 3, ledger.AckCheckpoint)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Restore the tree state of size 5 under the checkpoint of size 8.
	tamper(t, cfg.Dir, func(db *pebble.DB) {
		if err := db.Set(rawKey("acme", 's'), state, pebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	_, err = ledger.Open(cfg)
	var ce *ledger.CorruptionError
	if !errors.As(err, &ce) || ce.Org != "acme" || ce.Size != 5 || !strings.Contains(err.Error(), "smaller than its latest checkpoint") {
		t.Fatalf("Open after rollback: %v", err)
	}
}

func TestOpenAcceptsUntamperedLedger(t *testing.T) {
	cfg := testConfig(t)
	l, err := ledger.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "acme", 5, ledger.AckCheckpoint)
	appendN(t, l, "acme", 6, ledger.AckDurable)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openLedger(t, cfg)
	cp, err := l.Checkpoint(context.Background(), "acme")
	if err != nil || cp.Size != 11 {
		t.Fatalf("checkpoint after reopen %+v, %v", cp, err)
	}
	rs := appendN(t, l, "acme", 1, ledger.AckCheckpoint)
	if rs[0].Index != 11 || rs[0].Checkpoint.Size != 12 {
		t.Fatalf("append after reopen %+v", rs[0])
	}
}

func TestOpenRejectsMismatchedKeys(t *testing.T) {
	cfg := testConfig(t)
	_, vkey, err := note.GenerateKey(rand.Reader, "other-name")
	if err != nil {
		t.Fatal(err)
	}
	cfg.VerifierKey = vkey
	if _, err := ledger.Open(cfg); err == nil {
		t.Fatal("Open accepted a verifier key of another signer")
	}
	cfg = testConfig(t)
	cfg.Signer = nil
	if _, err := ledger.Open(cfg); err == nil {
		t.Fatal("Open accepted a config without signer")
	}
}

func TestOpenWithAnotherKeyFailsVerification(t *testing.T) {
	cfg := testConfig(t)
	l, err := ledger.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, "acme", 3, ledger.AckCheckpoint)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	skey, _, err := ledger.GenerateSignerKey(rand.Reader, "nuxari-test")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Signer, cfg.VerifierKey, err = ledger.ParseSignerKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.Open(cfg); !errors.Is(err, ledger.ErrCorrupt) {
		t.Fatalf("Open with another log key: %v", err)
	}
}

type quietPebble struct{}

func (quietPebble) Infof(string, ...any)         {}
func (quietPebble) Errorf(string, ...any)        {}
func (quietPebble) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

// TestOpenWithoutOrgDirectory: a store whose org directory is gone has
// no layout record either, so Open takes it for layout 1 and refuses it;
// Migrate finds the orgs by walking their key spaces, rebuilds their
// tiles and the directory, and the store opens with the same orgs, sizes
// and checkpoints.
func TestOpenWithoutOrgDirectory(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	l := openLedgerNoCleanup(t, cfg)
	for i, org := range []string{"acme", "beta", "gamma"} {
		appendN(t, l, org, 3+i, ledger.AckCheckpoint)
	}
	appendN(t, l, "delta", 2, ledger.AckDurable)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	tamper(t, cfg.Dir, func(db *pebble.DB) {
		if err := db.DeleteRange([]byte("d"), []byte("e"), pebble.Sync); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := ledger.Open(cfg); !errors.Is(err, ledger.ErrOldLayout) {
		t.Fatalf("Open without a directory: %v, want ErrOldLayout", err)
	}
	if _, err := ledger.Migrate(ctx, cfg, nil); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		l := openLedgerNoCleanup(t, cfg)
		orgs := l.Orgs()
		slices.Sort(orgs)
		if !slices.Equal(orgs, []string{"acme", "beta", "delta", "gamma"}) {
			t.Fatalf("round %d: orgs %v", round, orgs)
		}
		for org, want := range map[string]uint64{"acme": 3, "beta": 4, "gamma": 5, "delta": 2} {
			cp, err := l.Checkpoint(ctx, org)
			if err != nil || cp.Size != want {
				t.Fatalf("round %d: %s checkpoint %+v, %v", round, org, cp, err)
			}
		}
		if st := l.Stats(); st.Orgs != 4 || st.Entries != 14 || st.Uncovered != 0 {
			t.Fatalf("round %d: stats %+v", round, st)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func openLedgerNoCleanup(t *testing.T, cfg ledger.Config) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}
