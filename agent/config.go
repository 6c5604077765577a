// Package agent is nuxari-agent: an edge agent that dials out only. It
// enrols with a one-use join token and an Ed25519 key pair made on the
// host, swaps signed challenges for short-lived access tokens (held in
// memory only), opens the task stream of the gateway's
// AgentGatewayService (proto/nuxari/v1/agent.proto), runs the collectors
// its own configuration allows, and submits evidence that it scrubbed,
// hashed with SHA-256 and signed (agentgw/agentsig) before it leaves the
// host (DESIGN.md, promise 4). It opens no listening socket of any kind.
//
// A task journal in the state directory makes task handling survive
// restarts: a task is never submitted or completed twice by the agent,
// and one interrupted before its evidence was submitted is run again when
// the gateway delivers it again.
package agent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"connectrpc.com/connect"
)

// DefaultStateDir is where the agent keeps its key, identity and journal
// unless the configuration says otherwise.
const DefaultStateDir = "/var/lib/nuxari-agent"

// Default paths the users, sudoers and packages collectors read.
const (
	DefaultPasswdPath     = "/etc/passwd"
	DefaultGroupPath      = "/etc/group"
	DefaultSudoersPath    = "/etc/sudoers"
	DefaultSudoersDir     = "/etc/sudoers.d"
	DefaultDpkgStatusPath = "/var/lib/dpkg/status"
)

// ErrConfig is wrapped by every error about the configuration file.
var ErrConfig = errors.New("agent: invalid configuration")

// Config configures the agent. It is read from a JSON file (LoadConfig)
// whose fields are the json-tagged ones below; the untagged fields are
// set by code (the command, tests) and have working zero values.
type Config struct {
	// Server is the base URL of nuxarid, "https://nuxari.example.com" or,
	// for a server without TLS, "http://host:port". Required.
	Server string `json:"server"`
	// StateDir holds the agent's private key, identity and task journal
	// (created 0700). Default DefaultStateDir.
	StateDir string `json:"state_dir,omitempty"`
	// Collectors says what this agent may collect. A collector that is
	// not enabled here is refused whatever the server asks.
	Collectors Collectors `json:"collectors"`

	// Logger receives the agent's logs. Default: discard.
	Logger *slog.Logger `json:"-"`
	// HTTPClient carries the RPCs. Default client.HTTPClient(Server).
	// Its Timeout, if any, is not applied to the task stream.
	HTTPClient *http.Client `json:"-"`
	// ClientOptions are added to the gateway client's options (e.g.
	// connect.WithGRPC()).
	ClientOptions []connect.ClientOption `json:"-"`
	// Now is the clock. Default time.Now.
	Now func() time.Time `json:"-"`
	// BackoffBase and BackoffMax bound the reconnect delay: attempt n
	// waits a uniformly random time in [0, min(BackoffMax,
	// BackoffBase·2ⁿ)] ("full jitter"). Defaults 500 ms and 30 s.
	BackoffBase time.Duration `json:"-"`
	BackoffMax  time.Duration `json:"-"`
	// Hostname is sent at enrolment. Default os.Hostname().
	Hostname string `json:"-"`
}

// Collectors enables collectors and bounds what they read.
type Collectors struct {
	// Files are the absolute paths the "file" collector may read; a task
	// naming any other path is refused. Paths inside StateDir are not
	// allowed.
	Files []string `json:"files,omitempty"`
	// Users enables the "users" collector (accounts and group
	// memberships from PasswdPath and GroupPath; never password hashes).
	Users bool `json:"users,omitempty"`
	// Sudoers enables the "sudoers" collector (the rules of SudoersPath
	// and the files of SudoersDir, comments dropped).
	Sudoers bool `json:"sudoers,omitempty"`
	// Packages enables the "packages" collector (installed packages from
	// DpkgStatusPath).
	Packages bool `json:"packages,omitempty"`
	// Commands maps the names a "command" task may give as its target to
	// the exact argv run: an absolute program path and its arguments,
	// run without a shell, with a fixed minimal environment.
	Commands map[string][]string `json:"commands,omitempty"`

	// PasswdPath, GroupPath, SudoersPath, SudoersDir and DpkgStatusPath
	// override the files the collectors read (for tests and unusual
	// hosts). Defaults are the Default* constants.
	PasswdPath     string `json:"passwd_path,omitempty"`
	GroupPath      string `json:"group_path,omitempty"`
	SudoersPath    string `json:"sudoers_path,omitempty"`
	SudoersDir     string `json:"sudoers_dir,omitempty"`
	DpkgStatusPath string `json:"dpkg_status_path,omitempty"`

	// CommandTimeout bounds one command. Default 60 s.
	CommandTimeout time.Duration `json:"-"`
}

var commandName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// LoadConfig reads and checks the JSON configuration file at path.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	defer f.Close()
	cfg, err := ParseConfig(f)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes and checks a JSON configuration. Unknown fields,
// trailing data and invalid values are errors wrapping ErrConfig.
func ParseConfig(r io.Reader) (Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20+1))
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if len(data) > 1<<20 {
		return Config{}, fmt.Errorf("%w: larger than 1 MiB", ErrConfig)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if dec.More() {
		return Config{}, fmt.Errorf("%w: data after the JSON object", ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// Validate checks the file-configurable fields of c.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	if c.Server == "" {
		return bad("server is required")
	}
	u, err := url.Parse(c.Server)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return bad("server must be an http:// or https:// URL with a host and no user, query or fragment")
	}
	state := c.stateDir()
	if !filepath.IsAbs(state) {
		return bad("state_dir must be an absolute path")
	}
	col := c.Collectors
	for _, p := range col.Files {
		if !filepath.IsAbs(p) {
			return bad("collectors.files: %q is not an absolute path", p)
		}
		if within(filepath.Clean(p), filepath.Clean(state)) {
			return bad("collectors.files: %q is inside state_dir", p)
		}
	}
	for name, argv := range col.Commands {
		if !commandName.MatchString(name) {
			return bad("collectors.commands: %q is not a command name (1-64 of [A-Za-z0-9_.-], starting with a letter or digit)", name)
		}
		if len(argv) == 0 || !filepath.IsAbs(argv[0]) {
			return bad("collectors.commands.%s: argv must start with the absolute path of the program", name)
		}
		for _, a := range argv {
			if strings.ContainsRune(a, 0) {
				return bad("collectors.commands.%s: argv holds a NUL byte", name)
			}
		}
	}
	for field, p := range map[string]string{
		"passwd_path": col.PasswdPath, "group_path": col.GroupPath, "sudoers_path": col.SudoersPath,
		"sudoers_dir": col.SudoersDir, "dpkg_status_path": col.DpkgStatusPath,
	} {
		if p != "" && !filepath.IsAbs(p) {
			return bad("collectors.%s must be an absolute path", field)
		}
	}
	return nil
}

// within reports whether p is dir or inside it (both clean).
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

func (c Config) stateDir() string {
	if c.StateDir == "" {
		return DefaultStateDir
	}
	return c.StateDir
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

func (c Config) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}

func (c Config) backoff() (base, maxDelay time.Duration) {
	base, maxDelay = c.BackoffBase, c.BackoffMax
	if base <= 0 {
		base = 500 * time.Millisecond
	}
	if maxDelay <= 0 {
		maxDelay = 30 * time.Second
	}
	return base, max(base, maxDelay)
}
