package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nuxari/nuxari/governance/token"
	"github.com/nuxari/nuxari/internal/agentsig"
	"github.com/nuxari/nuxari/internal/fakeclock"
	"github.com/nuxari/nuxari/ledger/verify"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// testAgent is an edge agent played by the test, as the real one would
// be: its own Ed25519 key pair, made here, enrolled over the wire with a
// join token, signing exactly the bytes agentsig defines.
type testAgent struct {
	org, id  string
	hostname string
	pub      ed25519.PublicKey
	key      ed25519.PrivateKey
}

func newAgentKey(t testing.TB) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, key
}

// createJoinToken makes a join token with admin's clients.
func createJoinToken(t testing.TB, admin servertest.Clients, ttl time.Duration) string {
	t.Helper()
	m := &nuxariv1.CreateJoinTokenRequest{}
	if ttl != 0 {
		m.Ttl = durationpb.New(ttl)
	}
	res, err := admin.Agents.CreateJoinToken(context.Background(), req(m))
	if err != nil {
		t.Fatalf("CreateJoinToken: %v", err)
	}
	return res.Msg.JoinToken
}

// enrollAgent enrols a new agent of admin's org: a join token, then
// Enroll with a fresh key, as an anonymous caller.
func enrollAgent(t testing.TB, ts *servertest.Server, admin servertest.Clients, hostname string) *testAgent {
	t.Helper()
	jt := createJoinToken(t, admin, 0)
	pub, key := newAgentKey(t)
	res, err := ts.Clients("").Gateway.Enroll(context.Background(), req(&nuxariv1.EnrollRequest{JoinToken: jt, PublicKey: pub, Hostname: hostname}))
	if err != nil {
		t.Fatalf("Enroll %s: %v", hostname, err)
	}
	return &testAgent{org: res.Msg.OrgId, id: res.Msg.AgentId, hostname: hostname, pub: pub, key: key}
}

// getAgentToken gets an access token for agent (org, id) through c, as
// an agent does: a challenge, the token request signed with key.
func getAgentToken(ctx context.Context, c servertest.Clients, org, id string, key ed25519.PrivateKey) (string, error) {
	ch, err := c.Gateway.GetChallenge(ctx, req(&nuxariv1.GetChallengeRequest{OrgId: org, AgentId: id}))
	if err != nil {
		return "", err
	}
	sig := ed25519.Sign(key, agentsig.TokenRequest(org, id, ch.Msg.Challenge))
	res, err := c.Gateway.GetAccessToken(ctx, req(&nuxariv1.GetAccessTokenRequest{OrgId: org, AgentId: id, Challenge: ch.Msg.Challenge, Signature: sig}))
	if err != nil {
		return "", err
	}
	return res.Msg.AccessToken, nil
}

// token returns a new access token of the agent.
func (a *testAgent) token(t testing.TB, ts *servertest.Server) string {
	t.Helper()
	tok, err := getAgentToken(context.Background(), ts.Clients(""), a.org, a.id, a.key)
	if err != nil {
		t.Fatalf("agent %s: access token: %v", a.id, err)
	}
	if !strings.HasPrefix(tok, "nxg."+a.org+".") {
		t.Fatalf("agent access token is not of the form nxg.%s.<body>", a.org)
	}
	return tok
}

// signEvidence returns an evidence item of task, hashed and signed with
// key as agent a would, collected at.
func (a *testAgent) signEvidence(key ed25519.PrivateKey, taskID, collector, target string, at time.Time, content []byte, scrubbed ...string) *nuxariv1.EvidenceItem {
	sum := sha256.Sum256(content)
	return &nuxariv1.EvidenceItem{
		Collector: collector, Target: target, Content: content, Sha256: sum[:],
		CollectedTime: timestamppb.New(at), Scrubbed: scrubbed,
		Signature: ed25519.Sign(key, agentsig.Evidence(a.org, a.id, taskID, collector, target, at, sum[:], scrubbed)),
	}
}

// evidence returns an evidence item of task, signed with the agent's key.
func (a *testAgent) evidence(taskID, collector, target string, content []byte, scrubbed ...string) *nuxariv1.EvidenceItem {
	return a.signEvidence(a.key, taskID, collector, target, time.Now(), content, scrubbed...)
}

// createTask asks agent to run collector on target, with admin's clients.
func createTask(t testing.TB, admin servertest.Clients, agentID, collector, target string) *nuxariv1.Task {
	t.Helper()
	res, err := admin.Agents.CreateTask(context.Background(), req(&nuxariv1.CreateTaskRequest{AgentId: agentID, Collector: collector, Target: target}))
	if err != nil {
		t.Fatalf("CreateTask %s %q for %s: %v", collector, target, agentID, err)
	}
	return res.Msg.Task
}

func getTask(t testing.TB, admin servertest.Clients, id string) *nuxariv1.Task {
	t.Helper()
	res, err := admin.Agents.GetTask(context.Background(), req(&nuxariv1.GetTaskRequest{TaskId: id}))
	if err != nil {
		t.Fatalf("GetTask %s: %v", id, err)
	}
	return res.Msg.Task
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// taskStream is an open ReceiveTasks stream whose reads have deadlines.
type taskStream struct {
	s      *connect.ServerStreamForClient[nuxariv1.ReceiveTasksResponse]
	cancel context.CancelFunc
}

func openTaskStream(t testing.TB, c servertest.Clients) *taskStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := c.Gateway.ReceiveTasks(ctx, req(&nuxariv1.ReceiveTasksRequest{}))
	if err != nil {
		cancel()
		t.Fatalf("ReceiveTasks: %v", err)
	}
	t.Cleanup(cancel)
	return &taskStream{s: s, cancel: cancel}
}

// next waits at most d for the stream's next message; false means the
// stream ended, with err saying why (nil for a clean end). Nothing
// within d fails t.
func (ts *taskStream) next(t testing.TB, d time.Duration) (msg *nuxariv1.ReceiveTasksResponse, ok bool, err error) {
	t.Helper()
	done := make(chan bool, 1)
	go func() { done <- ts.s.Receive() }()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case ok := <-done:
		if !ok {
			return nil, false, ts.s.Err()
		}
		return ts.s.Msg(), true, nil
	case <-timer.C:
		ts.cancel()
		<-done
		t.Fatalf("the task stream neither sent nor ended within %v", d)
		return nil, false, nil
	}
}

// heartbeatFirst reads the stream's first message, which must be the
// heartbeat interval.
func (ts *taskStream) heartbeatFirst(t testing.TB) {
	t.Helper()
	m, ok, err := ts.next(t, 10*time.Second)
	if !ok {
		t.Fatalf("task stream ended before its first message: %v", err)
	}
	if got := m.GetHeartbeatInterval(); got == nil || got.AsDuration() != 30*time.Second {
		t.Fatalf("first message of the task stream: %v, want the heartbeat interval (30s)", m)
	}
}

func (ts *taskStream) close() {
	ts.cancel()
	ts.s.Close()
}

