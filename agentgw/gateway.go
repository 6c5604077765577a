// Package agentgw is the edge-agent gateway: the Connect service agents
// call, outbound from the customer's network. It enrols agents with
// one-use join tokens, swaps signed challenges for short-lived access
// tokens, streams tasks down a channel the agent opens, and takes in
// evidence that the agent hashed and signed, re-checking both (DESIGN.md,
// promise 4). The rules live in the governance domain; this package
// translates the wire.
package agentgw

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nuxari/nuxari/governance/agents"
	"github.com/nuxari/nuxari/governance/api"
	"github.com/nuxari/nuxari/internal/secret"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
)

// recheck is how often an open task stream re-checks that its agent is
// still active, beside the wake-ups a decommissioning sends.
const recheck = 500 * time.Millisecond

// rereadTicks: a stream reads its agent's tasks at least every
// rereadTicks × recheck (5 s) without a wake-up.
const rereadTicks = 10

// Gateway implements AgentGatewayService.
type Gateway struct {
	svc *agents.Service
	log *slog.Logger
	// connected counts the task streams open: agents connected.
	connected atomic.Int64
}

// Connected returns how many agents' task streams are open.
func (g *Gateway) Connected() int64 { return g.connected.Load() }

var _ nuxariv1connect.AgentGatewayServiceHandler = (*Gateway)(nil)

// New returns the gateway over the agents feature svc.
func New(svc *agents.Service, log *slog.Logger) *Gateway { return &Gateway{svc: svc, log: log} }

