// Package archive defines Nuxari evidence packages: their format, a
// streaming writer and an offline verifier.
//
// An evidence package is a zip file that proves a selection of one org's
// events (those of a scope: a time range, event types, subjects) against one
// signed C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint) of the
// org's RFC 6962 log, with no network access and without trusting Nuxari:
// the verifier pins the log's note verifier key, the checkpoint origin and
// the key the manifest is signed with. docs/evidence-package.md specifies
// the format precisely enough to write another verifier.
//
// The entries, in this order:
//
//	events.jsonl            the selected leaves, verbatim, each followed by "\n", in increasing index order
//	proof.json              a batch inclusion proof ("multiproof") of those leaves, see [Nodes]
//	checkpoint.txt          the signed checkpoint the proof is against
//	consistency/<size>.json RFC 6962 consistency proofs from earlier checkpoints (optional)
//	blobs/<sha256 hex>      evidence blobs, named by their SHA-256 (optional)
//	log-key.txt             the log's note verifier key
//	signing-key.pub         the PEM (PKIX) public key of the manifest signature
//	manifest.json           what the package holds, with the SHA-256 of every other entry
//	manifest.sig            the signature of manifest.json, base64, as cosign sign-blob writes it
//
// The manifest signature verifies with
// `cosign verify-blob --key signing-key.pub --signature manifest.sig manifest.json --insecure-ignore-tlog=true`.
//
// Every JSON file the verifier reads is read by internal/strictjson, so
// that two conforming verifiers never read one signed file differently.
//
// The package depends only on ledger/verify, ledger/leaf,
// internal/strictjson, github.com/transparency-dev/merkle,
// golang.org/x/mod/sumdb/note, github.com/sigstore/sigstore and the
// standard library, so that auditors can build the verifier without any
// server code.
package archive

import (
	"encoding/json"
	"errors"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nuxari/nuxari/ledger/leaf"
)

// Version is the manifest version this package writes and verifies.
const Version = 1

// Entry names.
const (
	FileEvents     = "events.jsonl"
	FileProof      = "proof.json"
	FileCheckpoint = "checkpoint.txt"
	FileLogKey     = "log-key.txt"
	FileSigningKey = "signing-key.pub"
	FileManifest   = "manifest.json"
	FileSignature  = "manifest.sig"
	// DirConsistency holds "<size1>.json" consistency proofs.
	DirConsistency = "consistency/"
	// DirBlobs holds blobs named by their lowercase hex SHA-256.
	DirBlobs = "blobs/"
)

// Limits of the format. Verifiers refuse packages beyond them.
const (
	// MaxRecordSize bounds one leaf of events.jsonl, without its newline.
	// Ledger events are at most 1 MiB; the rest of a leaf is small.
	MaxRecordSize = 2 << 20
	// MaxManifestSize bounds manifest.json.
	MaxManifestSize = 16 << 20
	// MaxSmallFileSize bounds manifest.sig, checkpoint.txt, log-key.txt,
	// signing-key.pub and each consistency proof.
	MaxSmallFileSize = 1 << 20
	// MaxBufferedBlobSize bounds a blob that [Writer.AddBlob] must hold in
	// memory because its reader cannot seek.
	MaxBufferedBlobSize = 64 << 20
)

// Errors returned by this package.
var (
	// ErrPackage: the package does not verify. Every such error is a
	// *[Failure].
	ErrPackage = errors.New("evidence package does not verify")
	// ErrPins: the pins given to [Verify] are unusable.
	ErrPins = errors.New("invalid pins")
	// ErrSelection: the selected indices given to [Nodes] are not strictly
	// increasing or not below the tree size.
	ErrSelection = errors.New("invalid selection")
	// ErrProof: a multiproof does not verify (see [Root]).
	ErrProof = errors.New("multiproof does not verify")
	// ErrMeta: the [Meta] given to [NewWriter] is inconsistent.
	ErrMeta = errors.New("invalid package metadata")
	// ErrEvent: [Writer.AddEvent] refused a leaf.
	ErrEvent = errors.New("event refused")
	// ErrOrder: a [Writer] method was called out of order.
	ErrOrder = errors.New("writer methods called out of order")
	// ErrKeyType: a manifest signing key that is not ECDSA P-256.
	ErrKeyType = errors.New("unsupported signing key type")
	// ErrBlobTooLarge: a blob that cannot be read twice is larger than
	// [MaxBufferedBlobSize].
	ErrBlobTooLarge = errors.New("blob too large to buffer")
)

