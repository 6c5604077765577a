package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"connectrpc.com/connect"
	"github.com/nuxari/nuxari/client"
	"github.com/nuxari/nuxari/internal/secret"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
)

// withHTTPClient returns c with its HTTPClient set, so that every call
// shares one transport and its connections.
func (c Config) withHTTPClient() Config {
	if c.HTTPClient == nil {
		c.HTTPClient = client.HTTPClient(c.Server)
	}
	return c
}

// gateway returns a client of the gateway that sends token (if not
// empty) as a bearer token. Unless stream, calls are bounded by the HTTP
// client's timeout; a stream has none (its context bounds it).
func (c Config) gateway(token string, stream bool) nuxariv1connect.AgentGatewayServiceClient {
	hc := c.withHTTPClient().HTTPClient
	if stream && hc.Timeout != 0 {
		cp := *hc
		cp.Timeout = 0
		hc = &cp
	}
	opts := append([]connect.ClientOption{connect.WithInterceptors(client.Bearer(token))}, c.ClientOptions...)
	return nuxariv1connect.NewAgentGatewayServiceClient(hc, c.Server, opts...)
}

// Enroll enrols this host with the server: it makes an Ed25519 key pair
// here, sends the public key, the hostname and the one-use joinToken, and
// stores the private key (agent.key, 0600) and the identity the server
// gave (agent.json) in the state directory (0700). It refuses, with
// ErrAlreadyEnrolled, if the state directory already holds an identity.
// The join token is used once and never stored or logged.
func Enroll(ctx context.Context, cfg Config, joinToken secret.String) (Identity, error) {
	if err := cfg.Validate(); err != nil {
		return Identity{}, err
	}
	if joinToken.IsZero() {
		return Identity{}, errors.New("agent: the join token is empty")
	}
	dir := cfg.stateDir()
	if _, err := os.Stat(filepath.Join(dir, identityFile)); err == nil {
		return Identity{}, ErrAlreadyEnrolled
	} else if !errors.Is(err, fs.ErrNotExist) {
		return Identity{}, err
	}
	if err := ensureDir(dir); err != nil {
		return Identity{}, fmt.Errorf("agent: creating the state directory: %w", err)
	}
	host := cfg.Hostname
	if host == "" {
		h, err := os.Hostname()
		if err != nil {
			return Identity{}, fmt.Errorf("agent: hostname: %w", err)
		}
		host = h
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Identity{}, err
	}
	pemKey, err := encodeKey(key)
	if err != nil {
		return Identity{}, err
	}
	// The key is on disk before the join token is spent, so that a
	// successful enrolment can never be left without its key.
	keyPath := filepath.Join(dir, keyFile)
	if err := writeFileAtomic(keyPath, pemKey); err != nil {
		return Identity{}, fmt.Errorf("agent: writing %s: %w", keyFile, err)
	}
	resp, err := cfg.gateway("", false).Enroll(ctx, connect.NewRequest(&nuxariv1.EnrollRequest{
		JoinToken: joinToken.Reveal(),
		PublicKey: pub,
		Hostname:  host,
	}))
	if err != nil {
		os.Remove(keyPath)
		return Identity{}, fmt.Errorf("agent: enrolling with %s: %w", cfg.Server, err)
	}
	id := Identity{
		OrgID:    resp.Msg.OrgId,
		AgentID:  resp.Msg.AgentId,
		Server:   cfg.Server,
		Hostname: host,
		Enrolled: cfg.now().UTC(),
	}
	if id.OrgID == "" || id.AgentID == "" {
		os.Remove(keyPath)
		return Identity{}, errors.New("agent: the server's enrolment response lacks the org or agent ID")
	}
	data, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return Identity{}, err
	}
	if err := writeFileAtomic(filepath.Join(dir, identityFile), append(data, '\n')); err != nil {
		return Identity{}, fmt.Errorf("agent: enrolled as %s/%s but writing %s failed: %w", id.OrgID, id.AgentID, identityFile, err)
	}
	cfg.logger().Info("enrolled", "org_id", id.OrgID, "agent_id", id.AgentID, "server", cfg.Server, "key", Fingerprint(pub))
	return id, nil
}
