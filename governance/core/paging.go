package core

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nuxari/nuxari/governance/store"
)

// KeyPageKey is the state key of the org's page-token key: 32 random
// bytes, written with the org (NewPageKey).
const KeyPageKey = "pagekey"

// NewPageKey returns a fresh page-token key for a new org.
func NewPageKey() []byte {
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

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

// EncodePageToken returns the page token of payload in listing of o.
func EncodePageToken(ctx context.Context, o store.Org, listing string, payload []byte) (string, error) {
	k, err := o.Get(ctx, KeyPageKey)
	if err != nil {
		return "", err
	}
	b := append(append([]byte(nil), payload...), pageTag(k, listing, payload)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

var errBadPageToken = Invalid("page_token is not one this server issued for this listing")

// DecodePageToken returns the payload of tok; an empty tok gives nil.
func DecodePageToken(ctx context.Context, o store.Org, listing, tok string) ([]byte, error) {
	if tok == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < pageTagLen || len(tok) > 4096 {
		return nil, errBadPageToken
	}
	k, err := o.Get(ctx, KeyPageKey)
	if err != nil {
		return nil, err
	}
	payload, tag := b[:len(b)-pageTagLen], b[len(b)-pageTagLen:]
	if !hmac.Equal(tag, pageTag(k, listing, payload)) {
		return nil, errBadPageToken
	}
	return payload, nil
}

// ListPage lists the records under prefix in key order, a page at a time,
// converted by conv. The page token carries the next key, bound to the org
// and the listing.
func ListPage[T, R any](ctx context.Context, o store.Org, prefix string, size int32, pageToken string, conv func(*T) R) ([]R, string, error) {
	n, err := PageSize(size)
	if err != nil {
		return nil, "", err
	}
	start, err := DecodePageToken(ctx, o, prefix, pageToken)
	if err != nil {
		return nil, "", err
	}
	var out []R
	var next string
	var derr error
	err = o.Scan(ctx, prefix, prefix+string(start), func(k string, v []byte) bool {
		if len(out) == n {
			next = k[len(prefix):]
			return false
		}
		var rec T
		if derr = json.Unmarshal(v, &rec); derr != nil {
			derr = fmt.Errorf("state %q: %w", k, derr)
			return false
		}
		out = append(out, conv(&rec))
		return true
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, "", err
	}
	tok := ""
	if next != "" {
		if tok, err = EncodePageToken(ctx, o, prefix, []byte(next)); err != nil {
			return nil, "", err
		}
	}
	return out, tok, nil
}

// ScanJSON calls fn with each record under prefix, decoded, until it
// returns false.
func ScanJSON[T any](ctx context.Context, o store.Org, prefix string, fn func(*T) bool) error {
	var derr error
	err := o.Scan(ctx, prefix, "", func(k string, v []byte) bool {
		var x T
		if derr = json.Unmarshal(v, &x); derr != nil {
			derr = fmt.Errorf("state %q: %w", k, derr)
			return false
		}
		return fn(&x)
	})
	if err == nil {
		err = derr
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// ListFiltered lists the records under prefix that keep selects, a page
// at a time, in key order. A page reads at most 10 times its size of
// records, so a sparse selection may give a short page with a next token.
func ListFiltered[T any](ctx context.Context, o store.Org, prefix string, size int32, token string, keep func(*T) bool) ([]T, string, error) {
	n, err := PageSize(size)
	if err != nil {
		return nil, "", err
	}
	start, err := DecodePageToken(ctx, o, prefix, token)
	if err != nil {
		return nil, "", err
	}
	var out []T
	next, read := "", 0
	var derr error
	err = o.Scan(ctx, prefix, prefix+string(start), func(k string, v []byte) bool {
		if len(out) == n || read == 10*n {
			next = k[len(prefix):]
			return false
		}
		read++
		var x T
		if derr = json.Unmarshal(v, &x); derr != nil {
			derr = fmt.Errorf("state %q: %w", k, derr)
			return false
		}
		if keep(&x) {
			out = append(out, x)
		}
		return true
	})
	if err == nil {
		err = derr
	}
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	if err != nil || next == "" {
		return out, "", err
	}
	tok, err := EncodePageToken(ctx, o, prefix, []byte(next))
	return out, tok, err
}
