package archive

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nuxari/nuxari/internal/strictjson"
	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Checks, in the order [Verify] runs them.
const (
	// CheckZip: the zip holds exactly the expected entries, in order, with
	// safe names.
	CheckZip = "zip"
	// CheckSignature: manifest.sig is a signature of manifest.json by the
	// pinned signing key.
	CheckSignature = "signature"
	// CheckManifest: manifest.json is a valid version 1 manifest for the
	// pinned origin.
	CheckManifest = "manifest"
	// CheckFiles: every entry is listed in the manifest with its SHA-256
	// and size.
	CheckFiles = "files"
	// CheckLogKey: log-key.txt is the pinned log key.
	CheckLogKey = "log_key"
	// CheckSigningKey: signing-key.pub is the pinned signing key.
	CheckSigningKey = "signing_key"
	// CheckCheckpoint: checkpoint.txt is signed by the pinned log key for
	// the pinned origin, with the manifest's tree size.
	CheckCheckpoint = "checkpoint"
	// CheckEvents: every event is a canonical leaf of the org, in strictly
	// increasing index order, below the tree size, in the scope; the
	// counts match the manifest.
	CheckEvents = "events"
	// CheckProof: the multiproof leads from the events to the checkpoint's
	// root.
	CheckProof = "proof"
	// CheckConsistency: each consistency proof shows that the checkpoint
	// extends an earlier checkpoint of the log.
	CheckConsistency = "consistency"
	// CheckBlobs: each blob is named by its SHA-256.
	CheckBlobs = "blobs"
)

// Pins are what the caller trusts, from a source other than the package.
type Pins struct {
	// LogKey is the log's note verifier key.
	LogKey string
	// Origin is the checkpoint origin of the org's log,
	// "<log name>/orgs/<org>".
	Origin string
	// SigningKey is the manifest signing key: a crypto.PublicKey
	// (*ecdsa.PublicKey, ed25519.PublicKey, *rsa.PublicKey), or its PEM
	// (PKIX) encoding as []byte or string.
	SigningKey crypto.PublicKey
}

// Report is what a verified package proves.
type Report struct {
	Org       string
	LogOrigin string
	Created   time.Time
	Scope     Scope
	TreeSize  uint64
	// Root is the root hash of the checkpoint.
	Root []byte
	// Checkpoint is the signed checkpoint note.
	Checkpoint []byte
	Events     Summary
	// Gaps is the number of leaves between the first and the last event
	// that the package does not hold: out of scope, purged, or withheld.
	Gaps uint64
	// Types counts the events by type ("" for none).
	Types map[string]uint64
	// Consistency lists the sizes of the earlier checkpoints the
	// checkpoint is proven consistent with, in package order.
	Consistency []uint64
	Blobs       int
}

// Failure is why a package does not verify. It matches [ErrPackage] with
// errors.Is.
type Failure struct {
	// Check is the check that failed, one of the Check constants.
	Check string
	// File is the entry at fault, or "".
	File string
	// Line is the 1-based line of File at fault, or 0.
	Line int64
	// Index is the leaf index at fault, or -1.
	Index  int64
	Reason string
	// Err is the underlying error, if any.
	Err error
}

func (f *Failure) Error() string {
	var b strings.Builder
	b.WriteString(f.Check)
	b.WriteString(": ")
	if f.File != "" {
		b.WriteString(f.File)
		if f.Line > 0 {
			b.WriteString(" line ")
			b.WriteString(strconv.FormatInt(f.Line, 10))
		}
		if f.Index >= 0 {
			b.WriteString(" (leaf index ")
			b.WriteString(strconv.FormatInt(f.Index, 10))
			b.WriteString(")")
		}
		b.WriteString(": ")
	}
	b.WriteString(f.Reason)
	return b.String()
}

// Unwrap returns the underlying error.
func (f *Failure) Unwrap() error { return f.Err }

// Is reports whether target is ErrPackage.
func (f *Failure) Is(target error) bool { return target == ErrPackage }

func failf(check, file string, format string, args ...any) *Failure {
	return &Failure{Check: check, File: file, Index: -1, Reason: fmt.Sprintf(format, args...)}
}

// Verify checks the evidence package of the given size read from r against
// pins, with no network access, and returns what it proves. It runs the
// checks in the order of the Check constants and stops at the first
// failure, returned as a *[Failure]; unusable pins give an error wrapping
// [ErrPins]. r MUST allow concurrent ReadAt calls (as *os.File and
// *bytes.Reader do).
func Verify(r io.ReaderAt, size int64, pins Pins) (*Report, error) {
	return VerifyWith(r, size, pins, Options{})
}

