package cli

import (
	"fmt"
	"sort"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// What the commands have in common: argument checks, flags, and the shape
// of a command that acts on one ID.

// nargs checks that a command has between min and max positional
// arguments (max < 0: no limit).
func nargs(minArgs, maxArgs int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < minArgs:
			return usagef(pathOf(cmd), "missing arguments: want %s", synopsis(cmd))
		case maxArgs >= 0 && len(args) > maxArgs:
			return usagef(pathOf(cmd), "unexpected argument %q", args[maxArgs])
		}
		return nil
	}
}

// required fails when a required string flag is empty.
func required(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if f := cmd.Flags().Lookup(n); f != nil && f.Value.String() == "" {
			return usagef(pathOf(cmd), "--%s is required", n)
		}
	}
	return nil
}

// durationFlag is the value of an optional duration flag as a request
// field: nil when the flag is not given (the server's default), refused
// when it is not positive.
func durationFlag(cmd *cobra.Command, name string, d time.Duration) (*durationpb.Duration, error) {
	if !cmd.Flags().Changed(name) {
		return nil, nil
	}
	if d <= 0 {
		return nil, usagef(pathOf(cmd), "--%s must be positive", name)
	}
	return durationpb.New(d), nil
}

// roleFlag adds --role, completed with the role names.
func roleFlag(cmd *cobra.Command, p *string, usage string) {
	cmd.Flags().StringVar(p, "role", "", usage)
	_ = cmd.RegisterFlagCompletionFunc("role", func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return roleCompletions(), cobra.ShellCompDirectiveNoFileComp
	})
}

// roleCompletions are the role names, sorted.
func roleCompletions() []cobra.Completion {
	var names []cobra.Completion
	for n := range roleNames {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// onIDCmd is a command that acts on one ID given as its argument: it calls
// the server and prints the response as JSON or the line say makes of it.
func onIDCmd[R proto.Message](e *env, use, short, long string, call func(c *clients, id string) (R, error), say func(res R, id string) string) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Long: long,
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.connect()
			if err != nil {
				return err
			}
			res, err := call(c, args[0])
			if err != nil {
				return err
			}
			if e.json {
				return e.printProto(res)
			}
			_, err = fmt.Fprintln(e.stdout, say(res, printable(args[0])))
			return err
		},
	}
}

// msgOf returns a response's message, or the call's error.
func msgOf[T any](res *connect.Response[T], err error) (*T, error) {
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}
