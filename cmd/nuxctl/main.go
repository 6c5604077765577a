// Command nuxctl is the Nuxari command-line tool for people: org owners
// and admins manage members and API tokens; auditors read the org's log,
// fetch proof bundles and verify them offline. Run 'nuxctl help'.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/nuxari/nuxari/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