// eventTypes lists the types of evs.
func eventTypes(evs []auditEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func logSize(t testing.TB, ts *servertest.Server, org string) uint64 {
	t.Helper()
	n, err := ts.Ledger().Size(org)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantCodeMsg fails t unless err has code and its message names each of
// words.
func wantCodeMsg(t *testing.T, what string, err error, code connect.Code, words ...string) {
	t.Helper()
	if connect.CodeOf(err) != code {
		t.Errorf("%s: got %v, want %v", what, err, code)
		return
	}
	for _, w := range words {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error %q does not name %q", what, err, w)
		}
	}
}

// TestAgentGatewayHappyPath drives an agent's whole life over the wire:
// join token, enrolment, challenge, signed token request, task stream, a
// task arriving on it, evidence hashed and signed, completion; the org's
// log has exactly the events of it, and the evidence's event is provably
// in a signed checkpoint.
func TestAgentGatewayHappyPath(t *testing.T) {
	t.Parallel()
	ts := servertest.Start(t)
	ctx := context.Background()
	const org = "edge"
	ownerTok, ownerID := ts.Signup(t, org, "owner@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	anon := ts.Clients("")
	since := logSize(t, ts, org)

	jt := must(owner.Agents.CreateJoinToken(ctx, req(&nuxariv1.CreateJoinTokenRequest{})))(t)
	if !strings.HasPrefix(jt.Msg.JoinToken, "nxj."+org+".") {
		t.Fatalf("join token is not of the form nxj.%s.<body>", org)
	}
	if d := time.Until(jt.Msg.ExpireTime.AsTime()); d < 29*time.Minute || d > 31*time.Minute {
		t.Fatalf("join token expires in %v, want the default 30m", d)
	}
	pub, key := newAgentKey(t)
	en := must(anon.Gateway.Enroll(ctx, req(&nuxariv1.EnrollRequest{JoinToken: jt.Msg.JoinToken, PublicKey: pub, Hostname: "db1.example.internal"})))(t)
	if en.Msg.OrgId != org || en.Msg.AgentId == "" {
		t.Fatalf("Enroll: %v", en.Msg)
	}
	a := &testAgent{org: org, id: en.Msg.AgentId, hostname: "db1.example.internal", pub: pub, key: key}

	ch := must(anon.Gateway.GetChallenge(ctx, req(&nuxariv1.GetChallengeRequest{OrgId: org, AgentId: a.id})))(t)
	if len(ch.Msg.Challenge) < 16 || !ch.Msg.ExpireTime.AsTime().After(time.Now()) {
		t.Fatalf("GetChallenge: %v", ch.Msg)
	}
	at := must(anon.Gateway.GetAccessToken(ctx, req(&nuxariv1.GetAccessTokenRequest{
		OrgId: org, AgentId: a.id, Challenge: ch.Msg.Challenge, Signature: ed25519.Sign(key, agentsig.TokenRequest(org, a.id, ch.Msg.Challenge)),
	})))(t)
	accessTok := at.Msg.AccessToken
	if !strings.HasPrefix(accessTok, "nxg."+org+".") {
		t.Fatalf("access token is not of the form nxg.%s.<body>", org)
	}
	if d := time.Until(at.Msg.ExpireTime.AsTime()); d < 14*time.Minute || d > 15*time.Minute {
		t.Fatalf("access token expires in %v, want 15m", d)
	}
	agent := ts.Clients(accessTok)

	hb := must(agent.Gateway.Heartbeat(ctx, req(&nuxariv1.HeartbeatRequest{})))(t)
	if hb.Msg.Interval.AsDuration() != 30*time.Second {
		t.Fatalf("Heartbeat interval %v", hb.Msg.Interval.AsDuration())
	}
	got := must(owner.Agents.GetAgent(ctx, req(&nuxariv1.GetAgentRequest{AgentId: a.id})))(t).Msg.Agent
	if got.State != nuxariv1.AgentState_AGENT_STATE_ACTIVE || got.Hostname != a.hostname || !bytes.Equal(got.PublicKey, pub) ||
		got.EnrollTime.AsTime().IsZero() || got.LastSeenTime.AsTime().Before(got.EnrollTime.AsTime()) {
		t.Fatalf("GetAgent: %v", got)
	}
	list := must(owner.Agents.ListAgents(ctx, req(&nuxariv1.ListAgentsRequest{})))(t)
	if len(list.Msg.Agents) != 1 || list.Msg.Agents[0].AgentId != a.id {
		t.Fatalf("ListAgents: %v", list.Msg)
	}

	stream := openTaskStream(t, agent)
	stream.heartbeatFirst(t)
	task := createTask(t, owner, a.id, "users", "")
	if task.State != nuxariv1.TaskState_TASK_STATE_PENDING || task.AgentId != a.id || task.Collector != "users" {
		t.Fatalf("CreateTask: %v", task)
	}
	// The task comes down the open stream, with no polling by the agent.
	m, ok, err := stream.next(t, 5*time.Second)
	if !ok {
		t.Fatalf("task stream ended: %v", err)
	}
	if d := m.GetTask(); d == nil || d.TaskId != task.TaskId || d.Collector != "users" || d.State != nuxariv1.TaskState_TASK_STATE_DELIVERED {
		t.Fatalf("task stream sent %v, want task %s delivered", m, task.TaskId)
	}

	content := []byte("root:x:0:0:root:/root:/bin/bash\nada:x:1000:1000:Ada:/home/ada:/bin/sh\n")
	item := a.evidence(task.TaskId, "users", "", content, "password_hash")
	sub := must(agent.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: task.TaskId, Items: []*nuxariv1.EvidenceItem{item}})))(t)
	if !slices.Equal(sub.Msg.Recorded, []string{hexSHA(content)}) {
		t.Fatalf("SubmitEvidence recorded %v, want [%s]", sub.Msg.Recorded, hexSHA(content))
	}
	must(agent.Gateway.CompleteTask(ctx, req(&nuxariv1.CompleteTaskRequest{TaskId: task.TaskId, Ok: true, Detail: "2 users"})))(t)
	done := getTask(t, owner, task.TaskId)
	if done.State != nuxariv1.TaskState_TASK_STATE_SUCCEEDED || !slices.Equal(done.Evidence, []string{hexSHA(content)}) ||
		done.Detail != "2 users" || done.CompleteTime.AsTime().Before(done.CreateTime.AsTime()) {
		t.Fatalf("GetTask after completion: %v", done)
	}
	must(agent.Gateway.Heartbeat(ctx, req(&nuxariv1.HeartbeatRequest{})))(t)
	stream.close()

	evs := newEvents(t, ts, org, since)
	want := []string{"agent.join_token.created", "agent.enrolled", "agent.token.issued", "agent.task.created", "agent.task.delivered", "evidence.recorded", "agent.task.completed"}
	if !slices.Equal(eventTypes(evs), want) {
		t.Fatalf("events:\n got %v\nwant %v", eventTypes(evs), want)
	}
	agentActor := "agent:" + a.id
	for i, wantActor := range []string{ownerID, agentActor, agentActor, ownerID, agentActor, agentActor, agentActor} {
		if evs[i].Actor != wantActor {
			t.Errorf("event %s: actor %q, want %q", evs[i].Type, evs[i].Actor, wantActor)
		}
	}
	if e := evs[1]; e.Subject != agentActor || e.Data["public_key"] != base64.StdEncoding.EncodeToString(pub) || e.Data["hostname"] != a.hostname {
		t.Errorf("agent.enrolled: %+v", e)
	}
	if e := evs[3]; e.Data["task_id"] != task.TaskId || e.Data["collector"] != "users" {
		t.Errorf("agent.task.created: %+v", e)
	}
	if e := evs[5]; e.Data["task_id"] != task.TaskId || e.Data["sha256"] != hexSHA(content) || e.Data["size"] != float64(len(content)) ||
		fmt.Sprint(e.Data["scrubbed"]) != "[password_hash]" || e.Data["signature"] != base64.StdEncoding.EncodeToString(item.Signature) {
		t.Errorf("evidence.recorded: %+v", e)
	}
	if e := evs[6]; e.Data["task_id"] != task.TaskId || e.Data["state"] != "succeeded" {
		t.Errorf("agent.task.completed: %+v", e)
	}
	// Neither token is in the log, whole or in part.
	for i := since; i < since+uint64(len(evs)); i++ {
		lf, err := ts.Ledger().Leaf(ctx, org, i)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{jt.Msg.JoinToken, accessTok} {
			body := secret[strings.LastIndexByte(secret, '.')+1:]
			if bytes.Contains(lf.Bytes, []byte(body)) {
				t.Errorf("leaf %d holds a token body", i)
			}
		}
	}

	// The evidence.recorded event is provably in a signed checkpoint.
	idx := since + 5
	orgRes := must(owner.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{})))(t)
	cp := waitCheckpoint(t, owner, idx+1)
	v := must(verify.NewVerifier(cp.VerifierKey, orgRes.Msg.Org.LogOrigin))(t)
	checkpoint := must(v.Checkpoint([]byte(cp.Checkpoint.Note)))(t)
	ev := must(owner.Ledger.GetEvent(ctx, req(&nuxariv1.GetEventRequest{Index: idx})))(t)
	if ev.Msg.Event.Type != "evidence.recorded" {
		t.Fatalf("event %d is %s", idx, ev.Msg.Event.Type)
	}
	lf := must(verify.LeafAt(ev.Msg.Event.Leaf, org, idx))(t)
	if !bytes.Contains(lf.Event, []byte(hexSHA(content))) {
		t.Fatalf("leaf of evidence.recorded lacks the hash: %s", lf.Event)
	}
	incl := must(owner.Ledger.GetInclusionProof(ctx, req(&nuxariv1.GetInclusionProofRequest{Index: idx, TreeSize: checkpoint.Size})))(t)
	if err := verify.Inclusion(verify.LeafHash(ev.Msg.Event.Leaf), idx, checkpoint.Size, incl.Msg.Hashes, checkpoint.Root); err != nil {
		t.Fatalf("inclusion proof of evidence.recorded: %v", err)
	}
	forged := bytes.Replace(ev.Msg.Event.Leaf, []byte(hexSHA(content)), []byte(hexSHA([]byte("forged"))), 1)
	if err := verify.Inclusion(verify.LeafHash(forged), idx, checkpoint.Size, incl.Msg.Hashes, checkpoint.Root); err == nil {
		t.Fatal("a leaf with another evidence hash verified")
	}
}

