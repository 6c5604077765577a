package pgtest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Skip and Fatal and stops the
// calling goroutine as they do.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	panic(r)
}

func (r *recorder) Fatal(args ...any) {
	r.failed = fmt.Sprint(args...)
	panic(r)
}

func (r *recorder) Fatalf(format string, args ...any) { r.Fatal(fmt.Sprintf(format, args...)) }

// run calls f with a recorder and reports what it recorded.
func run(f func(t testing.TB)) (r *recorder) {
	r = &recorder{}
	defer func() {
		if p := recover(); p != nil && p != r {
			panic(p)
		}
	}()
	f(r)
	return r
}

func setServerEnv(t *testing.T, ca string) {
	t.Helper()
	for k, v := range map[string]string{
		"NUXARI_TEST_PG_HOST": "127.0.0.1", "NUXARI_TEST_PG_PORT": "5432", "NUXARI_TEST_PG_USER": "admin",
		"NUXARI_TEST_PG_PASSWORD": "pw", "NUXARI_TEST_PG_DATABASE": "postgres", "NUXARI_TEST_PG_TLS_CA": ca,
	} {
		t.Setenv(k, v)
	}
}

func clearEnv(t *testing.T) {
	t.Helper()
	for _, k := range slices.Concat(serverVars, clientCertVars) {
		t.Setenv(k, "")
	}
}

func TestMissingServer(t *testing.T) {
	clearEnv(t)
	t.Setenv("CI", "")
	r := run(func(t testing.TB) {
		if _, ok := Lookup(t); ok {
			t.Fatal("Lookup found a server")
		}
	})
	if r.skipped != "" || r.failed != "" {
		t.Fatalf("Lookup without a server: skipped %q, failed %q", r.skipped, r.failed)
	}
	r = run(func(t testing.TB) { Need(t) })
	if !strings.Contains(r.skipped, "NUXARI_TEST_PG_HOST") || !strings.Contains(r.skipped, "scripts/test-services.sh") || r.failed != "" {
		t.Fatalf("Need without a server: skipped %q, failed %q", r.skipped, r.failed)
	}

	t.Setenv("CI", "true")
	for name, f := range map[string]func(testing.TB){
		"Lookup": func(t testing.TB) { Lookup(t) },
		"Need":   func(t testing.TB) { Need(t) },
	} {
		r := run(f)
		if !strings.Contains(r.failed, "NUXARI_TEST_PG_HOST") || r.skipped != "" {
			t.Errorf("%s under CI=true: skipped %q, failed %q", name, r.skipped, r.failed)
		}
	}
}

func TestClientCertRequired(t *testing.T) {
	clearEnv(t)
	t.Setenv("CI", "")
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, []byte("the CA"), 0o600); err != nil {
		t.Fatal(err)
	}
	setServerEnv(t, ca)
	var s Server
	r := run(func(t testing.TB) { s = Need(t) })
	if r.skipped != "" || r.failed != "" || s.Port != 5432 || s.CAPEM != "the CA" || s.CAFile != ca {
		t.Fatalf("Need: %+v, skipped %q, failed %q", s, r.skipped, r.failed)
	}
	r = run(func(t testing.TB) { NeedClientCert(t) })
	if !strings.Contains(r.skipped, "NUXARI_TEST_PG_TLS_CLIENT_USER") || strings.Contains(r.skipped, "NUXARI_TEST_PG_HOST") {
		t.Fatalf("NeedClientCert without the client certificate: skipped %q, failed %q", r.skipped, r.failed)
	}
}

func TestQuoting(t *testing.T) {
	if got, want := Ident(`a"b`), `"a""b"`; got != want {
		t.Errorf("Ident: %s, want %s", got, want)
	}
	if got, want := Literal(`it's`), `'it''s'`; got != want {
		t.Errorf("Literal: %s, want %s", got, want)
	}
}

func TestNewPrefix(t *testing.T) {
	a, b := NewPrefix(t), NewPrefix(t)
	if a == b {
		t.Errorf("two prefixes are both %s", a)
	}
	for _, p := range []string{a, b} {
		if !regexp.MustCompile(`^[a-z][a-z0-9]*_$`).MatchString(p) || len(p) > 20 {
			t.Errorf("prefix %q is not a short lower-case name", p)
		}
	}
}
