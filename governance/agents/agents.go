// Package agents is the edge-agents feature of the governance domain:
// join tokens, enrolment, agents' challenge-signed access tokens and
// their authentication, tasks, and the evidence agents submit. It owns
// the records of all of these.
package agents

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	ec "github.com/nuxari/nuxari/internal/eventcatalog"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/sessions"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/governance/throttle"
	"github.com/nuxari/nuxari/governance/token"
	"github.com/nuxari/nuxari/internal/agentsig"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/ledger"
)

// Edge agent limits and lifetimes.
const (
	DefaultJoinTokenTTL = 30 * time.Minute
	MaxJoinTokenTTL     = 24 * time.Hour
	// AgentTokenTTL is the lifetime of an agent's access token.
	AgentTokenTTL = 15 * time.Minute
	// ChallengeTTL is how long a token challenge may be answered.
	ChallengeTTL = time.Minute
	// HeartbeatInterval is how often agents must heartbeat.
	HeartbeatInterval = 30 * time.Second
	// MaxEvidenceSize bounds one evidence item's content.
	MaxEvidenceSize = 1 << 20
	// MaxEvidenceItems bounds the items of one submission.
	MaxEvidenceItems = 16
	// MaxTaskEvidenceItems and MaxTaskEvidenceBytes bound the evidence
	// of one task over all its submissions: distinct items, and the sum
	// of their content sizes. One full submission fits.
	MaxTaskEvidenceItems = 4 * MaxEvidenceItems
	MaxTaskEvidenceBytes = MaxEvidenceItems * MaxEvidenceSize
	// MaxClockSkew is how far an agent's clock may be from the server's:
	// an item's collected time must lie in [task created − MaxClockSkew,
	// server now + MaxClockSkew].
	MaxClockSkew = 5 * time.Minute
	// maxChallenges is how many unanswered challenges an agent may have;
	// asking for more drops the oldest.
	maxChallenges = 8
	// agentTokensKept is how many access tokens of an agent stay valid at
	// once: the current one and the one it replaces, while in flight.
	agentTokensKept = 2
)

// The state keys agents owns.
const (
	prefixJoin      = "jointoken/"  // <token ID>: joinRecord, deleted at its first use or revocation
	prefixAgent     = "agent/"      // <agent ID>: Agent (with its current token hashes)
	prefixAgentTok  = "agenttoken/" // <hash>: agent ID of an access token
	prefixTask      = "task/"       // <task ID>: Task
	prefixOpenTask  = "opentask/"   // <agent>/<task>: index of an agent's unfinished tasks
	prefixEvidenceB = "evidence/"   // <sha256>: evidence content
)

// StateKeys lists the state keys agents owns.
var StateKeys = []core.StateKey{
	{Key: prefixJoin, Owner: "agents"}, {Key: prefixAgent, Owner: "agents"}, {Key: prefixAgentTok, Owner: "agents"},
	{Key: prefixTask, Owner: "agents"}, {Key: prefixOpenTask, Owner: "agents"}, {Key: prefixEvidenceB, Owner: "agents"},
}

// Expiring are agents' records that the sweep deletes once expired.
var Expiring = []core.Expiring{{Prefix: prefixJoin, Name: "join_tokens"}, {Prefix: prefixAgentTok, Name: "agent_tokens"}}

// Service is the edge-agents feature.
type Service struct {
	env      *core.Env
	throttle *throttle.Throttle
	hub      *agentHub
}

// New returns the feature over env; t's per-source budget limits
// enrolments and challenges.
func New(env *core.Env, t *throttle.Throttle) *Service {
	return &Service{env: env, throttle: t, hub: newAgentHub()}
}

// LoadEvidence returns the evidence content of SHA-256 hex sha that an
// agent submitted in o's org; store.ErrNotFound if there is none.
func LoadEvidence(ctx context.Context, o store.Org, sha string) ([]byte, error) {
	return o.Get(ctx, prefixEvidenceB+sha)
}

// Agent states.
const (
	AgentActive         = "active"
	AgentDecommissioned = "decommissioned"
)

// Task states.
const (
	TaskPending   = "pending"
	TaskDelivered = "delivered"
	TaskSucceeded = "succeeded"
	TaskFailed    = "failed"
)

// Collectors an agent may be asked to run (each only if its own
// configuration allows it).
var Collectors = []string{"file", "users", "sudoers", "packages", "command"}

// joinTokenPermission is what a join token's creator needs, when it is
// created and still when it is used: the permission CreateJoinToken needs
// (governance/api.Procedures).
const joinTokenPermission = rbac.AgentsManage