// Event is one event of a package, as [VerifyWith] hands it to
// [Options.Events].
type Event struct {
	// Index is the event's leaf index.
	Index uint64
	// Line is the line of events.jsonl where its record starts.
	Line int64
	// Time is the leaf's time.
	Time time.Time
	// Type is the string value of the event's "type" member, or "".
	Type string
	// JSON is the event object (the leaf's "event"), verbatim; the
	// callee may keep it.
	JSON []byte
}

// Options are what [VerifyWith] does besides the checks of [Verify].
type Options struct {
	// Events, when set, is called with each event whose type is one of
	// EventTypes (each event when EventTypes is empty), in index order,
	// on the goroutine that called VerifyWith, as soon as the events
	// check has passed it: before the proof and the rest of the package
	// are checked. What it learns holds only if VerifyWith then returns
	// no error. The events it sees are exactly the bytes the proof
	// covers: the package is read once.
	Events     func(Event)
	EventTypes []string
}

// VerifyWith is [Verify], and also hands the package's events to
// opts.Events as it reads them, so that a caller can check what they say
// without reading the package again.
func VerifyWith(r io.ReaderAt, size int64, pins Pins, opts Options) (*Report, error) {
	logV, err := verify.NewVerifier(pins.LogKey, pins.Origin)
	if err != nil {
		return nil, fmt.Errorf("%w: log key: %w", ErrPins, err)
	}
	pub, err := pinnedKey(pins.SigningKey)
	if err != nil {
		return nil, fmt.Errorf("%w: signing key: %w", ErrPins, err)
	}
	sigV, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("%w: signing key: %w", ErrPins, err)
	}
	v := &verifier{r: r, size: size, pins: pins, logV: logV, pub: pub, sigV: sigV, opts: opts}
	rep, f := v.run()
	if f != nil {
		return nil, f
	}
	return rep, nil
}

func pinnedKey(k crypto.PublicKey) (crypto.PublicKey, error) {
	var err error
	switch kk := k.(type) {
	case nil:
		return nil, errors.New("not set")
	case []byte:
		k, err = cryptoutils.UnmarshalPEMToPublicKey(kk)
	case string:
		k, err = cryptoutils.UnmarshalPEMToPublicKey([]byte(kk))
	}
	if err != nil {
		return nil, err
	}
	if err := SigningKeySupported(k); err != nil {
		return nil, err
	}
	return k, nil
}

// SigningKeySupported reports whether pub can sign version 1 manifests: only
// ECDSA P-256 keys can (signatures are ASN.1 DER ECDSA over SHA-256).
func SigningKeySupported(pub crypto.PublicKey) error {
	if k, ok := pub.(*ecdsa.PublicKey); ok && k.Curve == elliptic.P256() {
		return nil
	}
	return fmt.Errorf("%w: a %T key; manifests are signed with ECDSA P-256 only", ErrKeyType, pub)
}

type verifier struct {
	r    io.ReaderAt
	size int64
	pins Pins
	logV *verify.Verifier
	pub  crypto.PublicKey
	sigV signature.Verifier
	opts Options

	entries []*zip.File
	byName  map[string]*zip.File
	m       Manifest
	listed  map[string]File
	small   map[string][]byte // contents of the small entries
	cp      verify.Checkpoint
}

func (v *verifier) run() (*Report, *Failure) {
	for _, step := range []func() *Failure{v.zip, v.signature, v.manifest, v.files, v.logKey, v.signingKey, v.checkpoint} {
		if f := step(); f != nil {
			return nil, f
		}
	}
	rep := &Report{
		Org: v.m.Org, LogOrigin: v.m.LogOrigin, Created: v.m.Created, Scope: v.m.Scope,
		TreeSize: v.cp.Size, Root: v.cp.Root, Checkpoint: v.cp.Note,
	}
	if f := v.events(rep); f != nil {
		return nil, f
	}
	if f := v.consistency(rep); f != nil {
		return nil, f
	}
	if f := v.blobs(rep); f != nil {
		return nil, f
	}
	return rep, nil
}

// open returns a reader of the content of an entry, without checking its
// CRC-32: the SHA-256 in the manifest covers the content.
func open(f *zip.File) (io.Reader, error) {
	raw, err := f.OpenRaw()
	if err != nil {
		return nil, err
	}
	switch f.Method {
	case zip.Store:
		return raw, nil
	case zip.Deflate:
		return flate.NewReader(raw), nil
	}
	return nil, fmt.Errorf("compression method %d", f.Method)
}

