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

	t.Run("least recently used", func(t *testing.T) {
		const maxKeys = 100
		l := ratelimit.New(rate.Every(time.Hour), 1, maxKeys)
		if !l.AllowAt("hot", t0) {
			t.Fatal("first attempt denied")
		}
		// hot is used between every new key, so it is never the least
		// recently used and keeps its state: denied throughout.
		for i := range 10_000 {
			l.AllowAt(fmt.Sprint("cold", i), t0)
			if l.AllowAt("hot", t0) {
				t.Fatalf("hot allowed after %d other keys: it was evicted", i+1)
			}
		}
		// The most recent cold keys are held and still limited.
		for i := 10_000 - maxKeys + 2; i < 10_000; i++ {
			if l.AllowAt(fmt.Sprint("cold", i), t0) {
				t.Fatalf("cold%d allowed again: it was evicted", i)
			}
		}
		// Once hot goes unused while maxKeys others are used, it is evicted
		// and starts again with a full burst.
		for i := range maxKeys {
			l.AllowAt(fmt.Sprint("new", i), t0)
		}
		if !l.AllowAt("hot", t0) {
			t.Fatal("hot still denied: it was not evicted")
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
