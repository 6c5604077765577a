package cli

import (
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

func agentStateName(s nuxariv1.AgentState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "AGENT_STATE_"))
}

func taskStateName(s nuxariv1.TaskState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "TASK_STATE_"))
}

func runAgentJoinToken(e *env, args []string) error {
	f := newFlags("agent join-token", "[--ttl 30m]", `
Create a one-use join token for enrolling an edge agent. It is printed
once, on standard output; give it to 'nuxari-agent enroll' on its standard
input or in NUXARI_JOIN_TOKEN. Its ID, for 'agent join-token list' and
'agent join-token revoke', goes to standard error.`)
	ttl := f.Duration("ttl", 30*time.Minute, "how long the token may be used (at most 24h)")
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	res, err := c.Agents.CreateJoinToken(e.ctx, connect.NewRequest(&nuxariv1.CreateJoinTokenRequest{Ttl: durationpb.New(*ttl)}))
	if err != nil {
		return err
	}
	if e.json {
		return e.printProto(res.Msg)
	}
	fmt.Fprintf(e.stderr, "The join token %s works once, until %s. It is shown only now.\n", res.Msg.GetJoinTokenId(), timeText(res.Msg.GetExpireTime()))
	_, err = fmt.Fprintln(e.stdout, res.Msg.GetJoinToken())
	return err
}

func runAgentJoinTokenList(e *env, args []string) error {
	all := &nuxariv1.ListJoinTokensResponse{}
	return runList(e, args, "agent join-token list", "List the org's unused join tokens, never their values.", all, func(c *clients, token string) (string, error) {
		res, err := c.Agents.ListJoinTokens(e.ctx, connect.NewRequest(&nuxariv1.ListJoinTokensRequest{PageSize: 1000, PageToken: token}))
		if err != nil {
			return "", err
		}
		all.JoinTokens = append(all.JoinTokens, res.Msg.GetJoinTokens()...)
		return res.Msg.GetNextPageToken(), nil
	}, func(t *table) {
		t.header("JOIN TOKEN ID", "CREATED BY", "CREATED", "EXPIRES")
		for _, j := range all.JoinTokens {
			t.row(j.GetJoinTokenId(), printable(j.GetCreatedBy()), timeText(j.GetCreateTime()), timeText(j.GetExpireTime()))
		}
	})
}

func runAgentJoinTokenRevoke(e *env, args []string) error {
	f := newFlags("agent join-token revoke", "JOIN_TOKEN_ID", "Revoke an unused join token at once.")
	return runOnID(e, f, args, func(c *clients, id string) (*nuxariv1.RevokeJoinTokenResponse, error) {
		return msgOf(c.Agents.RevokeJoinToken(e.ctx, connect.NewRequest(&nuxariv1.RevokeJoinTokenRequest{JoinTokenId: id})))
	}, func(_ *nuxariv1.RevokeJoinTokenResponse, id string) string { return "Revoked join token " + id + "." })
}

func printAgent(e *env, a *nuxariv1.Agent) error {
	return fields(e.stdout,
		"Agent", a.GetAgentId(),
		"Hostname", printable(a.GetHostname()),
		"State", agentStateName(a.GetState()),
		"Public key", b64(a.GetPublicKey()),
		"Enrolled", timeText(a.GetEnrollTime()),
		"Last seen", orDash(timeText(a.GetLastSeenTime())),
	)
}

func runAgentList(e *env, args []string) error {
	all := &nuxariv1.ListAgentsResponse{}
	return runList(e, args, "agent list", "List the org's edge agents.", all, func(c *clients, token string) (string, error) {
		res, err := c.Agents.ListAgents(e.ctx, connect.NewRequest(&nuxariv1.ListAgentsRequest{PageSize: 1000, PageToken: token}))
		if err != nil {
			return "", err
		}
		all.Agents = append(all.Agents, res.Msg.GetAgents()...)
		return res.Msg.GetNextPageToken(), nil
	}, func(t *table) {
		t.header("AGENT ID", "HOSTNAME", "STATE", "ENROLLED", "LAST SEEN")
		for _, a := range all.Agents {
			t.row(a.GetAgentId(), printable(a.GetHostname()), agentStateName(a.GetState()), timeText(a.GetEnrollTime()), orDash(timeText(a.GetLastSeenTime())))
		}
	})
}

func runAgentDecommission(e *env, args []string) error {
	f := newFlags("agent decommission", "AGENT_ID", "Revoke every token of an agent at once and close its channel.")
	pos, err := f.parse(e, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	res, err := c.Agents.DecommissionAgent(e.ctx, connect.NewRequest(&nuxariv1.DecommissionAgentRequest{AgentId: pos[0]}))
	if err != nil {
		return err
	}
	if e.json {
		return e.printProto(res.Msg.GetAgent())
	}
	return printAgent(e, res.Msg.GetAgent())
}

func printTask(e *env, t *nuxariv1.Task) error {
	return fields(e.stdout,
		"Task", t.GetTaskId(),
		"Agent", t.GetAgentId(),
		"Collector", t.GetCollector(),
		"Target", orDash(printable(t.GetTarget())),
		"State", taskStateName(t.GetState()),
		"Detail", orDash(printable(t.GetDetail())),
		"Evidence (SHA-256)", orDash(strings.Join(t.GetEvidence(), " ")),
	)
}

func runAgentCollect(e *env, args []string) error {
	f := newFlags("agent collect", "AGENT_ID COLLECTOR [TARGET] [--wait]", `
Ask an agent to run a collector: file (TARGET: an absolute path), users,
sudoers, packages, or command (TARGET: a command name). The agent runs it
only if its own configuration allows it.`)
	wait := f.Bool("wait", false, "wait until the agent reports the task done")
	pos, err := f.parse(e, args, 2, 3)
	if err != nil {
		return err
	}
	target := ""
	if len(pos) == 3 {
		target = pos[2]
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	res, err := c.Agents.CreateTask(e.ctx, connect.NewRequest(&nuxariv1.CreateTaskRequest{AgentId: pos[0], Collector: pos[1], Target: target}))
	if err != nil {
		return err
	}
	t := res.Msg.GetTask()
	for *wait && (t.GetState() == nuxariv1.TaskState_TASK_STATE_PENDING || t.GetState() == nuxariv1.TaskState_TASK_STATE_DELIVERED) {
		select {
		case <-e.ctx.Done():
			return e.ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		g, err := c.Agents.GetTask(e.ctx, connect.NewRequest(&nuxariv1.GetTaskRequest{TaskId: t.GetTaskId()}))
		if err != nil {
			return err
		}
		t = g.Msg.GetTask()
	}
	if e.json {
		return e.printProto(t)
	}
	return printTask(e, t)
}

func runAgentTask(e *env, args []string) error {
	f := newFlags("agent task", "TASK_ID", "Show a task and the evidence it recorded.")
	pos, err := f.parse(e, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	res, err := c.Agents.GetTask(e.ctx, connect.NewRequest(&nuxariv1.GetTaskRequest{TaskId: pos[0]}))
	if err != nil {
		return err
	}
	if e.json {
		return e.printProto(res.Msg.GetTask())
	}
	return printTask(e, res.Msg.GetTask())
}
