package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server/servertest"
	"google.golang.org/protobuf/types/known/structpb"
)

// BenchmarkAppendEventsRPC measures AppendEvents end to end: Connect over
// HTTP/2 on loopback, authentication, RBAC, canonical JSON, group commit,
// and the signed checkpoint each response carries. Each of 64 clients
// appends one event per call and waits for its answer.
func BenchmarkAppendEventsRPC(b *testing.B) {
	const clients, perClient = 64, 200
	ts := servertest.Start(b)
	tok, _ := ts.Signup(b, "bench", "b@example.com", "bench password")
	data, _ := structpb.NewStruct(map[string]any{"service": "api", "version": "1.2.3"})
	var total atomic.Int64
	var elapsed time.Duration
	for b.Loop() {
		start := time.Now()
		var wg sync.WaitGroup
		for range clients {
			c := ts.Clients(tok)
			wg.Go(func() {
				for range perClient {
					_, err := c.Ledger.AppendEvents(context.Background(), connect.NewRequest(&nuxariv1.AppendEventsRequest{
						Events: []*nuxariv1.NewEvent{{Type: "custom.bench", Data: data}},
					}))
					if err != nil {
						b.Error(err)
						return
					}
					total.Add(1)
				}
			})
		}
		wg.Wait()
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(total.Load())/elapsed.Seconds(), "events/s")
}

// BenchmarkLoginRPC measures a login with the default argon2id parameters
// (64 MiB, 1 pass, 2 lanes): the cost a password guess has.
func BenchmarkLoginRPC(b *testing.B) {
	ts := servertest.Start(b, servertest.DefaultPasswords)
	ts.Signup(b, "bench", "b@example.com", "bench password")
	c := ts.Clients("")
	n := 0
	start := time.Now()
	for b.Loop() {
		_, err := c.Auth.Login(context.Background(), connect.NewRequest(&nuxariv1.LoginRequest{OrgId: "bench", Email: "b@example.com", Password: "bench password"}))
		if err != nil {
			b.Fatal(fmt.Errorf("login: %w", err))
		}
		n++
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(n), "ms/login")
}
