package orgs

import (
	"context"
	"encoding/hex"
	"time"

	ec "github.com/nuxari/nuxari/internal/eventcatalog"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/governance/token"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/ledger"
)

// Password setup tokens: a member an owner adds sets their own password
// with a one-time token, so that the log's actor for every later action is
// the person, never someone who once knew their password.
const (
	DefaultSetupTTL = 72 * time.Hour
	MinSetupTTL     = 10 * time.Minute
	MaxSetupTTL     = 30 * 24 * time.Hour
)

// PasswordSetup is a one-time token with which a member sets their
// password. The token is shown only once.
type PasswordSetup struct {
	Token   secret.String
	Expires time.Time
}

type setupRecord struct {
	UserID    string    `json:"user_id"`
	CreatedBy string    `json:"created_by"`
	Expires   time.Time `json:"expires"`
}

func setupTTL(ttl time.Duration) (time.Duration, error) {
	if ttl == 0 {
		return DefaultSetupTTL, nil
	}
	if ttl < MinSetupTTL || ttl > MaxSetupTTL {
		return 0, core.Invalid("setup_ttl must be between %s and %s", MinSetupTTL, MaxSetupTTL)
	}
	return ttl, nil
}

// newSetup makes a setup token for u, records its hash in u, and adds to
// c its record and the deletion of u's earlier one.
func (s *Service) newSetup(org string, u *User, by string, ttl time.Duration, c *store.Change) (PasswordSetup, error) {
	tok, hash, err := token.New(token.Setup, org)
	if err != nil {
		return PasswordSetup{}, err
	}
	h := hex.EncodeToString(hash[:])
	if u.Setup != "" {
		c.Delete = append(c.Delete, prefixSetup+u.Setup)
	}
	exp := s.env.Now().Add(ttl)
	u.Setup = h
	c.Require[prefixSetup+h] = nil
	c.Put[prefixSetup+h] = setupRecord{UserID: u.ID, CreatedBy: by, Expires: exp}
	return PasswordSetup{Token: secret.New(tok), Expires: exp}, nil
}

// IssuePasswordSetup gives a member a new setup token, replacing any
// earlier one ("member.password_setup_issued"). Their current password
// keeps working until they set a new one.
func (s *Service) IssuePasswordSetup(ctx context.Context, p *core.Principal, userID string, ttl time.Duration) (PasswordSetup, error) {
	if err := core.ValidateID("user_id", userID); err != nil {
		return PasswordSetup{}, err
	}
	ttl, err := setupTTL(ttl)
	if err != nil {
		return PasswordSetup{}, err
	}
	if userID == p.UserID {
		return PasswordSetup{}, errs.New(errs.Permission, "change your own password with ChangePassword")
	}
	o := s.env.OrgOf(p)
	u, raw, err := LoadUser(ctx, o, userID)
	if err != nil {
		return PasswordSetup{}, err
	}
	if u.Role == rbac.Owner && !rbac.Allows(p.Role, rbac.RolesManage) {
		return PasswordSetup{}, errs.New(errs.Permission, "only owners may reset an owner's password")
	}
	c := store.Change{Require: map[string][]byte{prefixUser + u.ID: raw}, Put: map[string]any{}}
	ps, err := s.newSetup(p.Org, &u, p.Actor(), ttl, &c)
	if err != nil {
		return PasswordSetup{}, err
	}
	c.Event = core.NewEvent(ctx, ec.MemberPasswordSetupIssued, p.Actor(), u.ID, map[string]any{"expires": ps.Expires})
	c.Put[prefixUser+u.ID] = u
	if _, err := o.Commit(ctx, ledger.AckDurable, c); err != nil {
		return PasswordSetup{}, core.Conflict(err)
	}
	return ps, nil
}

var errBadSetup = errs.New(errs.Unauthenticated, "setup token is invalid, used or expired; ask an owner for a new one")

// SetPassword sets a member's password with a setup token
// ("member.password_set", the member as actor). The token is used up and
// every session of the member ends. Everything cheap (the token's form,
// the password's rules, the lookup) is checked before the password is
// hashed.
func (s *Service) SetPassword(ctx context.Context, setup, pw secret.String) (orgID, email string, err error) {
	// Guesses of setup tokens spend the source's budget; a success gives
	// its attempt back.
	if !s.throttle.AllowGuess(ctx, "setup") {
		return "", "", errs.New(errs.RateLimited, "too many attempts from this address; wait and retry")
	}
	kind, orgID, hash, perr := token.Parse(setup.Reveal())
	if perr != nil || kind != token.Setup {
		return "", "", errBadSetup
	}
	if err := core.ValidatePassword("new_password", pw); err != nil {
		return "", "", err
	}
	o, err := s.env.Store.Org(orgID)
	if err != nil {
		return "", "", errBadSetup
	}
	h := hex.EncodeToString(hash[:])
	var sr setupRecord
	sraw, err := o.GetJSON(ctx, prefixSetup+h, &sr)
	if err != nil {
		return "", "", core.NotFoundAs(err, errBadSetup)
	}
	if !s.env.Clock().Before(sr.Expires) {
		return "", "", errBadSetup
	}
	u, uraw, err := LoadUser(ctx, o, sr.UserID)
	if err != nil || u.Setup != h {
		return "", "", core.NotFoundAs(err, errBadSetup)
	}
	if u.PasswordHash, err = s.throttle.HashNew(ctx, "new_password", pw); err != nil {
		return "", "", err
	}
	u.Setup = ""
	c := store.Change{
		Require: map[string][]byte{prefixSetup + h: sraw, prefixUser + u.ID: uraw},
		Put:     map[string]any{},
		Delete:  []string{prefixSetup + h},
	}
	u.SessionEpoch++
	n, err := s.creds.EndSessions(ctx, o, u.ID, u.SessionEpoch, "", &c)
	if err != nil {
		return "", "", err
	}
	c.Event = core.NewEvent(ctx, ec.MemberPasswordSet, u.ID, u.ID, map[string]any{"via": "setup_token", "sessions_ended": n})
	c.Put[prefixUser+u.ID] = u
	if _, err := o.Commit(ctx, ledger.AckDurable, c); err != nil {
		return "", "", core.NotFoundAs(core.Conflict(err), errBadSetup)
	}
	s.throttle.RefundGuess(ctx, "setup")
	return orgID, u.Email, nil
}

