package archive_test

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nuxari/nuxari/evidence/archive"
	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/verify"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

const (
	testLogName = "nuxari-test"
	testOrg     = "acme"
)

var baseTime = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testLog is one org's log: its leaves and leaf hashes, and a key that
// signs its checkpoints. Subtree hashes are computed by a plain recursion
// over the leaf hashes, independently of the package under test.
type testLog struct {
	org        string
	origin     string
	leaves     [][]byte
	hashes     [][sha256.Size]byte
	signer     note.Signer
	vkey       string
	tlogHashes []tlog.Hash // lazily, for consistency proofs
	tlogLeaves int64
}

func seeded(seed uint64) io.Reader {
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	return rand.NewChaCha8(s)
}

// newLogKey returns a deterministic note signer and its verifier key.
func newLogKey(tb testing.TB, seed uint64, name string) (note.Signer, string) {
	tb.Helper()
	skey, vkey, err := note.GenerateKey(seeded(seed), name)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	return s, vkey
}

// newSigner returns a deterministic ECDSA P-256 manifest signer.
func newSigner(tb testing.TB, seed byte) signature.SignerVerifier {
	tb.Helper()
	d := sha256.Sum256([]byte{seed})
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d[:])
	if err != nil {
		tb.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	if err != nil {
		tb.Fatal(err)
	}
	return sv
}

// eventTypes are the types the synthetic events cycle through.
var eventTypes = []string{"grant.created", "grant.revoked", "login"}

// syntheticLeaf is leaf i of org: one event a millisecond.
func syntheticLeaf(org string, i uint64) []byte {
	ev := fmt.Appendf(nil, `{"actor":"user-%d","resource":"db/prod/table-%d","subject":"user:%d","type":%q}`,
		i%97, i%13, i%5, eventTypes[i%uint64(len(eventTypes))])
	l := leaf.Leaf{Org: org, Index: i, Time: baseTime.Add(time.Duration(i) * time.Millisecond), Event: ev}
	if i%2 == 0 {
		l.IdempotencyKey = fmt.Sprintf("req-%d", i)
	}
	return leaf.Append(nil, &l)
}

func newTestLog(tb testing.TB, org string, n uint64) *testLog {
	tb.Helper()
	s, vkey := newLogKey(tb, 1, testLogName)
	l := &testLog{org: org, origin: verify.Origin(testLogName, org), signer: s, vkey: vkey}
	for i := range n {
		l.add(syntheticLeaf(org, i))
	}
	return l
}

func (l *testLog) add(b []byte) {
	l.leaves = append(l.leaves, b)
	l.hashes = append(l.hashes, sha256.Sum256(append([]byte{0}, b...)))
}

// subtree returns the RFC 6962 hash of leaves [lo, hi).
func (l *testLog) subtree(lo, hi uint64) [sha256.Size]byte {
	if hi-lo == 1 {
		return l.hashes[lo]
	}
	k := uint64(1)
	for k<<1 < hi-lo {
		k <<= 1
	}
	a, b := l.subtree(lo, lo+k), l.subtree(lo+k, hi)
	return sha256.Sum256(append(append([]byte{1}, a[:]...), b[:]...))
}

func (l *testLog) root(size uint64) []byte {
	if size == 0 {
		h := sha256.Sum256(nil)
		return h[:]
	}
	h := l.subtree(0, size)
	return h[:]
}

func signCheckpoint(tb testing.TB, origin string, size uint64, root []byte, signers ...note.Signer) []byte {
	tb.Helper()
	text := log.Checkpoint{Origin: origin, Size: size, Hash: root}.Marshal()
	b, err := note.Sign(&note.Note{Text: string(text)}, signers...)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func (l *testLog) checkpoint(tb testing.TB, size uint64) []byte {
	tb.Helper()
	return signCheckpoint(tb, l.origin, size, l.root(size), l.signer)
}

// ReadHashes implements tlog.HashReader.
func (l *testLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = l.tlogHashes[x]
	}
	return out, nil
}

// consistency returns the RFC 6962 consistency proof from size1 to size2,
// by golang.org/x/mod/sumdb/tlog.
func (l *testLog) consistency(tb testing.TB, size1, size2 uint64) [][]byte {
	tb.Helper()
	for ; l.tlogLeaves < int64(len(l.leaves)); l.tlogLeaves++ {
		hs, err := tlog.StoredHashes(l.tlogLeaves, l.leaves[l.tlogLeaves], l)
		if err != nil {
			tb.Fatal(err)
		}
		l.tlogHashes = append(l.tlogHashes, hs...)
	}
	p, err := tlog.ProveTree(int64(size2), int64(size1), l)
	if err != nil {
		tb.Fatal(err)
	}
	out := make([][]byte, len(p))
	for i := range p {
		out[i] = bytes.Clone(p[i][:])
	}
	return out
}

// spec describes a package to build.
type spec struct {
	treeSize    uint64
	selected    func(i uint64, b []byte) bool // nil: every leaf
	scope       archive.Scope
	consistency []uint64
	blobs       [][]byte
}

// fixture is a log, a manifest signer and the pins that trust them.
type fixture struct {
	log    *testLog
	signer signature.SignerVerifier
	pins   archive.Pins
}

func newFixture(tb testing.TB, n uint64) *fixture {
	tb.Helper()
	l := newTestLog(tb, testOrg, n)
	s := newSigner(tb, 1)
	pub, err := s.PublicKey()
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{log: l, signer: s, pins: archive.Pins{LogKey: l.vkey, Origin: l.origin, SigningKey: pub}}
}

