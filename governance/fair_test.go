package governance

import (
	"context"
	"testing"
)

// TestOrgLimiterBoundsOneOrg: an org's calls beyond the limit wait (here
// a call with an ended context, which would wait, is refused instead)
// while another org's calls go ahead; a released place is taken at once.
func TestOrgLimiterBoundsOneOrg(t *testing.T) {
	l := newOrgLimiter(2)
	ctx := context.Background()
	ended, cancel := context.WithCancel(ctx)
	cancel()
	var held []func()
	for range 2 {
		rel, err := l.acquire(ended, "a")
		if err != nil {
			t.Fatalf("place %d of org a: %v", len(held)+1, err)
		}
		held = append(held, rel)
	}
	if _, err := l.acquire(ended, "a"); err == nil {
		t.Fatal("a third call of org a went ahead of the limit of 2")
	}
	relB, err := l.acquire(ended, "b")
	if err != nil {
		t.Fatalf("org b waits behind org a: %v", err)
	}
	relB()
	held[0]()
	rel, err := l.acquire(ended, "a")
	if err != nil {
		t.Fatalf("a freed place of org a: %v", err)
	}
	rel()
	held[1]()
	if len(l.orgs) != 0 {
		t.Fatalf("idle orgs kept: %d", len(l.orgs))
	}
}

// TestFairQueueServesIdleOrgFirst: with org b's jobs queued behind its
// running ones, org a's job, queued last, is the next one a worker takes;
// b's queue depth is capped.
func TestFairQueueServesIdleOrgFirst(t *testing.T) {
	q := newFairQueue[int](4)
	ctx := context.Background()
	for i := range 4 {
		if !q.reserve("b") {
			t.Fatalf("b's job %d refused under its cap", i)
		}
		q.push("b", i)
	}
	if q.reserve("b") {
		t.Fatal("b's fifth job accepted over its cap of 4")
	}
	for want := range 2 { // two workers take b's first two
		if org, j, _ := q.next(ctx); org != "b" || j != want {
			t.Fatalf("took %s/%d, want b/%d", org, j, want)
		}
	}
	if !q.reserve("a") {
		t.Fatal("a refused")
	}
	q.push("a", 100)
	q.done("b") // a worker frees up
	if org, j, _ := q.next(ctx); org != "a" || j != 100 {
		t.Fatalf("took %s/%d, want a/100 ahead of b's queue", org, j)
	}
	if org, j, _ := q.next(ctx); org != "b" || j != 2 {
		t.Fatalf("took %s/%d, want b/2", org, j)
	}
}
