package password_test

import (
	"encoding/base64"
	"errors"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/nuxari/nuxari/governance/password"
)

// small keeps tests fast; TestDefaultParams covers the real cost.
var small = password.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

const pw = "correct horse battery staple"

func mustHash(t testing.TB, secret string, p password.Params) string {
	t.Helper()
	h, err := password.Hash(secret, p)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	return h
}

// phc is a test-side parse of a PHC string, independent of the package's.
type phc struct {
	alg, version string
	m, t, p      uint64
	salt, key    []byte
}

func parsePHC(t *testing.T, s string) phc {
	t.Helper()
	re := regexp.MustCompile(`^\$(argon2id)\$v=(19)\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)
	g := re.FindStringSubmatch(s)
	if g == nil {
		t.Fatalf("%q is not an argon2id PHC string", s)
	}
	num := func(s string) uint64 {
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	b64 := func(s string) []byte {
		b, err := base64.RawStdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return phc{g[1], g[2], num(g[3]), num(g[4]), num(g[5]), b64(g[6]), b64(g[7])}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, password string
	}{
		{"ascii", pw},
		{"unicode", "pässwörd ünïcode 🔑"},
		{"empty", ""},
		{"nul bytes", "a\x00b\x00c"},
		{"long", strings.Repeat("x", 1024)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := mustHash(t, tc.password, small)
			ok, err := password.Verify(tc.password, h)
			if err != nil || !ok {
				t.Fatalf("Verify(right password) = %v, %v; want true, nil", ok, err)
			}
			for _, wrong := range []string{tc.password + "x", "x" + tc.password, strings.ToUpper(tc.password) + "!"} {
				ok, err := password.Verify(wrong, h)
				if err != nil || ok {
					t.Errorf("Verify(%q) = %v, %v; want false, nil", wrong, ok, err)
				}
			}
		})
	}
}

func TestHashIsSalted(t *testing.T) {
	a, b := mustHash(t, pw, small), mustHash(t, pw, small)
	if a == b {
		t.Fatalf("two hashes of the same password are equal: %s", a)
	}
	if string(parsePHC(t, a).salt) == string(parsePHC(t, b).salt) {
		t.Fatal("two hashes share a salt")
	}
}

func TestParamsHonoured(t *testing.T) {
	for _, p := range []password.Params{
		small,
		{Memory: 2048, Time: 3, Threads: 4, SaltLen: 24, KeyLen: 64},
		{Memory: 64, Time: 16, Threads: 8, SaltLen: 64, KeyLen: 16},
	} {
		t.Run("", func(t *testing.T) {
			h := mustHash(t, pw, p)
			got := parsePHC(t, h)
			if got.m != uint64(p.Memory) || got.t != uint64(p.Time) || got.p != uint64(p.Threads) {
				t.Errorf("m,t,p = %d,%d,%d; want %d,%d,%d", got.m, got.t, got.p, p.Memory, p.Time, p.Threads)
			}
			if len(got.salt) != int(p.SaltLen) || len(got.key) != int(p.KeyLen) {
				t.Errorf("salt, key lengths = %d, %d; want %d, %d", len(got.salt), len(got.key), p.SaltLen, p.KeyLen)
			}
			if ok, err := password.Verify(pw, h); !ok || err != nil {
				t.Errorf("Verify = %v, %v", ok, err)
			}
		})
	}
}

func TestZeroFieldsTakeDefaults(t *testing.T) {
	h := mustHash(t, pw, password.Params{Memory: 1024})
	got := parsePHC(t, h)
	d := password.DefaultParams
	if got.m != 1024 || got.t != uint64(d.Time) || got.p != uint64(d.Threads) ||
		len(got.salt) != int(d.SaltLen) || len(got.key) != int(d.KeyLen) {
		t.Fatalf("Hash(Params{Memory: 1024}) = %s; want other fields from DefaultParams", h)
	}
}

func TestHashRejectsInvalidParams(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    password.Params
	}{
		{"memory over 1 GiB", password.Params{Memory: 1<<20 + 1}},
		{"memory under 8 KiB per lane", password.Params{Memory: 31, Threads: 4}},
		{"time over 16", password.Params{Memory: 1024, Time: 17}},
		{"salt too short", password.Params{Memory: 1024, SaltLen: 8}},
		{"salt too long", password.Params{Memory: 1024, SaltLen: 65}},
		{"key too short", password.Params{Memory: 1024, KeyLen: 15}},
		{"key too long", password.Params{Memory: 1024, KeyLen: 65}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := password.Hash(pw, tc.p)
			if !errors.Is(err, password.ErrInvalidParams) || h != "" {
				t.Fatalf("Hash = %q, %v; want ErrInvalidParams", h, err)
			}
		})
	}
}

// TestKnownAnswers checks interoperability with hashes made by the Argon2
// reference implementation (Debian's argon2 0~20171227, e.g.
// `printf %s "$pw" | argon2 'nuxari-kat-salt!' -id -t 1 -m 10 -p 2 -l 32 -e`).
func TestKnownAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, password, encoded string
	}{
		{"m=1024,t=1,p=2,l=32", pw,
			"$argon2id$v=19$m=1024,t=1,p=2$bnV4YXJpLWthdC1zYWx0IQ$PEbEt3jYeJV6NkJ1iL0sLHWw8rrsfLUpO8g7HmkroUM"},
		{"m=1024,t=1,p=2,l=16", pw,
			"$argon2id$v=19$m=1024,t=1,p=2$bnV4YXJpLWthdC1zYWx0IQ$D4SXj0uVcOwZ9MLj86LiWg"},
		{"m=4096,t=3,p=1,l=64 unicode", "pässwörd ünïcode 🔑",
			"$argon2id$v=19$m=4096,t=3,p=1$MDEyMzQ1Njc4OWFiY2RlZg$SnW/3i8IU3zEtAfmgrC8k1WCwtNjBuJiPxo7S9Eq5XQ9YvA3pS9mjV+0Bt0bolQZMQsNMler2BmhSuyVsFx1vg"},
		{"default params", pw,
			"$argon2id$v=19$m=65536,t=1,p=2$bnV4YXJpLWthdC1zYWx0IQ$4C8llPP63msFmyfThdycn8WPnpU0wzziwuuF4H4DJpY"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ok, err := password.Verify(tc.password, tc.encoded); !ok || err != nil {
				t.Errorf("Verify(right) = %v, %v; want true, nil", ok, err)
			}
			if ok, err := password.Verify(tc.password+".", tc.encoded); ok || err != nil {
				t.Errorf("Verify(wrong) = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

func TestDefaultParams(t *testing.T) {
	h := mustHash(t, pw, password.DefaultParams)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=65536,t=1,p=2$") {
		t.Fatalf("Hash(DefaultParams) = %s", h)
	}
	got := parsePHC(t, h)
	if len(got.salt) != 16 || len(got.key) != 32 {
		t.Fatalf("salt, key lengths = %d, %d; want 16, 32", len(got.salt), len(got.key))
	}
	if ok, err := password.Verify(pw, h); !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
}

// replaceField returns the PHC string h with its i-th '$' field replaced.
func replaceField(h string, i int, f func(string) string) string {
	parts := strings.Split(h, "$")
	parts[i] = f(parts[i])
	return strings.Join(parts, "$")
}

// flipMiddle changes one base64 character away from the ends, so the
// result is still canonical base64 of the same length.
func flipMiddle(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestTampered(t *testing.T) {
	h := mustHash(t, pw, small)
	for _, tc := range []struct {
		name    string
		encoded string
	}{
		{"salt", replaceField(h, 4, flipMiddle)},
		{"hash", replaceField(h, 5, flipMiddle)},
		{"memory", strings.Replace(h, "m=1024", "m=2048", 1)},
		{"time", strings.Replace(h, "t=1,", "t=2,", 1)},
		{"threads", strings.Replace(h, "p=1$", "p=2$", 1)},
		{"hash truncated", replaceField(h, 5, func(s string) string {
			return base64.RawStdEncoding.EncodeToString(parsePHC(t, h).key[:16])
		})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.encoded == h {
				t.Fatal("tampering changed nothing")
			}
			ok, err := password.Verify(pw, tc.encoded)
			if ok || err != nil {
				t.Fatalf("Verify(tampered) = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

func TestMalformed(t *testing.T) {
	h := mustHash(t, pw, small)
	salt := strings.Split(h, "$")[4]
	key := strings.Split(h, "$")[5]
	with := func(params string) string {
		return "$argon2id$v=19$" + params + "$" + salt + "$" + key
	}
	for _, tc := range []struct {
		name, encoded string
	}{
		{"empty", ""},
		{"dollar only", "$"},
		{"plain text", pw},
		{"argon2i", strings.Replace(h, "$argon2id$", "$argon2i$", 1)},
		{"argon2d", strings.Replace(h, "$argon2id$", "$argon2d$", 1)},
		{"upper case alg", strings.Replace(h, "$argon2id$", "$ARGON2ID$", 1)},
		{"bcrypt", "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"},
		{"v=18", strings.Replace(h, "v=19", "v=18", 1)},
		{"v=16", strings.Replace(h, "v=19", "v=16", 1)},
		{"v=019", strings.Replace(h, "v=19", "v=019", 1)},
		{"version missing", strings.Replace(h, "$v=19", "", 1)},
		{"version not v=", strings.Replace(h, "v=19", "x=19", 1)},
		{"no leading dollar", h[1:]},
		{"trailing dollar", h + "$"},
		{"missing hash", h[:strings.LastIndex(h, "$")]},
		{"missing salt and hash", "$argon2id$v=19$m=1024,t=1,p=1"},
		{"empty salt", replaceField(h, 4, func(string) string { return "" })},
		{"empty hash", replaceField(h, 5, func(string) string { return "" })},
		{"extra field", "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + key + "$" + key},
		{"params reordered", with("t=1,m=1024,p=1")},
		{"params missing p", with("m=1024,t=1")},
		{"params extra", with("m=1024,t=1,p=1,k=1")},
		{"keyid field", with("m=1024,t=1,p=1,keyid=abc")},
		{"params spaces", with("m=1024, t=1, p=1")},
		{"param empty", with("m=,t=1,p=1")},
		{"param sign", with("m=+1024,t=1,p=1")},
		{"param negative", with("m=1024,t=-1,p=1")},
		{"param leading zero", with("m=01024,t=1,p=1")},
		{"param hex", with("m=0x400,t=1,p=1")},
		{"huge m", with("m=4294967295,t=1,p=1")},
		{"m overflows uint32", with("m=4294967296,t=1,p=1")},
		{"m just over 1 GiB", with("m=1048577,t=1,p=1")},
		{"m under 8 per lane", with("m=15,t=1,p=2")},
		{"m zero", with("m=0,t=1,p=1")},
		{"t zero", with("m=1024,t=0,p=1")},
		{"t 17", with("m=1024,t=17,p=1")},
		{"p zero", with("m=1024,t=1,p=0")},
		{"p 256", with("m=4096,t=1,p=256")},
		{"bad base64 salt", replaceField(h, 4, func(s string) string { return s[:10] + "*" + s[11:] })},
		{"bad base64 hash", replaceField(h, 5, func(s string) string { return s[:10] + "!" + s[11:] })},
		{"url base64", replaceField(h, 5, func(string) string { return "-_" + key[2:] })},
		{"padded salt", replaceField(h, 4, func(s string) string { return s + "==" })},
		{"newline in salt", replaceField(h, 4, func(s string) string { return s[:8] + "\n" + s[8:] })},
		{"salt non-canonical trailing bits", replaceField(h, 4, func(s string) string {
			// 16 bytes encode to 22 characters; the last carries 4 unused
			// bits, which 'B' sets.
			return s[:21] + "B"
		})},
		{"salt impossible length", replaceField(h, 4, func(s string) string { return s + "AAA" })}, // 25 = 1 mod 4
		{"salt 15 bytes", replaceField(h, 4, func(string) string { return base64.RawStdEncoding.EncodeToString(make([]byte, 15)) })},
		{"salt 65 bytes", replaceField(h, 4, func(string) string { return base64.RawStdEncoding.EncodeToString(make([]byte, 65)) })},
		{"hash 15 bytes", replaceField(h, 5, func(string) string { return base64.RawStdEncoding.EncodeToString(make([]byte, 15)) })},
		{"hash 65 bytes", replaceField(h, 5, func(string) string { return base64.RawStdEncoding.EncodeToString(make([]byte, 65)) })},
		{"over-long input", h + strings.Repeat("A", 1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.encoded == h {
				t.Fatal("case equals the valid hash")
			}
			ok, err := password.Verify(pw, tc.encoded)
			if ok || !errors.Is(err, password.ErrMalformedHash) {
				t.Fatalf("Verify(%q) = %v, %v; want false, ErrMalformedHash", tc.encoded, ok, err)
			}
			if tc.encoded != "" && strings.Contains(err.Error(), tc.encoded) {
				t.Errorf("error %q echoes the encoded hash", err)
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("error %q echoes the password", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		password string
		ok       bool
	}{
		{"empty", "", false},
		{"11 bytes", strings.Repeat("a", 11), false},
		{"12 bytes", strings.Repeat("a", 12), true},
		{"passphrase", pw, true},
		{"4 runes, 16 bytes", "🔑🔑🔑🔑", true},
		{"11 bytes of 2-byte runes and 1 byte", strings.Repeat("é", 5) + "a", false},
		{"1024 bytes", strings.Repeat("a", 1024), true},
		{"1025 bytes", strings.Repeat("a", 1025), false},
		{"invalid utf-8", "abcdefghijk\xff", false},
		{"truncated rune", "abcdefghijk" + "🔑"[:2], false},
		{"overlong encoding", "abcdefghijk\xc0\xaf", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := password.Validate(tc.password)
			if tc.ok {
				if err != nil {
					t.Fatalf("Validate = %v; want nil", err)
				}
				return
			}
			if !errors.Is(err, password.ErrWeakPassword) {
				t.Fatalf("Validate = %v; want ErrWeakPassword", err)
			}
			if err.Error() == password.ErrWeakPassword.Error() {
				t.Errorf("error %q says nothing about why", err)
			}
			if len(tc.password) >= 3 && strings.Contains(err.Error(), tc.password) {
				t.Errorf("error %q echoes the password", err)
			}
		})
	}
}

// allocated returns the bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestDummyVerifyDoesTheWork checks that DummyVerify runs Argon2id with
// DefaultParams rather than returning early: Argon2id's memory cost shows
// up as allocation, which unlike time can be measured without flakiness.
func TestDummyVerifyDoesTheWork(t *testing.T) {
	h := mustHash(t, pw, password.DefaultParams)
	verify := allocated(func() {
		if _, err := password.Verify("not the password", h); err != nil {
			t.Fatal(err)
		}
	})
	dummy := allocated(func() { password.DummyVerify("not the password") })
	const memory = 64 << 20 // DefaultParams.Memory, in bytes
	if verify < memory {
		t.Fatalf("Verify allocated %d bytes; want at least %d", verify, memory)
	}
	if dummy < verify*9/10 {
		t.Fatalf("DummyVerify allocated %d bytes; Verify with DefaultParams %d", dummy, verify)
	}
}

func BenchmarkHashDefault(b *testing.B) {
	for b.Loop() {
		if _, err := password.Hash(pw, password.DefaultParams); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyDefault(b *testing.B) {
	h := mustHash(b, pw, password.DefaultParams)
	for b.Loop() {
		if ok, err := password.Verify(pw, h); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkDummyVerify(b *testing.B) {
	for b.Loop() {
		password.DummyVerify(pw)
	}
}

// FuzzVerify checks that Verify never panics and reports every failure to
// parse as ErrMalformedHash. Inputs whose parameters would make a single
// run slow are skipped; the bounds themselves are covered by TestMalformed.
func FuzzVerify(f *testing.F) {
	h, err := password.Hash(pw, small)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pw, h)
	f.Add(pw, "$argon2id$v=19$m=1024,t=1,p=2$bnV4YXJpLWthdC1zYWx0IQ$PEbEt3jYeJV6NkJ1iL0sLHWw8rrsfLUpO8g7HmkroUM")
	f.Add("", "")
	f.Add("x", "$argon2id$v=19$m=64,t=1,p=8$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("x", "$argon2i$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	costly := regexp.MustCompile(`m=0*[0-9]{5,}|t=0*[0-9]{2,}`)
	f.Fuzz(func(t *testing.T, secret, encoded string) {
		if costly.MatchString(encoded) {
			t.Skip("parameters too costly for fuzzing")
		}
		ok, err := password.Verify(secret, encoded)
		if err != nil && (ok || !errors.Is(err, password.ErrMalformedHash)) {
			t.Fatalf("Verify = %v, %v", ok, err)
		}
	})
}
