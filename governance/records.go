package governance

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"strings"
	"time"

	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/store"
)

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

type userRecord struct {
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

func (u *userRecord) member() Member {
	return Member{UserID: u.ID, Email: u.Email, DisplayName: u.DisplayName, Role: u.Role, Created: u.Created}
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

// newID returns a fresh ID: prefix and 16 lower-case base32 characters
// (80 random bits).
func newID(prefix string) string {
	var b [10]byte
	rand.Read(b[:])
	return prefix + strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
}

// Principal is who a request is authenticated as, in one org.
type Principal struct {
	Org    string
	UserID string
	Email  string
	Role   rbac.Role
	// TokenID is set when the request used an API token.
	TokenID string
	// AgentID is set, with role rbac.Agent, for an edge agent.
	AgentID string
	Expires time.Time
	// sessionKey is the state key of the login session, if any.
	sessionKey string
	// agentToken is the hex SHA-256 of an agent's access token.
	agentToken string
	// org is the handle of the principal's org, made when it was
	// authenticated.
	org store.Org
	// holds are the records the principal's authority rests on, as read
	// when it was authenticated: every commit it makes requires them
	// unchanged (DESIGN.md, "Authorization holds at commit").
	holds []store.Hold
}

// errCredentialChanged and errMembershipChanged refuse a commit whose
// actor lost its session, token or enrolment, or its membership or role,
// after it was authorized.
var (
	errCredentialChanged = errorf(ErrUnauthenticated, "the session or token was ended while the request ran")
	errMembershipChanged = errorf(ErrPermission, "the caller's membership or role changed while the request ran")
)

// credential and membership return the holds on a principal's
// credential record and on its user record.
func credential(key string, raw []byte) store.Hold {
	return store.Hold{Key: key, Value: raw, Err: errCredentialChanged}
}

func membership(key string, raw []byte) store.Hold {
	return store.Hold{Key: key, Value: raw, Err: errMembershipChanged}
}

// orgOf returns the principal's org handle. Its commits carry the
// principal's holds, so an action authorized before a removal, demotion,
// revocation, logout or decommissioning that commits first fails and
// changes nothing.
func (s *Service) orgOf(p *Principal) store.Org {
	o := p.org
	if !o.Valid() {
		// A principal made outside Authenticate (a tool, a test): its
		// org ID is checked here. A bad one leaves a handle on which
		// every call fails.
		o, _ = s.store.Org(p.Org)
	}
	o = o.Holding(p.holds...)
	if hook := s.cfg.CommitHook; hook != nil {
		o = o.BeforeCommit(func(ctx context.Context, events []any) {
			types := make([]string, len(events))
			for i, e := range events {
				if ev, ok := e.(event); ok {
					types[i] = ev.Type
				}
			}
			hook(ctx, p.Org, types)
		})
	}
	return o
}

// Actor names the principal in events: the user ID, or "token:<ID>" for
// an API token.
func (p *Principal) Actor() string {
	if p.TokenID != "" {
		return "token:" + p.TokenID
	}
	if p.AgentID != "" {
		return "agent:" + p.AgentID
	}
	return p.UserID
}

// RequestInfo describes the request a command came from, for its events.
type RequestInfo struct {
	// ID correlates the event with the server's logs.
	ID string
	// Source is the client's address, without port.
	Source string
}

type requestInfoKey struct{}

// WithRequestInfo returns ctx carrying ri.
func WithRequestInfo(ctx context.Context, ri RequestInfo) context.Context {
	return context.WithValue(ctx, requestInfoKey{}, ri)
}

// RequestInfoFrom returns the request info ctx carries, if any.
func RequestInfoFrom(ctx context.Context) RequestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(RequestInfo)
	return ri
}

// event is the body of every event the service appends: the leaf's
// "event" member.
type event struct {
	Type      string `json:"type"`
	Actor     string `json:"actor"`
	Subject   string `json:"subject,omitempty"`
	Data      any    `json:"data,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

func newEvent(ctx context.Context, typ, actor, subject string, data any) event {
	return event{Type: typ, Actor: actor, Subject: subject, Data: data, RequestID: RequestInfoFrom(ctx).ID}
}
