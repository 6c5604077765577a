package archive

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/nuxari/nuxari/ledger/leaf"
	"github.com/nuxari/nuxari/ledger/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Meta describes the package a [Writer] writes.
type Meta struct {
	// Org is the org whose events the package holds.
	Org string
	// LogOrigin is the checkpoint origin of the org's log; it MUST end in
	// "/orgs/<Org>".
	LogOrigin string
	// LogKey is the log's note verifier key.
	LogKey string
	// Created is when the package was made (default: now).
	Created time.Time
	// Scope is the selection the events come from.
	Scope Scope
	// TreeSize is the size of Checkpoint.
	TreeSize uint64
	// Checkpoint is the signed checkpoint note the proof is against.
	Checkpoint []byte
}

// Writer states, in the order a package is written.
const (
	stateEvents = iota
	stateConsistency
	stateBlobs
	stateClosed
)

// Writer streams an evidence package to an io.Writer. Call, in this order:
// [Writer.AddEvent] for each event in increasing index order,
// [Writer.SetProof] once, [Writer.AddConsistency] for each consistency
// proof, [Writer.AddBlob] for each blob, then [Writer.Close]. Memory does
// not grow with the number of events. A Writer is not safe for concurrent
// use.
type Writer struct {
	zw      *zip.Writer
	signer  signature.Signer
	meta    Meta
	root    []byte
	logV    *verify.Verifier
	pubPEM  []byte
	match   *matcher
	state   int
	err     error // sticky write error
	files   []File
	summary Summary

	// The open entry.
	cur     io.Writer
	curName string
	curHash hash.Hash
	curSize uint64

	consistency map[uint64]bool
	blobs       map[string]bool
}

// NewWriter starts a package for meta on w, to be signed by signer. It
// checks that meta.Checkpoint verifies under meta.LogKey and
// meta.LogOrigin and has meta.TreeSize, and writes nothing to w before
// the first event or [Writer.SetProof]. Close does not close w.
func NewWriter(w io.Writer, signer signature.Signer, meta Meta) (*Writer, error) {
	if err := leaf.ValidateOrg(meta.Org); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMeta, err)
	}
	if !strings.HasSuffix(meta.LogOrigin, "/orgs/"+meta.Org) {
		return nil, fmt.Errorf("%w: log origin %q does not end in %q", ErrMeta, meta.LogOrigin, "/orgs/"+meta.Org)
	}
	v, err := verify.NewVerifier(meta.LogKey, meta.LogOrigin)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMeta, err)
	}
	cp, err := v.Checkpoint(meta.Checkpoint)
	if err != nil {
		return nil, fmt.Errorf("%w: checkpoint: %w", ErrMeta, err)
	}
	if cp.Size != meta.TreeSize {
		return nil, fmt.Errorf("%w: checkpoint size %d, tree size %d", ErrMeta, cp.Size, meta.TreeSize)
	}
	if r := validateScope(meta.Scope); r != "" {
		return nil, fmt.Errorf("%w: %s", ErrMeta, r)
	}
	if signer == nil {
		return nil, fmt.Errorf("%w: no signer", ErrMeta)
	}
	pub, err := signer.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("%w: signer public key: %w", ErrMeta, err)
	}
	if err := SigningKeySupported(pub); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMeta, err)
	}
	pem, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: signer public key: %w", ErrMeta, err)
	}
	if meta.Created.IsZero() {
		meta.Created = time.Now()
	}
	meta.Created = meta.Created.UTC()
	meta.Scope.StartTime, meta.Scope.EndTime = utc(meta.Scope.StartTime), utc(meta.Scope.EndTime)
	return &Writer{
		zw:          zip.NewWriter(w),
		signer:      signer,
		meta:        meta,
		root:        cp.Root,
		logV:        v,
		pubPEM:      pem,
		match:       newMatcher(meta.Scope),
		consistency: map[uint64]bool{},
		blobs:       map[string]bool{},
	}, nil
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// create opens the entry name, closing the previous one.
func (w *Writer) create(name string) error {
	if err := w.closeEntry(); err != nil {
		return err
	}
	zf, err := w.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: w.meta.Created})
	if err != nil {
		w.err = err
		return err
	}
	w.cur, w.curName, w.curHash, w.curSize = zf, name, sha256.New(), 0
	return nil
}

func (w *Writer) write(b []byte) error {
	if _, err := w.cur.Write(b); err != nil {
		w.err = err
		return err
	}
	w.curHash.Write(b)
	w.curSize += uint64(len(b))
	return nil
}

// closeEntry records the open entry in the manifest.
func (w *Writer) closeEntry() error {
	if w.cur == nil {
		return nil
	}
	w.files = append(w.files, File{Path: w.curName, SHA256: hex.EncodeToString(w.curHash.Sum(nil)), Size: w.curSize})
	w.cur = nil
	return nil
}

