package logapi

import (
	"context"
	"sync"
)

// Per-org fairness (DESIGN.md, "Strangers cost nothing": after
// authentication, one org's load never starves another's): the log API's
// reads and appends go through an orgLimiter each.

// Defaults of the fairness limits in Config.
const (
	DefaultListEventsMaxBytes   = 4 << 20
	DefaultOrgConcurrentReads   = 4
	DefaultOrgConcurrentAppends = 8
)

// orgLimiter bounds how many calls of one org run at once; further calls
// of that org wait, first come first served, until a place frees up or
// their context ends. Other orgs are not affected.
type orgLimiter struct {
	n    int
	mu   sync.Mutex
	orgs map[string]*orgSlots
}

type orgSlots struct {
	sem   chan struct{}
	users int // running or waiting
}

func newOrgLimiter(n int) *orgLimiter {
	return &orgLimiter{n: n, orgs: map[string]*orgSlots{}}
}

// acquire waits for a place of org; the caller MUST call the returned
// release when done.
func (l *orgLimiter) acquire(ctx context.Context, org string) (release func(), err error) {
	l.mu.Lock()
	s := l.orgs[org]
	if s == nil {
		s = &orgSlots{sem: make(chan struct{}, l.n)}
		l.orgs[org] = s
	}
	s.users++
	l.mu.Unlock()
	leave := func() {
		l.mu.Lock()
		if s.users--; s.users == 0 {
			delete(l.orgs, org)
		}
		l.mu.Unlock()
	}
	select {
	case s.sem <- struct{}{}: // a free place is taken whatever ctx says
	default:
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			leave()
			return nil, ctx.Err()
		}
	}
	return func() {
		<-s.sem
		leave()
	}, nil
}