// TestAgentJoinTokens: a join token enrols one agent at most; a failed
// use burns it; it expires; it belongs to its org; its lifetime is
// bounded.
func TestAgentJoinTokens(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Now())
	ts := servertest.Start(t, func(c *server.Config) { c.Governance.Clock = clk.Now })
	ctx := context.Background()
	const org = "join"
	ownerTok, _ := ts.Signup(t, org, "owner@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	otherTok, _ := ts.Signup(t, "join-other", "owner@example.com", ownerPW)
	anon := ts.Clients("")
	enroll := func(jt string, pub []byte) error {
		_, err := anon.Gateway.Enroll(ctx, req(&nuxariv1.EnrollRequest{JoinToken: jt, PublicKey: pub, Hostname: "host-1"}))
		return err
	}
	goodKey := func() []byte { pub, _ := newAgentKey(t); return pub }

	t.Run("used once", func(t *testing.T) {
		jt := createJoinToken(t, owner, 0)
		if err := enroll(jt, goodKey()); err != nil {
			t.Fatalf("first use: %v", err)
		}
		size := logSize(t, ts, org)
		wantCode(t, enroll(jt, goodKey()), connect.CodeUnauthenticated)
		if logSize(t, ts, org) != size {
			t.Error("reuse of a used join token appended an event")
		}
	})

	t.Run("burned by a bad key", func(t *testing.T) {
		jt := createJoinToken(t, owner, 0)
		since := logSize(t, ts, org)
		wantCodeMsg(t, "31-byte key", enroll(jt, make([]byte, 31)), connect.CodeInvalidArgument, "public_key")
		wantCode(t, enroll(jt, goodKey()), connect.CodeUnauthenticated)
		evs := newEvents(t, ts, org, since)
		if len(evs) != 1 || evs[0].Type != "agent.enrol.refused" || evs[0].Data["reason"] != "bad_public_key" {
			t.Fatalf("events: %+v", evs)
		}
	})

	t.Run("burned by a bad hostname", func(t *testing.T) {
		jt := createJoinToken(t, owner, 0)
		_, err := anon.Gateway.Enroll(ctx, req(&nuxariv1.EnrollRequest{JoinToken: jt, PublicKey: goodKey()}))
		wantCodeMsg(t, "no hostname", err, connect.CodeInvalidArgument, "hostname")
		wantCode(t, enroll(jt, goodKey()), connect.CodeUnauthenticated)
	})

	t.Run("wrong org", func(t *testing.T) {
		jt := createJoinToken(t, owner, 0)
		rest := strings.TrimPrefix(jt, "nxj."+org+".")
		for _, o := range []string{"join-other", "no-such-org", "joi", "JOIN"} {
			wantCode(t, enroll("nxj."+o+"."+rest, goodKey()), connect.CodeUnauthenticated)
		}
		// A session token of the org is not a join token.
		wantCode(t, enroll(ownerTok, goodKey()), connect.CodeUnauthenticated)
		wantCode(t, enroll(otherTok, goodKey()), connect.CodeUnauthenticated)
		wantCode(t, enroll("nxj."+org+".short", goodKey()), connect.CodeUnauthenticated)
		wantCode(t, enroll("", goodKey()), connect.CodeUnauthenticated)
		// An edited copy names nothing, so it did not burn the original.
		if err := enroll(jt, goodKey()); err != nil {
			t.Fatalf("the original join token after edited copies: %v", err)
		}
		if n := logSize(t, ts, "join-other"); n != 2 {
			t.Errorf("the other org's log has %d events, want 2 (its creation and login)", n)
		}
	})

	t.Run("ttl bounds", func(t *testing.T) {
		for _, d := range []time.Duration{time.Minute - time.Second, time.Millisecond, -time.Minute, 24*time.Hour + time.Second, 1000 * time.Hour} {
			_, err := owner.Agents.CreateJoinToken(ctx, req(&nuxariv1.CreateJoinTokenRequest{Ttl: durationpb.New(d)}))
			wantCodeMsg(t, fmt.Sprintf("ttl %v", d), err, connect.CodeInvalidArgument, "ttl")
		}
		for _, d := range []time.Duration{time.Minute, 24 * time.Hour} {
			res, err := owner.Agents.CreateJoinToken(ctx, req(&nuxariv1.CreateJoinTokenRequest{Ttl: durationpb.New(d)}))
			if err != nil {
				t.Fatalf("ttl %v: %v", d, err)
			}
			if got := res.Msg.ExpireTime.AsTime(); !got.Equal(clk.Now().Add(d)) {
				t.Errorf("ttl %v: expires %v, want %v", d, got, clk.Now().Add(d))
			}
		}
	})

	t.Run("expiry", func(t *testing.T) {
		early := createJoinToken(t, owner, time.Minute)
		late := createJoinToken(t, owner, time.Minute)
		clk.Advance(time.Minute - time.Second)
		if err := enroll(early, goodKey()); err != nil {
			t.Fatalf("a second before expiry: %v", err)
		}
		clk.Advance(time.Second)
		since := logSize(t, ts, org)
		wantCode(t, enroll(late, goodKey()), connect.CodeUnauthenticated)
		evs := newEvents(t, ts, org, since)
		if len(evs) != 1 || evs[0].Type != "agent.enrol.refused" || evs[0].Data["reason"] != "expired" {
			t.Fatalf("events: %+v", evs)
		}
		wantCode(t, enroll(late, goodKey()), connect.CodeUnauthenticated)
	})
}

// TestAgentJoinBruteForce: guessing join tokens (and agents to challenge)
// from one source is rate limited, with the default limits.
func TestAgentJoinBruteForce(t *testing.T) {
	t.Parallel()
	ts := servertest.Start(t, func(c *server.Config) { c.Governance.LoginRate = 0 })
	ctx := context.Background()
	const org = "brute"
	ts.Signup(t, org, "owner@example.com", ownerPW)
	anon := ts.Clients("")
	size := logSize(t, ts, org)
	pub, _ := newAgentKey(t)
	limited := 0
	for range 30 {
		guess, _, err := token.New(token.Join, org)
		if err != nil {
			t.Fatal(err)
		}
		_, err = anon.Gateway.Enroll(ctx, req(&nuxariv1.EnrollRequest{JoinToken: guess, PublicKey: pub, Hostname: "guess"}))
		switch connect.CodeOf(err) {
		case connect.CodeResourceExhausted:
			limited++
		case connect.CodeUnauthenticated:
		default:
			t.Fatalf("a guessed join token: %v", err)
		}
	}
	if limited < 15 {
		t.Fatalf("%d of 30 guessed join tokens were rate limited, want at least 15", limited)
	}
	limited = 0
	for range 30 {
		_, err := anon.Gateway.GetChallenge(ctx, req(&nuxariv1.GetChallengeRequest{OrgId: org, AgentId: "g" + randID(8)}))
		switch connect.CodeOf(err) {
		case connect.CodeResourceExhausted:
			limited++
		case connect.CodeUnauthenticated:
		default:
			t.Fatalf("a challenge for a guessed agent: %v", err)
		}
	}
	if limited < 15 {
		t.Fatalf("%d of 30 challenges for guessed agents were rate limited, want at least 15", limited)
	}
	if logSize(t, ts, org) != size {
		t.Error("guesses appended events")
	}
}

