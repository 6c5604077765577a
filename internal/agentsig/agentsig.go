// Package agentsig defines the exact bytes an edge agent signs with its
// Ed25519 key, for the agent and the gateway alike: a token request (the
// server's challenge) and each evidence item. Each payload starts with a
// distinct context line, so a signature over one can never pass as the
// other.
package agentsig

import (
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// TokenRequest is what an agent signs to get an access token:
//
//	nuxari-agent-token-v1\n<org>\n<agent ID>\n<hex challenge>\n
func TokenRequest(org, agentID string, challenge []byte) []byte {
	return []byte("nuxari-agent-token-v1\n" + org + "\n" + agentID + "\n" + hex.EncodeToString(challenge) + "\n")
}

// Evidence is what an agent signs for one evidence item: its hash, the
// collector and target, the agent, the collection time (RFC 3339, UTC,
// nanoseconds), the task and what was scrubbed (comma-separated):
//
//	nuxari-agent-evidence-v1\n<org>\n<agent ID>\n<task ID>\n<collector>\n
//	<len(target)>:<target>\n<RFC 3339 time>\n<hex SHA-256>\n<scrubbed>\n
//
// The target is length-prefixed because it is free text (a path).
func Evidence(org, agentID, taskID, collector, target string, collected time.Time, sha256 []byte, scrubbed []string) []byte {
	var b strings.Builder
	b.WriteString("nuxari-agent-evidence-v1\n")
	for _, s := range []string{org, agentID, taskID, collector} {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	b.WriteString(strconv.Itoa(len(target)))
	b.WriteByte(':')
	b.WriteString(target)
	b.WriteByte('\n')
	b.WriteString(collected.UTC().Format(time.RFC3339Nano))
	b.WriteByte('\n')
	b.WriteString(hex.EncodeToString(sha256))
	b.WriteByte('\n')
	b.WriteString(strings.Join(scrubbed, ","))
	b.WriteByte('\n')
	return []byte(b.String())
}
