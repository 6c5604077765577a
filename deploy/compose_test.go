package deploy

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeEnv is what compose.yaml needs from the environment.
var composeEnv = []string{"NUXARI_S3_ACCESS_KEY=access", "NUXARI_S3_SECRET_KEY=secret", "POSTGRES_PASSWORD=pg"}

// loadCompose loads a compose file the way docker compose does: the
// Compose Specification's schema (no unknown keys), interpolation from
// env only (no .env file, not the test's environment).
func loadCompose(t *testing.T, file string, env []string) (*types.Project, error) {
	t.Helper()
	o, err := cli.NewProjectOptions([]string{file}, cli.WithEnv(env), cli.WithName("nuxari"))
	if err != nil {
		t.Fatal(err)
	}
	return o.LoadProject(context.Background())
}

// imageOf returns the image of the table that ref names, if any.
func imageOf(ref string) (Image, bool) {
	for _, im := range Images {
		if im.Ref(DefaultTag) == ref {
			return im, true
		}
	}
	return Image{}, false
}

func TestCompose(t *testing.T) {
	p, err := loadCompose(t, "compose.yaml", composeEnv)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"nuxarid", "s3", "s3-bucket", "postgres"} {
		if _, ok := p.Services[want]; !ok {
			t.Errorf("no service %s", want)
		}
	}
	ours := 0
	for name, s := range p.Services {
		repo, tag, ok := strings.Cut(s.Image, ":")
		if !ok || tag == "" || tag == "latest" {
			t.Errorf("%s: image %q has no pinned tag", name, s.Image)
		}
		if s.Restart != "no" && s.HealthCheck == nil {
			t.Errorf("%s: a long-running service with no health check", name)
		}
		for _, pt := range s.Ports {
			if pt.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %d published on %q, not loopback only", name, pt.Target, pt.HostIP)
			}
		}
		if !strings.HasPrefix(repo, "nuxari/") {
			continue
		}
		ours++
		im, ok := imageOf(s.Image)
		if !ok {
			t.Errorf("%s: image %s is not one `make image` builds", name, s.Image)
			continue
		}
		checkOurService(t, name, s, im)
	}
	if ours == 0 {
		t.Error("no service runs an image of ours")
	}

	// The server reaches the gateway, and its bucket, where they are.
	srv, gw, mk := p.Services["nuxarid"], p.Services["s3"], p.Services["s3-bucket"]
	port := regexp.MustCompile(`--port :(\d+)`).FindStringSubmatch(strings.Join(gw.Command, " "))
	if port == nil {
		t.Fatalf("s3: no --port in %q", gw.Command)
	}
	endpoint := "s3:" + port[1]
	if got := env(srv, "NUXARI_S3_ENDPOINT"); got != endpoint {
		t.Errorf("nuxarid: NUXARI_S3_ENDPOINT %q, want %q", got, endpoint)
	}
	script := strings.Join(mk.Command, " ")
	for _, want := range []string{"http://" + endpoint, "--bucket " + env(srv, "NUXARI_S3_BUCKET") + " ", "--object-lock-enabled-for-bucket", "grep -qx Enabled"} {
		if !strings.Contains(script, want) {
			t.Errorf("s3-bucket: command %q lacks %q", script, want)
		}
	}
	// The same credentials on both sides.
	for _, kv := range [][2]string{{"NUXARI_S3_ACCESS_KEY", "ROOT_ACCESS_KEY"}, {"NUXARI_S3_SECRET_KEY", "ROOT_SECRET_KEY"}} {
		if env(srv, kv[0]) != env(gw, kv[1]) {
			t.Errorf("nuxarid's %s is not the gateway's %s", kv[0], kv[1])
		}
	}
	if d := srv.DependsOn["s3-bucket"]; d.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("nuxarid starts on s3-bucket %q, want after it completed", d.Condition)
	}
	if d := mk.DependsOn["s3"]; d.Condition != types.ServiceConditionHealthy {
		t.Errorf("s3-bucket starts on s3 %q, want when healthy", d.Condition)
	}
	// The gateway is the version the tests run against.
	script2, err := os.ReadFile("../scripts/test-services.sh")
	if err != nil {
		t.Fatal(err)
	}
	v := regexp.MustCompile(`(?m)^VERSITYGW_VERSION=(\S+)$`).FindSubmatch(script2)
	if v == nil {
		t.Fatal("no VERSITYGW_VERSION in scripts/test-services.sh")
	}
	if want := "versity/versitygw:" + string(v[1]); gw.Image != want {
		t.Errorf("s3: image %s, want %s as the tests use", gw.Image, want)
	}
	if pg := p.Services["postgres"].Image; pg != "postgres:15" && !strings.HasPrefix(pg, "postgres:15.") {
		t.Errorf("postgres: image %s, want PostgreSQL 15", pg)
	}
}

