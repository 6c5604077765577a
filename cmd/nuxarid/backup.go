package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/nuxari/nuxari/server"
)

// oneArg accepts exactly one argument, named what in the usage error.
func oneArg(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != 1 {
			return usagef("%s takes one argument, %s; got %d", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

// newBackup is the backup command: a consistent backup of the data
// directory, taken by the running server through its admin socket, or
// from the data directory itself when no server runs on it.
func newBackup() *cobra.Command {
	var cfg server.Config
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "backup DIR",
		Short: "Write a consistent backup of the data directory into DIR, while the server runs",
		Long: `Backup writes a consistent backup of the data directory into DIR, which
must not exist: the ledger as of one instant (every org's log,
checkpoints and state), the key files and the local evidence packages.
A running server takes it through its admin socket (<data-dir>/admin.sock,
usable by the server's user only) and goes on serving; with no server
running, backup reads the data directory itself. Files are hard-linked
where the file system allows: copy DIR to other storage to survive the
disk. DIR holds the keys: keep it as secret as the data directory.
See docs/operations.md for restoring.`,
		Example: "  nuxarid backup --data-dir nuxari-data /var/backups/nuxari/2026-12-01",
		Args:    oneArg("the backup directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, running, err := server.RequestBackup(cmd.Context(), cfg.DataDir, args[0])
			if !running && err == nil {
				m, err = server.BackupStopped(cfg.DataDir, args[0], cfg.LogName)
			}
			if err != nil {
				return err
			}
			return printCheckpoints(cmd.OutOrStdout(), asJSON, m, fmt.Sprintf("backup written to %s (%d files and the ledger)", args[0], len(m.Files)), m.Checkpoints)
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	common(fs, &cfg)
	fs.BoolVar(&asJSON, "json", false, "print the backup's manifest as JSON")
	withEnv(fs)
	return cmd
}

// newRestore is the restore command: a backup copied into a new data
// directory, which a server then serves only once accepted.
func newRestore() *cobra.Command {
	var cfg server.Config
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "restore BACKUP",
		Short: "Restore a backup into a new data directory",
		Long: `Restore copies the backup BACKUP into the data directory, which must not
exist or be empty, checks every org's log against its latest checkpoint,
and prints each org's newest checkpoint (tree size and root hash).

The server it restores may have signed a longer log after the backup was
taken, and handed out its checkpoints (append receipts, evidence
packages). Serving the restored log would sign different trees at those
sizes: a fork every holder of such a checkpoint detects. So a restored
data directory is refused until started once with --accept-restore:
first compare each org's newest checkpoint printed here with the newest
checkpoint handed out for that org (docs/operations.md says where to
find them); if any handed-out checkpoint is larger, restore a newer
backup instead.`,
		Example: "  nuxarid restore --data-dir /var/lib/nuxari /var/backups/nuxari/2026-12-01",
		Args:    oneArg("the backup directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cps, err := server.Restore(args[0], cfg.DataDir, cfg.LogName)
			if err != nil {
				return err
			}
			return printCheckpoints(cmd.OutOrStdout(), asJSON, map[string]any{"data_dir": cfg.DataDir, "checkpoints": cps},
				fmt.Sprintf("restored %s into %s; check each org's newest checkpoint below, then start once with --accept-restore", args[0], cfg.DataDir), cps)
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	common(fs, &cfg)
	fs.BoolVar(&asJSON, "json", false, "print the restored checkpoints as JSON")
	withEnv(fs)
	return cmd
}

// printCheckpoints prints v as JSON, or the headline and one line per
// org's checkpoint.
func printCheckpoints(w io.Writer, asJSON bool, v any, headline string, cps []server.OrgCheckpoint) error {
	if asJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(v)
	}
	fmt.Fprintln(w, headline)
	for _, c := range cps {
		fmt.Fprintf(w, "  org %s: tree size %d, root hash %s\n", c.Org, c.TreeSize, c.RootHash)
	}
	return nil
}