// Manifest is manifest.json: what the package holds. Its exact bytes are
// signed.
type Manifest struct {
	Version int `json:"version"`
	// Org is the org whose events the package holds.
	Org string `json:"org"`
	// LogOrigin is the checkpoint origin of the org's log,
	// "<log name>/orgs/<org>".
	LogOrigin string    `json:"log_origin"`
	Created   time.Time `json:"created"`
	Scope     Scope     `json:"scope"`
	// TreeSize is the size of the checkpoint in checkpoint.txt.
	TreeSize uint64  `json:"tree_size"`
	Events   Summary `json:"events"`
	// Files lists every entry but manifest.json and manifest.sig, in the
	// order of the zip.
	Files []File `json:"files"`
}

// Scope is the selection a package holds: events whose time is in
// [StartTime, EndTime), whose type is one of Types and whose subject is one
// of Subjects. A zero time or an empty list does not restrict.
//
// An event's type and subject are the string values of the members "type"
// and "subject" of the leaf's event object (exact, case-sensitive names; if
// a name occurs more than once, the last occurrence counts). A member that
// is absent or not a string matches no list.
type Scope struct {
	StartTime time.Time `json:"start_time,omitzero"`
	EndTime   time.Time `json:"end_time,omitzero"`
	Types     []string  `json:"types,omitempty"`
	Subjects  []string  `json:"subjects,omitempty"`
}

// Match reports whether the leaf l is in the scope.
func (s Scope) Match(l *leaf.Leaf) bool {
	typ, hasType, subject, hasSubject := eventMembers(l.Event)
	return newMatcher(s).check(l.Time, typ, hasType, subject, hasSubject) == ""
}

// Summary describes the events of a package. When Count is 0, the indices
// are 0 and the times are absent.
type Summary struct {
	Count      uint64    `json:"count"`
	FirstIndex uint64    `json:"first_index"`
	LastIndex  uint64    `json:"last_index"`
	FirstTime  time.Time `json:"first_time,omitzero"`
	LastTime   time.Time `json:"last_time,omitzero"`
}

func (s Summary) equal(o Summary) bool {
	return s.Count == o.Count && s.FirstIndex == o.FirstIndex && s.LastIndex == o.LastIndex &&
		s.FirstTime.Equal(o.FirstTime) && s.LastTime.Equal(o.LastTime)
}

func (s Summary) String() string {
	if s.Count == 0 {
		return "no events"
	}
	return strconv.FormatUint(s.Count, 10) + " events, indices " + strconv.FormatUint(s.FirstIndex, 10) + " to " +
		strconv.FormatUint(s.LastIndex, 10) + ", times " + s.FirstTime.UTC().Format(time.RFC3339Nano) + " to " +
		s.LastTime.UTC().Format(time.RFC3339Nano)
}

// add counts one event; indices MUST be increasing.
func (s *Summary) add(index uint64, t time.Time) {
	if s.Count == 0 {
		s.FirstIndex, s.FirstTime = index, t
	}
	s.Count++
	s.LastIndex, s.LastTime = index, t
}

// File is one entry listed in the manifest.
type File struct {
	Path string `json:"path"`
	// SHA256 is the lowercase hex SHA-256 of the entry's content.
	SHA256 string `json:"sha256"`
	Size   uint64 `json:"size"`
}

// Node is one subtree hash of a multiproof: the RFC 6962 hash of the
// leaves [Start, End).
type Node struct {
	Start uint64 `json:"start"`
	End   uint64 `json:"end"`
	Hash  []byte `json:"hash"`
}

// kind is the rank of an entry in the zip order.
type kind int

const (
	kindEvents kind = iota
	kindProof
	kindCheckpoint
	kindConsistency
	kindBlob
	kindLogKey
	kindSigningKey
	kindManifest
	kindSignature
	kindUnknown
)

// kindOf returns the kind of an entry name, and for a consistency proof
// the size it names.
func kindOf(name string) (kind, uint64) {
	switch name {
	case FileEvents:
		return kindEvents, 0
	case FileProof:
		return kindProof, 0
	case FileCheckpoint:
		return kindCheckpoint, 0
	case FileLogKey:
		return kindLogKey, 0
	case FileSigningKey:
		return kindSigningKey, 0
	case FileManifest:
		return kindManifest, 0
	case FileSignature:
		return kindSignature, 0
	}
	if rest, ok := strings.CutPrefix(name, DirConsistency); ok {
		if num, ok := strings.CutSuffix(rest, ".json"); ok {
			if n, ok := parseDecimal(num); ok {
				return kindConsistency, n
			}
		}
		return kindUnknown, 0
	}
	if rest, ok := strings.CutPrefix(name, DirBlobs); ok && isHexSHA256(rest) {
		return kindBlob, 0
	}
	return kindUnknown, 0
}

