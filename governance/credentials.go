package governance

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"time"

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
		return 0, invalid("setup_ttl must be between %s and %s", MinSetupTTL, MaxSetupTTL)
	}
	return ttl, nil
}

// newSetup makes a setup token for u, records its hash in u, and adds to
// c its record and the deletion of u's earlier one.
func (s *Service) newSetup(org string, u *userRecord, by string, ttl time.Duration, c *store.Change) (PasswordSetup, error) {
	tok, hash, err := token.New(token.Setup, org)
	if err != nil {
		return PasswordSetup{}, err
	}
	h := hex.EncodeToString(hash[:])
	if u.Setup != "" {
		c.Delete = append(c.Delete, prefixSetup+u.Setup)
	}
	exp := s.cfg.Clock().UTC().Add(ttl)
	u.Setup = h
	c.Require[prefixSetup+h] = nil
	c.Put[prefixSetup+h] = setupRecord{UserID: u.ID, CreatedBy: by, Expires: exp}
	return PasswordSetup{Token: secret.New(tok), Expires: exp}, nil
}

// IssuePasswordSetup gives a member a new setup token, replacing any
// earlier one ("member.password_setup_issued"). Their current password
// keeps working until they set a new one.
func (s *Service) IssuePasswordSetup(ctx context.Context, p *Principal, userID string, ttl time.Duration) (PasswordSetup, error) {
	if err := validateID("user_id", userID); err != nil {
		return PasswordSetup{}, err
	}
	ttl, err := setupTTL(ttl)
	if err != nil {
		return PasswordSetup{}, err
	}
	if userID == p.UserID {
		return PasswordSetup{}, errorf(ErrPermission, "change your own password with ChangePassword")
	}
	o := s.orgOf(p)
	u, raw, err := s.user(ctx, o, userID)
	if err != nil {
		return PasswordSetup{}, err
	}
	if u.Role == rbac.Owner && !rbac.Allows(p.Role, rbac.RolesManage) {
		return PasswordSetup{}, errorf(ErrPermission, "only owners may reset an owner's password")
	}
	c := store.Change{Require: map[string][]byte{prefixUser + u.ID: raw}, Put: map[string]any{}}
	ps, err := s.newSetup(p.Org, &u, p.Actor(), ttl, &c)
	if err != nil {
		return PasswordSetup{}, err
	}
	c.Event = newEvent(ctx, ec.MemberPasswordSetupIssued, p.Actor(), u.ID, map[string]any{"expires": ps.Expires})
	c.Put[prefixUser+u.ID] = u
	if _, err := o.Commit(ctx, ledger.AckDurable, c); err != nil {
		return PasswordSetup{}, conflict(err)
	}
	return ps, nil
}

var errBadSetup = errorf(ErrUnauthenticated, "setup token is invalid, used or expired; ask an owner for a new one")

// SetPassword sets a member's password with a setup token
// ("member.password_set", the member as actor). The token is used up and
// every session of the member ends. Everything cheap (the token's form,
// the password's rules, the lookup) is checked before the password is
// hashed.
func (s *Service) SetPassword(ctx context.Context, setup, pw secret.String) (orgID, email string, err error) {
	// Guesses of setup tokens spend the source's budget; a success gives
	// its attempt back.
	srcKey := "setup\x00" + sourceKey(RequestInfoFrom(ctx).Source)
	if !s.loginSource.AllowAt(srcKey, s.throttle.now()) {
		return "", "", errorf(ErrRateLimited, "too many attempts from this address; wait and retry")
	}
	kind, orgID, hash, perr := token.Parse(setup.Reveal())
	if perr != nil || kind != token.Setup {
		return "", "", errBadSetup
	}
	if err := validatePassword("new_password", pw); err != nil {
		return "", "", err
	}
	o, err := s.store.Org(orgID)
	if err != nil {
		return "", "", errBadSetup
	}
	h := hex.EncodeToString(hash[:])
	var sr setupRecord
	sraw, err := o.GetJSON(ctx, prefixSetup+h, &sr)
	if err != nil {
		return "", "", notFoundAs(err, errBadSetup)
	}
	if !s.cfg.Clock().Before(sr.Expires) {
		return "", "", errBadSetup
	}
	u, uraw, err := s.user(ctx, o, sr.UserID)
	if err != nil || u.Setup != h {
		return "", "", notFoundAs(err, errBadSetup)
	}
	if u.PasswordHash, err = s.hashPassword(ctx, "new_password", pw); err != nil {
		return "", "", err
	}
	u.Setup = ""
	c := store.Change{
		Require: map[string][]byte{prefixSetup + h: sraw, prefixUser + u.ID: uraw},
		Put:     map[string]any{},
		Delete:  []string{prefixSetup + h},
	}
	n, err := s.endSessions(ctx, o, &u, "", &c)
	if err != nil {
		return "", "", err
	}
	c.Event = newEvent(ctx, ec.MemberPasswordSet, u.ID, u.ID, map[string]any{"via": "setup_token", "sessions_ended": n})
	c.Put[prefixUser+u.ID] = u
	if _, err := o.Commit(ctx, ledger.AckDurable, c); err != nil {
		return "", "", notFoundAs(conflict(err), errBadSetup)
	}
	s.loginSource.RefundAt(srcKey, s.throttle.now())
	return orgID, u.Email, nil
}

