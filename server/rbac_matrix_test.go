package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/nuxari/nuxari/client"
	"github.com/nuxari/nuxari/governance/api"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/leaf"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// The expectations below are written out by hand on purpose: they are
// what docs/rbac.md promises. TestRBACExpectationsMatchCode fails when
// governance/rbac or governance/api/procedures.go changes without them,
// and TestRBACMatrix checks the running server against them.

// rbacRoleOrder lists the roles, most powerful first.
var rbacRoleOrder = []rbac.Role{rbac.Owner, rbac.Admin, rbac.Approver, rbac.Requester, rbac.Auditor, rbac.Readonly}

// rbacPermissionOrder lists every permission a role can hold.
var rbacPermissionOrder = []rbac.Permission{
	rbac.OrgRead, rbac.OrgManage, rbac.MembersRead, rbac.MembersManage, rbac.RolesManage,
	rbac.TokensManage, rbac.LedgerRead, rbac.LedgerAppend, rbac.EvidenceRead, rbac.EvidenceExport,
	rbac.AgentsRead, rbac.AgentsManage, rbac.ConnectorsRead, rbac.ConnectorsManage,
	rbac.PoliciesManage, rbac.AccessRead, rbac.AccessRequest, rbac.AccessApprove,
}

// rbacGrants is the expected role × permission table. Public and
// Authenticated are not in it: every role passes both.
var rbacGrants = map[rbac.Role]map[rbac.Permission]bool{
	rbac.Owner: {
		rbac.OrgRead: true, rbac.OrgManage: true, rbac.MembersRead: true, rbac.MembersManage: true, rbac.RolesManage: true,
		rbac.TokensManage: true, rbac.LedgerRead: true, rbac.LedgerAppend: true, rbac.EvidenceRead: true, rbac.EvidenceExport: true,
		rbac.AgentsRead: true, rbac.AgentsManage: true, rbac.ConnectorsRead: true, rbac.ConnectorsManage: true,
		rbac.PoliciesManage: true, rbac.AccessRead: true, rbac.AccessRequest: true, rbac.AccessApprove: true,
	},
	rbac.Admin: {
		rbac.OrgRead: true, rbac.OrgManage: false, rbac.MembersRead: true, rbac.MembersManage: false, rbac.RolesManage: false,
		rbac.TokensManage: true, rbac.LedgerRead: true, rbac.LedgerAppend: true, rbac.EvidenceRead: false, rbac.EvidenceExport: false,
		rbac.AgentsRead: true, rbac.AgentsManage: true, rbac.ConnectorsRead: true, rbac.ConnectorsManage: true,
		rbac.PoliciesManage: true, rbac.AccessRead: true, rbac.AccessRequest: true, rbac.AccessApprove: true,
	},
	rbac.Approver: {
		rbac.OrgRead: true, rbac.OrgManage: false, rbac.MembersRead: true, rbac.MembersManage: false, rbac.RolesManage: false,
		rbac.TokensManage: false, rbac.LedgerRead: false, rbac.LedgerAppend: false, rbac.EvidenceRead: false, rbac.EvidenceExport: false,
		rbac.AgentsRead: false, rbac.AgentsManage: false, rbac.ConnectorsRead: false, rbac.ConnectorsManage: false,
		rbac.PoliciesManage: false, rbac.AccessRead: true, rbac.AccessRequest: true, rbac.AccessApprove: true,
	},
	rbac.Requester: {
		rbac.OrgRead: true, rbac.OrgManage: false, rbac.MembersRead: false, rbac.MembersManage: false, rbac.RolesManage: false,
		rbac.TokensManage: false, rbac.LedgerRead: false, rbac.LedgerAppend: false, rbac.EvidenceRead: false, rbac.EvidenceExport: false,
		rbac.AgentsRead: false, rbac.AgentsManage: false, rbac.ConnectorsRead: false, rbac.ConnectorsManage: false,
		rbac.PoliciesManage: false, rbac.AccessRead: false, rbac.AccessRequest: true, rbac.AccessApprove: false,
	},
	rbac.Auditor: {
		rbac.OrgRead: true, rbac.OrgManage: false, rbac.MembersRead: true, rbac.MembersManage: false, rbac.RolesManage: false,
		rbac.TokensManage: false, rbac.LedgerRead: true, rbac.LedgerAppend: false, rbac.EvidenceRead: true, rbac.EvidenceExport: true,
		rbac.AgentsRead: true, rbac.AgentsManage: false, rbac.ConnectorsRead: true, rbac.ConnectorsManage: false,
		rbac.PoliciesManage: false, rbac.AccessRead: true, rbac.AccessRequest: false, rbac.AccessApprove: false,
	},
	rbac.Readonly: {
		rbac.OrgRead: true, rbac.OrgManage: false, rbac.MembersRead: true, rbac.MembersManage: false, rbac.RolesManage: false,
		rbac.TokensManage: false, rbac.LedgerRead: false, rbac.LedgerAppend: false, rbac.EvidenceRead: false, rbac.EvidenceExport: false,
		rbac.AgentsRead: false, rbac.AgentsManage: false, rbac.ConnectorsRead: true, rbac.ConnectorsManage: false,
		rbac.PoliciesManage: false, rbac.AccessRead: false, rbac.AccessRequest: false, rbac.AccessApprove: false,
	},
	// An edge agent is not a member: it holds agent.channel (see
	// rbacExpectAllowed) and nothing else, not even Authenticated.
	rbac.Agent: {
		rbac.OrgRead: false, rbac.OrgManage: false, rbac.MembersRead: false, rbac.MembersManage: false, rbac.RolesManage: false,
		rbac.TokensManage: false, rbac.LedgerRead: false, rbac.LedgerAppend: false, rbac.EvidenceRead: false, rbac.EvidenceExport: false,
		rbac.AgentsRead: false, rbac.AgentsManage: false, rbac.ConnectorsRead: false, rbac.ConnectorsManage: false,
		rbac.PoliciesManage: false, rbac.AccessRead: false, rbac.AccessRequest: false, rbac.AccessApprove: false,
	},
}

