package core

import (
	"context"
	"time"
	"unicode/utf8"

	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/jcs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/store"
)

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

// Credential is what authentication found a principal's authority on.
type Credential struct {
	// Org is the handle of the principal's org.
	Org store.Org
	// SessionKey is the state key of a login session; AgentToken the hex
	// SHA-256 of an agent's access token.
	SessionKey, AgentToken string
	// Holds are the records to require unchanged at every commit.
	Holds []store.Hold
}

// Authenticated returns p as authenticated by c.
func Authenticated(p Principal, c Credential) *Principal {
	p.org, p.sessionKey, p.agentToken, p.holds = c.Org, c.SessionKey, c.AgentToken, c.Holds
	return &p
}

// SessionKey is the state key of the principal's login session ("" for
// an API token or an agent).
func (p *Principal) SessionKey() string { return p.sessionKey }

// AgentToken is the hex SHA-256 of an agent principal's access token.
func (p *Principal) AgentToken() string { return p.agentToken }

// Actor names the principal in events: the user ID, "token:<ID>" for an
// API token, or "agent:<ID>" for an agent.
func (p *Principal) Actor() string {
	if p.TokenID != "" {
		return "token:" + p.TokenID
	}
	if p.AgentID != "" {
		return "agent:" + p.AgentID
	}
	return p.UserID
}

// ErrCredentialChanged and ErrMembershipChanged refuse a commit whose
// actor lost its session, token or enrolment, or its membership or role,
// after it was authorized.
var (
	ErrCredentialChanged = errs.New(errs.Unauthenticated, "the session or token was ended while the request ran")
	ErrMembershipChanged = errs.New(errs.Permission, "the caller's membership or role changed while the request ran")
)

// CredentialHold and MembershipHold return the holds on a principal's
// credential record and on its member record.
func CredentialHold(key string, raw []byte) store.Hold {
	return store.Hold{Key: key, Value: raw, Err: ErrCredentialChanged}
}

// MembershipHold: see CredentialHold.
func MembershipHold(key string, raw []byte) store.Hold {
	return store.Hold{Key: key, Value: raw, Err: ErrMembershipChanged}
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

// Event is the body of every event the domain appends: the leaf's
// "event" member.
type Event struct {
	Type      string `json:"type"`
	Actor     string `json:"actor"`
	Subject   string `json:"subject,omitempty"`
	Data      any    `json:"data,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// MarshalCanonicalJSON writes the event's RFC 8785 form in one pass: its
// data canonicalized once (or copied, when it is jcs.Canonical already),
// its members in their canonical order. Every event the domain commits
// is encoded here (store.Org.Commit calls jcs.Marshal), so it equals what
// jcs.Marshal makes of the event's JSON encoding (TestEventCanonical); a
// string that is not valid UTF-8 takes that slower path.
func (e Event) MarshalCanonicalJSON() ([]byte, error) {
	for _, s := range [...]string{e.Type, e.Actor, e.Subject, e.RequestID} {
		if !utf8.ValidString(s) {
			return jcs.Marshal(plainEvent(e))
		}
	}
	var data []byte
	if e.Data != nil {
		var err error
		if data, err = jcs.Marshal(e.Data); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 0, 48+len(e.Type)+len(e.Actor)+len(e.Subject)+len(e.RequestID)+len(data))
	// The members in canonical order: actor, data, request_id, subject,
	// type.
	b = append(b, `{"actor":`...)
	b = jcs.AppendString(b, e.Actor)
	if e.Data != nil {
		b = append(b, `,"data":`...)
		b = append(b, data...)
	}
	if e.RequestID != "" {
		b = append(b, `,"request_id":`...)
		b = jcs.AppendString(b, e.RequestID)
	}
	if e.Subject != "" {
		b = append(b, `,"subject":`...)
		b = jcs.AppendString(b, e.Subject)
	}
	b = append(b, `,"type":`...)
	b = jcs.AppendString(b, e.Type)
	return append(b, '}'), nil
}

// plainEvent is Event without its methods: encoding/json's view of it.
type plainEvent Event

// NewEvent returns an event of ctx's request.
func NewEvent(ctx context.Context, typ, actor, subject string, data any) Event {
	return Event{Type: typ, Actor: actor, Subject: subject, Data: data, RequestID: RequestInfoFrom(ctx).ID}
}
