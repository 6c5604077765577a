package throttle

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSleepEndsWithContext: the login delay's default wait returns as
// soon as its context ends, with the context's error, however long the
// delay; a delay that runs out returns nil.
func TestSleepEndsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Sleep(ctx, time.Hour) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("sleep after cancel: %v; want context.Canceled", err)
	}
	if err := Sleep(context.Background(), time.Nanosecond); err != nil {
		t.Fatalf("a delay that ran out: %v", err)
	}
}

// TestLoginDelay: no delay within the free failures, then doubling from
// loginDelayBase to the maximum, and the maximum when the count is full.
func TestLoginDelay(t *testing.T) {
	th := &Throttle{freeFailures: 10, delayMax: 4 * time.Second}
	for _, tc := range []struct {
		level float64
		ok    bool
		want  time.Duration
	}{
		{0, true, 0}, {1, true, 0}, {10, true, 0}, {10.9, true, 0},
		{11, true, 250 * time.Millisecond}, {12, true, 500 * time.Millisecond},
		{14, true, 2 * time.Second}, {15, true, 4 * time.Second}, {42, true, 4 * time.Second},
		{1e9, true, 4 * time.Second}, {42, false, 4 * time.Second}, {0, false, 4 * time.Second},
	} {
		if got := th.loginDelay(tc.level, tc.ok); got != tc.want {
			t.Errorf("loginDelay(%v, %v) = %v; want %v", tc.level, tc.ok, got, tc.want)
		}
	}
}
