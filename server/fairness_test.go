package server_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/nuxari/nuxari/governance/logapi"
	"github.com/nuxari/nuxari/ledger"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// waitExportEnd waits for an export to succeed or fail and returns it.
func waitExportEnd(t *testing.T, c servertest.Clients, id string) *nuxariv1.Export {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := c.Evidence.GetExport(context.Background(), req(&nuxariv1.GetExportRequest{ExportId: id}))
		if err != nil {
			t.Fatalf("GetExport: %v", err)
		}
		if s := got.Msg.Export.State; s == nuxariv1.ExportState_EXPORT_STATE_SUCCEEDED || s == nuxariv1.ExportState_EXPORT_STATE_FAILED {
			return got.Msg.Export
		}
		if time.Now().After(deadline) {
			t.Fatalf("export %s still %v after a minute", id, got.Msg.Export.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leaves returns every leaf of org's log.
func leaves(t *testing.T, l *ledger.Ledger, org string) [][]byte {
	t.Helper()
	n, err := l.Size(org)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	if err := l.Leaves(context.Background(), org, 0, n, func(lf ledger.Leaf) error {
		out = append(out, bytes.Clone(lf.Bytes))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// countType counts the leaves of type typ.
func countType(lfs [][]byte, typ string) int {
	n := 0
	for _, lf := range lfs {
		if bytes.Contains(lf, []byte(`"type":"`+typ+`"`)) {
			n++
		}
	}
	return n
}

// waitEvents waits until org's log holds n events of type typ (a state
// change is visible a moment before its event is in the log's size), and
// returns the log's leaves.
func waitEvents(t *testing.T, l *ledger.Ledger, org, typ string, n int) [][]byte {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		lfs := leaves(t, l, org)
		if countType(lfs, typ) >= n {
			return lfs
		}
		if time.Now().After(deadline) {
			t.Fatalf("org %s's log holds %d %s events after a minute, want %d", org, countType(lfs, typ), typ, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type started struct{ org, id string }

// TestExportsAreFairAcrossOrgs: org fb fills its export queue; its excess
// is refused with ResourceExhausted before anything is logged, and org
// fa's export, queued behind fb's, starts at the first worker that frees
// up (ahead of fb's queued exports) and succeeds while fb's are held.
func TestExportsAreFairAcrossOrgs(t *testing.T) {
	starts := make(chan started, 64)
	release := make(chan struct{})
	quit := make(chan struct{})
	ts := servertest.Start(t, func(c *server.Config) {
		c.Governance.ExportWorkers, c.Governance.ExportsPerOrg = 2, 4
		c.Governance.OnExportStart = func(org, id string) {
			starts <- started{org, id}
			if org == "fb" { // held until the test lets one go
				select {
				case <-release:
				case <-quit:
				}
			}
		}
	})
	t.Cleanup(func() { close(quit) })
	ctx := context.Background()
	aTok, _ := ts.Signup(t, "fa", "a@example.com", ownerPW)
	bTok, _ := ts.Signup(t, "fb", "b@example.com", ownerPW)
	a, b := ts.Clients(aTok), ts.Clients(bTok)
	waitCheckpoint(t, a, 2)
	waitCheckpoint(t, b, 2)
	nextStart := func() started {
		t.Helper()
		select {
		case s := <-starts:
			return s
		case <-time.After(time.Minute):
			t.Fatal("no export started within a minute")
		}
		return started{}
	}

	var bIDs []string
	for range 4 {
		res, err := b.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{}))
		if err != nil {
			t.Fatalf("fb export %d: %v", len(bIDs)+1, err)
		}
		bIDs = append(bIDs, res.Msg.Export.ExportId)
	}
	// Both workers hold one of fb's exports; two more wait in fb's queue.
	for range 2 {
		if s := nextStart(); s.org != "fb" {
			t.Fatalf("started %v, want one of fb's", s)
		}
	}
	for range 2 {
		_, err := b.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{}))
		wantCode(t, err, connect.CodeResourceExhausted)
	}
	ax, err := a.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{}))
	if err != nil {
		t.Fatalf("fa's export behind fb's queue: %v", err)
	}
	aID := ax.Msg.Export.ExportId

	// One worker frees up: it takes fa's export, not fb's queued ones.
	release <- struct{}{}
	if s := nextStart(); s != (started{"fa", aID}) {
		t.Fatalf("after a worker freed up, %v started; want fa's export %s", s, aID)
	}
	if x := waitExportEnd(t, a, aID); x.State != nuxariv1.ExportState_EXPORT_STATE_SUCCEEDED {
		t.Fatalf("fa's export: %v %q", x.State, x.Error)
	}
	// fb's queue has not drained: its last export has not started.
	if x, err := b.Evidence.GetExport(ctx, req(&nuxariv1.GetExportRequest{ExportId: bIDs[3]})); err != nil || x.Msg.Export.State != nuxariv1.ExportState_EXPORT_STATE_RUNNING {
		t.Fatalf("fb's last export: %v %v", x, err)
	}

	// The rest of fb's exports run and succeed.
	for range 3 {
		release <- struct{}{}
	}
	for _, id := range bIDs {
		if x := waitExportEnd(t, b, id); x.State != nuxariv1.ExportState_EXPORT_STATE_SUCCEEDED {
			t.Fatalf("fb's export %s: %v %q", id, x.State, x.Error)
		}
	}

	// Refused exports left nothing in any log: four requests in fb's,
	// one in fa's, each started once and completed, and no failure
	// anywhere.
	for org, want := range map[string]int{"fa": 1, "fb": 4} {
		lfs := waitEvents(t, ts.Ledger(), org, "evidence.export.completed", want)
		if got := countType(lfs, "evidence.export.requested"); got != want {
			t.Errorf("org %s's log holds %d export requests, want %d", org, got, want)
		}
		if got := countType(lfs, "evidence.export.started"); got != want {
			t.Errorf("org %s's log holds %d export starts, want %d", org, got, want)
		}
		if got := countType(lfs, "evidence.export.failed"); got != 0 {
			t.Errorf("org %s's log holds %d failed exports", org, got)
		}
	}
}

// bigEvents appends n events of the largest data AppendEvents takes.
func bigEvents(t *testing.T, c servertest.Clients, typ string, n int) {
	t.Helper()
	// {"p":"…"} is exactly MaxCustomEventSize bytes as canonical JSON.
	pad := strings.Repeat("x", logapi.MaxCustomEventSize-len(`{"p":""}`))
	data, err := structpb.NewStruct(map[string]any{"p": pad})
	if err != nil {
		t.Fatal(err)
	}
	const perCall = 50 // within the 4 MiB request bound
	var wg sync.WaitGroup
	errs := make(chan error, n/perCall+1)
	for ; n > 0; n -= perCall {
		evs := make([]*nuxariv1.NewEvent, min(n, perCall))
		for i := range evs {
			evs[i] = &nuxariv1.NewEvent{Type: typ, Data: data}
		}
		wg.Go(func() { // concurrent calls share the committer's batches
			_, err := c.Ledger.AppendEvents(context.Background(), req(&nuxariv1.AppendEventsRequest{Events: evs}))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("AppendEvents: %v", err)
		}
	}
}

// TestListEventsPagesAreBoundedByBytes: a page stops at the byte bound
// (holding at least one event), its token continues, and every event is
// seen exactly once.
func TestListEventsPagesAreBoundedByBytes(t *testing.T) {
	for _, bound := range []int{200_000, 1_000} {
		ts := servertest.Start(t, func(c *server.Config) { c.Governance.ListEventsMaxBytes = bound })
		tok, _ := ts.Signup(t, "pages", "o@example.com", ownerPW)
		c := ts.Clients(tok)
		bigEvents(t, c, "custom.big", 20)
		if _, err := c.Ledger.AppendEvents(context.Background(), req(&nuxariv1.AppendEventsRequest{Events: []*nuxariv1.NewEvent{{Type: "custom.small"}}})); err != nil {
			t.Fatal(err)
		}
		size, _ := ts.Ledger().Size("pages")
		seen := map[uint64]bool{}
		token, pages := "", 0
		for {
			res, err := c.Ledger.ListEvents(context.Background(), req(&nuxariv1.ListEventsRequest{PageSize: 1000, PageToken: token}))
			if err != nil {
				t.Fatalf("bound %d, page %d: %v", bound, pages, err)
			}
			pages++
			sum := 0
			for _, e := range res.Msg.Events {
				if seen[e.Index] {
					t.Fatalf("bound %d: event %d seen twice", bound, e.Index)
				}
				seen[e.Index] = true
				sum += len(e.Leaf)
			}
			if len(res.Msg.Events) == 0 {
				t.Fatalf("bound %d: page %d is empty", bound, pages)
			}
			if sum > bound && len(res.Msg.Events) > 1 {
				t.Fatalf("bound %d: page %d holds %d events of %d bytes", bound, pages, len(res.Msg.Events), sum)
			}
			if token = res.Msg.NextPageToken; token == "" {
				break
			}
		}
		if uint64(len(seen)) != size {
			t.Fatalf("bound %d: saw %d events of %d", bound, len(seen), size)
		}
		t.Logf("bound %d bytes: %d events in %d pages", bound, size, pages)
	}
}

// TestListEventsMemoryIsBounded: 20 concurrent ListEvents asking for
// 1,000 of the largest events each keep the process's heap growth under
// heapBound. Pages hold at most 4 MiB of leaves and at most 4 of one
// org's ListEvents run at once (the defaults).
func TestListEventsMemoryIsBounded(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes 64 MiB of appends and reads outlast the client's request timeout; run without -race")
	}
	const heapBound = 256 << 20
	ts := servertest.Start(t)
	tok, _ := ts.Signup(t, "mem", "o@example.com", ownerPW)
	c := ts.Clients(tok)
	bigEvents(t, c, "custom.big", 1000)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var peak atomic.Uint64
	sampled := make(chan struct{})
	go func() { // samples the heap until the calls end, or stops them at the bound
		defer close(sampled)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > base && ms.HeapAlloc-base > peak.Load() {
				peak.Store(ms.HeapAlloc - base)
			}
			if peak.Load() > heapBound {
				cancel()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	var wg sync.WaitGroup
	var events, bytesRead atomic.Int64
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			res, err := c.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{PageSize: 1000}))
			if err != nil {
				errs <- err
				return
			}
			events.Add(int64(len(res.Msg.Events)))
			for _, e := range res.Msg.Events {
				bytesRead.Add(int64(len(e.Leaf)))
			}
			if res.Msg.NextPageToken == "" {
				errs <- errors.New("a page of 1,000 large events came back whole, with no next page token")
			}
		})
	}
	wg.Wait()
	cancel()
	<-sampled
	close(errs)
	for err := range errs {
		t.Errorf("ListEvents: %v", err)
	}
	t.Logf("20 ListEvents of 1,000 events of %d bytes: %d events, %d MiB of leaves; peak heap growth %d MiB (bound %d MiB)",
		logapi.MaxCustomEventSize, events.Load(), bytesRead.Load()>>20, peak.Load()>>20, heapBound>>20)
	if peak.Load() > heapBound {
		t.Fatalf("peak heap growth %d MiB, bound %d MiB", peak.Load()>>20, heapBound>>20)
	}
}