// file writes a whole entry.
func (w *Writer) file(name string, b []byte) error {
	if err := w.create(name); err != nil {
		return err
	}
	return w.write(b)
}

func (w *Writer) check(state int, what string) error {
	if w.err != nil {
		return w.err
	}
	if w.state > state {
		return fmt.Errorf("%w: %s after a later step", ErrOrder, what)
	}
	return nil
}

// AddEvent appends the leaf bytes b to events.jsonl. The leaf MUST be
// canonical (leaf.Parse), name the package's org, have an index above the
// previous event's and below the tree size, and be in the scope; a refused
// leaf (ErrEvent) leaves the package unchanged.
func (w *Writer) AddEvent(b []byte) error {
	if err := w.check(stateEvents, "AddEvent"); err != nil {
		return err
	}
	l, err := leaf.Parse(b)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrEvent, err)
	}
	switch {
	case l.Org != w.meta.Org:
		return fmt.Errorf("%w: leaf %d names org %q, package is for %q", ErrEvent, l.Index, l.Org, w.meta.Org)
	case w.summary.Count > 0 && l.Index <= w.summary.LastIndex:
		return fmt.Errorf("%w: index %d does not follow index %d", ErrEvent, l.Index, w.summary.LastIndex)
	case l.Index >= w.meta.TreeSize:
		return fmt.Errorf("%w: index %d is not below the tree size %d", ErrEvent, l.Index, w.meta.TreeSize)
	}
	typ, hasType, subject, hasSubject := eventMembers(l.Event)
	if r := w.match.check(l.Time, typ, hasType, subject, hasSubject); r != "" {
		return fmt.Errorf("%w: leaf %d: %s", ErrEvent, l.Index, r)
	}
	if w.cur == nil {
		if err := w.create(FileEvents); err != nil {
			return err
		}
	}
	if err := w.write(b); err != nil {
		return err
	}
	if err := w.write([]byte{'\n'}); err != nil {
		return err
	}
	w.summary.add(l.Index, l.Time)
	return nil
}

