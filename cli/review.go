package cli

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

// Access reviews (AccessService): an admin starts a review of a
// connector's grants; each grant is an item that its reviewers keep or
// revoke; the revocations run at once; the review's events, all about
// review:<ID>, export as one evidence package.

// maxReviewDecisions is how many decisions one DecideReview call takes;
// 'review decide' sends more in batches of it.
const maxReviewDecisions = 100

func reviewStateName(s nuxariv1.ReviewState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "REVIEW_STATE_"))
}

// reviewersText names who reviews: user IDs, and roles as role:<name>.
func reviewersText(ids, roles []string) string {
	all := slices.Clone(ids)
	for _, r := range roles {
		all = append(all, "role:"+r)
	}
	return listText(all, "-")
}

// reviewProgress is how many of a review's items are decided.
func reviewProgress(r *nuxariv1.Review) string {
	return fmt.Sprintf("%d of %d", r.GetDecided(), r.GetItems())
}

func printReview(e *env, r *nuxariv1.Review) error {
	return fields(e.stdout,
		"Review", r.GetReviewId(),
		"Name", r.GetName(),
		"Connector", r.GetConnectorId(),
		"State", reviewStateName(r.GetState()),
		"Sync reviewed", orDash(r.GetSyncId()),
		"Grants digest", orDash(r.GetGrantsDigest()),
		"Started by", orDash(r.GetStartedBy()),
		"Reviewers", reviewersText(r.GetReviewerIds(), r.GetReviewerRoles())+" (of the items no policy covers)",
		"Items", strconv.FormatUint(uint64(r.GetItems()), 10),
		"Decided", reviewProgress(r),
		"Kept", strconv.FormatUint(uint64(r.GetKept()), 10),
		"Revoked", strconv.FormatUint(uint64(r.GetRevoked()), 10),
		"Revocations failed", strconv.FormatUint(uint64(r.GetRevokeFailed()), 10),
		"Created", timeText(r.GetCreateTime()),
		"Ended", timeText(r.GetCompleteTime()),
	)
}

// reviewOf returns a response's review, or the call's error.
func reviewOf[T any, PT interface {
	*T
	GetReview() *nuxariv1.Review
}](res *connect.Response[T], err error) (*nuxariv1.Review, error) {
	if err != nil {
		return nil, err
	}
	return PT(res.Msg).GetReview(), nil
}

// reviewCmd is a command that acts on one review and prints it.
func (e *env) reviewCmd(use, short, long string, call func(c *clients, id string) (*nuxariv1.Review, error)) *cobra.Command {
	return oneCmd(e, use, short, long, call, func(r *nuxariv1.Review) error { return printReview(e, r) })
}

func (e *env) reviewStartCmd() *cobra.Command {
	var name string
	var reviewers, reviewerRoles []string
	cmd := &cobra.Command{
		Use:   "start CONNECTOR_ID --name N [--reviewer USER_ID]... [--reviewer-role ROLE]...",
		Short: "start a review of a connector's grants",
		Long: `Start an access review (certification) of a connector's grants, as its
latest snapshot lists them: each grant is an item. An item whose
entitlement a policy covers is reviewed by that policy's approvers (the
first policy, in ID order); the others by --reviewer and
--reviewer-role (repeatable; neither: admins and owners). A connector has
one open review at a time. Admins and owners start reviews. Roles:
` + roleList + `.`,
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "the review's `NAME` (1 to 200 characters)")
	f.StringArrayVar(&reviewers, "reviewer", nil, "a `USER_ID` who reviews the items no policy covers (repeatable)")
	f.StringArrayVar(&reviewerRoles, "reviewer-role", nil, "members with this `ROLE` review the items no policy covers (repeatable)")
	completeRoles(cmd, "reviewer-role")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := required(cmd, "name"); err != nil {
			return err
		}
		var err error
		if reviewers, err = listFlag(cmd, "reviewer", reviewers); err != nil {
			return err
		}
		if reviewerRoles, err = listFlag(cmd, "reviewer-role", reviewerRoles); err != nil {
			return err
		}
		for _, r := range reviewerRoles {
			if _, err := parseRole(pathOf(cmd), r); err != nil {
				return err
			}
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		r, err := reviewOf(c.Access.StartReview(e.ctx, connect.NewRequest(&nuxariv1.StartReviewRequest{
			ConnectorId: args[0], Name: name, ReviewerIds: reviewers, ReviewerRoles: reviewerRoles,
		})))
		if err != nil {
			return err
		}
		if e.json {
			return e.printProto(r)
		}
		id := printable(r.GetReviewId())
		fmt.Fprintf(e.stderr, "Review %s has %d items. Reviewers see theirs with 'nuxctl review items %s --mine'.\n", id, r.GetItems(), id)
		return printReview(e, r)
	}
	return cmd
}

