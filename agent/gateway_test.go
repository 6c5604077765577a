package agent_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nuxari/nuxari/internal/agentsig"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// joinToken is the join token fakeGateway takes.
const joinToken = "nxj.acme.JOINJOINJOINJOINJOINJOINJOINJOINJOINJOINJOI"

// fakeGateway is a hand-written AgentGatewayService that checks what a
// real gateway checks (the join token, challenge signatures, bearer
// tokens and their expiry, evidence hashes and signatures) and records
// what it got. Open tasks are delivered on every stream until completed,
// as the real one does after a reconnect. Like the real gateway, it
// refuses an expired access token with Unauthenticated, and ends a task
// stream with Unauthenticated when the stream's token expires; each such
// use of an expired token is recorded in expiredUses.
type fakeGateway struct {
	t        *testing.T
	tokenTTL time.Duration
	interval time.Duration

	mu           sync.Mutex
	pub          ed25519.PublicKey
	challenges   [][]byte
	tokens       []string             // valid access tokens
	expires      map[string]time.Time // when each issued token expires
	issuedAt     []time.Time          // when each token was issued
	expiredUses  []string             // calls made with an expired token
	issued       int
	refuse       error // returned by GetChallenge when set
	tasks        []*nuxariv1.Task
	completed    map[string]*nuxariv1.CompleteTaskRequest
	completes    []*nuxariv1.CompleteTaskRequest
	submissions  []*nuxariv1.SubmitEvidenceRequest
	heartbeats   int
	failComplete int // CompleteTask calls still to fail
	badRequests  []string
}

func newFakeGateway(t *testing.T) (*fakeGateway, string) {
	f := &fakeGateway{t: t, tokenTTL: 15 * time.Minute, interval: 20 * time.Millisecond, completed: map[string]*nuxariv1.CompleteTaskRequest{}, expires: map[string]time.Time{}}
	mux := http.NewServeMux()
	mux.Handle(nuxariv1connect.NewAgentGatewayServiceHandler(f))
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, b := range f.badRequests {
			t.Errorf("gateway refused a request: %s", b)
		}
	})
	return f, srv.URL
}

func (f *fakeGateway) bad(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	f.badRequests = append(f.badRequests, msg)
	return connect.NewError(connect.CodePermissionDenied, errors.New(msg))
}

func (f *fakeGateway) addTask(id, collector, target string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tasks = append(f.tasks, &nuxariv1.Task{TaskId: id, AgentId: "g1", Collector: collector, Target: target})
}

// errBadToken is the real gateway's answer to a missing, unknown or
// expired access token (governance.Service.Authenticate).
var errBadToken = connect.NewError(connect.CodeUnauthenticated, errors.New("missing, invalid or expired token"))

// authorize checks the request's access token for what; an expired one
// is refused, and its use recorded.
func (f *fakeGateway) authorize(h http.Header, what string) error {
	tok, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	f.mu.Lock()
	defer f.mu.Unlock()
	if !ok || !slices.Contains(f.tokens, tok) {
		return errBadToken
	}
	if !time.Now().Before(f.expires[tok]) {
		f.expiredUses = append(f.expiredUses, fmt.Sprintf("%s with a token %v past its expiry", what, time.Since(f.expires[tok])))
		return errBadToken
	}
	return nil
}

// revokeTokens makes every issued access token invalid.
func (f *fakeGateway) revokeTokens() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = nil
}

func (f *fakeGateway) Enroll(_ context.Context, req *connect.Request[nuxariv1.EnrollRequest]) (*connect.Response[nuxariv1.EnrollResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if req.Msg.JoinToken != joinToken {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("join token is invalid, used or expired"))
	}
	if len(req.Msg.PublicKey) != ed25519.PublicKeySize || req.Msg.Hostname == "" {
		return nil, f.bad("enroll: key of %d bytes, hostname %q", len(req.Msg.PublicKey), req.Msg.Hostname)
	}
	f.pub = req.Msg.PublicKey
	return connect.NewResponse(&nuxariv1.EnrollResponse{OrgId: "acme", AgentId: "g1"}), nil
}

func (f *fakeGateway) GetChallenge(_ context.Context, req *connect.Request[nuxariv1.GetChallengeRequest]) (*connect.Response[nuxariv1.GetChallengeResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse != nil {
		return nil, f.refuse
	}
	if req.Msg.OrgId != "acme" || req.Msg.AgentId != "g1" {
		return nil, f.bad("challenge for %q %q", req.Msg.OrgId, req.Msg.AgentId)
	}
	c := make([]byte, 32)
	rand.Read(c)
	f.challenges = append(f.challenges, c)
	return connect.NewResponse(&nuxariv1.GetChallengeResponse{Challenge: c, ExpireTime: timestamppb.New(time.Now().Add(time.Minute))}), nil
}

func (f *fakeGateway) GetAccessToken(_ context.Context, req *connect.Request[nuxariv1.GetAccessTokenRequest]) (*connect.Response[nuxariv1.GetAccessTokenResponse], error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := req.Msg
	i := slices.IndexFunc(f.challenges, func(c []byte) bool { return bytes.Equal(c, m.Challenge) })
	if i < 0 {
		return nil, f.bad("unknown challenge")
	}
	f.challenges = slices.Delete(f.challenges, i, i+1)
	if !ed25519.Verify(f.pub, agentsig.TokenRequest(m.OrgId, m.AgentId, m.Challenge), m.Signature) {
		return nil, f.bad("token request signature does not verify")
	}
	body := make([]byte, 32)
	rand.Read(body)
	tok := "nxg.acme." + strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(b64(body)), "=")
	now := time.Now()
	f.tokens = append(f.tokens, tok)
	f.expires[tok] = now.Add(f.tokenTTL)
	f.issuedAt = append(f.issuedAt, now)
	f.issued++
	return connect.NewResponse(&nuxariv1.GetAccessTokenResponse{AccessToken: tok, ExpireTime: timestamppb.New(f.expires[tok])}), nil
}

