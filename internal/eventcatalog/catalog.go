package eventcatalog

// Event types. Each constant's name is its type's parts in Go case:
// "agent.join_token.created" is AgentJoinTokenCreated.
const (
	OrgCreated         = "org.created"
	OrgSettingsChanged = "org.settings_changed"

	MemberAdded               = "member.added"
	MemberRemoved             = "member.removed"
	MemberRoleChanged         = "member.role_changed"
	MemberPasswordSetupIssued = "member.password_setup_issued"
	MemberPasswordSet         = "member.password_set"
	MemberSessionsEnded       = "member.sessions_ended"

	AuthLoginSucceeded       = "auth.login.succeeded"
	AuthLoginFailed          = "auth.login.failed"
	AuthLogout               = "auth.logout"
	AuthPasswordChanged      = "auth.password_changed"
	AuthPasswordChangeFailed = "auth.password_change.failed"
	AuthAPITokenCreated      = "auth.api_token.created"
	AuthAPITokenRevoked      = "auth.api_token.revoked"
	AuthExpiredSwept         = "auth.expired_swept"

	AgentJoinTokenCreated = "agent.join_token.created"
	AgentJoinTokenRevoked = "agent.join_token.revoked"
	AgentEnrolRefused     = "agent.enrol.refused"
	AgentEnrolled         = "agent.enrolled"
	AgentTokenIssued      = "agent.token.issued"
	AgentDecommissioned   = "agent.decommissioned"
	AgentTaskCreated      = "agent.task.created"
	AgentTaskDelivered    = "agent.task.delivered"
	AgentTaskCompleted    = "agent.task.completed"

	EvidenceRecorded          = "evidence.recorded"
	EvidenceRejected          = "evidence.rejected"
	EvidenceExportRequested   = "evidence.export.requested"
	EvidenceExportStarted     = "evidence.export.started"
	EvidenceExportCompleted   = "evidence.export.completed"
	EvidenceExportFailed      = "evidence.export.failed"
	EvidencePackageDownloaded = "evidence.package.downloaded"

	ConnectorCreated            = "connector.created"
	ConnectorUpdated            = "connector.updated"
	ConnectorPaused             = "connector.paused"
	ConnectorResumed            = "connector.resumed"
	ConnectorFailed             = "connector.failed"
	ConnectorRecovered          = "connector.recovered"
	ConnectorDecommissioned     = "connector.decommissioned"
	ConnectorTested             = "connector.tested"
	ConnectorCredentialAccessed = "connector.credential.accessed"
	ConnectorRotationStarted    = "connector.rotation.started"
	ConnectorRotationValidated  = "connector.rotation.validated"
	ConnectorRotationStored     = "connector.rotation.stored"
	ConnectorRotationSwapped    = "connector.rotation.swapped"
	ConnectorRotationPurged     = "connector.rotation.purged"
	ConnectorRotationCompleted  = "connector.rotation.completed"
	ConnectorRotationFailed     = "connector.rotation.failed"
	ConnectorRotationRolledBack = "connector.rotation.rolled_back"
	ConnectorSyncRequested      = "connector.sync.requested"
	ConnectorSyncStarted        = "connector.sync.started"
	ConnectorSyncCompleted      = "connector.sync.completed"
	ConnectorSyncFailed         = "connector.sync.failed"
	ConnectorSyncRequeued       = "connector.sync.requeued"
	ConnectorSnapshotRecorded   = "connector.snapshot.recorded"

	SealingKeyringCreated      = "sealing.keyring.created"
	SealingKeyRotated          = "sealing.key.rotated"
	SealingCredentialsResealed = "sealing.credentials.resealed"
	SealingKeysDisabled        = "sealing.keys.disabled"
	SealingResealStarted       = "sealing.reseal.started"
	SealingResealCompleted     = "sealing.reseal.completed"
	SealingResealFailed        = "sealing.reseal.failed"
	SealingResealRequeued      = "sealing.reseal.requeued"

	AccessPolicyCreated    = "access.policy.created"
	AccessPolicyUpdated    = "access.policy.updated"
	AccessRequestSubmitted = "access.request.submitted"
	AccessRequestDenied    = "access.request.denied"
	AccessRequestCanceled  = "access.request.canceled"
	AccessRequestExpired   = "access.request.expired"
	AccessPlanApproval     = "access.plan.approval"
	AccessPlanApproved     = "access.plan.approved"
	AccessPlanRejected     = "access.plan.rejected"
	AccessPlanRunStarted   = "access.plan.run.started"
	AccessPlanRunCompleted = "access.plan.run.completed"
	AccessPlanRunFailed    = "access.plan.run.failed"
	AccessPlanRunRequeued  = "access.plan.run.requeued"
	AccessActionExecuted   = "access.action.executed"
	AccessGrantExpired     = "access.grant.expired"
	AccessBaselineAccepted = "access.baseline.accepted"
	AccessDriftFound       = "access.drift.found"
	AccessDriftResolved    = "access.drift.resolved"
	AccessDriftChecked     = "access.drift.checked"
	AccessReviewStarted    = "access.review.started"
	AccessReviewDecided    = "access.review.decided"
	AccessReviewCompleted  = "access.review.completed"
	AccessReviewCanceled   = "access.review.canceled"
	AccessHistoryPruned    = "access.history.pruned"

	LedgerMigrated = "ledger.migrated"
)

