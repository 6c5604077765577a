// Package cli implements nuxctl, the command-line tool for the people who
// run a Nuxari org: owners and admins manage the org, its members and API
// tokens; auditors read the org's append-only log, fetch proofs, and verify
// proof bundles offline against a pinned C2SP tlog-checkpoint verifier key
// and origin (see bundle.go for the bundle format); members request access
// under policies, and approvers decide (access.go).
//
// It speaks to nuxarid over Connect (h2c for http:// URLs, TLS for
// https://). Passwords come from standard input, never from flags, and a
// connector's credentials from files or standard input (secrets.go);
// session and API tokens are never printed except the one time "token
// create" shows a new token's secret, and connector credentials never.
//
// The command line follows the conventions of kubectl and gh (spf13/cobra):
// flags may come before or after the command and its arguments, global
// flags apply to every command, and every command has -h. The exit codes
// (Exit*), the JSON convention of --json and the behaviour of --out,
// --wait and --timeout are documented in docs/cli.md.
package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Exit codes of Main. Scripts may rely on them: they are part of the
// interface, listed in 'nuxctl --help' and docs/cli.md.
const (
	ExitOK               = 0 // success
	ExitFailure          = 1 // any other failure: an RPC error, a failed verification, a file in the way …
	ExitUsage            = 2 // bad command line: an unknown command or flag, a missing or bad argument
	ExitNotFound         = 3 // the server answered not_found
	ExitPermissionDenied = 4 // the server answered permission_denied
	ExitUnauthenticated  = 5 // no credentials for the server, or it answered unauthenticated
	ExitFailed           = 6 // a waited-for (--wait) task, export, sync or reseal ended failed, or plan wait's plan ended other than done
	ExitTimeout          = 7 // --wait or plan wait gave up after --timeout
)

// DefaultServer is the server URL when neither --server, NUXARI_SERVER nor
// stored credentials name one.
const DefaultServer = "http://127.0.0.1:8080"

// Environment variables read by nuxctl.
const (
	EnvServer = "NUXARI_SERVER" // server URL, overridden by --server
	EnvToken  = "NUXARI_TOKEN"  // bearer token, overridden by --token
	EnvConfig = "NUXCTL_CONFIG" // credentials file path, overridden by --config
)

// CLI is one run of nuxctl with its standard streams and environment.
type CLI struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv reads the environment (default os.Getenv).
	Getenv func(string) string
}

// Main runs nuxctl with args (without the program name) over the process
// environment and returns the exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &CLI{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv}
	return c.Run(ctx, args)
}

// env is what every command runs with: the streams, the environment and
// the global flags.
type env struct {
	ctx            context.Context
	stdin          *bufio.Reader
	stdinFile      *os.File // stdin, when it is a file (for terminal detection)
	stdout, stderr io.Writer
	getenv         func(string) string

	server string // --server
	token  string // --token
	json   bool   // --json
	config string // --config

	subs map[*cobra.Command][]*cobra.Command // sub-commands, in the order help lists them
}

// Run runs nuxctl with args and returns the exit code.
func (c *CLI) Run(ctx context.Context, args []string) int {
	e := &env{ctx: ctx, stdout: c.Stdout, stderr: c.Stderr, getenv: c.Getenv}
	if e.getenv == nil {
		e.getenv = os.Getenv
	}
	if c.Stdin == nil {
		c.Stdin = strings.NewReader("")
	}
	if f, ok := c.Stdin.(*os.File); ok {
		e.stdinFile = f
	}
	e.stdin = bufio.NewReader(c.Stdin)
	if args == nil {
		args = []string{} // cobra reads os.Args for nil
	}
	root := e.rootCommand()
	root.SetArgs(args)
	root.SetIn(c.Stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	return e.report(root.ExecuteContext(ctx))
}

// usageError is a bad command line: Run prints it with a hint and exits 2.
type usageError struct {
	cmd string // the command path without "nuxctl", e.g. "member add"
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// exitError ends nuxctl with a given exit code, printing err (if not nil:
// a nil err means the message was already printed).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// errSilent is a failure (exit 1) whose message was already printed.
var errSilent = &exitError{code: ExitFailure}

// connectExit maps the Connect codes scripts may want to tell apart to
// their exit codes; any other code is ExitFailure.
var connectExit = map[connect.Code]int{
	connect.CodeNotFound:         ExitNotFound,
	connect.CodePermissionDenied: ExitPermissionDenied,
	connect.CodeUnauthenticated:  ExitUnauthenticated,
}

// report prints err and returns its exit code.
func (e *env) report(err error) int {
	var ue *usageError
	var xe *exitError
	var ce *connect.Error
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue) && ue.cmd == "":
		fmt.Fprintf(e.stderr, "nuxctl: %s\nRun 'nuxctl help' for usage.\n", ue.msg)
		return ExitUsage
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "nuxctl %s: %s\nRun 'nuxctl %s -h' for usage.\n", ue.cmd, ue.msg, ue.cmd)
		return ExitUsage
	case errors.As(err, &xe) && xe.err == nil:
		return xe.code
	case errors.As(err, &xe):
		fmt.Fprintf(e.stderr, "nuxctl: %v\n", xe.err)
		return xe.code
	case errors.Is(err, errNoCredentials):
		fmt.Fprintf(e.stderr, "nuxctl: %v\n", err)
		return ExitUnauthenticated
	case errors.As(err, &ce):
		fmt.Fprintf(e.stderr, "nuxctl: %s: %s\n", ce.Code(), ce.Message())
		if code, ok := connectExit[ce.Code()]; ok {
			return code
		}
		return ExitFailure
	}
	fmt.Fprintf(e.stderr, "nuxctl: %v\n", err)
	return ExitFailure
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
