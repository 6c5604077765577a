package agent

import (
	"bytes"
	"regexp"
	"slices"
)

// Scrub kinds: what Scrub removed, as reported in an evidence item's
// "scrubbed" list. Each matches ^[a-z_]+$.
const (
	ScrubPrivateKey   = "private_key"
	ScrubPasswordHash = "password_hash"
	ScrubToken        = "token"
	ScrubPassword     = "password"
)

// scrubRule replaces every match of re. If keep > 0, submatch keep (a
// prefix such as "password=") is kept and only the rest is replaced, and
// a match whose prefix is one of skip (case-sensitive) is left alone.
type scrubRule struct {
	kind string
	re   *regexp.Regexp
	keep int
	skip []string
}

// rules run in order: whole blocks first, then values inside lines, so
// that a later rule never sees a secret an earlier one already replaced.
var rules = []scrubRule{
	// PEM private keys of every flavour (PKCS#1, PKCS#8, EC, OpenSSH,
	// ENCRYPTED), and a block cut off before its END line.
	{ScrubPrivateKey, regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?-----END [A-Z0-9 ]*PRIVATE KEY-----`), 0, nil},
	{ScrubPrivateKey, regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*\z`), 0, nil},
	// crypt(3) hashes as found in shadow files and config: MD5 ($1$),
	// bcrypt ($2a$ $2b$ $2x$ $2y$), SHA-crypt ($5$ $6$), yescrypt ($y$
	// $gy$), scrypt ($7$), argon2, and PHC strings such as $pbkdf2-sha256$.
	{ScrubPasswordHash, regexp.MustCompile(`\$(?:1|2[abxy]?|5|6|7|y|gy|sha1|md5|argon2(?:id|i|d)|pbkdf2(?:-[a-z0-9]+)?|scrypt)\$[A-Za-z0-9./$=,+-]{8,}`), 0, nil},
	// Nuxari session, API, agent and join tokens.
	{ScrubToken, regexp.MustCompile(`nx[sagj]\.[A-Za-z0-9_-]{1,64}\.[A-Za-z0-9_-]{43}`), 0, nil},
	// AWS access key IDs.
	{ScrubToken, regexp.MustCompile(`\b(?:AKIA|ASIA)[0-9A-Z]{16}\b`), 0, nil},
	// Authorization headers and bare bearer credentials.
	{ScrubToken, regexp.MustCompile(`(?i)(authorization[ \t]*[:=][ \t]*(?:bearer|basic|token)?[ \t]*)[^\s"',;]+`), 1, nil},
	{ScrubToken, regexp.MustCompile(`(?i)(\bbearer[ \t]+)[A-Za-z0-9._~+/=-]{8,}`), 1, nil},
	// key=value and key: value, in config files, URLs, JSON and YAML.
	// The sudoers tags PASSWD: and NOPASSWD: are not settings.
	{ScrubPassword, regexp.MustCompile(`(?i)((?:password|passwd|passphrase|pwd)["']?[ \t]*[=:][ \t]*)("[^"\n]*"|'[^'\n]*'|[^\s"',;&]+)`), 1, []string{"PASSWD:", "PASSWD: ", "PASSWD:\t"}},
	{ScrubToken, regexp.MustCompile(`(?i)((?:secret|token|api[_-]?key|access[_-]?key|secret[_-]?key|private[_-]?key|client[_-]?secret|credentials?)["']?[ \t]*[=:][ \t]*)("[^"\n]*"|'[^'\n]*'|[^\s"',;&]+)`), 1, nil},
}

var markers = map[string][]byte{
	ScrubPrivateKey:   []byte("[scrubbed: private key]"),
	ScrubPasswordHash: []byte("[scrubbed: password hash]"),
	ScrubToken:        []byte("[scrubbed: token]"),
	ScrubPassword:     []byte("[scrubbed: password]"),
}

var scrubbedPrefix = []byte("[scrubbed")

// Scrub removes secrets from content: PEM private key blocks, crypt(3)
// password hashes, Nuxari tokens, AWS access key IDs, bearer credentials
// and the values of password, secret, token and key settings. Each is
// replaced by a marker such as "[scrubbed: private key]". It returns the
// scrubbed content and the sorted, de-duplicated kinds it removed (the
// Scrub* constants).
//
// Collectors MUST scrub content before it is hashed, signed or sent. The
// rules err towards removing too much: a value that only looks like a
// secret is removed as well.
func Scrub(content []byte) ([]byte, []string) {
	var kinds []string
	out := content
	for _, r := range rules {
		marker := markers[r.kind]
		hit := false
		out = r.re.ReplaceAllFunc(out, func(m []byte) []byte {
			if r.keep == 0 {
				hit = true
				return marker
			}
			sub := r.re.FindSubmatchIndex(m)
			prefix, value := m[:sub[2*r.keep+1]], m[sub[2*r.keep+1]:]
			if len(value) == 0 || bytes.HasPrefix(bytes.Trim(value, `"'`), scrubbedPrefix) || slices.Contains(r.skip, string(prefix)) {
				return m // already scrubbed by an earlier rule
			}
			hit = true
			return append(append([]byte(nil), prefix...), marker...)
		})
		if hit {
			kinds = append(kinds, r.kind)
		}
	}
	slices.Sort(kinds)
	return out, slices.Compact(kinds)
}

// mergeKinds returns the sorted union of a and b.
func mergeKinds(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}
