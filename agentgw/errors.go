package agentgw

import "errors"

var errAgentGone = errors.New("the agent was decommissioned or its token expired; get a new token")
