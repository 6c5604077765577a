package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// DefaultWaitTimeout is how long a --wait waits without --timeout.
const DefaultWaitTimeout = 10 * time.Minute

// Polling intervals of a --wait: the first, growing to the longest.
const (
	firstPoll = 200 * time.Millisecond
	maxPoll   = 2 * time.Second
)

// waitFlags are the --wait and --timeout flags of a command.
type waitFlags struct {
	wait    bool
	timeout time.Duration
}

// addWaitFlags adds --wait (until says what it waits for) and --timeout
// to cmd.
func addWaitFlags(cmd *cobra.Command, until string) *waitFlags {
	w := &waitFlags{}
	cmd.Flags().BoolVar(&w.wait, "wait", false, "wait until "+until)
	cmd.Flags().DurationVar(&w.timeout, "timeout", DefaultWaitTimeout, fmt.Sprintf("with --wait, give up after this long (exit %d)", ExitTimeout))
	return w
}

// check refuses --timeout without --wait, and a timeout that is not
// positive.
func (w *waitFlags) check(cmd *cobra.Command) error {
	switch {
	case cmd.Flags().Changed("timeout") && !w.wait:
		return usagef(pathOf(cmd), "--timeout needs --wait")
	case w.timeout <= 0:
		return usagef(pathOf(cmd), "--timeout must be positive")
	}
	return nil
}

// poll calls step until it reports done or fails, e.ctx ends, or timeout
// passes. step's context ends at the timeout. On the timeout poll returns
// an ExitTimeout error saying what (a function, so that it can give the
// latest state) it waited for.
func (e *env) poll(timeout time.Duration, what func() string, step func(ctx context.Context) (done bool, err error)) error {
	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	timedOut := func() error {
		return &exitError{code: ExitTimeout, err: fmt.Errorf("gave up after %s (--timeout) waiting for %s", timeout, what())}
	}
	interval := firstPoll
	for {
		done, err := step(ctx)
		switch {
		case err == nil && done:
			return nil
		case err != nil && e.ctx.Err() != nil:
			return err
		case e.ctx.Err() != nil:
			return e.ctx.Err()
		case ctx.Err() != nil:
			return timedOut()
		case err != nil:
			return err
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			if e.ctx.Err() != nil {
				return e.ctx.Err()
			}
			return timedOut()
		case <-t.C:
		}
		interval = min(interval*3/2, maxPoll)
	}
}
