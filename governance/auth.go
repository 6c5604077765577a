package governance

import (
	"context"
	"encoding/hex"
	"errors"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"time"

	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/governance/token"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/ledger"
)

// API token lifetimes.
const (
	DefaultAPITokenTTL = 90 * 24 * time.Hour
	MaxAPITokenTTL     = 366 * 24 * time.Hour
)

// errBadCredentials is the one answer to every failed login, whatever
// failed, so that a caller learns nothing about which accounts exist.
var errBadCredentials = errorf(ErrUnauthenticated, "wrong org, email or password")

// Login checks an email and password in an org and starts a session
// ("auth.login.succeeded"). A failure in an existing org is audited
// ("auth.login.failed", without the attempted password). Attempts are
// throttled per account and source, per source, and delayed per account,
// as throttle.go says.
func (s *Service) Login(ctx context.Context, orgID, email string, pw secret.String) (secret.String, *Principal, error) {
	if err := validateOrgID(orgID); err != nil {
		return secret.String{}, nil, err
	}
	email, err := normalizeEmail("email", email)
	if err != nil {
		return secret.String{}, nil, err
	}
	if pw.IsZero() {
		return secret.String{}, nil, invalid("password is required")
	}
	src := RequestInfoFrom(ctx).Source
	attempt, err := s.throttle.admitLogin(ctx, orgID, email)
	if err != nil {
		return secret.String{}, nil, err
	}
	o, err := s.store.Org(orgID)
	if err != nil {
		return secret.String{}, nil, errBadCredentials
	}
	if _, err := o.Get(ctx, keyOrg); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			if err := s.throttle.dummyVerify(ctx, pw); err != nil {
				return secret.String{}, nil, err
			}
			return secret.String{}, nil, errBadCredentials
		}
		return secret.String{}, nil, err
	}
	fail := func(reason, userID string) error {
		_, err := o.Commit(ctx, ledger.AckDurable, store.Change{Event: newEvent(ctx, ec.AuthLoginFailed, ec.Anonymous, userID,
			map[string]any{"email": email, "reason": reason, "source": src})})
		if err != nil {
			return err
		}
		return errBadCredentials
	}
	id, err := o.Get(ctx, prefixEmail+email)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.throttle.dummyVerify(ctx, pw); err != nil {
			return secret.String{}, nil, err
		}
		return secret.String{}, nil, fail("unknown_email", "")
	}
	if err != nil {
		return secret.String{}, nil, err
	}
	u, raw, err := s.user(ctx, o, string(id))
	if err != nil {
		return secret.String{}, nil, err
	}
	if u.PasswordHash == "" {
		if err := s.throttle.dummyVerify(ctx, pw); err != nil {
			return secret.String{}, nil, err
		}
		return secret.String{}, nil, fail("password_not_set", u.ID)
	}
	ok, err := s.throttle.verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return secret.String{}, nil, err
	}
	if !ok {
		return secret.String{}, nil, fail("wrong_password", u.ID)
	}
	attempt.succeeded()
	tok, hash, err := token.New(token.Session, orgID)
	if err != nil {
		return secret.String{}, nil, err
	}
	now := s.cfg.Clock().UTC()
	sess := sessionRecord{UserID: u.ID, Created: now, Expires: now.Add(s.cfg.SessionTTL), Epoch: u.SessionEpoch}
	key := prefixSess + hex.EncodeToString(hash[:])
	if _, err := o.Commit(ctx, ledger.AckDurable, store.Change{
		Event: newEvent(ctx, ec.AuthLoginSucceeded, u.ID, u.ID, map[string]any{
			"session_id": token.ID(hash), "source": src, "expires": sess.Expires,
		}),
		Require: map[string][]byte{prefixUser + u.ID: raw, key: nil},
		Put:     map[string]any{key: sess},
	}); err != nil {
		return secret.String{}, nil, conflict(err)
	}
	return secret.New(tok), &Principal{Org: orgID, org: o, UserID: u.ID, Email: u.Email, Role: u.Role, Expires: sess.Expires, sessionKey: key}, nil
}

// Authenticate returns the principal of a bearer token. Every failure is
// the same ErrUnauthenticated.
func (s *Service) Authenticate(ctx context.Context, bearer secret.String) (*Principal, error) {
	unauth := errorf(ErrUnauthenticated, "missing, invalid or expired token")
	kind, orgID, hash, err := token.Parse(bearer.Reveal())
	if err != nil {
		return nil, unauth
	}
	o, err := s.store.Org(orgID)
	if err != nil {
		return nil, unauth
	}
	now := s.cfg.Clock()
	h := hex.EncodeToString(hash[:])
	switch kind {
	case token.Session:
		var sess sessionRecord
		key := prefixSess + h
		sraw, err := o.GetJSON(ctx, key, &sess)
		if err != nil {
			return nil, notFoundAs(err, unauth)
		}
		if !now.Before(sess.Expires) {
			return nil, unauth
		}
		u, uraw, err := s.user(ctx, o, sess.UserID)
		if err != nil {
			return nil, notFoundAs(err, unauth)
		}
		if sess.Epoch != u.SessionEpoch {
			return nil, unauth
		}
		return &Principal{Org: orgID, org: o, UserID: u.ID, Email: u.Email, Role: u.Role, Expires: sess.Expires, sessionKey: key,
			holds: []store.Hold{credential(key, sraw), membership(prefixUser+u.ID, uraw)}}, nil
	case token.API:
		id, err := o.Get(ctx, prefixTokenH+h)
		if err != nil {
			return nil, notFoundAs(err, unauth)
		}
		var t apiTokenRecord
		traw, err := o.GetJSON(ctx, prefixToken+string(id), &t)
		if err != nil {
			return nil, notFoundAs(err, unauth)
		}
		if !now.Before(t.Expires) || t.Hash != h {
			return nil, unauth
		}
		// A token never outlives its creator's membership or holds more
		// than the creator now may hand out.
		u, uraw, err := s.user(ctx, o, t.CreatedBy)
		if err != nil {
			return nil, notFoundAs(err, unauth)
		}
		if !rbac.Covers(u.Role, t.Role) {
			return nil, unauth
		}
		return &Principal{Org: orgID, org: o, UserID: u.ID, Email: u.Email, Role: t.Role, TokenID: t.ID, Expires: t.Expires,
			holds: []store.Hold{credential(prefixToken+t.ID, traw), membership(prefixUser+u.ID, uraw)}}, nil
	case token.Agent:
		return s.authenticateAgent(ctx, o, h, unauth)
	}
	return nil, unauth
}

