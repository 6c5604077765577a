package server_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// commitGate runs a concurrent change exactly when an action is about to
// commit: after it was authenticated and authorized, before its batch.
type commitGate struct {
	mu     sync.Mutex
	typ    string
	change func() error
	err    error
	fired  bool
}

// arm makes the next commit of an event of type typ first run change to
// completion.
func (g *commitGate) arm(typ string, change func() error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.typ, g.change, g.err, g.fired = typ, change, nil, false
}

func (g *commitGate) hook(_ context.Context, _ string, types []string) {
	g.mu.Lock()
	change := g.change
	if change == nil || !slices.Contains(types, g.typ) {
		g.mu.Unlock()
		return
	}
	g.change = nil
	g.mu.Unlock()
	err := change() // commits through this hook too, disarmed
	g.mu.Lock()
	g.err, g.fired = err, true
	g.mu.Unlock()
}

func (g *commitGate) result() (bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fired, g.err
}

// TestAuthorizationHoldsAtCommit: for every kind of principal and every
// way its authority can end (removal, demotion, revocation, logout,
// ended sessions, decommissioning), an action authorized before the end
// commits after it only if its authority still holds: otherwise it fails
// with Unauthenticated or PermissionDenied and leaves no event and no
// state. The concurrent change is run from the action's own commit path,
// so the order is the same on every run.
func TestAuthorizationHoldsAtCommit(t *testing.T) {
	ctx := context.Background()
	gate := &commitGate{}
	ts := servertest.Start(t, func(c *server.Config) { c.Governance.CommitHook = gate.hook })
	const org = "holds"
	ownerTok, _ := ts.Signup(t, org, "o1@example.com", "owner one password")
	owner := ts.Clients(ownerTok)

	type actor struct {
		c   servertest.Clients
		uid string // the member behind the actor
	}
	n := 0
	member := func(role nuxariv1.Role) actor {
		n++
		tok, uid := ts.AddMember(t, ownerTok, org, fmt.Sprintf("m%d@example.com", n), "member password one", role)
		return actor{ts.Clients(tok), uid}
	}
	apiToken := func(role nuxariv1.Role) (actor, string) {
		a := member(role)
		res, err := a.c.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "ci", Role: role}))
		if err != nil {
			t.Fatal(err)
		}
		return actor{ts.Clients(res.Msg.Secret), a.uid}, res.Msg.Token.TokenId
	}
	agentActor := func() (servertest.Clients, *testAgent, string) {
		ag := enrollAgent(t, ts, owner, fmt.Sprintf("host%d", n))
		n++
		task := createTask(t, owner, ag.id, "users", "")
		return ts.Clients(ag.token(t, ts)), ag, task.TaskId
	}
	memberEmails := func() []string {
		res, err := owner.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range res.Msg.Members {
			out = append(out, m.Email)
		}
		return out
	}

	roleOf := func(uid string) string {
		res, err := owner.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res.Msg.Members {
			if m.UserId == uid {
				return m.Role.String()
			}
		}
		return "absent"
	}

	type tc struct {
		name     string
		setup    func() (act func() error, actEvent string, revoke func() error, state func() string)
		wantCode connect.Code
	}
	cases := []tc{
		{"removed owner adds an owner", func() (func() error, string, func() error, func() string) {
			o3 := member(nuxariv1.Role_ROLE_OWNER)
			return func() error {
					return ignoreRes(o3.c.Org.AddMember(ctx, req(&nuxariv1.AddMemberRequest{Email: "new-owner@example.com", Role: nuxariv1.Role_ROLE_OWNER})))
				}, "member.added",
				func() error {
					return ignoreRes(owner.Org.RemoveMember(ctx, req(&nuxariv1.RemoveMemberRequest{UserId: o3.uid})))
				},
				func() string { return fmt.Sprint(slices.Contains(memberEmails(), "new-owner@example.com")) }
		}, connect.CodeUnauthenticated},
		{"demoted owner removes a member", func() (func() error, string, func() error, func() string) {
			o3, victim := member(nuxariv1.Role_ROLE_OWNER), member(nuxariv1.Role_ROLE_READONLY)
			return func() error {
					return ignoreRes(o3.c.Org.RemoveMember(ctx, req(&nuxariv1.RemoveMemberRequest{UserId: victim.uid})))
				}, "member.removed",
				func() error {
					return ignoreRes(owner.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: o3.uid, Role: nuxariv1.Role_ROLE_READONLY})))
				},
				func() string { return roleOf(victim.uid) }
		}, connect.CodePermissionDenied},
		{"logged-out admin creates a token", func() (func() error, string, func() error, func() string) {
			a := member(nuxariv1.Role_ROLE_ADMIN)
			return func() error {
					return ignoreRes(a.c.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "late", Role: nuxariv1.Role_ROLE_READONLY})))
				}, "auth.api_token.created",
				func() error { return ignoreRes(a.c.Auth.Logout(ctx, req(&nuxariv1.LogoutRequest{}))) },
				func() string { return "" }
		}, connect.CodeUnauthenticated},
		{"owner whose sessions were ended changes settings", func() (func() error, string, func() error, func() string) {
			o3 := member(nuxariv1.Role_ROLE_OWNER)
			return func() error {
					return ignoreRes(o3.c.Org.UpdateOrgSettings(ctx, req(&nuxariv1.UpdateOrgSettingsRequest{Retention: durationpb.New(3 * 365 * 24 * time.Hour)})))
				}, "org.settings_changed",
				func() error {
					return ignoreRes(owner.Org.EndMemberSessions(ctx, req(&nuxariv1.EndMemberSessionsRequest{UserId: o3.uid})))
				},
				func() string {
					res, err := owner.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{}))
					if err != nil {
						return err.Error()
					}
					return res.Msg.Org.Retention.AsDuration().String()
				}
		}, connect.CodeUnauthenticated},
		{"revoked API token appends", func() (func() error, string, func() error, func() string) {
			a, id := apiToken(nuxariv1.Role_ROLE_ADMIN)
			return func() error {
					return ignoreRes(a.c.Ledger.AppendEvents(ctx, req(&nuxariv1.AppendEventsRequest{Events: []*nuxariv1.NewEvent{{Type: "custom.late"}}})))
				}, "custom.late",
				func() error {
					return ignoreRes(owner.Auth.RevokeAPIToken(ctx, req(&nuxariv1.RevokeAPITokenRequest{TokenId: id})))
				},
				func() string { return "" }
		}, connect.CodeUnauthenticated},
		{"API token of a demoted creator makes a join token", func() (func() error, string, func() error, func() string) {
			a, _ := apiToken(nuxariv1.Role_ROLE_ADMIN)
			return func() error {
					return ignoreRes(a.c.Agents.CreateJoinToken(ctx, req(&nuxariv1.CreateJoinTokenRequest{})))
				}, "agent.join_token.created",
				func() error {
					return ignoreRes(owner.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: a.uid, Role: nuxariv1.Role_ROLE_READONLY})))
				},
				func() string { return "" }
		}, connect.CodeUnauthenticated},
		{"decommissioned agent submits evidence", func() (func() error, string, func() error, func() string) {
			c, ag, task := agentActor()
			return func() error {
					item := ag.evidence(task, "users", "", []byte("root:x:0:0::/root:/bin/sh\n"))
					return ignoreRes(c.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: task, Items: []*nuxariv1.EvidenceItem{item}})))
				}, "evidence.recorded",
				func() error {
					return ignoreRes(owner.Agents.DecommissionAgent(ctx, req(&nuxariv1.DecommissionAgentRequest{AgentId: ag.id})))
				},
				func() string { return getTask(t, owner, task).State.String() }
		}, connect.CodeUnauthenticated},
		{"decommissioned agent completes a task", func() (func() error, string, func() error, func() string) {
			c, ag, task := agentActor()
			return func() error {
					return ignoreRes(c.Gateway.CompleteTask(ctx, req(&nuxariv1.CompleteTaskRequest{TaskId: task, Ok: true})))
				}, "agent.task.completed",
				func() error {
					return ignoreRes(owner.Agents.DecommissionAgent(ctx, req(&nuxariv1.DecommissionAgentRequest{AgentId: ag.id})))
				},
				func() string { return getTask(t, owner, task).State.String() }
		}, connect.CodeUnauthenticated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			act, actEvent, revoke, state := c.setup()
			before := state()
			size := logSize(t, ts, org)
			gate.arm(actEvent, revoke)
			err := act()
			if fired, rerr := gate.result(); !fired || rerr != nil {
				t.Fatalf("the concurrent change did not run before the commit: fired %v, %v", fired, rerr)
			}
			if code := connect.CodeOf(err); code != c.wantCode {
				t.Fatalf("action after its authority ended: %v, want %v", err, c.wantCode)
			}
			for _, e := range newEvents(t, ts, org, size) {
				if e.Type == actEvent {
					t.Errorf("the refused action's %s event is in the log: %+v", actEvent, e)
				}
			}
			if after := state(); after != before {
				t.Errorf("the refused action changed state: %q, was %q", after, before)
			}
		})
	}

	// The same actions, with nothing ending in between, commit: the holds
	// refuse only what lost its authority.
	t.Run("unchanged authority commits", func(t *testing.T) {
		o3 := member(nuxariv1.Role_ROLE_OWNER)
		other := member(nuxariv1.Role_ROLE_READONLY)
		gate.arm("member.added", func() error {
			// A change to someone else's record does not touch the
			// actor's holds.
			return ignoreRes(owner.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: other.uid, Role: nuxariv1.Role_ROLE_AUDITOR})))
		})
		if _, err := o3.c.Org.AddMember(ctx, req(&nuxariv1.AddMemberRequest{Email: "kept@example.com", Role: nuxariv1.Role_ROLE_READONLY})); err != nil {
			t.Fatalf("AddMember with authority intact: %v", err)
		}
		if fired, err := gate.result(); !fired || err != nil {
			t.Fatalf("concurrent change: %v %v", fired, err)
		}
	})
}

