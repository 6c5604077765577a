package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// TestMain runs main itself when the test binary is re-executed by
// runMain, so the tests see the real process: arguments, streams and exit
// status.
func TestMain(m *testing.M) {
	if os.Getenv("NUXCTL_TEST_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

func runMain(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NUXARI_") && !strings.HasPrefix(kv, "NUXCTL_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "NUXCTL_TEST_RUN_MAIN=1", "NUXCTL_CONFIG="+t.TempDir()+"/credentials.json")
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"help"}, 0, "Usage:", ""},
		{[]string{"--version"}, 0, "nuxctl ", ""},
		{[]string{"version"}, 0, runtime.Version(), ""},
		{[]string{"completion", "bash"}, 0, "# bash completion V2 for nuxctl", ""},
		{nil, 2, "", "Usage:"},
		{[]string{"verify", "-h"}, 0, "Usage: nuxctl [global flags] verify FILE", ""},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"whoami", "--bogus"}, 2, "", "unknown flag: --bogus"},
		{[]string{"whoami"}, 5, "", "not logged in"},
		{[]string{"whoami", "--json"}, 5, "", "not logged in"},
		{[]string{"--server", "http://127.0.0.1:1", "--token", "t", "--json", "whoami"}, 1, "", "unavailable"},
		{[]string{"verify", "missing.json", "--key", "k", "--origin", "o"}, 1, "", "missing.json"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, stderr, code := runMain(t, "", tt.args...)
			if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
		})
	}
}
