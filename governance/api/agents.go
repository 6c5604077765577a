package api

import (
	"context"

	"connectrpc.com/connect"

	"github.com/nuxari/nuxari/governance/agents"
	"github.com/nuxari/nuxari/governance/core"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
)

var _ nuxariv1connect.AgentAdminServiceHandler = (*Handlers)(nil)

var agentStates = map[string]nuxariv1.AgentState{
	agents.AgentActive:         nuxariv1.AgentState_AGENT_STATE_ACTIVE,
	agents.AgentDecommissioned: nuxariv1.AgentState_AGENT_STATE_DECOMMISSIONED,
}

var taskStates = map[string]nuxariv1.TaskState{
	agents.TaskPending:   nuxariv1.TaskState_TASK_STATE_PENDING,
	agents.TaskDelivered: nuxariv1.TaskState_TASK_STATE_DELIVERED,
	agents.TaskSucceeded: nuxariv1.TaskState_TASK_STATE_SUCCEEDED,
	agents.TaskFailed:    nuxariv1.TaskState_TASK_STATE_FAILED,
}

func agentOut(a agents.Agent) *nuxariv1.Agent {
	return &nuxariv1.Agent{AgentId: a.ID, Hostname: a.Hostname, State: agentStates[a.State], PublicKey: a.PublicKey, EnrollTime: ts(a.Enrolled), LastSeenTime: ts(a.LastSeen)}
}

// TaskOut converts a task for the wire.
func TaskOut(t agents.Task) *nuxariv1.Task {
	return &nuxariv1.Task{
		TaskId: t.ID, AgentId: t.AgentID, Collector: t.Collector, Target: t.Target, State: taskStates[t.State],
		Detail: t.Detail, CreateTime: ts(t.Created), CompleteTime: ts(t.Completed), Evidence: t.Evidence,
	}
}

// CreateJoinToken implements AgentAdminService.CreateJoinToken.
func (h *Handlers) CreateJoinToken(ctx context.Context, req *connect.Request[nuxariv1.CreateJoinTokenRequest]) (*connect.Response[nuxariv1.CreateJoinTokenResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.CreateJoinTokenRequest) (*nuxariv1.CreateJoinTokenResponse, error) {
		ttl, err := optDurationIn("ttl", m.Ttl) // unset: the domain's default
		if err != nil {
			return nil, err
		}
		tok, jt, err := h.svc.Agents.CreateJoinToken(ctx, p, ttl)
		if err != nil {
			return nil, err
		}
		return &nuxariv1.CreateJoinTokenResponse{JoinToken: tok.Reveal(), ExpireTime: ts(jt.Expires), JoinTokenId: jt.ID}, nil
	})
}

// ListJoinTokens implements AgentAdminService.ListJoinTokens.
func (h *Handlers) ListJoinTokens(ctx context.Context, req *connect.Request[nuxariv1.ListJoinTokensRequest]) (*connect.Response[nuxariv1.ListJoinTokensResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ListJoinTokensRequest) (*nuxariv1.ListJoinTokensResponse, error) {
		jts, next, err := h.svc.Agents.ListJoinTokens(ctx, p, m.PageSize, m.PageToken)
		if err != nil {
			return nil, err
		}
		res := &nuxariv1.ListJoinTokensResponse{NextPageToken: next}
		for _, jt := range jts {
			res.JoinTokens = append(res.JoinTokens, &nuxariv1.JoinToken{
				JoinTokenId: jt.ID, CreatedBy: jt.CreatedBy, CreateTime: ts(jt.Created), ExpireTime: ts(jt.Expires),
			})
		}
		return res, nil
	})
}

// RevokeJoinToken implements AgentAdminService.RevokeJoinToken.
func (h *Handlers) RevokeJoinToken(ctx context.Context, req *connect.Request[nuxariv1.RevokeJoinTokenRequest]) (*connect.Response[nuxariv1.RevokeJoinTokenResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.RevokeJoinTokenRequest) (*nuxariv1.RevokeJoinTokenResponse, error) {
		if err := h.svc.Agents.RevokeJoinToken(ctx, p, m.JoinTokenId); err != nil {
			return nil, err
		}
		return &nuxariv1.RevokeJoinTokenResponse{}, nil
	})
}

// ListAgents implements AgentAdminService.ListAgents.
func (h *Handlers) ListAgents(ctx context.Context, req *connect.Request[nuxariv1.ListAgentsRequest]) (*connect.Response[nuxariv1.ListAgentsResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ListAgentsRequest) (*nuxariv1.ListAgentsResponse, error) {
		as, next, err := h.svc.Agents.ListAgents(ctx, p, m.PageSize, m.PageToken)
		if err != nil {
			return nil, err
		}
		res := &nuxariv1.ListAgentsResponse{NextPageToken: next}
		for _, a := range as {
			res.Agents = append(res.Agents, agentOut(a))
		}
		return res, nil
	})
}

// GetAgent implements AgentAdminService.GetAgent.
func (h *Handlers) GetAgent(ctx context.Context, req *connect.Request[nuxariv1.GetAgentRequest]) (*connect.Response[nuxariv1.GetAgentResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.GetAgentRequest) (*nuxariv1.GetAgentResponse, error) {
		a, err := h.svc.Agents.GetAgent(ctx, p, m.AgentId)
		if err != nil {
			return nil, err
		}
		return &nuxariv1.GetAgentResponse{Agent: agentOut(a)}, nil
	})
}

// DecommissionAgent implements AgentAdminService.DecommissionAgent.
func (h *Handlers) DecommissionAgent(ctx context.Context, req *connect.Request[nuxariv1.DecommissionAgentRequest]) (*connect.Response[nuxariv1.DecommissionAgentResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.DecommissionAgentRequest) (*nuxariv1.DecommissionAgentResponse, error) {
		a, err := h.svc.Agents.DecommissionAgent(ctx, p, m.AgentId)
		if err != nil {
			return nil, err
		}
		return &nuxariv1.DecommissionAgentResponse{Agent: agentOut(a)}, nil
	})
}

// CreateTask implements AgentAdminService.CreateTask.
func (h *Handlers) CreateTask(ctx context.Context, req *connect.Request[nuxariv1.CreateTaskRequest]) (*connect.Response[nuxariv1.CreateTaskResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.CreateTaskRequest) (*nuxariv1.CreateTaskResponse, error) {
		t, err := h.svc.Agents.CreateTask(ctx, p, m.AgentId, m.Collector, m.Target)
		if err != nil {
			return nil, err
		}
		return &nuxariv1.CreateTaskResponse{Task: TaskOut(t)}, nil
	})
}

// GetTask implements AgentAdminService.GetTask.
func (h *Handlers) GetTask(ctx context.Context, req *connect.Request[nuxariv1.GetTaskRequest]) (*connect.Response[nuxariv1.GetTaskResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.GetTaskRequest) (*nuxariv1.GetTaskResponse, error) {
		t, err := h.svc.Agents.GetTask(ctx, p, m.TaskId)
		if err != nil {
			return nil, err
		}
		return &nuxariv1.GetTaskResponse{Task: TaskOut(t)}, nil
	})
}
