package cli

import (
	"fmt"
	"io"

	"connectrpc.com/connect"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

func runSignup(e *env, args []string) error {
	f := newFlags("signup", "--org ID --email E [--name N] [--org-name N]", `
Create an org and its first owner (self-service sign-up; an operator may
have turned it off). The owner's password, at least 12 bytes, is read from
the first line of standard input. Log in afterwards with 'nuxctl login'.`)
	org := f.String("org", "", "org ID: 1 to 64 of [A-Za-z0-9_-]")
	email := f.String("email", "", "the owner's email")
	name := f.String("name", "", "the owner's display name")
	orgName := f.String("org-name", "", "the org's display name")
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	if err := f.required("org", "email"); err != nil {
		return err
	}
	c, pw, err := e.withPassword()
	if err != nil {
		return err
	}
	res, err := c.Org.CreateOrg(e.ctx, connect.NewRequest(&nuxariv1.CreateOrgRequest{
		OrgId: *org, DisplayName: *orgName, OwnerEmail: *email, OwnerDisplayName: *name, OwnerPassword: pw,
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
}

func printOrg(w io.Writer, o *nuxariv1.Org) error {
	return fields(w,
		"Org", o.GetOrgId(),
		"Name", orDash(o.GetDisplayName()),
		"Retention", durationText(o.GetRetention()),
		"Created", timeText(o.GetCreateTime()),
		"Log origin", o.GetLogOrigin(),
		"Verifier key", o.GetLogVerifierKey(),
	)
}

func runOrgGet(e *env, args []string) error {
	f := newFlags("org get", "", "Show the org: its settings, log origin and verifier key.")
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
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
}

func runOrgSet(e *env, args []string) error {
	f := newFlags("org set", "[--name N] [--retention 8760h]", `
Change the org's display name or its retention window: event payloads
older than the retention may be purged; nothing younger can be.`)
	name := f.String("name", "", "the org's display name")
	retention := f.Duration("retention", 0, "retention window, e.g. 8760h (one year)")
	if _, err := f.parse(e, args, 0, 0); err != nil {
		return err
	}
	req := &nuxariv1.UpdateOrgSettingsRequest{}
	if f.isSet("name") {
		req.DisplayName = name
	}
	var err error
	if req.Retention, err = durationFlag(f, "retention", *retention); err != nil {
		return err
	}
	if req.DisplayName == nil && req.Retention == nil {
		return usagef(f.name, "nothing to change: give --name or --retention")
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
}
