// Command nuxari-agent is the Nuxari edge agent (package agent). It dials
// out only and opens no listening socket.
//
//	nuxari-agent enroll --config FILE   enrol with a join token read from
//	                                    $NUXARI_JOIN_TOKEN or the first
//	                                    line of standard input
//	nuxari-agent run --config FILE      run until SIGINT or SIGTERM
//	nuxari-agent status --config FILE   show the enrolment and journal
//	nuxari-agent version                print the version (also --version)
//
// Logs are JSON on standard error. The join token is never taken as a
// flag, so that it stays out of the process list and shell history.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/nuxari/nuxari/internal/logfmt"

	"github.com/nuxari/nuxari/agent"
	"github.com/nuxari/nuxari/internal/buildinfo"
	"github.com/nuxari/nuxari/internal/secret"
)

// joinTokenEnv names the environment variable that may hold the join
// token.
const joinTokenEnv = "NUXARI_JOIN_TOKEN"

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "nuxari-agent:", err)
		os.Exit(1)
	}
}

const usage = "usage: nuxari-agent enroll|run|status --config FILE [--log-level LEVEL] | nuxari-agent version"

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	cmd := args[0]
	switch cmd {
	case "version", "--version", "-version":
		if len(args) > 1 {
			return fmt.Errorf("unexpected arguments %q; %s", args[1:], usage)
		}
		_, err := fmt.Fprintf(stdout, "nuxari-agent %s\n", buildinfo.Read())
		return err
	case "help", "-h", "-help", "--help":
		_, err := fmt.Fprintf(stdout, "%s\n\nRun 'nuxari-agent COMMAND -h' for a command's flags.\n", usage)
		return err
	}
	fs := flag.NewFlagSet("nuxari-agent "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "/etc/nuxari-agent/nuxari-agent.json", "the agent's JSON configuration file")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // the flag package printed the usage
		}
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q; %s", fs.Args(), usage)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	cfg, err := agent.LoadConfig(*configPath)
	if err != nil {
		return err
	}
	cfg.Logger = slog.New(logfmt.NewJSONHandler(stderr, level))

	switch cmd {
	case "enroll":
		tok, err := joinToken(stdin)
		if err != nil {
			return err
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		id, err := agent.Enroll(ctx, cfg, tok)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "enrolled as agent %s of org %s\n", id.AgentID, id.OrgID)
		return nil
	case "run":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return agent.Run(ctx, cfg)
	case "status":
		return agent.Status(cfg, stdout)
	default:
		return fmt.Errorf("unknown command %q; %s", cmd, usage)
	}
}

// joinToken returns the join token from the environment or, failing
// that, the first line of stdin.
func joinToken(stdin io.Reader) (secret.String, error) {
	if v, ok := os.LookupEnv(joinTokenEnv); ok && strings.TrimSpace(v) != "" {
		os.Unsetenv(joinTokenEnv) // keep it from anything started later
		return secret.New(strings.TrimSpace(v)), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return secret.String{}, fmt.Errorf("reading the join token from stdin: %w", err)
	}
	tok := strings.TrimSpace(line)
	if tok == "" {
		return secret.String{}, fmt.Errorf("no join token: set %s or write it on the first line of standard input", joinTokenEnv)
	}
	return secret.New(tok), nil
}
