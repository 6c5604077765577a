// Package password hashes and verifies user passwords with Argon2id
// (RFC 9106), stored in the PHC string format
// (https://github.com/P-H-C/phc-string-format):
//
//	$argon2id$v=19$m=65536,t=1,p=2$<salt>$<hash>
//
// where salt and hash are standard base64 without padding. The parameters
// are stored with each hash, so they can be raised later without
// invalidating hashes already stored.
//
// A Hasher runs hashes under a memory budget: each Argon2id hash holds its
// memory cost (64 MiB by default) while it runs, so a server MUST bound how
// many run at once or a crowd of strangers costs it one hash's memory
// each.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Errors returned by this package.
var (
	// ErrMalformedHash: an encoded hash is not a PHC string this package
	// accepts: wrong shape, an algorithm other than argon2id, a version
	// other than 19, or parameters outside the bounds of Params.
	ErrMalformedHash = errors.New("password: malformed hash")
	// ErrInvalidParams: Hash was given Params outside the accepted bounds.
	ErrInvalidParams = errors.New("password: invalid parameters")
	// ErrWeakPassword: Validate rejected a new password.
	ErrWeakPassword = errors.New("password: unacceptable password")
)

// Params are the Argon2id cost parameters (RFC 9106, Section 3.1) and the
// salt and tag lengths.
//
// Bounds, enforced by Hash and by Verify on stored hashes: Memory is at
// least 8*Threads and at most 1 GiB (1<<20 KiB); Time is 1 to 16; Threads
// is at least 1; SaltLen and KeyLen are 16 to 64 bytes. Hash fills a zero
// field from DefaultParams.
type Params struct {
	Memory  uint32 // memory cost m, in KiB
	Time    uint32 // passes over memory, t
	Threads uint8  // lanes, p
	SaltLen uint32 // salt length in bytes
	KeyLen  uint32 // tag (hash) length in bytes
}

// DefaultParams are the parameters for new hashes: 64 MiB of memory, one
// pass, two lanes, a 16-byte salt and a 32-byte tag.
//
// They take the shape of RFC 9106's second recommended option (Section 4:
// 64 MiB, for when much memory is not available) with fewer passes and
// lanes than it gives (t=3, p=4), to bound the cost of a login on a server
// handling many of them. Raising Time or Memory later is safe: stored hashes
// keep the parameters they were made with.
var DefaultParams = Params{Memory: 64 * 1024, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}

// Bounds on Params, and on the lengths Validate accepts.
const (
	maxMemory = 1 << 20 // KiB: 1 GiB
	maxTime   = 16
	minLen    = 16 // salt and key, bytes
	maxLen    = 64
	// maxEncoded bounds the input to Verify before any parsing. The
	// longest string within the bounds above is about 230 bytes.
	maxEncoded = 512

	// MinLen and MaxLen are the shortest and longest passwords Validate
	// accepts, in bytes.
	MinLen = 12
	MaxLen = 1024
)

// Hash returns the PHC string of password hashed with Argon2id under p and a
// fresh random salt. Callers SHOULD run Validate on a password before
// hashing it for storage.
func Hash(password string, p Params) (string, error) {
	p = p.withDefaults()
	if err := p.check(); err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidParams, err)
	}
	salt, err := newSalt(p)
	if err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return encode(p, salt, key), nil
}

// Verify reports whether password matches encoded, a PHC string from Hash.
// It recomputes the hash with the parameters stored in encoded and compares
// the tags in constant time. A malformed encoded, or one whose parameters
// are outside the bounds of Params, returns false and an error wrapping
// ErrMalformedHash; the error never contains encoded or password.
func Verify(password, encoded string) (bool, error) {
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return constantTimeEqual(got, key), nil
}

func newSalt(p Params) ([]byte, error) {
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("password: reading salt: %w", err)
	}
	return salt, nil
}

func constantTimeEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// DummyVerify does the work of a Verify against a hash made with
// DefaultParams, and discards the result. Call it when a login names an
// account that does not exist, so that the reply takes as long as for one
// that does and does not reveal which accounts exist. It matches the timing
// of accounts whose hashes use DefaultParams; hashes made with older
// parameters take as long as those parameters cost.
func DummyVerify(password string) {
	p := DefaultParams.withDefaults()
	// A fixed salt and an all-zero tag: no password is expected to match,
	// and no secret is involved.
	_, _ = Verify(password, encode(p, make([]byte, p.SaltLen), make([]byte, p.KeyLen)))
}

