package cli

import (
	"errors"
	"fmt"

	"connectrpc.com/connect"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/spf13/cobra"
)

func (e *env) loginCmd() *cobra.Command {
	var org, email string
	cmd := &cobra.Command{
		Use:   "login --org ID --email E",
		Short: "sign in and store the session",
		Long: `Sign in to an org and store the session (server URL, org, session token)
in the credentials file, created with mode 0600. The password is read from
the terminal without echo, or from the first line of standard input.`,
		Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "org", "email"); err != nil {
				return err
			}
			c, pw, err := e.withPassword()
			if err != nil {
				return err
			}
			server := c.server
			res, err := c.Auth.Login(e.ctx, connect.NewRequest(&nuxariv1.LoginRequest{OrgId: org, Email: email, Password: pw}))
			if err != nil {
				return err
			}
			p := res.Msg.GetPrincipal()
			creds := &Credentials{
				Server: server, OrgID: p.GetOrgId(), Email: p.GetEmail(), UserID: p.GetUserId(),
				SessionToken: res.Msg.GetSessionToken(),
			}
			if p.GetExpireTime() != nil {
				creds.ExpireTime = p.GetExpireTime().AsTime().UTC()
			}
			path, err := e.saveCredentials(creds)
			if err != nil {
				return err
			}
			if e.json {
				// Never the session token: only who signed in.
				return e.printProto(p)
			}
			fmt.Fprintf(e.stdout, "Logged in to org %s at %s as %s (%s, role %s).\nSession expires %s.\nCredentials saved in %s.\n",
				printable(p.GetOrgId()), server, printable(p.GetEmail()), printable(p.GetUserId()), roleName(p.GetRole()),
				timeText(p.GetExpireTime()), path)
			return nil
		},
	}
	cmd.Flags().StringVar(&org, "org", "", "org ID")
	cmd.Flags().StringVar(&email, "email", "", "your email")
	return cmd
}

// logoutCmd ends the stored session on its server and deletes the
// credentials file. Without stored credentials it ends the session given
// by --token or $NUXARI_TOKEN.
func (e *env) logoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "end the stored session and delete the credentials file",
		Long: `End the stored session on the server and delete the credentials file. The
file is deleted even when the server cannot be reached.`,
		Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			stored, err := e.loadCredentials()
			if err != nil && !errors.Is(err, errNoCredentials) {
				return err
			}
			var c *clients
			if stored != nil {
				c = e.clientsFor(stored.Server, stored.SessionToken)
			} else if c, err = e.connect(); err != nil {
				return err
			}
			_, rpcErr := c.Auth.Logout(e.ctx, connect.NewRequest(&nuxariv1.LogoutRequest{}))
			if connect.CodeOf(rpcErr) == connect.CodeUnauthenticated {
				rpcErr = nil // the session had already ended
			}
			if stored != nil {
				if _, err := e.deleteCredentials(); err != nil {
					return err
				}
			}
			if rpcErr != nil {
				if stored != nil {
					fmt.Fprintln(e.stderr, "nuxctl: the credentials file was deleted, but the server did not confirm the end of the session")
				}
				return rpcErr
			}
			if e.json {
				return e.printProto(&nuxariv1.LogoutResponse{})
			}
			fmt.Fprintln(e.stdout, "Logged out.")
			return nil
		},
	}
}

func (e *env) whoamiCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "show who the credentials authenticate as",
		Args:  nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.connect()
			if err != nil {
				return err
			}
			res, err := c.Auth.WhoAmI(e.ctx, connect.NewRequest(&nuxariv1.WhoAmIRequest{}))
			if err != nil {
				return err
			}
			p := res.Msg.GetPrincipal()
			if e.json {
				return e.printProto(p)
			}
			kv := []string{
				"Server", c.server,
				"Org", p.GetOrgId(),
				"User", p.GetUserId(),
				"Email", orDash(p.GetEmail()),
				"Role", roleName(p.GetRole()),
			}
			if p.GetApiTokenId() != "" {
				kv = append(kv, "API token", p.GetApiTokenId())
			}
			kv = append(kv, "Expires", timeText(p.GetExpireTime()))
			return fields(e.stdout, kv...)
		},
	}
}
