package cli

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nuxari/nuxari/evidence/archive"
)

// maxPEMSize bounds a pinned signing key file.
const maxPEMSize = 64 << 10

// isZip reports whether the file starts like a zip archive (an evidence
// package) rather than a JSON proof bundle.
func isZip(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	n, _ := f.Read(magic[:])
	return n == 4 && bytes.Equal(magic[:], []byte("PK\x03\x04"))
}

// packageResult is the --json report of a package verification. When
// the package's checks pass but a decision disagrees with its replay,
// Verified is false and Report, Failure (check "decisions") and
// Decisions are all present.
type packageResult struct {
	File     string          `json:"file"`
	Verified bool            `json:"verified"`
	Report   *packageReport  `json:"report,omitempty"`
	Failure  *packageFailure `json:"failure,omitempty"`
	// Decisions is present when the package holds decisions.
	Decisions *decisionsReport `json:"decisions,omitempty"`
}

// checkDecisions is the check nuxctl runs after the package's own: every
// decision replays as recorded.
const checkDecisions = "decisions"

// packageReport is what a verified package proves (archive.Report), in
// nuxctl's JSON convention.
type packageReport struct {
	Org         string          `json:"org"`
	LogOrigin   string          `json:"log_origin"`
	Created     time.Time       `json:"created"`
	Scope       archive.Scope   `json:"scope"`
	TreeSize    uint64          `json:"tree_size"`
	RootHash    []byte          `json:"root_hash"`
	Checkpoint  string          `json:"checkpoint"`
	Events      archive.Summary `json:"events"`
	Gaps        uint64          `json:"gaps"`
	Types       []typeCount     `json:"types"`
	Consistency []uint64        `json:"consistency"`
	Blobs       int             `json:"blobs"`
}

// typeCount counts a package's events of one type.
type typeCount struct {
	Type   string `json:"type"`
	Events uint64 `json:"events"`
}

func newPackageReport(r *archive.Report) *packageReport {
	p := &packageReport{
		Org: r.Org, LogOrigin: r.LogOrigin, Created: r.Created.UTC(), Scope: r.Scope,
		TreeSize: r.TreeSize, RootHash: r.Root, Checkpoint: string(r.Checkpoint),
		Events: r.Events, Gaps: r.Gaps, Types: []typeCount{}, Consistency: r.Consistency, Blobs: r.Blobs,
	}
	if p.Consistency == nil {
		p.Consistency = []uint64{}
	}
	for _, t := range slices.Sorted(maps.Keys(r.Types)) {
		p.Types = append(p.Types, typeCount{Type: t, Events: r.Types[t]})
	}
	return p
}

type packageFailure struct {
	Check  string `json:"check"`
	File   string `json:"file,omitempty"`
	Line   int64  `json:"line,omitempty"`
	Index  int64  `json:"index"`
	Detail string `json:"detail"`
}

// verifyPackage checks an evidence package offline against the pinned log
// key, origin and manifest signing key, showing progress on standard
// error.
func verifyPackage(e *env, file, logKey, origin, signingKeyFile string) error {
	if signingKeyFile == "" {
		return usagef("verify", "an evidence package needs --signing-key FILE: the pinned PEM key from 'nuxctl evidence signing-key'")
	}
	pem, err := readLimited(signingKeyFile, maxPEMSize)
	if err != nil {
		return err
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	p := e.newProgress("verifying "+printable(filepath.Base(file)), st.Size(), unitBytes)
	rp := newReplayer()
	rep, verr := archive.VerifyWith(&progressReaderAt{r: f, p: p}, st.Size(),
		archive.Pins{LogKey: logKey, Origin: origin, SigningKey: pem},
		archive.Options{Events: rp.event, EventTypes: replayTypes})
	p.finish(verr == nil)
	res := packageResult{File: file, Verified: verr == nil}
	var fail *archive.Failure
	if verr != nil {
		if !errors.As(verr, &fail) {
			fail = &archive.Failure{Check: "read", Index: -1, Reason: verr.Error()}
		}
	} else {
		res.Report = newPackageReport(rep)
		// The replay counts only once the events are proven.
		res.Decisions = rp.finish()
		if d := res.Decisions; d != nil && d.Disagreed > 0 {
			first := d.Disagreements[0]
			fail = &archive.Failure{Check: checkDecisions, File: archive.FileEvents, Line: first.Line, Index: int64(first.Index),
				Reason: fmt.Sprintf("%d of %d replayed decisions disagree with their record: %s", d.Disagreed, d.Replayed, strings.Join(first.Differences, "; "))}
			res.Verified = false
		}
	}
	if fail != nil {
		res.Failure = &packageFailure{Check: fail.Check, File: fail.File, Line: fail.Line, Index: fail.Index, Detail: fail.Reason}
	}
	if e.json {
		if err := e.printJSON(res); err != nil {
			return err
		}
	} else if res.Report != nil {
		printPackageReport(e, file, rep, res.Decisions)
	}
	if fail != nil {
		fmt.Fprintf(e.stderr, "nuxctl: verify %s: %s\n", file, printable(fail.Error()))
		return errSilent
	}
	return nil
}

func printPackageReport(e *env, file string, r *archive.Report, d *decisionsReport) {
	if d != nil && d.Disagreed > 0 {
		fmt.Fprintf(e.stdout, "NOT VERIFIED: evidence package %s: its events are proven, but decisions disagree with their replay (below)\n", printable(file))
	} else {
		fmt.Fprintf(e.stdout, "VERIFIED: evidence package %s\n", printable(file))
	}
	kv := []string{
		"Org", printable(r.Org),
		"Log origin", printable(r.LogOrigin),
		"Created", r.Created.UTC().Format("2006-01-02T15:04:05Z"),
		"Checkpoint size", strconv.FormatUint(r.TreeSize, 10),
		"Events", strconv.FormatUint(r.Events.Count, 10),
	}
	if r.Events.Count > 0 {
		kv = append(kv,
			"Indexes", fmt.Sprintf("%d to %d (%d not in the package)", r.Events.FirstIndex, r.Events.LastIndex, r.Gaps),
			"Time range", r.Events.FirstTime.UTC().Format("2006-01-02T15:04:05.000Z")+" to "+r.Events.LastTime.UTC().Format("2006-01-02T15:04:05.000Z"),
		)
	}
	if len(r.Consistency) > 0 {
		kv = append(kv, "Consistent with", fmt.Sprintf("earlier checkpoints of sizes %v", r.Consistency))
	}
	kv = append(kv, "Blobs", strconv.Itoa(r.Blobs))
	fields(e.stdout, kv...)
	types := make([]string, 0, len(r.Types))
	for t := range r.Types {
		types = append(types, t)
	}
	sort.Strings(types)
	if len(types) > 0 {
		t := newTable(e.stdout, "TYPE", "EVENTS")
		for _, typ := range types {
			t.row(printable(typ), strconv.FormatUint(r.Types[typ], 10))
		}
		t.flush()
	}
	if d != nil {
		printDecisions(e, d)
	}
}
