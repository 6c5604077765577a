package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/internal/buildinfo"
)

func writeConfig(t *testing.T) (path, stateDir string) {
	t.Helper()
	dir := t.TempDir()
	stateDir = filepath.Join(dir, "state")
	path = filepath.Join(dir, "agent.json")
	cfg := fmt.Sprintf(`{"server":"http://127.0.0.1:1","state_dir":%q}`, stateDir)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, stateDir
}

// TestUsage: each bad invocation fails with its own usage error, before
// doing anything: nothing on standard output and no state directory.
func TestUsage(t *testing.T) {
	t.Setenv(joinTokenEnv, "")
	conf, stateDir := writeConfig(t)
	for _, c := range []struct {
		args    []string
		wantErr string // the error's exact text, or a part of it after "…"
		stderr  string // what the flag package printed, if anything
	}{
		{nil, usage, ""},
		{[]string{"frobnicate", "--config", conf}, `unknown command "frobnicate"; ` + usage, ""},
		{[]string{"run", "--config", conf, "extra"}, `unexpected arguments ["extra"]; ` + usage, ""},
		{[]string{"enroll", "--config", conf, "nxj.acme.token"}, `unexpected arguments ["nxj.acme.token"]; ` + usage, ""},
		{[]string{"run", "--join-token", "x"}, "flag provided but not defined: -join-token", "-config string"},
		{[]string{"run", "--config"}, "flag needs an argument: -config", "-log-level string"},
		{[]string{"status", "--config", conf, "--log-level", "loud"}, `…--log-level: slog: level string "loud": unknown name`, ""},
	} {
		var out, errs bytes.Buffer
		err := run(c.args, strings.NewReader(""), &out, &errs)
		switch want, ok := strings.CutPrefix(c.wantErr, "…"); {
		case err == nil:
			t.Errorf("run(%q) succeeded", c.args)
			continue
		case ok && !strings.Contains(err.Error(), want), !ok && err.Error() != want:
			t.Errorf("run(%q) = %q, want %q", c.args, err, c.wantErr)
		}
		if out.Len() != 0 {
			t.Errorf("run(%q) wrote to standard output: %q", c.args, out.String())
		}
		if c.stderr != "" && !strings.Contains(errs.String(), c.stderr) {
			t.Errorf("run(%q) printed no flag usage (%q) on standard error: %q", c.args, c.stderr, errs.String())
		}
		if c.stderr == "" && errs.Len() != 0 {
			t.Errorf("run(%q) wrote to standard error: %q", c.args, errs.String())
		}
		if _, err := os.Stat(stateDir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("run(%q) touched the state directory: %v", c.args, err)
		}
	}
}

func TestStatusNotEnrolled(t *testing.T) {
	conf, _ := writeConfig(t)
	var out, errs bytes.Buffer
	err := run([]string{"status", "--config", conf}, strings.NewReader(""), &out, &errs)
	if err == nil || !strings.Contains(out.String(), "enrolled:  no") {
		t.Errorf("status: %v, %q", err, out.String())
	}
}

func TestJoinToken(t *testing.T) {
	t.Setenv(joinTokenEnv, "")
	tok, err := joinToken(strings.NewReader("nxj.acme.abc\nsecond line\n"))
	if err != nil || tok.Reveal() != "nxj.acme.abc" {
		t.Errorf("stdin: %v", err)
	}
	if _, err := joinToken(strings.NewReader("\n")); err == nil {
		t.Error("an empty line was taken as a join token")
	}
	t.Setenv(joinTokenEnv, " nxj.acme.env \n")
	tok, err = joinToken(strings.NewReader("nxj.acme.stdin\n"))
	if err != nil || tok.Reveal() != "nxj.acme.env" {
		t.Errorf("env: %v", err)
	}
	if _, ok := os.LookupEnv(joinTokenEnv); ok {
		t.Error("the join token stayed in the environment")
	}
}

func TestEnrollNeverLogsJoinToken(t *testing.T) {
	conf, _ := writeConfig(t)
	t.Setenv(joinTokenEnv, "")
	const tok = "nxj.acme.Zq9xWplantedplantedplantedplantedplanted0"
	var out, errs bytes.Buffer
	err := run([]string{"enroll", "--config", conf, "--log-level", "debug"}, strings.NewReader(tok+"\n"), &out, &errs)
	if err == nil {
		t.Fatal("enrolment with no server succeeded")
	}
	for _, s := range []string{out.String(), errs.String(), err.Error()} {
		if strings.Contains(s, "Zq9xW") {
			t.Errorf("the join token leaked: %s", s)
		}
	}
}

// TestVersion: version and --version print the build information and
// need no configuration; -h prints the usage; neither is an error.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		var out, errs bytes.Buffer
		if err := run(args, strings.NewReader(""), &out, &errs); err != nil {
			t.Errorf("run(%q): %v", args, err)
		}
		if want := "nuxari-agent " + buildinfo.Read().String() + "\n"; out.String() != want || errs.Len() != 0 {
			t.Errorf("run(%q) printed %q and %q, want %q", args, out.String(), errs.String(), want)
		}
		if !strings.Contains(out.String(), runtime.Version()) {
			t.Errorf("run(%q) does not name the Go version: %q", args, out.String())
		}
	}
	var out bytes.Buffer
	if err := run([]string{"version", "extra"}, strings.NewReader(""), &out, &out); err == nil || out.Len() != 0 {
		t.Errorf("version with an argument: %v, %q", err, out.String())
	}
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		var out, errs bytes.Buffer
		if err := run(args, strings.NewReader(""), &out, &errs); err != nil || !strings.HasPrefix(out.String(), usage) {
			t.Errorf("run(%q): %v, %q", args, err, out.String())
		}
	}
	var errs bytes.Buffer
	if err := run([]string{"run", "-h"}, strings.NewReader(""), &out, &errs); err != nil || !strings.Contains(errs.String(), "-config string") {
		t.Errorf("run -h: %v, %q", err, errs.String())
	}
}
