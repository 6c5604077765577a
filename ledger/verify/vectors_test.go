package verify_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/verify"
)

// The test vectors shared with the browser verifier (web/src/verify),
// which checks the same file: see testdata/README.md.

var update = flag.Bool("update", false, "rewrite testdata/vectors.json")

const vectorsFile = "testdata/vectors.json"

// vectorTreeSize is the size of the vectors' tree: not a power of two.
const vectorTreeSize = 70

type vectorFile struct {
	Comment     string              `json:"comment"`
	Keys        []keyVector         `json:"keys"`
	Checkpoints []checkpointVector  `json:"checkpoints"`
	Inclusion   []inclusionVector   `json:"inclusion"`
	Consistency []consistencyVector `json:"consistency"`
	Leaves      []leafVector        `json:"leaves"`
}

type keyVector struct {
	Name        string `json:"name"`
	VKey        string `json:"vkey"`
	Fingerprint string `json:"fingerprint"`
}

type checkpointVector struct {
	Name   string `json:"name"`
	VKey   string `json:"vkey"`
	Origin string `json:"origin"`
	Note   []byte `json:"note"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
	Size   string `json:"size,omitempty"`
	Root   []byte `json:"root,omitempty"`
}

type pathStep struct {
	Level int    `json:"level"`
	Side  string `json:"side"`
}

type inclusionVector struct {
	Name            string     `json:"name"`
	Leaf            []byte     `json:"leaf"`
	ClaimedLeafHash []byte     `json:"claimed_leaf_hash,omitempty"`
	Index           string     `json:"index"`
	Size            string     `json:"size"`
	Proof           [][]byte   `json:"proof"`
	Root            []byte     `json:"root"`
	OK              bool       `json:"ok"`
	Error           string     `json:"error,omitempty"`
	LeafHash        []byte     `json:"leaf_hash,omitempty"`
	Path            []pathStep `json:"path,omitempty"`
}

type consistencyVector struct {
	Name  string   `json:"name"`
	Size1 string   `json:"size1"`
	Size2 string   `json:"size2"`
	Root1 []byte   `json:"root1"`
	Root2 []byte   `json:"root2"`
	Proof [][]byte `json:"proof"`
	OK    bool     `json:"ok"`
	Error string   `json:"error,omitempty"`
}

type timeClaim struct {
	Seconds string `json:"seconds"`
	Nanos   int    `json:"nanos"`
}

type decodedLeaf struct {
	Org            string  `json:"org"`
	Index          string  `json:"index"`
	Time           string  `json:"time"`
	UnixSeconds    string  `json:"unix_seconds"`
	Nanos          int     `json:"nanos"`
	IdempotencyKey string  `json:"idempotency_key"`
	Event          string  `json:"event"`
	Type           *string `json:"type,omitempty"`
	Actor          *string `json:"actor,omitempty"`
}

type leafVector struct {
	Name    string       `json:"name"`
	Leaf    []byte       `json:"leaf"`
	Org     string       `json:"org"`
	Index   string       `json:"index"`
	Type    *string      `json:"type,omitempty"`
	Actor   *string      `json:"actor,omitempty"`
	Time    *timeClaim   `json:"time,omitempty"`
	OK      bool         `json:"ok"`
	Error   string       `json:"error,omitempty"`
	Decoded *decodedLeaf `json:"decoded,omitempty"`
}

// Error kinds, as the vectors and the browser verifier name them.
var errorKinds = []struct {
	err  error
	kind string
}{
	{verify.ErrVerifierKey, "verifier-key"},
	{verify.ErrSignature, "signature"},
	{verify.ErrCheckpoint, "checkpoint"},
	{verify.ErrOrigin, "origin"},
	{verify.ErrInclusion, "inclusion"},
	{verify.ErrConsistency, "consistency"},
	{verify.ErrLeafHash, "leaf-hash"},
	{verify.ErrLeafMismatch, "leaf-mismatch"},
}

// kindOf returns the kind of err, which must wrap exactly one error value.
func kindOf(t *testing.T, err error) string {
	t.Helper()
	for _, k := range errorKinds {
		if errors.Is(err, k.err) {
			if !wrapsOnly(err, k.err) {
				t.Fatalf("error %v wraps more than %v", err, k.err)
			}
			return k.kind
		}
	}
	t.Fatalf("error %v wraps no error value of the package", err)
	return ""
}

func TestVectors(t *testing.T) {
	vf := makeVectors(t)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(vf); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(vectorsFile, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	} else if old, err := os.ReadFile(vectorsFile); err != nil || !bytes.Equal(old, buf.Bytes()) {
		t.Errorf("%s is not what the generator writes (%v): run 'go test ./ledger/verify -run TestVectors -update'", vectorsFile, err)
	}

	// Check the vectors as the file holds them.
	vf = &vectorFile{}
	if err := json.Unmarshal(buf.Bytes(), vf); err != nil {
		t.Fatal(err)
	}
	for _, v := range vf.Keys {
		t.Run("key/"+v.Name, func(t *testing.T) { checkKeyVector(t, v) })
	}
	for _, v := range vf.Checkpoints {
		t.Run("checkpoint/"+v.Name, func(t *testing.T) { checkCheckpointVector(t, v) })
	}
	for _, v := range vf.Inclusion {
		t.Run("inclusion/"+v.Name, func(t *testing.T) { checkInclusionVector(t, v) })
	}
	for _, v := range vf.Consistency {
		t.Run("consistency/"+v.Name, func(t *testing.T) { checkConsistencyVector(t, v) })
	}
	for _, v := range vf.Leaves {
		t.Run("leaf/"+v.Name, func(t *testing.T) { checkLeafVector(t, v) })
	}
}

// wantOutcome fails t unless err is what the vector expects.
func wantOutcome(t *testing.T, err error, ok bool, kind string) {
	t.Helper()
	if ok {
		if err != nil {
			t.Fatalf("rejected: %v; the vector says it verifies", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("accepted; the vector says it fails with %q", kind)
	}
	if got := kindOf(t, err); got != kind {
		t.Fatalf("failed with %q (%v); the vector says %q", got, err, kind)
	}
}

func parseUint(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func checkKeyVector(t *testing.T, v keyVector) {
	got, err := verify.KeyFingerprint(v.VKey)
	if err != nil || got != v.Fingerprint {
		t.Fatalf("KeyFingerprint(%q) = %q, %v; the vector says %q", v.VKey, got, err, v.Fingerprint)
	}
}

// fingerprint is KeyFingerprint's form, computed here from the key
// bytes: the hex SHA-256 of the public key in groups of four.
func fingerprint(pub []byte) string {
	h := fmt.Sprintf("%x", sha256.Sum256(pub))
	var groups []string
	for i := 0; i < len(h); i += 4 {
		groups = append(groups, h[i:i+4])
	}
	return strings.Join(groups, " ")
}

func checkCheckpointVector(t *testing.T, v checkpointVector) {
	ver, err := verify.NewVerifier(v.VKey, v.Origin)
	var cp verify.Checkpoint
	if err == nil {
		cp, err = ver.Checkpoint(v.Note)
	}
	wantOutcome(t, err, v.OK, v.Error)
	if v.OK && (strconv.FormatUint(cp.Size, 10) != v.Size || !bytes.Equal(cp.Root, v.Root) || cp.Origin != v.Origin) {
		t.Fatalf("checkpoint %d %x %q; the vector says %s %x %q", cp.Size, cp.Root, cp.Origin, v.Size, v.Root, v.Origin)
	}
}

func checkInclusionVector(t *testing.T, v inclusionVector) {
	lh := verify.LeafHash(v.Leaf)
	var err error
	if v.ClaimedLeafHash != nil {
		err = verify.Leaf(v.Leaf, v.ClaimedLeafHash)
	}
	if err == nil {
		err = verify.Inclusion(lh, parseUint(t, v.Index), parseUint(t, v.Size), v.Proof, v.Root)
	}
	wantOutcome(t, err, v.OK, v.Error)
	if v.OK {
		if !bytes.Equal(lh, v.LeafHash) {
			t.Fatalf("leaf hash %x; the vector says %x", lh, v.LeafHash)
		}
		if got := inclusionPath(parseUint(t, v.Index), parseUint(t, v.Size)); !equalPaths(got, v.Path) {
			t.Fatalf("path %v; the vector says %v", got, v.Path)
		}
	}
}

func checkConsistencyVector(t *testing.T, v consistencyVector) {
	err := verify.Consistency(parseUint(t, v.Size1), parseUint(t, v.Size2), v.Proof, v.Root1, v.Root2)
	wantOutcome(t, err, v.OK, v.Error)
}

func checkLeafVector(t *testing.T, v leafVector) {
	l, err := verify.LeafAt(v.Leaf, v.Org, parseUint(t, v.Index))
	if err == nil {
		err = checkClaims(l, v)
	}
	wantOutcome(t, err, v.OK, v.Error)
	if v.OK {
		got, _ := json.Marshal(decode(l))
		want, _ := json.Marshal(v.Decoded)
		if !bytes.Equal(got, want) {
			t.Fatalf("decoded %s; the vector says %s", got, want)
		}
	}
}

// checkClaims compares a leaf's event type, actor and time with the
// vector's claims about them. ledger/verify does not read events; this is
// the rule the browser verifier's verifyEvent applies.
func checkClaims(l leaf.Leaf, v leafVector) error {
	d := decode(l)
	if v.Type != nil && (d.Type == nil || *d.Type != *v.Type) {
		return fmt.Errorf("%w: type is not %q", verify.ErrLeafMismatch, *v.Type)
	}
	if v.Actor != nil && (d.Actor == nil || *d.Actor != *v.Actor) {
		return fmt.Errorf("%w: actor is not %q", verify.ErrLeafMismatch, *v.Actor)
	}
	if v.Time != nil && (d.UnixSeconds != v.Time.Seconds || d.Nanos != v.Time.Nanos) {
		return fmt.Errorf("%w: time %s, claimed %ss %dns", verify.ErrLeafMismatch, d.Time, v.Time.Seconds, v.Time.Nanos)
	}
	return nil
}

func decode(l leaf.Leaf) *decodedLeaf {
	var ev map[string]any
	if err := json.Unmarshal(l.Event, &ev); err != nil {
		panic(err) // leaf.Parse accepted it as a JSON object
	}
	str := func(v any) *string {
		if s, ok := v.(string); ok {
			return &s
		}
		return nil
	}
	return &decodedLeaf{
		Org:            l.Org,
		Index:          strconv.FormatUint(l.Index, 10),
		Time:           l.Time.UTC().Format(leaf.TimeLayout),
		UnixSeconds:    strconv.FormatInt(l.Time.Unix(), 10),
		Nanos:          l.Time.Nanosecond(),
		IdempotencyKey: l.IdempotencyKey,
		Event:          string(l.Event),
		Type:           str(ev["type"]),
		Actor:          str(ev["actor"]),
	}
}

// inclusionPath returns, bottom up, the level and side of each hash of the
// inclusion proof of leaf m in a tree of n leaves, by the recursive
// definition of PATH in RFC 9162, 2.1.3.1.
func inclusionPath(m, n uint64) []pathStep {
	if n <= 1 {
		return nil
	}
	k := uint64(1) << (bits.Len64(n-1) - 1) // the largest power of two below n
	level := bits.Len64(k) - 1
	if m < k {
		return append(inclusionPath(m, k), pathStep{level, "right"})
	}
	return append(inclusionPath(m-k, n-k), pathStep{level, "left"})
}

func equalPaths(a, b []pathStep) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// vectorLeaf returns leaf i of the vectors' tree: a real ledger leaf of the
// org "acme".
func vectorLeaf(i int) []byte {
	types := []struct{ typ, actor, subject string }{
		{"auth.login.succeeded", "u-7f3a", "user:u-7f3a"},
		{"custom.deploy", "token:t-91c2", ""},
		{"connector.sync.requested", "system", "connector:c-42"},
		{"access.request.submitted", "u-0b1e", "request:r-5"},
	}
	e := types[i%len(types)]
	var ev strings.Builder
	fmt.Fprintf(&ev, `{"actor":%q,"data":{"n":%d,"note":"Zoë ✓ %d"}`, e.actor, i, i)
	if i%3 != 1 {
		fmt.Fprintf(&ev, `,"request_id":"req-%04d"`, i)
	}
	if e.subject != "" {
		fmt.Fprintf(&ev, `,"subject":%q`, e.subject)
	}
	fmt.Fprintf(&ev, `,"type":%q}`, e.typ)
	l := leaf.Leaf{
		Org:   "acme",
		Index: uint64(i),
		Time:  time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC).Add(time.Duration(i) * (time.Hour + 2*time.Minute + 3*time.Second + 456789*time.Nanosecond)),
		Event: json.RawMessage(ev.String()),
	}
	if i%3 == 1 {
		l.IdempotencyKey = fmt.Sprintf("deploy:%d", i)
	}
	return leaf.Append(nil, &l)
}

// keyHashOf is the note key hash of name and an encoded key.
func keyHashOf(name string, key []byte) uint32 {
	h := sha256.Sum256(append([]byte(name+"\n"), key...))
	return binary.BigEndian.Uint32(h[:])
}

// vkeyOf builds a verifier key from its parts, with the right hash.
func vkeyOf(name string, key []byte) string {
	return fmt.Sprintf("%s+%08x+%s", name, keyHashOf(name, key), base64.StdEncoding.EncodeToString(key))
}

func makeVectors(t *testing.T) *vectorFile {
	vf := &vectorFile{
		Comment: "Test vectors of the Go verifier (ledger/verify) and the browser verifier (web/src/verify). " +
			"Written by TestVectors in ledger/verify/vectors_test.go; see README.md. Bytes are standard base64, sizes and indexes decimal strings.",
	}
	key := newLogKey(t, 1, "nuxari-test")
	other := newLogKey(t, 2, "other-log")
	sameName := newLogKey(t, 3, "nuxari-test")
	witness := newLogKey(t, 4, "witness.example")
	bom := newLogKey(t, 5, "nuxari\ufefftest")

	tr := &tree{}
	for i := range vectorTreeSize {
		tr.add(t, vectorLeaf(i))
	}
	root := tr.root(t, vectorTreeSize)
	empty := tr.root(t, 0)

	// Keys.
	for _, k := range []struct {
		name string
		k    logKey
	}{{"pinned", key}, {"other", other}, {"same name", sameName}, {"witness", witness}} {
		vf.Keys = append(vf.Keys, keyVector{k.name, k.k.vkey, fingerprint(encodedKey(t, k.k)[1:])})
	}
	pub := encodedKey(t, key) // 0x01 || the Ed25519 key
	i := strings.IndexByte(key.vkey, '+')
	hash16 := key.vkey[i+1 : i+9]

	// Checkpoints.
	cpOK := func(name, vkey, origin string, n []byte, size uint64, root []byte) {
		vf.Checkpoints = append(vf.Checkpoints, checkpointVector{Name: name, VKey: vkey, Origin: origin, Note: n, OK: true,
			Size: strconv.FormatUint(size, 10), Root: root})
	}
	cpBad := func(name, vkey, origin string, n []byte, kind string) {
		if n == nil {
			n = []byte{} // "", not null
		}
		vf.Checkpoints = append(vf.Checkpoints, checkpointVector{Name: name, VKey: vkey, Origin: origin, Note: n, Error: kind})
	}
	sign := func(text string, signers ...note.Signer) []byte { return signText(t, text, signers...) }
	valid := checkpointText(testOrigin, vectorTreeSize, root)
	signed := sign(valid, key.signer)
	b64 := base64.StdEncoding.EncodeToString(root)
	sigLine := func(b []byte) string { // the note's first signature line
		return string(b[bytes.Index(b, []byte("\n\n"))+2:])
	}
	witnessLine := sigLine(sign(valid, witness.signer))
	keyLine := sigLine(signed)
	nonCanonicalSig := func() []byte {
		line := strings.TrimSuffix(keyLine, "=\n")
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		last := strings.IndexByte(alphabet, line[len(line)-1])
		return []byte(valid + "\n" + line[:len(line)-1] + string(alphabet[last^1]) + "=\n")
	}

	cpOK("valid", key.vkey, testOrigin, signed, vectorTreeSize, root)
	cpOK("size 1", key.vkey, testOrigin, sign(checkpointText(testOrigin, 1, tr.root(t, 1)), key.signer), 1, tr.root(t, 1))
	cpOK("empty tree", key.vkey, testOrigin, sign(checkpointText(testOrigin, 0, empty), key.signer), 0, empty)
	cpOK("largest size", key.vkey, testOrigin, sign(checkpointText(testOrigin, 1<<64-1, root), key.signer), 1<<64-1, root)
	cpOK("witness signature after", key.vkey, testOrigin, sign(valid, key.signer, witness.signer), vectorTreeSize, root)
	cpOK("witness signature before", key.vkey, testOrigin, sign(valid, witness.signer, key.signer), vectorTreeSize, root)
	cpOK("also signed by a key with the same name", key.vkey, testOrigin, sign(valid, sameName.signer, key.signer), vectorTreeSize, root)
	cpOK("also signed by other logs", key.vkey, testOrigin, sign(valid, other.signer, key.signer, witness.signer), vectorTreeSize, root)
	cpOK("second signature by the pinned key is not checked", key.vkey, testOrigin, append(bytes.Clone(signed), flipSignature(t, signed)[len(valid)+1:]...), vectorTreeSize, root)
	cpOK("unknown signer with a short signature", key.vkey, testOrigin, []byte(valid+"\n"+keyLine+"— witness.example AAAAAAA=\n"), vectorTreeSize, root)
	cpOK("signature in non-canonical base64", key.vkey, testOrigin, nonCanonicalSig(), vectorTreeSize, root)
	cpOK("100 signatures", key.vkey, testOrigin, []byte(valid+"\n"+keyLine+strings.Repeat(witnessLine, 99)), vectorTreeSize, root)
	cpOK("key hash in upper-case hex", strings.Replace(key.vkey, hash16, strings.ToUpper(hash16), 1), testOrigin, signed, vectorTreeSize, root)
	cpOK("key base64 with a line break (Go's base64 skips CR and LF)", key.vkey[:len(key.vkey)-10]+"\n"+key.vkey[len(key.vkey)-10:], testOrigin, signed, vectorTreeSize, root)
	cpOK("key name with U+FEFF, not a space", bom.vkey, testOrigin, sign(valid, bom.signer), vectorTreeSize, root)
	const uniOrigin = "nüxari log/orgs/acme"
	cpOK("origin with a space and non-ASCII", key.vkey, uniOrigin, sign(checkpointText(uniOrigin, vectorTreeSize, root), key.signer), vectorTreeSize, root)

	cpBad("signature bit flipped", key.vkey, testOrigin, flipSignature(t, signed), "signature")
	cpBad("signed by another key", key.vkey, testOrigin, sign(valid, other.signer), "signature")
	cpBad("signed by another key with the same name", key.vkey, testOrigin, sign(valid, sameName.signer), "signature")
	cpBad("signed by a witness only", key.vkey, testOrigin, sign(valid, witness.signer), "signature")
	cpBad("size changed after signing", key.vkey, testOrigin, bytes.Replace(signed, []byte("\n70\n"), []byte("\n71\n"), 1), "signature")
	cpBad("root changed after signing", key.vkey, testOrigin, bytes.Replace(signed, []byte(b64), []byte(base64.StdEncoding.EncodeToString(tr.root(t, 69))), 1), "signature")
	cpBad("origin changed after signing", key.vkey, testOrigin, bytes.Replace(signed, []byte("orgs/acme"), []byte("orgs/acmf"), 1), "signature")
	cpBad("invalid signature before a valid one", key.vkey, testOrigin, append(flipSignature(t, signed), keyLine...), "signature")
	cpBad("signature by the pinned key too short", key.vkey, testOrigin, []byte(valid+"\n— nuxari-test "+keyShortSig(t, keyLine)+"\n"), "signature")
	cpBad("signature with another key hash", key.vkey, testOrigin, []byte(valid+"\n"+otherHash(t, keyLine)), "signature")
	cpBad("signature over the text without its last newline", key.vkey, testOrigin, []byte(valid+"\n"+signLine(t, key, []byte(valid[:len(valid)-1]))), "signature")
	cpBad("only signature after a blank line is another key's", key.vkey, testOrigin, []byte(valid+"\n"+keyLine+"\n"+witnessLine), "signature")

	cpBad("other origin", key.vkey, testOrigin, sign(checkpointText("nuxari-test/orgs/other", vectorTreeSize, root), key.signer), "origin")
	cpBad("origin in other case", key.vkey, testOrigin, sign(checkpointText("nuxari-test/orgs/ACME", vectorTreeSize, root), key.signer), "origin")
	cpBad("origin with a trailing space", key.vkey, testOrigin, sign(checkpointText(testOrigin+" ", vectorTreeSize, root), key.signer), "origin")
	cpBad("origin prefix", key.vkey, testOrigin, sign(checkpointText("nuxari-test/orgs/acm", vectorTreeSize, root), key.signer), "origin")
	cpBad("other origin, and empty tree with non-empty root", key.vkey, testOrigin, sign(checkpointText("other/orgs/acme", 0, root), key.signer), "origin")

	malformed := []struct {
		name string
		note []byte
	}{
		{"missing blank line", []byte(valid + keyLine)},
		{"no signatures", []byte(valid + "\n")},
		{"text only", []byte(valid)},
		{"empty", nil},
		{"no newline after the last signature", signed[:len(signed)-1]},
		{"signature line without the em dash", []byte(valid + "\n" + "-" + strings.TrimPrefix(keyLine, "—"))},
		{"signature line with bad base64", []byte(valid + "\n" + strings.Replace(keyLine, "nuxari-test ", "nuxari-test !", 1))},
		{"signature line without a signature", []byte(valid + "\n— nuxari-test\n")},
		{"signature line with a name with +", []byte(valid + "\n" + strings.Replace(keyLine, "nuxari-test", "nuxari+test", 1))},
		{"signature of four bytes", []byte(valid + "\n" + keyLine + "— witness.example AAAAAA==\n")},
		{"101 signatures", []byte(valid + "\n" + keyLine + strings.Repeat(witnessLine, 100))},
		{"control character in text", sign(checkpointText("nuxari-test/orgs/ac\tme", vectorTreeSize, root), key.signer)},
		{"CR in text", bytes.Replace(signed, []byte("\n70\n"), []byte("\n70\r\n"), 1)},
		{"invalid UTF-8", append([]byte("\xff"), signed...)},
		{"size not a number", sign(testOrigin+"\nseventy\n"+b64+"\n", key.signer)},
		{"size with a leading zero", sign(testOrigin+"\n070\n"+b64+"\n", key.signer)},
		{"size zero with a leading zero", sign(testOrigin+"\n00\n"+base64.StdEncoding.EncodeToString(empty)+"\n", key.signer)},
		{"negative size", sign(testOrigin+"\n-1\n"+b64+"\n", key.signer)},
		{"size with a plus sign", sign(testOrigin+"\n+70\n"+b64+"\n", key.signer)},
		{"size in hex", sign(testOrigin+"\n0x46\n"+b64+"\n", key.signer)},
		{"empty size", sign(testOrigin+"\n\n"+b64+"\n", key.signer)},
		{"size overflows uint64", sign(testOrigin+"\n18446744073709551616\n"+b64+"\n", key.signer)},
		{"root bad base64", sign(testOrigin+"\n70\n"+b64[:len(b64)-2]+"!=\n", key.signer)},
		{"root unpadded", sign(testOrigin+"\n70\n"+strings.TrimRight(b64, "=")+"\n", key.signer)},
		{"root with non-zero padding bits", sign(testOrigin+"\n70\n"+paddingBits(b64)+"\n", key.signer)},
		{"root in hex", sign(testOrigin+"\n70\n"+fmt.Sprintf("%x", root)+"\n", key.signer)},
		{"root of 31 bytes", sign(checkpointText(testOrigin, vectorTreeSize, root[:31]), key.signer)},
		{"root of 33 bytes", sign(checkpointText(testOrigin, vectorTreeSize, append(bytes.Clone(root), 0)), key.signer)},
		{"empty root", sign(testOrigin+"\n70\n\n", key.signer)},
		{"extension line", sign(valid+"ext\n", key.signer)},
		{"empty extension line", sign(valid+"\n", key.signer)},
		{"too few lines", sign(testOrigin+"\n70\n", key.signer)},
		{"empty origin", sign("\n70\n"+b64+"\n", key.signer)},
		{"empty tree with non-empty root", sign(checkpointText(testOrigin, 0, root), key.signer)},
	}
	for _, m := range malformed {
		cpBad(m.name, key.vkey, testOrigin, m.note, "checkpoint")
	}

	// Bad verifier keys and origins, with a valid note.
	for _, k := range []struct{ name, vkey string }{
		{"empty", ""},
		{"name only", "nuxari-test"},
		{"no key", "nuxari-test+" + hash16},
		{"empty key", "nuxari-test+" + hash16 + "+"},
		{"key hash changed", strings.Replace(key.vkey, hash16, fmt.Sprintf("%08x", keyHashOf("nuxari-test", pub)^1), 1)},
		{"key hash of 7 digits", strings.Replace(key.vkey, hash16, hash16[1:], 1)},
		{"key hash of 9 digits", strings.Replace(key.vkey, hash16, "0"+hash16, 1)},
		{"key hash not hex", strings.Replace(key.vkey, hash16, "zzzzzzzz", 1)},
		{"key hash with 0x", strings.Replace(key.vkey, hash16, "0x"+hash16[2:], 1)},
		{"key bad base64", key.vkey[:len(key.vkey)-1] + "!"},
		{"key truncated", key.vkey[:len(key.vkey)-4]},
		{"key of another name", strings.Replace(key.vkey, "nuxari-test", "nuxari-prod", 1)},
		{"unknown algorithm", vkeyOf("nuxari-test", append([]byte{2}, pub[1:]...))},
		{"Ed25519 key of 31 bytes", vkeyOf("nuxari-test", pub[:32])},
		{"Ed25519 key of 33 bytes", vkeyOf("nuxari-test", append(bytes.Clone(pub), 0))},
		{"empty name", vkeyOf("", pub)},
		{"name with a space", vkeyOf("nuxari test", pub)},
		{"name with a no-break space", vkeyOf("nuxari\u00a0test", pub)},
		{"name with an ideographic space", vkeyOf("nuxari\u3000test", pub)},
		{"signer key", "PRIVATE+KEY+" + key.vkey},
	} {
		cpBad("verifier key: "+k.name, k.vkey, testOrigin, signed, "verifier-key")
	}
	cpBad("verifier key: empty origin", key.vkey, "", signed, "verifier-key")

	// Inclusion proofs.
	inclOK := func(name string, index, size uint64, claimed bool) {
		v := inclusionVector{
			Name: name, Leaf: tr.leaves[index], Index: strconv.FormatUint(index, 10), Size: strconv.FormatUint(size, 10),
			Proof: tr.inclusion(t, index, size), Root: tr.root(t, size), OK: true, LeafHash: tr.leafHash(index),
			Path: inclusionPath(index, size),
		}
		if claimed {
			v.ClaimedLeafHash = tr.leafHash(index)
		}
		vf.Inclusion = append(vf.Inclusion, v)
	}
	for _, c := range []struct{ index, size uint64 }{
		{0, 1}, {0, 2}, {1, 2}, {2, 3}, {0, 3}, {3, 4}, {0, 5}, {4, 5},
		{0, 7}, {4, 7}, {6, 7}, {0, 8}, {5, 8}, {7, 8}, {8, 9}, {9, 13}, {12, 13},
		{0, 16}, {15, 16}, {10, 31}, {30, 31}, {0, 32}, {31, 64}, {63, 64}, {64, 65},
		{13, 70}, {40, 70}, {68, 70}, {69, 70},
	} {
		inclOK(fmt.Sprintf("index %d, size %d", c.index, c.size), c.index, c.size, false)
	}
	inclOK("index 5, size 13, with the claimed leaf hash", 5, 13, true)
	inclOK("index 69, size 70, with the claimed leaf hash", 69, 70, true)

	inclBad := func(name string, index, size uint64, tamper func(v *inclusionVector), kind string) {
		v := inclusionVector{
			Name: name, Leaf: bytes.Clone(tr.leaves[index%vectorTreeSize]), Index: strconv.FormatUint(index, 10), Size: strconv.FormatUint(size, 10),
			Root: tr.root(t, min(size, vectorTreeSize)), Error: kind,
		}
		if index < size && size <= vectorTreeSize {
			v.Proof = tr.inclusion(t, index, size)
		}
		tamper(&v)
		if v.Proof == nil {
			v.Proof = [][]byte{}
		}
		vf.Inclusion = append(vf.Inclusion, v)
	}
	keep := func(*inclusionVector) {}
	inclBad("flipped byte in the first proof hash", 40, 70, func(v *inclusionVector) { v.Proof[0] = flip(v.Proof[0], 3) }, "inclusion")
	inclBad("flipped byte in the last proof hash", 40, 70, func(v *inclusionVector) { v.Proof[len(v.Proof)-1] = flip(v.Proof[len(v.Proof)-1], 255) }, "inclusion")
	inclBad("flipped byte in the leaf", 13, 70, func(v *inclusionVector) { v.Leaf[10] ^= 1 }, "inclusion")
	inclBad("flipped byte in the leaf, with the claimed leaf hash", 13, 70, func(v *inclusionVector) {
		v.ClaimedLeafHash = tr.leafHash(13)
		v.Leaf[10] ^= 1
	}, "leaf-hash")
	inclBad("claimed leaf hash of another leaf", 13, 70, func(v *inclusionVector) { v.ClaimedLeafHash = tr.leafHash(14) }, "leaf-hash")
	inclBad("claimed leaf hash flipped", 13, 70, func(v *inclusionVector) { v.ClaimedLeafHash = flip(tr.leafHash(13), 8) }, "leaf-hash")
	inclBad("claimed leaf hash is a plain SHA-256 of the leaf", 13, 70, func(v *inclusionVector) { v.ClaimedLeafHash = sha256Of(v.Leaf) }, "leaf-hash")
	inclBad("claimed leaf hash of 31 bytes", 13, 70, func(v *inclusionVector) { v.ClaimedLeafHash = tr.leafHash(13)[:31] }, "leaf-hash")
	inclBad("flipped byte in the root", 13, 70, func(v *inclusionVector) { v.Root = flip(v.Root, 100) }, "inclusion")
	inclBad("root of another size", 13, 70, func(v *inclusionVector) { v.Root = tr.root(t, 69) }, "inclusion")
	inclBad("wrong index", 13, 70, func(v *inclusionVector) { v.Index = "12" }, "inclusion")
	inclBad("leaf of the next index", 13, 70, func(v *inclusionVector) { v.Leaf = tr.leaves[14] }, "inclusion")
	inclBad("wrong size", 13, 70, func(v *inclusionVector) { v.Size = "69"; v.Root = tr.root(t, 69) }, "inclusion")
	inclBad("proof too short", 13, 70, func(v *inclusionVector) { v.Proof = v.Proof[:len(v.Proof)-1] }, "inclusion")
	inclBad("proof too long", 13, 70, func(v *inclusionVector) { v.Proof = append(v.Proof, tr.leafHash(0)) }, "inclusion")
	inclBad("proof with the root appended", 13, 70, func(v *inclusionVector) { v.Proof = append(v.Proof, v.Root) }, "inclusion")
	// A short proof reaches a subtree, a long one a node above the root:
	// with those as roots (which a lying log could sign), only the proof's
	// length gives it away.
	inclBad("proof one hash short, root of the subtree it reaches", 5, 8, func(v *inclusionVector) {
		v.Proof = v.Proof[:2]
		v.Root = hashChildren(hashChildren(tr.leafHash(4), tr.leafHash(5)), v.Proof[1])
	}, "inclusion")
	inclBad("proof one hash long, root the node above", 5, 8, func(v *inclusionVector) {
		v.Proof = append(v.Proof, tr.leafHash(0))
		v.Root = hashChildren(tr.leafHash(0), v.Root)
	}, "inclusion")
	inclBad("proof hashes swapped", 5, 8, func(v *inclusionVector) { v.Proof[0], v.Proof[1] = v.Proof[1], v.Proof[0] }, "inclusion")
	inclBad("empty proof", 5, 8, func(v *inclusionVector) { v.Proof = nil }, "inclusion")
	inclBad("proof hash of 31 bytes", 5, 8, func(v *inclusionVector) { v.Proof[1] = v.Proof[1][:31] }, "inclusion")
	inclBad("proof hash of 33 bytes", 5, 8, func(v *inclusionVector) { v.Proof[1] = append(bytes.Clone(v.Proof[1]), 0) }, "inclusion")
	inclBad("root of 31 bytes", 5, 8, func(v *inclusionVector) { v.Root = v.Root[:31] }, "inclusion")
	inclBad("size 1 with a proof hash", 0, 1, func(v *inclusionVector) { v.Proof = [][]byte{tr.leafHash(1)} }, "inclusion")
	inclBad("size 1, leaf hash as the root of another leaf", 0, 1, func(v *inclusionVector) { v.Root = tr.leafHash(1) }, "inclusion")
	inclBad("index equal to size", 70, 70, keep, "inclusion")
	inclBad("index beyond size", 71, 70, func(v *inclusionVector) { v.Proof = tr.inclusion(t, 69, 70) }, "inclusion")
	inclBad("size 0", 0, 0, keep, "inclusion")
	inclBad("huge index and size", 1<<63, 1<<64-1, func(v *inclusionVector) {
		for range 64 {
			v.Proof = append(v.Proof, tr.leafHash(0))
		}
	}, "inclusion")
	inclBad("largest index", 1<<64-1, 1<<64-1, keep, "inclusion")

	// Consistency proofs.
	consOK := func(size1, size2 uint64) {
		vf.Consistency = append(vf.Consistency, consistencyVector{
			Name: fmt.Sprintf("sizes %d to %d", size1, size2), Size1: strconv.FormatUint(size1, 10), Size2: strconv.FormatUint(size2, 10),
			Root1: tr.root(t, size1), Root2: tr.root(t, size2), Proof: orEmpty(tr.consistency(t, size1, size2)), OK: true,
		})
	}
	for _, c := range []struct{ size1, size2 uint64 }{
		{1, 1}, {1, 2}, {1, 3}, {2, 3}, {2, 4}, {3, 7}, {4, 7}, {4, 8}, {6, 8}, {7, 8}, {8, 9}, {5, 13}, {13, 16},
		{16, 32}, {31, 64}, {32, 64}, {63, 64}, {64, 65}, {1, 70}, {13, 70}, {64, 70}, {69, 70}, {70, 70}, {9, 9},
		{0, 0}, {0, 1}, {0, 70},
	} {
		consOK(c.size1, c.size2)
	}
	consBad := func(name string, size1, size2 uint64, tamper func(v *consistencyVector)) {
		v := consistencyVector{
			Name: name, Size1: strconv.FormatUint(size1, 10), Size2: strconv.FormatUint(size2, 10),
			Root1: tr.root(t, min(size1, vectorTreeSize)), Root2: tr.root(t, min(size2, vectorTreeSize)), Error: "consistency",
		}
		if size1 <= size2 && size2 <= vectorTreeSize {
			v.Proof = tr.consistency(t, size1, size2)
		}
		tamper(&v)
		v.Proof = orEmpty(v.Proof)
		vf.Consistency = append(vf.Consistency, v)
	}
	consBad("flipped byte in the first proof hash", 13, 70, func(v *consistencyVector) { v.Proof[0] = flip(v.Proof[0], 0) })
	consBad("flipped byte in the last proof hash", 13, 70, func(v *consistencyVector) { v.Proof[len(v.Proof)-1] = flip(v.Proof[len(v.Proof)-1], 77) })
	consBad("flipped byte in a proof hash, first size a power of two", 32, 70, func(v *consistencyVector) { v.Proof[0] = flip(v.Proof[0], 9) })
	consBad("flipped byte in the first root", 13, 70, func(v *consistencyVector) { v.Root1 = flip(v.Root1, 5) })
	consBad("flipped byte in the second root", 13, 70, func(v *consistencyVector) { v.Root2 = flip(v.Root2, 5) })
	consBad("flipped byte in the first root, a power of two", 32, 70, func(v *consistencyVector) { v.Root1 = flip(v.Root1, 5) })
	consBad("wrong second size", 13, 70, func(v *consistencyVector) { v.Size2 = "69"; v.Root2 = tr.root(t, 69) })
	consBad("wrong first size", 13, 70, func(v *consistencyVector) { v.Size1 = "12"; v.Root1 = tr.root(t, 12) })
	consBad("truncated", 13, 70, func(v *consistencyVector) { v.Proof = v.Proof[:len(v.Proof)-1] })
	consBad("first hash dropped", 13, 70, func(v *consistencyVector) { v.Proof = v.Proof[1:] })
	consBad("extra hash appended", 13, 70, func(v *consistencyVector) { v.Proof = append(v.Proof, tr.leafHash(0)) })
	consBad("first root prepended, a power of two", 32, 70, func(v *consistencyVector) { v.Proof = append([][]byte{v.Root1}, v.Proof...) })
	consBad("truncated, second root the subtree it reaches", 3, 7, func(v *consistencyVector) {
		v.Proof = v.Proof[:len(v.Proof)-1]
		v.Root2 = tr.root(t, 4)
	})
	consBad("empty proof", 3, 7, func(v *consistencyVector) { v.Proof = nil })
	consBad("proof hash of 31 bytes", 3, 7, func(v *consistencyVector) { v.Proof[0] = v.Proof[0][:31] })
	consBad("first root of 31 bytes", 3, 7, func(v *consistencyVector) { v.Root1 = v.Root1[:31] })
	consBad("second root of 33 bytes", 3, 7, func(v *consistencyVector) { v.Root2 = append(bytes.Clone(v.Root2), 1) })
	consBad("first size larger", 70, 13, func(v *consistencyVector) { v.Proof = tr.consistency(t, 13, 70) })
	consBad("first size larger, empty proof", 8, 7, func(*consistencyVector) {})
	consBad("equal sizes with a proof hash", 9, 9, func(v *consistencyVector) { v.Proof = [][]byte{tr.leafHash(0)} })
	consBad("equal sizes, different roots", 9, 9, func(v *consistencyVector) { v.Root2 = flip(v.Root2, 0) })
	consBad("equal sizes 0, non-empty first root", 0, 0, func(v *consistencyVector) { v.Root1 = root; v.Root2 = root })
	consBad("from size 0, non-empty first root", 0, 70, func(v *consistencyVector) { v.Root1 = tr.root(t, 1) })
	consBad("from size 0, with a proof hash", 0, 70, func(v *consistencyVector) { v.Proof = [][]byte{tr.leafHash(0)} })
	consBad("huge sizes", 1<<62, 1<<63+5, func(v *consistencyVector) {
		for range 64 {
			v.Proof = append(v.Proof, tr.leafHash(0))
		}
	})

	// Leaves.
	str := func(s string) *string { return &s }
	leafOK := func(name string, b []byte, org string, index uint64) *leafVector {
		l, err := leaf.Parse(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		vf.Leaves = append(vf.Leaves, leafVector{Name: name, Leaf: b, Org: org, Index: strconv.FormatUint(index, 10), OK: true, Decoded: decode(l)})
		return &vf.Leaves[len(vf.Leaves)-1]
	}
	leafBad := func(name string, b []byte, org string, index uint64) *leafVector {
		vf.Leaves = append(vf.Leaves, leafVector{Name: name, Leaf: b, Org: org, Index: strconv.FormatUint(index, 10), Error: "leaf-mismatch"})
		return &vf.Leaves[len(vf.Leaves)-1]
	}
	l13 := tr.leaves[13]
	d13 := decode(mustParse(t, l13))
	leafOK("leaf 13 of the tree", l13, "acme", 13)
	leafOK("leaf 13 with its claimed type, actor and time", l13, "acme", 13).claims(d13.Type, d13.Actor, &timeClaim{d13.UnixSeconds, d13.Nanos})
	leafOK("leaf 1, with an idempotency key and no request ID", tr.leaves[1], "acme", 1)
	leafOK("leaf 0", tr.leaves[0], "acme", 0)
	leafBad("other org", l13, "acme2", 13)
	leafBad("other index", l13, "acme", 12)
	leafBad("claimed type differs", l13, "acme", 13).claims(str("auth.login.failed"), nil, nil)
	leafBad("claimed actor differs", l13, "acme", 13).claims(nil, str("u-0000"), nil)
	leafBad("claimed time differs by a nanosecond", l13, "acme", 13).claims(nil, nil, &timeClaim{d13.UnixSeconds, d13.Nanos + 1})
	leafBad("claimed time differs by a second", l13, "acme", 13).claims(nil, nil, &timeClaim{strconv.Itoa(mustAtoi(t, d13.UnixSeconds) + 1), d13.Nanos})

	const golden = `{"event":{"a":1},"idempotency_key":"req-1","index":7,"org":"acme","time":"2026-01-02T03:04:05.000000006Z"}`
	leafOK("minimal event", []byte(golden), "acme", 7)
	leafOK("no idempotency key", []byte(strings.Replace(golden, `"idempotency_key":"req-1",`, "", 1)), "acme", 7)
	leafOK("event not in canonical form, kept verbatim", []byte(strings.Replace(golden, `{"a":1}`, `{ "b" : [1, 2.50], "a":"\u00e9" }`, 1)), "acme", 7)
	leafOK("event with non-ASCII text", []byte(strings.Replace(golden, `{"a":1}`, `{"actor":"Zoë","type":"custom.ünïcode ✓"}`, 1)), "acme", 7)
	leafOK("largest index", []byte(strings.Replace(golden, `"index":7`, `"index":9007199254740991`, 1)), "acme", leaf.MaxIndex)
	leafOK("index 0", []byte(strings.Replace(golden, `"index":7`, `"index":0`, 1)), "acme", 0)
	leafOK("year 0000", []byte(strings.Replace(golden, `2026-01-02T03:04:05.000000006Z`, `0000-01-01T00:00:00.000000000Z`, 1)), "acme", 7)
	leafOK("year 9999", []byte(strings.Replace(golden, `2026-01-02T03:04:05.000000006Z`, `9999-12-31T23:59:59.999999999Z`, 1)), "acme", 7)
	leafOK("before 1970", []byte(strings.Replace(golden, `2026-01-02T03:04:05.000000006Z`, `1969-12-31T23:59:59.500000000Z`, 1)), "acme", 7)
	leafOK("29 February 2000", []byte(strings.Replace(golden, `2026-01-02`, `2000-02-29`, 1)), "acme", 7)
	leafOK("29 February 2024", []byte(strings.Replace(golden, `2026-01-02`, `2024-02-29`, 1)), "acme", 7)
	leafOK("longest org and key", []byte(strings.Replace(strings.Replace(golden, `"acme"`, `"`+strings.Repeat("a", leaf.MaxOrgLen)+`"`, 1), `"req-1"`, `"`+strings.Repeat("k", leaf.MaxIdempotencyKeyLen)+`"`, 1)), strings.Repeat("a", leaf.MaxOrgLen), 7)
	leafBad("event without type, type claimed", []byte(golden), "acme", 7).claims(str(""), nil, nil)

	for _, c := range []struct{ name, in string }{
		{"empty", ``},
		{"null", `null`},
		{"not JSON", `event 7`},
		{"array", `[` + golden + `]`},
		{"truncated", golden[:len(golden)-1]},
		{"leading space", ` ` + golden},
		{"trailing newline", golden + "\n"},
		{"trailing object", golden + `{}`},
		{"space after colon", strings.Replace(golden, `"index":7`, `"index": 7`, 1)},
		{"space before event", strings.Replace(golden, `"event":{`, `"event": {`, 1)},
		{"space after event", strings.Replace(golden, `{"a":1},`, `{"a":1} ,`, 1)},
		{"reordered members", `{"event":{"a":1},"idempotency_key":"req-1","org":"acme","index":7,"time":"2026-01-02T03:04:05.000000006Z"}`},
		{"duplicate org, last wins", strings.Replace(golden, `"org":"acme"`, `"org":"evil","org":"acme"`, 1)},
		{"duplicate event", strings.Replace(golden, `{"event":{"a":1}`, `{"event":{"a":2},"event":{"a":1}`, 1)},
		{"unknown member", strings.Replace(golden, `"org":"acme"`, `"org":"acme","other":1`, 1)},
		{"member name in other case", strings.Replace(golden, `"index"`, `"Index"`, 1)},
		{"escaped org", strings.Replace(golden, `"org":"acme"`, `"org":"\u0061cme"`, 1)},
		{"escaped time", strings.Replace(golden, `"time":"2026`, `"time":"\u0032026`, 1)},
		{"empty idempotency key present", strings.Replace(golden, `"req-1"`, `""`, 1)},
		{"null idempotency key", strings.Replace(golden, `"req-1"`, `null`, 1)},
		{"missing index", strings.Replace(golden, `"index":7,`, ``, 1)},
		{"missing event", strings.Replace(golden, `"event":{"a":1},`, ``, 1)},
		{"index above the largest", strings.Replace(golden, `"index":7`, `"index":9007199254740992`, 1)},
		{"negative index", strings.Replace(golden, `"index":7`, `"index":-7`, 1)},
		{"negative zero index", strings.Replace(golden, `"index":7`, `"index":-0`, 1)},
		{"float index", strings.Replace(golden, `"index":7`, `"index":7.0`, 1)},
		{"exponent index", strings.Replace(golden, `"index":7`, `"index":7e0`, 1)},
		{"leading zero index", strings.Replace(golden, `"index":7`, `"index":07`, 1)},
		{"string index", strings.Replace(golden, `"index":7`, `"index":"7"`, 1)},
		{"time without fraction", strings.Replace(golden, `05.000000006Z`, `05Z`, 1)},
		{"time with eight fraction digits", strings.Replace(golden, `05.000000006Z`, `05.00000006Z`, 1)},
		{"time with offset", strings.Replace(golden, `05.000000006Z`, `05.000000006+00:00`, 1)},
		{"time lowercase z", strings.Replace(golden, `05.000000006Z`, `05.000000006z`, 1)},
		{"time month 13", strings.Replace(golden, `2026-01-02`, `2026-13-02`, 1)},
		{"time month 00", strings.Replace(golden, `2026-01-02`, `2026-00-02`, 1)},
		{"time day 00", strings.Replace(golden, `2026-01-02`, `2026-01-00`, 1)},
		{"time 30 February", strings.Replace(golden, `2026-01-02`, `2026-02-30`, 1)},
		{"time 29 February 2026", strings.Replace(golden, `2026-01-02`, `2026-02-29`, 1)},
		{"time 29 February 1900", strings.Replace(golden, `2026-01-02`, `1900-02-29`, 1)},
		{"time 31 April", strings.Replace(golden, `2026-01-02`, `2026-04-31`, 1)},
		{"time hour 24", strings.Replace(golden, `T03:04:05`, `T24:04:05`, 1)},
		{"time minute 60", strings.Replace(golden, `T03:04:05`, `T03:60:05`, 1)},
		{"time leap second", strings.Replace(golden, `T03:04:05`, `T23:59:60`, 1)},
		{"time five-digit year", strings.Replace(golden, `2026-01-02`, `12026-01-02`, 1)},
		{"time as number", strings.Replace(golden, `"2026-01-02T03:04:05.000000006Z"`, `1767323045`, 1)},
		{"event array", strings.Replace(golden, `{"a":1}`, `[1]`, 1)},
		{"event string", strings.Replace(golden, `{"a":1}`, `"a"`, 1)},
		{"event null", strings.Replace(golden, `{"a":1}`, `null`, 1)},
		{"event invalid JSON", strings.Replace(golden, `{"a":1}`, `{"a":}`, 1)},
		{"org empty", strings.Replace(golden, `"org":"acme"`, `"org":""`, 1)},
		{"org with slash", strings.Replace(golden, `"org":"acme"`, `"org":"a/b"`, 1)},
		{"org too long", strings.Replace(golden, `"org":"acme"`, `"org":"`+strings.Repeat("a", leaf.MaxOrgLen+1)+`"`, 1)},
		{"key with space", strings.Replace(golden, `"req-1"`, `"req 1"`, 1)},
		{"key too long", strings.Replace(golden, `"req-1"`, `"`+strings.Repeat("k", leaf.MaxIdempotencyKeyLen+1)+`"`, 1)},
		{"invalid UTF-8 in event", strings.Replace(golden, `{"a":1}`, "{\"a\":\"\xff\"}", 1)},
		{"byte order mark", "\ufeff" + golden},
	} {
		leafBad("malformed: "+c.name, []byte(c.in), "acme", 7)
	}

	checkNames(t, vf)
	return vf
}

func (v *leafVector) claims(typ, actor *string, tm *timeClaim) {
	v.Type, v.Actor, v.Time = typ, actor, tm
}

func hashChildren(l, r []byte) []byte {
	h := sha256.Sum256(append(append([]byte{1}, l...), r...))
	return h[:]
}

func orEmpty(p [][]byte) [][]byte {
	if p == nil {
		return [][]byte{}
	}
	return p
}

func mustParse(t *testing.T, b []byte) leaf.Leaf {
	t.Helper()
	l, err := leaf.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// encodedKey returns the key of k's verifier key: 0x01 || Ed25519 key.
func encodedKey(t *testing.T, k logKey) []byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(k.vkey[len(k.vkey)-44:])
	if err != nil || len(raw) != 33 {
		t.Fatalf("verifier key %q: %v", k.vkey, err)
	}
	return raw
}

// signLine returns a signature line by k over msg, which need not be a
// note's text.
func signLine(t *testing.T, k logKey, msg []byte) string {
	t.Helper()
	sig, err := k.signer.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	h := binary.BigEndian.AppendUint32(nil, k.signer.KeyHash())
	return "— " + k.signer.Name() + " " + base64.StdEncoding.EncodeToString(append(h, sig...)) + "\n"
}

// keyShortSig returns the base64 of the first signature line's key hash
// and the first 10 bytes of its signature: a signature too short to be
// Ed25519's.
func keyShortSig(t *testing.T, line string) string {
	t.Helper()
	sig := sigOf(t, line)
	return base64.StdEncoding.EncodeToString(sig[:4+10])
}

// otherHash returns the signature line with another key hash.
func otherHash(t *testing.T, line string) string {
	t.Helper()
	sig := sigOf(t, line)
	sig[3] ^= 1
	name, _, _ := strings.Cut(strings.TrimPrefix(line, "— "), " ")
	return "— " + name + " " + base64.StdEncoding.EncodeToString(sig) + "\n"
}

func sigOf(t *testing.T, line string) []byte {
	t.Helper()
	_, b64, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(line, "— "), "\n"), " ")
	sig, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(sig) != 68 {
		t.Fatalf("signature line %q: %v", line, err)
	}
	return sig
}

// checkNames fails t if two vectors of a section share a name.
func checkNames(t *testing.T, vf *vectorFile) {
	t.Helper()
	seen := map[string]bool{}
	add := func(section, name string) {
		if seen[section+"/"+name] {
			t.Fatalf("two %s vectors named %q", section, name)
		}
		seen[section+"/"+name] = true
	}
	for _, v := range vf.Keys {
		add("key", v.Name)
	}
	for _, v := range vf.Checkpoints {
		add("checkpoint", v.Name)
	}
	for _, v := range vf.Inclusion {
		add("inclusion", v.Name)
	}
	for _, v := range vf.Consistency {
		add("consistency", v.Name)
	}
	for _, v := range vf.Leaves {
		add("leaf", v.Name)
	}
}