type joinRecord struct {
	ID string `json:"id"`
	// Hash is the hex SHA-256 of the token.
	Hash      string    `json:"hash"`
	CreatedBy string    `json:"created_by"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
}

// JoinToken describes an unused join token, never its value.
type JoinToken struct {
	ID        string
	CreatedBy string
	Created   time.Time
	Expires   time.Time
}

func (j *joinRecord) joinToken() JoinToken {
	return JoinToken{ID: j.ID, CreatedBy: j.CreatedBy, Created: j.Created, Expires: j.Expires}
}

// Agent is an enrolled edge agent.
type Agent struct {
	ID        string    `json:"id"`
	Hostname  string    `json:"hostname"`
	State     string    `json:"state"`
	PublicKey []byte    `json:"public_key"`
	Enrolled  time.Time `json:"enrolled"`
	// Tokens are the hex SHA-256 hashes of its valid access tokens.
	Tokens   []string  `json:"tokens,omitempty"`
	LastSeen time.Time `json:"-"`
}

// Task is work for an agent: run one collector.
type Task struct {
	ID        string    `json:"id"`
	AgentID   string    `json:"agent_id"`
	Collector string    `json:"collector"`
	Target    string    `json:"target,omitempty"`
	State     string    `json:"state"`
	Detail    string    `json:"detail,omitempty"`
	Created   time.Time `json:"created"`
	Completed time.Time `json:"completed,omitzero"`
	Evidence  []string  `json:"evidence,omitempty"`
	// EvidenceBytes is the sum of the sizes of Evidence's contents.
	EvidenceBytes int64 `json:"evidence_bytes,omitempty"`
}

// agentHub wakes an agent's task stream when it has news: a task, or its
// decommissioning. It also remembers when each agent was last seen, and
// the outstanding token challenges.
type agentHub struct {
	mu         sync.Mutex
	wake       map[string]chan struct{}
	seen       map[string]time.Time
	challenges map[string][]challenge
}

type challenge struct {
	value   []byte
	expires time.Time
}

func newAgentHub() *agentHub {
	return &agentHub{wake: map[string]chan struct{}{}, seen: map[string]time.Time{}, challenges: map[string][]challenge{}}
}

func hubKey(org, agent string) string { return org + "\x00" + agent }

// channel returns the wake channel of an agent.
func (h *agentHub) channel(org, agent string) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := hubKey(org, agent)
	c, ok := h.wake[k]
	if !ok {
		c = make(chan struct{}, 1)
		h.wake[k] = c
	}
	return c
}

func (h *agentHub) notify(org, agent string) {
	select {
	case h.channel(org, agent) <- struct{}{}:
	default:
	}
}

func (s *Service) agent(ctx context.Context, o store.Org, id string) (Agent, []byte, error) {
	if err := core.ValidateID("agent_id", id); err != nil {
		return Agent{}, nil, err
	}
	var a Agent
	raw, err := o.GetJSON(ctx, prefixAgent+id, &a)
	if err != nil {
		return Agent{}, nil, core.NotFoundAs(err, errs.New(errs.NotFound, "agent"))
	}
	s.hub.mu.Lock()
	a.LastSeen = s.hub.seen[hubKey(o.ID(), id)]
	s.hub.mu.Unlock()
	return a, raw, nil
}

// CreateJoinToken makes a one-use join token for an agent of the
// principal's org ("agent.join_token.created"). It is returned only here,
// with its public ID.
func (s *Service) CreateJoinToken(ctx context.Context, p *core.Principal, ttl time.Duration) (secret.String, JoinToken, error) {
	if ttl == 0 {
		ttl = DefaultJoinTokenTTL
	}
	if ttl < time.Minute || ttl > MaxJoinTokenTTL {
		return secret.String{}, JoinToken{}, core.Invalid("ttl must be between 1m and %s", MaxJoinTokenTTL)
	}
	tok, hash, err := token.New(token.Join, p.Org)
	if err != nil {
		return secret.String{}, JoinToken{}, err
	}
	now := s.env.Now()
	jr := joinRecord{ID: token.ID(hash), Hash: hex.EncodeToString(hash[:]), CreatedBy: p.Actor(), Created: now, Expires: now.Add(ttl)}
	key := prefixJoin + jr.ID
	if _, err := s.env.OrgOf(p).Commit(ctx, ledger.AckDurable, store.Change{
		Event:   core.NewEvent(ctx, ec.AgentJoinTokenCreated, p.Actor(), "jointoken:"+jr.ID, map[string]any{"expires": jr.Expires}),
		Require: map[string][]byte{key: nil},
		Put:     map[string]any{key: jr},
	}); err != nil {
		return secret.String{}, JoinToken{}, core.Conflict(err)
	}
	return secret.New(tok), jr.joinToken(), nil
}

// ListJoinTokens lists the org's unused join tokens, by ID, never their
// values.
func (s *Service) ListJoinTokens(ctx context.Context, p *core.Principal, size int32, pageToken string) ([]JoinToken, string, error) {
	return core.ListPage(ctx, s.env.OrgOf(p), prefixJoin, size, pageToken, (*joinRecord).joinToken)
}

// RevokeJoinToken deletes an unused join token of the org at once
// ("agent.join_token.revoked").
func (s *Service) RevokeJoinToken(ctx context.Context, p *core.Principal, id string) error {
	if err := core.ValidateID("join_token_id", id); err != nil {
		return err
	}
	o := s.env.OrgOf(p)
	var jr joinRecord
	raw, err := o.GetJSON(ctx, prefixJoin+id, &jr)
	if err != nil {
		return core.NotFoundAs(err, errs.New(errs.NotFound, "join token"))
	}
	_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   core.NewEvent(ctx, ec.AgentJoinTokenRevoked, p.Actor(), "jointoken:"+id, map[string]any{"created_by": jr.CreatedBy, "expires": jr.Expires}),
		Require: map[string][]byte{prefixJoin + id: raw},
		Delete:  []string{prefixJoin + id},
	})
	return core.Conflict(err)
}

// joinCreatorHolds checks that a join token's creator may still create
// join tokens: a member whose role grants joinTokenPermission, or an API
// token that is still valid (unexpired, its creator a member covering its
// role) and whose role grants it. It returns the state the answer rests
// on, to require at commit, or the refusal's reason.
func (s *Service) joinCreatorHolds(ctx context.Context, o store.Org, createdBy string) (map[string][]byte, string, error) {
	userID := createdBy
	req := map[string][]byte{}
	if id, ok := strings.CutPrefix(createdBy, "token:"); ok {
		t, raw, err := sessions.LoadToken(ctx, o, id)
		if err != nil {
			return nil, "creator_removed", core.NotFoundAs(err, nil)
		}
		if !s.env.Clock().Before(t.Expires) || !rbac.Allows(t.Role, joinTokenPermission) {
			return nil, "creator_lacks_permission", nil
		}
		req[sessions.TokenKey(id)] = raw
		userID = t.CreatedBy
		u, uraw, err := orgs.LoadUser(ctx, o, userID)
		if err != nil {
			return nil, "creator_removed", core.NotFoundAs(err, nil)
		}
		if !rbac.Covers(u.Role, t.Role) {
			return nil, "creator_lacks_permission", nil
		}
		req[orgs.UserKey(userID)] = uraw
		return req, "", nil
	}
	u, raw, err := orgs.LoadUser(ctx, o, userID)
	if err != nil {
		return nil, "creator_removed", core.NotFoundAs(err, nil)
	}
	if !rbac.Allows(u.Role, joinTokenPermission) {
		return nil, "creator_lacks_permission", nil
	}
	req[orgs.UserKey(userID)] = raw
	return req, "", nil
}

var errBadJoin = errs.New(errs.Unauthenticated, "join token is invalid, used or expired")

// Enroll enrols an agent with a join token and the agent's Ed25519 public
// key ("agent.enrolled"). The join token is burned by its first use,
// whatever the outcome; attempts are rate limited per source. A token
// whose creator has left the org, or may no longer create join tokens, is
// refused and burned; the enrolment commits only if the creator's records
// are still as they were checked.
func (s *Service) Enroll(ctx context.Context, join secret.String, pub []byte, hostname string) (org, agentID string, err error) {
	if !s.throttle.AllowGuess(ctx, "enroll") {
		return "", "", errs.RateLimited
	}
	kind, orgID, hash, perr := token.Parse(join.Reveal())
	if perr != nil || kind != token.Join {
		return "", "", errBadJoin
	}
	o, err := s.env.Store.Org(orgID)
	if err != nil {
		return "", "", errBadJoin
	}
	id := token.ID(hash)
	key := prefixJoin + id
	var jr joinRecord
	raw, err := o.GetJSON(ctx, key, &jr)
	if err != nil {
		return "", "", core.NotFoundAs(err, errBadJoin)
	}
	stored, derr := hex.DecodeString(jr.Hash)
	if derr != nil || len(stored) != len(hash) || !token.Equal(hash, [32]byte(stored)) {
		return "", "", errBadJoin
	}
	fail := func(reason string) error {
		// Burn the token, and record why it was refused.
		_, err := o.Commit(ctx, ledger.AckDurable, store.Change{
			Event:   core.NewEvent(ctx, ec.AgentEnrolRefused, ec.Anonymous, "jointoken:"+id, map[string]any{"reason": reason, "source": core.RequestInfoFrom(ctx).Source}),
			Require: map[string][]byte{key: raw},
			Delete:  []string{key},
		})
		if err != nil {
			return core.NotFoundAs(core.Conflict(err), errBadJoin)
		}
		return errBadJoin
	}
	if !s.env.Clock().Before(jr.Expires) {
		return "", "", fail("expired")
	}
	creator, reason, err := s.joinCreatorHolds(ctx, o, jr.CreatedBy)
	if err != nil {
		return "", "", err
	}
	if reason != "" {
		return "", "", fail(reason)
	}
	if len(pub) != ed25519.PublicKeySize {
		if err := fail("bad_public_key"); !errors.Is(err, errBadJoin) {
			return "", "", err
		}
		return "", "", core.Invalid("public_key must be a %d-byte Ed25519 public key; the join token is now used up", ed25519.PublicKeySize)
	}
	if err := core.ValidateText("hostname", hostname, 253, true); err != nil {
		_ = fail("bad_hostname")
		return "", "", err
	}
	a := Agent{ID: core.NewID("g"), Hostname: hostname, State: AgentActive, PublicKey: pub, Enrolled: s.env.Now()}
	creator[key] = raw
	creator[prefixAgent+a.ID] = nil
	if _, err := o.Commit(ctx, ledger.AckDurable, store.Change{
		Event: core.NewEvent(ctx, ec.AgentEnrolled, "agent:"+a.ID, "agent:"+a.ID, map[string]any{
			"hostname": hostname, "public_key": base64.StdEncoding.EncodeToString(pub), "join_token": id,
			"join_token_created_by": jr.CreatedBy, "source": core.RequestInfoFrom(ctx).Source,
		}),
		Require: creator,
		Put:     map[string]any{prefixAgent + a.ID: a},
		Delete:  []string{key},
	}); err != nil {
		return "", "", core.NotFoundAs(core.Conflict(err), errBadJoin)
	}
	return orgID, a.ID, nil
}

var errBadAgent = errs.New(errs.Unauthenticated, "unknown or decommissioned agent, or a bad signature")

// Challenge returns a fresh, single-use challenge for an agent's token
// request.
func (s *Service) Challenge(ctx context.Context, orgID, agentID string) ([]byte, time.Time, error) {
	if !s.throttle.AllowGuess(ctx, "agent") {
		return nil, time.Time{}, errs.RateLimited
	}
	if core.ValidateOrgID(orgID) != nil || core.ValidateID("agent_id", agentID) != nil {
		return nil, time.Time{}, errBadAgent
	}
	o, err := s.env.Store.Org(orgID)
	if err != nil {
		return nil, time.Time{}, errBadAgent
	}
	a, _, err := s.agent(ctx, o, agentID)
	if err != nil || a.State != AgentActive {
		return nil, time.Time{}, core.NotFoundAs(err, errBadAgent)
	}
	c := challenge{value: make([]byte, 32), expires: s.env.Clock().Add(ChallengeTTL)}
	rand.Read(c.value)
	s.hub.mu.Lock()
	k := hubKey(orgID, agentID)
	cs := append(s.hub.challenges[k], c)
	if len(cs) > maxChallenges {
		cs = cs[len(cs)-maxChallenges:]
	}
	s.hub.challenges[k] = cs
	s.hub.mu.Unlock()
	return c.value, c.expires, nil
}

// AgentToken issues an access token for a challenge signed with the
// agent's key ("agent.token.issued"). The challenge is used up either
// way. Older tokens beyond the last two stop working.
func (s *Service) AgentToken(ctx context.Context, orgID, agentID string, chal, sig []byte) (secret.String, time.Time, error) {
	if core.ValidateOrgID(orgID) != nil || core.ValidateID("agent_id", agentID) != nil {
		return secret.String{}, time.Time{}, errBadAgent
	}
	// The challenge answered is used up, whatever comes next.
	s.hub.mu.Lock()
	k := hubKey(orgID, agentID)
	var c challenge
	ok := false
	cs := s.hub.challenges[k]
	for i := range cs {
		if token.Equal(sha256.Sum256(chal), sha256.Sum256(cs[i].value)) {
			c, ok = cs[i], true
			s.hub.challenges[k] = slices.Delete(cs, i, i+1)
			break
		}
	}
	if len(s.hub.challenges[k]) == 0 {
		delete(s.hub.challenges, k)
	}
	s.hub.mu.Unlock()
	now := s.env.Clock()
	if !ok || !now.Before(c.expires) {
		return secret.String{}, time.Time{}, errs.New(errs.Unauthenticated, "the challenge is unknown, used or expired; get a new one")
	}
	o, err := s.env.Store.Org(orgID)
	if err != nil {
		return secret.String{}, time.Time{}, errBadAgent
	}
	a, raw, err := s.agent(ctx, o, agentID)
	if err != nil || a.State != AgentActive {
		return secret.String{}, time.Time{}, core.NotFoundAs(err, errBadAgent)
	}
	if !ed25519.Verify(a.PublicKey, agentsig.TokenRequest(orgID, agentID, chal), sig) {
		return secret.String{}, time.Time{}, errBadAgent
	}
	tok, hash, err := token.New(token.Agent, orgID)
	if err != nil {
		return secret.String{}, time.Time{}, err
	}
	h := hex.EncodeToString(hash[:])
	exp := now.UTC().Add(AgentTokenTTL)
	a.Tokens = append(a.Tokens, h)
	var drop []string
	for len(a.Tokens) > agentTokensKept {
		drop = append(drop, prefixAgentTok+a.Tokens[0])
		a.Tokens = a.Tokens[1:]
	}
	if _, err := o.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   core.NewEvent(ctx, ec.AgentTokenIssued, "agent:"+a.ID, "agent:"+a.ID, map[string]any{"token_id": token.ID(hash), "expires": exp}),
		Require: map[string][]byte{prefixAgent + a.ID: raw, prefixAgentTok + h: nil},
		Put:     map[string]any{prefixAgent + a.ID: a, prefixAgentTok + h: agentTokenRecord{AgentID: a.ID, Expires: exp}},
		Delete:  drop,
	}); err != nil {
		return secret.String{}, time.Time{}, core.Conflict(err)
	}
	s.seen(orgID, agentID)
	return secret.New(tok), exp, nil
}

type agentTokenRecord struct {
	AgentID string    `json:"agent_id"`
	Expires time.Time `json:"expires"`
}

func (s *Service) seen(org, agent string) {
	s.hub.mu.Lock()
	s.hub.seen[hubKey(org, agent)] = s.env.Now()
	s.hub.mu.Unlock()
}

// Authenticate returns the principal of an agent access token of o's org
// with hex SHA-256 h: valid only while unexpired, among the agent's
// current tokens, and the agent active; unauth is the one refusal.
func (s *Service) Authenticate(ctx context.Context, o store.Org, h string, unauth error) (*core.Principal, error) {
	var t agentTokenRecord
	traw, err := o.GetJSON(ctx, prefixAgentTok+h, &t)
	if err != nil {
		return nil, core.NotFoundAs(err, unauth)
	}
	if !s.env.Clock().Before(t.Expires) {
		return nil, unauth
	}
	a, _, err := s.agent(ctx, o, t.AgentID)
	if err != nil || a.State != AgentActive || !slices.Contains(a.Tokens, h) {
		return nil, core.NotFoundAs(err, unauth)
	}
	s.seen(o.ID(), a.ID)
	// Decommissioning and token renewal delete the token's record, so
	// holding it holds the enrolment too.
	return core.Authenticated(core.Principal{Org: o.ID(), AgentID: a.ID, Role: rbac.Agent, Expires: t.Expires},
		core.Credential{Org: o, AgentToken: h, Holds: []store.Hold{core.CredentialHold(prefixAgentTok+h, traw)}}), nil
}

// AgentActive reports whether the principal's agent is still active and
// its token still valid (unexpired, among the agent's current tokens):
// its task stream ends when not.
func (s *Service) AgentActive(ctx context.Context, p *core.Principal) bool {
	a, _, err := s.agent(ctx, s.env.OrgOf(p), p.AgentID)
	return err == nil && a.State == AgentActive && s.env.Clock().Before(p.Expires) && slices.Contains(a.Tokens, p.AgentToken())
}

// Wake returns the channel that signals news for the principal's agent.
func (s *Service) Wake(p *core.Principal) <-chan struct{} { return s.hub.channel(p.Org, p.AgentID) }

// Heartbeat records that the agent is alive.
func (s *Service) Heartbeat(p *core.Principal) { s.seen(p.Org, p.AgentID) }

// GetAgent returns an agent of the principal's org.
func (s *Service) GetAgent(ctx context.Context, p *core.Principal, id string) (Agent, error) {
	a, _, err := s.agent(ctx, s.env.OrgOf(p), id)
	return a, err
}

// ListAgents lists the org's agents.
func (s *Service) ListAgents(ctx context.Context, p *core.Principal, size int32, pageToken string) ([]Agent, string, error) {
	return core.ListPage(ctx, s.env.OrgOf(p), prefixAgent, size, pageToken, func(a *Agent) Agent {
		s.hub.mu.Lock()
		a.LastSeen = s.hub.seen[hubKey(p.Org, a.ID)]
		s.hub.mu.Unlock()
		return *a
	})
}

// DecommissionAgent revokes every token of an agent at once and closes
// its task stream ("agent.decommissioned").
func (s *Service) DecommissionAgent(ctx context.Context, p *core.Principal, id string) (Agent, error) {
	o := s.env.OrgOf(p)
	a, raw, err := s.agent(ctx, o, id)
	if err != nil {
		return Agent{}, err
	}
	if a.State == AgentDecommissioned {
		return a, nil
	}
	var del []string
	for _, h := range a.Tokens {
		del = append(del, prefixAgentTok+h)
	}
	revoked := len(a.Tokens)
	a.State, a.Tokens = AgentDecommissioned, nil
	if _, err := o.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   core.NewEvent(ctx, ec.AgentDecommissioned, p.Actor(), "agent:"+a.ID, map[string]any{"tokens_revoked": revoked}),
		Require: map[string][]byte{prefixAgent + a.ID: raw},
		Put:     map[string]any{prefixAgent + a.ID: a},
		Delete:  del,
	}); err != nil {
		return Agent{}, core.Conflict(err)
	}
	s.hub.notify(p.Org, a.ID)
	return a, nil
}

func validateTarget(collector, target string) error {
	switch collector {
	case "file":
		if !strings.HasPrefix(target, "/") || len(target) > 4096 || strings.ContainsRune(target, 0) {
			return core.Invalid("target of the file collector must be an absolute path")
		}
	case "command":
		if err := core.ValidateText("target", target, 64, true); err != nil {
			return err
		}
	default:
		if target != "" {
			return core.Invalid("the %s collector takes no target", collector)
		}
	}
	return core.ValidateText("target", target, 4096, false)
}

// CreateTask asks an agent to run a collector ("agent.task.created").
func (s *Service) CreateTask(ctx context.Context, p *core.Principal, agentID, collector, target string) (Task, error) {
	if !slices.Contains(Collectors, collector) {
		return Task{}, core.Invalid("collector must be one of %s", strings.Join(Collectors, ", "))
	}
	if err := validateTarget(collector, target); err != nil {
		return Task{}, err
	}
	o := s.env.OrgOf(p)
	a, raw, err := s.agent(ctx, o, agentID)
	if err != nil {
		return Task{}, err
	}
	if a.State != AgentActive {
		return Task{}, errs.New(errs.Precondition, "agent %s is decommissioned", a.ID)
	}
	t := Task{ID: core.NewID("t"), AgentID: a.ID, Collector: collector, Target: target, State: TaskPending, Created: s.env.Now()}
	if _, err := o.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   core.NewEvent(ctx, ec.AgentTaskCreated, p.Actor(), "agent:"+a.ID, map[string]any{"task_id": t.ID, "collector": collector, "target": target}),
		Require: map[string][]byte{prefixAgent + a.ID: raw, prefixTask + t.ID: nil},
		Put:     map[string]any{prefixTask + t.ID: t, prefixOpenTask + a.ID + "/" + t.ID: []byte{}},
	}); err != nil {
		return Task{}, core.Conflict(err)
	}
	s.hub.notify(p.Org, a.ID)
	return t, nil
}

func (s *Service) task(ctx context.Context, o store.Org, id string) (Task, []byte, error) {
	if err := core.ValidateID("task_id", id); err != nil {
		return Task{}, nil, err
	}
	var t Task
	raw, err := o.GetJSON(ctx, prefixTask+id, &t)
	if err != nil {
		return Task{}, nil, core.NotFoundAs(err, errs.New(errs.NotFound, "task"))
	}
	return t, raw, nil
}

// GetTask returns a task of the principal's org.
func (s *Service) GetTask(ctx context.Context, p *core.Principal, id string) (Task, error) {
	t, _, err := s.task(ctx, s.env.OrgOf(p), id)
	return t, err
}

// agentTask returns a task of the principal agent; another agent's task
// is NotFound.
func (s *Service) agentTask(ctx context.Context, p *core.Principal, id string) (Task, []byte, error) {
	t, raw, err := s.task(ctx, s.env.OrgOf(p), id)
	if err == nil && t.AgentID != p.AgentID {
		return Task{}, nil, errs.New(errs.NotFound, "task")
	}
	return t, raw, err
}

// OpenTasks returns the agent's unfinished tasks, oldest first, marking
// pending ones delivered ("agent.task.delivered"). Delivered ones come
// again after a reconnect: the agent's journal keeps it from running one
// twice, and the gateway records each result once.
func (s *Service) OpenTasks(ctx context.Context, p *core.Principal) ([]Task, error) {
	o := s.env.OrgOf(p)
	var ids []string
	pre := prefixOpenTask + p.AgentID + "/"
	if err := o.Scan(ctx, pre, "", func(k string, _ []byte) bool {
		ids = append(ids, k[len(pre):])
		return true
	}); err != nil {
		return nil, err
	}
	var out []Task
	for _, id := range ids {
		t, raw, err := s.task(ctx, o, id)
		if err != nil {
			return nil, err
		}
		if t.State == TaskPending {
			t.State = TaskDelivered
			if _, err := o.Commit(ctx, ledger.AckDurable, store.Change{
				Event:   core.NewEvent(ctx, ec.AgentTaskDelivered, "agent:"+p.AgentID, "agent:"+p.AgentID, map[string]any{"task_id": t.ID}),
				Require: map[string][]byte{prefixTask + t.ID: raw},
				Put:     map[string]any{prefixTask + t.ID: t},
			}); err != nil {
				return nil, core.Conflict(err)
			}
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Task) int { return a.Created.Compare(b.Created) })
	return out, nil
}

// EvidenceItem is one item an agent submits.
type EvidenceItem struct {
	Collector string
	Target    string
	Content   []byte
	SHA256    []byte
	Collected time.Time
	Scrubbed  []string
	Signature []byte
}

// SubmitEvidence checks and records a task's evidence. The gateway
// recomputes each item's hash and verifies the agent's signature; a
// mismatch refuses the whole submission and is recorded
// ("evidence.rejected"). Accepted items are stored by hash with an
// "evidence.recorded" event; an item the task already has is not
// recorded twice.
func (s *Service) SubmitEvidence(ctx context.Context, p *core.Principal, taskID string, items []EvidenceItem) ([]string, error) {
	if len(items) == 0 || len(items) > MaxEvidenceItems {
		return nil, core.Invalid("items must hold 1 to %d items", MaxEvidenceItems)
	}
	o := s.env.OrgOf(p)
	t, raw, err := s.agentTask(ctx, p, taskID)
	if err != nil {
		return nil, err
	}
	if t.State != TaskDelivered && t.State != TaskPending {
		return nil, errs.New(errs.Precondition, "task %s is %s", t.ID, t.State)
	}
	a, _, err := s.agent(ctx, o, p.AgentID)
	if err != nil {
		return nil, err
	}
	reject := func(i int, reason string, claimed []byte) error {
		s.env.Counters.EvidenceRejected.Add(1)
		_, err := o.Commit(ctx, ledger.AckDurable, store.Change{
			Event: core.NewEvent(ctx, ec.EvidenceRejected, "agent:"+a.ID, "agent:"+a.ID, map[string]any{
				"task_id": t.ID, "item": i, "reason": reason, "claimed_sha256": hex.EncodeToString(claimed),
			}),
		})
		if err != nil {
			return err
		}
		return errs.New(errs.Permission, "items[%d]: %s; the evidence was refused and the refusal recorded", i, reason)
	}
	for i, it := range items {
		if len(it.Content) > MaxEvidenceSize {
			return nil, core.Invalid("items[%d].content is %d bytes, limit %d", i, len(it.Content), MaxEvidenceSize)
		}
		if it.Collector != t.Collector || it.Target != t.Target {
			return nil, core.Invalid("items[%d] is for collector %q target %q, the task asked for %q %q", i, it.Collector, it.Target, t.Collector, t.Target)
		}
		for _, k := range it.Scrubbed {
			if k == "" || len(k) > 32 || strings.Trim(k, "abcdefghijklmnopqrstuvwxyz_") != "" {
				return nil, core.Invalid("items[%d].scrubbed: %q is not a scrub kind ([a-z_]{1,32})", i, k)
			}
		}
		sum := sha256.Sum256(it.Content)
		if len(it.SHA256) != sha256.Size || !token.Equal(sum, [32]byte(it.SHA256)) {
			return nil, reject(i, "content does not match its sha256", it.SHA256)
		}
		payload := agentsig.Evidence(p.Org, a.ID, t.ID, it.Collector, it.Target, it.Collected, it.SHA256, it.Scrubbed)
		if !ed25519.Verify(a.PublicKey, payload, it.Signature) {
			return nil, reject(i, "signature does not verify with the agent's enrolled key", it.SHA256)
		}
	}
	// Collection times are the agent's word, bounded by the server's
	// clock: not before the task existed, not in the future, each give
	// or take MaxClockSkew.
	now := s.env.Clock()
	earliest, latest := t.Created.Add(-MaxClockSkew), now.Add(MaxClockSkew)
	for i, it := range items {
		if it.Collected.Before(earliest) || it.Collected.After(latest) {
			return nil, core.Invalid("items[%d].collected_time %s is outside the allowed window [task created - %s, server time + %s] = [%s, %s]",
				i, it.Collected.UTC().Format(time.RFC3339), MaxClockSkew, MaxClockSkew, earliest.UTC().Format(time.RFC3339), latest.UTC().Format(time.RFC3339))
		}
	}
	var recorded []string
	var changes []store.Change
	for _, it := range items {
		h := hex.EncodeToString(it.SHA256)
		recorded = append(recorded, h)
		if slices.Contains(t.Evidence, h) {
			continue
		}
		// The task's totals are checked against the task as read, and
		// the commit requires it unchanged: concurrent submissions
		// cannot together pass the limits.
		if len(t.Evidence)+1 > MaxTaskEvidenceItems {
			return nil, errs.New(errs.LimitExceeded, "task %s would hold more than %d evidence items (limit per task)", t.ID, MaxTaskEvidenceItems)
		}
		if t.EvidenceBytes+int64(len(it.Content)) > MaxTaskEvidenceBytes {
			return nil, errs.New(errs.LimitExceeded, "task %s would hold more than %d bytes of evidence (limit per task)", t.ID, MaxTaskEvidenceBytes)
		}
		t.Evidence = append(t.Evidence, h)
		t.EvidenceBytes += int64(len(it.Content))
		changes = append(changes, store.Change{
			Event: core.NewEvent(ctx, ec.EvidenceRecorded, "agent:"+a.ID, "agent:"+a.ID, map[string]any{
				"task_id": t.ID, "collector": it.Collector, "target": it.Target, "sha256": h, "size": len(it.Content),
				"collected_time": it.Collected.UTC(), "scrubbed": it.Scrubbed, "signature": base64.StdEncoding.EncodeToString(it.Signature),
			}),
			Put: map[string]any{prefixEvidenceB + h: it.Content},
		})
	}
	if len(changes) == 0 {
		return recorded, nil
	}
	changes[0].Require = map[string][]byte{prefixTask + t.ID: raw}
	changes[len(changes)-1].Put[prefixTask+t.ID] = t
	if _, err := o.Commit(ctx, ledger.AckDurable, changes...); err != nil {
		return nil, core.Conflict(err)
	}
	return recorded, nil
}

// CompleteTask ends a task of the principal agent ("agent.task.completed");
// completing it again changes nothing.
func (s *Service) CompleteTask(ctx context.Context, p *core.Principal, taskID string, ok bool, detail string) error {
	if err := core.ValidateText("detail", detail, 1000, false); err != nil {
		return err
	}
	t, raw, err := s.agentTask(ctx, p, taskID)
	if err != nil {
		return err
	}
	if t.State == TaskSucceeded || t.State == TaskFailed {
		return nil
	}
	t.State, t.Detail, t.Completed = TaskFailed, detail, s.env.Now()
	if ok {
		t.State = TaskSucceeded
	}
	_, err = s.env.OrgOf(p).Commit(ctx, ledger.AckDurable, store.Change{
		Event:   core.NewEvent(ctx, ec.AgentTaskCompleted, "agent:"+p.AgentID, "agent:"+p.AgentID, map[string]any{"task_id": t.ID, "state": t.State, "detail": detail, "evidence": t.Evidence}),
		Require: map[string][]byte{prefixTask + t.ID: raw},
		Put:     map[string]any{prefixTask + t.ID: t},
		Delete:  []string{prefixOpenTask + p.AgentID + "/" + t.ID},
	})
	return core.Conflict(err)
}