// TestSettingsAgreeWithLog: a settings change commits its value and its
// event in one batch on the value it read. A change that another commits
// between its read and its commit fails and writes nothing; under
// concurrent changes the stored retention is always the last event's.
func TestSettingsAgreeWithLog(t *testing.T) {
	ctx := context.Background()
	gate := &commitGate{}
	ts := servertest.Start(t, func(c *server.Config) { c.Governance.CommitHook = gate.hook })
	const org = "settings"
	ownerTok, _ := ts.Signup(t, org, "o@example.com", "owner password 1")
	owner := ts.Clients(ownerTok)
	setRetention := func(years int) error {
		return ignoreRes(owner.Org.UpdateOrgSettings(ctx, req(&nuxariv1.UpdateOrgSettingsRequest{Retention: durationpb.New(time.Duration(years) * 365 * 24 * time.Hour)})))
	}
	stored := func() time.Duration {
		res, err := owner.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		return res.Msg.Org.Retention.AsDuration()
	}
	lastEvent := func() (from, to time.Duration) {
		var last *auditEvent
		for _, e := range newEvents(t, ts, org, 0) {
			if e.Type == "org.settings_changed" {
				last = &e
			}
		}
		if last == nil {
			t.Fatal("no org.settings_changed event")
		}
		r := last.Data["retention_seconds"].(map[string]any)
		return time.Duration(r["from"].(float64)) * time.Second, time.Duration(r["to"].(float64)) * time.Second
	}

	size := logSize(t, ts, org)
	gate.arm("org.settings_changed", func() error { return setRetention(3) })
	err := setRetention(5)
	if fired, gerr := gate.result(); !fired || gerr != nil {
		t.Fatalf("the concurrent change: %v %v", fired, gerr)
	}
	wantAuthCode(t, "a change on a stale value", err, connect.CodeAborted)
	if evs := newEvents(t, ts, org, size); len(evs) != 1 {
		t.Fatalf("events: %+v, want only the concurrent change's", evs)
	}
	if _, to := lastEvent(); to != stored() || to != 3*365*24*time.Hour {
		t.Fatalf("stored %v, last event says %v", stored(), to)
	}

	// Many at once: whatever commits, the setting is the last event's,
	// and each event's "from" is the previous event's "to".
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() { _ = setRetention(2 + i) })
	}
	wg.Wait()
	prev := time.Duration(0)
	for _, e := range newEvents(t, ts, org, 0) {
		if e.Type != "org.settings_changed" {
			continue
		}
		r := e.Data["retention_seconds"].(map[string]any)
		from, to := time.Duration(r["from"].(float64))*time.Second, time.Duration(r["to"].(float64))*time.Second
		if prev != 0 && from != prev {
			t.Errorf("an event changes retention from %v, but the one before set %v", from, prev)
		}
		prev = to
	}
	if prev != stored() {
		t.Fatalf("stored retention %v, the last event says %v", stored(), prev)
	}
}