// rbacProcedures is the expected permission of every nuxari.v1 procedure.
var rbacProcedures = map[string]rbac.Permission{
	nuxariv1connect.OrgServiceCreateOrgProcedure:         rbac.Public,
	nuxariv1connect.OrgServiceGetOrgProcedure:            rbac.OrgRead,
	nuxariv1connect.OrgServiceUpdateOrgSettingsProcedure: rbac.OrgManage,
	nuxariv1connect.OrgServiceAddMemberProcedure:         rbac.MembersManage,
	nuxariv1connect.OrgServiceRemoveMemberProcedure:      rbac.MembersManage,
	nuxariv1connect.OrgServiceSetMemberRoleProcedure:     rbac.RolesManage,
	nuxariv1connect.OrgServiceListMembersProcedure:       rbac.MembersRead,

	nuxariv1connect.AuthServiceLoginProcedure:             rbac.Public,
	nuxariv1connect.AuthServiceLogoutProcedure:            rbac.Authenticated,
	nuxariv1connect.AuthServiceWhoAmIProcedure:            rbac.Authenticated,
	nuxariv1connect.AuthServiceChangePasswordProcedure:    rbac.Authenticated,
	nuxariv1connect.AuthServiceSetPasswordProcedure:       rbac.Public,
	nuxariv1connect.OrgServiceIssuePasswordSetupProcedure: rbac.MembersManage,
	nuxariv1connect.OrgServiceEndMemberSessionsProcedure:  rbac.MembersManage,
	nuxariv1connect.AuthServiceCreateAPITokenProcedure:    rbac.TokensManage,
	nuxariv1connect.AuthServiceRevokeAPITokenProcedure:    rbac.TokensManage,
	nuxariv1connect.AuthServiceListAPITokensProcedure:     rbac.TokensManage,

	nuxariv1connect.LedgerServiceGetCheckpointProcedure:       rbac.LedgerRead,
	nuxariv1connect.LedgerServiceGetInclusionProofProcedure:   rbac.LedgerRead,
	nuxariv1connect.LedgerServiceGetConsistencyProofProcedure: rbac.LedgerRead,
	nuxariv1connect.LedgerServiceGetEventProcedure:            rbac.LedgerRead,
	nuxariv1connect.LedgerServiceListEventsProcedure:          rbac.LedgerRead,
	nuxariv1connect.LedgerServiceAppendEventsProcedure:        rbac.LedgerAppend,

	nuxariv1connect.EvidenceServiceExportPackageProcedure:   rbac.EvidenceExport,
	nuxariv1connect.EvidenceServiceGetExportProcedure:       rbac.EvidenceRead,
	nuxariv1connect.EvidenceServiceListExportsProcedure:     rbac.EvidenceRead,
	nuxariv1connect.EvidenceServiceGetDownloadURLProcedure:  rbac.EvidenceExport,
	nuxariv1connect.EvidenceServiceDownloadPackageProcedure: rbac.EvidenceExport,
	nuxariv1connect.EvidenceServiceGetSigningKeyProcedure:   rbac.EvidenceRead,

	nuxariv1connect.AgentAdminServiceCreateJoinTokenProcedure:   rbac.AgentsManage,
	nuxariv1connect.AgentAdminServiceListJoinTokensProcedure:    rbac.AgentsManage,
	nuxariv1connect.AgentAdminServiceRevokeJoinTokenProcedure:   rbac.AgentsManage,
	nuxariv1connect.AgentAdminServiceListAgentsProcedure:        rbac.AgentsRead,
	nuxariv1connect.AgentAdminServiceGetAgentProcedure:          rbac.AgentsRead,
	nuxariv1connect.AgentAdminServiceDecommissionAgentProcedure: rbac.AgentsManage,
	nuxariv1connect.AgentAdminServiceCreateTaskProcedure:        rbac.AgentsManage,
	nuxariv1connect.AgentAdminServiceGetTaskProcedure:           rbac.AgentsRead,

	// Enrolment and token requests carry their own proof (a join token,
	// a signed challenge); the channel needs an agent's access token.
	nuxariv1connect.AgentGatewayServiceEnrollProcedure:         rbac.Public,
	nuxariv1connect.AgentGatewayServiceGetChallengeProcedure:   rbac.Public,
	nuxariv1connect.AgentGatewayServiceGetAccessTokenProcedure: rbac.Public,
	nuxariv1connect.AgentGatewayServiceReceiveTasksProcedure:   rbac.AgentChannel,
	nuxariv1connect.AgentGatewayServiceHeartbeatProcedure:      rbac.AgentChannel,
	nuxariv1connect.AgentGatewayServiceSubmitEvidenceProcedure: rbac.AgentChannel,
	nuxariv1connect.AgentGatewayServiceCompleteTaskProcedure:   rbac.AgentChannel,

	// Connectors: those who may read see which credential fields are
	// set, never a value; testing and syncing use the credentials, so
	// they are managing.
	nuxariv1connect.ConnectorServiceCreateConnectorProcedure:       rbac.ConnectorsManage,
	nuxariv1connect.ConnectorServiceGetConnectorProcedure:          rbac.ConnectorsRead,
	nuxariv1connect.ConnectorServiceListConnectorsProcedure:        rbac.ConnectorsRead,
	nuxariv1connect.ConnectorServiceUpdateConnectorProcedure:       rbac.ConnectorsManage,
	nuxariv1connect.ConnectorServiceTestConnectorProcedure:         rbac.ConnectorsManage,
	nuxariv1connect.ConnectorServicePauseConnectorProcedure:        rbac.ConnectorsManage,
	nuxariv1connect.ConnectorServiceResumeConnectorProcedure:       rbac.ConnectorsManage,
	nuxariv1connect.ConnectorServiceRotateCredentialsProcedure:     rbac.ConnectorsManage,
	nuxariv1connect.ConnectorServiceDecommissionConnectorProcedure: rbac.ConnectorsManage,
	nuxariv1connect.ConnectorServiceSyncConnectorProcedure:         rbac.ConnectorsManage,
	nuxariv1connect.ConnectorServiceGetSyncProcedure:               rbac.ConnectorsRead,
	nuxariv1connect.ConnectorServiceListGrantsProcedure:            rbac.ConnectorsRead,
	nuxariv1connect.ConnectorServiceGetSealingKeysProcedure:        rbac.ConnectorsRead,
	nuxariv1connect.ConnectorServiceRotateSealingKeyProcedure:      rbac.ConnectorsManage,

	// Access: policies are managed by admins and owners and read by
	// those who read access; requests are made by those who may request
	// (their own, checked in the domain); plans are listed and decided
	// by approvers (assigned ones, checked in the domain) and read by
	// those who read access.
	nuxariv1connect.AccessServiceCreatePolicyProcedure:     rbac.PoliciesManage,
	nuxariv1connect.AccessServiceUpdatePolicyProcedure:     rbac.PoliciesManage,
	nuxariv1connect.AccessServiceGetPolicyProcedure:        rbac.AccessRead,
	nuxariv1connect.AccessServiceListPoliciesProcedure:     rbac.AccessRead,
	nuxariv1connect.AccessServiceSubmitRequestProcedure:    rbac.AccessRequest,
	nuxariv1connect.AccessServiceListRequestsProcedure:     rbac.AccessRequest,
	nuxariv1connect.AccessServiceGetRequestProcedure:       rbac.AccessRequest,
	nuxariv1connect.AccessServiceCancelRequestProcedure:    rbac.AccessRequest,
	nuxariv1connect.AccessServiceListPlansProcedure:        rbac.AccessRead,
	nuxariv1connect.AccessServiceGetPlanProcedure:          rbac.AccessRead,
	nuxariv1connect.AccessServiceApprovePlanProcedure:      rbac.AccessApprove,
	nuxariv1connect.AccessServiceRejectPlanProcedure:       rbac.AccessApprove,
	nuxariv1connect.AccessServiceListAccessGrantsProcedure: rbac.AccessRead,
	// Drift: accepting a baseline says what access is desired, which is
	// managing policy; the findings are read with access.
	nuxariv1connect.AccessServiceAcceptBaselineProcedure:    rbac.PoliciesManage,
	nuxariv1connect.AccessServiceListDriftFindingsProcedure: rbac.AccessRead,
	// Reviews: starting and canceling one is managing policy; reading
	// them is reading access; deciding items is approving (the domain
	// checks that the caller reviews the item).
	nuxariv1connect.AccessServiceStartReviewProcedure:     rbac.PoliciesManage,
	nuxariv1connect.AccessServiceGetReviewProcedure:       rbac.AccessRead,
	nuxariv1connect.AccessServiceListReviewsProcedure:     rbac.AccessRead,
	nuxariv1connect.AccessServiceListReviewItemsProcedure: rbac.AccessRead,
	nuxariv1connect.AccessServiceDecideReviewProcedure:    rbac.AccessApprove,
	nuxariv1connect.AccessServiceCancelReviewProcedure:    rbac.PoliciesManage,
}

// rbacExpectAllowed reports whether a principal with role (empty: no
// credentials at all; rbac.Agent: an edge agent's access token) may call
// a procedure needing perm, by the tables above alone. Only agents hold
// agent.channel, and agents hold nothing else: not even Authenticated,
// which means "any member's credentials".
func rbacExpectAllowed(role rbac.Role, perm rbac.Permission) bool {
	switch perm {
	case rbac.Public:
		return true
	case rbac.Authenticated:
		return role != "" && role != rbac.Agent
	case rbac.AgentChannel:
		return role == rbac.Agent
	}
	return role != "" && rbacGrants[role][perm]
}

var rbacProtoRoles = map[rbac.Role]nuxariv1.Role{
	rbac.Owner:     nuxariv1.Role_ROLE_OWNER,
	rbac.Admin:     nuxariv1.Role_ROLE_ADMIN,
	rbac.Approver:  nuxariv1.Role_ROLE_APPROVER,
	rbac.Requester: nuxariv1.Role_ROLE_REQUESTER,
	rbac.Auditor:   nuxariv1.Role_ROLE_AUDITOR,
	rbac.Readonly:  nuxariv1.Role_ROLE_READONLY,
}

// randID returns n random bytes in lower-case hex.
func randID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// nuxariMethods returns every method of every nuxari.v1 service in the
// protobuf registry, as Connect procedure paths.
func nuxariMethods(t *testing.T) []string {
	t.Helper()
	var procs []string
	protoregistry.GlobalFiles.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		if fd.Package() != "nuxari.v1" {
			return true
		}
		for i := 0; i < fd.Services().Len(); i++ {
			sd := fd.Services().Get(i)
			for j := 0; j < sd.Methods().Len(); j++ {
				procs = append(procs, "/"+string(sd.FullName())+"/"+string(sd.Methods().Get(j).Name()))
			}
		}
		return true
	})
	sort.Strings(procs)
	if len(procs) == 0 {
		t.Fatal("no nuxari.v1 service in the protobuf registry")
	}
	return procs
}

