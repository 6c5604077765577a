package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/nuxari/nuxari/internal/secret"
)

// maxInputFile bounds what nuxctl reads for a flag that names a file (a
// credential, a certificate) and a credential read from standard input.
const maxInputFile = 64 << 10

// stdinName is the file name that means standard input.
const stdinName = "-"

// readFlagFile reads the file that flag names: at most maxInputFile bytes,
// not a directory; "-" reads standard input to its end, unless it is a
// terminal. Every problem is a usage error that names the flag and the
// file, never what the file holds.
func (e *env) readFlagFile(cmd *cobra.Command, flag, path string) ([]byte, error) {
	if path == stdinName {
		if e.stdinIsTerminal() {
			return nil, usagef(pathOf(cmd), "--%s -: standard input is a terminal: pipe the file in or name it", flag)
		}
		return e.readStdinLimited(cmd, "--"+flag+" -")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef(pathOf(cmd), "--%s: %v", flag, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, usagef(pathOf(cmd), "--%s: %v", flag, err)
	} else if fi.IsDir() {
		return nil, usagef(pathOf(cmd), "--%s %s is a directory, not a file", flag, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxInputFile+1))
	if err != nil {
		return nil, usagef(pathOf(cmd), "--%s: %v", flag, err)
	}
	if len(b) > maxInputFile {
		return nil, usagef(pathOf(cmd), "--%s %s is larger than %s", flag, path, byteCount(maxInputFile))
	}
	return b, nil
}

// readStdinLimited reads standard input to its end: at most maxInputFile
// bytes.
func (e *env) readStdinLimited(cmd *cobra.Command, what string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(e.stdin, maxInputFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading standard input: %w", what, err)
	}
	if len(b) > maxInputFile {
		return nil, usagef(pathOf(cmd), "%s: standard input holds more than %s", what, byteCount(maxInputFile))
	}
	return b, nil
}

// dropNewline drops one trailing "\n" or "\r\n".
func dropNewline(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// credentialFlags say where a command reads a connector's credentials
// from: files or standard input, never flag values or the environment.
type credentialFlags struct {
	passwordFile  string
	passwordStdin bool
	clientKeyFile string
}

// credentials are what credentialFlags read.
type credentials struct {
	password  secret.String
	clientKey secret.String // PEM
}

func addCredentialFlags(cmd *cobra.Command) *credentialFlags {
	c := &credentialFlags{}
	f := cmd.Flags()
	f.StringVar(&c.passwordFile, "password-file", "", "read the password from `FILE` (- for standard input); one trailing newline is dropped")
	f.BoolVar(&c.passwordStdin, "password-stdin", false, "read the password from standard input: typed without echo at a terminal, else all of it, one trailing newline dropped")
	f.StringVar(&c.clientKeyFile, "client-key-file", "", "read the PEM private key for --client-cert-file from `FILE` (- for standard input)")
	return c
}

// check refuses a command line that gives no credential, or that would
// read standard input twice.
func (c *credentialFlags) check(cmd *cobra.Command) error {
	path := pathOf(cmd)
	for _, n := range []string{"password-file", "client-key-file"} {
		if f := cmd.Flags().Lookup(n); f.Changed && f.Value.String() == "" {
			return usagef(path, "--%s needs a FILE (- for standard input)", n)
		}
	}
	stdin := 0
	if c.passwordStdin || c.passwordFile == stdinName {
		stdin++
	}
	if c.clientKeyFile == stdinName {
		stdin++
	}
	switch {
	case c.passwordStdin && c.passwordFile != "":
		return usagef(path, "give one of --password-file and --password-stdin, not both")
	case stdin > 1:
		return usagef(path, "only one credential can come from standard input")
	case !c.passwordStdin && c.passwordFile == "" && c.clientKeyFile == "":
		return usagef(path, "no credentials: give --password-file FILE or --password-stdin, and/or --client-key-file FILE")
	}
	return nil
}

// read checks the flags and reads the credentials they name. The
// password loses one trailing newline; an empty password or key is a
// usage error.
func (c *credentialFlags) read(e *env, cmd *cobra.Command) (credentials, error) {
	var cr credentials
	if err := c.check(cmd); err != nil {
		return cr, err
	}
	path := pathOf(cmd)
	if c.passwordStdin || c.passwordFile != "" {
		var b []byte
		var err error
		switch {
		case (c.passwordStdin || c.passwordFile == stdinName) && e.stdinIsTerminal():
			b, err = e.readTerminalSecret("Connector password")
		case c.passwordStdin:
			b, err = e.readStdinLimited(cmd, "--password-stdin")
		default:
			b, err = e.readFlagFile(cmd, "password-file", c.passwordFile)
		}
		if err != nil {
			return cr, err
		}
		b = dropNewline(b)
		switch {
		case len(b) == 0:
			return cr, usagef(path, "the password is empty")
		case !utf8.Valid(b):
			return cr, usagef(path, "the password is not UTF-8 text")
		}
		cr.password = secret.New(string(b))
	}
	if c.clientKeyFile != "" {
		b, err := e.readFlagFile(cmd, "client-key-file", c.clientKeyFile)
		if err != nil {
			return cr, err
		}
		switch {
		case len(strings.TrimSpace(string(b))) == 0:
			return cr, usagef(path, "--client-key-file %s is empty", c.clientKeyFile)
		case !utf8.Valid(b):
			return cr, usagef(path, "--client-key-file %s is not PEM text", c.clientKeyFile)
		}
		cr.clientKey = secret.New(string(b))
	}
	return cr, nil
}
