package cli

import (
	"fmt"
	"time"

	"connectrpc.com/connect"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/spf13/cobra"
)

func (e *env) tokenCreateCmd() *cobra.Command {
	var name, roleS string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "create --name N --role R [--ttl 720h]",
		Short: "create an API token (its secret is shown once)",
		Long: `Create an API token for automation. Its role must be one whose permissions
you hold. The secret is printed once, alone on standard output (details go
to standard error); it cannot be shown again. Use it with --token or
$` + EnvToken + `. Roles: ` + roleList + `.`,
		Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "name", "role"); err != nil {
				return err
			}
			role, err := parseRole(pathOf(cmd), roleS)
			if err != nil {
				return err
			}
			req := &nuxariv1.CreateAPITokenRequest{Name: name, Role: role}
			if req.Ttl, err = durationFlag(cmd, "ttl", ttl); err != nil {
				return err
			}
			c, err := e.connect()
			if err != nil {
				return err
			}
			res, err := c.Auth.CreateAPIToken(e.ctx, connect.NewRequest(req))
			if err != nil {
				return err
			}
			t := res.Msg.GetToken()
			const warning = "nuxctl: the token's secret is shown only this once; store it now, it cannot be retrieved again"
			if e.json {
				fmt.Fprintln(e.stderr, warning)
				return e.printProto(res.Msg)
			}
			fmt.Fprintf(e.stderr, "Created API token %s %q (role %s), expires %s.\n%s.\n",
				printable(t.GetTokenId()), printable(t.GetName()), roleName(t.GetRole()), timeText(t.GetExpireTime()), warning)
			_, err = fmt.Fprintln(e.stdout, res.Msg.GetSecret())
			return err
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the token's name")
	roleFlag(cmd, &roleS, "the token's role: "+roleList)
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "time to live, e.g. 720h (default: the server's, 90 days; at most 366 days)")
	return cmd
}

func (e *env) tokenListCmd() *cobra.Command {
	all := &nuxariv1.ListAPITokensResponse{}
	return e.listCmd("list", "list API tokens", "List the org's API tokens (never their secrets).", all, func(c *clients, token string) (string, error) {
		res, err := c.Auth.ListAPITokens(e.ctx, connect.NewRequest(&nuxariv1.ListAPITokensRequest{PageSize: 1000, PageToken: token}))
		if err != nil {
			return "", err
		}
		all.Tokens = append(all.Tokens, res.Msg.GetTokens()...)
		return res.Msg.GetNextPageToken(), nil
	}, func(tb *table) {
		tb.header("TOKEN ID", "NAME", "ROLE", "CREATED BY", "CREATED", "EXPIRES")
		for _, t := range all.Tokens {
			tb.row(t.GetTokenId(), t.GetName(), roleName(t.GetRole()), orDash(t.GetCreatedBy()), timeText(t.GetCreateTime()), timeText(t.GetExpireTime()))
		}
	})
}

func (e *env) tokenRevokeCmd() *cobra.Command {
	return onIDCmd(e, "revoke TOKEN_ID", "revoke an API token", "Revoke an API token at once.",
		func(c *clients, id string) (*nuxariv1.RevokeAPITokenResponse, error) {
			return msgOf(c.Auth.RevokeAPIToken(e.ctx, connect.NewRequest(&nuxariv1.RevokeAPITokenRequest{TokenId: id})))
		}, func(_ *nuxariv1.RevokeAPITokenResponse, id string) string { return "Revoked API token " + id + "." })
}
