package api

import (
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/logapi"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/sessions"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

var roles = map[nuxariv1.Role]rbac.Role{
	nuxariv1.Role_ROLE_OWNER:     rbac.Owner,
	nuxariv1.Role_ROLE_ADMIN:     rbac.Admin,
	nuxariv1.Role_ROLE_APPROVER:  rbac.Approver,
	nuxariv1.Role_ROLE_REQUESTER: rbac.Requester,
	nuxariv1.Role_ROLE_AUDITOR:   rbac.Auditor,
	nuxariv1.Role_ROLE_READONLY:  rbac.Readonly,
}

func roleIn(field string, r nuxariv1.Role) (rbac.Role, error) {
	if role, ok := roles[r]; ok {
		return role, nil
	}
	return "", connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s: %d is not a role; use one of ROLE_OWNER, ROLE_ADMIN, ROLE_APPROVER, ROLE_REQUESTER, ROLE_AUDITOR, ROLE_READONLY", field, r))
}

func roleOut(r rbac.Role) nuxariv1.Role {
	for k, v := range roles {
		if v == r {
			return k
		}
	}
	return nuxariv1.Role_ROLE_UNSPECIFIED
}

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// timeIn converts an optional timestamp, refusing invalid ones.
func timeIn(field string, t *timestamppb.Timestamp) (time.Time, error) {
	if t == nil {
		return time.Time{}, nil
	}
	if t.CheckValid() != nil {
		return time.Time{}, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s must be a time from year 1 to 9999 with nanos from 0 to 999,999,999", field))
	}
	return t.AsTime(), nil
}

// durationIn converts a duration field, refusing invalid ones.
func durationIn(field string, d *durationpb.Duration) (time.Duration, error) {
	if d.CheckValid() != nil {
		return 0, connect.NewError(connect.CodeInvalidArgument, fmt.Errorf("%s must be a duration of at most 10,000 years whose seconds and nanos agree in sign", field))
	}
	return d.AsDuration(), nil
}

func orgOut(o orgs.Org) *nuxariv1.Org {
	return &nuxariv1.Org{
		OrgId: o.ID, DisplayName: o.DisplayName, Retention: durationpb.New(o.Retention),
		CreateTime: ts(o.Created), LogOrigin: o.LogOrigin, LogVerifierKey: o.VerifierKey,
	}
}

// optDurationIn is durationIn for an optional field: unset is zero, which
// the domain reads as its default.
func optDurationIn(field string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	return durationIn(field, d)
}

func setupOut(ps orgs.PasswordSetup) *nuxariv1.PasswordSetup {
	return &nuxariv1.PasswordSetup{SetupToken: ps.Token.Reveal(), ExpireTime: ts(ps.Expires)}
}

func memberOut(m orgs.Member) *nuxariv1.Member {
	return &nuxariv1.Member{UserId: m.UserID, Email: m.Email, DisplayName: m.DisplayName, Role: roleOut(m.Role), CreateTime: ts(m.Created)}
}

func principalOut(p *core.Principal) *nuxariv1.Principal {
	return &nuxariv1.Principal{OrgId: p.Org, UserId: p.UserID, Email: p.Email, Role: roleOut(p.Role), ApiTokenId: p.TokenID, ExpireTime: ts(p.Expires)}
}

func tokenOut(t sessions.APIToken) *nuxariv1.APIToken {
	return &nuxariv1.APIToken{TokenId: t.ID, Name: t.Name, Role: roleOut(t.Role), CreatedBy: t.CreatedBy, CreateTime: ts(t.Created), ExpireTime: ts(t.Expires)}
}

func checkpointOut(c logapi.Checkpoint) *nuxariv1.Checkpoint {
	if c.Note == nil {
		return nil
	}
	return &nuxariv1.Checkpoint{Note: string(c.Note), Origin: c.Origin, Size: c.Size, RootHash: c.Root}
}

func eventOut(e logapi.Event) *nuxariv1.Event {
	return &nuxariv1.Event{Index: e.Index, Leaf: e.Leaf, LeafHash: e.LeafHash, Time: ts(e.Time), Type: e.Type, Actor: e.Actor, Purged: e.Purged}
}
