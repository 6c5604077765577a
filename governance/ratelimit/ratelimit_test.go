package ratelimit_test

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/nuxari/nuxari/governance/ratelimit"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestBurstDenyRefill(t *testing.T) {
	// Three attempts at once, then one a minute.
	l := ratelimit.New(rate.Every(time.Minute), 3, 100)
	for i, step := range []struct {
		at   time.Duration
		want bool
	}{
		{0, true},
		{0, true},
		{0, true},
		{0, false},
		{30 * time.Second, false},
		{59 * time.Second, false},
		{60 * time.Second, true},
		{60 * time.Second, false},
		{119 * time.Second, false},
		{120 * time.Second, true},
		// A time before the last event does not refill.
		{10 * time.Second, false},
		// A long pause refills to the burst and no further.
		{time.Hour, true},
		{time.Hour, true},
		{time.Hour, true},
		{time.Hour, false},
	} {
		if got := l.AllowAt("alice", t0.Add(step.at)); got != step.want {
			t.Fatalf("step %d: AllowAt(t0+%v) = %v; want %v", i, step.at, got, step.want)
		}
	}
}

func TestRates(t *testing.T) {
	for _, tc := range []struct {
		name    string
		limit   rate.Limit
		burst   int
		allowed int // of 100 attempts at one instant
	}{
		{"burst 1", rate.Every(time.Second), 1, 1},
		{"burst 10", rate.Every(time.Second), 10, 10},
		{"burst 0 allows nothing", rate.Every(time.Second), 0, 0},
		{"rate 0 allows the burst", 0, 5, 5},
		{"rate.Inf allows everything", rate.Inf, 0, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := ratelimit.New(tc.limit, tc.burst, 10)
			n := 0
			for range 100 {
				if l.AllowAt("k", t0) {
					n++
				}
			}
			if n != tc.allowed {
				t.Fatalf("allowed %d of 100; want %d", n, tc.allowed)
			}
		})
	}
}

func TestInfHoldsNoKeys(t *testing.T) {
	l := ratelimit.New(rate.Inf, 1, 10)
	for i := range 100 {
		l.AllowAt(strconv.Itoa(i), t0)
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("Len = %d; want 0", n)
	}
}

func TestIndependentKeys(t *testing.T) {
	l := ratelimit.New(rate.Every(time.Minute), 2, 100)
	for _, step := range []struct {
		key  string
		want bool
	}{
		{"alice", true},
		{"alice", true},
		{"alice", false},
		{"bob", true},
		{"alice", false},
		{"bob", true},
		{"bob", false},
		{"carol", true},
		{"Alice", true}, // keys are compared exactly
		{"alice ", true},
		{"", true},
		{"", true},
		{"", false},
	} {
		if got := l.AllowAt(step.key, t0); got != step.want {
			t.Fatalf("AllowAt(%q) = %v; want %v", step.key, got, step.want)
		}
	}
	if n := l.Len(); n != 6 {
		t.Fatalf("Len = %d; want 6", n)
	}
}

