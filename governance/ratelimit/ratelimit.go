// Package ratelimit limits events, such as login attempts, per key: an
// account, a source address. It is the throttling of authentication
// attempts that NIST SP 800-63B (2017), Section 5.2.2 "Rate Limiting
// (Throttling)", requires of verifiers: each key has a token bucket
// (golang.org/x/time/rate) of its
// own, and the number of keys held is bounded, so a flood of distinct keys
// costs bounded memory.
//
// The bound has a price: a key evicted to make room for others forgets its
// history and starts again with a full burst. Size maxKeys so that evicting
// a recently limited key takes far more requests than the limit allows, and
// limit by source address as well as by account, so that one source cannot
// cheaply flush the account limits.
package ratelimit

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// DefaultMaxKeys is the number of keys a Limiter holds when New is given a
// maxKeys below 1.
const DefaultMaxKeys = 10_000

// sweep is how many least recently used keys AllowAt checks, on each call,
// for having refilled to a full burst.
const sweep = 2

// Limiter is a set of token buckets, one per key, holding at most maxKeys of
// them: when a new key would exceed that, the least recently used key is
// evicted. A key whose bucket has refilled to a full burst holds no
// information, and may be dropped at any time. A Limiter is safe for
// concurrent use. Make one with New; the zero Limiter is not usable.
type Limiter struct {
	limit   rate.Limit
	burst   int
	maxKeys int

	mu    sync.Mutex
	order *list.List // of *entry, most recently used first
	keys  map[string]*list.Element
}

type entry struct {
	key string
	lim *rate.Limiter
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
		order:   list.New(),
		keys:    make(map[string]*list.Element),
	}
}

// Allow is AllowAt(key, time.Now()).
func (l *Limiter) Allow(key string) bool {
	return l.AllowAt(key, time.Now())
}

// AllowAt reports whether an event for key may happen at now, and if so
// counts it. Times need not be increasing: a time before a key's last event
// is taken as that time.
func (l *Limiter) AllowAt(key string, now time.Time) bool {
	if l.limit == rate.Inf {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()

	l.dropRefilled(now)
	el, ok := l.keys[key]
	if ok {
		l.order.MoveToFront(el)
	} else {
		el = l.order.PushFront(&entry{key: key, lim: rate.NewLimiter(l.limit, l.burst)})
		l.keys[key] = el
		for l.order.Len() > l.maxKeys {
			l.remove(l.order.Back())
		}
	}
	return el.Value.(*entry).lim.AllowN(now, 1)
}

// Len returns the number of keys held, at most maxKeys.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}

// dropRefilled removes up to sweep least recently used keys whose buckets
// are full at now: a fresh bucket would behave the same. It keeps the
// number of keys held near the number active, at constant cost per call.
func (l *Limiter) dropRefilled(now time.Time) {
	for range sweep {
		el := l.order.Back()
		if el == nil || el.Value.(*entry).lim.TokensAt(now) < float64(l.burst) {
			return
		}
		l.remove(el)
	}
}

func (l *Limiter) remove(el *list.Element) {
	delete(l.keys, el.Value.(*entry).key)
	l.order.Remove(el)
}
