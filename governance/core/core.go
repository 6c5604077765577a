// Package core is what every feature of the governance domain shares: the
// principal a request is authenticated as and the org handle it carries,
// the request's info, the body of every event, input validation, paging
// and page tokens, and the mapping of storage errors to domain errors
// (package errs). It knows no feature: orgs, sessions, the log API,
// evidence export and agents each live in a package of their own and
// build on this one.
package core

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nuxari/nuxari/governance/store"
)

// Env is what a feature needs of the domain's surroundings: the store,
// the clock, the logger and the test hook on commits. The wiring package
// (governance) builds one and hands it to every feature.
type Env struct {
	Store *store.Store
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// Logger (default: discard).
	Logger *slog.Logger
	// CommitHook, if set, is called before every commit of an
	// authenticated caller's action, with the event types it commits.
	CommitHook func(ctx context.Context, org string, types []string)
	// Counters count what the features refuse, for metrics.
	Counters Counters
}

// Counters count events of interest to an operator that no state holds.
// None names an org.
type Counters struct {
	// LoginsFailed counts logins refused for a wrong org, email or
	// password (not those the throttle refused first).
	LoginsFailed atomic.Uint64
	// EvidenceRejected counts evidence items refused for a hash or
	// signature that did not match.
	EvidenceRejected atomic.Uint64
}

// NewEnv returns an Env over st with the clock, logger and commit hook
// given (defaults: time.Now, a discarding logger, none).
func NewEnv(st *store.Store, clock func() time.Time, logger *slog.Logger, hook func(ctx context.Context, org string, types []string)) *Env {
	if clock == nil {
		clock = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Env{Store: st, Clock: clock, Logger: logger, CommitHook: hook}
}

// Now is the clock's time in UTC.
func (e *Env) Now() time.Time { return e.Clock().UTC() }

// OrgOf returns the principal's org handle. Its commits carry the
// principal's holds, so an action authorized before a removal, demotion,
// revocation, logout or decommissioning that commits first fails and
// changes nothing.
func (e *Env) OrgOf(p *Principal) store.Org {
	o := p.org
	if !o.Valid() {
		// A principal made outside authentication (a tool, a test): its
		// org ID is checked here. A bad one leaves a handle on which
		// every call fails.
		o, _ = e.Store.Org(p.Org)
	}
	o = o.Holding(p.holds...)
	if hook := e.CommitHook; hook != nil {
		org := p.Org
		o = o.BeforeCommit(func(ctx context.Context, events []any) {
			types := make([]string, len(events))
			for i, ev := range events {
				if b, ok := ev.(Event); ok {
					types[i] = b.Type
				}
			}
			hook(ctx, org, types)
		})
	}
	return o
}

// NewID returns a fresh ID: prefix and 16 lower-case base32 characters
// (80 random bits).
func NewID(prefix string) string {
	var b [10]byte
	rand.Read(b[:])
	return prefix + strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// StateKey is one entry of a feature's registry of the state keys it
// owns: an exact key (a name) or a prefix ending in "/" followed by an
// ID. The wiring package checks that no key of one feature is a prefix of
// another's.
type StateKey struct {
	Key, Owner string
}

// Expiring names records under Prefix that carry an "expires" time and
// are deleted once it has passed (the sweep, "auth.expired_swept"),
// counted as Name; Also, if set, returns further keys to delete with a
// record (an index of it).
type Expiring struct {
	Prefix, Name string
	Also         func(raw []byte) []string
}
