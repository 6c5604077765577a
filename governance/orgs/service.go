// Package orgs is the orgs-and-people feature of the governance domain:
// sign-up, the org's settings, members and their roles, and passwords
// (setup tokens, changes). It owns the org record, the member records and
// their email index, the owners list and the setup tokens; what ends with
// a member's password or membership (sessions, API tokens) it ends
// through Credentials, in the same batch.
package orgs

import (
	"context"
	"errors"
	"time"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/governance/throttle"
	"github.com/nuxari/nuxari/ledger"
)

// The state keys orgs owns.
const (
	keyOrg      = "org"    // orgRecord
	keyOwners   = "owners" // JSON list of the owners' user IDs (at least one)
	prefixUser  = "user/"  // <user ID>: User
	prefixEmail = "email/" // <email>: user ID (emails are unique per org, lower-cased)
	prefixSetup = "setup/" // <hash>: setupRecord, a member's one-time password setup
)

// StateKeys lists the state keys orgs owns, and the page-token key it
// writes with each new org.
var StateKeys = []core.StateKey{
	{Key: keyOrg, Owner: "orgs"}, {Key: keyOwners, Owner: "orgs"}, {Key: core.KeyPageKey, Owner: "paging"},
	{Key: prefixUser, Owner: "people"}, {Key: prefixEmail, Owner: "people"}, {Key: prefixSetup, Owner: "people"},
}

// Expiring are orgs' records that the sweep deletes once expired.
var Expiring = []core.Expiring{{Prefix: prefixSetup, Name: "setup_tokens"}}

// Config configures the feature; Service.New fills in defaults.
type Config struct {
	// SignupDisabled turns off self-service CreateOrg.
	SignupDisabled bool
	// DefaultRetention is a new org's retention window (default
	// ledger.DefaultRetention); MinRetention and MaxRetention bound what
	// an owner may set (defaults 1 year and 100 years).
	DefaultRetention, MinRetention, MaxRetention time.Duration
}

// Credentials ends a member's credentials in the batch of the change that
// ends them: the sessions feature.
type Credentials interface {
	// EndSessions adds to c the deletion of every session of userID but
	// keep (a session key, or ""), and moves keep to epoch, the member's
	// new session epoch; it returns how many sessions end.
	EndSessions(ctx context.Context, o store.Org, userID string, epoch uint64, keep string, c *store.Change) (int, error)
	// RevokeTokens adds to c the revocation of every API token made by
	// userID whose role drop says goes, and returns their IDs.
	RevokeTokens(ctx context.Context, o store.Org, userID string, drop func(rbac.Role) bool, c *store.Change) ([]string, error)
}

// Service is the orgs-and-people feature.
type Service struct {
	env      *core.Env
	cfg      Config
	throttle *throttle.Throttle
	creds    Credentials
}

// New returns the feature over env, with t's limits on sign-ups and
// password guesses, ending members' credentials through creds.
func New(env *core.Env, cfg Config, t *throttle.Throttle, creds Credentials) *Service {
	if cfg.DefaultRetention <= 0 {
		cfg.DefaultRetention = ledger.DefaultRetention
	}
	if cfg.MinRetention <= 0 {
		cfg.MinRetention = 365 * 24 * time.Hour
	}
	if cfg.MaxRetention <= 0 {
		cfg.MaxRetention = 100 * 365 * 24 * time.Hour
	}
	return &Service{env: env, cfg: cfg, throttle: t, creds: creds}
}

// SignupEnabled reports whether self-service CreateOrg is on.
func (s *Service) SignupEnabled() bool { return !s.cfg.SignupDisabled }

type orgRecord struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"display_name"`
	Created     time.Time `json:"created"`
	// Retention is the window the ledger holds too, set with it in one
	// batch (zero in records written before it was kept here).
	Retention time.Duration `json:"retention,omitempty"`
	// Version counts settings changes, so that every change rewrites the
	// record and a precondition on it orders concurrent changes.
	Version uint64 `json:"version,omitempty"`
}

// User is a member's record.
type User struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	DisplayName string    `json:"display_name"`
	Role        rbac.Role `json:"role"`
	// PasswordHash is empty until the member sets a password.
	PasswordHash string    `json:"password_hash"`
	Created      time.Time `json:"created"`
	// Setup is the hash of the member's unused password setup token.
	Setup string `json:"setup,omitempty"`
	// SessionEpoch counts the times all of the member's sessions were
	// ended; only sessions of the current epoch are valid.
	SessionEpoch uint64 `json:"session_epoch,omitempty"`
}

// Org is an org as the domain shows it.
type Org struct {
	ID          string
	DisplayName string
	Retention   time.Duration
	Created     time.Time
	LogOrigin   string
	VerifierKey string
}

// Member is a person in an org.
type Member struct {
	UserID      string
	Email       string
	DisplayName string
	Role        rbac.Role
	Created     time.Time
}

func (u *User) member() Member {
	return Member{UserID: u.ID, Email: u.Email, DisplayName: u.DisplayName, Role: u.Role, Created: u.Created}
}

// UserKey is the state key of a member's record, for a hold on it.
func UserKey(id string) string { return prefixUser + id }

// LoadUser returns member id's record and its raw bytes (for a
// precondition or hold); errs.NotFound if there is none.
func LoadUser(ctx context.Context, o store.Org, id string) (User, []byte, error) {
	var u User
	raw, err := o.GetJSON(ctx, prefixUser+id, &u)
	if errors.Is(err, store.ErrNotFound) {
		return u, nil, errs.New(errs.NotFound, "member")
	}
	return u, raw, err
}

// UserIDByEmail returns the ID of the member with the (normalized) email;
// store.ErrNotFound if there is none.
func UserIDByEmail(ctx context.Context, o store.Org, email string) (string, error) {
	id, err := o.Get(ctx, prefixEmail+email)
	return string(id), err
}

// Exists reports whether o's org has been created (store.ErrNotFound if
// not).
func Exists(ctx context.Context, o store.Org) error {
	_, err := o.Get(ctx, keyOrg)
	return err
}

// MemberRole returns the role of member userID of org o: what other
// features read of a member (access checks that the approvers and
// reviewers it is given may approve). An unknown member is NotFound.
func MemberRole(ctx context.Context, o store.Org, userID string) (rbac.Role, error) {
	var u User
	if _, err := o.GetJSON(ctx, prefixUser+userID, &u); err != nil {
		return "", core.NotFoundAs(err, errs.New(errs.NotFound, "member %s", userID))
	}
	return u.Role, nil
}