// TestRBACExpectationsMatchCode: the hand-written tables equal what
// governance/rbac and api.Procedures say, and every nuxari.v1 method in
// the proto registry has an entry (default deny would refuse a missing
// one) and is served.
func TestRBACExpectationsMatchCode(t *testing.T) {
	if !slices.Equal(rbac.Roles, rbacRoleOrder) {
		t.Errorf("rbac.Roles = %v, the test expects %v", rbac.Roles, rbacRoleOrder)
	}
	if !slices.Equal(rbac.Permissions, rbacPermissionOrder) {
		t.Errorf("rbac.Permissions = %v, the test expects %v", rbac.Permissions, rbacPermissionOrder)
	}
	for _, r := range rbacRoleOrder {
		if len(rbacGrants[r]) != len(rbacPermissionOrder) {
			t.Errorf("the test's table lacks permissions of %s", r)
		}
		for _, p := range append(slices.Clone(rbacPermissionOrder), rbac.Public, rbac.Authenticated, rbac.AgentChannel) {
			if got, want := rbac.Allows(r, p), rbacExpectAllowed(r, p); got != want {
				t.Errorf("rbac.Allows(%s, %s) = %v, the test's table says %v", r, p, got, want)
			}
		}
	}
	// The agent role: agent.channel and Public, nothing else. No person
	// can be given it, no role covers it, and it covers no role.
	if len(rbacGrants[rbac.Agent]) != len(rbacPermissionOrder) {
		t.Errorf("the test's table lacks permissions of %s", rbac.Agent)
	}
	for _, p := range append(slices.Clone(rbacPermissionOrder), rbac.Public, rbac.Authenticated, rbac.AgentChannel) {
		if got, want := rbac.Allows(rbac.Agent, p), rbacExpectAllowed(rbac.Agent, p); got != want {
			t.Errorf("rbac.Allows(%s, %s) = %v, the test's table says %v", rbac.Agent, p, got, want)
		}
	}
	if slices.Contains(rbac.Roles, rbac.Agent) || slices.Contains(rbac.Permissions, rbac.AgentChannel) {
		t.Errorf("the agent role or agent.channel is among what members can be given: %v %v", rbac.Roles, rbac.Permissions)
	}
	if _, err := rbac.ParseRole(string(rbac.Agent)); err == nil {
		t.Errorf("rbac.ParseRole(%q) succeeded: a person could be made an agent", rbac.Agent)
	}
	for _, r := range rbacRoleOrder {
		if rbac.Covers(r, rbac.Agent) || rbac.Covers(rbac.Agent, r) {
			t.Errorf("rbac.Covers between %s and %s", r, rbac.Agent)
		}
	}
	// Unknown roles hold nothing but Public.
	for _, r := range []rbac.Role{"", "root", "OWNER", "Agent"} {
		for _, p := range append(slices.Clone(rbacPermissionOrder), rbac.Authenticated, rbac.AgentChannel) {
			if rbac.Allows(r, p) {
				t.Errorf("rbac.Allows(%q, %s) = true", r, p)
			}
		}
	}

	methods := nuxariMethods(t)
	for _, m := range methods {
		got, ok := api.Procedures[m]
		if !ok {
			t.Errorf("%s is in the proto registry but not in api.Procedures: it would be denied to everyone", m)
			continue
		}
		want, ok := rbacProcedures[m]
		if !ok {
			t.Errorf("%s needs %s but the test's table has no entry: add it", m, got)
		} else if got != want {
			t.Errorf("api.Procedures[%s] = %s, the test's table says %s", m, got, want)
		}
	}
	for m := range rbacProcedures {
		if !slices.Contains(methods, m) {
			t.Errorf("the test's table names %s, which is not a nuxari.v1 method", m)
		}
	}
	for proc := range api.Procedures {
		if strings.HasPrefix(proc, "/nuxari.v1.") && !slices.Contains(methods, proc) {
			t.Errorf("api.Procedures names %s, which is not a nuxari.v1 method", proc)
		}
	}
	for _, m := range methods {
		svc := strings.Split(m, "/")[1]
		if !slices.Contains(server.Services, svc) {
			t.Errorf("service %s is in the proto registry but not served (server.Services)", svc)
		}
	}
}

// rbacPrincipal is a caller of the matrix: a member's session, an API
// token, an edge agent's access token, or nobody.
type rbacPrincipal struct {
	name  string
	role  rbac.Role // empty: no credentials
	token string
	isAPI bool
	// actor is how the org's events name the principal.
	actor string
	// email and password of the session's member, to log in afresh.
	email, password string
}

// rbacFixture is one org with a member and an API token of every role.
type rbacFixture struct {
	ts         *servertest.Server
	org        string
	owner      servertest.Clients
	principals []rbacPrincipal
	// loginEmail and loginPW: a member whose only use is Login.
	loginEmail, loginPW string
	// exportID is a finished export; earlySize a size with a checkpoint.
	exportID  string
	earlySize uint64
	seq       atomic.Int64
	// agent is the matrix's agent principal; agentTask is a task of it.
	agent     *testAgent
	agentTask string
	// connector is a connector of the org and syncID a sync of it; their
	// settings, connSettings, reach no system, so every test, sync and
	// rotation's validation fails at once.
	connector, syncID string
	connSettings      *nuxariv1.ConnectorSettings
	// access is a connector to a fake system, synced, that access
	// requests name; policy covers it (one approval from an owner, admin
	// or approver); submitter (an admin who is none of the principals)
	// made request, whose plan is plan, and makes the fresh plans that
	// approvals and rejections decide.
	access        fakeAccess
	policy        string
	submitter     servertest.Clients
	request, plan string
	// review is a connector to a fake system of many grants (its
	// further connectors are fresh ones for StartReview and
	// CancelReview); reviewID is an open review of it whose items owners,
	// admins and approvers review, each DecideReview call deciding the
	// next item (reviewItem).
	review     *fakeReview
	reviewID   string
	reviewItem atomic.Uint32
}

func (fx *rbacFixture) next() int64 { return fx.seq.Add(1) }

// target adds a fresh member (requester) for a call to act on.
func (fx *rbacFixture) target(t *testing.T) string {
	t.Helper()
	res, err := fx.owner.Org.AddMember(context.Background(), req(&nuxariv1.AddMemberRequest{
		Email: fmt.Sprintf("target%d@example.com", fx.next()), Role: nuxariv1.Role_ROLE_REQUESTER,
	}))
	if err != nil {
		t.Fatalf("add target member: %v", err)
	}
	return res.Msg.Member.UserId
}

// targetSetup adds a fresh member and returns their setup token.
func (fx *rbacFixture) targetSetup(t *testing.T) string {
	t.Helper()
	res, err := fx.owner.Org.AddMember(context.Background(), req(&nuxariv1.AddMemberRequest{
		Email: fmt.Sprintf("setup%d@example.com", fx.next()), Role: nuxariv1.Role_ROLE_REQUESTER,
	}))
	if err != nil {
		t.Fatalf("add target member: %v", err)
	}
	return res.Msg.GetSetup().GetSetupToken()
}

// targetToken creates a fresh API token for a call to act on.
func (fx *rbacFixture) targetToken(t *testing.T) string {
	t.Helper()
	res, err := fx.owner.Auth.CreateAPIToken(context.Background(), req(&nuxariv1.CreateAPITokenRequest{
		Name: fmt.Sprintf("target-%d", fx.next()), Role: nuxariv1.Role_ROLE_READONLY,
	}))
	if err != nil {
		t.Fatalf("create target token: %v", err)
	}
	return res.Msg.Token.TokenId
}

// targetAgent enrols a fresh agent for a call to act on.
func (fx *rbacFixture) targetAgent(t *testing.T) *testAgent {
	t.Helper()
	return enrollAgent(t, fx.ts, fx.owner, fmt.Sprintf("target-%d", fx.next()))
}

// newAgentTask creates a fresh task of the matrix's agent.
func (fx *rbacFixture) newAgentTask(t *testing.T) string {
	t.Helper()
	return createTask(t, fx.owner, fx.agent.id, "users", "").TaskId
}

// targetConnector creates a fresh connector for a call to act on.
func (fx *rbacFixture) targetConnector(t *testing.T) string {
	t.Helper()
	var id string
	err := retryAborted(func() error {
		res, err := fx.owner.Connectors.CreateConnector(context.Background(), req(&nuxariv1.CreateConnectorRequest{
			Name: fmt.Sprintf("target-%d", fx.next()), Settings: fx.connSettings, Credentials: pgCreds("target password"),
		}))
		if err == nil {
			id = res.Msg.Connector.ConnectorId
		}
		return err
	})
	if err != nil {
		t.Fatalf("create target connector: %v", err)
	}
	return id
}

// pausedConnector creates a fresh paused connector for a call to act on.
func (fx *rbacFixture) pausedConnector(t *testing.T) string {
	t.Helper()
	id := fx.targetConnector(t)
	if err := retryAborted(func() error {
		return ignoreRes(fx.owner.Connectors.PauseConnector(context.Background(), req(&nuxariv1.PauseConnectorRequest{ConnectorId: id})))
	}); err != nil {
		t.Fatalf("pause target connector: %v", err)
	}
	return id
}

