package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/server"
)

// newBootstrap is the bootstrap command: it creates an org and its first
// owner in the data directory while the server is stopped. The owner's
// password comes on standard input (first line), never as a flag.
func newBootstrap() *cobra.Command {
	var cfg server.Config
	var n orgs.NewOrg
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Create an org and its first owner in the data directory (server stopped)",
		Long: `Bootstrap creates an org and its first owner in the data directory, with
the server stopped, for instance when sign-up is off (--disable-signup).
The owner's password is the first line of standard input.`,
		Example: "  echo 'a long owner password' | nuxarid bootstrap --data-dir nuxari-data --org acme --owner-email ada@example.com",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
			if err != nil && (!errors.Is(err, io.EOF) || line == "") {
				return errors.New("write the owner's password on standard input")
			}
			n.OwnerPassword = secret.New(strings.TrimRight(line, "\r\n"))
			cfg.Logger = slog.New(slog.DiscardHandler)
			s, err := server.Open(cfg)
			if err != nil {
				return err
			}
			defer s.Close()
			org, owner, err := s.Service().Orgs.CreateOrg(cmd.Context(), n, true)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created org %s with owner %s (%s)\n", org.ID, owner.Email, owner.UserID)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	common(fs, &cfg)
	fs.StringVar(&n.ID, "org", "", "org ID (1 to 64 of [A-Za-z0-9_-])")
	fs.StringVar(&n.DisplayName, "name", "", "org display name")
	fs.StringVar(&n.OwnerEmail, "owner-email", "", "first owner's email")
	fs.StringVar(&n.OwnerDisplayName, "owner-name", "", "first owner's name")
	withEnv(fs)
	return cmd
}