func (e *env) reviewListCmd() *cobra.Command {
	all := &nuxariv1.ListReviewsResponse{}
	return e.listCmd("list", "list the org's access reviews", "List the org's access reviews, open and ended.", all, func(c *clients, token string) (string, error) {
		res, err := c.Access.ListReviews(e.ctx, connect.NewRequest(&nuxariv1.ListReviewsRequest{PageSize: 1000, PageToken: token}))
		if err != nil {
			return "", err
		}
		all.Reviews = append(all.Reviews, res.Msg.GetReviews()...)
		return res.Msg.GetNextPageToken(), nil
	}, func(t *table) {
		t.header("REVIEW ID", "NAME", "CONNECTOR", "STATE", "DECIDED", "KEPT", "REVOKED", "CREATED")
		for _, r := range all.Reviews {
			t.row(r.GetReviewId(), r.GetName(), r.GetConnectorId(), reviewStateName(r.GetState()), reviewProgress(r),
				strconv.FormatUint(uint64(r.GetKept()), 10), strconv.FormatUint(uint64(r.GetRevoked()), 10), timeText(r.GetCreateTime()))
		}
	})
}

func (e *env) reviewGetCmd() *cobra.Command {
	return e.reviewCmd("get REVIEW_ID", "show an access review", "Show an access review: what it reviews, who reviews, and how many items are decided, kept and revoked.",
		func(c *clients, id string) (*nuxariv1.Review, error) {
			return reviewOf(c.Access.GetReview(e.ctx, connect.NewRequest(&nuxariv1.GetReviewRequest{ReviewId: id})))
		})
}

func (e *env) reviewCancelCmd() *cobra.Command {
	return e.reviewCmd("cancel REVIEW_ID", "cancel an open access review",
		"Cancel an open access review: undecided items stay undecided, and revocations already decided run on. Admins and owners cancel reviews.",
		func(c *clients, id string) (*nuxariv1.Review, error) {
			return reviewOf(c.Access.CancelReview(e.ctx, connect.NewRequest(&nuxariv1.CancelReviewRequest{ReviewId: id})))
		})
}

// decisionText is an item's decision, "-" while undecided.
func decisionText(it *nuxariv1.ReviewItem) string {
	if it.GetDecision() == "" {
		return "-"
	}
	return it.GetDecision()
}

func (e *env) reviewItemsCmd() *cobra.Command {
	var mine bool
	cmd := &cobra.Command{
		Use:   "items REVIEW_ID [--mine]",
		Short: "list a review's items",
		Long: `List a review's items (grants) in order: ITEM is the number 'review decide'
takes; REVIEWERS are user IDs and role:<name>; DECISION is keep, revoke,
or "-" while undecided. With --mine only the undecided items you review
(a reviewer's inbox).`,
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.connect()
			if err != nil {
				return err
			}
			all := &nuxariv1.ListReviewItemsResponse{}
			err = eachPage(func(token string) (string, error) {
				res, err := c.Access.ListReviewItems(e.ctx, connect.NewRequest(&nuxariv1.ListReviewItemsRequest{
					ReviewId: args[0], AssignedToMe: mine, PageSize: 1000, PageToken: token,
				}))
				if err != nil {
					return "", err
				}
				all.Items = append(all.Items, res.Msg.GetItems()...)
				return res.Msg.GetNextPageToken(), nil
			})
			if err != nil {
				return err
			}
			if e.json {
				return e.printProto(all)
			}
			t := newTable(e.stdout)
			t.header("ITEM", "IDENTITY", "ENTITLEMENT", "REVIEWERS", "DECISION")
			for _, it := range all.Items {
				t.row(strconv.FormatUint(uint64(it.GetItem()), 10), nameOr(it.GetIdentityName(), it.GetIdentityId()),
					nameOr(it.GetEntitlementName(), it.GetEntitlementId()), reviewersText(it.GetReviewerIds(), it.GetReviewerRoles()), decisionText(it))
			}
			return t.flush()
		},
	}
	cmd.Flags().BoolVar(&mine, "mine", false, "only the undecided items you review")
	return cmd
}

// nameOr is name, or id when there is no name.
func nameOr(name, id string) string {
	if name == "" {
		return id
	}
	return name
}

// parseItems parses the values of an item-list flag: item numbers from
// 1, separated by commas, in one or more values.
func parseItems(cmd *cobra.Command, flag string, values []string) ([]uint32, error) {
	var out []uint32
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
			if err != nil || n == 0 {
				return nil, usagef(pathOf(cmd), "--%s %q: %q is not an item number (a whole number from 1, as 'review items' lists); give ITEM[,ITEM...]", flag, v, s)
			}
			out = append(out, uint32(n))
		}
	}
	return out, nil
}