// SetProof writes proof.json with the multiproof nodes of the events (see
// [Nodes]) and checkpoint.txt, ending the events.
func (w *Writer) SetProof(nodes []Node) error {
	if err := w.check(stateEvents, "SetProof"); err != nil {
		return err
	}
	var prev uint64
	for i, nd := range nodes {
		if nd.Start >= nd.End || nd.End > w.meta.TreeSize || i > 0 && nd.Start < prev || len(nd.Hash) != hashSize {
			return fmt.Errorf("%w: node %d [%d, %d) is misplaced or its hash is not %d bytes", ErrProof, i, nd.Start, nd.End, hashSize)
		}
		prev = nd.End
	}
	if w.cur == nil {
		if err := w.create(FileEvents); err != nil {
			return err
		}
	}
	if err := w.create(FileProof); err != nil {
		return err
	}
	b := strconv.AppendUint([]byte(`{"tree_size":`), w.meta.TreeSize, 10)
	b = append(b, `,"nodes":[`...)
	for i, nd := range nodes {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n"+`{"start":`...)
		b = strconv.AppendUint(b, nd.Start, 10)
		b = append(b, `,"end":`...)
		b = strconv.AppendUint(b, nd.End, 10)
		b = append(b, `,"hash":"`...)
		b = base64.StdEncoding.AppendEncode(b, nd.Hash)
		b = append(b, `"}`...)
		if len(b) >= 64<<10 {
			if err := w.write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	if len(nodes) > 0 {
		b = append(b, '\n')
	}
	b = append(b, "]}\n"...)
	if err := w.write(b); err != nil {
		return err
	}
	if err := w.file(FileCheckpoint, w.meta.Checkpoint); err != nil {
		return err
	}
	w.state = stateConsistency
	return nil
}

// consistencyFile is consistency/<size1>.json.
type consistencyFile struct {
	Size1       uint64   `json:"size1"`
	Checkpoint1 string   `json:"checkpoint1"`
	Proof       [][]byte `json:"proof"`
}

// AddConsistency writes consistency/<size1>.json: the RFC 6962
// consistency proof from the earlier checkpoint checkpoint1, of size
// 0 < size1 < tree size, to the package's checkpoint. It checks the
// checkpoint and the proof.
func (w *Writer) AddConsistency(size1 uint64, checkpoint1 []byte, proof [][]byte) error {
	if err := w.check(stateConsistency, "AddConsistency"); err != nil {
		return err
	}
	if w.state < stateConsistency {
		return fmt.Errorf("%w: AddConsistency before SetProof", ErrOrder)
	}
	if size1 == 0 || size1 >= w.meta.TreeSize {
		return fmt.Errorf("%w: size %d is not in (0, %d)", verify.ErrConsistency, size1, w.meta.TreeSize)
	}
	if w.consistency[size1] {
		return fmt.Errorf("%w: a proof from size %d is already in the package", verify.ErrConsistency, size1)
	}
	cp1, err := w.logV.Checkpoint(checkpoint1)
	if err != nil {
		return err
	}
	if cp1.Size != size1 {
		return fmt.Errorf("%w: checkpoint of size %d given for size %d", verify.ErrConsistency, cp1.Size, size1)
	}
	if err := verify.Consistency(size1, w.meta.TreeSize, proof, cp1.Root, w.root); err != nil {
		return err
	}
	if proof == nil {
		proof = [][]byte{}
	}
	b, err := json.Marshal(consistencyFile{Size1: size1, Checkpoint1: string(checkpoint1), Proof: proof})
	if err != nil {
		return err
	}
	if err := w.file(DirConsistency+strconv.FormatUint(size1, 10)+".json", append(b, '\n')); err != nil {
		return err
	}
	w.consistency[size1] = true
	return nil
}

// AddBlob writes the content of r as blobs/<sha256 hex> and returns the
// hex SHA-256. A blob already in the package is not written again. If r
// is an io.ReadSeeker it is read twice (hashed, then copied); otherwise
// it is held in memory, up to [MaxBufferedBlobSize].
func (w *Writer) AddBlob(r io.Reader) (string, error) {
	if err := w.check(stateBlobs, "AddBlob"); err != nil {
		return "", err
	}
	if w.state < stateConsistency {
		return "", fmt.Errorf("%w: AddBlob before SetProof", ErrOrder)
	}
	h := sha256.New()
	var buf []byte
	var start int64
	rs, seekable := r.(io.ReadSeeker)
	if seekable {
		var err error
		if start, err = rs.Seek(0, io.SeekCurrent); err != nil {
			return "", err
		}
		if _, err := io.Copy(h, rs); err != nil {
			return "", err
		}
	} else {
		var err error
		if buf, err = io.ReadAll(io.LimitReader(r, MaxBufferedBlobSize+1)); err != nil {
			return "", err
		}
		if len(buf) > MaxBufferedBlobSize {
			return "", ErrBlobTooLarge
		}
		h.Write(buf)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if w.blobs[sum] {
		return sum, nil
	}
	w.state = stateBlobs
	if err := w.create(DirBlobs + sum); err != nil {
		return "", err
	}
	if !seekable {
		if err := w.write(buf); err != nil {
			return "", err
		}
	} else {
		if _, err := rs.Seek(start, io.SeekStart); err != nil {
			w.err = err
			return "", err
		}
		if _, err := io.Copy(writerFunc(w.write), rs); err != nil {
			w.err = err
			return "", err
		}
		if got := hex.EncodeToString(w.curHash.Sum(nil)); got != sum {
			w.err = fmt.Errorf("blob changed while it was written: SHA-256 %s, then %s", sum, got)
			return "", w.err
		}
	}
	w.blobs[sum] = true
	return sum, nil
}

type writerFunc func([]byte) error

func (f writerFunc) Write(b []byte) (int, error) {
	if err := f(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Close writes log-key.txt, signing-key.pub, manifest.json and its
// signature manifest.sig, and ends the zip. It does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.state == stateClosed {
		return fmt.Errorf("%w: Close called twice", ErrOrder)
	}
	if w.state < stateConsistency {
		return fmt.Errorf("%w: Close before SetProof", ErrOrder)
	}
	if err := w.file(FileLogKey, []byte(w.meta.LogKey+"\n")); err != nil {
		return err
	}
	if err := w.file(FileSigningKey, w.pubPEM); err != nil {
		return err
	}
	if err := w.closeEntry(); err != nil {
		return err
	}
	m := Manifest{
		Version:   Version,
		Org:       w.meta.Org,
		LogOrigin: w.meta.LogOrigin,
		Created:   w.meta.Created,
		Scope:     w.meta.Scope,
		TreeSize:  w.meta.TreeSize,
		Events:    w.summary,
		Files:     w.files,
	}
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	mb = append(mb, '\n')
	sig, err := w.signer.SignMessage(bytes.NewReader(mb))
	if err != nil {
		return fmt.Errorf("sign manifest: %w", err)
	}
	if err := w.file(FileManifest, mb); err != nil {
		return err
	}
	if err := w.file(FileSignature, []byte(base64.StdEncoding.EncodeToString(sig))); err != nil {
		return err
	}
	w.cur = nil
	w.state = stateClosed
	if err := w.zw.Close(); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Summary returns the events written so far.
func (w *Writer) Summary() Summary { return w.summary }
