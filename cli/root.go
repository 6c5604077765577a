package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/nuxari/nuxari/internal/buildinfo"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// rootCommand builds the command tree for one run over e.
func (e *env) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:     "nuxctl",
		Short:   "the command-line tool for Nuxari",
		Version: buildinfo.Read().String(),
		Args:    cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				e.printRootHelp(e.stderr, cmd)
				return &exitError{code: ExitUsage}
			}
			return unknownCommand(cmd, args[0])
		},
		SilenceErrors: true,
		SilenceUsage:  true,
		// The completion command is ours, with the same help as the rest.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&e.server, "server", "", "server `URL` (default $"+EnvServer+", the logged-in server, or "+DefaultServer+")")
	pf.StringVar(&e.token, "token", "", "bearer token, e.g. an API token (default $"+EnvToken+" or the stored session)")
	pf.BoolVar(&e.json, "json", false, "print JSON for scripts instead of text (docs/cli.md)")
	pf.StringVar(&e.config, "config", "", "the credentials `FILE` (default $"+EnvConfig+" or <user config dir>/nuxari/credentials.json)")
	pf.BoolP("help", "h", false, "show help for the command")
	// Declared here so that cobra adds no -v shorthand.
	root.Flags().Bool("version", false, "print nuxctl's version and exit")
	root.SetVersionTemplate("nuxctl {{.Version}}\n")
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usagef(pathOf(cmd), "%v", err)
	})
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) { e.printHelp(cmd.OutOrStdout(), cmd) })
	root.SetUsageFunc(func(cmd *cobra.Command) error { e.printHelp(cmd.OutOrStderr(), cmd); return nil })
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [COMMAND]",
		Short: "show help for a command",
		Long:  "Show help for a command, or list the commands.",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return root.Help()
			}
			target, rest, err := root.Find(args)
			if err != nil || target == root || len(rest) > 0 {
				return usagef("help", "unknown command %q", strings.Join(args, " "))
			}
			return target.Help()
		},
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			parent, _, err := root.Find(args)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var names []cobra.Completion
			for _, c := range parent.Commands() {
				if c.IsAvailableCommand() && c.Name() != "help" {
					names = append(names, cobra.CompletionWithDesc(c.Name(), c.Short))
				}
			}
			return names, cobra.ShellCompDirectiveNoFileComp
		},
	})

	e.add(root,
		e.signupCmd(), e.loginCmd(), e.logoutCmd(), e.whoamiCmd(),
		e.group("org", "show or change the org's settings", e.orgGetCmd(), e.orgSetCmd()),
		e.group("member", "manage the org's members",
			e.memberAddCmd(), e.memberRemoveCmd(), e.memberRoleCmd(), e.memberListCmd(), e.memberSetupCmd(), e.memberEndSessionsCmd()),
		e.group("password", "set or change your password", e.passwordSetCmd(), e.passwordChangeCmd()),
		e.group("token", "manage API tokens", e.tokenCreateCmd(), e.tokenListCmd(), e.tokenRevokeCmd()),
		e.group("ledger", "read, append to and prove the org's log",
			e.ledgerCheckpointCmd(), e.ledgerEventCmd(), e.ledgerListCmd(), e.ledgerAppendCmd(), e.ledgerProveCmd()),
		e.group("evidence", "export, follow and download signed evidence packages",
			e.evidenceExportCmd(), e.evidenceStatusCmd(), e.evidenceListCmd(), e.evidenceDownloadCmd(), e.evidenceSigningKeyCmd()),
		e.group("agent", "enrol, task and decommission edge agents",
			e.agentJoinTokenCmd(), e.agentListCmd(), e.agentCollectCmd(), e.agentTaskCmd(), e.agentDecommissionCmd()),
		e.group("connector", "connect the systems whose access Nuxari reads",
			e.connectorCreateCmd(), e.connectorGetCmd(), e.connectorListCmd(), e.connectorUpdateCmd(), e.connectorTestCmd(),
			e.connectorPauseCmd(), e.connectorResumeCmd(), e.connectorRotateCmd(), e.connectorSyncCmd(), e.connectorSyncStatusCmd(),
			e.connectorGrantsCmd(), e.connectorDecommissionCmd(), e.connectorKeysCmd()),
		e.group("policy", "manage access policies: who may request what, approved by whom",
			e.policyCreateCmd(), e.policyGetCmd(), e.policyListCmd(), e.policyUpdateCmd()),
		e.group("request", "request access, and follow or cancel your requests",
			e.requestSubmitCmd(), e.requestListCmd(), e.requestGetCmd(), e.requestCancelCmd()),
		e.group("plan", "approve, reject and follow remediation plans",
			e.planListCmd(), e.planGetCmd(), e.planApproveCmd(), e.planRejectCmd(), e.planWaitCmd()),
		e.group("access", "list the access granted through plans", e.accessGrantsCmd()),
		e.group("drift", "accept a connector's baseline and list drift findings", e.driftBaselineCmd(), e.driftListCmd()),
		e.group("review", "review a connector's grants: keep or revoke each, and export the evidence",
			e.reviewStartCmd(), e.reviewListCmd(), e.reviewGetCmd(), e.reviewItemsCmd(), e.reviewDecideCmd(), e.reviewCancelCmd(), e.reviewExportCmd()),
		e.verifyCmd(),
		e.completionCmd(),
		e.versionCmd(),
	)
	return root
}