// Validate reports whether password is acceptable as a new password: at
// least MinLen and at most MaxLen bytes of valid UTF-8. A rejection wraps
// ErrWeakPassword with a message fit to show the user; it never contains
// the password.
func Validate(password string) error {
	switch {
	case len(password) < MinLen:
		return fmt.Errorf("%w: must be at least %d bytes long", ErrWeakPassword, MinLen)
	case len(password) > MaxLen:
		return fmt.Errorf("%w: must be at most %d bytes long", ErrWeakPassword, MaxLen)
	case !utf8.ValidString(password):
		return fmt.Errorf("%w: must be valid UTF-8 text", ErrWeakPassword)
	}
	return nil
}

// withDefaults returns p with each zero field taken from DefaultParams.
func (p Params) withDefaults() Params {
	d := DefaultParams
	if p.Memory == 0 {
		p.Memory = d.Memory
	}
	if p.Time == 0 {
		p.Time = d.Time
	}
	if p.Threads == 0 {
		p.Threads = d.Threads
	}
	if p.SaltLen == 0 {
		p.SaltLen = d.SaltLen
	}
	if p.KeyLen == 0 {
		p.KeyLen = d.KeyLen
	}
	return p
}

// check reports whether p is within the documented bounds.
func (p Params) check() error {
	switch {
	case p.Threads == 0:
		return errors.New("threads must be at least 1")
	case p.Memory < 8*uint32(p.Threads):
		return errors.New("memory must be at least 8 KiB per thread")
	case p.Memory > maxMemory:
		return errors.New("memory must be at most 1 GiB")
	case p.Time == 0 || p.Time > maxTime:
		return fmt.Errorf("time must be 1 to %d", maxTime)
	case p.SaltLen < minLen || p.SaltLen > maxLen:
		return fmt.Errorf("salt length must be %d to %d bytes", minLen, maxLen)
	case p.KeyLen < minLen || p.KeyLen > maxLen:
		return fmt.Errorf("key length must be %d to %d bytes", minLen, maxLen)
	}
	return nil
}

func encode(p Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// decode parses encoded strictly: exactly the form encode writes, in
// canonical decimal and canonical unpadded base64, within the bounds of
// Params.
func decode(encoded string) (p Params, salt, key []byte, err error) {
	malformed := func(why string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: %s", ErrMalformedHash, why)
	}
	if len(encoded) > maxEncoded {
		return malformed("too long")
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return malformed("not a PHC string of six fields")
	}
	if parts[1] != "argon2id" {
		return malformed("unsupported algorithm")
	}
	v, ok := strings.CutPrefix(parts[2], "v=")
	if !ok {
		return malformed("missing version")
	}
	if n, ok := parseDecimal(v, 32); !ok || n != argon2.Version {
		return malformed("unsupported version")
	}
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return malformed("parameters are not m,t,p")
	}
	var vals [3]uint64
	for i, name := range [3]string{"m=", "t=", "p="} {
		s, ok := strings.CutPrefix(fields[i], name)
		if !ok {
			return malformed("parameters are not m,t,p")
		}
		bits := 32
		if i == 2 {
			bits = 8
		}
		if vals[i], ok = parseDecimal(s, bits); !ok {
			return malformed("bad parameter value")
		}
	}
	if salt, ok = decodeBase64(parts[4]); !ok {
		return malformed("bad salt encoding")
	}
	if key, ok = decodeBase64(parts[5]); !ok {
		return malformed("bad hash encoding")
	}
	p = Params{
		Memory:  uint32(vals[0]),
		Time:    uint32(vals[1]),
		Threads: uint8(vals[2]),
		SaltLen: uint32(len(salt)),
		KeyLen:  uint32(len(key)),
	}
	if err := p.check(); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: %w", ErrMalformedHash, err)
	}
	return p, salt, key, nil
}

// parseDecimal parses s as a PHC decimal: digits only, no sign, no leading
// zero, fitting in bits.
func parseDecimal(s string, bits int) (uint64, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, bits)
	return n, err == nil
}

// decodeBase64 decodes s as canonical standard base64 without padding: the
// decoder's tolerance of newlines and of non-zero trailing bits is refused
// by requiring the re-encoding to give back s.
func decodeBase64(s string) ([]byte, bool) {
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil || base64.RawStdEncoding.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}
