// Package wasmverify is the web console's evidence package verifier:
// [archive.VerifyWith] (docs/evidence-package.md) over a package held in
// memory, against pins given as strings, with what it proves or why it
// failed as a plain value whose JSON is the object the console's script
// reads. cmd/nuxari-verify-wasm compiles it to WebAssembly; it has no
// build constraint of its own, so that it is tested on every platform.
package wasmverify

import (
	"bytes"
	"encoding/hex"
	"errors"
	"maps"
	"time"

	"github.com/nuxari/nuxari/evidence/archive"
)

// CheckPins is the check of a failure that is the pins' and not the
// package's: a log key, origin or signing key that cannot be used.
const CheckPins = "pins"

// Pins are what the console trusts, from a source other than the
// package (archive.Pins).
type Pins struct {
	// LogKey is the log's note verifier key.
	LogKey string `json:"logKey"`
	// Origin is the checkpoint origin of the org's log,
	// "<log name>/orgs/<org>".
	Origin string `json:"origin"`
	// SigningKey is the PEM (PKIX) public key that signs manifests.
	SigningKey string `json:"signingKey"`
}

// Result is the answer to one verification: OK with the Report, or not
// OK with Error, a sentence, and as much as is known of the failure: the
// check that failed (one of archive's Check constants, or CheckPins),
// the entry and line at fault, the leaf index, and the reason alone.
type Result struct {
	OK     bool    `json:"ok"`
	Report *Report `json:"report,omitempty"`
	Error  string  `json:"error,omitempty"`
	Check  string  `json:"check,omitempty"`
	File   string  `json:"file,omitempty"`
	Line   int64   `json:"line,omitempty"`
	Index  *int64  `json:"index,omitempty"`
	Reason string  `json:"reason,omitempty"`
}

// Report is what a verified package proves (archive.Report). Times are
// RFC 3339 in UTC; hashes are lowercase hex. Sizes and indices are JSON
// numbers, exact in JavaScript up to 2^53.
type Report struct {
	Org       string `json:"org"`
	LogOrigin string `json:"logOrigin"`
	Created   string `json:"created"`
	Scope     Scope  `json:"scope"`
	// TreeSize and Root are those of the checkpoint the events are
	// proven against; Checkpoint is its signed note.
	TreeSize   uint64 `json:"treeSize"`
	Root       string `json:"root"`
	Checkpoint string `json:"checkpoint"`
	Events     Events `json:"events"`
	// Gaps is the number of leaves between the first and the last event
	// that the package does not hold: out of scope, purged, or withheld.
	Gaps uint64 `json:"gaps"`
	// Types counts the events by type ("" for none).
	Types map[string]uint64 `json:"types"`
	// Consistency lists the sizes of the earlier checkpoints the
	// checkpoint is proven consistent with, in package order.
	Consistency []uint64 `json:"consistency"`
	Blobs       int      `json:"blobs"`
}

// Scope is the selection the package holds; an absent time or an empty
// list does not restrict.
type Scope struct {
	StartTime string   `json:"startTime,omitempty"`
	EndTime   string   `json:"endTime,omitempty"`
	Types     []string `json:"types"`
	Subjects  []string `json:"subjects"`
}

// Events describes the package's events; with none, the indices are 0
// and the times absent.
type Events struct {
	Count      uint64 `json:"count"`
	FirstIndex uint64 `json:"firstIndex"`
	LastIndex  uint64 `json:"lastIndex"`
	FirstTime  string `json:"firstTime,omitempty"`
	LastTime   string `json:"lastTime,omitempty"`
}

// Verify checks the evidence package pkg against pins, with no network
// access.
func Verify(pkg []byte, pins Pins) Result {
	rep, err := archive.VerifyWith(bytes.NewReader(pkg), int64(len(pkg)),
		archive.Pins{LogKey: pins.LogKey, Origin: pins.Origin, SigningKey: pins.SigningKey}, archive.Options{})
	if err != nil {
		return failed(err)
	}
	return Result{OK: true, Report: report(rep)}
}

// failed is the Result of an error of archive.VerifyWith: a Failure
// field by field, or the pins' fault.
func failed(err error) Result {
	r := Result{Error: err.Error()}
	var f *archive.Failure
	switch {
	case errors.As(err, &f):
		r.Check, r.File, r.Line, r.Reason = f.Check, f.File, f.Line, f.Reason
		if f.Index >= 0 {
			r.Index = &f.Index
		}
	case errors.Is(err, archive.ErrPins):
		r.Check, r.Reason = CheckPins, err.Error()
	}
	return r
}

func report(r *archive.Report) *Report {
	out := &Report{
		Org: r.Org, LogOrigin: r.LogOrigin, Created: timeString(r.Created),
		Scope: Scope{
			StartTime: timeString(r.Scope.StartTime), EndTime: timeString(r.Scope.EndTime),
			Types: nonNil(r.Scope.Types), Subjects: nonNil(r.Scope.Subjects),
		},
		TreeSize: r.TreeSize, Root: hex.EncodeToString(r.Root), Checkpoint: string(r.Checkpoint),
		Events: Events{
			Count: r.Events.Count, FirstIndex: r.Events.FirstIndex, LastIndex: r.Events.LastIndex,
			FirstTime: timeString(r.Events.FirstTime), LastTime: timeString(r.Events.LastTime),
		},
		Gaps: r.Gaps, Types: map[string]uint64{}, Consistency: nonNil(r.Consistency), Blobs: r.Blobs,
	}
	maps.Copy(out.Types, r.Types)
	return out
}

// timeString is t in RFC 3339 (with the fraction it has) in UTC, or ""
// for the zero time.
func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// nonNil makes an absent list an empty one: [] in JSON, never null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
