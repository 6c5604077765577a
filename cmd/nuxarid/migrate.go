package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/nuxari/nuxari/server"
)

// newMigrate is the migrate command: the data directory's ledger
// converted to this version's storage layout, with the server stopped.
func newMigrate() *cobra.Command {
	var cfg server.Config
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Convert the data directory's ledger to this version's storage layout (server stopped)",
		Long: `Migrate converts the ledger of the data directory, written by an earlier
version in an older storage layout, to the layout this version reads; a
server of this version refuses the data directory until then. Take a
backup first and stop the server: migrate refuses a data directory a
server runs on.

Each org's log is converted in place, in synced batches: an interrupted
run (Ctrl-C, a crash) leaves the data directory to the next run, which
resumes. Before an org's old records go, its new hash tiles must give
the same root hash as they did and extend the org's latest checkpoint,
so every checkpoint handed out before still verifies. Each org's log then
records a ledger.migrated event (tree size and root hash). Progress goes
to standard error; at the end migrate prints each org's tree size and
root hash. A data directory already in this layout, or without a ledger,
is left as it is. See docs/operations.md, "Upgrades".`,
		Example: "  nuxarid migrate --data-dir /var/lib/nuxari",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Logger = slog.New(slog.DiscardHandler)
			p := progressPrinter{w: cmd.ErrOrStderr(), every: time.Second, now: time.Now, last: map[string]time.Time{}}
			rep, err := server.MigrateLedger(cmd.Context(), cfg, p.report)
			if err != nil {
				return err
			}
			return printMigration(cmd.OutOrStdout(), asJSON, rep)
		},
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	common(fs, &cfg)
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	withEnv(fs)
	return cmd
}

// progressPrinter prints a migration's progress: a line per org at most
// every so often, and the line of its end.
type progressPrinter struct {
	w     io.Writer
	every time.Duration
	now   func() time.Time
	last  map[string]time.Time
}

func (p progressPrinter) report(org string, done, size uint64) {
	now := p.now()
	if last, ok := p.last[org]; ok && done < size && now.Sub(last) < p.every {
		return
	}
	p.last[org] = now
	verb := "migrating"
	if done == size {
		verb = "migrated"
	}
	fmt.Fprintf(p.w, "%s org %s: %d/%d entries\n", verb, org, done, size)
}

// printMigration prints what MigrateLedger did, as JSON or as a headline
// and a line per org.
func printMigration(w io.Writer, asJSON bool, rep server.MigrationReport) error {
	if asJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(rep)
	}
	switch rep.Status {
	case server.MigrationNoLedger:
		fmt.Fprintf(w, "data directory %s holds no ledger yet: nothing to migrate\n", rep.DataDir)
		return nil
	case server.MigrationCurrent:
		fmt.Fprintf(w, "the ledger of %s is already in this version's storage layout: nothing changed\n", rep.DataDir)
	case server.MigrationMigrated:
		fmt.Fprintf(w, "migrated the ledger of %s from storage layout %d to %d (hash tiles): %d orgs\n", rep.DataDir, rep.FromLayout, rep.ToLayout, len(rep.Orgs))
	case server.MigrationRecorded:
		fmt.Fprintf(w, "the ledger of %s was migrated by an earlier run, which stopped before recording it in every org's log: recorded now\n", rep.DataDir)
	}
	for _, o := range rep.Orgs {
		fmt.Fprintf(w, "  org %s: tree size %d, root hash %s", o.Org, o.TreeSize, o.RootHash)
		switch {
		case o.Event == nil:
		case o.Recorded:
			fmt.Fprintf(w, ", ledger.migrated at index %d", *o.Event)
		default:
			fmt.Fprintf(w, ", ledger.migrated at index %d (by an earlier run)", *o.Event)
		}
		if o.Resumed {
			fmt.Fprint(w, ", resumed")
		}
		fmt.Fprintln(w)
	}
	if rep.RecordPending {
		fmt.Fprintln(w, "the data directory was restored from a backup: each org's ledger.migrated event is recorded at its first start with --accept-restore")
	}
	return nil
}
