package main

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nuxari/nuxari/internal/buildinfo"
)

// versionText is the text of "nuxarid version" for build b:
//
//	nuxarid v1.2.0
//	revision 0123abcd… (modified)
//	time 2026-11-29T10:00:00Z
//	go go1.26.8
func versionText(b buildinfo.Info) string {
	var s strings.Builder
	fmt.Fprintf(&s, "nuxarid %s\n", b.Version)
	if b.Revision != "" {
		fmt.Fprintf(&s, "revision %s", b.Revision)
		if b.Modified {
			s.WriteString(" (modified)")
		}
		s.WriteByte('\n')
	}
	if !b.Time.IsZero() {
		fmt.Fprintf(&s, "time %s\n", b.Time.Format(time.RFC3339))
	}
	fmt.Fprintf(&s, "go %s\n", b.GoVersion)
	return s.String()
}

// buildAttrs are the log attributes of build b: its version, and its
// revision and commit time when recorded.
func buildAttrs(b buildinfo.Info) []any {
	as := []any{slog.String("version", b.Version)}
	if b.Revision != "" {
		as = append(as, slog.String("revision", b.Revision), slog.Bool("modified", b.Modified))
	}
	if !b.Time.IsZero() {
		as = append(as, slog.String("commit_time", b.Time.Format(time.RFC3339)))
	}
	return as
}

// newVersion is the version command.
func newVersion(b buildinfo.Info) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and build (module version, VCS revision and time)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), versionText(b))
			return err
		},
	}
}
