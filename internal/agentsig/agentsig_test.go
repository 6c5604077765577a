package agentsig_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/nuxari/nuxari/internal/agentsig"
)

func TestPayloads(t *testing.T) {
	at := time.Date(2026, 11, 29, 4, 0, 0, 5, time.FixedZone("x", 3600))
	sha := bytes.Repeat([]byte{0xab}, 32)
	got := string(agentsig.Evidence("acme", "g1", "t1", "file", "/etc/a\nb", at, sha, []string{"private_key", "token"}))
	want := "nuxari-agent-evidence-v1\nacme\ng1\nt1\nfile\n8:/etc/a\nb\n2026-11-29T03:00:00.000000005Z\n" +
		"abababababababababababababababababababababababababababababababab\nprivate_key,token\n"
	if got != want {
		t.Fatalf("Evidence:\n%q\nwant\n%q", got, want)
	}
	if got := string(agentsig.TokenRequest("acme", "g1", []byte{1, 2})); got != "nuxari-agent-token-v1\nacme\ng1\n0102\n" {
		t.Fatalf("TokenRequest: %q", got)
	}
	// A target cannot smuggle fields: the length prefix keeps them apart.
	a := agentsig.Evidence("acme", "g1", "t1", "file", "/x\n2026", at, sha, nil)
	b := agentsig.Evidence("acme", "g1", "t1", "file", "/x", at, sha, nil)
	if bytes.Equal(a, b) {
		t.Fatal("different targets sign the same bytes")
	}
}
