package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"google.golang.org/protobuf/proto"

	"github.com/nuxari/nuxari/client"
)

// clients are the generated Connect clients of every service, all sending
// the same bearer token (if any), and the server they talk to.
type clients struct {
	client.Clients
	server string
}

// serverURL returns the server to talk to: --server, else $NUXARI_SERVER,
// else the stored credentials' server (if stored is not nil), else
// DefaultServer.
func (e *env) serverURL(stored *Credentials) (string, error) {
	s := e.server
	if s == "" {
		s = e.getenv(EnvServer)
	}
	if s == "" && stored != nil {
		s = stored.Server
	}
	if s == "" {
		s = DefaultServer
	}
	return normalizeServer(s)
}

// normalizeServer checks that s is an http:// or https:// URL and drops a
// trailing slash.
func normalizeServer(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", &usageError{msg: fmt.Sprintf("server %q is not an http:// or https:// URL", s)}
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// connect returns clients for the resolved server, authenticated with the
// resolved token: --token, else $NUXARI_TOKEN, else the stored session,
// which is only ever sent to the server it was issued by. Without any
// token it fails before any call.
func (e *env) connect() (*clients, error) {
	stored, err := e.loadCredentials()
	if err != nil && !errors.Is(err, errNoCredentials) {
		return nil, err
	}
	server, err := e.serverURL(stored)
	if err != nil {
		return nil, err
	}
	token := e.token
	if token == "" {
		token = e.getenv(EnvToken)
	}
	if token == "" && stored != nil && stored.Server == server {
		token = stored.SessionToken
	}
	if token == "" {
		if stored != nil {
			return nil, &exitError{code: ExitUnauthenticated, err: fmt.Errorf("the stored session is for %s, not %s: log in to %s or pass --token", stored.Server, server, server)}
		}
		return nil, errNoCredentials
	}
	return e.clientsFor(server, token), nil
}

// withPassword resolves the server for a call made with a password
// (sign-up, login), reads the password, and returns clients without a
// token. Unreadable stored credentials are ignored with a warning.
func (e *env) withPassword() (*clients, string, error) {
	stored, err := e.loadCredentials()
	if err != nil && !errors.Is(err, errNoCredentials) {
		fmt.Fprintf(e.stderr, "nuxctl: warning: ignoring the stored credentials: %v\n", err)
		stored = nil
	}
	server, err := e.serverURL(stored)
	if err != nil {
		return nil, "", err
	}
	pw, err := e.readPassword("Password")
	if err != nil {
		return nil, "", err
	}
	e.warnPlaintext(server)
	return e.clientsFor(server, ""), pw, nil
}

// clientsFor returns clients for server sending token (if not empty).
func (e *env) clientsFor(server, token string) *clients {
	if token != "" {
		e.warnPlaintext(server)
	}
	return &clients{
		Clients: client.New(server, token),
		server:  server,
	}
}

// warnPlaintext warns before credentials go over unencrypted HTTP to
// another machine.
func (e *env) warnPlaintext(server string) {
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "http" {
		return
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return
	}
	fmt.Fprintf(e.stderr, "nuxctl: warning: sending credentials to %s without TLS\n", host)
}

// listCmd is a list command: no arguments, every page fetched by page
// into all, then all as JSON or as the table fill writes.
func (e *env) listCmd(use, short, long string, all proto.Message, page func(c *clients, token string) (string, error), fill func(*table)) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Long: long,
		Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.connect()
			if err != nil {
				return err
			}
			if err := eachPage(func(token string) (string, error) { return page(c, token) }); err != nil {
				return err
			}
			if e.json {
				return e.printProto(all)
			}
			t := newTable(e.stdout)
			fill(t)
			return t.flush()
		},
	}
}

// maxPages bounds how many pages a list follows, against a server that
// never stops handing out page tokens.
const maxPages = 100_000

// eachPage calls fetch with "" and then with each next page token it
// returns, until it returns "".
func eachPage(fetch func(token string) (next string, err error)) error {
	token := ""
	for range maxPages {
		next, err := fetch(token)
		if err != nil || next == "" {
			return err
		}
		if next == token {
			return errors.New("the server returned the same page token twice")
		}
		token = next
	}
	return fmt.Errorf("the list has more than %d pages", maxPages)
}

// readPassword reads a password (or another secret). When standard input
// is a terminal it prompts on standard error and reads without echo;
// otherwise it reads the next line of standard input.
func (e *env) readPassword(prompt string) (string, error) {
	if e.stdinIsTerminal() {
		b, err := e.readTerminalSecret(prompt)
		if err != nil {
			return "", err
		}
		if len(b) == 0 {
			return "", fmt.Errorf("the %s is empty", strings.ToLower(prompt))
		}
		return string(b), nil
	}
	line, err := e.stdin.ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		return "", fmt.Errorf("write the %s on the first line of standard input", strings.ToLower(prompt))
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("the %s on standard input is empty", strings.ToLower(prompt))
	}
	return pw, nil
}

// stdinIsTerminal reports whether standard input is a terminal.
func (e *env) stdinIsTerminal() bool {
	return e.stdinFile != nil && isTerminal(e.stdinFile)
}

// readTerminalSecret prompts on standard error and reads one line from
// the terminal on standard input without echo.
func (e *env) readTerminalSecret(prompt string) ([]byte, error) {
	fmt.Fprintf(e.stderr, "%s: ", prompt)
	b, err := term.ReadPassword(int(e.stdinFile.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return nil, fmt.Errorf("reading the %s from the terminal: %w", strings.ToLower(prompt), err)
	}
	return b, nil
}
