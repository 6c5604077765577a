// Package governance is the domain: orgs, people, roles, sessions, API
// tokens and the org's audit log. It validates commands, builds their
// events and commits each event with its state change through an org-scoped
// store handle, so no state exists without its audit event (DESIGN.md,
// "Events first"). It imports no proto and no transport.
package governance

import (
	"errors"
	"log/slog"
	"time"

	"github.com/nuxari/nuxari/governance/password"
	"github.com/nuxari/nuxari/governance/ratelimit"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/ledger"
	"golang.org/x/time/rate"
)

// Errors returned by the service; each wraps a message for the caller.
// Messages never carry a secret or another org's data.
var (
	ErrInvalidArgument = errors.New("invalid argument")
	ErrNotFound        = errors.New("not found")
	ErrAlreadyExists   = errors.New("already exists")
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrPermission      = errors.New("permission denied")
	ErrPrecondition    = errors.New("failed precondition")
	ErrConflict        = errors.New("state changed concurrently; retry")
	ErrRateLimited     = errors.New("too many attempts; wait and retry")
	ErrDisabled        = errors.New("disabled by the operator")
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
	// LoginRate and LoginBurst bound login attempts per account and per
	// source address (default 1 per 6 s, burst 10).
	LoginRate  rate.Limit
	LoginBurst int
	// PasswordParams are the argon2id parameters of new hashes (default
	// password.DefaultParams).
	PasswordParams *password.Params
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// Evidence configures evidence packages (none: exports are refused).
	Evidence EvidenceConfig
	// Logger (default: discard).
	Logger *slog.Logger
	// ExportWorkers is how many evidence exports run at once across all
	// orgs (default 2); ExportsPerOrg caps one org's exports queued or
	// running (default 4): more are refused with ErrRateLimited before
	// anything is recorded. Orgs share the workers fairly (fairQueue).
	ExportWorkers, ExportsPerOrg int
	// ListEventsMaxBytes bounds a ListEvents page by the sum of its
	// leaves' sizes (default 4 MiB); a page holds at least one event.
	ListEventsMaxBytes int
	// OrgConcurrentReads and OrgConcurrentAppends bound how many
	// ListEvents and AppendEvents calls of one org run at once (defaults
	// 4 and 8); more of that org's calls wait their turn.
	OrgConcurrentReads, OrgConcurrentAppends int
	// OnExportStart, when set, is called as each export starts running,
	// before it reads the log (a hook for tests that hold an export).
	OnExportStart func(org, exportID string)
}

func (c *Config) setDefaults() {
	if c.SessionTTL <= 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.DefaultRetention <= 0 {
		c.DefaultRetention = 7 * 365 * 24 * time.Hour
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
	c.setFairDefaults()
}

// Service is the governance domain over one store.
type Service struct {
	cfg          Config
	store        *store.Store
	ledger       *ledger.Ledger
	loginAccount *ratelimit.Limiter
	loginSource  *ratelimit.Limiter
	exports      *exporter
	agents       *agentHub
	reads        *orgLimiter
	appends      *orgLimiter
}

// New returns a Service that keeps its state in l. Close stops its
// background work.
func New(l *ledger.Ledger, cfg Config) *Service {
	cfg.setDefaults()
	s := &Service{
		cfg:          cfg,
		store:        store.New(l),
		ledger:       l,
		loginAccount: ratelimit.New(cfg.LoginRate, cfg.LoginBurst, 100_000),
		loginSource:  ratelimit.New(cfg.LoginRate, cfg.LoginBurst, 100_000),
		agents:       newAgentHub(),
		reads:        newOrgLimiter(cfg.OrgConcurrentReads),
		appends:      newOrgLimiter(cfg.OrgConcurrentAppends),
	}
	s.startExporter()
	return s
}

// SignupEnabled reports whether self-service CreateOrg is on.
func (s *Service) SignupEnabled() bool { return !s.cfg.SignupDisabled }

// VerifierKey returns the note verifier key of every org's checkpoints.
func (s *Service) VerifierKey() string { return s.ledger.VerifierKey() }