// build writes the package of sp.
func (fx *fixture) build(tb testing.TB, sp spec) []byte {
	tb.Helper()
	var buf bytes.Buffer
	fx.write(tb, &buf, sp)
	return buf.Bytes()
}

func (fx *fixture) write(tb testing.TB, out io.Writer, sp spec) {
	tb.Helper()
	l := fx.log
	n := sp.treeSize
	w, err := archive.NewWriter(out, fx.signer, archive.Meta{
		Org: l.org, LogOrigin: l.origin, LogKey: l.vkey, Created: baseTime.Add(time.Hour),
		Scope: sp.scope, TreeSize: n, Checkpoint: l.checkpoint(tb, n),
	})
	if err != nil {
		tb.Fatal(err)
	}
	sel := func(yield func(uint64) bool) {
		for i := range n {
			if (sp.selected == nil || sp.selected(i, l.leaves[i])) && !yield(i) {
				return
			}
		}
	}
	for i := range sel {
		if err := w.AddEvent(l.leaves[i]); err != nil {
			tb.Fatal(err)
		}
	}
	nodes, err := archive.Nodes(n, sel, func(lo, hi uint64) ([]byte, error) {
		h := l.subtree(lo, hi)
		return h[:], nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.SetProof(nodes); err != nil {
		tb.Fatal(err)
	}
	for _, s1 := range sp.consistency {
		if err := w.AddConsistency(s1, l.checkpoint(tb, s1), l.consistency(tb, s1, n)); err != nil {
			tb.Fatal(err)
		}
	}
	for _, b := range sp.blobs {
		if _, err := w.AddBlob(bytes.NewReader(b)); err != nil {
			tb.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
}

func verifyBytes(b []byte, pins archive.Pins) (*archive.Report, error) {
	return archive.Verify(bytes.NewReader(b), int64(len(b)), pins)
}

// entry is one zip entry, for tampering.
type entry struct {
	name string
	data []byte
}

func unpack(tb testing.TB, b []byte) []entry {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		tb.Fatal(err)
	}
	var out []entry
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			tb.Fatal(err)
		}
		d, err := io.ReadAll(rc)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, entry{f.Name, d})
	}
	return out
}

func pack(tb testing.TB, es []entry) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Store})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func find(es []entry, name string) int {
	for i, e := range es {
		if e.name == name {
			return i
		}
	}
	return -1
}

func get(tb testing.TB, es []entry, name string) []byte {
	tb.Helper()
	i := find(es, name)
	if i < 0 {
		tb.Fatalf("no entry %s", name)
	}
	return es[i].data
}

func set(es []entry, name string, data []byte) []entry {
	out := append([]entry(nil), es...)
	if i := find(out, name); i >= 0 {
		out[i].data = data
		return out
	}
	// A new entry goes before log-key.txt, where blobs go.
	i := find(out, archive.FileLogKey)
	return append(out[:i], append([]entry{{name, data}}, out[i:]...)...)
}

func remove(es []entry, name string) []entry {
	var out []entry
	for _, e := range es {
		if e.name != name {
			out = append(out, e)
		}
	}
	return out
}

func parseManifest(tb testing.TB, es []entry) archive.Manifest {
	tb.Helper()
	var m archive.Manifest
	if err := json.Unmarshal(get(tb, es, archive.FileManifest), &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

func setManifest(tb testing.TB, es []entry, m archive.Manifest) []entry {
	tb.Helper()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		tb.Fatal(err)
	}
	return set(es, archive.FileManifest, append(b, '\n'))
}

// fixHashes rewrites the manifest's file list to match the entries, as an
// attacker without the signing key would (the signature no longer holds).
func fixHashes(tb testing.TB, es []entry) []entry {
	tb.Helper()
	m := parseManifest(tb, es)
	m.Files = nil
	for _, e := range es {
		if e.name == archive.FileManifest || e.name == archive.FileSignature {
			continue
		}
		h := sha256.Sum256(e.data)
		m.Files = append(m.Files, archive.File{Path: e.name, SHA256: hex.EncodeToString(h[:]), Size: uint64(len(e.data))})
	}
	return setManifest(tb, es, m)
}

// fixSummary rewrites the manifest's event summary to match events.jsonl.
func fixSummary(tb testing.TB, es []entry) []entry {
	tb.Helper()
	m := parseManifest(tb, es)
	m.Events = archive.Summary{}
	sc := bufio.NewScanner(bytes.NewReader(get(tb, es, archive.FileEvents)))
	for sc.Scan() {
		l, err := leaf.Parse(sc.Bytes())
		if err != nil {
			tb.Fatal(err)
		}
		if m.Events.Count == 0 {
			m.Events.FirstIndex, m.Events.FirstTime = l.Index, l.Time
		}
		m.Events.Count++
		m.Events.LastIndex, m.Events.LastTime = l.Index, l.Time
	}
	return setManifest(tb, es, m)
}

// resign signs manifest.json with s, as an insider holding the key would.
func resign(tb testing.TB, es []entry, s signature.Signer) []entry {
	tb.Helper()
	sig, err := s.SignMessage(bytes.NewReader(get(tb, es, archive.FileManifest)))
	if err != nil {
		tb.Fatal(err)
	}
	return set(es, archive.FileSignature, []byte(base64.StdEncoding.EncodeToString(sig)))
}

// lines splits events.jsonl.
func lines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		out = append(out, b[:i])
		b = b[i+1:]
	}
	return out
}

func joinLines(ls [][]byte) []byte {
	var b []byte
	for _, l := range ls {
		b = append(append(b, l...), '\n')
	}
	return b
}
