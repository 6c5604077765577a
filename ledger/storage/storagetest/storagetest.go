// Package storagetest is the conformance suite of storage.Store: what the
// ledger relies on of a storage driver. A driver's tests call Run.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nuxari/nuxari/ledger/storage"
)

// Open opens the store kept in dir, creating it if dir is new; Run opens
// the same dir again after closing it to check what is durable.
type Open func(t *testing.T, dir string) storage.Store

// Run runs the suite against the driver open opens.
func Run(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		f    func(*testing.T, Open)
	}{
		{"GetSetDelete", testGetSetDelete},
		{"ValuesAreCopies", testValuesAreCopies},
		{"BatchVisibleOnApply", testBatchVisibleOnApply},
		{"BatchOrder", testBatchOrder},
		{"Iteration", testIteration},
		{"DeleteRange", testDeleteRange},
		{"IteratorSnapshot", testIteratorSnapshot},
		{"AtomicBatches", testAtomicBatches},
		{"DurableAfterWait", testDurableAfterWait},
		{"LargeValues", testLargeValues},
	} {
		t.Run(c.name, func(t *testing.T) { c.f(t, open) })
	}
}

func openStore(t *testing.T, open Open) (storage.Store, string) {
	t.Helper()
	dir := t.TempDir()
	s := open(t, dir)
	t.Cleanup(func() { _ = s.Close() })
	return s, dir
}

// commit applies a batch of writes and waits for it.
func commit(t *testing.T, s storage.Store, f func(b storage.Batch)) {
	t.Helper()
	b := s.NewBatch(0)
	f(b)
	if err := b.Apply(); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if err := b.Wait(); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	b.Close()
}

func wantValue(t *testing.T, s storage.Reader, key, want []byte) {
	t.Helper()
	v, err := s.Get(key)
	if want == nil {
		if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, v, err)
		}
		return
	}
	if err != nil || !bytes.Equal(v, want) || v == nil {
		t.Fatalf("Get(%q) = %q, %v; want %q", key, v, err, want)
	}
}

func testGetSetDelete(t *testing.T, open Open) {
	s, _ := openStore(t, open)
	wantValue(t, s, []byte("a"), nil)
	commit(t, s, func(b storage.Batch) {
		if !b.Empty() {
			t.Fatal("a new batch is not empty")
		}
		b.Set([]byte("a"), []byte("1"))
		b.Set([]byte("empty"), []byte{})
		b.Set([]byte{0, 0xff}, []byte("binary"))
		if b.Empty() {
			t.Fatal("a batch with writes is empty")
		}
	})
	wantValue(t, s, []byte("a"), []byte("1"))
	wantValue(t, s, []byte("empty"), []byte{}) // empty, not missing
	wantValue(t, s, []byte{0, 0xff}, []byte("binary"))
	commit(t, s, func(b storage.Batch) {
		b.Set([]byte("a"), []byte("2"))
		b.Delete([]byte("empty"))
		b.Delete([]byte("never"))
	})
	wantValue(t, s, []byte("a"), []byte("2"))
	wantValue(t, s, []byte("empty"), nil)
}

func testValuesAreCopies(t *testing.T, open Open) {
	s, _ := openStore(t, open)
	key, val := []byte("k"), []byte("value")
	commit(t, s, func(b storage.Batch) {
		b.Set(key, val)
		key[0], val[0] = 'x', 'x' // the batch copied them
	})
	v, err := s.Get([]byte("k"))
	if err != nil || string(v) != "value" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	v[0] = 'y' // the caller owns what Get returns
	wantValue(t, s, []byte("k"), []byte("value"))
}

func testBatchVisibleOnApply(t *testing.T, open Open) {
	s, _ := openStore(t, open)
	b := s.NewBatch(64)
	b.Set([]byte("k"), []byte("v"))
	wantValue(t, s, []byte("k"), nil) // not before Apply
	if err := b.Apply(); err != nil {
		t.Fatal(err)
	}
	wantValue(t, s, []byte("k"), []byte("v")) // before Wait
	if err := b.Wait(); err != nil {
		t.Fatal(err)
	}
	b.Close()
	// A batch closed unapplied writes nothing.
	b = s.NewBatch(0)
	b.Set([]byte("gone"), []byte("v"))
	b.Close()
	wantValue(t, s, []byte("gone"), nil)
}

