// Package ratelimit limits events, such as login attempts, per key: an
// account, a source address. It is the throttling of authentication
// attempts that NIST SP 800-63B (2017), Section 5.2.2 "Rate Limiting
// (Throttling)", requires of verifiers: each key has a token bucket of its
// own (the algorithm of golang.org/x/time/rate: a burst of events at once,
// then one event per 1/r), and the number of keys held is bounded, so a
// flood of distinct keys costs bounded memory.
//
// The bound never erases a limit. A key whose bucket is full holds no
// information (a fresh bucket behaves the same) and is dropped; a key whose
// bucket is still refilling, which is what limits a key, is never dropped
// to make room. When every key held is still refilling, a new key is
// refused until one has refilled. Churning through many keys therefore
// cannot reset a limited key; it can only fill the table, and keeping it
// full costs the churner about maxKeys events per refill interval (1/r),
// from maxKeys distinct keys.
package ratelimit

import (
	"container/heap"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxKeys is the number of keys a Limiter holds when New is given a
// maxKeys below 1.
const DefaultMaxKeys = 10_000

// sweep is how many keys whose buckets have refilled AllowAt drops, at
// most, on each call: it keeps the number of keys held near the number
// active, at constant cost per call.
const sweep = 4

// never is the refill time of a bucket that never refills (rate 0).
var never = time.Unix(1<<62, 0)

// Limiter is a set of token buckets, one per key, holding at most maxKeys
// of them. A Limiter is safe for concurrent use. Make one with New; the
// zero Limiter is not usable.
type Limiter struct {
	limit   rate.Limit
	burst   int
	maxKeys int

	mu   sync.Mutex
	keys map[string]*entry
	full fullHeap // every entry, soonest refilled first
}

// entry is one key's bucket, as the number of events it has counted and
// not yet refilled: level, at time at. It refills at limit events a
// second, so it is full again at full.
type entry struct {
	key   string
	level float64
	at    time.Time
	full  time.Time
	index int // in Limiter.full
}

// New returns a Limiter that allows each key events at rate r, in bursts of
// at most burst, as rate.NewLimiter does (so burst 0 allows nothing unless r
// is rate.Inf, which allows everything and holds no keys), and holds at most
// maxKeys keys, or DefaultMaxKeys if maxKeys < 1.
//
// Keys are held in memory as given: callers SHOULD bound their length, for
// example by hashing an account name or truncating an IPv6 address to its
// /64.
func New(r rate.Limit, burst int, maxKeys int) *Limiter {
	if maxKeys < 1 {
		maxKeys = DefaultMaxKeys
	}
	return &Limiter{
		limit:   r,
		burst:   burst,
		maxKeys: maxKeys,
		keys:    make(map[string]*entry),
	}
}

// Allow is AllowAt(key, time.Now()).
func (l *Limiter) Allow(key string) bool {
	return l.AllowAt(key, time.Now())
}

// AllowAt reports whether an event for key may happen at now, and if so
// counts it. It refuses when key's bucket is empty, and when key is not
// held and every one of the maxKeys keys held is still refilling. Times
// need not be increasing: a time before a key's last event is taken as
// that time.
func (l *Limiter) AllowAt(key string, now time.Time) bool {
	_, ok := l.TakeAt(key, now)
	return ok
}

// TakeAt is AllowAt that also returns key's level: the number of events
// counted for it and not yet refilled, including this one when allowed
// (so 1 to burst). A refused event returns the level of the key's bucket,
// or burst if the key could not be held. With rate.Inf it returns 0, true.
func (l *Limiter) TakeAt(key string, now time.Time) (level float64, ok bool) {
	if l.limit == rate.Inf {
		return 0, true
	}
	if l.burst < 1 {
		return float64(l.burst), false
	}
	l.mu.Lock()
	defer l.mu.Unlock()

	l.dropRefilled(now, sweep)
	e, held := l.keys[key]
	if !held {
		if len(l.keys) >= l.maxKeys && l.dropRefilled(now, 1) == 0 {
			return float64(l.burst), false
		}
		e = &entry{key: key, at: now}
		l.keys[key] = e
		heap.Push(&l.full, e)
	}
	now, level = l.levelAt(e, now)
	if level+1 > float64(l.burst) {
		return level, false
	}
	l.set(e, now, level+1)
	return level + 1, true
}

// RefundAt gives back one event counted for key, as if it had not
// happened: for an event that turned out not to be what the limit is for
// (a login that succeeded, say). A key not held is left alone.
func (l *Limiter) RefundAt(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.keys[key]
	if !ok {
		return
	}
	now, level := l.levelAt(e, now)
	l.set(e, now, max(0, level-1))
}

// Forget drops key, which starts again with a full bucket.
func (l *Limiter) Forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.keys[key]; ok {
		l.remove(e)
	}
}

// Len returns the number of keys held, at most maxKeys.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// levelAt returns e's level at now, and now, or e's last event time if
// now is before it.
func (l *Limiter) levelAt(e *entry, now time.Time) (time.Time, float64) {
	if now.Before(e.at) {
		now = e.at
	}
	if l.limit <= 0 {
		return now, e.level
	}
	// As golang.org/x/time/rate computes tokens, so that the two agree to
	// the last bit.
	refilled := now.Sub(e.at).Seconds() * float64(l.limit)
	return now, max(0, e.level-refilled)
}

// set records e's level at now, and when it will be full again.
func (l *Limiter) set(e *entry, now time.Time, level float64) {
	e.level, e.at = level, now
	switch {
	case level <= 0:
		e.full = now
	case l.limit <= 0:
		e.full = never
	default:
		secs := level / float64(l.limit)
		if secs >= float64(math.MaxInt64/int64(time.Second)) {
			e.full = never
		} else {
			e.full = now.Add(time.Duration(math.Ceil(secs * float64(time.Second))))
		}
	}
	heap.Fix(&l.full, e.index)
}

// dropRefilled drops up to n keys whose buckets are full at now, and
// returns how many it dropped.
func (l *Limiter) dropRefilled(now time.Time, n int) int {
	dropped := 0
	for dropped < n && len(l.full) > 0 && !now.Before(l.full[0].full) {
		l.remove(l.full[0])
		dropped++
	}
	return dropped
}

func (l *Limiter) remove(e *entry) {
	delete(l.keys, e.key)
	heap.Remove(&l.full, e.index)
}

// fullHeap orders entries by when their buckets are full again.
type fullHeap []*entry

func (h fullHeap) Len() int           { return len(h) }
func (h fullHeap) Less(i, j int) bool { return h[i].full.Before(h[j].full) }
func (h fullHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *fullHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *fullHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
