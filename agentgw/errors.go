package agentgw

import (
	"errors"
	"fmt"
)

var errAgentGone = errors.New("the agent was decommissioned or its token expired; get a new token")

func errf(format string, args ...any) error { return fmt.Errorf(format, args...) }
