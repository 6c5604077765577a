package api_test

import (
	"testing"

	"github.com/nuxari/nuxari/governance/api"
	"github.com/nuxari/nuxari/internal/secret"
)

// TestCSRFToken: the CSRF token of a console session is base64url,
// unpadded, of SHA-256("nuxari console csrf\x00" || token), computed
// here independently; distinct sessions have distinct tokens.
func TestCSRFToken(t *testing.T) {
	const tok = "nxs.acme.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	// python3: base64.urlsafe_b64encode(hashlib.sha256(b"nuxari console csrf\0" + tok).digest()).rstrip(b"=")
	const want = "5h2gVEKaEA3MvfQXnlKnA4pBnLIjny51cLUDAVIjeS8"
	if got := api.CSRFToken(secret.New(tok)); got != want {
		t.Fatalf("CSRFToken = %q, want %q", got, want)
	}
	if api.CSRFToken(secret.New(tok[:len(tok)-1]+"B")) == want {
		t.Fatal("two sessions share a CSRF token")
	}
}
