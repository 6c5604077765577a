package governance

import "github.com/nuxari/nuxari/governance/jobs"

// The state keys of an org, under its own store handle: the one registry
// of them. Each capability owns its keys; a key is either exact (a name)
// or a prefix that ends in "/" followed by an ID. No key of one is a
// prefix of another's (TestStateKeysDoNotCollide), so a scan of one
// capability's prefix never reads another's records.
const (
	// Orgs and people.
	keyOrg      = "org"     // orgRecord
	keyPageKey  = "pagekey" // 32 random bytes: the MAC key of the org's page tokens
	keyOwners   = "owners"  // JSON list of the owners' user IDs (at least one)
	prefixUser  = "user/"   // <user ID>: userRecord
	prefixEmail = "email/"  // <email>: user ID (emails are unique per org, lower-cased)
	prefixSetup = "setup/"  // <hash>: setupRecord, a member's one-time password setup

	// Sessions and API tokens.
	prefixSess   = "session/"   // <hash>: sessionRecord; hash is hex SHA-256 of the token
	prefixToken  = "apitoken/"  // <token ID>: apiTokenRecord
	prefixTokenH = "tokenhash/" // <hash>: API token ID, by hex SHA-256 of the token

	// Agents.
	prefixJoin      = "jointoken/"  // <token ID>: joinRecord, deleted at its first use or revocation
	prefixAgent     = "agent/"      // <agent ID>: Agent (with its current token hashes)
	prefixAgentTok  = "agenttoken/" // <hash>: agent ID of an access token
	prefixTask      = "task/"       // <task ID>: Task
	prefixOpenTask  = "opentask/"   // <agent>/<task>: index of an agent's unfinished tasks
	prefixEvidenceB = "evidence/"   // <sha256>: evidence content

	// Evidence exports: records of earlier versions; exports are jobs now.
	prefixExport = "export/" // <export ID>: Export
)

// stateKey is one entry of the registry.
type stateKey struct {
	key, owner string
}

// stateKeys lists every state key of an org and the capability that owns
// it, for the test that no two collide.
var stateKeys = []stateKey{
	{keyOrg, "orgs"}, {keyPageKey, "paging"}, {keyOwners, "orgs"},
	{prefixUser, "people"}, {prefixEmail, "people"}, {prefixSetup, "people"},
	{prefixSess, "sessions"}, {prefixToken, "tokens"}, {prefixTokenH, "tokens"},
	{prefixJoin, "agents"}, {prefixAgent, "agents"}, {prefixAgentTok, "agents"},
	{prefixTask, "agents"}, {prefixOpenTask, "agents"}, {prefixEvidenceB, "agents"},
	{prefixExport, "evidence"}, {jobs.KeyPrefix, "jobs"},
}