// targetPolicy creates a fresh policy, at version 1, for a call to act
// on.
func (fx *rbacFixture) targetPolicy(t *testing.T) string {
	t.Helper()
	res, err := fx.owner.Access.CreatePolicy(context.Background(), req(&nuxariv1.CreatePolicyRequest{
		Policy: accessPolicy(fx.access.connector, func(p *nuxariv1.Policy) { p.Name = fmt.Sprintf("target-%d", fx.next()) }),
	}))
	if err != nil {
		t.Fatalf("create target policy: %v", err)
	}
	return res.Msg.Policy.PolicyId
}

// targetReview starts a fresh review, of a fresh connector, for a call
// to act on.
func (fx *rbacFixture) targetReview(t *testing.T) string {
	t.Helper()
	return startReview(t, fx.owner, fx.review.another(t, fx.owner)).ReviewId
}

// newRequest has the submitter ask for access, and returns the request's
// ID and its pending plan's.
func (fx *rbacFixture) newRequest(t *testing.T) (request, plan string) {
	t.Helper()
	res, err := fx.submitter.Access.SubmitRequest(context.Background(), req(&nuxariv1.SubmitRequestRequest{
		ConnectorId: fx.access.connector, IdentityId: fakeAlice, EntitlementId: fakeReaders,
		Justification: fmt.Sprintf("matrix request %d", fx.next()),
	}))
	if err != nil {
		t.Fatalf("submit a request: %v", err)
	}
	if res.Msg.Plan.GetState() != nuxariv1.PlanState_PLAN_STATE_PENDING {
		t.Fatalf("the submitter's plan: %v, want pending", res.Msg.Plan)
	}
	return res.Msg.Request.RequestId, res.Msg.Plan.PlanId
}

// ownRequest has the caller ask for access and returns the request's ID;
// a caller who may not ask gets fx.request, which its next call (that
// needs the same permission) is refused for too.
func (fx *rbacFixture) ownRequest(ctx context.Context, p rbacPrincipal, c servertest.Clients) (string, error) {
	res, err := c.Access.SubmitRequest(ctx, req(&nuxariv1.SubmitRequestRequest{
		ConnectorId: fx.access.connector, IdentityId: fakeAlice, EntitlementId: fakeReaders,
		Justification: "asked by " + p.name,
	}))
	switch code := connect.CodeOf(err); {
	case err == nil:
		return res.Msg.Request.RequestId, nil
	case code == connect.CodePermissionDenied || code == connect.CodeUnauthenticated:
		return fx.request, nil
	}
	return "", err
}

// retryAborted calls f again while it fails with Aborted: a write racing
// another on the same record (e.g. a task stream marking tasks delivered)
// is retried, as a client would.
func retryAborted(f func() error) error {
	var err error
	for range 20 {
		if err = f(); connect.CodeOf(err) != connect.CodeAborted {
			break
		}
	}
	return err
}

// waitExport polls an export until it is no longer running.
func waitExport(t *testing.T, c servertest.Clients, id string) *nuxariv1.Export {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := c.Evidence.GetExport(context.Background(), req(&nuxariv1.GetExportRequest{ExportId: id}))
		if err != nil {
			t.Fatalf("GetExport %s: %v", id, err)
		}
		if res.Msg.Export.State != nuxariv1.ExportState_EXPORT_STATE_RUNNING {
			return res.Msg.Export
		}
		if time.Now().After(deadline) {
			t.Fatalf("export %s still running after 30 s", id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCheckpointAt polls until the latest checkpoint covers size and
// returns its size.
func waitCheckpointAt(t *testing.T, c servertest.Clients, size uint64) uint64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := c.Ledger.GetCheckpoint(context.Background(), req(&nuxariv1.GetCheckpointRequest{}))
		if err == nil && res.Msg.Checkpoint.GetSize() >= size {
			return res.Msg.Checkpoint.Size
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint of size ≥ %d after 10 s: %v", size, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newRBACFixture(t *testing.T) *rbacFixture {
	t.Helper()
	ctx := context.Background()
	// The matrix's syncs, reseals, exports and plan runs run at once:
	// the org may have more jobs than by default.
	fake := servertest.NewFakeDriver()
	ts := servertest.Start(t, func(c *server.Config) { c.Governance.ExportsPerOrg = 64 }, servertest.WithFakeDriver(fake))
	fx := &rbacFixture{ts: ts, org: "rbac", connSettings: unreachableSettings(t)}
	ownerEmail, ownerPassword := "owner@example.com", "owner password 1"
	ownerTok, ownerID := ts.Signup(t, fx.org, ownerEmail, ownerPassword)
	fx.owner = ts.Clients(ownerTok)
	fx.principals = append(fx.principals, rbacPrincipal{name: "session/owner", role: rbac.Owner, token: ownerTok, actor: ownerID, email: ownerEmail, password: ownerPassword})
	for _, r := range rbacRoleOrder[1:] {
		email, pw := string(r)+"@example.com", string(r)+" password 1"
		tok, id := ts.AddMember(t, ownerTok, fx.org, email, pw, rbacProtoRoles[r])
		fx.principals = append(fx.principals, rbacPrincipal{name: "session/" + string(r), role: r, token: tok, actor: id, email: email, password: pw})
	}
	for _, r := range rbacRoleOrder {
		res, err := fx.owner.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: "matrix-" + string(r), Role: rbacProtoRoles[r]}))
		if err != nil {
			t.Fatalf("CreateAPIToken %s: %v", r, err)
		}
		fx.principals = append(fx.principals, rbacPrincipal{name: "apitoken/" + string(r), role: r, token: res.Msg.Secret, isAPI: true, actor: "token:" + res.Msg.Token.TokenId})
	}
	// An edge agent, with its access token. Nothing in the matrix asks
	// for another token of this agent, which would revoke older ones.
	fx.agent = enrollAgent(t, ts, fx.owner, "matrix-agent")
	fx.principals = append(fx.principals, rbacPrincipal{name: "agent", role: rbac.Agent, token: fx.agent.token(t, ts), actor: "agent:" + fx.agent.id})
	fx.agentTask = fx.newAgentTask(t)
	fx.principals = append(fx.principals, rbacPrincipal{name: "none"})
	fx.loginEmail, fx.loginPW = "login@example.com", "login password 1"
	ts.AddMember(t, ownerTok, fx.org, fx.loginEmail, fx.loginPW, nuxariv1.Role_ROLE_READONLY)

	app, err := fx.owner.Ledger.AppendEvents(ctx, req(&nuxariv1.AppendEventsRequest{Events: []*nuxariv1.NewEvent{{Type: "custom.rbac.setup"}}}))
	if err != nil {
		t.Fatalf("AppendEvents: %v", err)
	}
	fx.earlySize = app.Msg.Checkpoint.GetSize()
	if fx.earlySize == 0 {
		t.Fatalf("AppendEvents returned no checkpoint: %v", app.Msg)
	}
	x, err := fx.owner.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{}))
	if err != nil {
		t.Fatalf("ExportPackage: %v", err)
	}
	if got := waitExport(t, fx.owner, x.Msg.Export.ExportId); got.State != nuxariv1.ExportState_EXPORT_STATE_SUCCEEDED {
		t.Fatalf("setup export: %v", got)
	}
	fx.exportID = x.Msg.Export.ExportId
	fx.connector = fx.targetConnector(t)
	sy, err := fx.owner.Connectors.SyncConnector(ctx, req(&nuxariv1.SyncConnectorRequest{ConnectorId: fx.connector}))
	if err != nil {
		t.Fatalf("SyncConnector: %v", err)
	}
	fx.syncID = sy.Msg.Sync.SyncId
	waitSync(t, fx.owner, fx.syncID)

	fx.access = newFakeAccess(t, fx.owner, fake, "matrix")
	pol, err := fx.owner.Access.CreatePolicy(ctx, req(&nuxariv1.CreatePolicyRequest{Policy: accessPolicy(fx.access.connector, func(p *nuxariv1.Policy) {
		p.Name, p.Condition = "matrix", `request.justification.size() > 0`
	})}))
	if err != nil {
		t.Fatalf("CreatePolicy: %v", err)
	}
	fx.policy = pol.Msg.Policy.PolicyId
	subTok, _ := ts.AddMember(t, ownerTok, fx.org, "submitter@example.com", "submitter password 1", nuxariv1.Role_ROLE_ADMIN)
	fx.submitter = ts.Clients(subTok)
	fx.request, fx.plan = fx.newRequest(t)
	// More items than principals: each DecideReview call takes one.
	fx.review = newFakeReview(t, fx.owner, fake, "matrix-review", 2*len(fx.principals))
	fx.reviewID = startReview(t, fx.owner, fx.review.connector, "owner", "admin", "approver").ReviewId
	return fx
}

// rbacCall makes one minimal valid call of a procedure as p with c.
// mk builds clients for another token in the same protocol.
type rbacCall func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, mk func(string) servertest.Clients) error

func ignoreRes[T any](_ T, err error) error { return err }

