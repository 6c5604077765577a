package cli

import (
	"fmt"

	"connectrpc.com/connect"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/spf13/cobra"
)

func (e *env) passwordSetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "set",
		Short: "set your password with a setup token (both on stdin)",
		Long: `Set your password with the one-time setup token an owner gave you. Typed
at a terminal, both are read without echo; piped, the token is the first
line of standard input and the new password, at least 12 bytes, the
second. Then log in with 'nuxctl login'.`,
		Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
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
		},
	}
}

func (e *env) passwordChangeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "change",
		Short: "change your password (current and new on stdin)",
		Long: `Change your own password (needs a login session, not an API token). Typed
at a terminal, both are read without echo; piped, the current password is
the first line of standard input and the new one, at least 12 bytes, the
second. Every other session of yours ends.`,
		Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
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
		},
	}
}
