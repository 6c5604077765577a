package main

import (
	"fmt"
	"log/slog"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
)

// build describes the binary: its module version and, when the build
// recorded them, the VCS revision and commit time.
type build struct {
	Version   string // module version, "(devel)" for a build from a work tree
	Revision  string // VCS revision, "" if not recorded
	Time      string // commit time (RFC 3339), "" if not recorded
	Modified  bool   // the work tree had uncommitted changes
	GoVersion string
}

// buildInfo reads the binary's build information.
func buildInfo() build {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return build{Version: "(unknown)", GoVersion: runtime.Version()}
	}
	return buildFrom(bi)
}

func buildFrom(bi *debug.BuildInfo) build {
	b := build{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if b.Version == "" {
		b.Version = "(unknown)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is the text of "nuxarid version":
//
//	nuxarid v1.2.0
//	revision 0123abcd… (modified)
//	time 2026-11-29T10:00:00Z
//	go go1.26.8
func (b build) String() string {
	var s strings.Builder
	fmt.Fprintf(&s, "nuxarid %s\n", b.Version)
	if b.Revision != "" {
		fmt.Fprintf(&s, "revision %s", b.Revision)
		if b.Modified {
			s.WriteString(" (modified)")
		}
		s.WriteByte('\n')
	}
	if b.Time != "" {
		fmt.Fprintf(&s, "time %s\n", b.Time)
	}
	fmt.Fprintf(&s, "go %s\n", b.GoVersion)
	return s.String()
}

// attrs are the log attributes of the build: its version, and its
// revision and commit time when recorded.
func (b build) attrs() []any {
	as := []any{slog.String("version", b.Version)}
	if b.Revision != "" {
		as = append(as, slog.String("revision", b.Revision), slog.Bool("modified", b.Modified))
	}
	if b.Time != "" {
		as = append(as, slog.String("commit_time", b.Time))
	}
	return as
}

// newVersion is the version command.
func newVersion(b build) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and build (module version, VCS revision and time)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprint(cmd.OutOrStdout(), b)
			return err
		},
	}
}
