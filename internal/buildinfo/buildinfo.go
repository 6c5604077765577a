// Package buildinfo describes the running binary from the build
// information the Go toolchain embeds in it (runtime/debug.ReadBuildInfo):
// the main module's version and, when it was built from a version-control
// checkout, the revision, the revision's commit time and whether the work
// tree had uncommitted changes. Every Nuxari command prints it for
// --version.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Info is what a binary knows about its own build.
type Info struct {
	// Version is the main module's version: a release tag, a
	// pseudo-version, or "(devel)" for a build without version control
	// information.
	Version string `json:"version"`
	// Revision is the version-control revision (vcs.revision), or "".
	Revision string `json:"revision,omitempty"`
	// Time is the revision's commit time (vcs.time), or zero.
	Time time.Time `json:"time,omitzero"`
	// Modified is set when the work tree had uncommitted changes
	// (vcs.modified).
	Modified bool `json:"modified,omitempty"`
	// GoVersion is the toolchain that built the binary.
	GoVersion string `json:"go_version"`
}

// Read returns the running binary's Info. A binary built without module
// support (which the go command no longer produces) reports "(devel)".
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{Version: "(devel)", GoVersion: runtime.Version()}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo extracts Info from build information.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	i := Info{Version: bi.Main.Version, GoVersion: bi.GoVersion}
	if i.Version == "" {
		i.Version = "(devel)"
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			if t, err := time.Parse(time.RFC3339Nano, s.Value); err == nil {
				i.Time = t.UTC()
			}
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// String is the one-line form --version prints, e.g.
//
//	v1.4.0 (revision 4f1c2a9be3d0, 2026-11-28T15:23:42Z, modified; go1.26.8)
//
// with what is unknown left out.
func (i Info) String() string {
	var vcs []string
	if i.Revision != "" {
		r := i.Revision
		if len(r) > 12 {
			r = r[:12]
		}
		vcs = append(vcs, "revision "+r)
	}
	if !i.Time.IsZero() {
		vcs = append(vcs, i.Time.Format(time.RFC3339))
	}
	if i.Modified {
		vcs = append(vcs, "modified")
	}
	detail := strings.Join(vcs, ", ")
	if i.GoVersion != "" {
		if detail != "" {
			detail += "; "
		}
		detail += i.GoVersion
	}
	if detail == "" {
		return i.Version
	}
	return i.Version + " (" + detail + ")"
}
