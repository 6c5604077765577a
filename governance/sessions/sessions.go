// Package sessions is the sessions-and-tokens feature of the governance
// domain: logins and their sessions, API tokens, and the authentication
// of a person's bearer token (a session or an API token) into a
// principal that holds the records its authority rests on. It owns the
// session and API-token records; the member records it reads are the
// orgs feature's.
package sessions

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	ec "github.com/nuxari/nuxari/internal/eventcatalog"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/governance/throttle"
	"github.com/nuxari/nuxari/governance/token"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/ledger"
)

// API token lifetimes.
const (
	DefaultAPITokenTTL = 90 * 24 * time.Hour
	MaxAPITokenTTL     = 366 * 24 * time.Hour
)

// The state keys sessions owns.
const (
	prefixSess   = "session/"   // <hash>: sessionRecord; hash is hex SHA-256 of the token
	prefixToken  = "apitoken/"  // <token ID>: apiTokenRecord
	prefixTokenH = "tokenhash/" // <hash>: API token ID, by hex SHA-256 of the token
)

// StateKeys lists the state keys sessions owns.
var StateKeys = []core.StateKey{
	{Key: prefixSess, Owner: "sessions"}, {Key: prefixToken, Owner: "tokens"}, {Key: prefixTokenH, Owner: "tokens"},
}

// Expiring are sessions' records that the sweep deletes once expired; an
// API token goes with its hash index.
var Expiring = []core.Expiring{
	{Prefix: prefixSess, Name: "sessions"},
	{Prefix: prefixToken, Name: "api_tokens", Also: func(raw []byte) []string {
		var t apiTokenRecord
		if json.Unmarshal(raw, &t) != nil || t.Hash == "" {
			return nil
		}
		return []string{prefixTokenH + t.Hash}
	}},
}

// Config configures the feature.
type Config struct {
	// SessionTTL is how long a login session lasts (default 12 h).
	SessionTTL time.Duration
}

// Service is the sessions-and-tokens feature.
type Service struct {
	env      *core.Env
	cfg      Config
	throttle *throttle.Throttle
}

// New returns the feature over env, with t's limits on logins.
func New(env *core.Env, cfg Config, t *throttle.Throttle) *Service {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	return &Service{env: env, cfg: cfg, throttle: t}
}

type sessionRecord struct {
	UserID  string    `json:"user_id"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
	// Epoch is the member's session epoch when the session began.
	Epoch uint64 `json:"epoch,omitempty"`
}

type apiTokenRecord struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      rbac.Role `json:"role"`
	CreatedBy string    `json:"created_by"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	Hash      string    `json:"hash"`
}

// APIToken describes an API token, never its value.
type APIToken struct {
	ID        string
	Name      string
	Role      rbac.Role
	CreatedBy string
	Created   time.Time
	Expires   time.Time
}

func (t *apiTokenRecord) token() APIToken {
	return APIToken{ID: t.ID, Name: t.Name, Role: t.Role, CreatedBy: t.CreatedBy, Created: t.Created, Expires: t.Expires}
}

// errBadCredentials is the one answer to every failed login, whatever
// failed, so that a caller learns nothing about which accounts exist.
var errBadCredentials = errs.New(errs.Unauthenticated, "wrong org, email or password")

