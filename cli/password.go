package cli

import (
	"fmt"

	"connectrpc.com/connect"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

func runPasswordSet(e *env, args []string) error {
	f := newFlags("password set", "", `
Set your password with the one-time setup token an owner gave you. The
token is read from the first line of standard input and the new password,
at least 12 bytes, from the second. Then log in with 'nuxctl login'.`)
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	server, err := e.serverURL(nil)
	if err != nil {
		return err
	}
	tok, err := e.readPassword("Setup token")
	if err != nil {
		return err
	}
	pw, err := e.readPassword("New password")
	if err != nil {
		return err
	}
	e.warnPlaintext(server)
	res, err := e.clientsFor(server, "").Auth.SetPassword(e.ctx, connect.NewRequest(&nuxariv1.SetPasswordRequest{SetupToken: tok, NewPassword: pw}))
	if err != nil {
		return err
	}
	if e.json {
		return e.printProto(res.Msg)
	}
	fmt.Fprintf(e.stdout, "Password set for %s in org %s. Log in with:\n  nuxctl --server %s login --org %s --email %s\n",
		printable(res.Msg.GetEmail()), printable(res.Msg.GetOrgId()), server, printable(res.Msg.GetOrgId()), printable(res.Msg.GetEmail()))
	return nil
}

func runPasswordChange(e *env, args []string) error {
	f := newFlags("password change", "", `
Change your own password (needs a login session, not an API token). The
current password is read from the first line of standard input and the new
one, at least 12 bytes, from the second. Every other session of yours
ends.`)
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	cur, err := e.readPassword("Current password")
	if err != nil {
		return err
	}
	pw, err := e.readPassword("New password")
	if err != nil {
		return err
	}
	res, err := c.Auth.ChangePassword(e.ctx, connect.NewRequest(&nuxariv1.ChangePasswordRequest{CurrentPassword: cur, NewPassword: pw}))
	if err != nil {
		return err
	}
	if e.json {
		return e.printProto(res.Msg)
	}
	fmt.Fprintf(e.stdout, "Password changed; %d other sessions ended.\n", res.Msg.GetSessionsEnded())
	return nil
}
