package agent_test

import (
	"bytes"
	"encoding/base64"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/agent"
)

const pemKey = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBhbm90aGVyc2VjcmV0a2V5bWF0ZXJpYWxaWlpaWlpaWlpaWlpaAAAAAA==
-----END OPENSSH PRIVATE KEY-----`

var kindPattern = regexp.MustCompile(`^[a-z_]+$`)

func TestScrub(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		secret string // must not survive, raw or base64
		want   []string
		keep   string // benign text that must survive
	}{
		{"openssh key", "before\n" + pemKey + "\nafter\n", "YW5vdGhlcnNlY3JldGtleW1hdGVyaWFs", []string{"private_key"}, "before\n[scrubbed: private key]\nafter"},
		{"rsa key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEpQIBAAKCAQEAsecretRSA\n-----END RSA PRIVATE KEY-----\n", "MIIEpQIBAAKCAQEAsecretRSA", []string{"private_key"}, "[scrubbed: private key]"},
		{"encrypted pkcs8 key", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0secret\n-----END ENCRYPTED PRIVATE KEY-----", "MIIFHDBOBgkqhkiG9w0secret", []string{"private_key"}, ""},
		{"truncated key", "x\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqcut", "MIIEvQIBADANBgkqcut", []string{"private_key"}, "x\n"},
		{"sha512crypt", "root:$6$saltsalt$Zm9vYmFyYmF6cXV4aGFzaGhhc2hoYXNo:19000:0:99999:7:::\n", "$6$saltsalt$Zm9vYmFyYmF6cXV4aGFzaGhhc2hoYXNo", []string{"password_hash"}, "root:[scrubbed: password hash]:19000:0:99999:7:::"},
		{"yescrypt", "alice:$y$j9T$F5Jx5fExrKuPp53xLKQ..0$Hf4X6pU7ZQkQ3P2GKnl1bK0aM9Sx/3fOWqe1Jt0Xz6D:1:::\n", "F5Jx5fExrKuPp53xLKQ", []string{"password_hash"}, "alice:[scrubbed: password hash]:1:::"},
		{"bcrypt", "hash = $2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW\n", "R9h/cIPz0gi.URNNX3kh2OPST9", []string{"password_hash"}, "hash = [scrubbed: password hash]"},
		{"argon2id", "h: $argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG\n", "RdescudvJCsgt3ub", []string{"password_hash"}, "h: [scrubbed: password hash]"},
		{"nuxari session token", "cookie nxs.acme.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA end", "nxs.acme.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", []string{"token"}, "cookie [scrubbed: token] end"},
		{"nuxari agent token", "tok=nxg.org_1.abcdefghijklmnopqrstuvwxyz0123456789-_ABCDEFG", "abcdefghijklmnopqrstuvwxyz0123456789", []string{"token"}, "tok=[scrubbed: token]"},
		{"nuxari join token", "nxj.acme.abcdefghijklmnopqrstuvwxyz0123456789-_ABCDEFG\n", "abcdefghijklmnopqrstuvwxyz0123456789", []string{"token"}, ""},
		{"aws key id", "aws_access_key_id AKIAIOSFODNN7EXAMPLE\n", "AKIAIOSFODNN7EXAMPLE", []string{"token"}, "aws_access_key_id [scrubbed: token]"},
		{"authorization header", "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.sigsigsig\n", "eyJhbGciOiJIUzI1NiJ9", []string{"token"}, "Authorization: Bearer [scrubbed: token]"},
		{"basic auth header", "authorization: Basic dXNlcjpodW50ZXIy\n", "dXNlcjpodW50ZXIy", []string{"token"}, "authorization: Basic [scrubbed: token]"},
		{"bare bearer", "curl -H 'X: bearer s3cr3tvalue123'", "s3cr3tvalue123", []string{"token"}, "bearer [scrubbed: token]"},
		{"password setting", "db_host=x\ndb_password=hunter2Zq9\n", "hunter2Zq9", []string{"password"}, "db_host=x\ndb_password=[scrubbed: password]"},
		{"yaml password", "user: bob\npassword: \"correct horse battery\"\n", "correct horse battery", []string{"password"}, "user: bob\npassword: [scrubbed: password]"},
		{"json secret", `{"client_secret": "s3cr3t-Zq9xW", "name": "n"}`, "s3cr3t-Zq9xW", []string{"token"}, `"name": "n"`},
		{"url token", "https://h/x?token=abcDEF123&page=2", "abcDEF123", []string{"token"}, "&page=2"},
		{"env api key", "export GITHUB_API_KEY=ghp_abcdefgh1234\n", "ghp_abcdefgh1234", []string{"token"}, "export GITHUB_API_KEY=[scrubbed: token]"},
		{"several kinds", pemKey + "\npassword=hunter2Zq9\n$6$saltsalt$abcdefghijklmnop\n", "hunter2Zq9", []string{"password", "password_hash", "private_key"}, ""},
		{"same kind twice", "password=aaaaaaaa1\npasswd: bbbbbbbb2\n", "aaaaaaaa1", []string{"password"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, kinds := agent.Scrub([]byte(tt.in))
			if !slices.Equal(kinds, tt.want) {
				t.Errorf("kinds = %q, want %q", kinds, tt.want)
			}
			for _, k := range kinds {
				if !kindPattern.MatchString(k) {
					t.Errorf("kind %q does not match %s", k, kindPattern)
				}
			}
			for _, form := range []string{
				tt.secret,
				base64.StdEncoding.EncodeToString([]byte(tt.secret)),
				base64.RawURLEncoding.EncodeToString([]byte(tt.secret)),
			} {
				if bytes.Contains(out, []byte(form)) {
					t.Errorf("output still holds %q:\n%s", form, out)
				}
			}
			if !strings.Contains(string(out), tt.keep) {
				t.Errorf("output lost %q:\n%s", tt.keep, out)
			}
		})
	}
}

func TestScrubLeavesBenignText(t *testing.T) {
	for _, in := range []string{
		"PasswordAuthentication no\nPermitEmptyPasswords no\nPubkeyAuthentication yes\n",
		"Defaults passwd_timeout=1\nDefaults passwd_tries=3\n%sudo ALL=(ALL:ALL) ALL\n",
		"awk '{print $1}' file; echo $1$2\n",
		"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
		"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n",
		"sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\nsize 12\n",
		"tokens=5 secretary=bob\n",
		"bob ALL=(root) NOPASSWD: /usr/bin/systemctl restart app\nalice ALL = PASSWD:\t/usr/bin/id\n",
		"",
	} {
		out, kinds := agent.Scrub([]byte(in))
		if string(out) != in || len(kinds) != 0 {
			t.Errorf("Scrub(%q) = %q, %q; want it unchanged", in, out, kinds)
		}
	}
}

func FuzzScrub(f *testing.F) {
	for _, s := range []string{pemKey, "password=x", "$6$abcdefgh$ijklmnop", "Authorization: Bearer abcdefghij", "nxa.o.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "AKIAIOSFODNN7EXAMPLE token: 'a'"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, kinds := agent.Scrub(in)
		for _, k := range kinds {
			if !kindPattern.MatchString(k) {
				t.Fatalf("kind %q", k)
			}
		}
		if !slices.IsSorted(kinds) || len(slices.Compact(slices.Clone(kinds))) != len(kinds) {
			t.Fatalf("kinds %q not sorted and unique", kinds)
		}
		if len(kinds) == 0 && !bytes.Equal(out, in) {
			t.Fatalf("content changed with nothing reported")
		}
		again, _ := agent.Scrub(out)
		if !bytes.Equal(again, out) {
			t.Fatalf("Scrub is not idempotent:\n%q\n%q", out, again)
		}
	})
}