// groupAnnotation marks a command that only groups sub-commands.
const groupAnnotation = "nuxctl-group"

// group is a command that only holds sub-commands: alone it prints its
// usage to standard error and exits 2, as does an unknown sub-command.
func (e *env) group(name, short string, subs ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:         name + " <command>",
		Short:       short,
		Args:        cobra.ArbitraryArgs,
		Annotations: map[string]string{groupAnnotation: "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			cmd.SetOut(cmd.ErrOrStderr())
			cmd.HelpFunc()(cmd, nil)
			return &exitError{code: ExitUsage}
		},
		ValidArgsFunction: cobra.FixedCompletions(nil, cobra.ShellCompDirectiveNoFileComp),
	}
	e.add(g, subs...)
	return g
}

// add adds sub-commands to cmd; help lists them in this order.
func (e *env) add(cmd *cobra.Command, subs ...*cobra.Command) {
	if e.subs == nil {
		e.subs = map[*cobra.Command][]*cobra.Command{}
	}
	e.subs[cmd] = append(e.subs[cmd], subs...)
	cmd.AddCommand(subs...)
}

// children are cmd's sub-commands in the order they were added (cobra
// sorts them by name).
func (e *env) children(cmd *cobra.Command) []*cobra.Command {
	if s, ok := e.subs[cmd]; ok {
		return s
	}
	return cmd.Commands()
}

func isGroup(cmd *cobra.Command) bool { return cmd.Annotations[groupAnnotation] != "" }

// unknownCommand is the usage error for an unknown sub-command word of cmd.
func unknownCommand(cmd *cobra.Command, word string) error {
	name := strings.TrimSpace(pathOf(cmd) + " " + word)
	msg := fmt.Sprintf("unknown command %q", name)
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(word); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", strings.TrimSpace(pathOf(cmd)+" "+s[0]))
	}
	if cmd.HasParent() {
		msg += fmt.Sprintf("\nRun 'nuxctl help %s' for its commands.", pathOf(cmd))
		return &exitError{code: ExitUsage, err: fmt.Errorf("%s", msg)}
	}
	return usagef("", "%s", msg)
}

// pathOf is cmd's path without "nuxctl", e.g. "member add"; "" for the
// root.
func pathOf(cmd *cobra.Command) string {
	p := cmd.CommandPath()
	if i := strings.IndexByte(p, ' '); i >= 0 {
		return p[i+1:]
	}
	return ""
}

// synopsis is what cmd's Use says after its name, e.g. "USER_ID ROLE".
func synopsis(cmd *cobra.Command) string {
	_, s, _ := strings.Cut(cmd.Use, " ")
	return s
}

func (e *env) printHelp(w io.Writer, cmd *cobra.Command) {
	switch {
	case !cmd.HasParent():
		e.printRootHelp(w, cmd)
		return
	case isGroup(cmd):
		fmt.Fprintf(w, "Usage: nuxctl [global flags] %s <command>\n\n%s.\n\nCommands:\n", pathOf(cmd), sentence(cmd.Short))
		e.printSubs(w, cmd)
		fmt.Fprintf(w, "\nRun 'nuxctl %s <command> -h' for a command's flags.\n", pathOf(cmd))
		return
	}
	line := "Usage: nuxctl [global flags] " + pathOf(cmd)
	if s := synopsis(cmd); s != "" {
		line += " " + s
	}
	long := strings.TrimSpace(cmd.Long)
	if long == "" {
		long = sentence(cmd.Short) + "."
	}
	fmt.Fprintf(w, "%s\n\n%s\n", line, long)
	if cmd.HasAvailableSubCommands() {
		fmt.Fprint(w, "\nCommands:\n")
		e.printSubs(w, cmd)
	}
	if local := cmd.LocalNonPersistentFlags(); local.HasAvailableFlags() {
		fmt.Fprintf(w, "\nFlags:\n%s", local.FlagUsages())
	}
	fmt.Fprintf(w, "\nGlobal flags:\n%s", cmd.InheritedFlags().FlagUsages())
}

