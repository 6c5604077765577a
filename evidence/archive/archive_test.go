package archive_test

import (
	"archive/zip"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nuxari/nuxari/evidence/archive"
	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// inScope selects the leaves that match sc, as the server does.
func inScope(tb testing.TB, sc archive.Scope) func(uint64, []byte) bool {
	return func(_ uint64, b []byte) bool {
		l, err := leaf.Parse(b)
		if err != nil {
			tb.Fatal(err)
		}
		return sc.Match(&l)
	}
}

func TestRoundTrip(t *testing.T) {
	fx := newFixture(t, 500)
	ms := func(n int) time.Time { return baseTime.Add(time.Duration(n) * time.Millisecond) }
	cases := []struct {
		name                string
		sp                  spec
		count, first, last  uint64
		gaps                uint64
		types               map[string]uint64
		consistency         []uint64
		blobs               int
		firstTime, lastTime time.Time
	}{
		{name: "all", sp: spec{treeSize: 500}, count: 500, first: 0, last: 499,
			types: map[string]uint64{"grant.created": 167, "grant.revoked": 167, "login": 166}, firstTime: ms(0), lastTime: ms(499)},
		{name: "time range", sp: spec{treeSize: 500, scope: archive.Scope{StartTime: ms(100), EndTime: ms(300)}},
			count: 200, first: 100, last: 299, firstTime: ms(100), lastTime: ms(299),
			types: map[string]uint64{"grant.created": 66, "grant.revoked": 67, "login": 67}},
		{name: "types, consistency and blobs", sp: spec{treeSize: 400, scope: archive.Scope{Types: []string{"login"}},
			consistency: []uint64{1, 2, 100, 256, 399}, blobs: [][]byte{[]byte("one"), []byte("two"), []byte("one"), nil}},
			count: 133, first: 2, last: 398, gaps: 397 - 133, firstTime: ms(2), lastTime: ms(398),
			types: map[string]uint64{"login": 133}, consistency: []uint64{1, 2, 100, 256, 399}, blobs: 3},
		{name: "subjects and time", sp: spec{treeSize: 500, scope: archive.Scope{StartTime: ms(7), EndTime: ms(30), Subjects: []string{"user:3", "user:4"}}},
			count: 10, first: 8, last: 29, gaps: 12, firstTime: ms(8), lastTime: ms(29),
			types: map[string]uint64{"grant.created": 3, "grant.revoked": 3, "login": 4}},
		{name: "no events", sp: spec{treeSize: 500, scope: archive.Scope{StartTime: ms(1000)}, consistency: []uint64{499}},
			types: map[string]uint64{}, consistency: []uint64{499}},
		{name: "single event", sp: spec{treeSize: 1}, count: 1, firstTime: ms(0), lastTime: ms(0), types: map[string]uint64{"grant.created": 1}},
		{name: "empty tree", sp: spec{treeSize: 0}, types: map[string]uint64{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.sp.selected == nil {
				c.sp.selected = inScope(t, c.sp.scope)
			}
			b := fx.build(t, c.sp)
			rep, err := verifyBytes(b, fx.pins)
			if err != nil {
				t.Fatal(err)
			}
			want := archive.Summary{Count: c.count, FirstIndex: c.first, LastIndex: c.last, FirstTime: c.firstTime, LastTime: c.lastTime}
			if rep.Events != want {
				t.Errorf("events %+v, want %+v", rep.Events, want)
			}
			if rep.Org != testOrg || rep.LogOrigin != fx.log.origin || rep.TreeSize != c.sp.treeSize {
				t.Errorf("org %q origin %q size %d", rep.Org, rep.LogOrigin, rep.TreeSize)
			}
			if !bytes.Equal(rep.Root, fx.log.root(c.sp.treeSize)) {
				t.Errorf("root %x, want %x", rep.Root, fx.log.root(c.sp.treeSize))
			}
			if !bytes.Equal(rep.Checkpoint, fx.log.checkpoint(t, c.sp.treeSize)) {
				t.Error("checkpoint is not the log's")
			}
			if rep.Gaps != c.gaps {
				t.Errorf("gaps %d, want %d", rep.Gaps, c.gaps)
			}
			if !maps.Equal(rep.Types, c.types) {
				t.Errorf("types %v, want %v", rep.Types, c.types)
			}
			if !slices.Equal(rep.Consistency, c.consistency) {
				t.Errorf("consistency %v, want %v", rep.Consistency, c.consistency)
			}
			if rep.Blobs != c.blobs {
				t.Errorf("blobs %d, want %d", rep.Blobs, c.blobs)
			}
			if !rep.Created.Equal(baseTime.Add(time.Hour)) {
				t.Errorf("created %v", rep.Created)
			}
			// The entries are in the documented order.
			var names []string
			for _, e := range unpack(t, b) {
				names = append(names, e.name)
			}
			wantNames := []string{archive.FileEvents, archive.FileProof, archive.FileCheckpoint}
			for _, s := range c.consistency {
				wantNames = append(wantNames, archive.DirConsistency+strconv.FormatUint(s, 10)+".json")
			}
			for _, blob := range c.sp.blobs {
				h := sha256.Sum256(blob)
				if name := archive.DirBlobs + hex.EncodeToString(h[:]); !slices.Contains(wantNames, name) {
					wantNames = append(wantNames, name)
				}
			}
			wantNames = append(wantNames, archive.FileLogKey, archive.FileSigningKey, archive.FileManifest, archive.FileSignature)
			if !slices.Equal(names, wantNames) {
				t.Errorf("entries %v, want %v", names, wantNames)
			}
		})
	}
}

// TestManifestSignatureIsCosignBlobSignature checks manifest.sig the way
// `cosign verify-blob --key signing-key.pub --signature manifest.sig
// manifest.json` does: base64-decode the signature file and verify it
// over the blob with the PEM key, SHA-256.
func TestManifestSignatureIsCosignBlobSignature(t *testing.T) {
	fx := newFixture(t, 20)
	es := unpack(t, fx.build(t, spec{treeSize: 20}))
	sig := get(t, es, archive.FileSignature)
	if bytes.ContainsAny(sig, "\n\r ") {
		t.Fatalf("manifest.sig %q holds whitespace", sig)
	}
	raw, err := base64.StdEncoding.DecodeString(string(sig))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(get(t, es, archive.FileSigningKey))
	if err != nil {
		t.Fatal(err)
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.VerifySignature(bytes.NewReader(raw), bytes.NewReader(get(t, es, archive.FileManifest))); err != nil {
		t.Fatal(err)
	}
	m := parseManifest(t, es)
	if m.Version != 1 || m.Org != testOrg || m.TreeSize != 20 || len(m.Files) != len(es)-2 {
		t.Fatalf("manifest %+v", m)
	}
	for i, f := range m.Files {
		if f.Path != es[i].name || f.Size != uint64(len(es[i].data)) {
			t.Errorf("file %d: %+v, entry %s of %d bytes", i, f, es[i].name, len(es[i].data))
		}
	}
}

func TestPins(t *testing.T) {
	fx := newFixture(t, 10)
	b := fx.build(t, spec{treeSize: 10})
	pem, err := cryptoutils.MarshalPublicKeyToPEM(fx.pins.SigningKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]crypto.PublicKey{"key": fx.pins.SigningKey, "PEM bytes": pem, "PEM string": string(pem)} {
		p := fx.pins
		p.SigningKey = k
		if _, err := verifyBytes(b, p); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	bad := map[string]func(p *archive.Pins){
		"no signing key":  func(p *archive.Pins) { p.SigningKey = nil },
		"bad PEM":         func(p *archive.Pins) { p.SigningKey = []byte("not a key") },
		"unsupported key": func(p *archive.Pins) { p.SigningKey = 42 },
		"bad log key":     func(p *archive.Pins) { p.LogKey = "nope" },
		"no origin":       func(p *archive.Pins) { p.Origin = "" },
	}
	for name, f := range bad {
		p := fx.pins
		f(&p)
		if _, err := verifyBytes(b, p); !errors.Is(err, archive.ErrPins) {
			t.Errorf("%s: %v, want ErrPins", name, err)
		}
	}
	// Manifests are signed with ECDSA P-256 only: a pin of another
	// scheme is refused as such, before the package is read.
	edPub, _, err := ed25519.GenerateKey(seeded(3))
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384PEM, err := cryptoutils.MarshalPublicKeyToPEM(&p384.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]crypto.PublicKey{"Ed25519": edPub, "P-384": &p384.PublicKey, "P-384 PEM": p384PEM, "RSA": &rsaKey.PublicKey} {
		p := fx.pins
		p.SigningKey = k
		if _, err := verifyBytes(b, p); !errors.Is(err, archive.ErrPins) || !errors.Is(err, archive.ErrKeyType) {
			t.Errorf("%s pin: %v, want ErrPins and ErrKeyType", name, err)
		}
	}
	// Pins of another org's log: the manifest names another origin.
	p := fx.pins
	p.Origin = verify.Origin(testLogName, "other")
	_, err = verifyBytes(b, p)
	wantFailure(t, err, archive.CheckManifest, archive.FileManifest, "pinned origin")
}

// TestDeflate: the verifier accepts deflated entries.
func TestDeflate(t *testing.T) {
	fx := newFixture(t, 100)
	es := unpack(t, fx.build(t, spec{treeSize: 100, blobs: [][]byte{bytes.Repeat([]byte("blob"), 1000)}}))
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range es {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := verifyBytes(buf.Bytes(), fx.pins)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events.Count != 100 || rep.Blobs != 1 {
		t.Fatalf("report %+v", rep)
	}
}

// TestEventsWithNewlines: an event stored verbatim may hold newlines as
// JSON whitespace; such a leaf is one record over several lines, and
// failures name the line where a record starts.
func TestEventsWithNewlines(t *testing.T) {
	fx := newFixture(t, 0)
	events := []string{
		`{"type":"login"}`,
		"{\"type\":\"login\",\n\"subject\":\"a\\nb \\\" }\\\\\",\n\"x\":[1,\n2,{\"y\":\"}\"}]}",
		"{\r\n  \"type\": \"grant.created\"\r\n}",
		`{"type":"login","s":"\\"}`,
	}
	for i, ev := range events {
		fx.log.add(leaf.Append(nil, &leaf.Leaf{Org: testOrg, Index: uint64(i), Time: baseTime, Event: []byte(ev)}))
	}
	b := fx.build(t, spec{treeSize: 4})
	rep, err := verifyBytes(b, fx.pins)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events.Count != 4 || rep.Types["login"] != 3 || rep.Types["grant.created"] != 1 {
		t.Fatalf("report %+v", rep)
	}
	// Duplicate the last record: the records start on lines 1, 2, 6 and 9,
	// the copy on line 10.
	es := unpack(t, b)
	ev := get(t, es, archive.FileEvents)
	last := ev[bytes.LastIndex(ev[:len(ev)-1], []byte("\n"))+1:]
	es = set(es, archive.FileEvents, append(bytes.Clone(ev), last...))
	es = resign(t, fixHashes(t, es), fx.signer)
	_, err = verifyBytes(pack(t, es), fx.pins)
	f := wantFailure(t, err, archive.CheckEvents, archive.FileEvents, "repeats")
	if f.Line != 10 || f.Index != 3 {
		t.Fatalf("failure at line %d, index %d; want line 10, index 3: %v", f.Line, f.Index, err)
	}
}

func TestScopeMatch(t *testing.T) {
	mk := func(ev string, ms int) *leaf.Leaf {
		return &leaf.Leaf{Org: testOrg, Time: baseTime.Add(time.Duration(ms) * time.Millisecond), Event: []byte(ev)}
	}
	sc := archive.Scope{StartTime: baseTime, EndTime: baseTime.Add(time.Second), Types: []string{"a", "b"}, Subjects: []string{"s"}}
	for _, c := range []struct {
		l    *leaf.Leaf
		want bool
	}{
		{mk(`{"type":"a","subject":"s"}`, 0), true},
		{mk(`{"subject":"s","x":{"type":"c"},"type":"b"}`, 999), true},
		{mk(`{"type":"a","subject":"s"}`, 1000), false},
		{mk(`{"type":"a","subject":"s"}`, -1), false},
		{mk(`{"type":"c","subject":"s"}`, 0), false},
		{mk(`{"Type":"a","subject":"s"}`, 0), false},
		{mk(`{"type":"c","type":"a","subject":"s"}`, 0), true},
		{mk(`{"type":"a","type":1,"subject":"s"}`, 0), false},
		{mk(`{"type":"\u0061","subject":"\u0073"}`, 0), true},
		{mk(`{"\u0074ype":"a","subject":"s"}`, 0), true},
		{mk(`{"type":["a"],"subject":"s"}`, 0), false},
		{mk(`{"subject":"s"}`, 0), false},
		{mk(`{"type":"a"}`, 0), false},
		{mk(` { "type" : "a" , "subject" : "s" } `, 0), true},
	} {
		if got := sc.Match(c.l); got != c.want {
			t.Errorf("Match(%s at %v) = %v, want %v", c.l.Event, c.l.Time, got, c.want)
		}
	}
	if !(archive.Scope{}).Match(mk(`{}`, 0)) {
		t.Error("the zero scope does not match everything")
	}
}

func TestWriterRefuses(t *testing.T) {
	fx := newFixture(t, 50)
	l := fx.log
	meta := func() archive.Meta {
		return archive.Meta{Org: l.org, LogOrigin: l.origin, LogKey: l.vkey, TreeSize: 40, Checkpoint: l.checkpoint(t, 40),
			Scope: archive.Scope{StartTime: baseTime.Add(5 * time.Millisecond), Types: []string{"login", "grant.created"}}}
	}
	newW := func(t *testing.T) *archive.Writer {
		w, err := archive.NewWriter(io.Discard, fx.signer, meta())
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	t.Run("meta", func(t *testing.T) {
		other, otherKey := newLogKey(t, 9, testLogName)
		for name, f := range map[string]func(m *archive.Meta){
			"bad org":                 func(m *archive.Meta) { m.Org = "a/b" },
			"origin of another org":   func(m *archive.Meta) { m.LogOrigin = verify.Origin(testLogName, "other") },
			"tree size not the cp's":  func(m *archive.Meta) { m.TreeSize = 41 },
			"checkpoint of other key": func(m *archive.Meta) { m.Checkpoint = signCheckpoint(t, l.origin, 40, l.root(40), other) },
			"log key not the cp's":    func(m *archive.Meta) { m.LogKey = otherKey },
			"scope end before start":  func(m *archive.Meta) { m.Scope.EndTime = baseTime },
		} {
			m := meta()
			f(&m)
			if _, err := archive.NewWriter(io.Discard, fx.signer, m); !errors.Is(err, archive.ErrMeta) {
				t.Errorf("%s: %v, want ErrMeta", name, err)
			}
		}
		if _, err := archive.NewWriter(io.Discard, nil, meta()); !errors.Is(err, archive.ErrMeta) {
			t.Errorf("no signer: %v", err)
		}
		p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s384, err := signature.LoadECDSASignerVerifier(p384, crypto.SHA384)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := archive.NewWriter(io.Discard, s384, meta()); !errors.Is(err, archive.ErrMeta) || !errors.Is(err, archive.ErrKeyType) {
			t.Errorf("P-384 signer: %v, want ErrMeta and ErrKeyType", err)
		}
	})
	t.Run("events", func(t *testing.T) {
		w := newW(t)
		if err := w.AddEvent(l.leaves[6]); err != nil { // index 6: grant.created
			t.Fatal(err)
		}
		evil := leaf.Append(nil, &leaf.Leaf{Org: "evil", Index: 7, Time: baseTime.Add(7 * time.Millisecond), Event: []byte(`{"type":"login"}`)})
		for name, b := range map[string][]byte{
			"same index":     l.leaves[6],
			"lower index":    l.leaves[5],
			"other org":      evil,
			"before start":   l.leaves[3],
			"type not in":    l.leaves[7],
			"not canonical":  append(bytes.Clone(l.leaves[8]), ' '),
			"beyond tree":    l.leaves[45],
			"with a newline": append(append(bytes.Clone(l.leaves[8]), '\n'), l.leaves[9]...),
		} {
			if err := w.AddEvent(b); !errors.Is(err, archive.ErrEvent) {
				t.Errorf("%s: %v, want ErrEvent", name, err)
			}
		}
		if err := w.AddEvent(l.leaves[8]); err != nil {
			t.Fatalf("a valid event after refused ones: %v", err)
		}
		if s := w.Summary(); s.Count != 2 || s.FirstIndex != 6 || s.LastIndex != 8 {
			t.Fatalf("summary %+v", s)
		}
	})
	t.Run("order", func(t *testing.T) {
		w := newW(t)
		if _, err := w.AddBlob(strings.NewReader("x")); !errors.Is(err, archive.ErrOrder) {
			t.Errorf("AddBlob before SetProof: %v", err)
		}
		if err := w.AddConsistency(10, l.checkpoint(t, 10), l.consistency(t, 10, 40)); !errors.Is(err, archive.ErrOrder) {
			t.Errorf("AddConsistency before SetProof: %v", err)
		}
		if err := w.Close(); !errors.Is(err, archive.ErrOrder) {
			t.Errorf("Close before SetProof: %v", err)
		}
		nodes := []archive.Node{{Start: 0, End: 32, Hash: bytes.Repeat([]byte{1}, 32)}, {Start: 32, End: 40, Hash: bytes.Repeat([]byte{1}, 32)}}
		if err := w.SetProof(nodes); err != nil {
			t.Fatal(err)
		}
		if err := w.SetProof(nodes); !errors.Is(err, archive.ErrOrder) {
			t.Errorf("SetProof twice: %v", err)
		}
		if err := w.AddEvent(l.leaves[6]); !errors.Is(err, archive.ErrOrder) {
			t.Errorf("AddEvent after SetProof: %v", err)
		}
		if err := w.AddConsistency(10, l.checkpoint(t, 10), l.consistency(t, 10, 40)); err != nil {
			t.Fatal(err)
		}
		if err := w.AddConsistency(10, l.checkpoint(t, 10), l.consistency(t, 10, 40)); !errors.Is(err, verify.ErrConsistency) {
			t.Errorf("same size twice: %v", err)
		}
		if err := w.AddConsistency(11, l.checkpoint(t, 11), l.consistency(t, 10, 40)); !errors.Is(err, verify.ErrConsistency) {
			t.Errorf("wrong proof: %v", err)
		}
		if err := w.AddConsistency(12, l.checkpoint(t, 11), l.consistency(t, 11, 40)); !errors.Is(err, verify.ErrConsistency) {
			t.Errorf("checkpoint of another size: %v", err)
		}
		if err := w.AddConsistency(40, l.checkpoint(t, 40), nil); !errors.Is(err, verify.ErrConsistency) {
			t.Errorf("size1 = tree size: %v", err)
		}
		if _, err := w.AddBlob(strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
		if err := w.AddConsistency(20, l.checkpoint(t, 20), l.consistency(t, 20, 40)); !errors.Is(err, archive.ErrOrder) {
			t.Errorf("AddConsistency after AddBlob: %v", err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); !errors.Is(err, archive.ErrOrder) {
			t.Errorf("Close twice: %v", err)
		}
	})
	t.Run("bad nodes", func(t *testing.T) {
		for name, nodes := range map[string][]archive.Node{
			"empty range":  {{Start: 3, End: 3, Hash: make([]byte, 32)}},
			"beyond tree":  {{Start: 0, End: 41, Hash: make([]byte, 32)}},
			"overlapping":  {{Start: 0, End: 32, Hash: make([]byte, 32)}, {Start: 16, End: 40, Hash: make([]byte, 32)}},
			"short hash":   {{Start: 0, End: 32, Hash: make([]byte, 31)}},
			"out of order": {{Start: 32, End: 40, Hash: make([]byte, 32)}, {Start: 0, End: 32, Hash: make([]byte, 32)}},
		} {
			if err := newW(t).SetProof(nodes); !errors.Is(err, archive.ErrProof) {
				t.Errorf("%s: %v, want ErrProof", name, err)
			}
		}
	})
}

// TestBlobs: blobs from seekable and plain readers; duplicates are
// written once.
func TestBlobs(t *testing.T) {
	fx := newFixture(t, 5)
	l := fx.log
	var buf bytes.Buffer
	w, err := archive.NewWriter(&buf, fx.signer, archive.Meta{Org: l.org, LogOrigin: l.origin, LogKey: l.vkey, TreeSize: 5, Checkpoint: l.checkpoint(t, 5)})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.SetProof([]archive.Node{{Start: 0, End: 5, Hash: l.root(5)}}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(path, []byte("file blob"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h1, err := w.AddBlob(f)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := w.AddBlob(io.MultiReader(strings.NewReader("file "), strings.NewReader("blob")))
	if err != nil {
		t.Fatal(err)
	}
	h3, err := w.AddBlob(strings.NewReader("other"))
	if err != nil {
		t.Fatal(err)
	}
	if h1 != h2 || h1 == h3 || len(h1) != 64 {
		t.Fatalf("hashes %s %s %s", h1, h2, h3)
	}
	if _, err := w.AddBlob(io.LimitReader(zeros{}, archive.MaxBufferedBlobSize+1)); !errors.Is(err, archive.ErrBlobTooLarge) {
		t.Fatalf("huge unseekable blob: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := verifyBytes(buf.Bytes(), fx.pins)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Blobs != 2 || rep.Events.Count != 0 {
		t.Fatalf("report %+v", rep)
	}
	es := unpack(t, buf.Bytes())
	if got := string(get(t, es, archive.DirBlobs+h1)); got != "file blob" {
		t.Fatalf("blob %q", got)
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) {
	clear(b)
	return len(b), nil
}

// wantFailure checks that err is a *Failure of check in file whose
// message contains substr, and returns it.
func wantFailure(t *testing.T, err error, check, file, substr string) *archive.Failure {
	t.Helper()
	var f *archive.Failure
	if !errors.As(err, &f) {
		t.Fatalf("error %v (%T) is not a *Failure", err, err)
	}
	if !errors.Is(err, archive.ErrPackage) {
		t.Errorf("failure %v does not match ErrPackage", err)
	}
	if f.Check != check || f.File != file || !strings.Contains(err.Error(), substr) {
		t.Fatalf("failure %q (check %q, file %q); want check %q, file %q, message containing %q", err, f.Check, f.File, check, file, substr)
	}
	return f
}