// drain reads a server stream to its end and returns its error.
func drain[T any](s *connect.ServerStreamForClient[T], err error) error {
	if err != nil {
		return err
	}
	defer s.Close()
	for s.Receive() {
	}
	return s.Err()
}

var rbacCalls = map[string]rbacCall{
	nuxariv1connect.OrgServiceCreateOrgProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		n := fx.next()
		return ignoreRes(c.Org.CreateOrg(ctx, req(&nuxariv1.CreateOrgRequest{
			OrgId: fmt.Sprintf("rbac-new-%d", n), OwnerEmail: fmt.Sprintf("new%d@example.com", n), OwnerPassword: "new owner password",
		})))
	},
	nuxariv1connect.OrgServiceGetOrgProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Org.GetOrg(ctx, req(&nuxariv1.GetOrgRequest{OrgId: fx.org})))
	},
	nuxariv1connect.OrgServiceUpdateOrgSettingsProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		var err error
		// Concurrent updates of the org may conflict (Aborted); a client
		// retries those.
		for range 20 {
			_, err = c.Org.UpdateOrgSettings(ctx, req(&nuxariv1.UpdateOrgSettingsRequest{DisplayName: new("renamed by " + p.name)}))
			if connect.CodeOf(err) != connect.CodeAborted {
				break
			}
		}
		return err
	},
	nuxariv1connect.OrgServiceAddMemberProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Org.AddMember(ctx, req(&nuxariv1.AddMemberRequest{
			Email: fmt.Sprintf("added%d@example.com", fx.next()), Role: nuxariv1.Role_ROLE_READONLY,
		})))
	},
	nuxariv1connect.OrgServiceRemoveMemberProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Org.RemoveMember(ctx, req(&nuxariv1.RemoveMemberRequest{UserId: fx.target(t)})))
	},
	nuxariv1connect.OrgServiceSetMemberRoleProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Org.SetMemberRole(ctx, req(&nuxariv1.SetMemberRoleRequest{UserId: fx.target(t), Role: nuxariv1.Role_ROLE_READONLY})))
	},
	nuxariv1connect.OrgServiceListMembersProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Org.ListMembers(ctx, req(&nuxariv1.ListMembersRequest{})))
	},

	nuxariv1connect.AuthServiceLoginProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: fx.org, Email: fx.loginEmail, Password: fx.loginPW})))
	},
	nuxariv1connect.AuthServiceLogoutProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, mk func(string) servertest.Clients) error {
		if p.email != "" {
			// Log out of a fresh session, so the principal's own stays.
			c = mk(fx.ts.Login(t, fx.org, p.email, p.password))
		}
		return ignoreRes(c.Auth.Logout(ctx, req(&nuxariv1.LogoutRequest{})))
	},
	nuxariv1connect.AuthServiceChangePasswordProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		// A new password too short to take: the call passes
		// authorization and changes nothing, so the principal's sessions
		// stay for the rest of the matrix.
		return ignoreRes(c.Auth.ChangePassword(ctx, req(&nuxariv1.ChangePasswordRequest{CurrentPassword: p.password + "x", NewPassword: "short"})))
	},
	nuxariv1connect.AuthServiceSetPasswordProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Auth.SetPassword(ctx, req(&nuxariv1.SetPasswordRequest{SetupToken: fx.targetSetup(t), NewPassword: "a fresh password for " + p.name})))
	},
	nuxariv1connect.OrgServiceIssuePasswordSetupProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Org.IssuePasswordSetup(ctx, req(&nuxariv1.IssuePasswordSetupRequest{UserId: fx.target(t)})))
	},
	nuxariv1connect.OrgServiceEndMemberSessionsProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Org.EndMemberSessions(ctx, req(&nuxariv1.EndMemberSessionsRequest{UserId: fx.target(t), RevokeApiTokens: true})))
	},
	nuxariv1connect.AuthServiceWhoAmIProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Auth.WhoAmI(ctx, req(&nuxariv1.WhoAmIRequest{})))
	},
	nuxariv1connect.AuthServiceCreateAPITokenProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		// The caller's own role, which it may always hand out.
		role := nuxariv1.Role_ROLE_READONLY
		if p.role != "" {
			role = rbacProtoRoles[p.role]
		}
		return ignoreRes(c.Auth.CreateAPIToken(ctx, req(&nuxariv1.CreateAPITokenRequest{Name: fmt.Sprintf("made-%d", fx.next()), Role: role})))
	},
	nuxariv1connect.AuthServiceRevokeAPITokenProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Auth.RevokeAPIToken(ctx, req(&nuxariv1.RevokeAPITokenRequest{TokenId: fx.targetToken(t)})))
	},
	nuxariv1connect.AuthServiceListAPITokensProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Auth.ListAPITokens(ctx, req(&nuxariv1.ListAPITokensRequest{})))
	},

	nuxariv1connect.LedgerServiceGetCheckpointProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Ledger.GetCheckpoint(ctx, req(&nuxariv1.GetCheckpointRequest{})))
	},
	nuxariv1connect.LedgerServiceGetInclusionProofProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Ledger.GetInclusionProof(ctx, req(&nuxariv1.GetInclusionProofRequest{Index: 0})))
	},
	nuxariv1connect.LedgerServiceGetConsistencyProofProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Ledger.GetConsistencyProof(ctx, req(&nuxariv1.GetConsistencyProofRequest{Size1: fx.earlySize})))
	},
	nuxariv1connect.LedgerServiceGetEventProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Ledger.GetEvent(ctx, req(&nuxariv1.GetEventRequest{Index: 0})))
	},
	nuxariv1connect.LedgerServiceListEventsProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{PageSize: 10})))
	},
	nuxariv1connect.LedgerServiceAppendEventsProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		data, _ := structpb.NewStruct(map[string]any{"by": p.name})
		return ignoreRes(c.Ledger.AppendEvents(ctx, req(&nuxariv1.AppendEventsRequest{Events: []*nuxariv1.NewEvent{{Type: "custom.rbac.matrix", Data: data}}})))
	},

	nuxariv1connect.EvidenceServiceExportPackageProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{Scope: &nuxariv1.EvidenceScope{Types: []string{"custom.rbac.setup"}}})))
	},
	nuxariv1connect.EvidenceServiceGetExportProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Evidence.GetExport(ctx, req(&nuxariv1.GetExportRequest{ExportId: fx.exportID})))
	},
	nuxariv1connect.EvidenceServiceListExportsProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Evidence.ListExports(ctx, req(&nuxariv1.ListExportsRequest{})))
	},
	nuxariv1connect.EvidenceServiceGetDownloadURLProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Evidence.GetDownloadURL(ctx, req(&nuxariv1.GetDownloadURLRequest{ExportId: fx.exportID})))
	},
	nuxariv1connect.EvidenceServiceDownloadPackageProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return drain(c.Evidence.DownloadPackage(ctx, req(&nuxariv1.DownloadPackageRequest{ExportId: fx.exportID})))
	},
	nuxariv1connect.EvidenceServiceGetSigningKeyProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Evidence.GetSigningKey(ctx, req(&nuxariv1.GetSigningKeyRequest{})))
	},

	nuxariv1connect.AgentAdminServiceCreateJoinTokenProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Agents.CreateJoinToken(ctx, req(&nuxariv1.CreateJoinTokenRequest{})))
	},
	nuxariv1connect.AgentAdminServiceListAgentsProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Agents.ListAgents(ctx, req(&nuxariv1.ListAgentsRequest{})))
	},
	nuxariv1connect.AgentAdminServiceGetAgentProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Agents.GetAgent(ctx, req(&nuxariv1.GetAgentRequest{AgentId: fx.agent.id})))
	},
	nuxariv1connect.AgentAdminServiceListJoinTokensProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Agents.ListJoinTokens(ctx, req(&nuxariv1.ListJoinTokensRequest{})))
	},
	nuxariv1connect.AgentAdminServiceRevokeJoinTokenProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		jt := must(fx.owner.Agents.CreateJoinToken(ctx, req(&nuxariv1.CreateJoinTokenRequest{})))(t)
		return ignoreRes(c.Agents.RevokeJoinToken(ctx, req(&nuxariv1.RevokeJoinTokenRequest{JoinTokenId: jt.Msg.JoinTokenId})))
	},
	nuxariv1connect.AgentAdminServiceDecommissionAgentProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Agents.DecommissionAgent(ctx, req(&nuxariv1.DecommissionAgentRequest{AgentId: fx.targetAgent(t).id})))
	},
	nuxariv1connect.AgentAdminServiceCreateTaskProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Agents.CreateTask(ctx, req(&nuxariv1.CreateTaskRequest{AgentId: fx.agent.id, Collector: "packages"})))
	},
	nuxariv1connect.AgentAdminServiceGetTaskProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Agents.GetTask(ctx, req(&nuxariv1.GetTaskRequest{TaskId: fx.agentTask})))
	},

	nuxariv1connect.AgentGatewayServiceEnrollProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		pub, _ := newAgentKey(t)
		return ignoreRes(c.Gateway.Enroll(ctx, req(&nuxariv1.EnrollRequest{JoinToken: createJoinToken(t, fx.owner, 0), PublicKey: pub, Hostname: "enrolled-by-" + strings.ReplaceAll(p.name, "/", "-")})))
	},
	nuxariv1connect.AgentGatewayServiceGetChallengeProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		// A fresh agent: a challenge replaces the agent's previous one.
		return ignoreRes(c.Gateway.GetChallenge(ctx, req(&nuxariv1.GetChallengeRequest{OrgId: fx.org, AgentId: fx.targetAgent(t).id})))
	},
	nuxariv1connect.AgentGatewayServiceGetAccessTokenProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		a := fx.targetAgent(t)
		return ignoreRes(getAgentToken(ctx, c, a.org, a.id, a.key))
	},
	nuxariv1connect.AgentGatewayServiceReceiveTasksProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		// The stream stays open while the agent is: its first message,
		// the heartbeat interval, is success.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s, err := c.Gateway.ReceiveTasks(ctx, req(&nuxariv1.ReceiveTasksRequest{}))
		if err != nil {
			return err
		}
		defer s.Close()
		if !s.Receive() {
			return s.Err()
		}
		if s.Msg().GetHeartbeatInterval() == nil {
			return fmt.Errorf("first message of the task stream: %v", s.Msg())
		}
		return nil
	},
	nuxariv1connect.AgentGatewayServiceHeartbeatProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Gateway.Heartbeat(ctx, req(&nuxariv1.HeartbeatRequest{})))
	},
	nuxariv1connect.AgentGatewayServiceSubmitEvidenceProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		task := fx.newAgentTask(t)
		item := fx.agent.evidence(task, "users", "", []byte("root:x:0:0::/root:/bin/sh\nsubmitted by "+p.name+"\n"))
		return retryAborted(func() error {
			return ignoreRes(c.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: task, Items: []*nuxariv1.EvidenceItem{item}})))
		})
	},
	nuxariv1connect.AgentGatewayServiceCompleteTaskProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		task := fx.newAgentTask(t)
		return retryAborted(func() error {
			return ignoreRes(c.Gateway.CompleteTask(ctx, req(&nuxariv1.CompleteTaskRequest{TaskId: task, Ok: true, Detail: "completed by " + p.name})))
		})
	},

	nuxariv1connect.ConnectorServiceCreateConnectorProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return retryAborted(func() error {
			return ignoreRes(c.Connectors.CreateConnector(ctx, req(&nuxariv1.CreateConnectorRequest{
				Name: fmt.Sprintf("made-%d", fx.next()), Settings: fx.connSettings, Credentials: pgCreds("made by " + p.name),
			})))
		})
	},
	nuxariv1connect.ConnectorServiceGetConnectorProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Connectors.GetConnector(ctx, req(&nuxariv1.GetConnectorRequest{ConnectorId: fx.connector})))
	},
	nuxariv1connect.ConnectorServiceListConnectorsProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Connectors.ListConnectors(ctx, req(&nuxariv1.ListConnectorsRequest{})))
	},
	nuxariv1connect.ConnectorServiceUpdateConnectorProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		id := fx.targetConnector(t)
		return retryAborted(func() error {
			return ignoreRes(c.Connectors.UpdateConnector(ctx, req(&nuxariv1.UpdateConnectorRequest{ConnectorId: id, Name: new(fmt.Sprintf("renamed-%d", fx.next()))})))
		})
	},
	nuxariv1connect.ConnectorServiceTestConnectorProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		// The system is not there: the test runs and reports a failure.
		id := fx.targetConnector(t)
		return retryAborted(func() error {
			res, err := c.Connectors.TestConnector(ctx, req(&nuxariv1.TestConnectorRequest{ConnectorId: id}))
			if err == nil && (res.Msg.Ok || res.Msg.Error == "") {
				return fmt.Errorf("a test of a connector to nothing passed: %v", res.Msg)
			}
			return err
		})
	},
	nuxariv1connect.ConnectorServicePauseConnectorProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		id := fx.targetConnector(t)
		return retryAborted(func() error {
			return ignoreRes(c.Connectors.PauseConnector(ctx, req(&nuxariv1.PauseConnectorRequest{ConnectorId: id, Reason: "paused by " + p.name})))
		})
	},
	nuxariv1connect.ConnectorServiceResumeConnectorProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		id := fx.pausedConnector(t)
		return retryAborted(func() error {
			return ignoreRes(c.Connectors.ResumeConnector(ctx, req(&nuxariv1.ResumeConnectorRequest{ConnectorId: id})))
		})
	},
	nuxariv1connect.ConnectorServiceRotateCredentialsProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		id := fx.targetConnector(t)
		return retryAborted(func() error {
			return ignoreRes(c.Connectors.RotateCredentials(ctx, req(&nuxariv1.RotateCredentialsRequest{ConnectorId: id, Credentials: pgCreds("rotated by " + p.name)})))
		})
	},
	nuxariv1connect.ConnectorServiceDecommissionConnectorProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		id := fx.targetConnector(t)
		return retryAborted(func() error {
			return ignoreRes(c.Connectors.DecommissionConnector(ctx, req(&nuxariv1.DecommissionConnectorRequest{ConnectorId: id, Reason: "by " + p.name})))
		})
	},
	nuxariv1connect.ConnectorServiceSyncConnectorProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		id := fx.targetConnector(t)
		return retryAborted(func() error {
			return ignoreRes(c.Connectors.SyncConnector(ctx, req(&nuxariv1.SyncConnectorRequest{ConnectorId: id})))
		})
	},
	nuxariv1connect.ConnectorServiceGetSyncProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Connectors.GetSync(ctx, req(&nuxariv1.GetSyncRequest{SyncId: fx.syncID})))
	},
	nuxariv1connect.ConnectorServiceListGrantsProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Connectors.ListGrants(ctx, req(&nuxariv1.ListGrantsRequest{ConnectorId: fx.connector})))
	},
	nuxariv1connect.ConnectorServiceGetSealingKeysProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Connectors.GetSealingKeys(ctx, req(&nuxariv1.GetSealingKeysRequest{})))
	},
	nuxariv1connect.ConnectorServiceRotateSealingKeyProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return retryAborted(func() error {
			return ignoreRes(c.Connectors.RotateSealingKey(ctx, req(&nuxariv1.RotateSealingKeyRequest{})))
		})
	},

	// AccessService: each call that decides a plan decides a fresh one,
	// pending, that the submitter asked for; each that needs a request
	// of the caller's own makes one first.
	nuxariv1connect.AccessServiceCreatePolicyProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Access.CreatePolicy(ctx, req(&nuxariv1.CreatePolicyRequest{
			Policy: accessPolicy(fx.access.connector, func(pl *nuxariv1.Policy) { pl.Name = fmt.Sprintf("made-%d", fx.next()) }),
		})))
	},
	nuxariv1connect.AccessServiceUpdatePolicyProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		id := fx.targetPolicy(t)
		return ignoreRes(c.Access.UpdatePolicy(ctx, req(&nuxariv1.UpdatePolicyRequest{
			Policy: accessPolicy(fx.access.connector, func(pl *nuxariv1.Policy) {
				pl.PolicyId, pl.Version, pl.Name = id, 1, fmt.Sprintf("updated-%d", fx.next())
			}),
		})))
	},
	nuxariv1connect.AccessServiceGetPolicyProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Access.GetPolicy(ctx, req(&nuxariv1.GetPolicyRequest{PolicyId: fx.policy})))
	},
	nuxariv1connect.AccessServiceListPoliciesProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Access.ListPolicies(ctx, req(&nuxariv1.ListPoliciesRequest{})))
	},
	nuxariv1connect.AccessServiceSubmitRequestProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Access.SubmitRequest(ctx, req(&nuxariv1.SubmitRequestRequest{
			ConnectorId: fx.access.connector, IdentityId: fakeAlice, EntitlementId: fakeReaders, Justification: "submitted by " + p.name,
		})))
	},
	nuxariv1connect.AccessServiceListRequestsProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Access.ListRequests(ctx, req(&nuxariv1.ListRequestsRequest{})))
	},
	nuxariv1connect.AccessServiceGetRequestProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		id, err := fx.ownRequest(ctx, p, c)
		if err != nil {
			return err
		}
		return ignoreRes(c.Access.GetRequest(ctx, req(&nuxariv1.GetRequestRequest{RequestId: id})))
	},
	nuxariv1connect.AccessServiceCancelRequestProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		id, err := fx.ownRequest(ctx, p, c)
		if err != nil {
			return err
		}
		return ignoreRes(c.Access.CancelRequest(ctx, req(&nuxariv1.CancelRequestRequest{RequestId: id})))
	},
	nuxariv1connect.AccessServiceListPlansProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Access.ListPlans(ctx, req(&nuxariv1.ListPlansRequest{AssignedToMe: true})))
	},
	nuxariv1connect.AccessServiceGetPlanProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Access.GetPlan(ctx, req(&nuxariv1.GetPlanRequest{PlanId: fx.plan})))
	},
	nuxariv1connect.AccessServiceApprovePlanProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		_, plan := fx.newRequest(t)
		return ignoreRes(c.Access.ApprovePlan(ctx, req(&nuxariv1.ApprovePlanRequest{PlanId: plan, Comment: "approved by " + p.name})))
	},
	nuxariv1connect.AccessServiceRejectPlanProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		_, plan := fx.newRequest(t)
		return ignoreRes(c.Access.RejectPlan(ctx, req(&nuxariv1.RejectPlanRequest{PlanId: plan, Comment: "rejected by " + p.name})))
	},
	nuxariv1connect.AccessServiceListAccessGrantsProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Access.ListAccessGrants(ctx, req(&nuxariv1.ListAccessGrantsRequest{})))
	},
	nuxariv1connect.AccessServiceAcceptBaselineProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Access.AcceptBaseline(ctx, req(&nuxariv1.AcceptBaselineRequest{ConnectorId: fx.access.connector})))
	},
	nuxariv1connect.AccessServiceListDriftFindingsProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Access.ListDriftFindings(ctx, req(&nuxariv1.ListDriftFindingsRequest{IncludeResolved: true})))
	},
	nuxariv1connect.AccessServiceStartReviewProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Access.StartReview(ctx, req(&nuxariv1.StartReviewRequest{
			ConnectorId: fx.review.another(t, fx.owner), Name: "started by " + p.name,
		})))
	},
	nuxariv1connect.AccessServiceGetReviewProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Access.GetReview(ctx, req(&nuxariv1.GetReviewRequest{ReviewId: fx.reviewID})))
	},
	nuxariv1connect.AccessServiceListReviewsProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Access.ListReviews(ctx, req(&nuxariv1.ListReviewsRequest{})))
	},
	nuxariv1connect.AccessServiceListReviewItemsProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Access.ListReviewItems(ctx, req(&nuxariv1.ListReviewItemsRequest{ReviewId: fx.reviewID, AssignedToMe: true})))
	},
	nuxariv1connect.AccessServiceDecideReviewProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Access.DecideReview(ctx, req(&nuxariv1.DecideReviewRequest{ReviewId: fx.reviewID, Decisions: []*nuxariv1.ReviewDecision{
			{Item: fx.reviewItem.Add(1), Comment: "kept by " + p.name},
		}})))
	},
	nuxariv1connect.AccessServiceCancelReviewProcedure: func(ctx context.Context, t *testing.T, fx *rbacFixture, p rbacPrincipal, c servertest.Clients, _ func(string) servertest.Clients) error {
		return ignoreRes(c.Access.CancelReview(ctx, req(&nuxariv1.CancelReviewRequest{ReviewId: fx.targetReview(t)})))
	},
}