// sentence capitalizes s.
func sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// printSubs lists cmd's sub-commands by their full path, and those of a
// command that also runs itself (such as "agent join-token").
func (e *env) printSubs(w io.Writer, cmd *cobra.Command) {
	for _, c := range e.children(cmd) {
		if !c.IsAvailableCommand() {
			continue
		}
		fmt.Fprintf(w, "  %-24s %s\n", pathOf(c), c.Short)
		if !isGroup(c) {
			e.printSubs(w, c)
		}
	}
}

func (e *env) printRootHelp(w io.Writer, root *cobra.Command) {
	fmt.Fprint(w, `nuxctl is the command-line tool for Nuxari.

Usage:
  nuxctl [global flags] <command> [flags] [arguments]

Commands:
`)
	listed := map[*cobra.Command]bool{}
	for _, c := range append(e.children(root), root.Commands()...) {
		if !c.IsAvailableCommand() || listed[c] {
			continue
		}
		listed[c] = true
		if isGroup(c) {
			e.printSubs(w, c)
			continue
		}
		fmt.Fprintf(w, "  %-24s %s\n", pathOf(c), c.Short)
		e.printSubs(w, c)
	}
	fs := pflag.NewFlagSet("global", pflag.ContinueOnError)
	fs.AddFlagSet(root.PersistentFlags())
	if v := root.Flags().Lookup("version"); v != nil {
		fs.AddFlag(v)
	}
	fmt.Fprintf(w, "\nGlobal flags (before or after the command):\n%s", fs.FlagUsages())
	fmt.Fprintf(w, `
Passwords are read from standard input, never from flags: typed at a
terminal without echo, or the first line of piped input. A connector's
credentials come from files or standard input only (connector create -h).
Credentials are stored in --config, $%s or
<user config dir>/nuxari/credentials.json.

--json prints JSON on standard output; member names are snake_case
everywhere (the proto field names). Standard error is for people: warnings,
what --wait is waiting for, and progress.

Exit codes:
  %d  success
  %d  failure: an RPC error, a failed verification, a file in the way, ...
  %d  usage error: unknown command or flag, missing or bad argument
  %d  not found
  %d  permission denied
  %d  unauthenticated: not logged in, or the session or token is not valid
  %d  a waited-for (--wait) task, export, sync or reseal ended failed; for
     'plan wait', the plan failed or was rejected, expired or canceled
  %d  --wait or 'plan wait' gave up after --timeout

Run 'nuxctl <command> -h' for a command's flags, and 'nuxctl completion -h'
to set up shell completion. docs/cli.md has the details.
`, EnvConfig, ExitOK, ExitFailure, ExitUsage, ExitNotFound, ExitPermissionDenied, ExitUnauthenticated, ExitFailed, ExitTimeout)
}

func (e *env) completionCmd() *cobra.Command {
	shells := []string{"bash", "zsh", "fish", "powershell"}
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "print a shell completion script",
		Long: `Print the completion script for a shell on standard output. Load it in
the current shell, or install it once:

  bash:        source <(nuxctl completion bash)
               nuxctl completion bash > /etc/bash_completion.d/nuxctl
  zsh:         nuxctl completion zsh > "${fpath[1]}/_nuxctl"
  fish:        nuxctl completion fish > ~/.config/fish/completions/nuxctl.fish
  PowerShell:  nuxctl completion powershell | Out-String | Invoke-Expression

Completion covers commands, flags, roles and collectors; bash needs the
bash-completion package.`,
		Args:      nargs(1, 1),
		ValidArgs: shells,
		RunE: func(cmd *cobra.Command, args []string) error {
			root, w := cmd.Root(), e.stdout
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(w, true)
			case "zsh":
				return root.GenZshCompletion(w)
			case "fish":
				return root.GenFishCompletion(w, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(w)
			}
			return usagef(pathOf(cmd), "unknown shell %q: use one of %s", args[0], strings.Join(shells, ", "))
		},
	}
}

func (e *env) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print nuxctl's version",
		Long: `Print nuxctl's version: its module version and, when it was built from a
version-control checkout, the revision, its time and whether the tree was
modified. --version prints the same line.`,
		Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			i := buildinfo.Read()
			if e.json {
				return e.printJSON(i)
			}
			_, err := fmt.Fprintf(e.stdout, "nuxctl %s\n", i)
			return err
		},
	}
}