// Login checks an email and password in an org and starts a session
// ("auth.login.succeeded"). A failure in an existing org is audited
// ("auth.login.failed", without the attempted password). Attempts are
// throttled per account and source, per source, and delayed per account,
// as throttle.go says.
func (s *Service) Login(ctx context.Context, orgID, email string, pw secret.String) (secret.String, *core.Principal, error) {
	if err := core.ValidateOrgID(orgID); err != nil {
		return secret.String{}, nil, err
	}
	email, err := core.NormalizeEmail("email", email)
	if err != nil {
		return secret.String{}, nil, err
	}
	if pw.IsZero() {
		return secret.String{}, nil, core.Invalid("password is required")
	}
	src := core.RequestInfoFrom(ctx).Source
	attempt, err := s.throttle.AdmitLogin(ctx, orgID, email)
	if err != nil {
		return secret.String{}, nil, err
	}
	o, err := s.env.Store.Org(orgID)
	if err != nil {
		s.env.Counters.LoginsFailed.Add(1)
		return secret.String{}, nil, errBadCredentials
	}
	if err := orgs.Exists(ctx, o); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			if err := s.throttle.DummyVerify(ctx, pw); err != nil {
				return secret.String{}, nil, err
			}
			s.env.Counters.LoginsFailed.Add(1)
			return secret.String{}, nil, errBadCredentials
		}
		return secret.String{}, nil, err
	}
	fail := func(reason, userID string) error {
		s.env.Counters.LoginsFailed.Add(1)
		_, err := o.Commit(ctx, ledger.AckDurable, store.Change{Event: core.NewEvent(ctx, ec.AuthLoginFailed, ec.Anonymous, userID,
			map[string]any{"email": email, "reason": reason, "source": src})})
		if err != nil {
			return err
		}
		return errBadCredentials
	}
	id, err := orgs.UserIDByEmail(ctx, o, email)
	if errors.Is(err, store.ErrNotFound) {
		if err := s.throttle.DummyVerify(ctx, pw); err != nil {
			return secret.String{}, nil, err
		}
		return secret.String{}, nil, fail("unknown_email", "")
	}
	if err != nil {
		return secret.String{}, nil, err
	}
	u, raw, err := orgs.LoadUser(ctx, o, id)
	if err != nil {
		return secret.String{}, nil, err
	}
	if u.PasswordHash == "" {
		if err := s.throttle.DummyVerify(ctx, pw); err != nil {
			return secret.String{}, nil, err
		}
		return secret.String{}, nil, fail("password_not_set", u.ID)
	}
	ok, err := s.throttle.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return secret.String{}, nil, err
	}
	if !ok {
		return secret.String{}, nil, fail("wrong_password", u.ID)
	}
	attempt.Succeeded()
	tok, hash, err := token.New(token.Session, orgID)
	if err != nil {
		return secret.String{}, nil, err
	}
	now := s.env.Now()
	sess := sessionRecord{UserID: u.ID, Created: now, Expires: now.Add(s.cfg.SessionTTL), Epoch: u.SessionEpoch}
	key := prefixSess + hex.EncodeToString(hash[:])
	if _, err := o.Commit(ctx, ledger.AckDurable, store.Change{
		Event: core.NewEvent(ctx, ec.AuthLoginSucceeded, u.ID, u.ID, map[string]any{
			"session_id": token.ID(hash), "source": src, "expires": sess.Expires,
		}),
		Require: map[string][]byte{orgs.UserKey(u.ID): raw, key: nil},
		Put:     map[string]any{key: sess},
	}); err != nil {
		return secret.String{}, nil, core.Conflict(err)
	}
	return secret.New(tok), core.Authenticated(core.Principal{Org: orgID, UserID: u.ID, Email: u.Email, Role: u.Role, Expires: sess.Expires},
		core.Credential{Org: o, SessionKey: key}), nil
}