// TestAgentAccessTokens: a token needs a fresh challenge signed with the
// agent's own key for its own ID; only the newest two work; they expire
// after 15 minutes; decommissioning revokes them all at once.
func TestAgentAccessTokens(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Now())
	ts := servertest.Start(t, func(c *server.Config) { c.Governance.Clock = clk.Now })
	ctx := context.Background()
	const org = "tok"
	ownerTok, _ := ts.Signup(t, org, "owner@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	ts.Signup(t, "tok-other", "owner@example.com", ownerPW)
	anon := ts.Clients("")
	a := enrollAgent(t, ts, owner, "a")
	b := enrollAgent(t, ts, owner, "b")
	heartbeat := func(tok string) error {
		_, err := ts.Clients(tok).Gateway.Heartbeat(ctx, req(&nuxariv1.HeartbeatRequest{}))
		return err
	}
	challenge := func(x *testAgent) []byte {
		t.Helper()
		return must(anon.Gateway.GetChallenge(ctx, req(&nuxariv1.GetChallengeRequest{OrgId: x.org, AgentId: x.id})))(t).Msg.Challenge
	}
	ask := func(x *testAgent, ch, sig []byte) error {
		_, err := anon.Gateway.GetAccessToken(ctx, req(&nuxariv1.GetAccessTokenRequest{OrgId: x.org, AgentId: x.id, Challenge: ch, Signature: sig}))
		return err
	}

	t.Run("signed challenge", func(t *testing.T) {
		size := logSize(t, ts, org)
		cases := []struct {
			name string
			sig  func(ch []byte) []byte
			use  func(ch []byte) []byte // the challenge sent; nil: ch
		}{
			{"wrong signature", func(ch []byte) []byte {
				s := ed25519.Sign(a.key, agentsig.TokenRequest(org, a.id, ch))
				s[7] ^= 1
				return s
			}, nil},
			{"random signature", func([]byte) []byte { s := make([]byte, ed25519.SignatureSize); rand.Read(s); return s }, nil},
			{"no signature", func([]byte) []byte { return nil }, nil},
			{"another agent's key", func(ch []byte) []byte { return ed25519.Sign(b.key, agentsig.TokenRequest(org, a.id, ch)) }, nil},
			{"another agent's request", func(ch []byte) []byte { return ed25519.Sign(b.key, agentsig.TokenRequest(org, b.id, ch)) }, nil},
			{"signed for another org", func(ch []byte) []byte { return ed25519.Sign(a.key, agentsig.TokenRequest("tok-other", a.id, ch)) }, nil},
			{"signed over evidence bytes", func(ch []byte) []byte {
				return ed25519.Sign(a.key, agentsig.Evidence(org, a.id, "t1", "users", "", time.Now(), ch, nil))
			}, nil},
			{"another challenge", func(ch []byte) []byte { return ed25519.Sign(a.key, agentsig.TokenRequest(org, a.id, ch)) }, func(ch []byte) []byte {
				o := bytes.Clone(ch)
				o[0] ^= 1
				return o
			}},
			{"challenge of another agent", func(ch []byte) []byte {
				return ed25519.Sign(a.key, agentsig.TokenRequest(org, a.id, ch))
			}, func([]byte) []byte { return challenge(b) }},
		}
		for _, c := range cases {
			ch := challenge(a)
			sent := ch
			if c.use != nil {
				sent = c.use(ch)
			}
			wantCodeMsg(t, c.name, ask(a, sent, c.sig(sent)), connect.CodeUnauthenticated)
			right := ask(a, ch, ed25519.Sign(a.key, agentsig.TokenRequest(org, a.id, ch)))
			if c.use == nil {
				// The failed attempt used its challenge up.
				wantCodeMsg(t, c.name+", then the right signature", right, connect.CodeUnauthenticated)
			} else if right != nil {
				// A challenge the agent was never given uses up nothing,
				// so that a stranger cannot burn an agent's challenges.
				t.Fatalf("%s, then the right signature over the real challenge: %v", c.name, right)
			}
		}
		// Never asked for a challenge.
		ch := make([]byte, 32)
		rand.Read(ch)
		wantCode(t, ask(a, ch, ed25519.Sign(a.key, agentsig.TokenRequest(org, a.id, ch))), connect.CodeUnauthenticated)
		// Reuse of a challenge that got a token.
		ch = challenge(a)
		sig := ed25519.Sign(a.key, agentsig.TokenRequest(org, a.id, ch))
		if err := ask(a, ch, sig); err != nil {
			t.Fatalf("good token request: %v", err)
		}
		wantCode(t, ask(a, ch, sig), connect.CodeUnauthenticated)
		// A challenge expires after a minute.
		ch = challenge(a)
		clk.Advance(time.Minute)
		wantCode(t, ask(a, ch, ed25519.Sign(a.key, agentsig.TokenRequest(org, a.id, ch))), connect.CodeUnauthenticated)
		// Unknown agent, agent of another org.
		_, err := anon.Gateway.GetChallenge(ctx, req(&nuxariv1.GetChallengeRequest{OrgId: org, AgentId: "g" + randID(8)}))
		wantCode(t, err, connect.CodeUnauthenticated)
		_, err = anon.Gateway.GetChallenge(ctx, req(&nuxariv1.GetChallengeRequest{OrgId: "tok-other", AgentId: a.id}))
		wantCode(t, err, connect.CodeUnauthenticated)
		evs := newEvents(t, ts, org, size)
		// Two good requests after unknown challenges, and the one good
		// request above.
		if len(evs) != 3 || evs[0].Type != "agent.token.issued" || evs[2].Type != "agent.token.issued" {
			t.Fatalf("events: %v, want only the three good tokens'", eventTypes(evs))
		}
	})

	t.Run("only the newest two", func(t *testing.T) {
		t1, t2, t3 := a.token(t, ts), a.token(t, ts), a.token(t, ts)
		wantCode(t, heartbeat(t1), connect.CodeUnauthenticated)
		for _, tok := range []string{t2, t3} {
			if err := heartbeat(tok); err != nil {
				t.Fatalf("one of the newest two: %v", err)
			}
		}
		t4 := a.token(t, ts)
		wantCode(t, heartbeat(t2), connect.CodeUnauthenticated)
		for _, tok := range []string{t3, t4} {
			if err := heartbeat(tok); err != nil {
				t.Fatalf("one of the newest two: %v", err)
			}
		}
		// b's tokens are b's own: a's do not push them out.
		if err := heartbeat(b.token(t, ts)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("other agent's task", func(t *testing.T) {
		task := createTask(t, owner, a.id, "users", "")
		bc := ts.Clients(b.token(t, ts))
		size := logSize(t, ts, org)
		for _, key := range []ed25519.PrivateKey{a.key, b.key} {
			item := a.signEvidence(key, task.TaskId, "users", "", time.Now(), []byte("x"))
			_, err := bc.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: task.TaskId, Items: []*nuxariv1.EvidenceItem{item}}))
			wantCode(t, err, connect.CodeNotFound)
		}
		_, err := bc.Gateway.CompleteTask(ctx, req(&nuxariv1.CompleteTaskRequest{TaskId: task.TaskId, Ok: true}))
		wantCode(t, err, connect.CodeNotFound)
		// b's stream does not carry a's task.
		s := openTaskStream(t, bc)
		s.heartbeatFirst(t)
		bt := createTask(t, owner, b.id, "packages", "")
		m, ok, err := s.next(t, 5*time.Second)
		if !ok || m.GetTask().GetTaskId() != bt.TaskId {
			t.Fatalf("b's stream: %v %v, want only b's task %s", m, err, bt.TaskId)
		}
		s.close()
		if got := getTask(t, owner, task.TaskId); got.State != nuxariv1.TaskState_TASK_STATE_PENDING || len(got.Evidence) != 0 {
			t.Fatalf("a's task after b's attempts: %v", got)
		}
		for _, e := range newEvents(t, ts, org, size) {
			if e.Type != "agent.task.created" && !(e.Type == "agent.task.delivered" && e.Data["task_id"] == bt.TaskId) {
				t.Errorf("b's attempts appended %+v", e)
			}
		}
	})

	t.Run("expiry", func(t *testing.T) {
		tok := a.token(t, ts)
		task := createTask(t, owner, a.id, "users", "")
		clk.Advance(15*time.Minute - time.Second)
		if err := heartbeat(tok); err != nil {
			t.Fatalf("a second before expiry: %v", err)
		}
		clk.Advance(time.Second)
		c := ts.Clients(tok)
		wantCode(t, heartbeat(tok), connect.CodeUnauthenticated)
		_, err := c.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: task.TaskId, Items: []*nuxariv1.EvidenceItem{a.evidence(task.TaskId, "users", "", []byte("x"))}}))
		wantCode(t, err, connect.CodeUnauthenticated)
		_, err = c.Gateway.CompleteTask(ctx, req(&nuxariv1.CompleteTaskRequest{TaskId: task.TaskId, Ok: true}))
		wantCode(t, err, connect.CodeUnauthenticated)
		_, ok, err := openTaskStream(t, c).next(t, 5*time.Second)
		if ok || connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("ReceiveTasks with an expired token: %v %v", ok, err)
		}
		// A fresh token works.
		if err := heartbeat(a.token(t, ts)); err != nil {
			t.Fatal(err)
		}
	})

	// The stream promises to end as soon as its token expires; expiry is
	// judged by the server's clock, as everywhere else.
	t.Run("stream ends when its token expires", func(t *testing.T) {
		e := enrollAgent(t, ts, owner, "e") // no open tasks
		s := openTaskStream(t, ts.Clients(e.token(t, ts)))
		s.heartbeatFirst(t)
		clk.Advance(15 * time.Minute)
		m, ok, err := s.next(t, 3*time.Second)
		if ok || connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Fatalf("stream after its token expired: %v %v %v, want its end with Unauthenticated", m, ok, err)
		}
	})

	t.Run("decommission revokes every token", func(t *testing.T) {
		d := enrollAgent(t, ts, owner, "d")
		t1, t2 := d.token(t, ts), d.token(t, ts)
		task := createTask(t, owner, d.id, "users", "")
		pending := challenge(d) // outstanding at decommissioning
		since := logSize(t, ts, org)
		res := must(owner.Agents.DecommissionAgent(ctx, req(&nuxariv1.DecommissionAgentRequest{AgentId: d.id})))(t)
		if res.Msg.Agent.State != nuxariv1.AgentState_AGENT_STATE_DECOMMISSIONED {
			t.Fatalf("DecommissionAgent: %v", res.Msg.Agent)
		}
		evs := newEvents(t, ts, org, since)
		if len(evs) != 1 || evs[0].Type != "agent.decommissioned" || evs[0].Data["tokens_revoked"] != float64(2) {
			t.Fatalf("events: %+v", evs)
		}
		for _, tok := range []string{t1, t2} {
			c := ts.Clients(tok)
			wantCode(t, heartbeat(tok), connect.CodeUnauthenticated)
			_, err := c.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: task.TaskId, Items: []*nuxariv1.EvidenceItem{d.evidence(task.TaskId, "users", "", []byte("x"))}}))
			wantCode(t, err, connect.CodeUnauthenticated)
			_, err = c.Gateway.CompleteTask(ctx, req(&nuxariv1.CompleteTaskRequest{TaskId: task.TaskId, Ok: true}))
			wantCode(t, err, connect.CodeUnauthenticated)
			_, ok, err := openTaskStream(t, c).next(t, 5*time.Second)
			if ok || connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Errorf("ReceiveTasks after decommissioning: %v %v", ok, err)
			}
		}
		// No new token, whether by a new challenge or one given before.
		_, err := anon.Gateway.GetChallenge(ctx, req(&nuxariv1.GetChallengeRequest{OrgId: org, AgentId: d.id}))
		wantCodeMsg(t, "GetChallenge for a decommissioned agent", err, connect.CodeUnauthenticated)
		res2, err := anon.Gateway.GetAccessToken(ctx, req(&nuxariv1.GetAccessTokenRequest{
			OrgId: org, AgentId: d.id, Challenge: pending, Signature: ed25519.Sign(d.key, agentsig.TokenRequest(org, d.id, pending)),
		}))
		if connect.CodeOf(err) != connect.CodeUnauthenticated {
			t.Errorf("GetAccessToken for a decommissioned agent, with a challenge signed before: got %v (response %v), want Unauthenticated", err, res2.Msg)
		}
		_, err = owner.Agents.CreateTask(ctx, req(&nuxariv1.CreateTaskRequest{AgentId: d.id, Collector: "users"}))
		wantCode(t, err, connect.CodeFailedPrecondition)
		// Decommissioning again changes nothing.
		since = logSize(t, ts, org)
		must(owner.Agents.DecommissionAgent(ctx, req(&nuxariv1.DecommissionAgentRequest{AgentId: d.id})))(t)
		if evs := newEvents(t, ts, org, since); len(evs) != 0 {
			t.Errorf("second decommissioning appended %v", eventTypes(evs))
		}
	})
}

