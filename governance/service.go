// Package governance is the domain: orgs, people, roles, sessions, API
// tokens and the org's audit log. It validates commands, builds their
// events and commits each event with its state change through an org-scoped
// store handle, so no state exists without its audit event (DESIGN.md,
// "Events first"). It imports no proto and no transport.
package governance

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nuxari/nuxari/governance/jobs"
	"github.com/nuxari/nuxari/governance/password"
	"github.com/nuxari/nuxari/governance/ratelimit"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/ledger"
	"golang.org/x/time/rate"
)

// Config configures a Service. Zero values are working defaults.
type Config struct {
	// SignupDisabled turns off self-service CreateOrg.
	SignupDisabled bool
	// SessionTTL is how long a login session lasts (default 12 h).
	SessionTTL time.Duration
	// DefaultRetention is a new org's retention window (default 7 years);
	// MinRetention and MaxRetention bound what an owner may set (defaults
	// 1 year and 100 years).
	DefaultRetention, MinRetention, MaxRetention time.Duration
	// LoginRate and LoginBurst are the login budgets per account and
	// source, and per source across accounts, spent by failed attempts
	// (default 1 per 6 s, burst 10); past LoginBurst recent failures on an
	// account from any sources, its attempts are delayed, up to
	// LoginDelayMax (default 4 s). rate.Inf turns login throttling off.
	// The policy is in throttle.go.
	LoginRate     rate.Limit
	LoginBurst    int
	LoginDelayMax time.Duration
	// SignupRate and SignupBurst limit self-service sign-ups per source
	// (default 1 per minute, burst 5); SignupGlobalRate and
	// SignupGlobalBurst limit them across all sources (default 1 per
	// second, burst 30). rate.Inf turns a limit off.
	SignupRate        rate.Limit
	SignupBurst       int
	SignupGlobalRate  rate.Limit
	SignupGlobalBurst int
	// LimiterKeys bounds the keys (sources, accounts) each limit holds
	// (default 100,000, about 200 bytes each).
	LimiterKeys int
	// PasswordParams are the argon2id parameters of new hashes (default
	// password.DefaultParams).
	PasswordParams *password.Params
	// PasswordMemoryBudget bounds, in bytes, the Argon2id memory of the
	// password hashes and verifications running at once (default 256 MiB:
	// four of password.DefaultParams; one runs whatever the budget).
	PasswordMemoryBudget int64
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// Sleep waits d, or until ctx ends, returning its error (default a
	// timer); the login delay waits with it.
	Sleep func(ctx context.Context, d time.Duration) error
	// Evidence configures evidence packages (none: exports are refused).
	Evidence EvidenceConfig
	// Logger (default: discard).
	Logger *slog.Logger
	// SweepInterval is how often expired sessions and tokens are deleted
	// (default 1 h; negative: never).
	SweepInterval time.Duration
	// CommitHook, if set, is called before every commit of an
	// authenticated caller's action, with the event types it commits.
	// Tests use it to order a concurrent change before the commit
	// deterministically; production leaves it nil.
	CommitHook func(ctx context.Context, org string, types []string)
	// ExportWorkers is how many evidence exports run at once across all
	// orgs (default 2); ExportsPerOrg caps one org's exports queued or
	// running (default 4): more are refused with ErrRateLimited before
	// anything is recorded. Orgs share the workers fairly (the job
	// runner, package jobs).
	ExportWorkers, ExportsPerOrg int
	// ListEventsMaxBytes bounds a ListEvents page by the sum of its
	// leaves' sizes (default 4 MiB); a page holds at least one event.
	ListEventsMaxBytes int
	// OrgConcurrentReads and OrgConcurrentAppends bound how many
	// ListEvents and AppendEvents calls of one org run at once (defaults
	// 4 and 8); more of that org's calls wait their turn.
	OrgConcurrentReads, OrgConcurrentAppends int
	// OnExportStart, when set, is called as each export is about to
	// start running, before it reads the log (a hook for tests that hold
	// an export).
	OnExportStart func(org, exportID string)
}

func (c *Config) setDefaults() {
	if c.SessionTTL <= 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.DefaultRetention <= 0 {
		c.DefaultRetention = ledger.DefaultRetention
	}
	if c.MinRetention <= 0 {
		c.MinRetention = 365 * 24 * time.Hour
	}
	if c.MaxRetention <= 0 {
		c.MaxRetention = 100 * 365 * 24 * time.Hour
	}
	if c.LoginRate <= 0 {
		c.LoginRate = rate.Every(6 * time.Second)
	}
	if c.LoginBurst <= 0 {
		c.LoginBurst = 10
	}
	if c.LoginDelayMax <= 0 {
		c.LoginDelayMax = 4 * time.Second
	}
	if c.SignupRate <= 0 {
		c.SignupRate = rate.Every(time.Minute)
	}
	if c.SignupBurst <= 0 {
		c.SignupBurst = 5
	}
	if c.SignupGlobalRate <= 0 {
		c.SignupGlobalRate = rate.Every(time.Second)
	}
	if c.SignupGlobalBurst <= 0 {
		c.SignupGlobalBurst = 30
	}
	if c.LimiterKeys <= 0 {
		c.LimiterKeys = 100_000
	}
	if c.PasswordMemoryBudget <= 0 {
		c.PasswordMemoryBudget = password.DefaultMemoryBudget
	}
	if c.Sleep == nil {
		c.Sleep = sleep
	}
	if c.PasswordParams == nil {
		p := password.DefaultParams
		c.PasswordParams = &p
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = time.Hour
	}
	c.setFairDefaults()
}

// Service is the governance domain over one store.
type Service struct {
	cfg         Config
	store       *store.Store
	throttle    *throttle
	loginSource *ratelimit.Limiter // throttle's, shared with agent enrolment
	// runner runs background jobs: evidence exports.
	runner *jobs.Runner
	// evidence is the evidence configuration, with its defaults (nil:
	// exports are refused).
	evidence *EvidenceConfig
	agents   *agentHub
	reads    *orgLimiter
	appends  *orgLimiter
	// bg runs the background loops that sweepStop stops.
	bg        sync.WaitGroup
	sweepStop context.CancelFunc
}

// New returns a Service that keeps its state in l. Close stops its
// background work; RecoverJobs, before serving, recovers the jobs a
// stopped server left.
func New(l *ledger.Ledger, cfg Config) *Service {
	cfg.setDefaults()
	t := newThrottle(&cfg)
	s := &Service{
		cfg:         cfg,
		store:       store.New(l),
		throttle:    t,
		loginSource: t.loginSource,
		agents:      newAgentHub(),
		reads:       newOrgLimiter(cfg.OrgConcurrentReads),
		appends:     newOrgLimiter(cfg.OrgConcurrentAppends),
	}
	s.runner = jobs.New(s.store, jobs.Config{
		Workers: cfg.ExportWorkers, PerOrg: cfg.ExportsPerOrg, Clock: cfg.Clock, Logger: cfg.Logger,
		BeforeStart: func(org, kind, id string) {
			if kind == exportKind && cfg.OnExportStart != nil {
				cfg.OnExportStart(org, id)
			}
		},
	})
	s.startExports()
	s.startSweeper()
	return s
}

// SignupEnabled reports whether self-service CreateOrg is on.
func (s *Service) SignupEnabled() bool { return !s.cfg.SignupDisabled }

// VerifierKey returns the note verifier key of every org's checkpoints.
func (s *Service) VerifierKey() string { return s.store.VerifierKey() }