// rbacAllowedCodes are the codes other than OK that an allowed call of a
// procedure may get, with why. Nothing else is accepted.
var rbacAllowedCodes = map[string]map[connect.Code]string{
	// With an API token there is no session to end.
	nuxariv1connect.AuthServiceLogoutProcedure: {connect.CodeFailedPrecondition: "API tokens have no session"},
	// The call sends a password too short to take; API tokens have none.
	nuxariv1connect.AuthServiceChangePasswordProcedure: {
		connect.CodeInvalidArgument:    "new password too short",
		connect.CodeFailedPrecondition: "API tokens have no password",
	},
	// The test server keeps packages in a local directory: no URLs.
	nuxariv1connect.EvidenceServiceGetDownloadURLProcedure: {connect.CodeFailedPrecondition: "local package store has no presigned URLs"},
	// The matrix's connectors reach no system, which refuses the new
	// credentials: the rotation runs, is recorded, and fails.
	nuxariv1connect.ConnectorServiceRotateCredentialsProcedure: {connect.CodeFailedPrecondition: "no system accepts the new credentials"},
}

// TestRBACMatrix calls every nuxari.v1 procedure as every role (a session
// and an API token of each), as an edge agent and with no credentials,
// over the wire, with a minimal valid request, and checks the server's
// decision against the hand-written tables.
func TestRBACMatrix(t *testing.T) {
	fx := newRBACFixture(t)
	procs := nuxariMethods(t)
	for _, proc := range procs {
		if rbacCalls[proc] == nil {
			t.Errorf("%s: the matrix has no call for it", proc)
		}
	}
	var cases atomic.Int64
	t.Run("matrix", func(t *testing.T) {
		for i, p := range fx.principals {
			t.Run(p.name, func(t *testing.T) {
				t.Parallel()
				for j, proc := range procs {
					call := rbacCalls[proc]
					if call == nil {
						continue
					}
					// Spread the cases over the three protocols.
					protocol := servertest.Protocols[(i+j)%len(servertest.Protocols)]
					t.Run(strings.TrimPrefix(proc, "/nuxari.v1.")+"/"+string(protocol), func(t *testing.T) {
						cases.Add(1)
						perm := rbacProcedures[proc]
						allowed := rbacExpectAllowed(p.role, perm)
						mk := func(tok string) servertest.Clients { return fx.ts.ClientsFor(tok, protocol) }
						ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
						defer cancel()
						err := call(ctx, t, fx, p, mk(p.token), mk)
						code := connect.CodeOf(err)
						switch {
						case p.isAPI && proc == nuxariv1connect.AuthServiceCreateAPITokenProcedure:
							// Beyond the table: API tokens never mint
							// API tokens, whatever their role.
							if code != connect.CodePermissionDenied {
								t.Fatalf("API token (%s) created an API token: %v", p.role, err)
							}
						case !allowed && p.role == "":
							if code != connect.CodeUnauthenticated {
								t.Fatalf("no credentials, needs %s: got %v, want Unauthenticated", perm, err)
							}
						case !allowed:
							if code != connect.CodePermissionDenied {
								t.Fatalf("%s lacks %s: got %v, want PermissionDenied", p.role, perm, err)
							}
							if !strings.Contains(err.Error(), string(perm)) {
								t.Errorf("denial does not name the permission %s: %v", perm, err)
							}
						case err != nil:
							if _, ok := rbacAllowedCodes[proc][code]; !ok {
								t.Fatalf("%s holds %s: got %v, want success", p.role, perm, err)
							}
						}
					})
				}
			})
		}
	})
	t.Run("no event of a denied call", func(t *testing.T) {
		checkEventsPermitted(t, fx)
	})
	if want := int64(len(fx.principals) * len(rbacCalls)); cases.Load() != want {
		t.Errorf("ran %d cases, want %d", cases.Load(), want)
	}
	t.Logf("%d principals × %d procedures = %d cases", len(fx.principals), len(rbacCalls), cases.Load())
}