func (e *env) reviewDecideCmd() *cobra.Command {
	var keep, revoke []string
	var comment string
	cmd := &cobra.Command{
		Use:   "decide REVIEW_ID [--keep ITEM[,ITEM...]]... [--revoke ITEM[,ITEM...]]... [--comment TEXT]",
		Short: "keep or revoke items of a review you review",
		Long: fmt.Sprintf(`Keep or revoke items of an open review, as one of their reviewers. Items
are numbered as 'review items' lists them; each is decided once. The
items revoked are revoked at once through the connector. The comment is
recorded with every decision. nuxctl sends the decisions in batches of
%d, in item order; if one batch is refused, those before it stand and
standard error says how many. Prints the review.`, maxReviewDecisions),
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	f := cmd.Flags()
	f.StringArrayVar(&keep, "keep", nil, "keep these `ITEMS` (numbers separated by commas; repeatable)")
	f.StringArrayVar(&revoke, "revoke", nil, "revoke these `ITEMS` (numbers separated by commas; repeatable)")
	f.StringVar(&comment, "comment", "", commentUsage)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		kept, err := parseItems(cmd, "keep", keep)
		if err != nil {
			return err
		}
		revoked, err := parseItems(cmd, "revoke", revoke)
		if err != nil {
			return err
		}
		if len(kept)+len(revoked) == 0 {
			return usagef(pathOf(cmd), "nothing to decide: give --keep or --revoke with item numbers")
		}
		ds := make([]*nuxariv1.ReviewDecision, 0, len(kept)+len(revoked))
		seen := map[uint32]bool{}
		for _, l := range []struct {
			items  []uint32
			revoke bool
		}{{kept, false}, {revoked, true}} {
			for _, it := range l.items {
				if seen[it] {
					return usagef(pathOf(cmd), "item %d is named twice: decide each item once", it)
				}
				seen[it] = true
				ds = append(ds, &nuxariv1.ReviewDecision{Item: it, Revoke: l.revoke, Comment: comment})
			}
		}
		slices.SortFunc(ds, func(a, b *nuxariv1.ReviewDecision) int { return cmp.Compare(a.GetItem(), b.GetItem()) })
		c, err := e.connect()
		if err != nil {
			return err
		}
		var r *nuxariv1.Review
		for from := 0; from < len(ds); from += maxReviewDecisions {
			to := min(from+maxReviewDecisions, len(ds))
			r, err = reviewOf(c.Access.DecideReview(e.ctx, connect.NewRequest(&nuxariv1.DecideReviewRequest{ReviewId: args[0], Decisions: ds[from:to]})))
			if err != nil {
				if from > 0 {
					fmt.Fprintf(e.stderr, "%d of the %d decisions were recorded (items up to %d); the batch from item %d was refused, and the rest were not sent.\n",
						from, len(ds), ds[from-1].GetItem(), ds[from].GetItem())
				}
				return err
			}
			if len(ds) > maxReviewDecisions {
				fmt.Fprintf(e.stderr, "%d of %d decisions recorded\n", to, len(ds))
			}
		}
		if e.json {
			return e.printProto(r)
		}
		return printReview(e, r)
	}
	return cmd
}

func (e *env) reviewExportCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "export REVIEW_ID --out FILE [--force] [--timeout D]",
		Short: "export a review's events as a signed evidence package",
		Long: `Export every event of a review (started, each decision, completed or
canceled; all about review:<ID>) as a signed evidence package: start the
export, wait for it showing progress on standard error, then download it
to FILE (mode 0600), checked against the export's SHA-256 and size.
Verify it offline with 'nuxctl verify'. Exits 6 if the export fails and
7 if it has not finished within --timeout (it carries on: follow it with
'evidence status').`,
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	out := outFlags(cmd, "write the package to this `FILE`", 0o600)
	cmd.Flags().DurationVar(&timeout, "timeout", DefaultWaitTimeout, fmt.Sprintf("give up waiting for the export after this long (exit %d)", ExitTimeout))
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := required(cmd, "out"); err != nil {
			return err
		}
		if timeout <= 0 {
			return usagef(pathOf(cmd), "--timeout must be positive")
		}
		if err := out.check(); err != nil {
			return err
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		// The review must be the org's: an export of a subject nothing is
		// about would be an empty package.
		r, err := reviewOf(c.Access.GetReview(e.ctx, connect.NewRequest(&nuxariv1.GetReviewRequest{ReviewId: args[0]})))
		if err != nil {
			return err
		}
		x, err := e.startExport(c, &nuxariv1.EvidenceScope{Subjects: []string{"review:" + r.GetReviewId()}})
		if err != nil {
			return err
		}
		if x, err = e.waitExport(c, x, timeout); err != nil {
			return err
		}
		if x.GetState() == nuxariv1.ExportState_EXPORT_STATE_FAILED {
			return exportFailed(x)
		}
		n, err := e.download(c, x.GetExportId(), out)
		if err != nil {
			return err
		}
		if e.json {
			return e.printJSON(struct {
				ReviewID string `json:"review_id"`
				ExportID string `json:"export_id"`
				Events   uint64 `json:"events"`
				File     string `json:"file"`
				Size     int64  `json:"size"`
			}{r.GetReviewId(), x.GetExportId(), x.GetEventCount(), out.path, n})
		}
		fmt.Fprintf(e.stdout, "Wrote export %s of review %s (%d events, %d bytes) to %s. Verify it offline with: nuxctl verify %s --org ORG --key LOG_KEY --signing-key KEY.pem\n",
			x.GetExportId(), printable(r.GetReviewId()), x.GetEventCount(), n, out.path, out.path)
		return nil
	}
	return cmd
}