func testBatchOrder(t *testing.T, open Open) {
	s, _ := openStore(t, open)
	commit(t, s, func(b storage.Batch) {
		b.Set([]byte("k"), []byte("1"))
		b.Set([]byte("k"), []byte("2"))
		b.Set([]byte("d1"), []byte("x"))
		b.DeleteRange([]byte("d"), []byte("e"))
		b.Set([]byte("d2"), []byte("y")) // after the range deletion: kept
	})
	wantValue(t, s, []byte("k"), []byte("2"))
	wantValue(t, s, []byte("d1"), nil)
	wantValue(t, s, []byte("d2"), []byte("y"))
	// Batches applied one after the other, without waiting in between,
	// land in order.
	var bs []storage.Batch
	for i := range 10 {
		b := s.NewBatch(0)
		b.Set([]byte("seq"), fmt.Appendf(nil, "%d", i))
		if err := b.Apply(); err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	for _, b := range bs {
		if err := b.Wait(); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	wantValue(t, s, []byte("seq"), []byte("9"))
}

func keys(t *testing.T, it storage.Iterator, valid bool) []string {
	t.Helper()
	var out []string
	for ; valid; valid = it.Next() {
		v, err := it.Value()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(it.Key())+"="+string(v))
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return out
}

func testIteration(t *testing.T, open Open) {
	s, _ := openStore(t, open)
	commit(t, s, func(b storage.Batch) {
		for _, k := range []string{"b", "a", "c\x00", "c", "d", "e\xff"} {
			b.Set([]byte(k), []byte(k[:1]))
		}
	})
	ctx := context.Background()
	it, err := s.NewIter(ctx, []byte("b"), []byte("e"))
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	if got := fmt.Sprint(keys(t, it, it.First())); got != "[b=b c=c c\x00=c d=d]" {
		t.Fatalf("First..Next in [b, e): %q", got)
	}
	if !it.Last() || string(it.Key()) != "d" {
		t.Fatalf("Last: %v %q", it.Valid(), it.Key())
	}
	if !it.SeekGE([]byte("c\x00")) || string(it.Key()) != "c\x00" {
		t.Fatalf("SeekGE exact: %q", it.Key())
	}
	if !it.SeekGE([]byte("c\x01")) || string(it.Key()) != "d" {
		t.Fatalf("SeekGE between: %q", it.Key())
	}
	if it.SeekGE([]byte("e")) {
		t.Fatalf("SeekGE at the upper bound: %q", it.Key())
	}
	if !it.SeekLT([]byte("c\x00")) || string(it.Key()) != "c" {
		t.Fatalf("SeekLT: %q", it.Key())
	}
	if it.SeekLT([]byte("b")) {
		t.Fatalf("SeekLT at the lower bound: %q", it.Key())
	}
	if !it.SeekLT([]byte("zzz")) || string(it.Key()) != "d" {
		t.Fatalf("SeekLT beyond the upper bound: %q", it.Key())
	}
	all, err := s.NewIter(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	if got := len(keys(t, all, all.First())); got != 6 {
		t.Fatalf("unbounded iterator: %d keys", got)
	}
	empty, err := s.NewIter(ctx, []byte("x"), []byte("y"))
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	if empty.First() || empty.Last() || empty.Valid() {
		t.Fatal("iterator over an empty range is valid")
	}
}

func testDeleteRange(t *testing.T, open Open) {
	s, _ := openStore(t, open)
	commit(t, s, func(b storage.Batch) {
		for i := range 100 {
			b.Set(fmt.Appendf(nil, "k%03d", i), []byte("v"))
		}
	})
	commit(t, s, func(b storage.Batch) { b.DeleteRange([]byte("k010"), []byte("k090")) })
	it, err := s.NewIter(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	got := keys(t, it, it.First())
	if len(got) != 20 || got[9] != "k009=v" || got[10] != "k090=v" {
		t.Fatalf("after DeleteRange [k010, k090): %v", got)
	}
}

func testIteratorSnapshot(t *testing.T, open Open) {
	s, _ := openStore(t, open)
	commit(t, s, func(b storage.Batch) { b.Set([]byte("a"), []byte("1")) })
	it, err := s.NewIter(context.Background(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	commit(t, s, func(b storage.Batch) {
		b.Set([]byte("a"), []byte("2"))
		b.Set([]byte("b"), []byte("2"))
	})
	if got := fmt.Sprint(keys(t, it, it.First())); got != "[a=1]" {
		t.Fatalf("an iterator saw a batch applied after it was created: %v", got)
	}
}

// testAtomicBatches applies batches that each rewrite every key of a set
// with one generation number while readers iterate: every iterator sees
// one generation across all keys.
func testAtomicBatches(t *testing.T, open Open) {
	s, _ := openStore(t, open)
	const n = 64
	write := func(gen int) {
		commit(t, s, func(b storage.Batch) {
			for i := range n {
				b.Set(fmt.Appendf(nil, "k%02d", i), fmt.Appendf(nil, "%d", gen))
			}
		})
	}
	write(0)
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				it, err := s.NewIter(context.Background(), []byte("k"), []byte("l"))
				if err != nil {
					errs <- err
					return
				}
				var gen []byte
				count := 0
				for ok := it.First(); ok; ok = it.Next() {
					v, err := it.Value()
					if err != nil {
						errs <- err
						break
					}
					if gen == nil {
						gen = append([]byte(nil), v...)
					} else if !bytes.Equal(gen, v) {
						errs <- fmt.Errorf("key %s of generation %s, the first of %s", it.Key(), v, gen)
						break
					}
					count++
				}
				_ = it.Close()
				if count != n {
					errs <- fmt.Errorf("iterator saw %d keys, want %d", count, n)
				}
			}
		})
	}
	for gen := 1; gen <= 200; gen++ {
		write(gen)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testDurableAfterWait(t *testing.T, open Open) {
	dir := t.TempDir()
	s := open(t, dir)
	commit(t, s, func(b storage.Batch) {
		b.Set([]byte("a"), []byte("1"))
		b.Set([]byte("b"), []byte("1"))
		b.Set([]byte("c"), []byte("1"))
	})
	commit(t, s, func(b storage.Batch) {
		b.Set([]byte("a"), []byte("2"))
		b.Delete([]byte("b"))
		b.DeleteRange([]byte("c"), []byte("d"))
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir)
	defer s.Close()
	wantValue(t, s, []byte("a"), []byte("2"))
	wantValue(t, s, []byte("b"), nil)
	wantValue(t, s, []byte("c"), nil)
}

func testLargeValues(t *testing.T, open Open) {
	s, _ := openStore(t, open)
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB
	commit(t, s, func(b storage.Batch) { b.Set([]byte("big"), big) })
	wantValue(t, s, []byte("big"), big)
}