// TestEvictionBound checks the memory bound under 10,000 distinct keys, and
// that eviction takes the least recently used key.
func TestEvictionBound(t *testing.T) {
	for _, maxKeys := range []int{1, 2, 100, 1000} {
		t.Run(fmt.Sprint(maxKeys), func(t *testing.T) {
			l := ratelimit.New(rate.Every(time.Hour), 1, maxKeys)
			for i := range 10_000 {
				l.AllowAt(fmt.Sprint("key", i), t0)
				if n, want := l.Len(), min(i+1, maxKeys); n != want {
					t.Fatalf("after %d keys, Len = %d; want %d", i+1, n, want)
				}
			}
		})
	}

	t.Run("churn never evicts a limited key", func(t *testing.T) {
		const maxKeys = 100
		l := ratelimit.New(rate.Every(time.Hour), 1, maxKeys)
		if !l.AllowAt("hot", t0) {
			t.Fatal("first attempt denied")
		}
		// Ten thousand other keys, each limited in turn, never make room
		// by dropping hot: once the table is full they are refused.
		refused := 0
		for i := range 10_000 {
			if !l.AllowAt(fmt.Sprint("cold", i), t0) {
				refused++
			}
			if l.AllowAt("hot", t0) {
				t.Fatalf("hot allowed after %d other keys: it was evicted", i+1)
			}
		}
		if want := 10_000 - (maxKeys - 1); refused != want {
			t.Fatalf("%d new keys refused with the table full of limited keys; want %d", refused, want)
		}
		// The keys held are still limited.
		for i := range maxKeys - 1 {
			if l.AllowAt(fmt.Sprint("cold", i), t0) {
				t.Fatalf("cold%d allowed again: it was evicted", i)
			}
		}
		// Once buckets have refilled, new keys take their room, and a
		// refilled hot starts again with a full burst.
		later := t0.Add(time.Hour)
		for i := range maxKeys {
			if !l.AllowAt(fmt.Sprint("new", i), later) {
				t.Fatalf("new%d refused after every bucket refilled", i)
			}
		}
		if !l.AllowAt("hot", later.Add(time.Hour)) {
			t.Fatal("hot still denied after its bucket refilled")
		}
	})

	t.Run("default", func(t *testing.T) {
		l := ratelimit.New(rate.Every(time.Hour), 1, 0)
		for i := range ratelimit.DefaultMaxKeys + 10 {
			l.AllowAt(strconv.Itoa(i), t0)
		}
		if n := l.Len(); n != ratelimit.DefaultMaxKeys {
			t.Fatalf("Len = %d; want DefaultMaxKeys = %d", n, ratelimit.DefaultMaxKeys)
		}
	})
}

// TestRefilledKeysDropped checks that keys whose buckets have refilled stop
// taking room, while keys still limited are kept.
func TestRefilledKeysDropped(t *testing.T) {
	const maxKeys = 1000
	l := ratelimit.New(rate.Every(time.Minute), 2, maxKeys)
	for i := range 500 {
		l.AllowAt(fmt.Sprint("old", i), t0)
	}
	// An hour on, every old bucket is full again.
	later := t0.Add(time.Hour)
	for i := range 500 {
		l.AllowAt(fmt.Sprint("new", i), later)
	}
	if n := l.Len(); n >= maxKeys {
		t.Fatalf("Len = %d; want refilled keys dropped, below %d", n, maxKeys)
	}

	// A bucket not yet refilled is kept, even when it is the least
	// recently used (and with room for every key, so none is evicted).
	l = ratelimit.New(rate.Every(time.Minute), 2, 2*maxKeys)
	for range 2 {
		l.AllowAt("limited", t0)
	}
	for i := range 500 {
		l.AllowAt(fmt.Sprint("other", i), t0)
	}
	halfway := t0.Add(30 * time.Second)
	for i := range 500 {
		l.AllowAt(fmt.Sprint("more", i), halfway)
	}
	if l.AllowAt("limited", halfway) {
		t.Fatal("a limited key was dropped before its bucket refilled")
	}
}

// TestRefilledMakeRoom: when the table is full, keys whose buckets have
// refilled make room for new ones; keys still refilling keep their place
// and their state.
func TestRefilledMakeRoom(t *testing.T) {
	const maxKeys = 100
	l := ratelimit.New(rate.Every(time.Minute), 5, maxKeys)
	for range 5 {
		l.AllowAt("hot", t0) // empty: full again at t0+5m
	}
	for i := range maxKeys - 1 {
		l.AllowAt(fmt.Sprint("old", i), t0) // full again at t0+1m
	}
	at := t0.Add(2 * time.Minute)
	admitted := 0
	for i := range 1000 {
		if l.AllowAt(fmt.Sprint("new", i), at) {
			admitted++
		}
	}
	if admitted != maxKeys-1 {
		t.Fatalf("%d new keys admitted; want the %d places of refilled keys", admitted, maxKeys-1)
	}
	// hot kept its history: two minutes refilled two of its five events.
	if level, ok := l.TakeAt("hot", at); !ok || level != 4 {
		t.Fatalf("hot: TakeAt = %v, %v; want 4, true", level, ok)
	}
	if n := l.Len(); n != maxKeys {
		t.Fatalf("Len = %d; want %d", n, maxKeys)
	}
}

