package postgres_test

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nuxari/nuxari/connector"
)

// TestLargeListingBoundedMemory lists 10,000 login roles and 10,000
// memberships in pages of 500, checks that each is listed exactly once,
// and that memory does not grow with the listing: the heap grows by less
// than maxHeapGrowth while the whole listing is read, and no call
// allocates more than maxCallAlloc. A page of 500 takes about 0.5 MiB;
// reading all 10,000 rows in one call takes 5 to 10 MiB, which a bound
// of tens of MiB would not notice.
func TestLargeListingBoundedMemory(t *testing.T) {
	const (
		users         = 10_000
		groups        = 10
		pageSize      = 500
		maxHeapGrowth = 4 << 20
		maxCallAlloc  = 2 << 20
	)
	_, admin, p, c := setup(t)
	ctx := t.Context()

	start := time.Now()
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SELECT set_config('nuxari.prefix', $1, true)`, p); err != nil {
		t.Fatal(err)
	}
	// Each user is a member of one group: as many memberships as users.
	if _, err := tx.Exec(ctx, fmt.Sprintf(`DO $$
		DECLARE p text := current_setting('nuxari.prefix');
		BEGIN
			FOR g IN 0..%[2]d - 1 LOOP
				EXECUTE format('CREATE ROLE %%I NOLOGIN', p || 'g' || g);
			END LOOP;
			FOR i IN 1..%[1]d LOOP
				EXECUTE format('CREATE ROLE %%I LOGIN IN ROLE %%I', p || 'u' || lpad(i::text, 5, '0'), p || 'g' || (i %% %[2]d));
			END LOOP;
		END $$`, users, groups)); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("created %d roles and %d memberships in %v", users+groups, users, time.Since(start).Round(time.Millisecond))

	// The expected IDs, allocated before the heap is measured; listing
	// only flips their flags.
	userIDs := idsOf(t, admin, p+"u", users)
	groupIDs := idsOf(t, admin, p+"g", groups)

	// measure reads a whole listing and checks the peak growth of the
	// heap while it ran, and the bytes each call allocated. The collector
	// runs often (GOGC=5), so the heap is close to what is live, and a
	// goroutine samples it while pages are read, so a peak inside a call
	// is seen.
	measure := func(name string, list func(token string) (n int, next string, err error)) {
		t.Helper()
		defer debug.SetGCPercent(debug.SetGCPercent(5))
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		var peak atomic.Uint64
		stop, stopped := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(stopped)
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
		}()
		start := time.Now()
		token, pages := "", 0
		var maxAlloc uint64
		for {
			runtime.ReadMemStats(&ms)
			before := ms.TotalAlloc
			n, next, err := list(token)
			runtime.ReadMemStats(&ms)
			maxAlloc = max(maxAlloc, ms.TotalAlloc-before)
			if err != nil {
				close(stop)
				t.Fatalf("%s, page %d: %v", name, pages+1, err)
			}
			if n > pageSize {
				close(stop)
				t.Fatalf("%s: a page of %d items", name, n)
			}
			pages++
			if next == "" {
				break
			}
			token = next
		}
		close(stop)
		<-stopped
		growth := max(peak.Load(), base) - base
		t.Logf("%s: %d pages in %v, heap growth %.1f MiB, at most %.1f MiB allocated by a call", name, pages,
			time.Since(start).Round(time.Millisecond), float64(growth)/(1<<20), float64(maxAlloc)/(1<<20))
		if growth >= maxHeapGrowth {
			t.Errorf("%s: heap grew by %d bytes, want < %d", name, growth, maxHeapGrowth)
		}
		if maxAlloc >= maxCallAlloc {
			t.Errorf("%s: a call allocated %d bytes, want < %d", name, maxAlloc, maxCallAlloc)
		}
	}

	measure("ListIdentities", func(token string) (int, string, error) {
		items, next, err := c.ListIdentities(ctx, connector.Page{Token: token, Size: pageSize})
		for _, id := range items {
			if seen, ours := userIDs[id.ID]; ours {
				if seen {
					t.Fatalf("identity %s listed twice", id.ID)
				}
				userIDs[id.ID] = true
			}
		}
		return len(items), next, err
	})
	for id, seen := range userIDs {
		if !seen {
			t.Fatalf("identity %s not listed", id)
		}
	}

	perGroup := map[string]int{}
	for id := range groupIDs {
		perGroup[id] = 0
	}
	for id := range userIDs {
		userIDs[id] = false
	}
	measure("ListGrants", func(token string) (int, string, error) {
		items, next, err := c.ListGrants(ctx, connector.Page{Token: token, Size: pageSize})
		for _, g := range items {
			if _, ours := groupIDs[g.EntitlementID]; !ours {
				continue
			}
			if userIDs[g.IdentityID] {
				t.Fatalf("identity %s listed with a second group", g.IdentityID)
			}
			userIDs[g.IdentityID] = true
			perGroup[g.EntitlementID]++
		}
		return len(items), next, err
	})
	for id, n := range perGroup {
		if n != users/groups {
			t.Errorf("group %s has %d members listed, want %d", id, n, users/groups)
		}
	}
}

// idsOf returns the IDs of the roles named prefix*, of which there must be
// n, each mapped to false.
func idsOf(t *testing.T, admin *pgx.Conn, prefix string, n int) map[string]bool {
	t.Helper()
	rows, err := admin.Query(context.Background(), `SELECT 'role:' || oid FROM pg_roles WHERE starts_with(rolname, $1)`, prefix)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != n {
		t.Fatalf("%d roles named %s*, want %d", len(ids), prefix, n)
	}
	m := make(map[string]bool, n)
	for _, id := range ids {
		if !strings.HasPrefix(id, "role:") {
			t.Fatalf("ID %q", id)
		}
		m[id] = false
	}
	return m
}