// Subjects.
const (
	subjectOrg       = "the org's ID"
	subjectUser      = "the member's user ID"
	subjectToken     = "`token:<ID>`, the API token"
	subjectJoinToken = "`jointoken:<ID>`, the join token"
	subjectAgent     = "`agent:<ID>`, the agent"
	subjectExport    = "`export:<ID>`, the export"
	subjectConnector = "`connector:<ID>`, the connector"
	subjectSync      = "`sync:<ID>`, the sync"
	subjectReseal    = "`reseal:<ID>`, the reseal job"
	subjectPolicy    = "`policy:<ID>`, the policy"
	subjectRequest   = "`request:<ID>`, the access request"
	subjectPlan      = "`plan:<ID>`, the remediation plan"
	subjectGrant     = "`grant:<ID>`, the access grant"
	subjectFinding   = "`finding:<ID>`, the drift finding"
	subjectReview    = "`review:<ID>`, the access review"
)

// Actor sets.
var (
	byPrincipal = []Actor{ActorMember, ActorToken}
	byMember    = []Actor{ActorMember}
	byAgent     = []Actor{ActorAgent}
	byAnonymous = []Actor{ActorAnonymous}
	bySystem    = []Actor{ActorSystem}
)

func field(name string, k Kind, meaning string) Field {
	return Field{Name: name, Kind: k, Meaning: meaning}
}

func optional(name string, k Kind, meaning string) Field {
	return Field{Name: name, Kind: k, Optional: true, Meaning: meaning}
}

var (
	fieldSource         = field("source", String, "The client's address, without port; empty when unknown.")
	fieldTaskID         = field("task_id", String, "The task's ID.")
	fieldSessionsEnded  = field("sessions_ended", Integer, "How many of the member's sessions ended with it.")
	fieldTokensRevokedM = field("api_tokens_revoked", Strings, "The IDs of the member's API tokens revoked with it.")
	fieldRotationID     = field("rotation_id", String, "The rotation's ID, the same in each of its steps' events.")
	fieldSettings       = field("settings", Object, "The connector's settings, normalized, as docs/connectors.md lists them for its kind; never a credential.")
	fieldInterval       = field("sync_interval_seconds", Integer, "How often it is synced by schedule, in seconds; 0 when only by hand.")
	fieldResumeState    = field("state", String, "The state the connector returned to: `active`, `paused` or `failed`.")
	fieldAttempt        = field("attempt", Integer, "Which run of the job this is: more than 1 after a restart interrupted it.")
	fieldJobError       = field("error", String, "Why it failed: a fixed text, or the connector's own message, which never carries a credential or the system's text.")
	fieldRequeueReason  = field("reason", String, "Why: a server restart interrupted it.")
	fieldRequeueAttempt = field("attempts", Integer, "The runs started so far.")
)