// TestTakeRefundForget: TakeAt counts levels; RefundAt gives one event
// back; Forget starts a key again.
func TestTakeRefundForget(t *testing.T) {
	l := ratelimit.New(rate.Every(time.Minute), 3, 10)
	for i, want := range []struct {
		level float64
		ok    bool
	}{{1, true}, {2, true}, {3, true}, {3, false}} {
		if level, ok := l.TakeAt("k", t0); level != want.level || ok != want.ok {
			t.Fatalf("TakeAt #%d = %v, %v; want %v, %v", i+1, level, ok, want.level, want.ok)
		}
	}
	l.RefundAt("k", t0)
	if level, ok := l.TakeAt("k", t0); !ok || level != 3 {
		t.Fatalf("after a refund, TakeAt = %v, %v; want 3, true", level, ok)
	}
	// A refund never takes a bucket past full.
	for range 10 {
		l.RefundAt("k", t0)
	}
	if level, _ := l.TakeAt("k", t0); level != 1 {
		t.Fatalf("after refunds, level %v; want 1", level)
	}
	l.RefundAt("absent", t0)
	if n := l.Len(); n != 1 {
		t.Fatalf("a refund of a key not held added it: Len = %d", n)
	}
	l.TakeAt("k", t0)
	l.TakeAt("k", t0)
	l.Forget("k")
	if level, ok := l.TakeAt("k", t0); !ok || level != 1 {
		t.Fatalf("after Forget, TakeAt = %v, %v; want 1, true", level, ok)
	}
	inf := ratelimit.New(rate.Inf, 0, 10)
	if level, ok := inf.TakeAt("k", t0); !ok || level != 0 {
		t.Fatalf("rate.Inf: TakeAt = %v, %v; want 0, true", level, ok)
	}
}

func TestAllowUsesClock(t *testing.T) {
	l := ratelimit.New(rate.Every(time.Hour), 1, 10)
	if !l.Allow("k") {
		t.Fatal("first Allow denied")
	}
	if l.Allow("k") {
		t.Fatal("second Allow within the hour allowed")
	}
	// AllowAt and Allow share state: an hour from now the bucket is full.
	if !l.AllowAt("k", time.Now().Add(time.Hour+time.Minute)) {
		t.Fatal("AllowAt an hour on denied")
	}
}

// TestConcurrent runs under -race in `make test`; the shared key's count
// checks that no event is double-counted or lost.
func TestConcurrent(t *testing.T) {
	const (
		burst   = 50
		workers = 16
		calls   = 500
		maxKeys = 64
	)
	t.Run("shared key", func(t *testing.T) {
		// Rate 0: the burst is all there ever is.
		l := ratelimit.New(0, burst, workers*calls+1)
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := range calls {
					var ok bool
					if i%2 == 0 {
						ok = l.Allow("shared")
					} else {
						ok = l.AllowAt("shared", t0.Add(time.Duration(i)*time.Second))
					}
					if ok {
						allowed.Add(1)
					}
					l.AllowAt(fmt.Sprint(w, "/", i), t0) // churn other keys
					_ = l.Len()
				}
			})
		}
		wg.Wait()
		if n := allowed.Load(); n != burst {
			t.Fatalf("allowed %d; want exactly the burst, %d", n, burst)
		}
	})

	t.Run("churn within bound", func(t *testing.T) {
		l := ratelimit.New(rate.Every(time.Second), 2, maxKeys)
		var wg sync.WaitGroup
		var over atomic.Int64
		for w := range workers {
			wg.Go(func() {
				for i := range calls {
					now := t0.Add(time.Duration(i) * time.Millisecond * 100)
					l.AllowAt(fmt.Sprint(w, "/", i%(maxKeys/2)), now)
					l.AllowAt("common", now)
					if l.Len() > maxKeys {
						over.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if over.Load() != 0 || l.Len() > maxKeys {
			t.Fatalf("Len exceeded maxKeys %d times (final %d)", over.Load(), l.Len())
		}
	})
}

func BenchmarkAllowAt(b *testing.B) {
	l := ratelimit.New(rate.Every(time.Second), 5, 10_000)
	keys := make([]string, 100_000)
	for i := range keys {
		keys[i] = strconv.Itoa(i)
	}
	i := 0
	for b.Loop() {
		l.AllowAt(keys[i%len(keys)], t0)
		i++
	}
}
