package cli

import (
	"fmt"

	"connectrpc.com/connect"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

func runMemberAdd(e *env, args []string) error {
	f := newFlags("member add", "--email E --role R [--name N] [--setup-ttl D]", `
Add a member to the org. Nobody chooses a password for them: the command
prints a one-time setup token to hand to the member over a trusted
channel, with which they set their own ('nuxctl password set').
Roles: `+roleList+`.`)
	email := f.String("email", "", "the member's email")
	roleS := f.String("role", "", "the member's role: "+roleList)
	name := f.String("name", "", "the member's display name")
	ttl := f.Duration("setup-ttl", 0, "how long the setup token works, e.g. 24h (default: the server's, 72h; 10m to 720h)")
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	if err := f.required("email", "role"); err != nil {
		return err
	}
	role, err := parseRole(f.name, *roleS)
	if err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	setupTTL, err := durationFlag(f, "setup-ttl", *ttl)
	if err != nil {
		return err
	}
	res, err := c.Org.AddMember(e.ctx, connect.NewRequest(&nuxariv1.AddMemberRequest{
		Email: *email, DisplayName: *name, Role: role, SetupTtl: setupTTL,
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
}

// printSetup shows a setup token once, with what the member runs.
func printSetup(e *env, ps *nuxariv1.PasswordSetup, server string) {
	fmt.Fprintf(e.stdout, "Setup token (shown once; it works until %s):\n%s\n", timeText(ps.GetExpireTime()), ps.GetSetupToken())
	fmt.Fprintf(e.stdout, "The member sets their password with:\n  nuxctl --server %s password set\n(the token on the first line of standard input, the new password on the second)\n", server)
}

func runMemberSetup(e *env, args []string) error {
	f := newFlags("member setup-token", "USER_ID [--setup-ttl D]", `
Give a member a new one-time setup token (for a lost password or an
expired setup), replacing any earlier one. Their current password keeps
working until they set a new one.`)
	ttl := f.Duration("setup-ttl", 0, "how long the setup token works, e.g. 24h (default: the server's, 72h; 10m to 720h)")
	pos, err := f.parse(e, args, 1, 1)
	if err != nil {
		return err
	}
	setupTTL, err := durationFlag(f, "setup-ttl", *ttl)
	if err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	res, err := c.Org.IssuePasswordSetup(e.ctx, connect.NewRequest(&nuxariv1.IssuePasswordSetupRequest{UserId: pos[0], SetupTtl: setupTTL}))
	if err != nil {
		return err
	}
	if e.json {
		return e.printProto(res.Msg)
	}
	printSetup(e, res.Msg.GetSetup(), c.server)
	return nil
}

func runMemberEndSessions(e *env, args []string) error {
	f := newFlags("member end-sessions", "USER_ID [--revoke-tokens]", "End every session of a member at once; with --revoke-tokens, also revoke every API token they made.")
	tokens := f.Bool("revoke-tokens", false, "also revoke the member's API tokens")
	return runOnID(e, f, args, func(c *clients, id string) (*nuxariv1.EndMemberSessionsResponse, error) {
		return msgOf(c.Org.EndMemberSessions(e.ctx, connect.NewRequest(&nuxariv1.EndMemberSessionsRequest{UserId: id, RevokeApiTokens: *tokens})))
	}, func(res *nuxariv1.EndMemberSessionsResponse, id string) string {
		return fmt.Sprintf("Ended %d sessions of %s; revoked %d API tokens.", res.GetSessionsEnded(), id, res.GetApiTokensRevoked())
	})
}

func runMemberRemove(e *env, args []string) error {
	f := newFlags("member remove", "USER_ID", "Remove a member from the org; their sessions and API tokens stop working.")
	return runOnID(e, f, args, func(c *clients, id string) (*nuxariv1.RemoveMemberResponse, error) {
		return msgOf(c.Org.RemoveMember(e.ctx, connect.NewRequest(&nuxariv1.RemoveMemberRequest{UserId: id})))
	}, func(_ *nuxariv1.RemoveMemberResponse, id string) string { return "Removed " + id + "." })
}

func runMemberRole(e *env, args []string) error {
	f := newFlags("member role", "USER_ID ROLE", "Change a member's role. Roles: "+roleList+".")
	pos, err := f.parse(e, args, 2, 2)
	if err != nil {
		return err
	}
	role, err := parseRole(f.name, pos[1])
	if err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	res, err := c.Org.SetMemberRole(e.ctx, connect.NewRequest(&nuxariv1.SetMemberRoleRequest{UserId: pos[0], Role: role}))
	if err != nil {
		return err
	}
	if e.json {
		return e.printProto(res.Msg.GetMember())
	}
	m := res.Msg.GetMember()
	fmt.Fprintf(e.stdout, "%s (%s) is now %s.\n", printable(m.GetEmail()), printable(m.GetUserId()), roleName(m.GetRole()))
	return nil
}

func runMemberList(e *env, args []string) error {
	all := &nuxariv1.ListMembersResponse{}
	return runList(e, args, "member list", "List every member of the org.", all, func(c *clients, token string) (string, error) {
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
