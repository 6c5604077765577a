package agent_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/agent"
)

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		wantErr string // "" means valid
	}{
		{"minimal", `{"server":"https://n.example"}`, ""},
		{"full", `{"server":"http://127.0.0.1:8080","state_dir":"/var/lib/x","collectors":{"files":["/etc/ssh/sshd_config"],"users":true,"sudoers":true,"packages":true,"commands":{"uname":["/usr/bin/uname","-a"]},"passwd_path":"/tmp/p","group_path":"/tmp/g","sudoers_path":"/tmp/s","sudoers_dir":"/tmp/sd","dpkg_status_path":"/tmp/d"}}`, ""},
		{"unknown field", `{"server":"https://n.example","heartbeat":"10s"}`, `unknown field "heartbeat"`},
		{"unknown collector field", `{"server":"https://n.example","collectors":{"shadow":true}}`, `unknown field "shadow"`},
		{"trailing data", `{"server":"https://n.example"} {}`, "data after the JSON object"},
		{"not json", `server = x`, "invalid character"},
		{"wrong type", `{"server":"https://n.example","collectors":{"users":"yes"}}`, "cannot unmarshal"},
		{"no server", `{}`, "server is required"},
		{"bad scheme", `{"server":"ftp://n.example"}`, "http:// or https://"},
		{"no host", `{"server":"https://"}`, "http:// or https://"},
		{"user info", `{"server":"https://u:p@n.example"}`, "no user"},
		{"relative state dir", `{"server":"https://n.example","state_dir":"state"}`, "state_dir must be an absolute path"},
		{"relative file", `{"server":"https://n.example","collectors":{"files":["etc/passwd"]}}`, "not an absolute path"},
		{"file in state dir", `{"server":"https://n.example","collectors":{"files":["/var/lib/nuxari-agent/agent.key"]}}`, "inside state_dir"},
		{"file in state dir via dots", `{"server":"https://n.example","collectors":{"files":["/var/lib/x/../nuxari-agent/agent.key"]}}`, "inside state_dir"},
		{"relative program", `{"server":"https://n.example","collectors":{"commands":{"ls":["ls","-l"]}}}`, "absolute path of the program"},
		{"empty argv", `{"server":"https://n.example","collectors":{"commands":{"ls":[]}}}`, "absolute path of the program"},
		{"bad command name", `{"server":"https://n.example","collectors":{"commands":{"../x":["/bin/true"]}}}`, "not a command name"},
		{"relative passwd", `{"server":"https://n.example","collectors":{"passwd_path":"passwd"}}`, "passwd_path must be an absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := agent.ParseConfig(strings.NewReader(tt.json))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseConfig: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseConfig succeeded, want an error with %q", tt.wantErr)
			}
			if !errors.Is(err, agent.ErrConfig) {
				t.Errorf("error %v does not wrap ErrConfig", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not say %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadConfigExample(t *testing.T) {
	cfg, err := agent.LoadConfig(filepath.Join("..", "deploy", "nuxari-agent.json.example"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server == "" || len(cfg.Collectors.Files) == 0 || len(cfg.Collectors.Commands) == 0 || !cfg.Collectors.Users {
		t.Errorf("example config decoded to %+v", cfg)
	}
}

func TestLoadConfigMissing(t *testing.T) {
	_, err := agent.LoadConfig(filepath.Join(t.TempDir(), "none.json"))
	if !errors.Is(err, agent.ErrConfig) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadConfig of a missing file: %v", err)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add(`{"server":"https://n.example","collectors":{"files":["/etc/x"],"commands":{"a":["/bin/true"]}}}`)
	f.Add(`{"server":"http://h:1","state_dir":"/s"}`)
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := agent.ParseConfig(strings.NewReader(s))
		if err != nil {
			if !errors.Is(err, agent.ErrConfig) {
				t.Fatalf("error %v does not wrap ErrConfig", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("a parsed config does not validate: %v", err)
		}
	})
}