// Authenticate returns the principal of a person's bearer token of kind
// (token.Session or token.API) in o's org, with hash its SHA-256; unauth
// is the one refusal for every failure.
func (s *Service) Authenticate(ctx context.Context, o store.Org, kind token.Kind, hash [32]byte, unauth error) (*core.Principal, error) {
	now := s.env.Clock()
	h := hex.EncodeToString(hash[:])
	switch kind {
	case token.Session:
		var sess sessionRecord
		key := prefixSess + h
		sraw, err := o.GetJSON(ctx, key, &sess)
		if err != nil {
			return nil, core.NotFoundAs(err, unauth)
		}
		if !now.Before(sess.Expires) {
			return nil, unauth
		}
		u, uraw, err := orgs.LoadUser(ctx, o, sess.UserID)
		if err != nil {
			return nil, core.NotFoundAs(err, unauth)
		}
		if sess.Epoch != u.SessionEpoch {
			return nil, unauth
		}
		return core.Authenticated(core.Principal{Org: o.ID(), UserID: u.ID, Email: u.Email, Role: u.Role, Expires: sess.Expires},
			core.Credential{Org: o, SessionKey: key, Holds: []store.Hold{core.CredentialHold(key, sraw), core.MembershipHold(orgs.UserKey(u.ID), uraw)}}), nil
	case token.API:
		id, err := o.Get(ctx, prefixTokenH+h)
		if err != nil {
			return nil, core.NotFoundAs(err, unauth)
		}
		var t apiTokenRecord
		traw, err := o.GetJSON(ctx, prefixToken+string(id), &t)
		if err != nil {
			return nil, core.NotFoundAs(err, unauth)
		}
		if !now.Before(t.Expires) || t.Hash != h {
			return nil, unauth
		}
		// A token never outlives its creator's membership or holds more
		// than the creator now may hand out.
		u, uraw, err := orgs.LoadUser(ctx, o, t.CreatedBy)
		if err != nil {
			return nil, core.NotFoundAs(err, unauth)
		}
		if !rbac.Covers(u.Role, t.Role) {
			return nil, unauth
		}
		return core.Authenticated(core.Principal{Org: o.ID(), UserID: u.ID, Email: u.Email, Role: t.Role, TokenID: t.ID, Expires: t.Expires},
			core.Credential{Org: o, Holds: []store.Hold{core.CredentialHold(prefixToken+t.ID, traw), core.MembershipHold(orgs.UserKey(u.ID), uraw)}}), nil
	}
	return nil, unauth
}

// LoadToken returns API token id of o's org and its raw record (for a
// precondition); store.ErrNotFound if there is none.
func LoadToken(ctx context.Context, o store.Org, id string) (APIToken, []byte, error) {
	var t apiTokenRecord
	raw, err := o.GetJSON(ctx, prefixToken+id, &t)
	if err != nil {
		return APIToken{}, nil, err
	}
	return t.token(), raw, nil
}

// Logout ends the principal's session ("auth.logout"). With an API token
// it is refused: revoke the token instead.
func (s *Service) Logout(ctx context.Context, p *core.Principal) error {
	if p.SessionKey() == "" {
		return errs.New(errs.Precondition, "an API token has no session; revoke the token instead")
	}
	o := s.env.OrgOf(p)
	raw, err := o.Get(ctx, p.SessionKey())
	if err != nil {
		return core.NotFoundAs(err, errs.New(errs.Unauthenticated, "session already ended"))
	}
	_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   core.NewEvent(ctx, ec.AuthLogout, p.Actor(), p.UserID, nil),
		Require: map[string][]byte{p.SessionKey(): raw},
		Delete:  []string{p.SessionKey()},
	})
	return core.Conflict(err)
}

