package cli

import (
	"fmt"
	"time"

	"connectrpc.com/connect"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/spf13/cobra"
)

func (e *env) memberAddCmd() *cobra.Command {
	var email, roleS, name string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "add --email E --role R [--name N] [--setup-ttl D]",
		Short: "add a member (prints their one-time setup token)",
		Long: `Add a member to the org. Nobody chooses a password for them: the command
prints a one-time setup token to hand to the member over a trusted
channel, with which they set their own ('nuxctl password set').
Roles: ` + roleList + `.`,
		Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "email", "role"); err != nil {
				return err
			}
			role, err := parseRole(pathOf(cmd), roleS)
			if err != nil {
				return err
			}
			setupTTL, err := durationFlag(cmd, "setup-ttl", ttl)
			if err != nil {
				return err
			}
			c, err := e.connect()
			if err != nil {
				return err
			}
			res, err := c.Org.AddMember(e.ctx, connect.NewRequest(&nuxariv1.AddMemberRequest{
				Email: email, DisplayName: name, Role: role, SetupTtl: setupTTL,
			}))
			if err != nil {
				return err
			}
			if e.json {
				return e.printProto(res.Msg)
			}
			m := res.Msg.GetMember()
			fmt.Fprintf(e.stdout, "Added %s as %s (user ID %s).\n", printable(m.GetEmail()), roleName(m.GetRole()), printable(m.GetUserId()))
			printSetup(e, res.Msg.GetSetup(), c.server)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&email, "email", "", "the member's email")
	roleFlag(cmd, &roleS, "the member's role: "+roleList)
	f.StringVar(&name, "name", "", "the member's display name")
	f.DurationVar(&ttl, "setup-ttl", 0, "how long the setup token works, e.g. 24h (default: the server's, 72h; 10m to 720h)")
	return cmd
}

// printSetup shows a setup token once, with what the member runs.
func printSetup(e *env, ps *nuxariv1.PasswordSetup, server string) {
	fmt.Fprintf(e.stdout, "Setup token (shown once; it works until %s):\n%s\n", timeText(ps.GetExpireTime()), ps.GetSetupToken())
	fmt.Fprintf(e.stdout, "The member sets their password with:\n  nuxctl --server %s password set\n(the token on the first line of standard input, the new password on the second)\n", server)
}

func (e *env) memberSetupCmd() *cobra.Command {
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "setup-token USER_ID [--setup-ttl D]",
		Short: "give a member a new one-time password setup token",
		Long: `Give a member a new one-time setup token (for a lost password or an
expired setup), replacing any earlier one. Their current password keeps
working until they set a new one.`,
		Args: nargs(1, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			setupTTL, err := durationFlag(cmd, "setup-ttl", ttl)
			if err != nil {
				return err
			}
			c, err := e.connect()
			if err != nil {
				return err
			}
			res, err := c.Org.IssuePasswordSetup(e.ctx, connect.NewRequest(&nuxariv1.IssuePasswordSetupRequest{UserId: args[0], SetupTtl: setupTTL}))
			if err != nil {
				return err
			}
			if e.json {
				return e.printProto(res.Msg)
			}
			printSetup(e, res.Msg.GetSetup(), c.server)
			return nil
		},
	}
	cmd.Flags().DurationVar(&ttl, "setup-ttl", 0, "how long the setup token works, e.g. 24h (default: the server's, 72h; 10m to 720h)")
	return cmd
}

func (e *env) memberEndSessionsCmd() *cobra.Command {
	var tokens bool
	cmd := onIDCmd(e, "end-sessions USER_ID [--revoke-tokens]", "end every session of a member",
		"End every session of a member at once; with --revoke-tokens, also revoke every API token they made.",
		func(c *clients, id string) (*nuxariv1.EndMemberSessionsResponse, error) {
			return msgOf(c.Org.EndMemberSessions(e.ctx, connect.NewRequest(&nuxariv1.EndMemberSessionsRequest{UserId: id, RevokeApiTokens: tokens})))
		}, func(res *nuxariv1.EndMemberSessionsResponse, id string) string {
			return fmt.Sprintf("Ended %d sessions of %s; revoked %d API tokens.", res.GetSessionsEnded(), id, res.GetApiTokensRevoked())
		})
	cmd.Flags().BoolVar(&tokens, "revoke-tokens", false, "also revoke the member's API tokens")
	return cmd
}

func (e *env) memberRemoveCmd() *cobra.Command {
	return onIDCmd(e, "remove USER_ID", "remove a member",
		"Remove a member from the org; their sessions and API tokens stop working.",
		func(c *clients, id string) (*nuxariv1.RemoveMemberResponse, error) {
			return msgOf(c.Org.RemoveMember(e.ctx, connect.NewRequest(&nuxariv1.RemoveMemberRequest{UserId: id})))
		}, func(_ *nuxariv1.RemoveMemberResponse, id string) string { return "Removed " + id + "." })
}

func (e *env) memberRoleCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "role USER_ID ROLE",
		Short: "change a member's role",
		Long:  "Change a member's role. Roles: " + roleList + ".",
		Args:  nargs(2, 2),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) == 1 {
				return roleCompletions(), cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			role, err := parseRole(pathOf(cmd), args[1])
			if err != nil {
				return err
			}
			c, err := e.connect()
			if err != nil {
				return err
			}
			res, err := c.Org.SetMemberRole(e.ctx, connect.NewRequest(&nuxariv1.SetMemberRoleRequest{UserId: args[0], Role: role}))
			if err != nil {
				return err
			}
			if e.json {
				return e.printProto(res.Msg.GetMember())
			}
			m := res.Msg.GetMember()
			fmt.Fprintf(e.stdout, "%s (%s) is now %s.\n", printable(m.GetEmail()), printable(m.GetUserId()), roleName(m.GetRole()))
			return nil
		},
	}
}

func (e *env) memberListCmd() *cobra.Command {
	all := &nuxariv1.ListMembersResponse{}
	return e.listCmd("list", "list the members", "List every member of the org.", all, func(c *clients, token string) (string, error) {
		res, err := c.Org.ListMembers(e.ctx, connect.NewRequest(&nuxariv1.ListMembersRequest{PageSize: 1000, PageToken: token}))
		if err != nil {
			return "", err
		}
		all.Members = append(all.Members, res.Msg.GetMembers()...)
		return res.Msg.GetNextPageToken(), nil
	}, func(t *table) {
		t.header("USER ID", "EMAIL", "NAME", "ROLE", "CREATED")
		for _, m := range all.Members {
			t.row(m.GetUserId(), m.GetEmail(), orDash(m.GetDisplayName()), roleName(m.GetRole()), timeText(m.GetCreateTime()))
		}
	})
}
