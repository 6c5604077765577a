package governance

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"

	"github.com/nuxari/nuxari/governance/store"
)

// Page tokens are opaque to clients and bound to one org and one listing:
// base64url(payload || tag), where tag is the first 16 bytes of
// HMAC-SHA-256 under the org's own page key over the listing's name and the
// payload. A token from another org, another listing or with changed bytes
// fails its tag.
const pageTagLen = 16

func pageTag(key []byte, listing string, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(listing))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)[:pageTagLen]
}

func (s *Service) pageKey(ctx context.Context, o store.Org) ([]byte, error) {
	k, err := o.Get(ctx, keyPageKey)
	if err != nil {
		return nil, err
	}
	return k, nil
}

func (s *Service) encodePageToken(ctx context.Context, o store.Org, listing string, payload []byte) (string, error) {
	k, err := s.pageKey(ctx, o)
	if err != nil {
		return "", err
	}
	b := append(append([]byte(nil), payload...), pageTag(k, listing, payload)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// decodePageToken returns the payload of tok; an empty tok gives nil.
func (s *Service) decodePageToken(ctx context.Context, o store.Org, listing, tok string) ([]byte, error) {
	if tok == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < pageTagLen || len(tok) > 4096 {
		return nil, invalid("page_token is not one this server issued for this listing")
	}
	k, err := s.pageKey(ctx, o)
	if err != nil {
		return nil, err
	}
	payload, tag := b[:len(b)-pageTagLen], b[len(b)-pageTagLen:]
	if !hmac.Equal(tag, pageTag(k, listing, payload)) {
		return nil, invalid("page_token is not one this server issued for this listing")
	}
	return payload, nil
}
