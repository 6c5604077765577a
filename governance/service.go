// Package governance wires the governance domain together: it builds the
// core's environment (package core) over the org-scoped store, the shared
// throttle and job runner, and one service per feature (orgs and people,
// sessions and tokens, the log API, evidence export, agents), each in a
// package of its own. It authenticates bearer tokens by handing each kind
// to the feature that owns it, and sweeps expired credentials. It imports
// no proto and no transport; the API layer (package api) maps protos to
// the features' services.
package governance

import (
	"context"
	"encoding/hex"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/nuxari/nuxari/governance/access"
	"github.com/nuxari/nuxari/governance/agents"
	"github.com/nuxari/nuxari/governance/connectors"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/evidence"
	"github.com/nuxari/nuxari/governance/jobs"
	"github.com/nuxari/nuxari/governance/logapi"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/password"
	"github.com/nuxari/nuxari/governance/sessions"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/governance/throttle"
	"github.com/nuxari/nuxari/governance/token"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/ledger"
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
	// The policy is in package throttle.
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
	// Evidence configures evidence packages (no Store: exports are
	// refused).
	Evidence evidence.Config
	// Connectors configures connectors: the key-encryption key that seals
	// each org's keyring and the kinds offered (without a KEK, connectors
	// are refused).
	Connectors connectors.Config
	// Access configures access governance.
	Access access.Config
	// ScheduleInterval is how often connectors due a scheduled sync,
	// and requests and access grants past their expiry, are looked for
	// (default 1 min; negative: never).
	ScheduleInterval time.Duration
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

// Defaults of the job runner's limits in Config.
const (
	DefaultExportWorkers = jobs.DefaultWorkers
	DefaultExportsPerOrg = jobs.DefaultPerOrg
)

func (c *Config) setDefaults() {
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
	if c.ScheduleInterval == 0 {
		c.ScheduleInterval = time.Minute
	}
	if c.ExportWorkers <= 0 {
		c.ExportWorkers = DefaultExportWorkers
	}
	if c.ExportsPerOrg <= 0 {
		c.ExportsPerOrg = DefaultExportsPerOrg
	}
}

// Service is the governance domain over one store: one service per
// feature, and what they share.
type Service struct {
	// The features. Evidence is nil when no package store is
	// configured; its methods then refuse.
	Orgs       *orgs.Service
	Sessions   *sessions.Service
	Log        *logapi.Service
	Evidence   *evidence.Service
	Agents     *agents.Service
	Connectors *connectors.Service
	Access     *access.Service

	cfg      Config
	env      *core.Env
	throttle *throttle.Throttle
	// runner runs background jobs: evidence exports, connector syncs,
	// reseals.
	runner *jobs.Runner
	// bg runs the background loops that bgStop stops.
	bg     sync.WaitGroup
	bgStop context.CancelFunc
}

// New returns a Service that keeps its state in l. Close stops its
// background work; RecoverJobs, before serving, recovers the jobs a
// stopped server left.
func New(l *ledger.Ledger, cfg Config) (*Service, error) {
	cfg.setDefaults()
	env := core.NewEnv(store.New(l), cfg.Clock, cfg.Logger, cfg.CommitHook)
	t := throttle.New(throttle.Config{
		Clock: cfg.Clock, Sleep: cfg.Sleep, PasswordParams: *cfg.PasswordParams, PasswordMemoryBudget: cfg.PasswordMemoryBudget,
		LoginRate: cfg.LoginRate, LoginBurst: cfg.LoginBurst, LoginDelayMax: cfg.LoginDelayMax,
		SignupRate: cfg.SignupRate, SignupBurst: cfg.SignupBurst, SignupGlobalRate: cfg.SignupGlobalRate, SignupGlobalBurst: cfg.SignupGlobalBurst,
		LimiterKeys: cfg.LimiterKeys,
	})
	sess := sessions.New(env, sessions.Config{SessionTTL: cfg.SessionTTL}, t)
	s := &Service{
		Orgs: orgs.New(env, orgs.Config{
			SignupDisabled: cfg.SignupDisabled, DefaultRetention: cfg.DefaultRetention,
			MinRetention: cfg.MinRetention, MaxRetention: cfg.MaxRetention,
		}, t, sess),
		Sessions: sess,
		Log: logapi.New(env, logapi.Config{
			ListEventsMaxBytes: cfg.ListEventsMaxBytes,
			OrgConcurrentReads: cfg.OrgConcurrentReads, OrgConcurrentAppends: cfg.OrgConcurrentAppends,
		}),
		Agents:   agents.New(env, t),
		cfg:      cfg,
		env:      env,
		throttle: t,
	}
	s.runner = jobs.New(env.Store, jobs.Config{
		Workers: cfg.ExportWorkers, PerOrg: cfg.ExportsPerOrg, Clock: cfg.Clock, Logger: cfg.Logger,
		BeforeStart: func(org, kind, id string) {
			if kind == evidence.JobKind && cfg.OnExportStart != nil {
				cfg.OnExportStart(org, id)
			}
		},
	})
	if cfg.Evidence.Store != nil {
		ec := cfg.Evidence
		ec.PerOrg = cfg.ExportsPerOrg
		ev, err := evidence.New(env, ec, s.runner)
		if err != nil {
			s.runner.Close()
			return nil, err
		}
		s.Evidence = ev
	}
	cs, err := connectors.New(env, cfg.Connectors, s.runner)
	if err != nil {
		s.runner.Close()
		return nil, err
	}
	s.Connectors = cs
	if s.Access, err = access.New(env, cfg.Access, s.runner, cs); err != nil {
		s.runner.Close()
		return nil, err
	}
	s.startBackground()
	return s, nil
}

// RecoverJobs, at start, fails the exports an earlier version left
// running, ends the credential rotations a stopped server left
// (connectors.Service.Recover), then recovers the job runner's jobs: a
// job interrupted by a restart resumes or is recorded failed with its
// event, as its kind says (jobs.Runner.Recover).
func (s *Service) RecoverJobs(ctx context.Context) error {
	if s.Evidence != nil {
		if err := s.Evidence.RecoverLegacy(ctx); err != nil {
			return err
		}
	}
	if err := s.Connectors.Recover(ctx); err != nil {
		return err
	}
	return s.runner.Recover(ctx)
}

// Close stops the sweeper and the job runner; a running job stays
// recorded running, and the next start's RecoverJobs handles it.
func (s *Service) Close() {
	if s.bgStop != nil {
		s.bgStop()
	}
	s.bg.Wait()
	s.runner.Close()
	if s.Evidence != nil {
		s.Evidence.Close()
	}
}

// Stats are the domain's counts for metrics; none names an org.
type Stats struct {
	// LoginsFailed counts logins refused for a wrong org, email or
	// password; EvidenceRejected evidence refused for a bad hash or
	// signature.
	LoginsFailed, EvidenceRejected uint64
	// Throttled counts attempts the throttle refused, by kind: "login",
	// "signup", "guess" (setup tokens, enrolment, agent challenges) and
	// "busy" (the password hasher was full).
	Throttled map[string]uint64
	// Jobs are the job runner's jobs, by kind.
	Jobs map[string]jobs.KindStats
}

// Stats returns the domain's counts since it started.
func (s *Service) Stats() Stats {
	return Stats{
		LoginsFailed:     s.env.Counters.LoginsFailed.Load(),
		EvidenceRejected: s.env.Counters.EvidenceRejected.Load(),
		Throttled: map[string]uint64{
			"login": s.throttle.Refused(throttle.RefusedLogin), "signup": s.throttle.Refused(throttle.RefusedSignup),
			"guess": s.throttle.Refused(throttle.RefusedGuess), "busy": s.throttle.Refused(throttle.RefusedBusy),
		},
		Jobs: s.runner.Stats(),
	}
}

// SignupEnabled reports whether self-service CreateOrg is on.
func (s *Service) SignupEnabled() bool { return s.Orgs.SignupEnabled() }

// VerifierKey returns the note verifier key of every org's checkpoints.
func (s *Service) VerifierKey() string { return s.env.Store.VerifierKey() }

// Authenticate returns the principal of a bearer token, handing it to the
// feature that owns its kind: sessions for a login session or an API
// token, agents for an agent's access token. Every failure is the same
// errs.Unauthenticated.
func (s *Service) Authenticate(ctx context.Context, bearer secret.String) (*core.Principal, error) {
	unauth := errs.New(errs.Unauthenticated, "missing, invalid or expired token")
	kind, orgID, hash, err := token.Parse(bearer.Reveal())
	if err != nil {
		return nil, unauth
	}
	o, err := s.env.Store.Org(orgID)
	if err != nil {
		return nil, unauth
	}
	switch kind {
	case token.Session, token.API:
		return s.Sessions.Authenticate(ctx, o, kind, hash, unauth)
	case token.Agent:
		return s.Agents.Authenticate(ctx, o, hex.EncodeToString(hash[:]), unauth)
	}
	return nil, unauth
}
