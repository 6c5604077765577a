package agents_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/governance/agents"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/internal/domaintest"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/sessions"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/governance/token"
	"github.com/nuxari/nuxari/internal/agentsig"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/internal/secret"
)

// env is one test's domain: agents, with the orgs and sessions features
// for the people who manage them.
type env struct {
	*domaintest.People
	agents *agents.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	p := domaintest.NewPeople(t, orgs.Config{}, sessions.Config{})
	return &env{People: p, agents: agents.New(p.F.Env, p.Throttle)}
}

func (e *env) join(t *testing.T, p *core.Principal, ttl time.Duration) (secret.String, agents.JoinToken) {
	t.Helper()
	tok, jt, err := e.agents.CreateJoinToken(domaintest.Ctx(), p, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok, jt
}

// agent is an enrolled agent and its key.
type agent struct {
	org, id string
	key     ed25519.PrivateKey
}

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, key
}

// enroll enrols an agent with a join token made by p.
func (e *env) enroll(t *testing.T, p *core.Principal) *agent {
	t.Helper()
	join, _ := e.join(t, p, 0)
	pub, key := newKey(t)
	org, id, err := e.agents.Enroll(domaintest.Ctx(), join, pub, "host-1.example")
	if err != nil {
		t.Fatal(err)
	}
	if org != p.Org {
		t.Fatalf("enrolled in %q, want %q", org, p.Org)
	}
	return &agent{org: org, id: id, key: key}
}