func (f *fakeGateway) ReceiveTasks(ctx context.Context, req *connect.Request[nuxariv1.ReceiveTasksRequest], stream *connect.ServerStream[nuxariv1.ReceiveTasksResponse]) error {
	if err := f.authorize(req.Header(), "ReceiveTasks"); err != nil {
		return err
	}
	if err := stream.Send(&nuxariv1.ReceiveTasksResponse{Message: &nuxariv1.ReceiveTasksResponse_HeartbeatInterval{HeartbeatInterval: durationpb.New(f.interval)}}); err != nil {
		return err
	}
	sent := map[string]bool{}
	for {
		// The stream ends as soon as its token expires.
		if err := f.authorize(req.Header(), "an open task stream"); err != nil {
			return err
		}
		f.mu.Lock()
		var todo []*nuxariv1.Task
		for _, t := range f.tasks {
			if !sent[t.TaskId] && f.completed[t.TaskId] == nil {
				todo = append(todo, t)
				sent[t.TaskId] = true
			}
		}
		f.mu.Unlock()
		for _, t := range todo {
			if err := stream.Send(&nuxariv1.ReceiveTasksResponse{Message: &nuxariv1.ReceiveTasksResponse_Task{Task: t}}); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func (f *fakeGateway) Heartbeat(_ context.Context, req *connect.Request[nuxariv1.HeartbeatRequest]) (*connect.Response[nuxariv1.HeartbeatResponse], error) {
	if err := f.authorize(req.Header(), "Heartbeat"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heartbeats++
	return connect.NewResponse(&nuxariv1.HeartbeatResponse{Interval: durationpb.New(f.interval)}), nil
}

func (f *fakeGateway) task(id string) *nuxariv1.Task {
	i := slices.IndexFunc(f.tasks, func(t *nuxariv1.Task) bool { return t.TaskId == id })
	if i < 0 {
		return nil
	}
	return f.tasks[i]
}

func (f *fakeGateway) SubmitEvidence(_ context.Context, req *connect.Request[nuxariv1.SubmitEvidenceRequest]) (*connect.Response[nuxariv1.SubmitEvidenceResponse], error) {
	if err := f.authorize(req.Header(), "SubmitEvidence"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.task(req.Msg.TaskId)
	if t == nil {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("task"))
	}
	if f.completed[t.TaskId] != nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("task is closed"))
	}
	var recorded []string
	for i, it := range req.Msg.Items {
		sum := sha256.Sum256(it.Content)
		if !bytes.Equal(sum[:], it.Sha256) {
			return nil, f.bad("items[%d]: content does not match its sha256", i)
		}
		if it.Collector != t.Collector || it.Target != t.Target {
			return nil, f.bad("items[%d] is for %q %q", i, it.Collector, it.Target)
		}
		payload := agentsig.Evidence("acme", "g1", t.TaskId, it.Collector, it.Target, it.CollectedTime.AsTime(), it.Sha256, it.Scrubbed)
		if !ed25519.Verify(f.pub, payload, it.Signature) {
			return nil, f.bad("items[%d]: signature does not verify", i)
		}
		recorded = append(recorded, hex.EncodeToString(it.Sha256))
	}
	f.submissions = append(f.submissions, req.Msg)
	return connect.NewResponse(&nuxariv1.SubmitEvidenceResponse{Recorded: recorded}), nil
}

func (f *fakeGateway) CompleteTask(_ context.Context, req *connect.Request[nuxariv1.CompleteTaskRequest]) (*connect.Response[nuxariv1.CompleteTaskResponse], error) {
	if err := f.authorize(req.Header(), "CompleteTask"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.task(req.Msg.TaskId) == nil {
		return nil, connect.NewError(connect.CodeNotFound, errors.New("task"))
	}
	if f.failComplete > 0 {
		f.failComplete--
		return nil, connect.NewError(connect.CodeUnavailable, errors.New("try again"))
	}
	f.completes = append(f.completes, req.Msg)
	if f.completed[req.Msg.TaskId] == nil {
		f.completed[req.Msg.TaskId] = req.Msg
	}
	return connect.NewResponse(&nuxariv1.CompleteTaskResponse{}), nil
}

// snapshot runs fn under the gateway's lock.
func (f *fakeGateway) snapshot(fn func(f *fakeGateway)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitForWithin(t, what, 10*time.Second, cond)
}

// waitForWithin polls cond until it holds or d passes.
func waitForWithin(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newLogger(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
