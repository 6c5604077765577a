package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// Credentials is what "nuxctl login" stores: the server, the org, and the
// session token. The file is created with mode 0600 in a directory of mode
// 0700 and is never world-readable, not even while it is written.
type Credentials struct {
	Server       string    `json:"server"`
	OrgID        string    `json:"org_id"`
	Email        string    `json:"email,omitempty"`
	UserID       string    `json:"user_id,omitempty"`
	SessionToken string    `json:"session_token"`
	ExpireTime   time.Time `json:"expire_time,omitzero"`
}

// String describes c without its session token, so that a stray %v never
// prints it.
func (c Credentials) String() string {
	return fmt.Sprintf("{server %s, org %s, user %s, session token [REDACTED]}", c.Server, c.OrgID, c.UserID)
}

// GoString is String, for %#v.
func (c Credentials) GoString() string { return c.String() }

// errNoCredentials: nothing is stored.
var errNoCredentials = errors.New("not logged in: run 'nuxctl login --org ID --email E' first, or pass --token")

// credentialsPath returns --config, $NUXCTL_CONFIG or
// <user config dir>/nuxari/credentials.json.
func (e *env) credentialsPath() (string, error) {
	if e.config != "" {
		return e.config, nil
	}
	if p := e.getenv(EnvConfig); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("credentials file: %w (set $%s)", err, EnvConfig)
	}
	return filepath.Join(dir, "nuxari", "credentials.json"), nil
}

// loadCredentials reads the stored credentials; errNoCredentials when
// there are none.
func (e *env) loadCredentials() (*Credentials, error) {
	path, err := e.credentialsPath()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNoCredentials
	}
	if err != nil {
		return nil, fmt.Errorf("credentials file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(e.stderr, "nuxctl: warning: %s is accessible by other users (mode %04o); run 'chmod 600 %s'\n", path, fi.Mode().Perm(), path)
	}
	var c Credentials
	dec := json.NewDecoder(f)
	if err := dec.Decode(&c); err != nil {
		// The decoder's message never quotes the file's values.
		return nil, fmt.Errorf("credentials file %s is corrupt: %w", path, err)
	}
	if c.SessionToken == "" || c.Server == "" {
		return nil, fmt.Errorf("credentials file %s is incomplete: run 'nuxctl login' again", path)
	}
	return &c, nil
}

// saveCredentials writes c, replacing any earlier file, as every file
// nuxctl writes (outFile): through a new file created 0600 in the same
// directory, synced, then renamed over the old one.
func (e *env) saveCredentials(c *Credentials) (string, error) {
	path, err := e.credentialsPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("credentials directory: %w", err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", err
	}
	out := &outFile{path: path, force: true, mode: 0o600}
	if err := out.writeBytes(append(b, '\n')); err != nil {
		return "", err
	}
	return path, nil
}

// deleteCredentials removes the credentials file; it reports whether one
// existed.
func (e *env) deleteCredentials() (bool, error) {
	path, err := e.credentialsPath()
	if err != nil {
		return false, err
	}
	err = os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("credentials file: %w", err)
	}
	return true, nil
}