// catalog is every type the service appends. Each entry says exactly
// what the code that appends the type writes.
var catalog = []Entry{
	{
		Type: OrgCreated, Meaning: "An org was created with its first owner, by self-service sign-up or by the operator.",
		Actors: byMember, Subject: subjectOrg + " (the first owner is the actor)",
		Fields: []Field{
			field("display_name", String, "The org's display name (its ID when none was given)."),
			field("owner", Object, "The first owner."),
			field("owner.user_id", String, "The first owner's user ID."),
			field("owner.email", String, "The first owner's email, normalized."),
			field("via", String, "`signup` (self-service) or `operator` (the operator's bootstrap)."),
			field("retention_seconds", Integer, "The org's retention window in seconds."),
		},
	},
	{
		Type: OrgSettingsChanged, Meaning: "The org's settings changed; each changed setting is present, with its old and new values.",
		Actors: byPrincipal, Subject: subjectOrg,
		Fields: []Field{
			optional("display_name", Object, "Present when the display name changed."),
			field("display_name.from", String, "The old display name."),
			field("display_name.to", String, "The new display name."),
			optional("retention_seconds", Object, "Present when the retention window changed; the window commits with the event."),
			field("retention_seconds.from", Integer, "The old window in seconds."),
			field("retention_seconds.to", Integer, "The new window in seconds."),
		},
	},
	{
		Type: MemberAdded, Meaning: "A person was added to the org, without a password, with a setup token to set one.",
		Actors: byPrincipal, Subject: subjectUser + " (the new member)",
		Fields: []Field{
			field("email", String, "The member's email, normalized."),
			field("role", String, "The member's role."),
			field("setup_expires", Time, "When the setup token expires."),
		},
	},
	{
		Type: MemberRemoved, Meaning: "A member was removed from the org, with their sessions, API tokens and setup token.",
		Actors: byPrincipal, Subject: subjectUser,
		Fields: []Field{
			field("email", String, "The member's email."),
			field("role", String, "The role the member had."),
			fieldSessionsEnded,
			fieldTokensRevokedM,
		},
	},
	{
		Type: MemberRoleChanged, Meaning: "A member's role changed; their API tokens the new role does not cover were revoked for good.",
		Actors: byPrincipal, Subject: subjectUser,
		Fields: []Field{
			field("from", String, "The old role."),
			field("to", String, "The new role."),
			fieldTokensRevokedM,
		},
	},
	{
		Type: MemberPasswordSetupIssued, Meaning: "A member was given a new password setup token, replacing any earlier one.",
		Actors: byPrincipal, Subject: subjectUser,
		Fields: []Field{
			field("expires", Time, "When the setup token expires."),
		},
	},
	{
		Type: MemberPasswordSet, Meaning: "A member set their password with a setup token, which is used up, and every session of theirs ended.",
		Actors: byMember, Subject: subjectUser + " (the actor)",
		Fields: []Field{
			field("via", String, "`setup_token`."),
			fieldSessionsEnded,
		},
	},
	{
		Type: MemberSessionsEnded, Meaning: "Every session of a member was ended, and with it, if asked, every API token they made.",
		Actors: byPrincipal, Subject: subjectUser,
		Fields: []Field{
			fieldSessionsEnded,
			optional("api_tokens_revoked", Strings, "The IDs of the member's API tokens revoked; present when revoking them was asked."),
		},
	},
	{
		Type: AuthLoginSucceeded, Meaning: "A member logged in with email and password and a session began.",
		Actors: byMember, Subject: subjectUser + " (the actor)",
		Fields: []Field{
			field("session_id", String, "The session's public ID (never the token)."),
			fieldSource,
			field("expires", Time, "When the session expires."),
		},
	},
	{
		Type: AuthLoginFailed, Meaning: "A login to the org failed; the attempted password is never recorded.",
		Actors: byAnonymous, Subject: "the user ID of the member whose login failed; absent when no member has the email",
		Fields: []Field{
			field("email", String, "The email tried, normalized."),
			field("reason", String, "`unknown_email`, `password_not_set` or `wrong_password`."),
			fieldSource,
		},
	},
	{
		Type: AuthLogout, Meaning: "A member ended their session.",
		Actors: byMember, Subject: subjectUser + " (the actor)",
	},
	{
		Type: AuthPasswordChanged, Meaning: "A member changed their own password, and every other session of theirs ended.",
		Actors: byMember, Subject: subjectUser + " (the actor)",
		Fields: []Field{
			field("sessions_ended", Integer, "How many other sessions of the member ended."),
		},
	},
	{
		Type: AuthPasswordChangeFailed, Meaning: "A member's attempt to change their own password gave a wrong current password.",
		Actors: byMember, Subject: subjectUser + " (the actor)",
		Fields: []Field{
			field("reason", String, "`wrong_password`."),
		},
	},
	{
		Type: AuthAPITokenCreated, Meaning: "A member created an API token (its value is never recorded).",
		Actors: byMember, Subject: subjectToken,
		Fields: []Field{
			field("name", String, "The token's name."),
			field("role", String, "The token's role."),
			field("expires", Time, "When the token expires."),
		},
	},
	{
		Type: AuthAPITokenRevoked, Meaning: "An API token of the org was revoked.",
		Actors: byPrincipal, Subject: subjectToken,
		Fields: []Field{
			field("name", String, "The token's name."),
		},
	},
	{
		Type: AuthExpiredSwept, Meaning: "Expired credentials of the org were deleted; a count is present for each kind that had any.",
		Actors: bySystem, Subject: subjectOrg,
		Fields: []Field{
			optional("sessions", Integer, "Expired sessions deleted."),
			optional("api_tokens", Integer, "Expired API tokens deleted."),
			optional("setup_tokens", Integer, "Expired password setup tokens deleted."),
			optional("join_tokens", Integer, "Expired agent join tokens deleted."),
			optional("agent_tokens", Integer, "Expired agent access tokens deleted."),
		},
	},
	{
		Type: AgentJoinTokenCreated, Meaning: "A one-use join token for enrolling an agent was created (its value is never recorded).",
		Actors: byPrincipal, Subject: subjectJoinToken,
		Fields: []Field{
			field("expires", Time, "When the join token expires."),
		},
	},
	{
		Type: AgentJoinTokenRevoked, Meaning: "An unused join token was deleted.",
		Actors: byPrincipal, Subject: subjectJoinToken,
		Fields: []Field{
			field("created_by", String, "Who created the join token: a user ID or `token:<ID>`."),
			field("expires", Time, "When the join token would have expired."),
		},
	},
	{
		Type: AgentEnrolRefused, Meaning: "An enrolment with a join token was refused, and the join token is used up.",
		Actors: byAnonymous, Subject: subjectJoinToken,
		Fields: []Field{
			field("reason", String, "`expired`, `creator_removed`, `creator_lacks_permission`, `bad_public_key` or `bad_hostname`."),
			fieldSource,
		},
	},
	{
		Type: AgentEnrolled, Meaning: "An agent enrolled with a join token, which is used up, and its Ed25519 public key.",
		Actors: byAgent, Subject: subjectAgent + " (the actor)",
		Fields: []Field{
			field("hostname", String, "The hostname the agent gave."),
			field("public_key", String, "The agent's Ed25519 public key, standard base64."),
			field("join_token", String, "The join token's ID."),
			field("join_token_created_by", String, "Who created the join token: a user ID or `token:<ID>`."),
			fieldSource,
		},
	},
	{
		Type: AgentTokenIssued, Meaning: "An agent was issued an access token for a challenge signed with its key.",
		Actors: byAgent, Subject: subjectAgent + " (the actor)",
		Fields: []Field{
			field("token_id", String, "The access token's public ID (never the token)."),
			field("expires", Time, "When the access token expires."),
		},
	},
	{
		Type: AgentDecommissioned, Meaning: "An agent was decommissioned: every token of it revoked and its task stream closed.",
		Actors: byPrincipal, Subject: subjectAgent,
		Fields: []Field{
			field("tokens_revoked", Integer, "How many of the agent's access tokens were revoked."),
		},
	},
	{
		Type: AgentTaskCreated, Meaning: "An agent was asked to run a collector.",
		Actors: byPrincipal, Subject: subjectAgent,
		Fields: []Field{
			fieldTaskID,
			field("collector", String, "The collector: `file`, `users`, `sudoers`, `packages` or `command`."),
			field("target", String, "The collector's target (a path, a command name); empty for collectors that take none."),
		},
	},
	{
		Type: AgentTaskDelivered, Meaning: "A pending task was delivered to its agent.",
		Actors: byAgent, Subject: subjectAgent + " (the actor)",
		Fields: []Field{
			fieldTaskID,
		},
	},
	{
		Type: AgentTaskCompleted, Meaning: "An agent ended a task, succeeded or failed.",
		Actors: byAgent, Subject: subjectAgent + " (the actor)",
		Fields: []Field{
			fieldTaskID,
			field("state", String, "`succeeded` or `failed`."),
			field("detail", String, "The agent's words or a fixed reason; may be empty."),
			{Name: "evidence", Kind: Strings, Nullable: true, Meaning: "The SHA-256 (hex) of each evidence item the task recorded; null when none."},
		},
	},
	{
		Type: EvidenceRecorded, Meaning: "An evidence item of a task, its hash and agent signature verified, was stored by hash.",
		Actors: byAgent, Subject: subjectAgent + " (the actor)",
		Fields: []Field{
			fieldTaskID,
			field("collector", String, "The collector that collected it."),
			field("target", String, "The collector's target; may be empty."),
			field("sha256", String, "The SHA-256 of the content, hex."),
			field("size", Integer, "The content's size in bytes."),
			field("collected_time", Time, "When the agent says it collected the item (bounded by the server's clock)."),
			{Name: "scrubbed", Kind: Strings, Nullable: true, Meaning: "The kinds of data the agent scrubbed from the content ([a-z_]{1,32} each); null when none."},
			field("signature", String, "The agent's Ed25519 signature of the item, standard base64."),
		},
	},
	{
		Type: EvidenceRejected, Meaning: "A submission of evidence was refused whole because an item's hash or signature did not verify.",
		Actors: byAgent, Subject: subjectAgent + " (the actor)",
		Fields: []Field{
			fieldTaskID,
			field("item", Integer, "The index of the item refused in the submission."),
			field("reason", String, "Why the item was refused: its content does not match its sha256, or its signature does not verify with the agent's enrolled key."),
			field("claimed_sha256", String, "The SHA-256 the item claimed, hex; may be empty."),
		},
	},
	{
		Type: EvidenceExportRequested, Meaning: "An evidence package of the org's events in a scope was requested; the package covers the log up to this event.",
		Actors: byPrincipal, Subject: subjectExport,
		Fields: []Field{
			field("scope", Object, "The scope; an empty object selects every event."),
			optional("scope.start_time", Time, "Only events at or after this time."),
			optional("scope.end_time", Time, "Only events before this time."),
			optional("scope.types", Strings, "Only events of these types."),
			optional("scope.subjects", Strings, "Only events about these subjects."),
		},
	},
	{
		Type: EvidenceExportStarted, Meaning: "A requested export started running on a worker.",
		Actors: bySystem, Subject: subjectExport,
		Fields: []Field{
			field("attempt", Integer, "Which run of the export this is; always 1, as a restart fails an interrupted export."),
		},
	},
	{
		Type: EvidenceExportCompleted, Meaning: "An export finished and its signed package was stored.",
		Actors: bySystem, Subject: subjectExport,
		Fields: []Field{
			field("sha256", String, "The SHA-256 of the package, hex."),
			field("size", Integer, "The package's size in bytes."),
			field("event_count", Integer, "How many events the package holds."),
			field("tree_size", Integer, "The size of the tree whose checkpoint the package's proofs are against."),
			field("retain_until", Time, "Until when the store keeps the package."),
			field("worm", Boolean, "Whether the store locks the package against deletion until then (write once, read many)."),
		},
	},
	{
		Type: EvidenceExportFailed, Meaning: "An export failed, or a server restart found it interrupted.",
		Actors: bySystem, Subject: subjectExport,
		Fields: []Field{
			field("error", String, "A fixed text saying why; the detail is in the server log under the export ID."),
		},
	},
	{
		Type: EvidencePackageDownloaded, Meaning: "A finished evidence package was handed out.",
		Actors: byPrincipal, Subject: subjectExport,
		Fields: []Field{
			field("via", String, "`presigned_url` or `stream`."),
			field("sha256", String, "The SHA-256 of the package, hex."),
		},
	},
	{
		Type: ConnectorCreated, Meaning: "A connector was created, active, its credentials sealed under the org's primary key (their values are never recorded).",
		Actors: byPrincipal, Subject: subjectConnector,
		Fields: []Field{
			field("name", String, "The connector's name."),
			field("kind", String, "Its kind: `postgres`."),
			fieldSettings,
			field("credential_fields", Strings, "The credential fields given, e.g. `password`."),
			fieldInterval,
			field("key_id", Integer, "The ID of the org sealing key the credentials are sealed under."),
		},
	},
	{
		Type: ConnectorUpdated, Meaning: "A connector's name, settings or sync interval changed; the event states all three as they now are.",
		Actors: byPrincipal, Subject: subjectConnector,
		Fields: []Field{
			field("changed", Strings, "What changed: `name`, `settings`, `sync_interval`."),
			field("name", String, "The connector's name."),
			fieldSettings,
			fieldInterval,
		},
	},
	{
		Type: ConnectorPaused, Meaning: "A connector was paused: no syncs or changes until it is resumed.",
		Actors: byPrincipal, Subject: subjectConnector,
		Fields: []Field{
			field("reason", String, "The reason given; may be empty."),
			field("from", String, "The state it was in: `active` or `failed`."),
		},
	},
	{
		Type: ConnectorResumed, Meaning: "A paused connector was made active again.",
		Actors: byPrincipal, Subject: subjectConnector,
	},
	{
		Type: ConnectorFailed, Meaning: "An active connector became failed: a test or sync could not use it.",
		Actors: append(byPrincipal, ActorSystem), Subject: subjectConnector,
		Fields: []Field{
			field("reason", String, "Why: the connector's own message, which never carries a credential or the system's text."),
		},
	},
	{
		Type: ConnectorRecovered, Meaning: "A failed connector became active again: a test or sync succeeded.",
		Actors: append(byPrincipal, ActorSystem), Subject: subjectConnector,
	},
	{
		Type: ConnectorDecommissioned, Meaning: "A connector was decommissioned for good: its credentials and snapshot were purged and its name released; its record stays.",
		Actors: byPrincipal, Subject: subjectConnector,
		Fields: []Field{
			field("reason", String, "The reason given; may be empty."),
			{Name: "purged_fields", Kind: Strings, Nullable: true, Meaning: "The credential fields purged; null when none."},
		},
	},
	{
		Type: ConnectorTested, Meaning: "A connector's stored credentials were tried against its system.",
		Actors: byPrincipal, Subject: subjectConnector,
		Fields: []Field{
			field("ok", Boolean, "Whether the system accepted them."),
			field("error", String, "Why not; empty when ok. Never a credential or the system's text."),
		},
	},
	{
		Type: ConnectorCredentialAccessed, Meaning: "A connector's credentials were about to be opened and used: once per test, sync, rotation or access plan run, recorded before the use.",
		Actors: append(byPrincipal, ActorSystem), Subject: subjectConnector,
		Fields: []Field{
			field("purpose", String, "`test`, `sync`, `rotation` (the new credentials, validated against the system) or `plan` (an access plan's grants and revokes)."),
			{Name: "fields", Kind: Strings, Nullable: true, Meaning: "The credential fields used."},
			optional("sync_id", String, "The sync's ID, for `sync`."),
			optional("plan_id", String, "The plan's ID, for `plan`."),
		},
	},
	{
		Type: ConnectorRotationStarted, Meaning: "A credential rotation started: the connector is paused (`rotating`) until it ends.",
		Actors: byPrincipal, Subject: subjectConnector,
		Fields: []Field{
			fieldRotationID,
			field("fields", Strings, "The credential fields of the new set."),
			field("from", String, "The state the connector was in."),
			field("settings_changed", Boolean, "Whether new settings go with the new credentials (a renewed client certificate); they are put in force with them."),
		},
	},
	{
		Type: ConnectorRotationValidated, Meaning: "The system accepted the rotation's new credentials.",
		Actors: byPrincipal, Subject: subjectConnector,
		Fields: []Field{fieldRotationID},
	},
	{
		Type: ConnectorRotationStored, Meaning: "The rotation's new credentials were sealed and stored beside the old ones.",
		Actors: byPrincipal, Subject: subjectConnector,
		Fields: []Field{
			fieldRotationID,
			field("fields", Strings, "The credential fields stored."),
			field("key_id", Integer, "The ID of the org sealing key they are sealed under."),
		},
	},
	{
		Type: ConnectorRotationSwapped, Meaning: "The rotation's new credentials were put in force, with its new settings if it had any.",
		Actors: append(byPrincipal, ActorSystem), Subject: subjectConnector,
		Fields: []Field{
			fieldRotationID,
			field("fields", Strings, "The credential fields now in force."),
			optional("settings", Object, "The settings now in force, when the rotation changed them; never a credential."),
		},
	},
	{
		Type: ConnectorRotationPurged, Meaning: "The replaced credentials' ciphertexts were deleted.",
		Actors: append(byPrincipal, ActorSystem), Subject: subjectConnector,
		Fields: []Field{
			fieldRotationID,
			{Name: "fields", Kind: Strings, Nullable: true, Meaning: "The credential fields purged."},
		},
	},
	{
		Type: ConnectorRotationCompleted, Meaning: "A rotation ended with the new credentials in force, and the connector resumed.",
		Actors: append(byPrincipal, ActorSystem), Subject: subjectConnector,
		Fields: []Field{fieldRotationID, fieldResumeState},
	},
	{
		Type: ConnectorRotationFailed, Meaning: "The system refused a rotation's new credentials: the old ones stay in force and the connector resumed.",
		Actors: byPrincipal, Subject: subjectConnector,
		Fields: []Field{
			fieldRotationID,
			field("step", String, "The step that failed: `validate`."),
			field("error", String, "Why: the connector's own message, never a credential or the system's text."),
			fieldResumeState,
		},
	},
	{
		Type: ConnectorRotationRolledBack, Meaning: "A rotation that a server restart interrupted before its new credentials were stored was rolled back: the old ones stay in force and the connector resumed.",
		Actors: bySystem, Subject: subjectConnector,
		Fields: []Field{
			fieldRotationID,
			field("step", String, "The last step recorded: `started` or `validated`."),
			field("reason", String, "A fixed text saying why."),
			fieldResumeState,
		},
	},
	{
		Type: ConnectorSyncRequested, Meaning: "A sync of a connector was requested, by a person or by the connector's schedule.",
		Actors: append(byPrincipal, ActorSystem), Subject: subjectSync,
		Fields: []Field{field("connector_id", String, "The connector's ID.")},
	},
	{
		Type: ConnectorSyncStarted, Meaning: "A sync started running on a worker.",
		Actors: bySystem, Subject: subjectSync,
		Fields: []Field{fieldAttempt},
	},
	{
		Type: ConnectorSyncCompleted, Meaning: "A sync read the system and recorded its snapshot.",
		Actors: bySystem, Subject: subjectSync,
		Fields: []Field{
			field("connector_id", String, "The connector's ID."),
			field("identities", Integer, "Identities read."),
			field("entitlements", Integer, "Entitlements read."),
			field("grants", Integer, "Grants read."),
			field("grants_digest", String, "The SHA-256 of the grant set, hex (docs/connectors.md)."),
		},
	},
	{
		Type: ConnectorSyncFailed, Meaning: "A sync failed; the previous snapshot stays.",
		Actors: bySystem, Subject: subjectSync,
		Fields: []Field{fieldJobError},
	},
	{
		Type: ConnectorSyncRequeued, Meaning: "A sync that a server restart interrupted was queued to run again from the start.",
		Actors: bySystem, Subject: subjectSync,
		Fields: []Field{fieldRequeueReason, fieldRequeueAttempt},
	},
	{
		Type: ConnectorSnapshotRecorded, Meaning: "A connector's snapshot (its system's identities, entitlements and grants) was replaced by the one a sync read: the actual state access reviews and drift compare against.",
		Actors: bySystem, Subject: subjectConnector,
		Fields: []Field{
			field("sync_id", String, "The sync's ID."),
			field("identities", Integer, "Identities in the snapshot."),
			field("entitlements", Integer, "Entitlements in the snapshot."),
			field("grants", Integer, "Grants in the snapshot."),
			field("grants_digest", String, "The SHA-256 of the grant set, hex (docs/connectors.md)."),
			field("previous_grants_digest", String, "The previous snapshot's; empty for the first."),
		},
	},
	{
		Type: SealingKeyringCreated, Meaning: "The org's sealing keyring was made, with its first connector, and stored sealed under the server's key-encryption key.",
		Actors: bySystem, Subject: subjectOrg,
		Fields: []Field{field("key_id", Integer, "The ID of its first key, primary.")},
	},
	{
		Type: SealingKeyRotated, Meaning: "A new sealing key was added to the org's keyring and made primary; the reseal job moves every credential to it.",
		Actors: byPrincipal, Subject: subjectOrg,
		Fields: []Field{
			field("key_id", Integer, "The new primary key's ID."),
			field("previous_key_id", Integer, "The previous primary's ID."),
			field("reseal_job_id", String, "The reseal job's ID."),
		},
	},
	{
		Type: SealingCredentialsResealed, Meaning: "A connector's credentials were sealed again under the org's primary key.",
		Actors: bySystem, Subject: subjectConnector,
		Fields: []Field{
			field("fields", Strings, "The credential fields resealed."),
			field("from_key_ids", Integers, "The keys they were sealed under."),
			field("key_id", Integer, "The primary key they are now sealed under."),
		},
	},
	{
		Type: SealingKeysDisabled, Meaning: "Sealing keys that no credential uses any more were disabled: they open nothing from now on.",
		Actors: bySystem, Subject: subjectOrg,
		Fields: []Field{field("key_ids", Integers, "The keys disabled.")},
	},
	{
		Type: SealingResealStarted, Meaning: "A reseal job started running on a worker.",
		Actors: bySystem, Subject: subjectReseal,
		Fields: []Field{fieldAttempt},
	},
	{
		Type: SealingResealCompleted, Meaning: "A reseal job moved every credential to the primary key and disabled the keys left unused.",
		Actors: bySystem, Subject: subjectReseal,
		Fields: []Field{
			field("resealed", Integer, "Credential fields resealed."),
			{Name: "disabled_key_ids", Kind: Integers, Nullable: true, Meaning: "The keys disabled; null when none."},
		},
	},
	{
		Type: SealingResealFailed, Meaning: "A reseal job failed; the credentials it did not reach stay under their keys, which stay enabled.",
		Actors: bySystem, Subject: subjectReseal,
		Fields: []Field{fieldJobError},
	},
	{
		Type: SealingResealRequeued, Meaning: "A reseal job that a server restart interrupted was queued to run again from the start.",
		Actors: bySystem, Subject: subjectReseal,
		Fields: []Field{fieldRequeueReason, fieldRequeueAttempt},
	},
	{
		Type: AccessPolicyCreated, Meaning: "An access policy was created, at version 1; the event holds its full text.",
		Actors: byPrincipal, Subject: subjectPolicy,
		Fields: []Field{
			field("version", Integer, "The version: 1."),
			field("policy", Object, "The policy's full text, as docs/access.md describes it."),
		},
	},
	{
		Type: AccessPolicyUpdated, Meaning: "An access policy was given a new version, whose full text the event holds; requests decided before keep the version they were decided under.",
		Actors: byPrincipal, Subject: subjectPolicy,
		Fields: []Field{
			field("version", Integer, "The new version."),
			field("policy", Object, "The policy's full text."),
		},
	},
	{
		Type: AccessRequestSubmitted, Meaning: "An access request was allowed by a policy and recorded with its remediation plan; a plan that needs no approval starts with it.",
		Actors: byMember, Subject: subjectRequest,
		Fields: []Field{
			field("decision", Object, "The decision: allowed, the policy and version that allowed it, the exact input document the conditions saw, and every policy's verdict (docs/access.md); `nuxctl verify` replays it."),
			field("request", Object, "The request as recorded."),
			field("plan", Object, "Its plan: the actions, the approvers and the approvals required."),
		},
	},
	{
		Type: AccessRequestDenied, Meaning: "An access request no policy allows was refused; nothing else was recorded.",
		Actors: byMember, Subject: "`connector:<ID>`, the connector asked of",
		Fields: []Field{
			field("decision", Object, "The decision, as in access.request.submitted, with allowed false."),
			field("reason", String, "Why, as the requester was told."),
		},
	},
	{
		Type: AccessRequestCanceled, Meaning: "The requester canceled a pending request, and its plan.",
		Actors: byMember, Subject: subjectRequest,
		Fields: []Field{field("plan_id", String, "Its plan's ID.")},
	},
	{
		Type: AccessRequestExpired, Meaning: "A pending request was not decided in time; it and its plan expired.",
		Actors: bySystem, Subject: subjectRequest,
		Fields: []Field{field("plan_id", String, "Its plan's ID.")},
	},
	{
		Type: AccessPlanApproval, Meaning: "An assigned approver approved a plan that needs more approvals.",
		Actors: byPrincipal, Subject: subjectPlan,
		Fields: []Field{
			field("approver", String, "The approver's user ID."),
			field("comment", String, "Their comment; may be empty."),
			field("approvals", Integer, "Approvals so far, each from a different approver."),
			field("required", Integer, "Approvals the policy requires."),
		},
	},
	{
		Type: AccessPlanApproved, Meaning: "A plan got the approvals its policy requires; its run starts with this event.",
		Actors: byPrincipal, Subject: subjectPlan,
		Fields: []Field{
			field("approver", String, "The last approver's user ID."),
			field("comment", String, "Their comment; may be empty."),
			field("approvals", Integer, "Approvals, each from a different approver."),
			field("required", Integer, "Approvals the policy requires."),
		},
	},
	{
		Type: AccessPlanRejected, Meaning: "An assigned approver rejected a plan; it and its request end.",
		Actors: byPrincipal, Subject: subjectPlan,
		Fields: []Field{
			field("approver", String, "The approver's user ID."),
			field("comment", String, "Their comment; may be empty."),
			field("approvals", Integer, "Approvals before the rejection."),
			field("required", Integer, "Approvals the policy requires."),
		},
	},
	{
		Type: AccessPlanRunStarted, Meaning: "An approved plan's run started on a worker.",
		Actors: bySystem, Subject: subjectPlan,
		Fields: []Field{fieldAttempt},
	},
	{
		Type: AccessPlanRunCompleted, Meaning: "Every action of a plan was done.",
		Actors: bySystem, Subject: subjectPlan,
		Fields: []Field{
			field("plan_id", String, "The plan's ID."),
			field("actions", Integer, "Its actions."),
			field("failed", Integer, "Actions that failed: 0."),
		},
	},
	{
		Type: AccessPlanRunFailed, Meaning: "A plan's run failed: an action failed (its access.action.executed event says why), or the connector could not be used.",
		Actors: bySystem, Subject: subjectPlan,
		Fields: []Field{fieldJobError},
	},
	{
		Type: AccessPlanRunRequeued, Meaning: "A plan's run that a server restart interrupted was queued again; it resumes from the first action not done.",
		Actors: bySystem, Subject: subjectPlan,
		Fields: []Field{fieldRequeueReason, fieldRequeueAttempt},
	},
	{
		Type: AccessActionExecuted, Meaning: "A plan's action ran through its connector: a grant (the access grant starts now) or a revoke.",
		Actors: bySystem, Subject: subjectPlan,
		Fields: []Field{
			field("plan_id", String, "The plan's ID."),
			field("action", Integer, "The action's index in the plan."),
			field("kind", String, "`grant` or `revoke`."),
			field("connector_id", String, "The connector."),
			field("identity_id", String, "The identity, as the connector names it."),
			field("entitlement_id", String, "The entitlement, as the connector names it."),
			field("grant_id", String, "The access grant it made or ended."),
			field("ok", Boolean, "Whether it succeeded."),
			field("error", String, "Why not; empty when ok. Never a credential or the system's text."),
			optional("expires", Time, "For a grant with a duration: when it expires."),
			optional("baseline_dropped", Boolean, "For a revoke that succeeded: whether the connector's baseline held the access and no longer does (access Nuxari revoked is no longer desired)."),
		},
	},
	{
		Type: AccessGrantExpired, Meaning: "An access grant reached its expiry; its revoke plan runs at once, or waits for approval if its policy says so.",
		Actors: bySystem, Subject: subjectGrant,
		Fields: []Field{
			field("plan", Object, "The revoke plan."),
			field("expired", Time, "When the grant expired."),
		},
	},
	{
		Type: AccessBaselineAccepted, Meaning: "An admin accepted a connector's latest snapshot as its baseline: the access it had before Nuxari governed it.",
		Actors: byPrincipal, Subject: subjectConnector,
		Fields: []Field{
			field("sync_id", String, "The sync whose snapshot became the baseline."),
			field("grants", Integer, "Grants in the baseline."),
			field("grants_digest", String, "Their digest (docs/connectors.md)."),
		},
	},
	{
		Type: AccessDriftFound, Meaning: "A sync showed a difference between a connector's access and its desired state (baseline and active access grants); a policy that remediates drift made it a plan.",
		Actors: bySystem, Subject: subjectConnector,
		Fields: []Field{
			field("finding", Object, "The finding: identity, entitlement, kind (`unexpected` or `missing`), the sync."),
			optional("plan", Object, "The remediation plan (revoke the unexpected, restore the missing), when a policy makes one."),
		},
	},
	{
		Type: AccessDriftResolved, Meaning: "A drift finding was resolved: its plan ran, or a later sync no longer shows it.",
		Actors: bySystem, Subject: subjectFinding,
		Fields: []Field{
			field("resolution", String, "`remediated` or `synced`."),
			field("plan_canceled", Boolean, "Whether its remediation plan, still awaiting approval, was canceled with it."),
		},
	},
	{
		Type: AccessDriftChecked, Meaning: "A connector's latest snapshot was compared with its desired state.",
		Actors: bySystem, Subject: subjectConnector,
		Fields: []Field{
			field("sync_id", String, "The sync compared."),
			field("differences", Integer, "Differences seen (open findings included)."),
			field("resolved", Integer, "Open findings the snapshot no longer shows, resolved."),
		},
	},
	{
		Type: AccessReviewStarted, Meaning: "An admin started a review of a connector's grants in its latest snapshot; each grant is an item with its reviewers.",
		Actors: byPrincipal, Subject: subjectReview,
		Fields: []Field{
			field("review", Object, "The review: connector, name, the sync and grant-set digest (docs/connectors.md) reviewed, the item count, the reviewers of items no policy covers."),
			field("items_by_policy", Object, "For each policy that covers items: how many (its approvers review them)."),
		},
	},
	{
		Type: AccessReviewDecided, Meaning: "A reviewer kept or revoked items of a review; the items revoked are one plan, run at once.",
		Actors: byPrincipal, Subject: subjectReview,
		Fields: []Field{
			field("reviewer", String, "The reviewer's user ID."),
			field("decisions", Objects, "Each decision: `item` (its number), `identity_id`, `entitlement_id`, `decision` (`keep` or `revoke`), `comment`."),
			field("decided", Integer, "Items decided so far."),
			field("items", Integer, "Items of the review."),
			optional("plan", Object, "The plan that revokes the items revoked, if any."),
		},
	},
	{
		Type: AccessReviewCompleted, Meaning: "Every item of a review was decided and every plan it made has run.",
		Actors: bySystem, Subject: subjectReview,
		Fields: []Field{
			field("items", Integer, "Items of the review."),
			field("kept", Integer, "Items kept."),
			field("revoked", Integer, "Items revoked."),
			field("revoke_failed", Integer, "Revocations that failed or could not run."),
			field("plans", Objects, "Each plan's outcome: `plan_id`, `actions`, `failed`, `errors` (identity, entitlement and why)."),
		},
	},
	{
		Type: AccessReviewCanceled, Meaning: "An admin canceled an open review; undecided items stay undecided, and plans it made run on.",
		Actors: byPrincipal, Subject: subjectReview,
		Fields: []Field{
			field("decided", Integer, "Items decided."),
			field("items", Integer, "Items of the review."),
		},
	},
	{
		Type: AccessHistoryPruned, Meaning: "Finished access records older than the org's retention window were deleted from its state; their events stay in the log.",
		Actors: bySystem, Subject: subjectOrg,
		Fields: []Field{
			field("before", Time, "Records that ended before this time were deleted."),
			field("requests", Integer, "Requests deleted."),
			field("plans", Integer, "Plans deleted."),
			field("grants", Integer, "Ended access grants deleted."),
			field("findings", Integer, "Resolved drift findings deleted."),
			field("reviews", Integer, "Ended reviews deleted, with their items."),
		},
	},
	{
		Type: LedgerMigrated, Meaning: "The org's log was converted to a new storage layout by `nuxarid migrate`, with the server stopped; its entries, root hash and checkpoints are unchanged.",
		Actors: bySystem, Subject: subjectOrg,
		Fields: []Field{
			field("from_layout", Integer, "The storage layout the log was in (1: leaf and node records)."),
			field("to_layout", Integer, "The storage layout it is in now (2: hash tiles)."),
			field("tree_size", Integer, "The log's size when it was converted."),
			field("root_hash", String, "The root hash (hex) of the tree of that size, the same from the old records and the new, and extending the org's latest checkpoint."),
			field("resumed", Boolean, "An earlier run of the migration was interrupted after it had begun converting this log, and a later run finished it."),
		},
	},
}
