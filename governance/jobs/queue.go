package jobs

import (
	"context"
	"slices"
	"sync"
)

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
type fairQueue[J comparable] struct {
	perOrg int
	wake   chan struct{}

	mu   sync.Mutex
	orgs map[string]*orgJobs[J]
	ring []string // orgs with queued jobs, least recently served first
}

type orgJobs[J any] struct {
	queued  []J
	held    int // reserved + queued + running whose end is not recorded
	running int
}

func newFairQueue[J comparable](perOrg int) *fairQueue[J] {
	return &fairQueue[J]{perOrg: perOrg, wake: make(chan struct{}, 1), orgs: map[string]*orgJobs[J]{}}
}

// reserve takes one of org's places, or reports that org has none left;
// force takes one whatever the cap (a job recorded before a restart is
// never dropped for capacity). A reservation ends with push (then done
// or remove), or with unreserve.
func (q *fairQueue[J]) reserve(org string, force bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	o := q.orgs[org]
	if o == nil {
		o = &orgJobs[J]{}
		q.orgs[org] = o
	}
	if o.held >= q.perOrg && !force {
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
	if o.held == 0 && o.running == 0 {
		delete(q.orgs, org)
	}
}

// ended gives back the place of a running job of org whose end is
// recorded: from then on the org may submit another, even before the
// worker lets go (done with released set).
func (q *fairQueue[J]) ended(org string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.orgs[org].held--
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

// remove takes a queued job out of org's queue and gives back its place;
// it reports false if j is not queued (a worker has taken it).
func (q *fairQueue[J]) remove(org string, j J) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	o := q.orgs[org]
	if o == nil {
		return false
	}
	i := slices.Index(o.queued, j)
	if i < 0 {
		return false
	}
	o.queued = slices.Delete(o.queued, i, i+1)
	if len(o.queued) == 0 {
		q.ring = slices.DeleteFunc(q.ring, func(s string) bool { return s == org })
	}
	q.release(org)
	return true
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
		if ctx.Err() != nil {
			return "", j, false
		}
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

// done ends a job that next returned; released says ended gave its place
// back already.
func (q *fairQueue[J]) done(org string, released bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	o := q.orgs[org]
	o.running--
	if !released {
		o.held--
	}
	if o.held == 0 && o.running == 0 {
		delete(q.orgs, org)
	}
}