// rbacEventPermissions is the permission behind each event type that a
// principal's call appends; event types not listed need none beyond
// credentials (logins, logouts).
var rbacEventPermissions = map[string]rbac.Permission{
	"org.settings_changed":          rbac.OrgManage,
	"member.added":                  rbac.MembersManage,
	"member.removed":                rbac.MembersManage,
	"member.role_changed":           rbac.RolesManage,
	"member.password_setup_issued":  rbac.MembersManage,
	"member.sessions_ended":         rbac.MembersManage,
	"auth.api_token.created":        rbac.TokensManage,
	"auth.api_token.revoked":        rbac.TokensManage,
	"evidence.export.requested":     rbac.EvidenceExport,
	"evidence.package.downloaded":   rbac.EvidenceExport,
	"agent.join_token.created":      rbac.AgentsManage,
	"agent.decommissioned":          rbac.AgentsManage,
	"agent.task.created":            rbac.AgentsManage,
	"evidence.recorded":             rbac.AgentChannel,
	"agent.task.completed":          rbac.AgentChannel,
	"connector.created":             rbac.ConnectorsManage,
	"connector.updated":             rbac.ConnectorsManage,
	"connector.tested":              rbac.ConnectorsManage,
	"connector.failed":              rbac.ConnectorsManage,
	"connector.credential.accessed": rbac.ConnectorsManage,
	"connector.paused":              rbac.ConnectorsManage,
	"connector.resumed":             rbac.ConnectorsManage,
	"connector.rotation.started":    rbac.ConnectorsManage,
	"connector.rotation.failed":     rbac.ConnectorsManage,
	"connector.decommissioned":      rbac.ConnectorsManage,
	"connector.sync.requested":      rbac.ConnectorsManage,
	"sealing.key.rotated":           rbac.ConnectorsManage,
	"access.policy.created":         rbac.PoliciesManage,
	"access.policy.updated":         rbac.PoliciesManage,
	"access.request.submitted":      rbac.AccessRequest,
	"access.request.canceled":       rbac.AccessRequest,
	"access.plan.approved":          rbac.AccessApprove,
	"access.plan.rejected":          rbac.AccessApprove,
	"access.baseline.accepted":      rbac.PoliciesManage,
	"access.review.started":         rbac.PoliciesManage,
	"access.review.decided":         rbac.AccessApprove,
	"access.review.canceled":        rbac.PoliciesManage,
}

