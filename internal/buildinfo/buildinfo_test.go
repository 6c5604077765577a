package buildinfo_test

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/internal/buildinfo"
)

func TestFromBuildInfo(t *testing.T) {
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want buildinfo.Info
		str  string
	}{
		{
			name: "release from a modified checkout",
			bi: debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
				{Key: "vcs", Value: "git"},
				{Key: "vcs.revision", Value: "4f1c2a9be3d0e6f7a8b9c0d1e2f3a4b5c6d7e8f9"},
				{Key: "vcs.time", Value: "2026-11-28T15:23:42Z"},
				{Key: "vcs.modified", Value: "true"},
			}},
			want: buildinfo.Info{Version: "v1.4.0", Revision: "4f1c2a9be3d0e6f7a8b9c0d1e2f3a4b5c6d7e8f9",
				Time: time.Date(2026, 11, 28, 15, 23, 42, 0, time.UTC), Modified: true, GoVersion: "go1.26.8"},
			str: "v1.4.0 (revision 4f1c2a9be3d0, 2026-11-28T15:23:42Z, modified; go1.26.8)",
		},
		{
			name: "clean checkout",
			bi: debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261128152342-4f1c2a9be3d0"}, Settings: []debug.BuildSetting{
				{Key: "vcs.revision", Value: "4f1c2a9be3d0e6f7a8b9c0d1e2f3a4b5c6d7e8f9"},
				{Key: "vcs.time", Value: "2026-11-28T15:23:42Z"},
				{Key: "vcs.modified", Value: "false"},
			}},
			want: buildinfo.Info{Version: "v0.0.0-20261128152342-4f1c2a9be3d0", Revision: "4f1c2a9be3d0e6f7a8b9c0d1e2f3a4b5c6d7e8f9",
				Time: time.Date(2026, 11, 28, 15, 23, 42, 0, time.UTC), GoVersion: "go1.26.8"},
			str: "v0.0.0-20261128152342-4f1c2a9be3d0 (revision 4f1c2a9be3d0, 2026-11-28T15:23:42Z; go1.26.8)",
		},
		{
			name: "no version control information",
			bi:   debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			want: buildinfo.Info{Version: "(devel)", GoVersion: "go1.26.8"},
			str:  "(devel) (go1.26.8)",
		},
		{
			name: "nothing known",
			want: buildinfo.Info{Version: "(devel)"},
			str:  "(devel)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := buildinfo.FromBuildInfo(&tt.bi)
			if got != tt.want {
				t.Errorf("FromBuildInfo = %+v, want %+v", got, tt.want)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("String = %q, want %q", s, tt.str)
			}
		})
	}
}

// TestRead: a test binary has build information, with the toolchain's
// version.
func TestRead(t *testing.T) {
	i := buildinfo.Read()
	if i.GoVersion != runtime.Version() || i.Version == "" || !strings.HasSuffix(i.String(), runtime.Version()+")") {
		t.Errorf("Read = %+v (%s)", i, i)
	}
}