// TestAgentEvidenceTampering: evidence whose content, hash, signature,
// scrub list or time was altered after the agent signed it is refused
// whole, nothing of it recorded, and the refusal is in the log; a valid
// item is recorded exactly once however often it is sent.
func TestAgentEvidenceTampering(t *testing.T) {
	t.Parallel()
	ts := servertest.Start(t)
	ctx := context.Background()
	const org = "tamper"
	ownerTok, _ := ts.Signup(t, org, "owner@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	a := enrollAgent(t, ts, owner, "a")
	b := enrollAgent(t, ts, owner, "b")
	agent := ts.Clients(a.token(t, ts))
	const target = "/etc/ssh/sshd_config"
	task := createTask(t, owner, a.id, "file", target)
	content := []byte("PermitRootLogin no\nPasswordAuthentication no\n")
	other := []byte("PermitRootLogin yes\nPasswordAuthentication yes\n")
	at := time.Now()
	good := a.signEvidence(a.key, task.TaskId, "file", target, at, content, "private_key")
	alter := func(f func(*nuxariv1.EvidenceItem)) *nuxariv1.EvidenceItem {
		it := proto.Clone(good).(*nuxariv1.EvidenceItem)
		f(it)
		return it
	}
	submit := func(items ...*nuxariv1.EvidenceItem) (*connect.Response[nuxariv1.SubmitEvidenceResponse], error) {
		return agent.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: task.TaskId, Items: items}))
	}

	cases := []struct {
		name  string
		items []*nuxariv1.EvidenceItem
		bad   int // the index of the altered item
	}{
		{"content changed, hash kept", []*nuxariv1.EvidenceItem{alter(func(it *nuxariv1.EvidenceItem) { it.Content = other })}, 0},
		{"hash changed to match changed content, signature kept", []*nuxariv1.EvidenceItem{alter(func(it *nuxariv1.EvidenceItem) {
			it.Content = other
			s := sha256.Sum256(other)
			it.Sha256 = s[:]
		})}, 0},
		{"signed with another agent's key", []*nuxariv1.EvidenceItem{a.signEvidence(b.key, task.TaskId, "file", target, at, content, "private_key")}, 0},
		{"scrub list emptied after signing", []*nuxariv1.EvidenceItem{alter(func(it *nuxariv1.EvidenceItem) { it.Scrubbed = nil })}, 0},
		{"scrub list added to after signing", []*nuxariv1.EvidenceItem{alter(func(it *nuxariv1.EvidenceItem) { it.Scrubbed = append(it.Scrubbed, "password") })}, 0},
		{"scrub list reordered after signing", []*nuxariv1.EvidenceItem{alter(func(it *nuxariv1.EvidenceItem) { it.Scrubbed = []string{"private", "key"} })}, 0},
		{"collected time changed after signing", []*nuxariv1.EvidenceItem{alter(func(it *nuxariv1.EvidenceItem) {
			it.CollectedTime = timestamppb.New(at.Add(-time.Hour))
		})}, 0},
		{"hash truncated", []*nuxariv1.EvidenceItem{alter(func(it *nuxariv1.EvidenceItem) { it.Sha256 = it.Sha256[:31] })}, 0},
		{"no signature", []*nuxariv1.EvidenceItem{alter(func(it *nuxariv1.EvidenceItem) { it.Signature = nil })}, 0},
		{"signed for another task", []*nuxariv1.EvidenceItem{a.signEvidence(a.key, "t"+randID(8), "file", target, at, content, "private_key")}, 0},
		{"signature over a token request", []*nuxariv1.EvidenceItem{alter(func(it *nuxariv1.EvidenceItem) {
			it.Signature = ed25519.Sign(a.key, agentsig.TokenRequest(org, a.id, it.Sha256))
		})}, 0},
		{"second item altered, first good", []*nuxariv1.EvidenceItem{good, alter(func(it *nuxariv1.EvidenceItem) { it.Content = other })}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			since := logSize(t, ts, org)
			_, err := submit(c.items...)
			wantCode(t, err, connect.CodePermissionDenied)
			evs := newEvents(t, ts, org, since)
			if len(evs) != 1 || evs[0].Type != "evidence.rejected" || evs[0].Actor != "agent:"+a.id ||
				evs[0].Data["task_id"] != task.TaskId || evs[0].Data["item"] != float64(c.bad) {
				t.Fatalf("events after a refused submission: %+v, want one evidence.rejected of item %d", evs, c.bad)
			}
			if got := getTask(t, owner, task.TaskId); len(got.Evidence) != 0 {
				t.Fatalf("task has evidence %v after a refused submission", got.Evidence)
			}
		})
	}

	// Valid evidence is recorded once, however often it comes.
	since := logSize(t, ts, org)
	for _, items := range [][]*nuxariv1.EvidenceItem{{good}, {good}, {good, good}} {
		res, err := submit(items...)
		if err != nil {
			t.Fatalf("valid submission: %v", err)
		}
		for _, h := range res.Msg.Recorded {
			if h != hexSHA(content) {
				t.Fatalf("recorded %v", res.Msg.Recorded)
			}
		}
	}
	if evs := newEvents(t, ts, org, since); !slices.Equal(eventTypes(evs), []string{"evidence.recorded"}) {
		t.Fatalf("events of three submissions of one item: %v, want one evidence.recorded", eventTypes(evs))
	}
	second := a.evidence(task.TaskId, "file", target, other)
	must(submit(good, second))(t)
	if got := getTask(t, owner, task.TaskId); !slices.Equal(got.Evidence, []string{hexSHA(content), hexSHA(other)}) {
		t.Fatalf("task evidence %v", got.Evidence)
	}
	must(agent.Gateway.CompleteTask(ctx, req(&nuxariv1.CompleteTaskRequest{TaskId: task.TaskId, Ok: true})))(t)
	must(agent.Gateway.CompleteTask(ctx, req(&nuxariv1.CompleteTaskRequest{TaskId: task.TaskId, Ok: false, Detail: "again"})))(t)
	_, err := submit(a.evidence(task.TaskId, "file", target, []byte("late")))
	wantCode(t, err, connect.CodeFailedPrecondition)
	recorded, completed := 0, 0
	for _, e := range newEvents(t, ts, org, 0) {
		switch e.Type {
		case "evidence.recorded":
			recorded++
		case "agent.task.completed":
			completed++
		}
	}
	if recorded != 2 || completed != 1 {
		t.Fatalf("the log has %d evidence.recorded and %d agent.task.completed, want 2 and 1", recorded, completed)
	}
	if got := getTask(t, owner, task.TaskId); got.State != nuxariv1.TaskState_TASK_STATE_SUCCEEDED {
		t.Fatalf("task after a second completion: %v", got)
	}
}

// TestAgentDecommissionWhileStreaming: an open task stream ends within a
// second of its agent's decommissioning, in every protocol, and nothing
// more is accepted from the agent.
func TestAgentDecommissionWhileStreaming(t *testing.T) {
	t.Parallel()
	ts := servertest.Start(t)
	ctx := context.Background()
	const org = "decom"
	ownerTok, _ := ts.Signup(t, org, "owner@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	for _, p := range servertest.Protocols {
		t.Run(string(p), func(t *testing.T) {
			a := enrollAgent(t, ts, owner, "stream-"+string(p))
			tok := a.token(t, ts)
			c := ts.ClientsFor(tok, p)
			task := createTask(t, owner, a.id, "sudoers", "")
			s := openTaskStream(t, c)
			s.heartbeatFirst(t)
			if m, ok, err := s.next(t, 5*time.Second); !ok || m.GetTask().GetTaskId() != task.TaskId {
				t.Fatalf("pending task on the stream: %v %v", m, err)
			}
			must(owner.Agents.DecommissionAgent(ctx, req(&nuxariv1.DecommissionAgentRequest{AgentId: a.id})))(t)
			// A promise, not a speed target: the stream ends within 1 s.
			m, ok, err := s.next(t, time.Second)
			if ok || connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Fatalf("stream after decommissioning: %v %v %v, want its end with Unauthenticated", m, ok, err)
			}
			_, err = c.Gateway.Heartbeat(ctx, req(&nuxariv1.HeartbeatRequest{}))
			wantCode(t, err, connect.CodeUnauthenticated)
			_, err = c.Gateway.CompleteTask(ctx, req(&nuxariv1.CompleteTaskRequest{TaskId: task.TaskId, Ok: true}))
			wantCode(t, err, connect.CodeUnauthenticated)
			if _, ok, err := openTaskStream(t, c).next(t, 5*time.Second); ok || connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Fatalf("new stream after decommissioning: %v %v", ok, err)
			}
			_, err = getAgentToken(ctx, c, org, a.id, a.key)
			wantCode(t, err, connect.CodeUnauthenticated)
		})
	}
}

