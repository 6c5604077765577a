package governance

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nuxari/nuxari/governance/store"
)

// listPage lists the records under prefix in key order, a page at a time,
// converted by conv. The page token carries the next key, bound to the org
// and the listing by pageTag.
func listPage[T, R any](ctx context.Context, s *Service, o store.Org, prefix string, size int32, pageToken string, conv func(*T) R) ([]R, string, error) {
	n, err := pageSize(size)
	if err != nil {
		return nil, "", err
	}
	start, err := s.decodePageToken(ctx, o, prefix, pageToken)
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
		if tok, err = s.encodePageToken(ctx, o, prefix, []byte(next)); err != nil {
			return nil, "", err
		}
	}
	return out, tok, nil
}
