package server_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// openLogged opens a server with cfg, returns its log lines and closes
// it.
func openLogged(t *testing.T, cfg server.Config) []logLine {
	t.Helper()
	logs := &servertest.SyncBuffer{}
	cfg.Logger = server.NewLogger(logs, 0)
	s, err := server.Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return decodeLog(t, logs.String())
}

// TestStartupLines: Open's first lines give the data directory as an
// absolute path, say which key files it generated (a warning: back them
// up) or loaded, and which evidence store it uses, with a warning that a
// local directory offers no WORM guarantee.
func TestStartupLines(t *testing.T) {
	t.Chdir(t.TempDir())
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(wd, "data")
	keys := []string{filepath.Join(data, "log.key"), filepath.Join(data, "kek.json"), filepath.Join(data, "evidence-signing.pem")}
	// A relative data directory is reported absolute.
	cfg := server.Config{DataDir: "data"}

	first := openLogged(t, cfg)
	if l := findLine(first, "data directory"); l == nil || l["path"] != data {
		t.Errorf("data directory line %v, want path %s", l, data)
	}
	gen := findLine(first, "generated new keys")
	if gen == nil || gen["level"] != "WARN" || !strings.Contains(gen.msg(), "back these files up") || !slices.Equal(gen.files(), keys) {
		t.Errorf("first start: generated-keys line %v, want a warning to back up %v", gen, keys)
	}
	if l := findLine(first, "loaded keys"); l != nil {
		t.Errorf("first start logged loaded keys: %v", l)
	}
	store := findLine(first, "evidence store")
	if store == nil || store["level"] != "WARN" || !strings.Contains(store.msg(), "no WORM guarantee") || store["dir"] != filepath.Join(data, "evidence") {
		t.Errorf("evidence store line %v, want a no-WORM warning naming %s", store, filepath.Join(data, "evidence"))
	}

	again := openLogged(t, cfg)
	if l := findLine(again, "generated new keys"); l != nil {
		t.Errorf("second start generated keys: %v", l)
	}
	if l := findLine(again, "loaded keys"); l == nil || l["level"] != "INFO" || !slices.Equal(l.files(), keys) {
		t.Errorf("second start: loaded-keys line %v, want %v", l, keys)
	}

	// A signing key outside the data directory, and evidence elsewhere:
	// only what is new is reported as generated.
	cfg.Evidence.SigningKeyFile, cfg.Evidence.Dir = "signing.pem", "packages"
	moved := openLogged(t, cfg)
	if l := findLine(moved, "generated new keys"); l == nil || !slices.Equal(l.files(), []string{filepath.Join(wd, "signing.pem")}) {
		t.Errorf("generated-keys line %v, want only %s", l, filepath.Join(wd, "signing.pem"))
	}
	if l := findLine(moved, "loaded keys"); l == nil || !slices.Equal(l.files(), keys[:2]) {
		t.Errorf("loaded-keys line %v, want %v", l, keys[:2])
	}
	if l := findLine(moved, "evidence store"); l == nil || l["dir"] != filepath.Join(wd, "packages") {
		t.Errorf("evidence store line %v, want dir %s", l, filepath.Join(wd, "packages"))
	}
}

// TestStartupLinesS3: with an S3 bucket the store line names the bucket
// and endpoint, and there is no WORM warning.
func TestStartupLinesS3(t *testing.T) {
	s3 := s3Config(t)
	lines := openLogged(t, server.Config{DataDir: t.TempDir(), Evidence: server.EvidenceConfig{S3: s3}})
	l := findLine(lines, "evidence store")
	if l == nil || l["level"] != "INFO" || l["bucket"] != s3.Bucket || l["endpoint"] != s3.Endpoint {
		t.Errorf("evidence store line %v, want bucket %s at %s", l, s3.Bucket, s3.Endpoint)
	}
	for _, l := range lines {
		if strings.Contains(l.msg(), "WORM") || strings.Contains(strings.ToLower(l.msg()), "local directory") {
			t.Errorf("S3 store logged %q", l.msg())
		}
	}
}

// TestServingLine: the serving line gives the address and the protocol,
// h2c or TLS.
func TestServingLine(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t, t.TempDir())
	for _, c := range []struct {
		name, protocol string
		opts           []servertest.Option
	}{
		{"h2c", "h2c", nil},
		{"TLS", "TLS", []servertest.Option{func(c *server.Config) { c.TLSCertFile, c.TLSKeyFile = certFile, keyFile }}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := servertest.Start(t, c.opts...)
			waitFor(t, "logging that it serves", func() bool { return strings.Contains(ts.Logs.String(), `"msg":"serving"`) })
			l := findLine(decodeLog(t, ts.Logs.String()), "serving")
			if l["protocol"] != c.protocol || !strings.HasSuffix(ts.URL, "://"+l["addr"].(string)) {
				t.Errorf("serving line %v, want protocol %s at %s", l, c.protocol, ts.URL)
			}
		})
	}
}