// readSmall reads a whole entry of at most limit bytes.
func readSmall(f *zip.File, limit int64) ([]byte, error) {
	rd, err := open(f)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(rd, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// zip checks the structure of the zip.
func (v *verifier) zip() *Failure {
	if v.size < 0 {
		return failf(CheckZip, "", "negative size %d", v.size)
	}
	zr, err := zip.NewReader(v.r, v.size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		f := failf(CheckZip, "", "not a zip file: %v", err)
		f.Err = err
		return f
	}
	v.byName = make(map[string]*zip.File, len(zr.File))
	last := kind(-1)
	for _, f := range zr.File {
		name := f.Name
		if !safeName(strings.TrimSuffix(name, "/")) {
			return failf(CheckZip, "", "entry name %q is not a safe relative path (path traversal)", name)
		}
		if strings.HasSuffix(name, "/") {
			return failf(CheckZip, name, "unexpected entry: a directory")
		}
		if v.byName[name] != nil {
			return failf(CheckZip, name, "duplicate entry")
		}
		k, _ := kindOf(name)
		if k == kindUnknown {
			return failf(CheckZip, name, "unexpected entry")
		}
		if !f.Mode().IsRegular() {
			return failf(CheckZip, name, "not a regular file (mode %v)", f.Mode())
		}
		if f.Flags&0x1 != 0 {
			return failf(CheckZip, name, "encrypted entry")
		}
		if f.Method != zip.Store && f.Method != zip.Deflate {
			return failf(CheckZip, name, "compression method %d is neither store (0) nor deflate (8)", f.Method)
		}
		if k < last || k == last && k != kindConsistency && k != kindBlob {
			return failf(CheckZip, name, "out of order: the entries must be %s", entryOrder)
		}
		last = k
		v.byName[name] = f
		v.entries = append(v.entries, f)
	}
	for _, name := range []string{FileEvents, FileProof, FileCheckpoint, FileLogKey, FileSigningKey, FileManifest, FileSignature} {
		if v.byName[name] == nil {
			return failf(CheckZip, name, "missing entry")
		}
	}
	return nil
}

const entryOrder = "events.jsonl, proof.json, checkpoint.txt, consistency/*, blobs/*, log-key.txt, signing-key.pub, manifest.json, manifest.sig"

// signature checks manifest.sig against the pinned signing key.
func (v *verifier) signature() *Failure {
	mb, err := readSmall(v.byName[FileManifest], MaxManifestSize)
	if err != nil {
		return failf(CheckSignature, FileManifest, "unreadable: %v", err)
	}
	sb, err := readSmall(v.byName[FileSignature], MaxSmallFileSize)
	if err != nil {
		return failf(CheckSignature, FileSignature, "unreadable: %v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(string(sb))
	if err != nil || base64.StdEncoding.EncodeToString(sig) != string(sb) {
		return failf(CheckSignature, FileSignature, "not canonical standard base64 with nothing before or after it (no newline)")
	}
	if err := v.sigV.VerifySignature(bytes.NewReader(sig), bytes.NewReader(mb)); err != nil {
		f := failf(CheckSignature, FileSignature, "not a valid signature of manifest.json by the pinned signing key")
		f.Err = err
		return f
	}
	v.small = map[string][]byte{FileManifest: mb}
	return nil
}

// manifest parses and checks manifest.json.
func (v *verifier) manifest() *Failure {
	fail := func(format string, args ...any) *Failure { return failf(CheckManifest, FileManifest, format, args...) }
	var m Manifest
	if err := strictjson.Unmarshal(v.small[FileManifest], &m); err != nil {
		f := fail("malformed: %v", err)
		f.Err = err
		return f
	}
	if m.Version != Version {
		return fail("version %d, want %d", m.Version, Version)
	}
	if err := leaf.ValidateOrg(m.Org); err != nil {
		return fail("org: %v", err)
	}
	if m.LogOrigin != v.pins.Origin {
		return fail("log_origin %q is not the pinned origin %q", m.LogOrigin, v.pins.Origin)
	}
	if !strings.HasSuffix(m.LogOrigin, "/orgs/"+m.Org) {
		return fail("log_origin %q is not the log of org %q", m.LogOrigin, m.Org)
	}
	if r := validateScope(m.Scope); r != "" {
		return fail("%s", r)
	}
	v.listed = make(map[string]File, len(m.Files))
	for _, f := range m.Files {
		k, _ := kindOf(f.Path)
		switch {
		case !safeName(f.Path) || k == kindUnknown || k == kindManifest || k == kindSignature:
			return fail("lists %q, which cannot be in a package", f.Path)
		case !isHexSHA256(f.SHA256):
			return fail("the SHA-256 of %q is not 64 lowercase hex digits", f.Path)
		}
		if _, dup := v.listed[f.Path]; dup {
			return fail("lists %q twice", f.Path)
		}
		v.listed[f.Path] = f
	}
	v.m = m
	return nil
}

// files checks every entry's size and SHA-256 against the manifest.
func (v *verifier) files() *Failure {
	h := sha256.New()
	i := 0
	for _, zf := range v.entries {
		name := zf.Name
		k, _ := kindOf(name)
		if k == kindManifest || k == kindSignature {
			continue
		}
		lf, ok := v.listed[name]
		if !ok {
			return failf(CheckFiles, name, "not listed in manifest.json")
		}
		if want := v.m.Files[i].Path; want != name {
			if v.byName[want] == nil {
				return failf(CheckFiles, want, "listed in manifest.json but not in the package")
			}
			return failf(CheckFiles, name, "manifest.json lists %q in its place: files must be listed in zip order", v.m.Files[i].Path)
		}
		i++
		small := k != kindEvents && k != kindProof && k != kindBlob
		if small && lf.Size > MaxSmallFileSize {
			return failf(CheckFiles, name, "manifest.json gives %d bytes, more than the limit of %d", lf.Size, MaxSmallFileSize)
		}
		rd, err := open(zf)
		if err != nil {
			return failf(CheckFiles, name, "unreadable: %v", err)
		}
		h.Reset()
		var keep bytes.Buffer
		w := io.Writer(h)
		if small {
			w = io.MultiWriter(h, &keep)
		}
		n, err := io.Copy(w, io.LimitReader(rd, int64(min(lf.Size, 1<<62))+1))
		if err != nil {
			return failf(CheckFiles, name, "unreadable: %v", err)
		}
		if uint64(n) != lf.Size {
			if uint64(n) > lf.Size {
				return failf(CheckFiles, name, "longer than the %d bytes manifest.json gives", lf.Size)
			}
			return failf(CheckFiles, name, "%d bytes, manifest.json gives %d", n, lf.Size)
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != lf.SHA256 {
			return failf(CheckFiles, name, "SHA-256 %s, manifest.json gives %s", got, lf.SHA256)
		}
		if small {
			v.small[name] = keep.Bytes()
		}
	}
	for _, lf := range v.m.Files {
		if v.byName[lf.Path] == nil {
			return failf(CheckFiles, lf.Path, "listed in manifest.json but not in the package")
		}
	}
	return nil
}

func (v *verifier) logKey() *Failure {
	got := string(v.small[FileLogKey])
	if got != v.pins.LogKey+"\n" {
		return failf(CheckLogKey, FileLogKey, "the package's log key %q is not the pinned log key %q followed by one newline", got, v.pins.LogKey)
	}
	return nil
}

func (v *verifier) signingKey() *Failure {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(v.small[FileSigningKey])
	if err != nil {
		return failf(CheckSigningKey, FileSigningKey, "not a PEM public key: %v", err)
	}
	if err := cryptoutils.EqualKeys(pub, v.pub); err != nil {
		return failf(CheckSigningKey, FileSigningKey, "the package's signing key is not the pinned signing key")
	}
	if canon, err := cryptoutils.MarshalPublicKeyToPEM(pub); err != nil || !bytes.Equal(canon, v.small[FileSigningKey]) {
		return failf(CheckSigningKey, FileSigningKey, "not the exact PEM encoding of the key (one PUBLIC KEY block, 64-character lines, one final newline, nothing else)")
	}
	return nil
}

func (v *verifier) checkpoint() *Failure {
	cp, err := v.logV.Checkpoint(v.small[FileCheckpoint])
	if err != nil {
		var f *Failure
		switch {
		case errors.Is(err, verify.ErrSignature):
			f = failf(CheckCheckpoint, FileCheckpoint, "not signed by the pinned log key")
		case errors.Is(err, verify.ErrOrigin):
			f = failf(CheckCheckpoint, FileCheckpoint, "not a checkpoint of the pinned origin %q: %v", v.pins.Origin, err)
		default:
			f = failf(CheckCheckpoint, FileCheckpoint, "%v", err)
		}
		f.Err = err
		return f
	}
	if cp.Size != v.m.TreeSize {
		return failf(CheckCheckpoint, FileCheckpoint, "tree size %d, manifest.json gives %d", cp.Size, v.m.TreeSize)
	}
	v.cp = cp
	return nil
}

// events checks every event and the multiproof.
func (v *verifier) events(rep *Report) *Failure {
	rd, err := open(v.byName[FileEvents])
	if err != nil {
		return failf(CheckEvents, FileEvents, "unreadable: %v", err)
	}
	pr, err := open(v.byName[FileProof])
	if err != nil {
		return failf(CheckProof, FileProof, "unreadable: %v", err)
	}
	var keep func(string, bool) bool
	if v.opts.Events != nil {
		want := make(map[string]bool, len(v.opts.EventTypes))
		for _, t := range v.opts.EventTypes {
			want[t] = true
		}
		keep = func(typ string, hasType bool) bool { return len(want) == 0 || hasType && want[typ] }
	}
	p := startPipeline(rd, v.listed[FileEvents].SHA256, v.m.Org, keep)
	defer p.close()
	es := &eventStream{p: p, treeSize: v.m.TreeSize, match: newMatcher(v.m.Scope), types: map[string]uint64{}, onEvent: v.opts.Events}
	ns := newProofReader(pr, v.m.TreeSize, v.listed[FileProof].SHA256)
	mp := &multiproof{leaves: es, nodes: ns}
	root, perr := mp.root(v.m.TreeSize)
	// An event failure comes first, even after a proof failure.
	if f := es.drain(); f != nil {
		return f
	}
	if !es.summary.equal(v.m.Events) {
		return failf(CheckEvents, FileEvents, "holds %v; manifest.json gives %v", es.summary, v.m.Events)
	}
	if perr != nil {
		var f *Failure
		if errors.As(perr, &f) {
			return f
		}
		pe, _ := isProofError(perr)
		f = failf(CheckProof, FileProof, "%v", perr)
		if pe != nil {
			f.Reason = pe.Error()
		}
		f.Err = perr
		return f
	}
	if !bytes.Equal(root[:], v.cp.Root) {
		return failf(CheckProof, FileProof, "the root computed from %d events and %d nodes is %x, the checkpoint's root is %x: an event or a node was changed, added or removed",
			es.summary.Count, mp.used, root, v.cp.Root)
	}
	rep.Events = es.summary
	if es.summary.Count > 0 {
		rep.Gaps = es.summary.LastIndex - es.summary.FirstIndex + 1 - es.summary.Count
	}
	rep.Types = es.types
	return nil
}

// consistency checks the consistency proofs.
func (v *verifier) consistency(rep *Report) *Failure {
	n := v.cp.Size
	for _, zf := range v.entries {
		k, size1 := kindOf(zf.Name)
		if k != kindConsistency {
			continue
		}
		fail := func(format string, args ...any) *Failure { return failf(CheckConsistency, zf.Name, format, args...) }
		var c consistencyFile
		if err := strictjson.Unmarshal(v.small[zf.Name], &c); err != nil {
			f := fail("malformed: %v", err)
			f.Err = err
			return f
		}
		if c.Size1 != size1 {
			return fail("holds a proof from size %d, its name says %d", c.Size1, size1)
		}
		if size1 == 0 || size1 >= n {
			return fail("size %d is not between 0 and the tree size %d", size1, n)
		}
		cp1, err := v.logV.Checkpoint([]byte(c.Checkpoint1))
		if err != nil {
			f := fail("checkpoint1 does not verify under the pinned log key and origin: %v", err)
			f.Err = err
			return f
		}
		if cp1.Size != size1 {
			return fail("checkpoint1 has size %d, want %d", cp1.Size, size1)
		}
		if err := verify.Consistency(size1, n, c.Proof, cp1.Root, v.cp.Root); err != nil {
			f := fail("the checkpoint of size %d does not extend the checkpoint of size %d: %v", n, size1, err)
			f.Err = err
			return f
		}
		rep.Consistency = append(rep.Consistency, size1)
	}
	return nil
}

// blobs checks that each blob is named by its SHA-256, which the files
// check has computed.
func (v *verifier) blobs(rep *Report) *Failure {
	for _, zf := range v.entries {
		if k, _ := kindOf(zf.Name); k != kindBlob {
			continue
		}
		if sum := v.listed[zf.Name].SHA256; zf.Name != DirBlobs+sum {
			return failf(CheckBlobs, zf.Name, "content SHA-256 is %s", sum)
		}
		rep.Blobs++
	}
	return nil
}
