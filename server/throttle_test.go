package server_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/metrics"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/internal/fakeclock"
	"github.com/nuxari/nuxari/internal/secret"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// delays records the login delays the server asks for, and waits none
// of them.
type delays struct {
	mu  sync.Mutex
	all []time.Duration
}

func (d *delays) Sleep(ctx context.Context, dur time.Duration) error {
	d.mu.Lock()
	d.all = append(d.all, dur)
	d.mu.Unlock()
	return ctx.Err()
}

func (d *delays) take() []time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	all := d.all
	d.all = nil
	return all
}

// throttled starts a server with the default login limits, a clock that
// moves only when told, and recorded delays; it signs up org "a" with an
// owner and readonly@a.com.
func throttled(t *testing.T, opts ...servertest.Option) (*servertest.Server, *fakeclock.Clock, *delays) {
	t.Helper()
	clk := fakeclock.New(time.Now())
	d := &delays{}
	ts := servertest.Start(t, append([]servertest.Option{func(c *server.Config) {
		c.Governance.LoginRate = 0 // the default
		c.Governance.Clock = clk.Now
		c.Governance.Sleep = d.Sleep
	}}, opts...)...)
	owner, _ := ts.Signup(t, "a", "owner@a.com", ownerPW)
	ts.AddMember(t, owner, "a", "readonly@a.com", memberPW, nuxariv1.Role_ROLE_READONLY)
	d.take()
	return ts, clk, d
}

// loginFrom logs in at the domain, as a request from source would.
func loginFrom(ts *servertest.Server, source, org, email, pw string) error {
	ctx := core.WithRequestInfo(context.Background(), core.RequestInfo{ID: "t", Source: source})
	_, _, err := ts.Service().Sessions.Login(ctx, org, email, secret.New(pw))
	return err
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v; want %v", what, err, want)
	}
}

// TestLoginStrangerCannotLockOut is the lockout found: fifteen wrong
// passwords for readonly@a.com from one address, then the victim with the
// right password from two other addresses, over the wire. The stranger is
// refused after the burst; the victim gets in from both, delayed at most
// LoginDelayMax.
func TestLoginStrangerCannotLockOut(t *testing.T) {
	ts, _, d := throttled(t)
	ctx := context.Background()
	login := func(c nuxariv1connect.AuthServiceClient, pw string) error {
		_, err := c.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: "a", Email: "readonly@a.com", Password: pw}))
		return err
	}
	attacker := sourceClients(t, ts, "127.0.0.2")
	refused := 0
	for i := range 15 {
		switch err := login(attacker, fmt.Sprintf("wrong password %d", i)); connect.CodeOf(err) {
		case connect.CodeResourceExhausted:
			refused++
		case connect.CodeUnauthenticated:
		default:
			t.Fatalf("wrong password #%d: %v", i+1, err)
		}
	}
	if refused != 5 {
		t.Fatalf("%d of 15 wrong passwords from one address refused; want 5 (the burst is 10)", refused)
	}
	for _, src := range []string{"127.0.0.3", "127.0.0.4"} {
		if err := login(sourceClients(t, ts, src), memberPW); err != nil {
			t.Fatalf("the victim from %s: %v", src, err)
		}
	}
	for _, dur := range d.take() {
		if dur > 4*time.Second {
			t.Fatalf("a login delayed %v; the bound is 4s", dur)
		}
	}
}

// TestLoginDelayProgressive: wrong passwords for one account from many
// sources, each within its own budgets, are never refused; past the burst
// of failures each is delayed, doubling from 250 ms to at most 4 s. The
// real user still gets in, at most that late, and a success gives back
// its attempt. Another account is not delayed.
func TestLoginDelayProgressive(t *testing.T) {
	ts, clk, d := throttled(t)
	const attempts = 60
	for i := range attempts {
		src := fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)
		wantErr(t, "a distributed guess", loginFrom(ts, src, "a", "readonly@a.com", "wrong password!"), errs.Unauthenticated)
	}
	got := d.take()
	if len(got) != attempts-10 {
		t.Fatalf("%d of %d guesses delayed; want all but the first 10", len(got), attempts)
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}
	for i, dur := range got {
		w := 4 * time.Second
		if i < len(want) {
			w = want[i]
		}
		if dur != w {
			t.Fatalf("guess %d delayed %v; want %v (all: %v)", 11+i, dur, w, got)
		}
	}
	if err := loginFrom(ts, "192.0.2.1", "a", "readonly@a.com", memberPW); err != nil {
		t.Fatalf("the real user: %v", err)
	}
	if got := d.take(); len(got) != 1 || got[0] != 4*time.Second {
		t.Fatalf("the real user was delayed %v; want [4s]", got)
	}
	if err := loginFrom(ts, "192.0.2.2", "a", "owner@a.com", ownerPW); err != nil {
		t.Fatalf("another account: %v", err)
	}
	if got := d.take(); len(got) != 0 {
		t.Fatalf("another account was delayed %v", got)
	}
	// Failures are forgiven at the login rate: after ten minutes (100
	// intervals of 6 s) the account is not delayed.
	clk.Advance(10 * time.Minute)
	if err := loginFrom(ts, "192.0.2.3", "a", "readonly@a.com", memberPW); err != nil {
		t.Fatal(err)
	}
	if got := d.take(); len(got) != 0 {
		t.Fatalf("delayed %v ten minutes after the guessing stopped", got)
	}
	// A delay ends with the caller's context.
	for i := range 12 {
		loginFrom(ts, fmt.Sprintf("10.9.0.%d", i+1), "a", "readonly@a.com", "wrong password!")
	}
	ctx, cancel := context.WithCancel(core.WithRequestInfo(context.Background(), core.RequestInfo{Source: "192.0.2.4"}))
	cancel()
	_, _, err := ts.Service().Sessions.Login(ctx, "a", "readonly@a.com", secret.New(memberPW))
	wantErr(t, "a login cancelled during its delay", err, context.Canceled)
}

