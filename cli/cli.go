// Package cli implements nuxctl, the command-line tool for the people who
// run a Nuxari org: owners and admins manage the org, its members and API
// tokens; auditors read the org's append-only log, fetch proofs, and verify
// proof bundles offline against a pinned C2SP tlog-checkpoint verifier key
// and origin (see bundle.go for the bundle format).
//
// It speaks to nuxarid over Connect (h2c for http:// URLs, TLS for
// https://). Passwords come from standard input, never from flags; session
// and API tokens are never printed except the one time "token create"
// shows a new token's secret.
package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Exit codes of Main.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the command ran and failed (RPC error, failed verification ...)
	ExitUsage   = 2 // bad command line
)

// DefaultServer is the server URL when neither --server, NUXARI_SERVER nor
// stored credentials name one.
const DefaultServer = "http://127.0.0.1:8080"

// Environment variables read by nuxctl.
const (
	EnvServer = "NUXARI_SERVER" // server URL, overridden by --server
	EnvToken  = "NUXARI_TOKEN"  // bearer token, overridden by --token
	EnvConfig = "NUXCTL_CONFIG" // credentials file path
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
}

// usageError is a bad command line: Run prints it with a hint and exits 2.
type usageError struct {
	cmd string // the command path, e.g. "member add"
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usagef(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// errSilent marks a failure whose message was already printed.
var errSilent = errors.New("failed")

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

	fs := flag.NewFlagSet("nuxctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&e.server, "server", "", "server URL (default $"+EnvServer+", the logged-in server, or "+DefaultServer+")")
	fs.StringVar(&e.token, "token", "", "bearer token, e.g. an API token (default $"+EnvToken+" or the stored session)")
	fs.BoolVar(&e.json, "json", false, "print JSON for scripts instead of text")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printTopUsage(e.stdout, fs)
			return ExitOK
		}
		fmt.Fprintf(e.stderr, "nuxctl: %v\nRun 'nuxctl help' for usage.\n", err)
		return ExitUsage
	}
	rest := fs.Args()
	if len(rest) == 0 {
		printTopUsage(e.stderr, fs)
		return ExitUsage
	}
	if rest[0] == "help" {
		return e.help(fs, rest[1:])
	}
	cmd, path, cargs := lookup(commands(), rest)
	switch {
	case cmd == nil:
		fmt.Fprintf(e.stderr, "nuxctl: unknown command %q\nRun 'nuxctl help' for the list of commands.\n", rest[0])
		return ExitUsage
	case cmd.run != nil:
		return e.report(cmd.run(e, cargs))
	case len(cargs) > 0 && isHelpFlag(cargs[0]):
		printGroupUsage(e.stdout, cmd, path)
		return ExitOK
	case len(cargs) > 0:
		fmt.Fprintf(e.stderr, "nuxctl: unknown command %q\nRun 'nuxctl help %s' for its commands.\n", strings.Join(append(path, cargs[0]), " "), cmd.name)
		return ExitUsage
	}
	printGroupUsage(e.stderr, cmd, path)
	return ExitUsage
}

// report prints err and returns its exit code.
func (e *env) report(err error) int {
	var ue *usageError
	var ce *connect.Error
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case errors.As(err, &ue) && ue.cmd == "":
		fmt.Fprintf(e.stderr, "nuxctl: %s\nRun 'nuxctl help' for usage.\n", ue.msg)
		return ExitUsage
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "nuxctl %s: %s\nRun 'nuxctl %s -h' for usage.\n", ue.cmd, ue.msg, ue.cmd)
		return ExitUsage
	case errors.Is(err, errSilent):
		return ExitFailure
	case errors.As(err, &ce):
		fmt.Fprintf(e.stderr, "nuxctl: %s: %s\n", ce.Code(), ce.Message())
		return ExitFailure
	}
	fmt.Fprintf(e.stderr, "nuxctl: %v\n", err)
	return ExitFailure
}

func (e *env) help(fs *flag.FlagSet, args []string) int {
	if len(args) == 0 {
		printTopUsage(e.stdout, fs)
		return ExitOK
	}
	cmd, path, rest := lookup(commands(), args)
	if cmd == nil || len(rest) > 0 {
		fmt.Fprintf(e.stderr, "nuxctl help: unknown command %q\nRun 'nuxctl help' for the list of commands.\n", strings.Join(args, " "))
		return ExitUsage
	}
	if cmd.run == nil {
		printGroupUsage(e.stdout, cmd, path)
		return ExitOK
	}
	// Every command prints its own usage for -h.
	return e.report(cmd.run(e, []string{"-h"}))
}

// command is a command or a group of sub-commands.
type command struct {
	name    string // the full path, e.g. "member add"
	summary string
	run     func(e *env, args []string) error
	subs    []*command
}

