// Command nuxarid is the Nuxari server.
//
//	nuxarid [serve] [flags]         serve (the default command)
//	nuxarid bootstrap [flags]       create an org and its first owner in the
//	                                data directory (server stopped)
//	nuxarid backup [flags] DIR      write a consistent backup of the data
//	                                directory into DIR (while the server runs)
//	nuxarid restore [flags] BACKUP  restore a backup into a new data directory
//	nuxarid migrate [flags]         convert the data directory's ledger to this
//	                                version's storage layout (server stopped)
//	nuxarid version, --version      print the version and build
//
// Every flag has an environment variable: --data-dir is NUXARI_DATA_DIR,
// and so on. Flags win over the environment. An unknown command,
// argument or flag, or a flag or variable with a bad value, is a usage
// error: nuxarid prints it and exits with status 2; -h and --help print
// the usage and exit 0; any other failure exits 1.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/nuxari/nuxari/internal/buildinfo"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(report(os.Stderr, err))
}

// report prints err and returns the exit status: 0 without an error, 2
// for a usage error, 1 otherwise.
func report(w io.Writer, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(w, "nuxarid:", err)
	if errors.As(err, new(usageError)) {
		fmt.Fprintln(w, "Run 'nuxarid --help' for usage.")
		return 2
	}
	return 1
}

// usageError is a command line that nuxarid does not accept.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// run runs the command line args (without the program name).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// newRoot builds the command tree. The root command serves, with the
// flags of serve, so that "nuxarid --data-dir X" is "nuxarid serve
// --data-dir X".
func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var sf serveFlags
	serveSet := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	serveSet.SortFlags = false
	sf.register(serveSet)
	withEnv(serveSet)
	runServe := func(cmd *cobra.Command, _ []string) error {
		return serve(cmd.Context(), &sf, stderr)
	}
	info := buildinfo.Read()
	root := &cobra.Command{
		Use:   "nuxarid",
		Short: "The Nuxari server",
		Long: `nuxarid is the Nuxari server: the ledger, the governance service and the
edge-agent gateway on one listener. Without a command it serves.

Every flag has an environment variable, shown in brackets; flags win over
the environment.`,
		Args:          noArgs,
		RunE:          runServe,
		Version:       versionText(info),
		SilenceErrors: true,
		SilenceUsage:  true,
		// The environment fills the flags the command line left unset.
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error { return applyEnv(cmd.Flags()) },
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SuggestionsMinimumDistance = 2
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("{{.Version}}")
	root.SetFlagErrorFunc(flagError)
	root.Flags().AddFlagSet(serveSet)
	// Declared here so that cobra adds no -v shorthand.
	root.Flags().Bool("version", false, "print the version and build, and exit")
	root.Flags().SortFlags = false

	serveCmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the API (the default command)",
		Long:  "Serve opens the data directory and serves the API until SIGINT or SIGTERM, then drains in-flight calls.",
		Args:  noArgs,
		RunE:  runServe,
	}
	serveCmd.Flags().AddFlagSet(serveSet)
	serveCmd.Flags().SortFlags = false
	root.AddCommand(serveCmd, newBootstrap(), newBackup(), newRestore(), newMigrate(), newVersion(info))
	return root
}

// noArgs refuses positional arguments, naming the first one.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if !cmd.HasParent() {
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			return usagef("unknown command %q (did you mean %q?)", args[0], s[0])
		}
		return usagef("unknown command %q", args[0])
	}
	return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
}

// flagError makes a flag that does not parse a usage error. A long flag
// written with one dash ("-data-dir", as Go's flag package allowed) is
// pointed to its two-dash form.
func flagError(cmd *cobra.Command, err error) error {
	var ne *pflag.NotExistError
	if errors.As(err, &ne) && ne.GetSpecifiedShortnames() != "" {
		name, _, _ := strings.Cut(ne.GetSpecifiedShortnames(), "=")
		if cmd.Flags().Lookup(name) != nil {
			return usagef("unknown flag -%s: long flags take two dashes (--%s)", name, name)
		}
	}
	return usageError{err}
}

// envName is the environment variable of a flag: NUXARI_ and its name in
// upper case, with "_" for "-".
func envName(flag string) string {
	return "NUXARI_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// withEnv names each flag's environment variable in its usage.
func withEnv(fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		f.Usage += fmt.Sprintf(" [$%s]", envName(f.Name))
	})
}

// applyEnv sets every flag that the command line left unset from its
// environment variable, if set.
func applyEnv(fs *pflag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed || f.Name == "help" || f.Name == "version" {
			return
		}
		env := envName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if serr := f.Value.Set(v); serr != nil {
				err = usagef("%s: %w", env, serr)
			}
		}
	})
	return err
}
