package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/nuxari/nuxari/internal/agentsig"
	"github.com/nuxari/nuxari/internal/secret"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

// fallbackTokenLife is assumed for a token whose expiry, by the local
// clock, is already past or absurd (a skewed clock).
const fallbackTokenLife = time.Minute

// tokens gets and renews the agent's access token: GetChallenge, sign
// agentsig.TokenRequest with the agent key, GetAccessToken. The token is
// held in memory only, and renewed once 80% of its lifetime has passed.
type tokens struct {
	cfg Config
	id  Identity
	key ed25519.PrivateKey

	mu      sync.Mutex
	tok     secret.String
	renewAt time.Time
}

// get returns a valid access token, fetching a new one if there is none
// or the current one is due for renewal.
func (t *tokens) get(ctx context.Context) (secret.String, time.Time, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.cfg.now()
	if !t.tok.IsZero() && now.Before(t.renewAt) {
		return t.tok, t.renewAt, nil
	}
	gw := t.cfg.gateway("", false)
	ch, err := gw.GetChallenge(ctx, connect.NewRequest(&nuxariv1.GetChallengeRequest{OrgId: t.id.OrgID, AgentId: t.id.AgentID}))
	if err != nil {
		return secret.String{}, time.Time{}, &tokenError{err}
	}
	sig := ed25519.Sign(t.key, agentsig.TokenRequest(t.id.OrgID, t.id.AgentID, ch.Msg.Challenge))
	resp, err := gw.GetAccessToken(ctx, connect.NewRequest(&nuxariv1.GetAccessTokenRequest{
		OrgId: t.id.OrgID, AgentId: t.id.AgentID, Challenge: ch.Msg.Challenge, Signature: sig,
	}))
	if err != nil {
		return secret.String{}, time.Time{}, &tokenError{err}
	}
	if resp.Msg.AccessToken == "" {
		return secret.String{}, time.Time{}, &tokenError{errors.New("the server sent an empty access token")}
	}
	now = t.cfg.now()
	life := resp.Msg.GetExpireTime().AsTime().Sub(now)
	if life <= 0 || life > 24*time.Hour {
		life = fallbackTokenLife
	}
	t.tok = secret.New(resp.Msg.AccessToken)
	t.renewAt = now.Add(life * 4 / 5)
	t.cfg.logger().Debug("access token obtained", "renew_at", t.renewAt)
	return t.tok, t.renewAt, nil
}

// drop forgets tok, if it is still the current token, after the server
// refused it.
func (t *tokens) drop(tok secret.String) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if secret.Equal(t.tok, tok) {
		t.tok, t.renewAt = secret.String{}, time.Time{}
	}
}

// tokenError is a failure to get an access token.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return "getting an access token: " + e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

// refused reports whether the server refused the agent itself: unknown,
// decommissioned, or its key no longer accepted.
func (e *tokenError) refused() bool {
	switch connect.CodeOf(e.err) {
	case connect.CodeUnauthenticated, connect.CodePermissionDenied, connect.CodeNotFound:
		return true
	}
	return false
}