// TestAgentChannelRBAC: people cannot use the agents' channel, and an
// agent's token opens nothing but it.
func TestAgentChannelRBAC(t *testing.T) {
	t.Parallel()
	ts := servertest.Start(t)
	ctx := context.Background()
	const org = "agrbac"
	ownerTok, ownerID := ts.Signup(t, org, "owner@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	a := enrollAgent(t, ts, owner, "a")
	agentTok := a.token(t, ts)
	agent := ts.Clients(agentTok)
	task := createTask(t, owner, a.id, "users", "")
	item := a.evidence(task.TaskId, "users", "", []byte("root:x:0:0::/root:/bin/sh\n"))
	people := map[string]string{"owner": ownerTok}
	for _, r := range rbacRoleOrder[1:] {
		tok, _ := ts.AddMember(t, ownerTok, org, string(r)+"@example.com", "member password 1", rbacProtoRoles[r])
		people[string(r)] = tok
	}
	api := must(owner.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "owner-bot", Role: nuxariv1.Role_ROLE_OWNER})))(t)
	people["apitoken/owner"] = api.Msg.Secret
	size := logSize(t, ts, org)

	for name, tok := range people {
		c := ts.Clients(tok)
		denied := func(what string, err error) {
			t.Helper()
			wantCodeMsg(t, name+": "+what, err, connect.CodePermissionDenied, "agent.channel")
		}
		_, err := c.Gateway.Heartbeat(ctx, req(&nuxariv1.HeartbeatRequest{}))
		denied("Heartbeat", err)
		_, err = c.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: task.TaskId, Items: []*nuxariv1.EvidenceItem{item}}))
		denied("SubmitEvidence", err)
		_, err = c.Gateway.CompleteTask(ctx, req(&nuxariv1.CompleteTaskRequest{TaskId: task.TaskId, Ok: true}))
		denied("CompleteTask", err)
		_, _, err = openTaskStream(t, c).next(t, 5*time.Second)
		denied("ReceiveTasks", err)
	}

	agentCalls := map[string]func() error{
		"WhoAmI":      func() error { return ignoreRes(agent.Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{}))) },
		"Logout":      func() error { return ignoreRes(agent.Auth.Logout(ctx, req(&nuxariv1.LogoutRequest{}))) },
		"ListMembers": func() error { return ignoreRes(agent.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{}))) },
		"GetOrg":      func() error { return ignoreRes(agent.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{}))) },
		"RemoveMember": func() error {
			return ignoreRes(agent.Org.RemoveMember(ctx, req(&nuxariv1.RemoveMemberRequest{UserId: ownerID})))
		},
		"CreateAPIToken": func() error {
			return ignoreRes(agent.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "x", Role: nuxariv1.Role_ROLE_READONLY})))
		},
		"CreateJoinToken": func() error {
			return ignoreRes(agent.Agents.CreateJoinToken(ctx, req(&nuxariv1.CreateJoinTokenRequest{})))
		},
		"ListAgents": func() error { return ignoreRes(agent.Agents.ListAgents(ctx, req(&nuxariv1.ListAgentsRequest{}))) },
		"GetAgent": func() error {
			return ignoreRes(agent.Agents.GetAgent(ctx, req(&nuxariv1.GetAgentRequest{AgentId: a.id})))
		},
		"CreateTask": func() error {
			return ignoreRes(agent.Agents.CreateTask(ctx, req(&nuxariv1.CreateTaskRequest{AgentId: a.id, Collector: "command", Target: "id"})))
		},
		"GetTask": func() error {
			return ignoreRes(agent.Agents.GetTask(ctx, req(&nuxariv1.GetTaskRequest{TaskId: task.TaskId})))
		},
		"DecommissionAgent": func() error {
			return ignoreRes(agent.Agents.DecommissionAgent(ctx, req(&nuxariv1.DecommissionAgentRequest{AgentId: a.id})))
		},
		"AppendEvents": func() error {
			return ignoreRes(agent.Ledger.AppendEvents(ctx, req(&nuxariv1.AppendEventsRequest{Events: []*nuxariv1.NewEvent{{Type: "custom.agent"}}})))
		},
		"ListEvents":    func() error { return ignoreRes(agent.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{}))) },
		"GetCheckpoint": func() error { return ignoreRes(agent.Ledger.GetCheckpoint(ctx, req(&nuxariv1.GetCheckpointRequest{}))) },
		"ExportPackage": func() error {
			return ignoreRes(agent.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{})))
		},
	}
	for name, call := range agentCalls {
		wantCodeMsg(t, "agent token: "+name, call(), connect.CodePermissionDenied)
	}
	if n := logSize(t, ts, org); n != size {
		t.Errorf("refused calls appended %v", eventTypes(newEvents(t, ts, org, size)))
	}
	if got := getTask(t, owner, task.TaskId); got.State != nuxariv1.TaskState_TASK_STATE_PENDING || len(got.Evidence) != 0 {
		t.Errorf("task after refused calls: %v", got)
	}
	// The agent itself may.
	if _, err := agent.Gateway.Heartbeat(ctx, req(&nuxariv1.HeartbeatRequest{})); err != nil {
		t.Fatalf("agent Heartbeat: %v", err)
	}
}

// TestAgentBadInput: malformed requests are InvalidArgument, naming the
// field at fault, and record nothing.
func TestAgentBadInput(t *testing.T) {
	t.Parallel()
	ts := servertest.Start(t)
	ctx := context.Background()
	const org = "agbad"
	ownerTok, _ := ts.Signup(t, org, "owner@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	a := enrollAgent(t, ts, owner, "a")
	agent := ts.Clients(a.token(t, ts))
	task := createTask(t, owner, a.id, "users", "")
	size := logSize(t, ts, org)

	for _, c := range []struct{ agentID, collector, target, field string }{
		{a.id, "nope", "", "collector"},
		{a.id, "", "", "collector"},
		{a.id, "Users", "", "collector"},
		{a.id, "file", "etc/passwd", "target"},
		{a.id, "file", "", "target"},
		{a.id, "file", "/etc/\x00passwd", "target"},
		{a.id, "users", "/etc/passwd", "target"},
		{a.id, "packages", "x", "target"},
		{a.id, "command", "", "target"},
		{"", "users", "", "agent_id"},
		{"G-BAD", "users", "", "agent_id"},
	} {
		_, err := owner.Agents.CreateTask(ctx, req(&nuxariv1.CreateTaskRequest{AgentId: c.agentID, Collector: c.collector, Target: c.target}))
		wantCodeMsg(t, fmt.Sprintf("CreateTask(%q, %q, %q)", c.agentID, c.collector, c.target), err, connect.CodeInvalidArgument, c.field)
	}

	item := func(content []byte, scrubbed ...string) *nuxariv1.EvidenceItem {
		return a.evidence(task.TaskId, "users", "", content, scrubbed...)
	}
	many := make([]*nuxariv1.EvidenceItem, 17)
	for i := range many {
		many[i] = item(fmt.Appendf(nil, "item %d", i))
	}
	noTime := item([]byte("x"))
	noTime.CollectedTime = nil
	for _, c := range []struct {
		name  string
		items []*nuxariv1.EvidenceItem
		field string
	}{
		{"no items", nil, "items"},
		{"17 items", many, "items"},
		{"content over 1 MiB", []*nuxariv1.EvidenceItem{item(make([]byte, 1<<20+1))}, "content"},
		{"scrub kind Bad-Kind", []*nuxariv1.EvidenceItem{item([]byte("x"), "Bad-Kind")}, "scrubbed"},
		{"empty scrub kind", []*nuxariv1.EvidenceItem{item([]byte("x"), "")}, "scrubbed"},
		{"no collected time", []*nuxariv1.EvidenceItem{noTime}, "collected_time"},
		{"another collector", []*nuxariv1.EvidenceItem{a.evidence(task.TaskId, "packages", "", []byte("x"))}, "collector"},
	} {
		_, err := agent.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: task.TaskId, Items: c.items}))
		wantCodeMsg(t, "SubmitEvidence: "+c.name, err, connect.CodeInvalidArgument, c.field)
	}
	// Exactly 16 items and exactly 1 MiB are fine.
	must(agent.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: task.TaskId, Items: many[:16]})))(t)
	must(agent.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: task.TaskId, Items: []*nuxariv1.EvidenceItem{item(make([]byte, 1<<20))}})))(t)
	evs := newEvents(t, ts, org, size)
	if len(evs) != 17 {
		t.Errorf("events after the bad and good submissions: %v, want 17 evidence.recorded", eventTypes(evs))
	}
	for _, e := range evs {
		if e.Type != "evidence.recorded" {
			t.Errorf("a refused call appended %s", e.Type)
		}
	}

	for _, n := range []int{0, 31, 33, 64} {
		_, err := ts.Clients("").Gateway.Enroll(ctx, req(&nuxariv1.EnrollRequest{JoinToken: createJoinToken(t, owner, 0), PublicKey: make([]byte, n), Hostname: "h"}))
		wantCodeMsg(t, fmt.Sprintf("Enroll with a %d-byte key", n), err, connect.CodeInvalidArgument, "public_key")
	}
	_, err := ts.Clients("").Gateway.Enroll(ctx, req(&nuxariv1.EnrollRequest{JoinToken: createJoinToken(t, owner, 0), PublicKey: a.pub, Hostname: strings.Repeat("h", 254)}))
	wantCodeMsg(t, "Enroll with a long hostname", err, connect.CodeInvalidArgument, "hostname")
	_, err = agent.Gateway.CompleteTask(ctx, req(&nuxariv1.CompleteTaskRequest{TaskId: task.TaskId, Detail: strings.Repeat("d", 1001)}))
	wantCodeMsg(t, "CompleteTask with a long detail", err, connect.CodeInvalidArgument, "detail")
	_, err = owner.Agents.GetTask(ctx, req(&nuxariv1.GetTaskRequest{}))
	wantCodeMsg(t, "GetTask without an ID", err, connect.CodeInvalidArgument, "task_id")
	_, err = owner.Agents.GetAgent(ctx, req(&nuxariv1.GetAgentRequest{AgentId: "../x"}))
	wantCodeMsg(t, "GetAgent(../x)", err, connect.CodeInvalidArgument, "agent_id")
}