// checkEventsPermitted reads the fixture org's whole log: every event a
// principal caused must be one its role permits, so a denied call left
// no trace of having run, and every allowed mutating call left its
// event.
func checkEventsPermitted(t *testing.T, fx *rbacFixture) {
	t.Helper()
	ctx := context.Background()
	byActor := map[string]rbacPrincipal{}
	for _, p := range fx.principals {
		if p.actor != "" {
			byActor[p.actor] = p
		}
	}
	size, err := fx.ts.Ledger().Size(fx.org)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{} // principal name + event type
	err = fx.ts.Ledger().Leaves(ctx, fx.org, 0, size, func(lf ledger.Leaf) error {
		l, err := leaf.Parse(lf.Bytes)
		if err != nil {
			return err
		}
		var e struct{ Type, Actor string }
		if err := json.Unmarshal(l.Event, &e); err != nil {
			return err
		}
		p, ok := byActor[e.Actor]
		if !ok {
			return nil
		}
		perm, ok := rbacEventPermissions[e.Type]
		if strings.HasPrefix(e.Type, "custom.") {
			perm, ok = rbac.LedgerAppend, true
		}
		if ok && !rbacExpectAllowed(p.role, perm) {
			t.Errorf("event %d %s by %s, who lacks %s", lf.Index, e.Type, p.name, perm)
		}
		seen[p.name+" "+e.Type] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The other way round: each allowed mutating call was audited.
	for _, p := range fx.principals {
		if p.actor == "" {
			continue
		}
		for typ, perm := range rbacEventPermissions {
			if typ == "auth.api_token.created" && p.isAPI {
				continue // API tokens never mint tokens
			}
			if rbacExpectAllowed(p.role, perm) && !seen[p.name+" "+typ] {
				t.Errorf("%s holds %s but no %s event of theirs is in the log", p.name, perm, typ)
			}
		}
		if rbacExpectAllowed(p.role, rbac.LedgerAppend) && !seen[p.name+" custom.rbac.matrix"] {
			t.Errorf("%s may append but no custom.rbac.matrix event of theirs is in the log", p.name)
		}
	}
}

// TestRBACStandardServices: health (unary Check and streaming Watch) and
// reflection (a bidirectional stream) are public, and reflection lists
// the nuxari.v1 services.
func TestRBACStandardServices(t *testing.T) {
	ts := servertest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	hc := grpchealth.NewClient(servertest.HTTPClient(), ts.URL, connect.WithGRPC())
	if res, err := hc.Check(ctx, &grpchealth.CheckRequest{Service: nuxariv1connect.OrgServiceName}); err != nil || res.Status != grpchealth.StatusServing {
		t.Fatalf("health Check: %v %v", res, err)
	}
	wctx, wcancel := context.WithCancel(ctx)
	ev, ok := <-hc.Watch(wctx, &grpchealth.CheckRequest{})
	wcancel()
	if !ok || ev.Err != nil || ev.Response.Status != grpchealth.StatusServing {
		t.Fatalf("health Watch: %v %+v", ok, ev)
	}

	for _, protocol := range []connect.ClientOption{connect.WithGRPC(), connect.WithGRPCWeb(), connect.WithProtoJSON()} {
		rc := grpcreflect.NewClient(servertest.HTTPClient(), ts.URL, protocol)
		stream := rc.NewStream(ctx)
		names, err := stream.ListServices()
		if err != nil {
			t.Fatalf("reflection ListServices: %v", err)
		}
		for _, want := range []string{nuxariv1connect.OrgServiceName, nuxariv1connect.AuthServiceName, nuxariv1connect.LedgerServiceName, nuxariv1connect.EvidenceServiceName, nuxariv1connect.ConnectorServiceName} {
			if !slices.Contains(names, protoreflect.FullName(want)) {
				t.Errorf("reflection lists %v, lacking %s", names, want)
			}
		}
		files, err := stream.FileContainingSymbol(nuxariv1connect.LedgerServiceName)
		if err != nil || len(files) == 0 {
			t.Fatalf("reflection FileContainingSymbol: %v", err)
		}
		if _, err := stream.Close(); err != nil {
			t.Errorf("close reflection stream: %v", err)
		}
	}
	// No nuxari.v1 procedure is public except sign-up and login, even
	// when reached through an unusual path spelling.
	for _, path := range []string{"/nuxari.v1.OrgService/ListMembers/", "//nuxari.v1.OrgService/ListMembers", "/nuxari.v1.orgservice/ListMembers"} {
		res, err := servertest.HTTPClient().Post(ts.URL+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Errorf("POST %s without credentials: HTTP 200", path)
		}
	}
}

// respRecorder is a client interceptor that keeps, for every call, the
// response messages (binary and protojson), headers, trailers and error
// messages, so that a test can search everything a client was sent.
type respRecorder struct {
	mu      sync.Mutex
	entries []recorded
	// redact, if set, may return a copy of a message with fields that are
	// allowed to carry a secret cleared.
	redact func(proto.Message) proto.Message
}

type recorded struct {
	procedure string
	data      []byte
}

func (r *respRecorder) add(proc string, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, recorded{proc, b})
}

func (r *respRecorder) addMsg(proc string, m any) {
	msg, ok := m.(proto.Message)
	if !ok || msg == nil {
		return
	}
	if r.redact != nil {
		msg = r.redact(msg)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		r.add(proc, []byte("marshal: "+err.Error()))
	}
	r.add(proc, b)
	j, err := protojson.Marshal(msg)
	if err != nil {
		r.add(proc, []byte("protojson: "+err.Error()))
	}
	r.add(proc, j)
}

func (r *respRecorder) addHeaders(proc string, hs ...map[string][]string) {
	var b strings.Builder
	for _, h := range hs {
		for k, vs := range h {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ", "))
		}
	}
	r.add(proc, []byte(b.String()))
}

func (r *respRecorder) addErr(proc string, err error) {
	if err == nil {
		return
	}
	r.add(proc, []byte(err.Error()))
	var ce *connect.Error
	if errors.As(err, &ce) {
		r.addHeaders(proc, ce.Meta())
		for _, d := range ce.Details() {
			r.add(proc, d.Bytes())
		}
	}
}

// all returns every recorded entry.
func (r *respRecorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.entries)
}

// WrapUnary implements connect.Interceptor.
func (r *respRecorder) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, rq connect.AnyRequest) (connect.AnyResponse, error) {
		proc := rq.Spec().Procedure
		res, err := next(ctx, rq)
		r.addErr(proc, err)
		if res != nil {
			r.addMsg(proc, res.Any())
			r.addHeaders(proc, res.Header(), res.Trailer())
		}
		return res, err
	}
}

// WrapStreamingClient implements connect.Interceptor.
func (r *respRecorder) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return func(ctx context.Context, spec connect.Spec) connect.StreamingClientConn {
		return &recordingConn{StreamingClientConn: next(ctx, spec), r: r}
	}
}

// WrapStreamingHandler implements connect.Interceptor.
func (r *respRecorder) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

type recordingConn struct {
	connect.StreamingClientConn
	r *respRecorder
}

func (c *recordingConn) Receive(m any) error {
	err := c.StreamingClientConn.Receive(m)
	proc := c.Spec().Procedure
	if err == nil {
		c.r.addMsg(proc, m)
	} else {
		c.r.addErr(proc, err)
		c.r.addHeaders(proc, c.ResponseHeader(), c.ResponseTrailer())
	}
	return err
}

// recordingClients returns clients of ts that send token in protocol p
// and record every response in r.
func recordingClients(ts *servertest.Server, r *respRecorder, token string, p servertest.Protocol) servertest.Clients {
	opts := []connect.ClientOption{connect.WithInterceptors(r)}
	switch p {
	case servertest.GRPC:
		opts = append(opts, connect.WithGRPC())
	case servertest.GRPCWeb:
		opts = append(opts, connect.WithGRPCWeb())
	}
	return client.New(ts.URL, token, opts...)
}