func ts(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// Enroll implements AgentGatewayService.Enroll.
func (g *Gateway) Enroll(ctx context.Context, req *connect.Request[nuxariv1.EnrollRequest]) (*connect.Response[nuxariv1.EnrollResponse], error) {
	org, id, err := g.svc.Enroll(ctx, secret.New(req.Msg.JoinToken), req.Msg.PublicKey, req.Msg.Hostname)
	if err != nil {
		return nil, api.Error(ctx, g.log, err)
	}
	return connect.NewResponse(&nuxariv1.EnrollResponse{OrgId: org, AgentId: id}), nil
}

// GetChallenge implements AgentGatewayService.GetChallenge.
func (g *Gateway) GetChallenge(ctx context.Context, req *connect.Request[nuxariv1.GetChallengeRequest]) (*connect.Response[nuxariv1.GetChallengeResponse], error) {
	c, exp, err := g.svc.Challenge(ctx, req.Msg.OrgId, req.Msg.AgentId)
	if err != nil {
		return nil, api.Error(ctx, g.log, err)
	}
	return connect.NewResponse(&nuxariv1.GetChallengeResponse{Challenge: c, ExpireTime: ts(exp)}), nil
}

// GetAccessToken implements AgentGatewayService.GetAccessToken.
func (g *Gateway) GetAccessToken(ctx context.Context, req *connect.Request[nuxariv1.GetAccessTokenRequest]) (*connect.Response[nuxariv1.GetAccessTokenResponse], error) {
	m := req.Msg
	tok, exp, err := g.svc.AgentToken(ctx, m.OrgId, m.AgentId, m.Challenge, m.Signature)
	if err != nil {
		return nil, api.Error(ctx, g.log, err)
	}
	return connect.NewResponse(&nuxariv1.GetAccessTokenResponse{AccessToken: tok.Reveal(), ExpireTime: ts(exp)}), nil
}

// ReceiveTasks implements AgentGatewayService.ReceiveTasks: the heartbeat
// interval, the agent's open tasks, then each new one as it is created.
// The stream ends with Unauthenticated as soon as the agent is
// decommissioned or its token expires.
func (g *Gateway) ReceiveTasks(ctx context.Context, _ *connect.Request[nuxariv1.ReceiveTasksRequest], stream *connect.ServerStream[nuxariv1.ReceiveTasksResponse]) error {
	p, err := api.Caller(ctx)
	if err != nil {
		return err
	}
	g.connected.Add(1)
	defer g.connected.Add(-1)
	if err := stream.Send(&nuxariv1.ReceiveTasksResponse{Message: &nuxariv1.ReceiveTasksResponse_HeartbeatInterval{
		HeartbeatInterval: durationpb.New(agents.HeartbeatInterval),
	}}); err != nil {
		return err
	}
	wake := g.svc.Wake(p)
	sent := map[string]bool{}
	tick := time.NewTicker(recheck)
	defer tick.Stop()
	// Tasks are read on the first pass and on each wake-up (a new task,
	// a decommissioning); a tick re-checks the agent and its token, and
	// every rereadTicks-th one reads the tasks too, in case another
	// stream of the same agent took the wake-up.
	news, ticks := true, 0
	for {
		if !g.svc.AgentActive(ctx, p) {
			return connect.NewError(connect.CodeUnauthenticated, errAgentGone)
		}
		if news {
			tasks, err := g.svc.OpenTasks(ctx, p)
			if err != nil {
				return api.Error(ctx, g.log, err)
			}
			for _, t := range tasks {
				if sent[t.ID] {
					continue
				}
				if err := stream.Send(&nuxariv1.ReceiveTasksResponse{Message: &nuxariv1.ReceiveTasksResponse_Task{Task: api.TaskOut(t)}}); err != nil {
					return err
				}
				sent[t.ID] = true
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
			news = true
		case <-tick.C:
			ticks++
			news = ticks%rereadTicks == 0
		}
	}
}

// Heartbeat implements AgentGatewayService.Heartbeat.
func (g *Gateway) Heartbeat(ctx context.Context, _ *connect.Request[nuxariv1.HeartbeatRequest]) (*connect.Response[nuxariv1.HeartbeatResponse], error) {
	p, err := api.Caller(ctx)
	if err != nil {
		return nil, err
	}
	g.svc.Heartbeat(p)
	return connect.NewResponse(&nuxariv1.HeartbeatResponse{Interval: durationpb.New(agents.HeartbeatInterval)}), nil
}

// SubmitEvidence implements AgentGatewayService.SubmitEvidence.
func (g *Gateway) SubmitEvidence(ctx context.Context, req *connect.Request[nuxariv1.SubmitEvidenceRequest]) (*connect.Response[nuxariv1.SubmitEvidenceResponse], error) {
	p, err := api.Caller(ctx)
	if err != nil {
		return nil, err
	}
	items := make([]agents.EvidenceItem, len(req.Msg.Items))
	for i, it := range req.Msg.Items {
		if it.CollectedTime.CheckValid() != nil {
			return nil, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("items[%d].collected_time: missing or not a valid timestamp", i))
		}
		items[i] = agents.EvidenceItem{
			Collector: it.Collector, Target: it.Target, Content: it.Content, SHA256: it.Sha256,
			Collected: it.CollectedTime.AsTime(), Scrubbed: it.Scrubbed, Signature: it.Signature,
		}
	}
	rec, err := g.svc.SubmitEvidence(ctx, p, req.Msg.TaskId, items)
	if err != nil {
		return nil, api.Error(ctx, g.log, err)
	}
	return connect.NewResponse(&nuxariv1.SubmitEvidenceResponse{Recorded: rec}), nil
}

// CompleteTask implements AgentGatewayService.CompleteTask.
func (g *Gateway) CompleteTask(ctx context.Context, req *connect.Request[nuxariv1.CompleteTaskRequest]) (*connect.Response[nuxariv1.CompleteTaskResponse], error) {
	p, err := api.Caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := g.svc.CompleteTask(ctx, p, req.Msg.TaskId, req.Msg.Ok, req.Msg.Detail); err != nil {
		return nil, api.Error(ctx, g.log, err)
	}
	return connect.NewResponse(&nuxariv1.CompleteTaskResponse{}), nil
}