// token gets an access token for a with a signed challenge.
func (e *env) token(t *testing.T, a *agent) secret.String {
	t.Helper()
	ch, _, err := e.agents.Challenge(domaintest.Ctx(), a.org, a.id)
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := e.agents.AgentToken(domaintest.Ctx(), a.org, a.id, ch, ed25519.Sign(a.key, agentsig.TokenRequest(a.org, a.id, ch)))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// auth authenticates an agent's access token as the wiring does: its
// hash, looked up in the org the token names (a person's token: Auth).
func (e *env) auth(t *testing.T, tok secret.String) (*core.Principal, error) {
	t.Helper()
	kind, org, hash, err := token.Parse(tok.Reveal())
	if err != nil || kind != token.Agent {
		t.Fatalf("not an agent token: %v", err)
	}
	return e.agents.Authenticate(domaintest.Ctx(), e.F.Org(t, org), hex.EncodeToString(hash[:]), domaintest.ErrUnauth)
}

// principal authenticates a fresh access token of a.
func (e *env) principal(t *testing.T, a *agent) *core.Principal {
	t.Helper()
	p, err := e.auth(t, e.token(t, a))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// events returns org's events of typ: their data, with the actor and
// subject as "_actor" and "_subject".
func (e *env) events(t *testing.T, org, typ string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ev := range e.F.EventsOfType(t, org, typ) {
		d := map[string]any{}
		if len(ev.Raw) > 0 {
			if err := json.Unmarshal(ev.Raw, &d); err != nil {
				t.Fatal(err)
			}
		}
		d["_actor"], d["_subject"] = ev.Actor, ev.Subject
		out = append(out, d)
	}
	return out
}

func (e *env) count(t *testing.T, org, typ string) int { return len(e.F.EventsOfType(t, org, typ)) }

func TestJoinTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := domaintest.Ctx()
	owner := e.CreateOrg(t, "acme")
	other := e.CreateOrg(t, "globex")

	for _, ttl := range []time.Duration{-time.Minute, time.Minute - time.Second, agents.MaxJoinTokenTTL + time.Second} {
		_, _, err := e.agents.CreateJoinToken(ctx, owner, ttl)
		domaintest.WantKind(t, fmt.Sprintf("ttl %s", ttl), err, errs.InvalidArgument)
	}
	now := e.F.Clock.Now()
	tok1, j1 := e.join(t, owner, 0)
	_, j2 := e.join(t, owner, agents.MaxJoinTokenTTL)
	_, j3 := e.join(t, owner, time.Minute)
	if !j1.Expires.Equal(now.Add(agents.DefaultJoinTokenTTL)) || !j2.Expires.Equal(now.Add(agents.MaxJoinTokenTTL)) ||
		!j3.Expires.Equal(now.Add(time.Minute)) || j1.CreatedBy != owner.Actor() || !j1.Created.Equal(now) {
		t.Fatalf("join tokens: %+v %+v %+v", j1, j2, j3)
	}
	kind, org, hash, err := token.Parse(tok1.Reveal())
	if err != nil || kind != token.Join || org != "acme" || token.ID(hash) != j1.ID {
		t.Fatalf("join token %q: kind %q org %q ID %s, %v", tok1.Reveal(), kind, org, token.ID(hash), err)
	}
	if got := e.events(t, "acme", ec.AgentJoinTokenCreated); len(got) != 3 || got[0]["_subject"] != "jointoken:"+j1.ID || got[0]["_actor"] != owner.Actor() {
		t.Fatalf("created events: %v", got)
	}

	list := func(p *core.Principal) []string {
		var ids []string
		tok := ""
		for {
			jts, next, err := e.agents.ListJoinTokens(ctx, p, 1, tok)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range jts {
				ids = append(ids, j.ID)
			}
			if next == "" {
				return ids
			}
			tok = next
		}
	}
	want := []string{j1.ID, j2.ID, j3.ID}
	slices.Sort(want)
	if got := list(owner); !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	if got := list(other); len(got) != 0 {
		t.Fatalf("globex lists acme's join tokens: %v", got)
	}

	// Another org cannot revoke acme's token; a malformed ID is refused.
	domaintest.WantKind(t, "globex revokes acme's join token", e.agents.RevokeJoinToken(ctx, other, j1.ID), errs.NotFound)
	domaintest.WantKind(t, "malformed ID", e.agents.RevokeJoinToken(ctx, owner, "NOT-AN-ID"), errs.InvalidArgument)
	domaintest.WantKind(t, "unknown ID", e.agents.RevokeJoinToken(ctx, owner, strings.Repeat("0", 24)), errs.NotFound)
	if err := e.agents.RevokeJoinToken(ctx, owner, j1.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.events(t, "acme", ec.AgentJoinTokenRevoked); len(got) != 1 || got[0]["_subject"] != "jointoken:"+j1.ID {
		t.Fatalf("revoked events: %v", got)
	}
	domaintest.WantKind(t, "revoke twice", e.agents.RevokeJoinToken(ctx, owner, j1.ID), errs.NotFound)
	if got := list(owner); slices.Contains(got, j1.ID) || len(got) != 2 {
		t.Fatalf("listed after revocation: %v", got)
	}
	// A revoked token enrols nothing.
	pub, _ := newKey(t)
	_, _, err = e.agents.Enroll(ctx, tok1, pub, "host")
	domaintest.WantKind(t, "enrol with a revoked token", err, errs.Unauthenticated)
}

func TestEnroll(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := domaintest.Ctx()
	owner := e.CreateOrg(t, "acme")
	e.CreateOrg(t, "globex")

	join, jt := e.join(t, owner, 0)
	pub, _ := newKey(t)
	org, id, err := e.agents.Enroll(ctx, join, pub, "web-1.example")
	if err != nil || org != "acme" {
		t.Fatalf("enrol: %q %q %v", org, id, err)
	}
	a, err := e.agents.GetAgent(ctx, owner, id)
	if err != nil || a.ID != id || a.State != agents.AgentActive || a.Hostname != "web-1.example" || !bytes.Equal(a.PublicKey, pub) || !a.Enrolled.Equal(e.F.Clock.Now()) {
		t.Fatalf("agent: %+v %v", a, err)
	}
	got := e.events(t, "acme", ec.AgentEnrolled)
	if len(got) != 1 || got[0]["_actor"] != "agent:"+id || got[0]["join_token"] != jt.ID || got[0]["join_token_created_by"] != owner.Actor() || got[0]["source"] != "192.0.2.1" {
		t.Fatalf("enrolled events: %v", got)
	}
	// The token is burned by its first use.
	pub2, _ := newKey(t)
	_, _, err = e.agents.Enroll(ctx, join, pub2, "web-2.example")
	domaintest.WantKind(t, "second use of a join token", err, errs.Unauthenticated)
	if jts, _, _ := e.agents.ListJoinTokens(ctx, owner, 0, ""); len(jts) != 0 {
		t.Fatalf("join tokens left: %v", jts)
	}
	if n := e.count(t, "acme", ec.AgentEnrolled); n != 1 {
		t.Fatalf("%d enrolments", n)
	}

	// Malformed tokens, tokens of another kind or naming another org.
	body := strings.SplitN(join.Reveal(), ".", 3)[2]
	fresh, _ := e.join(t, owner, 0)
	fbody := strings.SplitN(fresh.Reveal(), ".", 3)[2]
	for _, bad := range []string{"", "nxj", "nxj.acme.short", "nxg.acme." + fbody, "nxs.acme." + fbody, "nxj.globex." + fbody, "nxj.nosuch." + fbody, "nxj.acme." + body} {
		_, _, err := e.agents.Enroll(ctx, secret.New(bad), pub2, "h")
		domaintest.WantKind(t, fmt.Sprintf("enrol with %q", bad), err, errs.Unauthenticated)
	}
	// None of those used the fresh token up.
	if _, _, err := e.agents.Enroll(ctx, fresh, pub2, "web-2.example"); err != nil {
		t.Fatalf("the fresh token after the bad attempts: %v", err)
	}

	// Refusals burn the token and are recorded with their reason.
	refusals := 0
	refused := func(what, reason string, join secret.String, pub []byte, host string, kind error) {
		t.Helper()
		_, _, err := e.agents.Enroll(ctx, join, pub, host)
		domaintest.WantKind(t, what, err, kind)
		refusals++
		got := e.events(t, "acme", ec.AgentEnrolRefused)
		if len(got) != refusals || got[refusals-1]["reason"] != reason || got[refusals-1]["_actor"] != ec.Anonymous {
			t.Fatalf("%s: refusal events %v, want reason %q", what, got, reason)
		}
		_, _, err = e.agents.Enroll(ctx, join, pub2, "web-3.example")
		domaintest.WantKind(t, what+", then a good attempt", err, errs.Unauthenticated)
		if n := len(e.events(t, "acme", ec.AgentEnrolRefused)); n != refusals {
			t.Fatalf("%s: a used-up token's attempt recorded another refusal", what)
		}
	}
	j, _ := e.join(t, owner, 0)
	refused("short public key", "bad_public_key", j, pub2[:31], "h", errs.InvalidArgument)
	j, _ = e.join(t, owner, 0)
	refused("no hostname", "bad_hostname", j, pub2, "", errs.InvalidArgument)
	j, _ = e.join(t, owner, 0)
	refused("control character in hostname", "bad_hostname", j, pub2, "a\nb", errs.InvalidArgument)
	j, _ = e.join(t, owner, time.Minute)
	e.F.Clock.Advance(time.Minute)
	refused("expired", "expired", j, pub2, "h", errs.Unauthenticated)
	if n := e.count(t, "acme", ec.AgentEnrolled); n != 2 {
		t.Fatalf("%d enrolments, want 2", n)
	}
}

// TestEnrollNeedsTheCreatorsAuthority: a join token works only while its
// creator may still make one: a member whose role grants it, or an API
// token still valid and covered by its creator.
func TestEnrollNeedsTheCreatorsAuthority(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := domaintest.Ctx()
	owner := e.CreateOrg(t, "acme")
	pub, _ := newKey(t)

	refusals := 0
	refused := func(what string, join secret.String, reason string) {
		t.Helper()
		_, _, err := e.agents.Enroll(ctx, join, pub, "h")
		domaintest.WantKind(t, what, err, errs.Unauthenticated)
		refusals++
		got := e.events(t, "acme", ec.AgentEnrolRefused)
		if len(got) != refusals || got[refusals-1]["reason"] != reason {
			t.Fatalf("%s: refusal events %v, want reason %q", what, got, reason)
		}
		if jts, _, _ := e.agents.ListJoinTokens(ctx, owner, 0, ""); slices.ContainsFunc(jts, func(j agents.JoinToken) bool {
			_, _, h, _ := token.Parse(join.Reveal())
			return j.ID == token.ID(h)
		}) {
			t.Fatalf("%s: the refused token is still listed", what)
		}
	}

	admin := e.AddMember(t, owner, "admin@acme.example", rbac.Admin)
	demoted, _ := e.join(t, admin, 0)
	kept, _ := e.join(t, admin, 0)
	if _, err := e.Orgs.SetMemberRole(ctx, owner, admin.UserID, rbac.Auditor); err != nil {
		t.Fatal(err)
	}
	refused("creator demoted", demoted, "creator_lacks_permission")
	// Promoted again, the creator's other token works.
	if _, err := e.Orgs.SetMemberRole(ctx, owner, admin.UserID, rbac.Admin); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.agents.Enroll(ctx, kept, pub, "h"); err != nil {
		t.Fatalf("token of a creator promoted again: %v", err)
	}

	removed, _ := e.join(t, admin, 0)
	if err := e.Orgs.RemoveMember(ctx, owner, admin.UserID); err != nil {
		t.Fatal(err)
	}
	refused("creator removed", removed, "creator_removed")

	// Made with an API token.
	admin2 := e.AddMember(t, owner, "admin2@acme.example", rbac.Admin)
	viaToken := func() (*core.Principal, string) {
		t.Helper()
		at, _, err := e.Sessions.CreateAPIToken(ctx, admin2, "ci", rbac.Admin, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		p := *admin2
		p.TokenID = at.ID
		return &p, at.ID
	}
	tp, tid := viaToken()
	revoked, jt := e.join(t, tp, 0)
	if jt.CreatedBy != "token:"+tid {
		t.Fatalf("created by %q", jt.CreatedBy)
	}
	if err := e.Sessions.RevokeAPIToken(ctx, owner, tid); err != nil {
		t.Fatal(err)
	}
	refused("creator's API token revoked", revoked, "creator_removed")

	tp, _ = viaToken()
	expired, _ := e.join(t, tp, 2*time.Hour)
	e.F.Clock.Advance(time.Hour)
	refused("creator's API token expired", expired, "creator_lacks_permission")

	// A token whose role lacks the permission (made by a tool: the API
	// refuses such a call before the domain sees it).
	ro, _, err := e.Sessions.CreateAPIToken(ctx, admin2, "ro", rbac.Readonly, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rop := *admin2
	rop.TokenID, rop.Role = ro.ID, rbac.Readonly
	lacking, _ := e.join(t, &rop, 0)
	refused("creator's API token lacks the permission", lacking, "creator_lacks_permission")

	// Demoting the token's creator revokes it, for good.
	tp, _ = viaToken()
	uncovered, _ := e.join(t, tp, 0)
	if _, err := e.Orgs.SetMemberRole(ctx, owner, admin2.UserID, rbac.Auditor); err != nil {
		t.Fatal(err)
	}
	refused("creator of the API token demoted", uncovered, "creator_removed")
	if _, err := e.Orgs.SetMemberRole(ctx, owner, admin2.UserID, rbac.Admin); err != nil {
		t.Fatal(err)
	}
	tp, _ = viaToken()
	good, _ := e.join(t, tp, 0)
	if _, _, err := e.agents.Enroll(ctx, good, pub, "h"); err != nil {
		t.Fatalf("token made with a valid API token: %v", err)
	}
}

func TestAgentTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := domaintest.Ctx()
	owner := e.CreateOrg(t, "acme")
	a := e.enroll(t, owner)
	b := e.enroll(t, owner)
	tokB := e.token(t, b)

	ch, exp, err := e.agents.Challenge(ctx, a.org, a.id)
	if err != nil || len(ch) != 32 || !exp.Equal(e.F.Clock.Now().Add(agents.ChallengeTTL)) {
		t.Fatalf("challenge: %x %s %v", ch, exp, err)
	}
	tok, texp, err := e.agents.AgentToken(ctx, a.org, a.id, ch, ed25519.Sign(a.key, agentsig.TokenRequest(a.org, a.id, ch)))
	if err != nil || !texp.Equal(e.F.Clock.Now().Add(agents.AgentTokenTTL)) {
		t.Fatalf("agent token: %s %v", texp, err)
	}
	p, err := e.auth(t, tok)
	if err != nil || p.Org != "acme" || p.AgentID != a.id || p.Role != rbac.Agent || p.UserID != "" || !p.Expires.Equal(texp) || p.Actor() != "agent:"+a.id {
		t.Fatalf("authenticate: %+v %v", p, err)
	}
	if !e.agents.AgentActive(ctx, p) {
		t.Fatal("agent not active")
	}
	if got := e.events(t, "acme", ec.AgentTokenIssued); len(got) != 2 || got[1]["_actor"] != "agent:"+a.id {
		t.Fatalf("issued events: %v", got)
	}
	// The challenge answered is used up.
	_, _, err = e.agents.AgentToken(ctx, a.org, a.id, ch, ed25519.Sign(a.key, agentsig.TokenRequest(a.org, a.id, ch)))
	domaintest.WantKind(t, "a challenge answered twice", err, errs.Unauthenticated)

	// Wrong signatures are refused, and use up the challenge.
	_, otherKey := newKey(t)
	for _, c := range []struct {
		name string
		sign func(ch []byte) []byte
	}{
		{"no signature", func([]byte) []byte { return nil }},
		{"random signature", func([]byte) []byte { s := make([]byte, ed25519.SignatureSize); rand.Read(s); return s }},
		{"another key", func(ch []byte) []byte { return ed25519.Sign(otherKey, agentsig.TokenRequest(a.org, a.id, ch)) }},
		{"another agent's key", func(ch []byte) []byte { return ed25519.Sign(b.key, agentsig.TokenRequest(a.org, a.id, ch)) }},
		{"signed for another agent", func(ch []byte) []byte { return ed25519.Sign(a.key, agentsig.TokenRequest(a.org, b.id, ch)) }},
		{"signed for another org", func(ch []byte) []byte { return ed25519.Sign(a.key, agentsig.TokenRequest("globex", a.id, ch)) }},
		{"signed over the raw challenge", func(ch []byte) []byte { return ed25519.Sign(a.key, ch) }},
		{"evidence signature", func(ch []byte) []byte {
			return ed25519.Sign(a.key, agentsig.Evidence(a.org, a.id, "t1", "users", "", e.F.Clock.Now(), ch, nil))
		}},
	} {
		ch, _, err := e.agents.Challenge(ctx, a.org, a.id)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = e.agents.AgentToken(ctx, a.org, a.id, ch, c.sign(ch))
		domaintest.WantKind(t, c.name, err, errs.Unauthenticated)
		_, _, err = e.agents.AgentToken(ctx, a.org, a.id, ch, ed25519.Sign(a.key, agentsig.TokenRequest(a.org, a.id, ch)))
		domaintest.WantKind(t, c.name+", then the right signature", err, errs.Unauthenticated)
	}
	// Another agent's challenge, another org, unknown agents.
	chB, _, _ := e.agents.Challenge(ctx, b.org, b.id)
	_, _, err = e.agents.AgentToken(ctx, a.org, a.id, chB, ed25519.Sign(a.key, agentsig.TokenRequest(a.org, a.id, chB)))
	domaintest.WantKind(t, "another agent's challenge", err, errs.Unauthenticated)
	for _, c := range []struct{ org, id string }{{"globex", a.id}, {"acme", "gnosuchagent0000"}, {"acme", "NOT AN ID"}, {"bad/org", a.id}} {
		_, _, err := e.agents.Challenge(ctx, c.org, c.id)
		domaintest.WantKind(t, fmt.Sprintf("challenge for %s/%s", c.org, c.id), err, errs.Unauthenticated)
	}
	// An expired challenge.
	ch, _, _ = e.agents.Challenge(ctx, a.org, a.id)
	e.F.Clock.Advance(agents.ChallengeTTL)
	_, _, err = e.agents.AgentToken(ctx, a.org, a.id, ch, ed25519.Sign(a.key, agentsig.TokenRequest(a.org, a.id, ch)))
	domaintest.WantKind(t, "an expired challenge", err, errs.Unauthenticated)
	// Outstanding challenges are bounded: the oldest is dropped.
	var chs [][]byte
	for range 9 {
		ch, _, err := e.agents.Challenge(ctx, a.org, a.id)
		if err != nil {
			t.Fatal(err)
		}
		chs = append(chs, ch)
	}
	_, _, err = e.agents.AgentToken(ctx, a.org, a.id, chs[0], ed25519.Sign(a.key, agentsig.TokenRequest(a.org, a.id, chs[0])))
	domaintest.WantKind(t, "the oldest of nine challenges", err, errs.Unauthenticated)
	tok2, _, err := e.agents.AgentToken(ctx, a.org, a.id, chs[1], ed25519.Sign(a.key, agentsig.TokenRequest(a.org, a.id, chs[1])))
	if err != nil {
		t.Fatalf("the second of nine challenges: %v", err)
	}

	// Only the two newest tokens are valid.
	tok3 := e.token(t, a)
	if _, err := e.auth(t, tok); !errors.Is(err, domaintest.ErrUnauth) {
		t.Fatalf("the third newest token: %v", err)
	}
	if e.agents.AgentActive(ctx, p) {
		t.Fatal("a principal of a replaced token is still active")
	}
	p2, err := e.auth(t, tok2)
	if err != nil {
		t.Fatalf("the second newest token: %v", err)
	}
	if _, err := e.auth(t, tok3); err != nil {
		t.Fatalf("the newest token: %v", err)
	}
	if ag, _ := e.agents.GetAgent(ctx, owner, a.id); len(ag.Tokens) != 2 {
		t.Fatalf("agent holds %d tokens", len(ag.Tokens))
	}
	// An agent's token is its own org's: looked up in another, it is
	// refused.
	_, _, h, _ := token.Parse(tok3.Reveal())
	changed := h
	changed[31] ^= 1
	if _, err := e.agents.Authenticate(ctx, e.F.Org(t, "acme"), hex.EncodeToString(changed[:]), domaintest.ErrUnauth); !errors.Is(err, domaintest.ErrUnauth) {
		t.Fatalf("a changed hash: %v", err)
	}
	if _, err := e.agents.Authenticate(ctx, e.F.Org(t, "globex"), hex.EncodeToString(h[:]), domaintest.ErrUnauth); !errors.Is(err, domaintest.ErrUnauth) {
		t.Fatalf("acme's token in globex: %v", err)
	}
	// b's tokens are unaffected by a's.
	if _, err := e.auth(t, tokB); err != nil {
		t.Fatalf("b's token: %v", err)
	}

	// Tokens expire.
	e.F.Clock.Advance(agents.AgentTokenTTL)
	if _, err := e.auth(t, tok3); !errors.Is(err, domaintest.ErrUnauth) {
		t.Fatalf("an expired token: %v", err)
	}
	if e.agents.AgentActive(ctx, p2) {
		t.Fatal("a principal of an expired token is active")
	}
}

// TestDecommission ends every token of the agent at once, and what its
// principals were doing.
func TestDecommission(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := domaintest.Ctx()
	owner := e.CreateOrg(t, "acme")
	other := e.CreateOrg(t, "globex")
	a := e.enroll(t, owner)
	b := e.enroll(t, owner)
	tok1 := e.token(t, a)
	tok2 := e.token(t, a)
	p, err := e.auth(t, tok2)
	if err != nil {
		t.Fatal(err)
	}
	task, err := e.agents.CreateTask(ctx, owner, a.id, "users", "")
	if err != nil {
		t.Fatal(err)
	}
	pb := e.principal(t, b)

	_, err = e.agents.DecommissionAgent(ctx, other, a.id)
	domaintest.WantKind(t, "globex decommissions acme's agent", err, errs.NotFound)
	got, err := e.agents.DecommissionAgent(ctx, owner, a.id)
	if err != nil || got.State != agents.AgentDecommissioned || len(got.Tokens) != 0 {
		t.Fatalf("decommission: %+v %v", got, err)
	}
	if evs := e.events(t, "acme", ec.AgentDecommissioned); len(evs) != 1 || evs[0]["tokens_revoked"] != float64(2) || evs[0]["_subject"] != "agent:"+a.id {
		t.Fatalf("decommissioned events: %v", evs)
	}
	for i, tok := range []secret.String{tok1, tok2} {
		if _, err := e.auth(t, tok); !errors.Is(err, domaintest.ErrUnauth) {
			t.Fatalf("token %d after decommissioning: %v", i+1, err)
		}
	}
	if e.agents.AgentActive(ctx, p) {
		t.Fatal("a decommissioned agent is active")
	}
	// What a principal authenticated before does now fails, changing
	// nothing.
	before := len(e.F.Events(t, "acme"))
	_, err = e.agents.OpenTasks(ctx, p)
	domaintest.WantKind(t, "OpenTasks after decommissioning", err, errs.Unauthenticated)
	err = e.agents.CompleteTask(ctx, p, task.ID, true, "")
	domaintest.WantKind(t, "CompleteTask after decommissioning", err, errs.Unauthenticated)
	if n := len(e.F.Events(t, "acme")); n != before {
		t.Fatalf("%d events appended by a decommissioned agent", n-before)
	}
	if tk, _ := e.agents.GetTask(ctx, owner, task.ID); tk.State != agents.TaskPending {
		t.Fatalf("task %s", tk.State)
	}
	// No new tokens, no new tasks.
	_, _, err = e.agents.Challenge(ctx, a.org, a.id)
	domaintest.WantKind(t, "challenge of a decommissioned agent", err, errs.Unauthenticated)
	_, err = e.agents.CreateTask(ctx, owner, a.id, "users", "")
	domaintest.WantKind(t, "task for a decommissioned agent", err, errs.Precondition)
	// Again: nothing more happens.
	if _, err := e.agents.DecommissionAgent(ctx, owner, a.id); err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, "acme", ec.AgentDecommissioned); n != 1 {
		t.Fatalf("%d decommissioned events", n)
	}
	// The other agent goes on.
	if !e.agents.AgentActive(ctx, pb) {
		t.Fatal("another agent was ended too")
	}
}

// item is an evidence item of content, signed by a for task.
func (a *agent) item(task agents.Task, at time.Time, content []byte, scrubbed ...string) agents.EvidenceItem {
	sum := sha256.Sum256(content)
	return agents.EvidenceItem{
		Collector: task.Collector, Target: task.Target, Content: content, SHA256: sum[:], Collected: at, Scrubbed: scrubbed,
		Signature: ed25519.Sign(a.key, agentsig.Evidence(a.org, a.id, task.ID, task.Collector, task.Target, at, sum[:], scrubbed)),
	}
}

func TestTasks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := domaintest.Ctx()
	owner := e.CreateOrg(t, "acme")
	other := e.CreateOrg(t, "globex")
	a := e.enroll(t, owner)
	b := e.enroll(t, owner)
	pa, pb := e.principal(t, a), e.principal(t, b)

	for _, c := range []struct{ collector, target string }{
		{"", ""}, {"shell", ""}, {"file", ""}, {"file", "etc/passwd"}, {"file", "/etc/\x00"},
		{"users", "/etc/passwd"}, {"packages", "x"}, {"command", ""}, {"command", strings.Repeat("c", 65)},
	} {
		_, err := e.agents.CreateTask(ctx, owner, a.id, c.collector, c.target)
		domaintest.WantKind(t, fmt.Sprintf("task %q %q", c.collector, c.target), err, errs.InvalidArgument)
	}
	_, err := e.agents.CreateTask(ctx, other, a.id, "users", "")
	domaintest.WantKind(t, "globex tasks acme's agent", err, errs.NotFound)
	_, err = e.agents.CreateTask(ctx, owner, "gnosuchagent0000", "users", "")
	domaintest.WantKind(t, "task for an unknown agent", err, errs.NotFound)

	t1, err := e.agents.CreateTask(ctx, owner, a.id, "file", "/etc/passwd")
	if err != nil || t1.State != agents.TaskPending || t1.AgentID != a.id {
		t.Fatalf("task: %+v %v", t1, err)
	}
	e.F.Clock.Advance(time.Second)
	t2, err := e.agents.CreateTask(ctx, owner, a.id, "users", "")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := e.agents.CreateTask(ctx, owner, b.id, "packages", "")
	if err != nil {
		t.Fatal(err)
	}
	if n := e.count(t, "acme", ec.AgentTaskCreated); n != 3 {
		t.Fatalf("%d task events", n)
	}
	_, err = e.agents.GetTask(ctx, other, t1.ID)
	domaintest.WantKind(t, "globex reads acme's task", err, errs.NotFound)

	open, err := e.agents.OpenTasks(ctx, pa)
	if err != nil || len(open) != 2 || open[0].ID != t1.ID || open[1].ID != t2.ID || open[0].State != agents.TaskDelivered {
		t.Fatalf("open tasks: %+v %v", open, err)
	}
	if n := e.count(t, "acme", ec.AgentTaskDelivered); n != 2 {
		t.Fatalf("%d delivered events", n)
	}
	// Delivered again after a reconnect, recorded once.
	if open, err := e.agents.OpenTasks(ctx, pa); err != nil || len(open) != 2 {
		t.Fatalf("open tasks again: %+v %v", open, err)
	}
	if n := e.count(t, "acme", ec.AgentTaskDelivered); n != 2 {
		t.Fatalf("%d delivered events after a second delivery", n)
	}
	if open, err := e.agents.OpenTasks(ctx, pb); err != nil || len(open) != 1 || open[0].ID != tb.ID {
		t.Fatalf("b's open tasks: %+v %v", open, err)
	}

	// An agent completes only its own tasks.
	domaintest.WantKind(t, "b completes a's task", e.agents.CompleteTask(ctx, pb, t1.ID, true, ""), errs.NotFound)
	domaintest.WantKind(t, "control character in detail", e.agents.CompleteTask(ctx, pa, t1.ID, true, "bad\x01detail"), errs.InvalidArgument)
	if err := e.agents.CompleteTask(ctx, pa, t1.ID, false, "no such file"); err != nil {
		t.Fatal(err)
	}
	got, err := e.agents.GetTask(ctx, owner, t1.ID)
	if err != nil || got.State != agents.TaskFailed || got.Detail != "no such file" || !got.Completed.Equal(e.F.Clock.Now()) {
		t.Fatalf("completed task: %+v %v", got, err)
	}
	if err := e.agents.CompleteTask(ctx, pa, t2.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	// Completing again changes nothing.
	if err := e.agents.CompleteTask(ctx, pa, t1.ID, true, "retry"); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.agents.GetTask(ctx, owner, t1.ID); got.State != agents.TaskFailed {
		t.Fatalf("completed again: %s", got.State)
	}
	if evs := e.events(t, "acme", ec.AgentTaskCompleted); len(evs) != 2 || evs[0]["state"] != agents.TaskFailed || evs[1]["state"] != agents.TaskSucceeded {
		t.Fatalf("completed events: %v", evs)
	}
	if open, err := e.agents.OpenTasks(ctx, pa); err != nil || len(open) != 0 {
		t.Fatalf("open tasks after completion: %+v %v", open, err)
	}
}

func TestSubmitEvidence(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := domaintest.Ctx()
	owner := e.CreateOrg(t, "acme")
	a := e.enroll(t, owner)
	b := e.enroll(t, owner)
	pa, pb := e.principal(t, a), e.principal(t, b)
	task, err := e.agents.CreateTask(ctx, owner, a.id, "file", "/etc/sudoers")
	if err != nil {
		t.Fatal(err)
	}
	o := e.F.Org(t, "acme")
	now := e.F.Clock.Now()

	content := []byte("root ALL=(ALL) ALL\n")
	it := a.item(task, now, content, "password")
	sum := hex.EncodeToString(it.SHA256)
	got, err := e.agents.SubmitEvidence(ctx, pa, task.ID, []agents.EvidenceItem{it})
	if err != nil || !slices.Equal(got, []string{sum}) {
		t.Fatalf("submit: %v %v", got, err)
	}
	if stored, err := agents.LoadEvidence(ctx, o, sum); err != nil || !bytes.Equal(stored, content) {
		t.Fatalf("stored evidence: %q %v", stored, err)
	}
	evs := e.events(t, "acme", ec.EvidenceRecorded)
	if len(evs) != 1 || evs[0]["sha256"] != sum || evs[0]["task_id"] != task.ID || evs[0]["size"] != float64(len(content)) || evs[0]["_actor"] != "agent:"+a.id {
		t.Fatalf("recorded events: %v", evs)
	}
	if tk, _ := e.agents.GetTask(ctx, owner, task.ID); !slices.Equal(tk.Evidence, []string{sum}) || tk.EvidenceBytes != int64(len(content)) {
		t.Fatalf("task evidence: %v %d", tk.Evidence, tk.EvidenceBytes)
	}
	// Submitted again (a retry), it is not recorded twice.
	if got, err := e.agents.SubmitEvidence(ctx, pa, task.ID, []agents.EvidenceItem{it, it}); err != nil || !slices.Equal(got, []string{sum, sum}) {
		t.Fatalf("submit again: %v %v", got, err)
	}
	if n := e.count(t, "acme", ec.EvidenceRecorded); n != 1 {
		t.Fatalf("%d recorded events after a retry", n)
	}

	// Items whose hash or signature does not verify refuse the whole
	// submission, which is recorded.
	good := a.item(task, now, []byte("good"))
	tampered := a.item(task, now, []byte("original"))
	tampered.Content = []byte("tampered")
	_, otherKey := newKey(t)
	otherSigned := a.item(task, now, []byte("x"))
	otherSigned.Signature = ed25519.Sign(otherKey, agentsig.Evidence(a.org, a.id, task.ID, task.Collector, task.Target, now, otherSigned.SHA256, nil))
	bSigned := a.item(task, now, []byte("x"))
	bSigned.Signature = ed25519.Sign(b.key, agentsig.Evidence(a.org, a.id, task.ID, task.Collector, task.Target, now, bSigned.SHA256, nil))
	retimed := a.item(task, now, []byte("x"))
	retimed.Collected = now.Add(time.Second)
	unscrubbed := a.item(task, now, []byte("x"), "password")
	unscrubbed.Scrubbed = nil
	otherTask := a.item(agents.Task{ID: "tother", Collector: task.Collector, Target: task.Target}, now, []byte("x"))
	shortHash := a.item(task, now, []byte("x"))
	shortHash.SHA256 = shortHash.SHA256[:31]
	rejected := 0
	for _, c := range []struct {
		name   string
		item   agents.EvidenceItem
		reason string
	}{
		{"tampered content", tampered, "content does not match its sha256"},
		{"truncated hash", shortHash, "content does not match its sha256"},
		{"another key", otherSigned, "signature does not verify with the agent's enrolled key"},
		{"another agent's key", bSigned, "signature does not verify with the agent's enrolled key"},
		{"another collection time", retimed, "signature does not verify with the agent's enrolled key"},
		{"another scrub list", unscrubbed, "signature does not verify with the agent's enrolled key"},
		{"signed for another task", otherTask, "signature does not verify with the agent's enrolled key"},
	} {
		_, err := e.agents.SubmitEvidence(ctx, pa, task.ID, []agents.EvidenceItem{good, c.item})
		domaintest.WantKind(t, c.name, err, errs.Permission)
		rejected++
		evs := e.events(t, "acme", ec.EvidenceRejected)
		if len(evs) != rejected || evs[rejected-1]["reason"] != c.reason || evs[rejected-1]["item"] != float64(1) || evs[rejected-1]["task_id"] != task.ID {
			t.Fatalf("%s: rejected events %v", c.name, evs)
		}
		if n := e.count(t, "acme", ec.EvidenceRecorded); n != 1 {
			t.Fatalf("%s: the good item beside it was recorded", c.name)
		}
	}
	for _, h := range []string{hex.EncodeToString(tampered.SHA256), sha256hex([]byte("tampered")), sha256hex([]byte("good"))} {
		if _, err := agents.LoadEvidence(ctx, o, h); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("evidence %s stored from a refused submission: %v", h, err)
		}
	}

	// Malformed submissions are refused without a record.
	items := func(n int) []agents.EvidenceItem {
		out := make([]agents.EvidenceItem, n)
		for i := range out {
			out[i] = a.item(task, now, fmt.Appendf(nil, "item %d", i))
		}
		return out
	}
	wrongCollector := a.item(agents.Task{ID: task.ID, Collector: "users"}, now, []byte("x"))
	badScrub := a.item(task, now, []byte("x"), "Password!")
	early := a.item(task, task.Created.Add(-agents.MaxClockSkew-time.Second), []byte("x"))
	late := a.item(task, now.Add(agents.MaxClockSkew+time.Second), []byte("x"))
	big := a.item(task, now, make([]byte, agents.MaxEvidenceSize+1))
	for _, c := range []struct {
		name  string
		items []agents.EvidenceItem
	}{
		{"no items", nil},
		{"too many items", items(agents.MaxEvidenceItems + 1)},
		{"content too large", []agents.EvidenceItem{big}},
		{"another collector", []agents.EvidenceItem{wrongCollector}},
		{"bad scrub kind", []agents.EvidenceItem{badScrub}},
		{"collected before the task", []agents.EvidenceItem{early}},
		{"collected in the future", []agents.EvidenceItem{late}},
	} {
		_, err := e.agents.SubmitEvidence(ctx, pa, task.ID, c.items)
		domaintest.WantKind(t, c.name, err, errs.InvalidArgument)
	}
	if n, r := e.count(t, "acme", ec.EvidenceRecorded), e.count(t, "acme", ec.EvidenceRejected); n != 1 || r != rejected {
		t.Fatalf("after malformed submissions: %d recorded, %d rejected", n, r)
	}
	// The bounds themselves are accepted.
	atBound := a.item(task, task.Created.Add(-agents.MaxClockSkew), make([]byte, agents.MaxEvidenceSize))
	if _, err := e.agents.SubmitEvidence(ctx, pa, task.ID, []agents.EvidenceItem{atBound}); err != nil {
		t.Fatalf("an item of %d bytes at the earliest time: %v", agents.MaxEvidenceSize, err)
	}
	full := items(agents.MaxEvidenceItems)
	if got, err := e.agents.SubmitEvidence(ctx, pa, task.ID, full); err != nil || len(got) != agents.MaxEvidenceItems {
		t.Fatalf("%d items: %v", agents.MaxEvidenceItems, err)
	}
	if n := e.count(t, "acme", ec.EvidenceRecorded); n != 2+agents.MaxEvidenceItems {
		t.Fatalf("%d recorded events", n)
	}
	// A task holds at most MaxTaskEvidenceItems items over its
	// submissions.
	for len(e.mustTask(t, owner, task.ID).Evidence) < agents.MaxTaskEvidenceItems {
		have := len(e.mustTask(t, owner, task.ID).Evidence)
		batch := make([]agents.EvidenceItem, min(agents.MaxEvidenceItems, agents.MaxTaskEvidenceItems-have))
		for i := range batch {
			batch[i] = a.item(task, now, fmt.Appendf(nil, "fill %d", have+i))
		}
		if _, err := e.agents.SubmitEvidence(ctx, pa, task.ID, batch); err != nil {
			t.Fatal(err)
		}
	}
	recorded := e.count(t, "acme", ec.EvidenceRecorded)
	_, err = e.agents.SubmitEvidence(ctx, pa, task.ID, []agents.EvidenceItem{a.item(task, now, []byte("one too many"))})
	domaintest.WantKind(t, "an item beyond the task's limit", err, errs.LimitExceeded)
	// An item the task has is still answered.
	if _, err := e.agents.SubmitEvidence(ctx, pa, task.ID, []agents.EvidenceItem{it}); err != nil {
		t.Fatalf("a held item on a full task: %v", err)
	}
	if n := e.count(t, "acme", ec.EvidenceRecorded); n != recorded {
		t.Fatalf("%d items recorded beyond the limit", n-recorded)
	}

	// Another agent's task, an unknown task, a finished task.
	_, err = e.agents.SubmitEvidence(ctx, pb, task.ID, []agents.EvidenceItem{b.item(task, now, []byte("b"))})
	domaintest.WantKind(t, "b submits to a's task", err, errs.NotFound)
	_, err = e.agents.SubmitEvidence(ctx, pa, "tnosuchtask00000", []agents.EvidenceItem{it})
	domaintest.WantKind(t, "unknown task", err, errs.NotFound)
	if err := e.agents.CompleteTask(ctx, pa, task.ID, true, ""); err != nil {
		t.Fatal(err)
	}
	_, err = e.agents.SubmitEvidence(ctx, pa, task.ID, []agents.EvidenceItem{it})
	domaintest.WantKind(t, "evidence for a finished task", err, errs.Precondition)
	if evs := e.events(t, "acme", ec.AgentTaskCompleted); len(evs) != 1 || len(evs[0]["evidence"].([]any)) != agents.MaxTaskEvidenceItems {
		t.Fatalf("completed event: %v", evs)
	}
}

func (e *env) mustTask(t *testing.T, p *core.Principal, id string) agents.Task {
	t.Helper()
	tk, err := e.agents.GetTask(domaintest.Ctx(), p, id)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestAgentsOfAnotherOrg: an org sees and acts on none of another org's
// agents, tasks or evidence.
func TestAgentsOfAnotherOrg(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := domaintest.Ctx()
	owner := e.CreateOrg(t, "acme")
	other := e.CreateOrg(t, "globex")
	a := e.enroll(t, owner)
	task, err := e.agents.CreateTask(ctx, owner, a.id, "users", "")
	if err != nil {
		t.Fatal(err)
	}
	pa := e.principal(t, a)
	it := a.item(task, e.F.Clock.Now(), []byte("users"))
	if _, err := e.agents.SubmitEvidence(ctx, pa, task.ID, []agents.EvidenceItem{it}); err != nil {
		t.Fatal(err)
	}
	g := e.enroll(t, other)
	pg := e.principal(t, g)

	_, err = e.agents.GetAgent(ctx, other, a.id)
	domaintest.WantKind(t, "GetAgent", err, errs.NotFound)
	_, err = e.agents.GetTask(ctx, other, task.ID)
	domaintest.WantKind(t, "GetTask", err, errs.NotFound)
	if as, _, err := e.agents.ListAgents(ctx, other, 0, ""); err != nil || len(as) != 1 || as[0].ID != g.id {
		t.Fatalf("globex's agents: %+v %v", as, err)
	}
	if _, err := agents.LoadEvidence(ctx, e.F.Org(t, "globex"), hex.EncodeToString(it.SHA256)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("acme's evidence in globex: %v", err)
	}
	// globex's agent reaches none of acme's tasks, even signing for them.
	_, err = e.agents.SubmitEvidence(ctx, pg, task.ID, []agents.EvidenceItem{it})
	domaintest.WantKind(t, "globex's agent submits to acme's task", err, errs.NotFound)
	domaintest.WantKind(t, "globex's agent completes acme's task", e.agents.CompleteTask(ctx, pg, task.ID, true, ""), errs.NotFound)
	if open, err := e.agents.OpenTasks(ctx, pg); err != nil || len(open) != 0 {
		t.Fatalf("globex's agent's open tasks: %+v %v", open, err)
	}
	// acme's agent ID names nothing in globex, for tokens either.
	_, _, err = e.agents.Challenge(ctx, "globex", a.id)
	domaintest.WantKind(t, "challenge of acme's agent in globex", err, errs.Unauthenticated)
	for _, ev := range e.F.Events(t, "globex") {
		if strings.Contains(string(ev.Raw), a.id) || strings.Contains(ev.Subject, a.id) || strings.Contains(ev.Actor, a.id) {
			t.Fatalf("globex's log names acme's agent: %+v", ev)
		}
	}
}
