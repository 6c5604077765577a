package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/types/known/durationpb"

	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

// agentOfflineAfter is how long since an agent was last seen nuxctl calls
// it offline: three heartbeats (agents heartbeat every 30 seconds).
const agentOfflineAfter = 90 * time.Second

// collectors are the collectors an agent may run.
var collectors = []string{"file", "users", "sudoers", "packages", "command"}

func agentStateName(s nuxariv1.AgentState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "AGENT_STATE_"))
}

func taskStateName(s nuxariv1.TaskState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "TASK_STATE_"))
}

func (e *env) agentJoinTokenCmd() *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "join-token [--ttl 30m]",
		Short: "create a one-use join token (shown once)",
		Long: `Create a one-use join token for enrolling an edge agent. It is printed
once, on standard output; give it to 'nuxari-agent enroll' on its standard
input or in NUXARI_JOIN_TOKEN. Its ID, for 'agent join-token list' and
'agent join-token revoke', goes to standard error.`,
		Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.connect()
			if err != nil {
				return err
			}
			res, err := c.Agents.CreateJoinToken(e.ctx, connect.NewRequest(&nuxariv1.CreateJoinTokenRequest{Ttl: durationpb.New(ttl)}))
			if err != nil {
				return err
			}
			if e.json {
				return e.printProto(res.Msg)
			}
			fmt.Fprintf(e.stderr, "The join token %s works once, until %s. It is shown only now.\n", res.Msg.GetJoinTokenId(), timeText(res.Msg.GetExpireTime()))
			_, err = fmt.Fprintln(e.stdout, res.Msg.GetJoinToken())
			return err
		},
	}
	cmd.Flags().DurationVar(&ttl, "ttl", 30*time.Minute, "how long the token may be used (at most 24h)")
	e.add(cmd, e.agentJoinTokenListCmd(), e.agentJoinTokenRevokeCmd())
	return cmd
}