func (c *command) leaf() string { return c.name[strings.LastIndexByte(c.name, ' ')+1:] }

// commands is the command tree.
func commands() []*command {
	return []*command{
		{name: "signup", summary: "create an org and its first owner", run: runSignup},
		{name: "login", summary: "sign in and store the session", run: runLogin},
		{name: "logout", summary: "end the stored session and delete the credentials file", run: runLogout},
		{name: "whoami", summary: "show who the credentials authenticate as", run: runWhoAmI},
		{name: "org", summary: "show or change the org's settings", subs: []*command{
			{name: "org get", summary: "show the org", run: runOrgGet},
			{name: "org set", summary: "change the org's name or retention", run: runOrgSet},
		}},
		{name: "member", summary: "manage the org's members", subs: []*command{
			{name: "member add", summary: "add a member (prints their one-time setup token)", run: runMemberAdd},
			{name: "member remove", summary: "remove a member", run: runMemberRemove},
			{name: "member role", summary: "change a member's role", run: runMemberRole},
			{name: "member list", summary: "list the members", run: runMemberList},
			{name: "member setup-token", summary: "give a member a new one-time password setup token", run: runMemberSetup},
			{name: "member end-sessions", summary: "end every session of a member", run: runMemberEndSessions},
		}},
		{name: "password", summary: "set or change your password", subs: []*command{
			{name: "password set", summary: "set your password with a setup token (both on stdin)", run: runPasswordSet},
			{name: "password change", summary: "change your password (current and new on stdin)", run: runPasswordChange},
		}},
		{name: "token", summary: "manage API tokens", subs: []*command{
			{name: "token create", summary: "create an API token (its secret is shown once)", run: runTokenCreate},
			{name: "token list", summary: "list API tokens", run: runTokenList},
			{name: "token revoke", summary: "revoke an API token", run: runTokenRevoke},
		}},
		{name: "ledger", summary: "read, append to and prove the org's log", subs: []*command{
			{name: "ledger checkpoint", summary: "show a signed checkpoint", run: runLedgerCheckpoint},
			{name: "ledger event", summary: "show one event", run: runLedgerEvent},
			{name: "ledger list", summary: "list events", run: runLedgerList},
			{name: "ledger append", summary: "append a custom event", run: runLedgerAppend},
			{name: "ledger prove", summary: "write a self-contained proof bundle for one event", run: runLedgerProve},
		}},
		{name: "evidence", summary: "export, follow and download signed evidence packages", subs: []*command{
			{name: "evidence export", summary: "start exporting a package of the org's events", run: runEvidenceExport},
			{name: "evidence status", summary: "show an export's state and progress", run: runEvidenceStatus},
			{name: "evidence list", summary: "list the org's exports", run: runEvidenceList},
			{name: "evidence download", summary: "download a finished package, or get a presigned URL", run: runEvidenceDownload},
			{name: "evidence signing-key", summary: "show the public key that signs manifests", run: runEvidenceSigningKey},
		}},
		{name: "agent", summary: "enrol, task and decommission edge agents", subs: []*command{
			{name: "agent join-token", summary: "create a one-use join token (shown once)", run: runAgentJoinToken, subs: []*command{
				{name: "agent join-token list", summary: "list the unused join tokens", run: runAgentJoinTokenList},
				{name: "agent join-token revoke", summary: "revoke a join token", run: runAgentJoinTokenRevoke},
			}},
			{name: "agent list", summary: "list the org's agents", run: runAgentList},
			{name: "agent collect", summary: "ask an agent to run a collector", run: runAgentCollect},
			{name: "agent task", summary: "show a task and its evidence", run: runAgentTask},
			{name: "agent decommission", summary: "revoke an agent at once", run: runAgentDecommission},
		}},
		{name: "verify", summary: "verify a proof bundle or an evidence package offline against pinned keys", run: runVerify},
	}
}

// lookup finds the command that args name. It returns it (nil if none),
// the words that named it, and the remaining arguments.
func lookup(cmds []*command, args []string) (*command, []string, []string) {
	var found *command
	var path []string
	for len(args) > 0 {
		var next *command
		for _, c := range cmds {
			if c.leaf() == args[0] {
				next = c
			}
		}
		if next == nil {
			break
		}
		found, path, args = next, append(path, args[0]), args[1:]
		if next.subs == nil {
			break
		}
		cmds = next.subs
	}
	return found, path, args
}

func isHelpFlag(s string) bool {
	return s == "-h" || s == "--h" || s == "-help" || s == "--help"
}

func printTopUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprint(w, `nuxctl is the command-line tool for Nuxari.

Usage:
  nuxctl [global flags] <command> [flags] [arguments]

Commands:
`)
	for _, c := range commands() {
		if c.subs == nil {
			fmt.Fprintf(w, "  %-24s %s\n", c.name, c.summary)
			continue
		}
		printSubs(w, c.subs)
	}
	fmt.Fprint(w, "\nGlobal flags (before the command):\n")
	printDefaults(w, fs)
	fmt.Fprintf(w, `
Passwords are read from the first line of standard input, never from flags.
Credentials are stored in $%s or <user config dir>/nuxari/credentials.json.
Run 'nuxctl <command> -h' for a command's flags.
`, EnvConfig)
}

func printGroupUsage(w io.Writer, c *command, path []string) {
	fmt.Fprintf(w, "Usage: nuxctl [global flags] %s <command>\n\n%s%s.\n\nCommands:\n", strings.Join(path, " "), strings.ToUpper(c.summary[:1]), c.summary[1:])
	printSubs(w, c.subs)
}

// printSubs lists commands, and the sub-commands of a command that also
// runs itself (such as "agent join-token").
func printSubs(w io.Writer, cmds []*command) {
	for _, s := range cmds {
		fmt.Fprintf(w, "  %-24s %s\n", s.name, s.summary)
		printSubs(w, s.subs)
	}
}

// printDefaults prints fs's flags in the "--name value" form nuxctl's
// usage lines use.
func printDefaults(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if typ != "" {
			line += " " + typ
		}
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, strings.ReplaceAll(usage, "\n", "\n      "))
	})
}

// flags is a command's flag set and usage.
type flags struct {
	*flag.FlagSet
	name     string // e.g. "member add"
	synopsis string // e.g. "--email E --role R [--name N]"
	doc      string
}

func newFlags(name, synopsis, doc string) *flags {
	fs := flag.NewFlagSet("nuxctl "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return &flags{FlagSet: fs, name: name, synopsis: synopsis, doc: doc}
}

func (f *flags) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: nuxctl [global flags] %s %s\n\n%s\n", f.name, f.synopsis, strings.TrimSpace(f.doc))
	n := 0
	f.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		printDefaults(w, f.FlagSet)
	}
}

// parse parses args, allowing flags after positional arguments ("ledger
// event 7 --out leaf.json"); a "--" ends the flags. It checks that there
// are between minArgs and maxArgs positional arguments (maxArgs < 0: no
// limit). -h prints the usage to stdout and returns flag.ErrHelp.
func (f *flags) parse(e *env, args []string, minArgs, maxArgs int) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.usage(e.stdout)
				return nil, err
			}
			for _, g := range []string{"json", "server", "token"} {
				if strings.HasSuffix(err.Error(), "flag provided but not defined: -"+g) {
					return nil, usagef(f.name, "%v: --%s is a global flag; put it before the command: nuxctl --%s ... %s", err, g, g, f.name)
				}
			}
			return nil, usagef(f.name, "%v", err)
		}
		rest := f.Args()
		if len(rest) == 0 {
			break
		}
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	switch {
	case len(pos) < minArgs:
		return nil, usagef(f.name, "missing arguments: want %s", f.synopsis)
	case maxArgs >= 0 && len(pos) > maxArgs:
		return nil, usagef(f.name, "unexpected argument %q", pos[maxArgs])
	}
	return pos, nil
}

// required fails when a required string flag is empty.
func (f *flags) required(names ...string) error {
	for _, n := range names {
		if fl := f.Lookup(n); fl != nil && fl.Value.String() == "" {
			return usagef(f.name, "--%s is required", n)
		}
	}
	return nil
}

// isSet reports whether the flag was given on the command line.
func (f *flags) isSet(name string) bool {
	set := false
	f.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// runOnID runs a command that acts on one ID given as its argument: it
// parses f, calls the server, and prints the response as JSON or the line
// say makes of it.
func runOnID[R proto.Message](e *env, f *flags, args []string, call func(c *clients, id string) (R, error), say func(res R, id string) string) error {
	pos, err := f.parse(e, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := e.connect()
	if err != nil {
		return err
	}
	res, err := call(c, pos[0])
	if err != nil {
		return err
	}
	if e.json {
		return e.printProto(res)
	}
	fmt.Fprintln(e.stdout, say(res, printable(pos[0])))
	return nil
}

// msgOf returns a response's message, or the call's error.
func msgOf[T any](res *connect.Response[T], err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// durationFlag is the value of an optional duration flag as a request
// field: nil when the flag is not given (the server's default), refused
// when it is not positive.
func durationFlag(f *flags, name string, d time.Duration) (*durationpb.Duration, error) {
	if !f.isSet(name) {
		return nil, nil
	}
	if d <= 0 {
		return nil, usagef(f.name, "--%s must be positive", name)
	}
	return durationpb.New(d), nil
}
