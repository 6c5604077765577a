package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
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

func TestUsage(t *testing.T) {
	conf, _ := writeConfig(t)
	for _, args := range [][]string{
		nil,
		{"frobnicate", "--config", conf},
		{"run", "--config", conf, "extra"},
		{"run", "--join-token", "x"},
		{"status", "--config", conf, "--log-level", "loud"},
	} {
		var out, errs bytes.Buffer
		if err := run(args, strings.NewReader(""), &out, &errs); err == nil {
			t.Errorf("run(%q) succeeded", args)
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