// notFoundAs refuses with as when err says something was not found, and
// also when err is nil: callers use it on a path that refuses, so it
// fails closed.
func notFoundAs(err, as error) error {
	if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrNotFound) {
		return as
	}
	return err
}

// Logout ends the principal's session ("auth.logout"). With an API token
// it is refused: revoke the token instead.
func (s *Service) Logout(ctx context.Context, p *Principal) error {
	if p.sessionKey == "" {
		return errorf(ErrPrecondition, "an API token has no session; revoke the token instead")
	}
	o := s.orgOf(p)
	raw, err := o.Get(ctx, p.sessionKey)
	if err != nil {
		return notFoundAs(err, errorf(ErrUnauthenticated, "session already ended"))
	}
	_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   newEvent(ctx, ec.AuthLogout, p.Actor(), p.UserID, nil),
		Require: map[string][]byte{p.sessionKey: raw},
		Delete:  []string{p.sessionKey},
	})
	return conflict(err)
}

// CreateAPIToken issues an API token with a role the principal may hand
// out ("auth.api_token.created"). The token is returned only here.
func (s *Service) CreateAPIToken(ctx context.Context, p *Principal, name string, role rbac.Role, ttl time.Duration) (APIToken, secret.String, error) {
	if err := validateText("name", name, MaxTokenNameLen, true); err != nil {
		return APIToken{}, secret.String{}, err
	}
	if err := validateRole("role", role); err != nil {
		return APIToken{}, secret.String{}, err
	}
	if ttl == 0 {
		ttl = DefaultAPITokenTTL
	}
	if ttl < time.Minute || ttl > MaxAPITokenTTL {
		return APIToken{}, secret.String{}, invalid("ttl must be between 1m and %s", MaxAPITokenTTL)
	}
	if !rbac.Covers(p.Role, role) {
		return APIToken{}, secret.String{}, errorf(ErrPermission, "a token cannot hold permissions its creator lacks (role %s)", role)
	}
	if p.TokenID != "" {
		return APIToken{}, secret.String{}, errorf(ErrPermission, "API tokens cannot create API tokens; log in")
	}
	tok, hash, err := token.New(token.API, p.Org)
	if err != nil {
		return APIToken{}, secret.String{}, err
	}
	now := s.cfg.Clock().UTC()
	h := hex.EncodeToString(hash[:])
	t := apiTokenRecord{ID: token.ID(hash), Name: name, Role: role, CreatedBy: p.UserID, Created: now, Expires: now.Add(ttl), Hash: h}
	if _, err := s.orgOf(p).Commit(ctx, ledger.AckDurable, store.Change{
		Event: newEvent(ctx, ec.AuthAPITokenCreated, p.Actor(), "token:"+t.ID, map[string]any{
			"name": name, "role": role, "expires": t.Expires,
		}),
		Require: map[string][]byte{prefixToken + t.ID: nil, prefixTokenH + h: nil},
		Put:     map[string]any{prefixToken + t.ID: t, prefixTokenH + h: []byte(t.ID)},
	}); err != nil {
		return APIToken{}, secret.String{}, conflict(err)
	}
	return t.token(), secret.New(tok), nil
}

// RevokeAPIToken revokes an API token of the org at once
// ("auth.api_token.revoked").
func (s *Service) RevokeAPIToken(ctx context.Context, p *Principal, id string) error {
	if err := validateID("token_id", id); err != nil {
		return err
	}
	o := s.orgOf(p)
	var t apiTokenRecord
	raw, err := o.GetJSON(ctx, prefixToken+id, &t)
	if err != nil {
		return notFoundAs(err, errorf(ErrNotFound, "API token"))
	}
	_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   newEvent(ctx, ec.AuthAPITokenRevoked, p.Actor(), "token:"+t.ID, map[string]any{"name": t.Name}),
		Require: map[string][]byte{prefixToken + t.ID: raw},
		Delete:  []string{prefixToken + t.ID, prefixTokenH + t.Hash},
	})
	return conflict(err)
}

// ListAPITokens lists the org's API tokens, never their values.
func (s *Service) ListAPITokens(ctx context.Context, p *Principal, size int32, pageToken string) ([]APIToken, string, error) {
	return listPage(ctx, s, s.orgOf(p), prefixToken, size, pageToken, (*apiTokenRecord).token)
}
