package server_test

import (
	"context"
	"testing"
	"time"

	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server/servertest"
)

// TestEveryEventIsSignedPromptly: an event nobody waits on (a login) is
// covered by a signed checkpoint within the ledger's interval, without a
// later append to push it.
func TestEveryEventIsSignedPromptly(t *testing.T) {
	ts := servertest.Start(t)
	tok, _ := ts.Signup(t, "lag", "l@example.com", ownerPW)
	size, _ := ts.Ledger().Size("lag")
	start := time.Now()
	c := ts.Clients(tok)
	for {
		res, err := c.Ledger.GetCheckpoint(context.Background(), req(&nuxariv1.GetCheckpointRequest{}))
		if err == nil && res.Msg.Checkpoint.Size >= size {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("log size %d, latest checkpoint %v after 5 s", size, res.Msg.GetCheckpoint().GetSize())
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("covered after %v", time.Since(start))
}
