package governance

import (
	"slices"

	"github.com/nuxari/nuxari/governance/access"
	"github.com/nuxari/nuxari/governance/agents"
	"github.com/nuxari/nuxari/governance/connectors"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/evidence"
	"github.com/nuxari/nuxari/governance/jobs"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/sessions"
)

// StateKeys is the one registry of an org's state keys, under its own
// store handle: each feature lists the keys it owns (its StateKeys), the
// job runner its prefix. A key is either exact (a name) or a prefix that
// ends in "/" followed by an ID. No key of one is a prefix of another's
// (TestStateKeysDoNotCollide), so a scan of one feature's prefix never
// reads another's records.
var StateKeys = slices.Concat(
	orgs.StateKeys, sessions.StateKeys, agents.StateKeys, evidence.StateKeys, connectors.StateKeys, access.StateKeys,
	[]core.StateKey{{Key: jobs.KeyPrefix, Owner: "jobs"}},
)
