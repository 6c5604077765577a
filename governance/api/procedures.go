package api

import (
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
)

// Procedures is the one table of what every procedure served needs. The
// interceptor denies any procedure not listed; a test walks every method of
// every served service and fails on a missing entry; docs/rbac.md is
// generated from it.
var Procedures = map[string]rbac.Permission{
	nuxariv1connect.OrgServiceCreateOrgProcedure:          rbac.Public,
	nuxariv1connect.OrgServiceGetOrgProcedure:             rbac.OrgRead,
	nuxariv1connect.OrgServiceUpdateOrgSettingsProcedure:  rbac.OrgManage,
	nuxariv1connect.OrgServiceAddMemberProcedure:          rbac.MembersManage,
	nuxariv1connect.OrgServiceRemoveMemberProcedure:       rbac.MembersManage,
	nuxariv1connect.OrgServiceSetMemberRoleProcedure:      rbac.RolesManage,
	nuxariv1connect.OrgServiceListMembersProcedure:        rbac.MembersRead,
	nuxariv1connect.OrgServiceIssuePasswordSetupProcedure: rbac.MembersManage,
	nuxariv1connect.OrgServiceEndMemberSessionsProcedure:  rbac.MembersManage,

	nuxariv1connect.AuthServiceLoginProcedure:  rbac.Public,
	nuxariv1connect.AuthServiceLogoutProcedure: rbac.Authenticated,
	// A setup token is its own proof, like a password.
	nuxariv1connect.AuthServiceSetPasswordProcedure:    rbac.Public,
	nuxariv1connect.AuthServiceChangePasswordProcedure: rbac.Authenticated,
	nuxariv1connect.AuthServiceWhoAmIProcedure:         rbac.Authenticated,
	nuxariv1connect.AuthServiceCreateAPITokenProcedure: rbac.TokensManage,
	nuxariv1connect.AuthServiceRevokeAPITokenProcedure: rbac.TokensManage,
	nuxariv1connect.AuthServiceListAPITokensProcedure:  rbac.TokensManage,

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

	// Join tokens are seen and revoked by those who may create them;
	// auditors follow them in the log (created, revoked, enrolled,
	// refused), never through this list.
	nuxariv1connect.AgentAdminServiceCreateJoinTokenProcedure:   rbac.AgentsManage,
	nuxariv1connect.AgentAdminServiceListJoinTokensProcedure:    rbac.AgentsManage,
	nuxariv1connect.AgentAdminServiceRevokeJoinTokenProcedure:   rbac.AgentsManage,
	nuxariv1connect.AgentAdminServiceListAgentsProcedure:        rbac.AgentsRead,
	nuxariv1connect.AgentAdminServiceGetAgentProcedure:          rbac.AgentsRead,
	nuxariv1connect.AgentAdminServiceDecommissionAgentProcedure: rbac.AgentsManage,
	nuxariv1connect.AgentAdminServiceCreateTaskProcedure:        rbac.AgentsManage,
	nuxariv1connect.AgentAdminServiceGetTaskProcedure:           rbac.AgentsRead,

	// Connectors: credentials are write-only, so those who may read
	// connectors see which fields are set, never a value.
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

	// Access: policies are managed by admins and owners; requests are
	// made by members who may request (their own are theirs to see and
	// cancel, checked in the domain); plans are read by those who read
	// access (an approver's inbox among them) and decided by their
	// assigned approvers (checked in the domain).
	nuxariv1connect.AccessServiceCreatePolicyProcedure:      rbac.PoliciesManage,
	nuxariv1connect.AccessServiceUpdatePolicyProcedure:      rbac.PoliciesManage,
	nuxariv1connect.AccessServiceGetPolicyProcedure:         rbac.AccessRead,
	nuxariv1connect.AccessServiceListPoliciesProcedure:      rbac.AccessRead,
	nuxariv1connect.AccessServiceSubmitRequestProcedure:     rbac.AccessRequest,
	nuxariv1connect.AccessServiceListRequestsProcedure:      rbac.AccessRequest,
	nuxariv1connect.AccessServiceGetRequestProcedure:        rbac.AccessRequest,
	nuxariv1connect.AccessServiceCancelRequestProcedure:     rbac.AccessRequest,
	nuxariv1connect.AccessServiceListPlansProcedure:         rbac.AccessRead,
	nuxariv1connect.AccessServiceGetPlanProcedure:           rbac.AccessRead,
	nuxariv1connect.AccessServiceApprovePlanProcedure:       rbac.AccessApprove,
	nuxariv1connect.AccessServiceRejectPlanProcedure:        rbac.AccessApprove,
	nuxariv1connect.AccessServiceListAccessGrantsProcedure:  rbac.AccessRead,
	nuxariv1connect.AccessServiceAcceptBaselineProcedure:    rbac.PoliciesManage,
	nuxariv1connect.AccessServiceListDriftFindingsProcedure: rbac.AccessRead,
	// Access reviews are started and canceled by those who manage
	// policy, read by those who read access, and decided by each item's
	// reviewers (checked in the domain).
	nuxariv1connect.AccessServiceStartReviewProcedure:     rbac.PoliciesManage,
	nuxariv1connect.AccessServiceGetReviewProcedure:       rbac.AccessRead,
	nuxariv1connect.AccessServiceListReviewsProcedure:     rbac.AccessRead,
	nuxariv1connect.AccessServiceListReviewItemsProcedure: rbac.AccessRead,
	nuxariv1connect.AccessServiceDecideReviewProcedure:    rbac.AccessApprove,
	nuxariv1connect.AccessServiceCancelReviewProcedure:    rbac.PoliciesManage,

	// Agents: enrolment and token requests carry their own proof (a
	// join token; a signed challenge); the rest needs an agent token.
	nuxariv1connect.AgentGatewayServiceEnrollProcedure:         rbac.Public,
	nuxariv1connect.AgentGatewayServiceGetChallengeProcedure:   rbac.Public,
	nuxariv1connect.AgentGatewayServiceGetAccessTokenProcedure: rbac.Public,
	nuxariv1connect.AgentGatewayServiceReceiveTasksProcedure:   rbac.AgentChannel,
	nuxariv1connect.AgentGatewayServiceHeartbeatProcedure:      rbac.AgentChannel,
	nuxariv1connect.AgentGatewayServiceSubmitEvidenceProcedure: rbac.AgentChannel,
	nuxariv1connect.AgentGatewayServiceCompleteTaskProcedure:   rbac.AgentChannel,

	// Standard services: liveness and the schema, which hold no org data.
	"/grpc.health.v1.Health/Check":                                   rbac.Public,
	"/grpc.health.v1.Health/Watch":                                   rbac.Public,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      rbac.Public,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": rbac.Public,
}

// The plain HTTP routes served beside the RPCs, on the same listener
// (docs/tlog.md): an org's log as C2SP tlog-tiles. Their names are the
// paths, with the org and the tile's coordinates as placeholders.
const (
	RouteTlogCheckpoint = "GET /orgs/{org}/tlog/checkpoint"
	RouteTlogTile       = "GET /orgs/{org}/tlog/tile/{L}/{N}[.p/{W}]"
	RouteTlogEntries    = "GET /orgs/{org}/tlog/tile/entries/{N}[.p/{W}]"
)

// Routes is, for the plain HTTP routes, what Procedures is for RPCs: the
// permission each needs. Interceptor.AdmitRoute enforces it;
// docs/rbac.md lists it.
var Routes = map[string]rbac.Permission{
	RouteTlogCheckpoint: rbac.LedgerRead,
	RouteTlogTile:       rbac.LedgerRead,
	RouteTlogEntries:    rbac.LedgerRead,
}