// TestAgentJoinTokenListRevoke: join tokens are listed by ID, never with
// their value, page by page; a revoked one is gone from the list, cannot
// enrol, and its revocation is in the log.
func TestAgentJoinTokenListRevoke(t *testing.T) {
	t.Parallel()
	ts := servertest.Start(t)
	ctx := context.Background()
	const org = "jtlist"
	ownerTok, ownerID := ts.Signup(t, org, "owner@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	anon := ts.Clients("")

	made := map[string]*nuxariv1.CreateJoinTokenResponse{}
	var secrets []string
	for range 3 {
		res := must(owner.Agents.CreateJoinToken(ctx, req(&nuxariv1.CreateJoinTokenRequest{})))(t)
		if len(res.Msg.JoinTokenId) != 24 {
			t.Fatalf("CreateJoinToken: join_token_id %q, want 24 hex digits", res.Msg.JoinTokenId)
		}
		hash := token.Hash(res.Msg.JoinToken)
		if res.Msg.JoinTokenId != token.ID(hash) {
			t.Fatalf("join_token_id %s is not the token's public ID", res.Msg.JoinTokenId)
		}
		made[res.Msg.JoinTokenId] = res.Msg
		secrets = append(secrets, res.Msg.JoinToken, res.Msg.JoinToken[strings.LastIndexByte(res.Msg.JoinToken, '.')+1:], hex.EncodeToString(hash[:]))
	}

	// Two pages of sizes 2 and 1 list all three.
	var listed []*nuxariv1.JoinToken
	page := must(owner.Agents.ListJoinTokens(ctx, req(&nuxariv1.ListJoinTokensRequest{PageSize: 2})))(t)
	if len(page.Msg.JoinTokens) != 2 || page.Msg.NextPageToken == "" {
		t.Fatalf("first page: %v", page.Msg)
	}
	listed = append(listed, page.Msg.JoinTokens...)
	page = must(owner.Agents.ListJoinTokens(ctx, req(&nuxariv1.ListJoinTokensRequest{PageSize: 2, PageToken: page.Msg.NextPageToken})))(t)
	if len(page.Msg.JoinTokens) != 1 || page.Msg.NextPageToken != "" {
		t.Fatalf("second page: %v", page.Msg)
	}
	listed = append(listed, page.Msg.JoinTokens...)
	for _, jt := range listed {
		m, ok := made[jt.JoinTokenId]
		if !ok {
			t.Fatalf("listed unknown join token %s", jt.JoinTokenId)
		}
		if jt.CreatedBy != ownerID || !jt.ExpireTime.AsTime().Equal(m.ExpireTime.AsTime()) || jt.CreateTime.AsTime().IsZero() ||
			jt.ExpireTime.AsTime().Sub(jt.CreateTime.AsTime()) != 30*time.Minute {
			t.Errorf("listed %v, want created by %s, expiring %v, 30m after its creation", jt, ownerID, m.ExpireTime.AsTime())
		}
		b, err := proto.Marshal(jt)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(b, []byte(s)) {
				t.Fatalf("ListJoinTokens shows a token's value or hash")
			}
		}
	}

	victim := listed[1].JoinTokenId
	since := logSize(t, ts, org)
	must(owner.Agents.RevokeJoinToken(ctx, req(&nuxariv1.RevokeJoinTokenRequest{JoinTokenId: victim})))(t)
	evs := newEvents(t, ts, org, since)
	if len(evs) != 1 || evs[0].Type != "agent.join_token.revoked" || evs[0].Actor != ownerID || evs[0].Subject != "jointoken:"+victim {
		t.Fatalf("events of a revocation: %+v", evs)
	}
	all := must(owner.Agents.ListJoinTokens(ctx, req(&nuxariv1.ListJoinTokensRequest{})))(t).Msg.JoinTokens
	if len(all) != 2 || slices.ContainsFunc(all, func(j *nuxariv1.JoinToken) bool { return j.JoinTokenId == victim }) {
		t.Fatalf("after revoking %s: %v", victim, all)
	}
	pub, _ := newAgentKey(t)
	_, err := anon.Gateway.Enroll(ctx, req(&nuxariv1.EnrollRequest{JoinToken: made[victim].JoinToken, PublicKey: pub, Hostname: "late"}))
	wantCode(t, err, connect.CodeUnauthenticated)
	// Revoking it again, or an ID that never was, is NotFound.
	_, err = owner.Agents.RevokeJoinToken(ctx, req(&nuxariv1.RevokeJoinTokenRequest{JoinTokenId: victim}))
	wantCode(t, err, connect.CodeNotFound)
	_, err = owner.Agents.RevokeJoinToken(ctx, req(&nuxariv1.RevokeJoinTokenRequest{JoinTokenId: randID(12)}))
	wantCode(t, err, connect.CodeNotFound)
	// The others still enrol, and a used one leaves the list.
	for _, jt := range all {
		must(anon.Gateway.Enroll(ctx, req(&nuxariv1.EnrollRequest{JoinToken: made[jt.JoinTokenId].JoinToken, PublicKey: pub, Hostname: "h"})))(t)
	}
	if left := must(owner.Agents.ListJoinTokens(ctx, req(&nuxariv1.ListJoinTokensRequest{})))(t).Msg.JoinTokens; len(left) != 0 {
		t.Fatalf("used join tokens are still listed: %v", left)
	}
}

