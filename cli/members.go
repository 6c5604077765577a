package cli

import (
	"fmt"

	"connectrpc.com/connect"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

func runMemberAdd(e *env, args []string) error {
	f := newFlags("member add", "--email E --role R [--name N]", `
Add a member to the org. Their initial password, at least 12 bytes, is read
from the first line of standard input; they should change it.
Roles: `+roleList+`.`)
	email := f.String("email", "", "the member's email")
	roleS := f.String("role", "", "the member's role: "+roleList)
	name := f.String("name", "", "the member's display name")
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
	pw, err := e.readPassword("Initial password")
	if err != nil {
		return err
	}
	res, err := c.Org.AddMember(e.ctx, connect.NewRequest(&nuxariv1.AddMemberRequest{
		Email: *email, DisplayName: *name, Role: role, InitialPassword: pw,
	}))
	if err != nil {
		return err
	}
	if e.json {
		return e.printProto(res.Msg.GetMember())
	}
	m := res.Msg.GetMember()
	fmt.Fprintf(e.stdout, "Added %s as %s (user ID %s).\n", printable(m.GetEmail()), roleName(m.GetRole()), printable(m.GetUserId()))
	return nil
}

func runMemberRemove(e *env, args []string) error {
	f := newFlags("member remove", "USER_ID", "Remove a member from the org; their sessions and API tokens stop working.")
	pos, err := f.parse(e, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	res, err := c.Org.RemoveMember(e.ctx, connect.NewRequest(&nuxariv1.RemoveMemberRequest{UserId: pos[0]}))
	if err != nil {
		return err
	}
	if e.json {
		return e.printProto(res.Msg)
	}
	fmt.Fprintf(e.stdout, "Removed %s.\n", printable(pos[0]))
	return nil
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