// TestLoginSourceKeys: IPv6 sources share a budget per /64, IPv4 per
// address, and an IPv4-mapped IPv6 address is its IPv4 address.
func TestLoginSourceKeys(t *testing.T) {
	ts, _, _ := throttled(t)
	for _, tc := range []struct {
		spend, same, other string
	}{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:fffe", "2001:db8:1:3::1"},
		{"fe80::1%eth0", "fe80::2", "fe80:0:0:1::1"},
		{"198.51.100.7", "::ffff:198.51.100.7", "198.51.100.8"},
	} {
		for i := range 10 {
			wantErr(t, fmt.Sprintf("guess %d from %s", i+1, tc.spend), loginFrom(ts, tc.spend, "a", "owner@a.com", "wrong password!"), errs.Unauthenticated)
		}
		wantErr(t, "from "+tc.same, loginFrom(ts, tc.same, "a", "readonly@a.com", memberPW), errs.RateLimited)
		if err := loginFrom(ts, tc.other, "a", "readonly@a.com", memberPW); err != nil {
			t.Fatalf("from %s, after %s spent its budget: %v", tc.other, tc.spend, err)
		}
	}
}

// TestLoginChurnKeepsLimits: with room for 50 keys per limit, a flood of
// guesses from a thousand new sources never frees a limited source: the
// flood is refused once the limits are full, until their buckets refill.
func TestLoginChurnKeepsLimits(t *testing.T) {
	const keys = 50
	ts, clk, _ := throttled(t, func(c *server.Config) { c.Governance.LimiterKeys = keys })
	const limited = "203.0.113.9"
	for range 10 {
		wantErr(t, "a guess", loginFrom(ts, limited, "a", "owner@a.com", "wrong password!"), errs.Unauthenticated)
	}
	admitted := 0
	for i := range 1000 {
		src := fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)
		err := loginFrom(ts, src, "nope", fmt.Sprintf("u%d@a.com", i), "wrong password!")
		switch {
		case errors.Is(err, errs.Unauthenticated):
			admitted++
		case errors.Is(err, errs.RateLimited):
		default:
			t.Fatalf("guess from %s: %v", src, err)
		}
		wantErr(t, "the limited source, during the flood", loginFrom(ts, limited, "a", "owner@a.com", ownerPW), errs.RateLimited)
	}
	// Setup's own logins left no keys: each success gave back its attempt.
	if admitted != keys-1 {
		t.Fatalf("%d sources admitted with room for %d keys, one held by the limited source", admitted, keys)
	}
	// A minute refills every bucket: new sources are admitted again and
	// the limited source may try again.
	clk.Advance(time.Minute)
	if err := loginFrom(ts, "10.2.0.1", "a", "readonly@a.com", memberPW); err != nil {
		t.Fatalf("a new source after the buckets refilled: %v", err)
	}
	if err := loginFrom(ts, limited, "a", "owner@a.com", ownerPW); err != nil {
		t.Fatalf("the limited source after its bucket refilled: %v", err)
	}
}