// TestAgentJoinTokenCreator: a join token works only while its creator
// may still create join tokens. When the creator is removed, demoted
// below agents.manage, or (for an API token) revoked, the token is
// refused, burned, and the refusal recorded.
func TestAgentJoinTokenCreator(t *testing.T) {
	t.Parallel()
	ts := servertest.Start(t)
	ctx := context.Background()
	const org = "jtcreator"
	ownerTok, _ := ts.Signup(t, org, "owner@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	anon := ts.Clients("")
	n := 0
	admin := func() (servertest.Clients, string) {
		n++
		tok, id := ts.AddMember(t, ownerTok, org, fmt.Sprintf("admin%d@example.com", n), "admin password 1", nuxariv1.Role_ROLE_ADMIN)
		return ts.Clients(tok), id
	}
	refused := func(t *testing.T, jt, reason string) {
		t.Helper()
		since := logSize(t, ts, org)
		pub, _ := newAgentKey(t)
		_, err := anon.Gateway.Enroll(ctx, req(&nuxariv1.EnrollRequest{JoinToken: jt, PublicKey: pub, Hostname: "h"}))
		wantCode(t, err, connect.CodeUnauthenticated)
		evs := newEvents(t, ts, org, since)
		if len(evs) != 1 || evs[0].Type != "agent.enrol.refused" || evs[0].Data["reason"] != reason {
			t.Fatalf("events: %+v, want one agent.enrol.refused (%s)", evs, reason)
		}
		// Burned: a second try appends nothing.
		_, err = anon.Gateway.Enroll(ctx, req(&nuxariv1.EnrollRequest{JoinToken: jt, PublicKey: pub, Hostname: "h"}))
		wantCode(t, err, connect.CodeUnauthenticated)
		if evs := newEvents(t, ts, org, since); len(evs) != 1 {
			t.Fatalf("a second try appended %v", eventTypes(evs[1:]))
		}
	}
	enrols := func(t *testing.T, jt string) {
		t.Helper()
		pub, _ := newAgentKey(t)
		if _, err := anon.Gateway.Enroll(ctx, req(&nuxariv1.EnrollRequest{JoinToken: jt, PublicKey: pub, Hostname: "h"})); err != nil {
			t.Fatalf("Enroll: %v", err)
		}
	}

	t.Run("creator removed", func(t *testing.T) {
		a, id := admin()
		jt := createJoinToken(t, a, 0)
		must(owner.Org.RemoveMember(ctx, req(&nuxariv1.RemoveMemberRequest{UserId: id})))(t)
		refused(t, jt, "creator_removed")
	})
	t.Run("creator demoted", func(t *testing.T) {
		for _, r := range []nuxariv1.Role{nuxariv1.Role_ROLE_AUDITOR, nuxariv1.Role_ROLE_READONLY} {
			a, id := admin()
			jt := createJoinToken(t, a, 0)
			must(owner.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: id, Role: r})))(t)
			refused(t, jt, "creator_lacks_permission")
		}
	})
	t.Run("creator promoted keeps it", func(t *testing.T) {
		a, id := admin()
		jt := createJoinToken(t, a, 0)
		must(owner.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: id, Role: nuxariv1.Role_ROLE_OWNER})))(t)
		enrols(t, jt)
	})
	t.Run("API token creator", func(t *testing.T) {
		a, id := admin()
		mk := func() (string, string) {
			res := must(a.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: fmt.Sprintf("bot-%d", n), Role: nuxariv1.Role_ROLE_ADMIN})))(t)
			return createJoinToken(t, ts.Clients(res.Msg.Secret), 0), res.Msg.Token.TokenId
		}
		jt, _ := mk()
		enrols(t, jt)
		jt, tokID := mk()
		must(a.Auth.RevokeAPIToken(ctx, req(&nuxariv1.RevokeAPITokenRequest{TokenId: tokID})))(t)
		refused(t, jt, "creator_removed")
		// The API token's own creator demoted: the demotion revokes the
		// token for good, and with it its join token.
		jt, _ = mk()
		must(owner.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: id, Role: nuxariv1.Role_ROLE_AUDITOR})))(t)
		refused(t, jt, "creator_removed")
	})
}

// TestAgentEvidenceTaskLimits: a task holds at most 64 evidence items and
// 16 MiB of content over all its submissions; the limit is named in a
// ResourceExhausted error, and concurrent submissions cannot together
// pass it.
func TestAgentEvidenceTaskLimits(t *testing.T) {
	t.Parallel()
	ts := servertest.Start(t)
	ctx := context.Background()
	const org = "evlimit"
	ownerTok, _ := ts.Signup(t, org, "owner@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	a := enrollAgent(t, ts, owner, "a")
	agent := ts.Clients(a.token(t, ts))
	seq := 0
	items := func(taskID string, n, size int) []*nuxariv1.EvidenceItem {
		var out []*nuxariv1.EvidenceItem
		for range n {
			seq++
			c := make([]byte, size)
			copy(c, fmt.Sprintf("item %d ", seq))
			out = append(out, a.evidence(taskID, "users", "", c))
		}
		return out
	}
	submit := func(taskID string, its []*nuxariv1.EvidenceItem) error {
		_, err := agent.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: taskID, Items: its}))
		return err
	}

	t.Run("items", func(t *testing.T) {
		task := createTask(t, owner, a.id, "users", "").TaskId
		var first []*nuxariv1.EvidenceItem
		for i := range 4 {
			its := items(task, 16, 16)
			if i == 0 {
				first = its
			}
			if err := submit(task, its); err != nil {
				t.Fatalf("submission %d (items %d–%d): %v", i, 16*i+1, 16*i+16, err)
			}
		}
		since := logSize(t, ts, org)
		wantCodeMsg(t, "the 65th item", submit(task, items(task, 1, 16)), connect.CodeResourceExhausted, "64", "evidence items")
		// Items the task already holds are no more: they pass.
		if err := submit(task, first); err != nil {
			t.Fatalf("resubmitting recorded items: %v", err)
		}
		if got := getTask(t, owner, task); len(got.Evidence) != 64 {
			t.Fatalf("task holds %d items, want 64", len(got.Evidence))
		}
		if evs := newEvents(t, ts, org, since); len(evs) != 0 {
			t.Fatalf("refused and repeated submissions appended %v", eventTypes(evs))
		}
	})

	t.Run("bytes", func(t *testing.T) {
		task := createTask(t, owner, a.id, "users", "").TaskId
		if err := submit(task, items(task, 15, 1<<20)); err != nil {
			t.Fatalf("15 MiB: %v", err)
		}
		if err := submit(task, items(task, 1, 1<<20)); err != nil {
			t.Fatalf("up to exactly 16 MiB: %v", err)
		}
		wantCodeMsg(t, "one byte past 16 MiB", submit(task, items(task, 1, 1)), connect.CodeResourceExhausted, "16777216 bytes")
		if got := getTask(t, owner, task); len(got.Evidence) != 16 {
			t.Fatalf("task holds %d items, want 16", len(got.Evidence))
		}
	})

	t.Run("concurrent submissions", func(t *testing.T) {
		task := createTask(t, owner, a.id, "users", "").TaskId
		for _, n := range []int{16, 16, 16, 8} {
			if err := submit(task, items(task, n, 16)); err != nil {
				t.Fatal(err)
			}
		}
		// 56 held; four submissions of 8 new items each race for the
		// last 8 places, each retried while it loses a race (Aborted),
		// as an agent would. Exactly one fits, whatever the interleaving.
		batches := make([][]*nuxariv1.EvidenceItem, 4)
		for i := range batches {
			batches[i] = items(task, 8, 16)
		}
		start := make(chan struct{})
		errs := make(chan error, len(batches))
		for _, b := range batches {
			go func() {
				<-start
				errs <- retryAborted(func() error { return submit(task, b) })
			}()
		}
		close(start)
		ok, full := 0, 0
		for range batches {
			switch err := <-errs; connect.CodeOf(err) {
			case connect.CodeResourceExhausted:
				full++
			default:
				if err != nil {
					t.Errorf("concurrent submission: %v", err)
				}
				ok++
			}
		}
		got := getTask(t, owner, task)
		if ok != 1 || full != 3 || len(got.Evidence) != 64 {
			t.Fatalf("%d concurrent submissions succeeded, %d were refused, and the task holds %d items; want 1, 3 and 64", ok, full, len(got.Evidence))
		}
		recorded := 0
		for _, e := range newEvents(t, ts, org, 0) {
			if e.Type == "evidence.recorded" && e.Data["task_id"] == task {
				recorded++
			}
		}
		if recorded != len(got.Evidence) || recorded > 64 {
			t.Fatalf("the log records %d items of the task, which holds %d (limit 64)", recorded, len(got.Evidence))
		}
	})
}

// TestAgentEvidenceCollectedTime: an item's collected time must lie
// between 5 minutes before its task was created and 5 minutes after the
// server's time; outside, the submission is InvalidArgument naming
// collected_time, and nothing is recorded.
func TestAgentEvidenceCollectedTime(t *testing.T) {
	t.Parallel()
	clk := fakeclock.New(time.Now())
	ts := servertest.Start(t, func(c *server.Config) { c.Governance.Clock = clk.Now })
	ctx := context.Background()
	const org = "evtime"
	ownerTok, _ := ts.Signup(t, org, "owner@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	a := enrollAgent(t, ts, owner, "a")
	task := createTask(t, owner, a.id, "users", "")
	created := task.CreateTime.AsTime()
	if !created.Equal(clk.Now()) {
		t.Fatalf("task created at %v, the server's clock says %v", created, clk.Now())
	}
	// The server's clock moves an hour on; the agent reports late.
	clk.Advance(time.Hour)
	now := clk.Now()
	agent := ts.Clients(a.token(t, ts))
	n := 0
	submit := func(at time.Time) error {
		n++
		item := a.signEvidence(a.key, task.TaskId, "users", "", at, fmt.Appendf(nil, "users at %d", n))
		_, err := agent.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: task.TaskId, Items: []*nuxariv1.EvidenceItem{item}}))
		return err
	}
	for _, c := range []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"a second before the window", created.Add(-5*time.Minute - time.Second), false},
		{"a day before the task", created.Add(-24 * time.Hour), false},
		{"the window's start", created.Add(-5 * time.Minute), true},
		{"between creation and now", created.Add(30 * time.Minute), true},
		{"now", now, true},
		{"the window's end", now.Add(5 * time.Minute), true},
		{"a second after the window", now.Add(5*time.Minute + time.Second), false},
		{"next year", now.Add(365 * 24 * time.Hour), false},
		{"the Unix epoch", time.Unix(0, 0), false},
	} {
		since := logSize(t, ts, org)
		err := submit(c.at)
		if c.ok {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		wantCodeMsg(t, c.name, err, connect.CodeInvalidArgument, "collected_time", "5m0s")
		if evs := newEvents(t, ts, org, since); len(evs) != 0 {
			t.Errorf("%s: appended %v", c.name, eventTypes(evs))
		}
	}
	if got := getTask(t, owner, task.TaskId); len(got.Evidence) != 4 {
		t.Fatalf("task holds %d items, want the 4 inside the window", len(got.Evidence))
	}
}
