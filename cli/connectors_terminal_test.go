//go:build linux

package cli_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/nuxari/nuxari/cli"
)

// TestConnectorPasswordNotEchoed: --password-stdin at a terminal prompts
// and reads the password without echo; it reaches the server whole.
func TestConnectorPasswordNotEchoed(t *testing.T) {
	h, f := connectorHarness(t)
	master, tty := openPTY(t)
	d := startDrain(t, master)
	var stdout bytes.Buffer
	stderr := &syncBuffer{}
	c := &cli.CLI{Stdin: tty, Stdout: &stdout, Stderr: stderr, Getenv: func(k string) string { return h.env[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := make(chan int, 1)
	go func() { code <- c.Run(ctx, createArgs("--password-stdin")) }()

	waitFor(t, "echo off and a prompt", func() bool {
		tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		if err != nil {
			t.Fatal(err)
		}
		return tio.Lflag&unix.ECHO == 0 && strings.Contains(stderr.String(), "Connector password: ")
	})
	if _, err := master.Write([]byte(connectorPassword + "\n")); err != nil {
		t.Fatal(err)
	}
	if got := <-code; got != cli.ExitOK {
		t.Fatalf("create: exit %d\n%s\n%s", got, stdout.String(), stderr.String())
	}
	if shown := d.shown(t, master); strings.Contains(shown, connectorPassword) {
		t.Error("the terminal echoed the password")
	}
	if strings.Contains(stdout.String()+stderr.String(), connectorPassword) {
		t.Error("nuxctl printed the password")
	}
	reqs := f.requests("CreateConnector")
	if len(reqs) != 1 || postgresCreds(reqs[0]).GetPassword() != connectorPassword {
		t.Fatalf("the password did not reach the server whole (%d requests)", len(reqs))
	}
}
