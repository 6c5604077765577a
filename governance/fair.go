package governance

import (
	"context"
	"slices"
	"sync"
)

// Per-org fairness (DESIGN.md, "Strangers cost nothing": after
// authentication, one org's load never starves another's). Background
// exports go through a fairQueue; the log API's reads and appends through
// an orgLimiter each.

// Defaults of the fairness limits in Config.
const (
	DefaultExportWorkers        = 2
	DefaultExportsPerOrg        = 4
	DefaultListEventsMaxBytes   = 4 << 20
	DefaultOrgConcurrentReads   = 4
	DefaultOrgConcurrentAppends = 8
)

func (c *Config) setFairDefaults() {
	if c.ExportWorkers <= 0 {
		c.ExportWorkers = DefaultExportWorkers
	}
	if c.ExportsPerOrg <= 0 {
		c.ExportsPerOrg = DefaultExportsPerOrg
	}
	if c.ListEventsMaxBytes <= 0 {
		c.ListEventsMaxBytes = DefaultListEventsMaxBytes
	}
	if c.OrgConcurrentReads <= 0 {
		c.OrgConcurrentReads = DefaultOrgConcurrentReads
	}
	if c.OrgConcurrentAppends <= 0 {
		c.OrgConcurrentAppends = DefaultOrgConcurrentAppends
	}
}

// fairQueue holds jobs in one FIFO queue per org and hands them to a
// fixed pool of workers fairly across orgs.
//
// An org holds at most perOrg jobs (reserved, queued or running); a
// reservation beyond that is refused, so one org's backlog is bounded and
// refused before anything about it is recorded. A free worker takes the
// head of the queue of the org with the fewest running jobs, ties going
// to the org served least recently (round-robin). The bound: once org A
// has a job queued and none running, A's job starts at the next worker
// that frees up, after at most one job start of each other org that also
// has jobs queued and none running. Another org's queue depth never
// delays A: with W workers, A's job waits for at most W running jobs to
// end plus one job of each such idle-waiting org.
type fairQueue[J any] struct {
	perOrg int
	wake   chan struct{}

	mu   sync.Mutex
	orgs map[string]*orgJobs[J]
	ring []string // orgs with queued jobs, least recently served first
}

type orgJobs[J any] struct {
	queued  []J
	held    int // reserved + queued + running
	running int
}

func newFairQueue[J any](perOrg int) *fairQueue[J] {
	return &fairQueue[J]{perOrg: perOrg, wake: make(chan struct{}, 1), orgs: map[string]*orgJobs[J]{}}
}

// reserve takes one of org's places, or reports that org has none left.
// A reservation ends with push (then done), or with unreserve.
func (q *fairQueue[J]) reserve(org string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	o := q.orgs[org]
	if o == nil {
		o = &orgJobs[J]{}
		q.orgs[org] = o
	}
	if o.held >= q.perOrg {
		return false
	}
	o.held++
	return true
}

// unreserve gives back a reservation that was not pushed.
func (q *fairQueue[J]) unreserve(org string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.release(org)
}

func (q *fairQueue[J]) release(org string) {
	o := q.orgs[org]
	o.held--
	if o.held == 0 {
		delete(q.orgs, org)
	}
}

// push queues a reserved job at the tail of org's queue.
func (q *fairQueue[J]) push(org string, j J) {
	q.mu.Lock()
	o := q.orgs[org]
	if len(o.queued) == 0 {
		q.ring = append(q.ring, org)
	}
	o.queued = append(o.queued, j)
	q.mu.Unlock()
	q.signal()
}

func (q *fairQueue[J]) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next waits for a job, or for ctx to end. The caller runs the job, then
// calls done.
func (q *fairQueue[J]) next(ctx context.Context) (org string, j J, ok bool) {
	for {
		q.mu.Lock()
		if len(q.ring) > 0 {
			best := 0
			for i, org := range q.ring {
				if q.orgs[org].running < q.orgs[q.ring[best]].running {
					best = i
				}
			}
			org = q.ring[best]
			o := q.orgs[org]
			j, o.queued = o.queued[0], o.queued[1:]
			o.running++
			q.ring = slices.Delete(q.ring, best, best+1)
			if len(o.queued) > 0 {
				q.ring = append(q.ring, org)
			}
			more := len(q.ring) > 0
			q.mu.Unlock()
			if more {
				q.signal() // another worker may take the rest
			}
			return org, j, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return "", j, false
		}
	}
}

// done ends a job that next returned.
func (q *fairQueue[J]) done(org string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.orgs[org].running--
	q.release(org)
}

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