// ChangePassword changes the principal's own password
// ("auth.password_changed") and ends every other session of theirs. It
// needs a login session (not an API token) and the current password;
// wrong guesses count against the login limits.
func (s *Service) ChangePassword(ctx context.Context, p *Principal, current, next secret.String) (int, error) {
	if p.sessionKey == "" {
		return 0, errorf(ErrPrecondition, "an API token has no password; log in to change yours")
	}
	if current.IsZero() {
		return 0, invalid("current_password is required")
	}
	if err := validatePassword("new_password", next); err != nil {
		return 0, err
	}
	// A stolen session must not become a password oracle: guesses of the
	// current password count as login attempts.
	attempt, err := s.throttle.admitLogin(ctx, p.Org, p.Email)
	if err != nil {
		return 0, err
	}
	o := s.orgOf(p)
	u, raw, err := s.user(ctx, o, p.UserID)
	if err != nil {
		return 0, notFoundAs(err, errCredentialChanged)
	}
	ok, err := s.throttle.verify(ctx, current, u.PasswordHash)
	if err != nil {
		return 0, err
	}
	if !ok {
		if _, err := o.Commit(ctx, ledger.AckDurable, store.Change{
			Event: newEvent(ctx, ec.AuthPasswordChangeFailed, p.Actor(), u.ID, map[string]any{"reason": "wrong_password"}),
		}); err != nil {
			return 0, conflict(err)
		}
		return 0, errorf(ErrPermission, "current_password is wrong")
	}
	attempt.succeeded()
	if u.PasswordHash, err = s.hashPassword(ctx, "new_password", next); err != nil {
		return 0, err
	}
	c := store.Change{Require: map[string][]byte{prefixUser + u.ID: raw}, Put: map[string]any{}}
	if u.Setup != "" {
		c.Delete = append(c.Delete, prefixSetup+u.Setup)
		u.Setup = ""
	}
	n, err := s.endSessions(ctx, o, &u, p.sessionKey, &c)
	if err != nil {
		return 0, err
	}
	c.Event = newEvent(ctx, ec.AuthPasswordChanged, p.Actor(), u.ID, map[string]any{"sessions_ended": n})
	c.Put[prefixUser+u.ID] = u
	if _, err := o.Commit(ctx, ledger.AckDurable, c); err != nil {
		return 0, conflict(err)
	}
	return n, nil
}

// EndMemberSessions ends every session of a member and, if tokens is set,
// revokes every API token they made ("member.sessions_ended").
func (s *Service) EndMemberSessions(ctx context.Context, p *Principal, userID string, tokens bool) (sessions, revoked int, err error) {
	if err := validateID("user_id", userID); err != nil {
		return 0, 0, err
	}
	o := s.orgOf(p)
	u, raw, err := s.user(ctx, o, userID)
	if err != nil {
		return 0, 0, err
	}
	if u.Role == rbac.Owner && u.ID != p.UserID && !rbac.Allows(p.Role, rbac.RolesManage) {
		return 0, 0, errorf(ErrPermission, "only owners may end an owner's sessions")
	}
	c := store.Change{Require: map[string][]byte{prefixUser + u.ID: raw}, Put: map[string]any{}}
	if sessions, err = s.endSessions(ctx, o, &u, "", &c); err != nil {
		return 0, 0, err
	}
	data := map[string]any{"sessions_ended": sessions}
	if tokens {
		ids, err := s.revokeTokens(ctx, o, u.ID, func(rbac.Role) bool { return true }, &c)
		if err != nil {
			return 0, 0, err
		}
		revoked, data["api_tokens_revoked"] = len(ids), ids
	}
	c.Event = newEvent(ctx, ec.MemberSessionsEnded, p.Actor(), u.ID, data)
	c.Put[prefixUser+u.ID] = u
	if _, err := o.Commit(ctx, ledger.AckDurable, c); err != nil {
		return 0, 0, conflict(err)
	}
	return sessions, revoked, nil
}

// endSessions adds to c the deletion of every session of u but keep (a
// session key, or ""), and moves u to a new session epoch, so that a
// session a concurrent login begins in the old one is refused too; the
// caller puts u. It returns how many sessions end.
func (s *Service) endSessions(ctx context.Context, o store.Org, u *userRecord, keep string, c *store.Change) (int, error) {
	u.SessionEpoch++
	n := 0
	err := o.Scan(ctx, prefixSess, "", func(k string, v []byte) bool {
		var sr sessionRecord
		if k == keep || json.Unmarshal(v, &sr) != nil || sr.UserID != u.ID {
			return true
		}
		c.Delete = append(c.Delete, k)
		n++
		return true
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	if keep != "" {
		// The session kept moves to the new epoch.
		var sr sessionRecord
		raw, err := o.GetJSON(ctx, keep, &sr)
		if err != nil {
			return 0, notFoundAs(err, errCredentialChanged)
		}
		c.Require[keep] = raw
		sr.Epoch = u.SessionEpoch
		c.Put[keep] = sr
	}
	return n, nil
}

// revokeTokens adds to c the revocation of every API token made by user
// whose role drop says goes, and returns their IDs.
func (s *Service) revokeTokens(ctx context.Context, o store.Org, user string, drop func(rbac.Role) bool, c *store.Change) ([]string, error) {
	ids := []string{}
	err := o.Scan(ctx, prefixToken, "", func(k string, v []byte) bool {
		var t apiTokenRecord
		if json.Unmarshal(v, &t) != nil || t.CreatedBy != user || !drop(t.Role) {
			return true
		}
		c.Delete = append(c.Delete, k, prefixTokenH+t.Hash)
		ids = append(ids, t.ID)
		return true
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return ids, nil
}
