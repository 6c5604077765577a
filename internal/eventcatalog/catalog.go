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
)

// Subjects.
const (
	subjectOrg       = "the org's ID"
	subjectUser      = "the member's user ID"
	subjectToken     = "`token:<ID>`, the API token"
	subjectJoinToken = "`jointoken:<ID>`, the join token"
	subjectAgent     = "`agent:<ID>`, the agent"
	subjectExport    = "`export:<ID>`, the export"
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
}