// checkOurService checks a service that runs one of our images.
func checkOurService(t *testing.T, name string, s types.ServiceConfig, im Image) {
	if !s.ReadOnly {
		t.Errorf("%s: read_only is not true", name)
	}
	if want := fmt.Sprintf("%d:%d", UID, GID); s.User != want {
		t.Errorf("%s: user %q, want %q (the image's, not root)", name, s.User, want)
	}
	if !slices.Contains(s.CapDrop, "ALL") {
		t.Errorf("%s: cap_drop %v lacks ALL", name, s.CapDrop)
	}
	if !slices.Contains(s.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("%s: security_opt %v lacks no-new-privileges:true", name, s.SecurityOpt)
	}
	if len(s.Entrypoint) != 0 {
		t.Errorf("%s: entrypoint %q replaces the image's", name, s.Entrypoint)
	}
	// The health check runs a program of the image directly: there is
	// no shell to run CMD-SHELL.
	hc := s.HealthCheck
	if hc == nil || hc.Disable || len(hc.Test) < 2 || hc.Test[0] != "CMD" {
		t.Errorf("%s: health check %+v, want [CMD program ...]", name, hc)
	} else if dir, prog := path.Split(hc.Test[1]); path.Clean(dir) != BinDir || !slices.Contains(im.Programs, prog) {
		t.Errorf("%s: health check runs %s, not a program of %s", name, hc.Test[1], im.Repo)
	}
	// The state volume is where the image keeps its state, and the data
	// directory inside it.
	mounted := false
	for _, v := range s.Volumes {
		if v.Target == im.StateDir && v.Type == types.VolumeTypeVolume && !v.ReadOnly {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("%s: no volume on %s", name, im.StateDir)
	}
	if im.Programs[0] != "nuxarid" {
		return
	}
	var names []string
	for k := range s.Environment {
		names = append(names, k)
	}
	checkServerEnv(t, name, names)
	checkServerArgs(t, name, s.Command)
	if d := env(s, "NUXARI_DATA_DIR"); !strings.HasPrefix(d, im.StateDir+"/") {
		t.Errorf("%s: NUXARI_DATA_DIR %q is not inside the volume %s", name, d, im.StateDir)
	}
}

// env returns a service's environment variable.
func env(s types.ServiceConfig, k string) string {
	if v := s.Environment[k]; v != nil {
		return *v
	}
	return ""
}

// TestComposeStrict checks that the loader refuses what the tests above
// rely on it to refuse: an unknown key, and a missing secret (none has a
// default).
func TestComposeStrict(t *testing.T) {
	b, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(b), "read_only: true", "read_onyl: true", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadCompose(t, bad, composeEnv); err == nil || !strings.Contains(err.Error(), "read_onyl") {
		t.Errorf("unknown key: %v", err)
	}
	for i, kv := range composeEnv {
		name, _, _ := strings.Cut(kv, "=")
		without := slices.Delete(slices.Clone(composeEnv), i, i+1)
		if _, err := loadCompose(t, "compose.yaml", without); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s: %v", name, err)
		}
	}
}