// heapInuse is runtime.MemStats.HeapInuse, read without stopping the
// world.
func heapInuse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// peakHeap runs f and returns by how much the sampled peak of HeapInuse
// exceeded HeapInuse before it, after a collection.
func peakHeap(f func()) uint64 {
	runtime.GC()
	base := heapInuse()
	stop := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		p := base
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			p = max(p, heapInuse())
			select {
			case <-stop:
				peak <- max(p, heapInuse())
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(stop)
	return <-peak - base
}

// TestSignupMemoryBound: sixty concurrent sign-ups with the production
// Argon2id parameters (64 MiB a hash) and the default memory budget of
// 256 MiB. For a taken org ID they hash nothing, and raise the heap by
// less than 16 MiB; for free IDs they hash at most four at a time (those
// kept waiting longer than the Hasher's wait are refused), and raise it
// by less than 768 MiB: three times the budget, for the hashes running,
// as much again of finished hashes the collector lets accumulate between
// cycles at GOGC=100 (measured: about 512 MiB in all), and one budget of
// slack; sixty unbounded hashes take 3.75 GiB.
func TestSignupMemoryBound(t *testing.T) {
	ts := servertest.Start(t, servertest.DefaultPasswords)
	ctx := context.Background()
	anon := ts.Clients("")
	const pw = "a valid password"
	if _, err := anon.Org.CreateOrg(ctx, req(&nuxariv1.CreateOrgRequest{OrgId: "taken", OwnerEmail: "o@example.com", OwnerPassword: pw})); err != nil {
		t.Fatal(err)
	}
	// signups runs 60 sign-ups at once and counts their outcomes: each
	// must have one of the codes in want (0 is success).
	signups := func(id func(int) string, want ...connect.Code) map[connect.Code]int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		got := map[connect.Code]int{}
		for i := range 60 {
			wg.Go(func() {
				_, err := anon.Org.CreateOrg(ctx, req(&nuxariv1.CreateOrgRequest{OrgId: id(i), OwnerEmail: "o@example.com", OwnerPassword: pw}))
				code := connect.Code(0)
				if err != nil {
					code = connect.CodeOf(err)
				}
				if !slices.Contains(want, code) {
					t.Errorf("sign-up %s: %v", id(i), err)
				}
				mu.Lock()
				got[code]++
				mu.Unlock()
			})
		}
		wg.Wait()
		return got
	}
	const MiB = 1 << 20
	taken := peakHeap(func() { signups(func(int) string { return "taken" }, connect.CodeAlreadyExists) })
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("60 sign-ups for a taken org ID raised HeapInuse by %.1f MiB at peak", float64(taken)/MiB)
	if taken >= 16*MiB {
		t.Errorf("60 sign-ups for a taken org ID raised HeapInuse by %d MiB; want < 16 MiB", taken/MiB)
	}
	// Sign-ups that waited for the hashes before them longer than the
	// Hasher's wait may be refused; those that ran hashed four at a time.
	var outcomes map[connect.Code]int
	free := peakHeap(func() {
		outcomes = signups(func(i int) string { return fmt.Sprint("free", i) }, 0, connect.CodeResourceExhausted)
	})
	t.Logf("60 sign-ups for free org IDs (%d created, %d refused while busy) raised HeapInuse by %.1f MiB at peak",
		outcomes[0], outcomes[connect.CodeResourceExhausted], float64(free)/MiB)
	if outcomes[0] < 4 {
		t.Errorf("%d of 60 sign-ups for free org IDs created an org; want at least the 4 that fit the budget", outcomes[0])
	}
	if free >= 768*MiB {
		t.Errorf("60 sign-ups for free org IDs raised HeapInuse by %d MiB; want < 768 MiB", free/MiB)
	}
}

// TestSignupRateLimit: sign-ups are limited per source and across all
// sources, before any hash; a source that spent its budget does not
// refuse another source, and a taken org ID is answered without spending
// anything.
func TestSignupRateLimit(t *testing.T) {
	clk := fakeclock.New(time.Now())
	ts := servertest.Start(t, func(c *server.Config) {
		c.Governance.Clock = clk.Now
		c.Governance.SignupRate, c.Governance.SignupBurst = 0, 0 // the defaults: 1/min, burst 5
		c.Governance.SignupGlobalRate, c.Governance.SignupGlobalBurst = 0, 8
	})
	n := 0
	signup := func(source, id string) error {
		n++
		ctx := core.WithRequestInfo(context.Background(), core.RequestInfo{ID: "t", Source: source})
		_, _, err := ts.Service().Orgs.CreateOrg(ctx, orgs.NewOrg{ID: id, OwnerEmail: "o@example.com", OwnerPassword: secret.New("owner password 1")}, false)
		return err
	}
	for i := range 5 {
		if err := signup("198.51.100.1", fmt.Sprintf("s1-%d", i)); err != nil {
			t.Fatalf("sign-up %d from the first source: %v", i, err)
		}
	}
	wantErr(t, "a 6th sign-up from one source", signup("198.51.100.1", "s1-6"), errs.RateLimited)
	wantErr(t, "a taken ID from the spent source", signup("198.51.100.1", "s1-0"), errs.AlreadyExists)
	// Another source has its own budget.
	for i := range 3 {
		if err := signup("2001:db8:7::1", fmt.Sprintf("s2-%d", i)); err != nil {
			t.Fatalf("sign-up %d from another source: %v", i, err)
		}
	}
	// The global budget (8) is spent: a fresh source is refused too.
	wantErr(t, "beyond the global budget", signup("203.0.113.5", "s3-0"), errs.RateLimited)
	clk.Advance(time.Minute)
	if err := signup("198.51.100.1", "s1-7"); err != nil {
		t.Fatalf("after a minute: %v", err)
	}
}
