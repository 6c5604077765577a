package cli

import (
	"strconv"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

func (e *env) driftBaselineCmd() *cobra.Command {
	return oneCmd(e, "baseline CONNECTOR_ID", "accept a connector's latest snapshot as its baseline",
		`Accept a connector's latest snapshot as its baseline: the access it had
before Nuxari governed it. From the next sync on, every difference
between what a sync reads and the baseline plus the access granted
through plans is a drift finding.`,
		func(c *clients, id string) (*nuxariv1.AcceptBaselineResponse, error) {
			res, err := c.Access.AcceptBaseline(e.ctx, connect.NewRequest(&nuxariv1.AcceptBaselineRequest{ConnectorId: id}))
			if err != nil {
				return nil, err
			}
			return res.Msg, nil
		},
		func(b *nuxariv1.AcceptBaselineResponse) error {
			return fields(e.stdout,
				"Connector", b.GetConnectorId(),
				"Baseline of sync", b.GetSyncId(),
				"Grants", strconv.FormatUint(b.GetGrants(), 10),
				"Grants digest", b.GetGrantsDigest())
		})
}

func (e *env) driftListCmd() *cobra.Command {
	all := &nuxariv1.ListDriftFindingsResponse{}
	var connector string
	var resolved bool
	cmd := e.listCmd("list", "list drift findings",
		`List drift findings: differences between a connector's access and its
desired state. KIND is unexpected (held, not desired) or missing (desired,
not held); open ones only, or all with --all.`, all, func(c *clients, token string) (string, error) {
			res, err := c.Access.ListDriftFindings(e.ctx, connect.NewRequest(&nuxariv1.ListDriftFindingsRequest{
				ConnectorId: connector, IncludeResolved: resolved, PageSize: 1000, PageToken: token,
			}))
			if err != nil {
				return "", err
			}
			all.Findings = append(all.Findings, res.Msg.GetFindings()...)
			return res.Msg.GetNextPageToken(), nil
		}, func(t *table) {
			t.header("FINDING ID", "CONNECTOR", "IDENTITY", "ENTITLEMENT", "KIND", "STATE", "DETECTED", "PLAN")
			for _, f := range all.Findings {
				state := f.GetState()
				if r := f.GetResolution(); r != "" {
					state += " (" + r + ")"
				}
				t.row(f.GetFindingId(), f.GetConnectorId(), f.GetIdentityId(), f.GetEntitlementId(), f.GetKind(), state, timeText(f.GetDetectTime()), orDash(f.GetPlanId()))
			}
		})
	cmd.Flags().StringVar(&connector, "connector", "", "only the findings of connector `ID`")
	cmd.Flags().BoolVar(&resolved, "all", false, "resolved findings too")
	return cmd
}