func (e *env) agentJoinTokenListCmd() *cobra.Command {
	all := &nuxariv1.ListJoinTokensResponse{}
	return e.listCmd("list", "list the unused join tokens", "List the org's unused join tokens, never their values.", all, func(c *clients, token string) (string, error) {
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

func (e *env) agentJoinTokenRevokeCmd() *cobra.Command {
	return onIDCmd(e, "revoke JOIN_TOKEN_ID", "revoke a join token", "Revoke an unused join token at once.",
		func(c *clients, id string) (*nuxariv1.RevokeJoinTokenResponse, error) {
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

func (e *env) agentListCmd() *cobra.Command {
	all := &nuxariv1.ListAgentsResponse{}
	return e.listCmd("list", "list the org's agents", "List the org's edge agents.", all, func(c *clients, token string) (string, error) {
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

func (e *env) agentDecommissionCmd() *cobra.Command {
	return oneCmd(e, "decommission AGENT_ID", "revoke an agent at once",
		"Revoke every token of an agent at once and close its channel.",
		func(c *clients, id string) (*nuxariv1.Agent, error) {
			res, err := c.Agents.DecommissionAgent(e.ctx, connect.NewRequest(&nuxariv1.DecommissionAgentRequest{AgentId: id}))
			if err != nil {
				return nil, err
			}
			return res.Msg.GetAgent(), nil
		},
		func(a *nuxariv1.Agent) error { return printAgent(e, a) })
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

func (e *env) agentCollectCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "collect AGENT_ID COLLECTOR [TARGET] [--wait [--timeout D]]",
		Short: "ask an agent to run a collector",
		Long: `Ask an agent to run a collector: file (TARGET: an absolute path), users,
sudoers, packages, or command (TARGET: a command name). The agent runs it
only if its own configuration allows it. With --wait it says on standard
error what it waits for (and whether the agent is offline), then prints
the finished task; it exits 6 if the task fails and 7 if it has not
finished within --timeout (the task stays queued for the agent).`,
		Args: nargs(2, 3),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) == 1 {
				return collectors, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
	}
	wait := addWaitFlags(cmd, "the agent reports the task done")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := wait.check(cmd); err != nil {
			return err
		}
		target := ""
		if len(args) == 3 {
			target = args[2]
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		res, err := c.Agents.CreateTask(e.ctx, connect.NewRequest(&nuxariv1.CreateTaskRequest{AgentId: args[0], Collector: args[1], Target: target}))
		if err != nil {
			return err
		}
		t := res.Msg.GetTask()
		if wait.wait {
			if t, err = e.waitTask(c, t, wait.timeout); err != nil {
				return err
			}
		}
		if e.json {
			err = e.printProto(t)
		} else {
			err = printTask(e, t)
		}
		if err != nil {
			return err
		}
		if t.GetState() == nuxariv1.TaskState_TASK_STATE_FAILED {
			return &exitError{code: ExitFailed, err: fmt.Errorf("task %s failed: %s", t.GetTaskId(), orDash(printable(t.GetDetail())))}
		}
		return nil
	}
	return cmd
}

// taskRunning reports whether a task has not ended yet.
func taskRunning(t *nuxariv1.Task) bool {
	return t.GetState() == nuxariv1.TaskState_TASK_STATE_PENDING || t.GetState() == nuxariv1.TaskState_TASK_STATE_DELIVERED
}

// waitTask polls task t until it ends or timeout passes, saying on
// standard error what it waits for and each change of the task's state.
func (e *env) waitTask(c *clients, t *nuxariv1.Task, timeout time.Duration) (*nuxariv1.Task, error) {
	if !taskRunning(t) {
		return t, nil
	}
	a, err := c.Agents.GetAgent(e.ctx, connect.NewRequest(&nuxariv1.GetAgentRequest{AgentId: t.GetAgentId()}))
	if err != nil {
		return nil, err
	}
	agent := fmt.Sprintf("agent %s (%s", t.GetAgentId(), printable(a.Msg.GetAgent().GetHostname()))
	off := offline(a.Msg.GetAgent(), time.Now())
	if off != "" {
		agent += ", offline: " + off
	}
	agent += ")"
	line := fmt.Sprintf("waiting for task %s (%s) on %s, up to %s", printable(t.GetTaskId()), printable(t.GetCollector()), agent, timeout)
	if off != "" {
		line += "; the agent runs it when it connects"
	}
	fmt.Fprintln(e.stderr, line+"…")
	err = e.poll(timeout, func() string {
		return fmt.Sprintf("task %s (still %s) on %s; it stays queued: follow it with 'nuxctl agent task %s'",
			t.GetTaskId(), taskStateName(t.GetState()), agent, t.GetTaskId())
	}, func(ctx context.Context) (bool, error) {
		g, err := c.Agents.GetTask(ctx, connect.NewRequest(&nuxariv1.GetTaskRequest{TaskId: t.GetTaskId()}))
		if err != nil {
			return false, err
		}
		if g.Msg.GetTask().GetState() != t.GetState() {
			fmt.Fprintf(e.stderr, "task %s: %s\n", t.GetTaskId(), taskStateName(g.Msg.GetTask().GetState()))
		}
		t = g.Msg.GetTask()
		return !taskRunning(t), nil
	})
	return t, err
}

// offline says why agent a counts as offline at now, or "" if it does
// not.
func offline(a *nuxariv1.Agent, now time.Time) string {
	if a.GetLastSeenTime() == nil {
		return "not seen since the server started"
	}
	if d := now.Sub(a.GetLastSeenTime().AsTime()); d > agentOfflineAfter {
		return "last seen " + d.Round(time.Second).String() + " ago"
	}
	return ""
}

func (e *env) agentTaskCmd() *cobra.Command {
	return oneCmd(e, "task TASK_ID", "show a task and its evidence", "Show a task and the evidence it recorded.",
		func(c *clients, id string) (*nuxariv1.Task, error) {
			res, err := c.Agents.GetTask(e.ctx, connect.NewRequest(&nuxariv1.GetTaskRequest{TaskId: id}))
			if err != nil {
				return nil, err
			}
			return res.Msg.GetTask(), nil
		},
		func(t *nuxariv1.Task) error { return printTask(e, t) })
}
