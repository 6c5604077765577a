package logapi

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
