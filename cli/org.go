package cli

import (
	"fmt"
	"io"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	"github.com/nuxari/nuxari/ledger/verify"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

func (e *env) signupCmd() *cobra.Command {
	var org, email, name, orgName string
	cmd := &cobra.Command{
		Use:   "signup --org ID --email E [--name N] [--org-name N]",
		Short: "create an org and its first owner",
		Long: `Create an org and its first owner (self-service sign-up; an operator may
have turned it off). The owner's password, at least 12 bytes, is read from
the terminal without echo, or from the first line of standard input. Log in
afterwards with 'nuxctl login'.`,
		Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required(cmd, "org", "email"); err != nil {
				return err
			}
			c, pw, err := e.withPassword()
			if err != nil {
				return err
			}
			res, err := c.Org.CreateOrg(e.ctx, connect.NewRequest(&nuxariv1.CreateOrgRequest{
				OrgId: org, DisplayName: orgName, OwnerEmail: email, OwnerDisplayName: name, OwnerPassword: pw,
			}))
			if err != nil {
				return err
			}
			if e.json {
				return e.printProto(res.Msg)
			}
			o, m := res.Msg.GetOrg(), res.Msg.GetOwner()
			fmt.Fprintf(e.stdout, "Created org %s with owner %s (%s).\n\n", printable(o.GetOrgId()), printable(m.GetEmail()), printable(m.GetUserId()))
			if err := printOrg(e.stdout, o); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "\nPin the log origin and verifier key above to verify proofs offline.\nNext: nuxctl --server %s login --org %s --email %s\n", c.server, printable(o.GetOrgId()), printable(m.GetEmail()))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&org, "org", "", "org ID: 1 to 64 of [A-Za-z0-9_-]")
	f.StringVar(&email, "email", "", "the owner's email")
	f.StringVar(&name, "name", "", "the owner's display name")
	f.StringVar(&orgName, "org-name", "", "the org's display name")
	return cmd
}

func printOrg(w io.Writer, o *nuxariv1.Org) error {
	return fields(w,
		"Org", o.GetOrgId(),
		"Name", orDash(o.GetDisplayName()),
		"Retention", durationText(o.GetRetention()),
		"Created", timeText(o.GetCreateTime()),
		"Log origin", o.GetLogOrigin(),
		"Verifier key", o.GetLogVerifierKey(),
		"Key fingerprint", keyFingerprint(o.GetLogVerifierKey()),
	)
}

// keyFingerprint is the verifier key's fingerprint, as the web console
// shows it when it asks to pin the key, or a dash.
func keyFingerprint(vkey string) string {
	fp, err := verify.KeyFingerprint(vkey)
	if err != nil {
		return "-"
	}
	return fp
}

func (e *env) orgGetCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "get",
		Short: "show the org",
		Long:  "Show the org: its settings, log origin and verifier key.",
		Args:  nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.connect()
			if err != nil {
				return err
			}
			res, err := c.Org.GetOrg(e.ctx, connect.NewRequest(&nuxariv1.GetOrgRequest{}))
			if err != nil {
				return err
			}
			if e.json {
				return e.printProto(res.Msg.GetOrg())
			}
			return printOrg(e.stdout, res.Msg.GetOrg())
		},
	}
}

func (e *env) orgSetCmd() *cobra.Command {
	var name string
	var retention time.Duration
	cmd := &cobra.Command{
		Use:   "set [--name N] [--retention 8760h]",
		Short: "change the org's name or retention",
		Long: `Change the org's display name or its retention window: event payloads
older than the retention may be purged; nothing younger can be.`,
		Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &nuxariv1.UpdateOrgSettingsRequest{}
			if cmd.Flags().Changed("name") {
				req.DisplayName = &name
			}
			var err error
			if req.Retention, err = durationFlag(cmd, "retention", retention); err != nil {
				return err
			}
			if req.DisplayName == nil && req.Retention == nil {
				return usagef(pathOf(cmd), "nothing to change: give --name or --retention")
			}
			c, err := e.connect()
			if err != nil {
				return err
			}
			res, err := c.Org.UpdateOrgSettings(e.ctx, connect.NewRequest(req))
			if err != nil {
				return err
			}
			if e.json {
				return e.printProto(res.Msg.GetOrg())
			}
			return printOrg(e.stdout, res.Msg.GetOrg())
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the org's display name")
	cmd.Flags().DurationVar(&retention, "retention", 0, "retention window, e.g. 8760h (one year)")
	return cmd
}