// ChangePassword changes the principal's own password
// ("auth.password_changed") and ends every other session of theirs. It
// needs a login session (not an API token) and the current password;
// wrong guesses count against the login limits.
func (s *Service) ChangePassword(ctx context.Context, p *core.Principal, current, next secret.String) (int, error) {
	if p.SessionKey() == "" {
		return 0, errs.New(errs.Precondition, "an API token has no password; log in to change yours")
	}
	if current.IsZero() {
		return 0, core.Invalid("current_password is required")
	}
	if err := core.ValidatePassword("new_password", next); err != nil {
		return 0, err
	}
	// A stolen session must not become a password oracle: guesses of the
	// current password count as login attempts.
	attempt, err := s.throttle.AdmitLogin(ctx, p.Org, p.Email)
	if err != nil {
		return 0, err
	}
	o := s.env.OrgOf(p)
	u, raw, err := LoadUser(ctx, o, p.UserID)
	if err != nil {
		return 0, core.NotFoundAs(err, core.ErrCredentialChanged)
	}
	ok, err := s.throttle.Verify(ctx, current, u.PasswordHash)
	if err != nil {
		return 0, err
	}
	if !ok {
		if _, err := o.Commit(ctx, ledger.AckDurable, store.Change{
			Event: core.NewEvent(ctx, ec.AuthPasswordChangeFailed, p.Actor(), u.ID, map[string]any{"reason": "wrong_password"}),
		}); err != nil {
			return 0, core.Conflict(err)
		}
		return 0, errs.New(errs.Permission, "current_password is wrong")
	}
	attempt.Succeeded()
	if u.PasswordHash, err = s.throttle.HashNew(ctx, "new_password", next); err != nil {
		return 0, err
	}
	c := store.Change{Require: map[string][]byte{prefixUser + u.ID: raw}, Put: map[string]any{}}
	if u.Setup != "" {
		c.Delete = append(c.Delete, prefixSetup+u.Setup)
		u.Setup = ""
	}
	u.SessionEpoch++
	n, err := s.creds.EndSessions(ctx, o, u.ID, u.SessionEpoch, p.SessionKey(), &c)
	if err != nil {
		return 0, err
	}
	c.Event = core.NewEvent(ctx, ec.AuthPasswordChanged, p.Actor(), u.ID, map[string]any{"sessions_ended": n})
	c.Put[prefixUser+u.ID] = u
	if _, err := o.Commit(ctx, ledger.AckDurable, c); err != nil {
		return 0, core.Conflict(err)
	}
	return n, nil
}

// EndMemberSessions ends every session of a member and, if tokens is set,
// revokes every API token they made ("member.sessions_ended").
func (s *Service) EndMemberSessions(ctx context.Context, p *core.Principal, userID string, tokens bool) (sessions, revoked int, err error) {
	if err := core.ValidateID("user_id", userID); err != nil {
		return 0, 0, err
	}
	o := s.env.OrgOf(p)
	u, raw, err := LoadUser(ctx, o, userID)
	if err != nil {
		return 0, 0, err
	}
	if u.Role == rbac.Owner && u.ID != p.UserID && !rbac.Allows(p.Role, rbac.RolesManage) {
		return 0, 0, errs.New(errs.Permission, "only owners may end an owner's sessions")
	}
	c := store.Change{Require: map[string][]byte{prefixUser + u.ID: raw}, Put: map[string]any{}}
	u.SessionEpoch++
	if sessions, err = s.creds.EndSessions(ctx, o, u.ID, u.SessionEpoch, "", &c); err != nil {
		return 0, 0, err
	}
	data := map[string]any{"sessions_ended": sessions}
	if tokens {
		ids, err := s.creds.RevokeTokens(ctx, o, u.ID, func(rbac.Role) bool { return true }, &c)
		if err != nil {
			return 0, 0, err
		}
		revoked, data["api_tokens_revoked"] = len(ids), ids
	}
	c.Event = core.NewEvent(ctx, ec.MemberSessionsEnded, p.Actor(), u.ID, data)
	c.Put[prefixUser+u.ID] = u
	if _, err := o.Commit(ctx, ledger.AckDurable, c); err != nil {
		return 0, 0, core.Conflict(err)
	}
	return sessions, revoked, nil
}