// CreateAPIToken issues an API token with a role the principal may hand
// out ("auth.api_token.created"). The token is returned only here.
func (s *Service) CreateAPIToken(ctx context.Context, p *core.Principal, name string, role rbac.Role, ttl time.Duration) (APIToken, secret.String, error) {
	if err := core.ValidateText("name", name, core.MaxTokenNameLen, true); err != nil {
		return APIToken{}, secret.String{}, err
	}
	if err := core.ValidateRole("role", role); err != nil {
		return APIToken{}, secret.String{}, err
	}
	if ttl == 0 {
		ttl = DefaultAPITokenTTL
	}
	if ttl < time.Minute || ttl > MaxAPITokenTTL {
		return APIToken{}, secret.String{}, core.Invalid("ttl must be between 1m and %s", MaxAPITokenTTL)
	}
	if !rbac.Covers(p.Role, role) {
		return APIToken{}, secret.String{}, errs.New(errs.Permission, "a token cannot hold permissions its creator lacks (role %s)", role)
	}
	if p.TokenID != "" {
		return APIToken{}, secret.String{}, errs.New(errs.Permission, "API tokens cannot create API tokens; log in")
	}
	tok, hash, err := token.New(token.API, p.Org)
	if err != nil {
		return APIToken{}, secret.String{}, err
	}
	now := s.env.Now()
	h := hex.EncodeToString(hash[:])
	t := apiTokenRecord{ID: token.ID(hash), Name: name, Role: role, CreatedBy: p.UserID, Created: now, Expires: now.Add(ttl), Hash: h}
	if _, err := s.env.OrgOf(p).Commit(ctx, ledger.AckDurable, store.Change{
		Event: core.NewEvent(ctx, ec.AuthAPITokenCreated, p.Actor(), "token:"+t.ID, map[string]any{
			"name": name, "role": role, "expires": t.Expires,
		}),
		Require: map[string][]byte{prefixToken + t.ID: nil, prefixTokenH + h: nil},
		Put:     map[string]any{prefixToken + t.ID: t, prefixTokenH + h: []byte(t.ID)},
	}); err != nil {
		return APIToken{}, secret.String{}, core.Conflict(err)
	}
	return t.token(), secret.New(tok), nil
}

// RevokeAPIToken revokes an API token of the org at once
// ("auth.api_token.revoked").
func (s *Service) RevokeAPIToken(ctx context.Context, p *core.Principal, id string) error {
	if err := core.ValidateID("token_id", id); err != nil {
		return err
	}
	o := s.env.OrgOf(p)
	var t apiTokenRecord
	raw, err := o.GetJSON(ctx, prefixToken+id, &t)
	if err != nil {
		return core.NotFoundAs(err, errs.New(errs.NotFound, "API token"))
	}
	_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   core.NewEvent(ctx, ec.AuthAPITokenRevoked, p.Actor(), "token:"+t.ID, map[string]any{"name": t.Name}),
		Require: map[string][]byte{prefixToken + t.ID: raw},
		Delete:  []string{prefixToken + t.ID, prefixTokenH + t.Hash},
	})
	return core.Conflict(err)
}

// ListAPITokens lists the org's API tokens, never their values.
func (s *Service) ListAPITokens(ctx context.Context, p *core.Principal, size int32, pageToken string) ([]APIToken, string, error) {
	return core.ListPage(ctx, s.env.OrgOf(p), prefixToken, size, pageToken, (*apiTokenRecord).token)
}

// EndSessions adds to c the deletion of every session of userID but keep
// (a session key, or ""), and moves keep to epoch, the member's new
// session epoch, so that a session a concurrent login begins in the old
// one is refused too; the caller puts the member's record with the new
// epoch. It returns how many sessions end.
func (s *Service) EndSessions(ctx context.Context, o store.Org, userID string, epoch uint64, keep string, c *store.Change) (int, error) {
	n := 0
	err := o.Scan(ctx, prefixSess, "", func(k string, v []byte) bool {
		var sr sessionRecord
		if k == keep || json.Unmarshal(v, &sr) != nil || sr.UserID != userID {
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
		var sr sessionRecord
		raw, err := o.GetJSON(ctx, keep, &sr)
		if err != nil {
			return 0, core.NotFoundAs(err, core.ErrCredentialChanged)
		}
		c.Require[keep] = raw
		sr.Epoch = epoch
		c.Put[keep] = sr
	}
	return n, nil
}

// RevokeTokens adds to c the revocation of every API token made by
// userID whose role drop says goes, and returns their IDs.
func (s *Service) RevokeTokens(ctx context.Context, o store.Org, userID string, drop func(rbac.Role) bool, c *store.Change) ([]string, error) {
	ids := []string{}
	err := o.Scan(ctx, prefixToken, "", func(k string, v []byte) bool {
		var t apiTokenRecord
		if json.Unmarshal(v, &t) != nil || t.CreatedBy != userID || !drop(t.Role) {
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

// TokenKey is the state key of API token id, for a precondition on it.
func TokenKey(id string) string { return prefixToken + id }
