package server_test

import (
	"fmt"
	"os"
	"testing"
)

// binDir holds the binaries the tests build (nuxarid, nuxari-agent); it
// is removed when the tests end.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nuxari-server-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