// parseDecimal parses a canonical decimal: digits only, no leading zero.
func parseDecimal(s string) (uint64, bool) {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// safeName reports whether an entry name is a clean relative path: no
// absolute path, no "." or ".." element, no empty element, no backslash or
// drive letter.
func safeName(name string) bool {
	return fs.ValidPath(name) && name != "." && !strings.ContainsAny(name, `\:`)
}

// matcher is a Scope compiled for checking many events.
type matcher struct {
	s                Scope
	types, subjects  map[string]bool
	hasStart, hasEnd bool
}

func newMatcher(s Scope) *matcher {
	m := &matcher{s: s, hasStart: !s.StartTime.IsZero(), hasEnd: !s.EndTime.IsZero()}
	if len(s.Types) > 0 {
		m.types = make(map[string]bool, len(s.Types))
		for _, t := range s.Types {
			m.types[t] = true
		}
	}
	if len(s.Subjects) > 0 {
		m.subjects = make(map[string]bool, len(s.Subjects))
		for _, t := range s.Subjects {
			m.subjects[t] = true
		}
	}
	return m
}

// check returns why an event is out of scope, or "".
func (m *matcher) check(t time.Time, typ string, hasType bool, subject string, hasSubject bool) string {
	if m.hasStart && t.Before(m.s.StartTime) {
		return "time " + t.UTC().Format(time.RFC3339Nano) + " is before the scope start " + m.s.StartTime.UTC().Format(time.RFC3339Nano)
	}
	if m.hasEnd && !t.Before(m.s.EndTime) {
		return "time " + t.UTC().Format(time.RFC3339Nano) + " is not before the scope end " + m.s.EndTime.UTC().Format(time.RFC3339Nano)
	}
	if m.types != nil {
		if !hasType {
			return "event has no string \"type\" member and the scope restricts types to " + quoteList(m.s.Types)
		}
		if !m.types[typ] {
			return "event type " + strconv.Quote(typ) + " is not in the scope types " + quoteList(m.s.Types)
		}
	}
	if m.subjects != nil {
		if !hasSubject {
			return "event has no string \"subject\" member and the scope restricts subjects to " + quoteList(m.s.Subjects)
		}
		if !m.subjects[subject] {
			return "event subject " + strconv.Quote(subject) + " is not in the scope subjects " + quoteList(m.s.Subjects)
		}
	}
	return ""
}

func quoteList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// validateScope checks a scope for use in a manifest.
func validateScope(s Scope) string {
	if !s.StartTime.IsZero() && !s.EndTime.IsZero() && !s.EndTime.After(s.StartTime) {
		return "scope end is not after its start"
	}
	if slices.Contains(s.Types, "") || slices.Contains(s.Subjects, "") {
		return "scope lists an empty type or subject"
	}
	return ""
}

// eventMembers returns the string values of the top-level members "type"
// and "subject" of a valid JSON object. The last occurrence of a name
// counts; a member that is not a string counts as absent.
func eventMembers(obj []byte) (typ string, hasType bool, subject string, hasSubject bool) {
	i := skipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return
	}
	i++
	for {
		i = skipSpace(obj, i)
		if i >= len(obj) || obj[i] != '"' {
			return
		}
		kEnd := endOfString(obj, i)
		if kEnd < 0 {
			return
		}
		key := obj[i:kEnd]
		i = skipSpace(obj, kEnd)
		if i >= len(obj) || obj[i] != ':' {
			return
		}
		i = skipSpace(obj, i+1)
		vEnd := endOfValue(obj, i)
		if vEnd < 0 {
			return
		}
		if name, ok := jsonString(key); ok && (name == "type" || name == "subject") {
			v, isString := jsonString(obj[i:vEnd])
			if name == "type" {
				typ, hasType = v, isString
			} else {
				subject, hasSubject = v, isString
			}
		}
		i = skipSpace(obj, vEnd)
		if i >= len(obj) || obj[i] != ',' {
			return
		}
		i++
	}
}

// jsonString decodes a JSON string token.
func jsonString(tok []byte) (string, bool) {
	if len(tok) < 2 || tok[0] != '"' || tok[len(tok)-1] != '"' {
		return "", false
	}
	inner := tok[1 : len(tok)-1]
	if !slices.Contains(inner, '\\') {
		return string(inner), true
	}
	var s string
	if json.Unmarshal(tok, &s) != nil {
		return "", false
	}
	return s, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// endOfString returns the index just past the string token starting at
// b[i] == '"', or -1.
func endOfString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// endOfValue returns the index just past the JSON value starting at b[i],
// or -1.
func endOfValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return endOfString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := endOfString(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	return j
}
