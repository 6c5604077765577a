// Package evidence is the evidence-export feature of the governance
// domain: signed packages of an org's events with their proofs, built as
// jobs on the job runner (package jobs) and kept write-once in a package
// store (package objstore). It owns the export jobs' kind and the export
// records of earlier versions.
package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"slices"
	"strings"
	"time"

	ec "github.com/nuxari/nuxari/internal/eventcatalog"

	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/nuxari/nuxari/evidence/archive"
	"github.com/nuxari/nuxari/evidence/objstore"
	"github.com/nuxari/nuxari/governance/agents"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/jobs"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/leaf"
)

// Evidence export limits.
const (
	// MaxScopeFilters bounds the types and subjects of a scope.
	MaxScopeFilters = 64
	// PresignExpiry is how long a download URL works.
	PresignExpiry = 5 * time.Minute
	// maxConsistencyCheckpoints bounds the earlier exports' checkpoints a
	// package proves consistency from.
	maxConsistencyCheckpoints = 8
)

// Config is where packages go and what signs them.
type Config struct {
	// Store keeps packages write-once.
	Store objstore.Store
	// Signer signs manifests; PublicKeyPEM is its public key.
	Signer       signature.Signer
	PublicKeyPEM []byte
	// TempDir holds packages while they are built (default os.TempDir()).
	TempDir string
	// PerOrg is the job runner's cap on one org's jobs, named in the
	// refusal of an export beyond it.
	PerOrg int
}

// The state keys evidence owns: the records of exports of earlier
// versions (exports are jobs now, under jobs.Prefix(JobKind)).
const prefixExport = "export/" // <export ID>: Export

// StateKeys lists the state keys evidence owns.
var StateKeys = []core.StateKey{{Key: prefixExport, Owner: "evidence"}}

// Service is the evidence-export feature.
type Service struct {
	env    *core.Env
	cfg    Config
	runner *jobs.Runner
}

// New returns the feature over env, registering its job kind with
// runner. Close closes cfg.Store, if it is an io.Closer.
func New(env *core.Env, cfg Config, runner *jobs.Runner) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("evidence: no package store")
	}
	if cfg.TempDir == "" {
		cfg.TempDir = os.TempDir()
	}
	s := &Service{env: env, cfg: cfg, runner: runner}
	if err := runner.Register(jobs.Kind{
		Name: JobKind, Run: s.runExport, Restart: jobs.RestartFail,
		Events: exportEvents, Subject: "export:",
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// Export states.
const (
	ExportRunning   = "running"
	ExportSucceeded = "succeeded"
	ExportFailed    = "failed"
)

// Scope selects the events of a package; zero fields select all. It is
// the scope the package's manifest states and its verifier checks.
type Scope = archive.Scope

// Export is an export job and its package.
type Export struct {
	ID             string    `json:"id"`
	State          string    `json:"state"`
	Scope          Scope     `json:"scope"`
	RequestedBy    string    `json:"requested_by"`
	Created        time.Time `json:"created"`
	Completed      time.Time `json:"completed,omitzero"`
	EntriesScanned uint64    `json:"entries_scanned,omitempty"`
	EntriesTotal   uint64    `json:"entries_total,omitempty"`
	EventCount     uint64    `json:"event_count,omitempty"`
	TreeSize       uint64    `json:"tree_size,omitempty"`
	Checkpoint     []byte    `json:"checkpoint,omitempty"`
	ObjectKey      string    `json:"object_key,omitempty"`
	SHA256         string    `json:"sha256,omitempty"`
	Size           int64     `json:"size,omitempty"`
	Error          string    `json:"error,omitempty"`
	RetainUntil    time.Time `json:"retain_until,omitzero"`
	WORM           bool      `json:"worm,omitempty"`
}

// JobKind is the job kind of evidence exports (package jobs). An
// export is a job under jobs.Key(JobKind, id); exports recorded by
// earlier versions, under prefixExport, stay readable.
const JobKind = "evidence.export"

// exportEvents prefixes the runner's events about exports: they are
// ec.EvidenceExportStarted, ec.EvidenceExportCompleted and
// ec.EvidenceExportFailed. An export is never canceled, and a restart
// fails it (jobs.RestartFail), so it is never requeued.
var exportEvents = jobs.EventsPrefix(ec.EvidenceExportStarted, ec.EvidenceExportCompleted, ec.EvidenceExportFailed)

// exportArgs are an export job's arguments.
type exportArgs struct {
	Scope       Scope  `json:"scope"`
	RequestedBy string `json:"requested_by"`
}

// exportPackage is an export job's result: the package it stored.
type exportPackage struct {
	EventCount  uint64    `json:"event_count"`
	TreeSize    uint64    `json:"tree_size"`
	Checkpoint  []byte    `json:"checkpoint"`
	ObjectKey   string    `json:"object_key"`
	SHA256      string    `json:"sha256"`
	Size        int64     `json:"size"`
	RetainUntil time.Time `json:"retain_until"`
	WORM        bool      `json:"worm"`
}

// exportJob is an export's job record with its arguments and result
// decoded.
type exportJob struct {
	jobs.Job
	Args   exportArgs     `json:"args"`
	Result *exportPackage `json:"result,omitempty"`
}

func decodeExportJob(j jobs.Job) (exportJob, error) {
	x := exportJob{Job: j}
	if err := json.Unmarshal(j.Args, &x.Args); err != nil {
		return exportJob{}, fmt.Errorf("export %s: args: %w", j.ID, err)
	}
	if len(j.Result) > 0 {
		x.Result = new(exportPackage)
		if err := json.Unmarshal(j.Result, x.Result); err != nil {
			return exportJob{}, fmt.Errorf("export %s: result: %w", j.ID, err)
		}
	}
	return x, nil
}

// export returns the job as the API states an export: queued and running
// are both running, canceled is failed.
func (x *exportJob) export() Export {
	e := Export{
		ID: x.ID, Scope: x.Args.Scope, RequestedBy: x.Args.RequestedBy, Created: x.Created, Completed: x.Ended,
		EntriesScanned: x.Done, EntriesTotal: x.Total, Error: x.Reason,
	}
	switch x.State {
	case jobs.Succeeded:
		e.State = ExportSucceeded
	case jobs.Failed, jobs.Canceled:
		e.State = ExportFailed
	default:
		e.State = ExportRunning
	}
	if p := x.Result; p != nil {
		e.EventCount, e.TreeSize, e.Checkpoint, e.ObjectKey = p.EventCount, p.TreeSize, p.Checkpoint, p.ObjectKey
		e.SHA256, e.Size, e.RetainUntil, e.WORM = p.SHA256, p.Size, p.RetainUntil, p.WORM
	}
	return e
}

// Close closes the package store, if it is an io.Closer; the job runner
// is the wiring's to close, first.
func (s *Service) Close() {
	if c, ok := s.cfg.Store.(io.Closer); ok {
		c.Close()
	}
}

// errNoEvidence answers every call on a nil Service: a server with no
// package store.
var errNoEvidence = errs.New(errs.Precondition, "evidence export is not configured on this server")

func validateScope(sc *Scope) error {
	if len(sc.Types) > MaxScopeFilters || len(sc.Subjects) > MaxScopeFilters {
		return core.Invalid("scope: at most %d types and %d subjects", MaxScopeFilters, MaxScopeFilters)
	}
	for _, t := range sc.Types {
		if err := core.ValidateText("scope.types", t, 128, true); err != nil {
			return err
		}
		if err := core.ValidateKnownType("scope.types", t); err != nil {
			return err
		}
	}
	for _, t := range sc.Subjects {
		if err := core.ValidateText("scope.subjects", t, 128, true); err != nil {
			return err
		}
	}
	if !sc.StartTime.IsZero() && !sc.EndTime.IsZero() && !sc.StartTime.Before(sc.EndTime) {
		return core.Invalid("scope: start_time must be before end_time")
	}
	return nil
}

// ExportPackage starts exporting the principal's org's events in scope
// ("evidence.export.requested", before the answer).
func (s *Service) ExportPackage(ctx context.Context, p *core.Principal, sc Scope) (Export, error) {
	if s == nil {
		return Export{}, errNoEvidence
	}
	if err := validateScope(&sc); err != nil {
		return Export{}, err
	}
	id := core.NewID("x")
	// Acknowledged once a checkpoint covers the request, so that the
	// package covers everything before it. The runner refuses an org at
	// capacity before anything is recorded.
	j, err := s.runner.Submit(ctx, s.env.OrgOf(p), jobs.Request{
		Kind: JobKind, ID: id, Args: exportArgs{Scope: sc, RequestedBy: p.Actor()},
		Ack: ledger.AckCheckpoint,
		Change: store.Change{
			Event: core.NewEvent(ctx, ec.EvidenceExportRequested, p.Actor(), "export:"+id, map[string]any{"scope": sc}),
		},
	})
	switch {
	case errors.Is(err, jobs.ErrBusy):
		return Export{}, errs.New(errs.RateLimited, "the org has %d exports queued or running, the most it may have; export again when one ends", s.cfg.PerOrg)
	case err != nil:
		return Export{}, core.Conflict(err)
	}
	x, err := decodeExportJob(j)
	if err != nil {
		return Export{}, err
	}
	return x.export(), nil
}

func (s *Service) export(ctx context.Context, o store.Org, id string) (Export, error) {
	if err := core.ValidateID("export_id", id); err != nil {
		return Export{}, err
	}
	j, err := s.runner.Get(ctx, o, JobKind, id)
	if errors.Is(err, jobs.ErrNotFound) {
		// An export recorded by an earlier version.
		var x Export
		if _, err := o.GetJSON(ctx, prefixExport+id, &x); err != nil {
			return Export{}, core.NotFoundAs(err, errs.New(errs.NotFound, "export"))
		}
		return x, nil
	}
	if err != nil {
		return Export{}, err
	}
	x, err := decodeExportJob(j)
	if err != nil {
		return Export{}, err
	}
	return x.export(), nil
}

// GetExport returns an export of the principal's org.
func (s *Service) GetExport(ctx context.Context, p *core.Principal, id string) (Export, error) {
	if s == nil {
		return Export{}, errNoEvidence
	}
	return s.export(ctx, s.env.OrgOf(p), id)
}

// ListExports lists the org's exports in ID order: its export jobs, and
// the exports recorded by earlier versions.
func (s *Service) ListExports(ctx context.Context, p *core.Principal, size int32, pageToken string) ([]Export, string, error) {
	if s == nil {
		return nil, "", errNoEvidence
	}
	o := s.env.OrgOf(p)
	n, err := core.PageSize(size)
	if err != nil {
		return nil, "", err
	}
	start, err := core.DecodePageToken(ctx, o, prefixExport, pageToken)
	if err != nil {
		return nil, "", err
	}
	// Up to n+1 of each, merged in ID order: the n+1st, if any, starts
	// the next page.
	var out []Export
	var derr error
	jp := jobs.Prefix(JobKind)
	err = o.Scan(ctx, jp, jp+string(start), func(k string, v []byte) bool {
		var x exportJob
		if derr = json.Unmarshal(v, &x); derr != nil {
			derr = fmt.Errorf("state %q: %w", k, derr)
			return false
		}
		out = append(out, x.export())
		return len(out) <= n
	})
	if err == nil {
		err = derr
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, "", err
	}
	legacy := 0
	err = o.Scan(ctx, prefixExport, prefixExport+string(start), func(k string, v []byte) bool {
		var x Export
		if derr = json.Unmarshal(v, &x); derr != nil {
			derr = fmt.Errorf("state %q: %w", k, derr)
			return false
		}
		out = append(out, x)
		legacy++
		return legacy <= n
	})
	if err == nil {
		err = derr
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, "", err
	}
	slices.SortFunc(out, func(a, b Export) int { return strings.Compare(a.ID, b.ID) })
	if len(out) <= n {
		return out, "", nil
	}
	tok, err := core.EncodePageToken(ctx, o, prefixExport, []byte(out[n].ID))
	if err != nil {
		return nil, "", err
	}
	return out[:n], tok, nil
}

// SigningKey returns the PEM public key that signs manifests.
func (s *Service) SigningKey() ([]byte, error) {
	if s == nil {
		return nil, errNoEvidence
	}
	return s.cfg.PublicKeyPEM, nil
}

func (s *Service) downloadable(ctx context.Context, p *core.Principal, id, via string) (Export, error) {
	o := s.env.OrgOf(p)
	x, err := s.export(ctx, o, id)
	if err != nil {
		return Export{}, err
	}
	if x.State != ExportSucceeded {
		return Export{}, errs.New(errs.Precondition, "export %s is %s", x.ID, x.State)
	}
	_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
		Event: core.NewEvent(ctx, ec.EvidencePackageDownloaded, p.Actor(), "export:"+x.ID, map[string]any{"via": via, "sha256": x.SHA256}),
	})
	return x, err
}

// DownloadURL returns a presigned URL of a finished package
// ("evidence.package.downloaded").
func (s *Service) DownloadURL(ctx context.Context, p *core.Principal, id string) (string, time.Time, error) {
	if s == nil {
		return "", time.Time{}, errNoEvidence
	}
	// Checked before the audit event: nothing is handed out. The export
	// must exist first, so that another org's ID is NotFound whatever the
	// storage.
	if _, err := s.export(ctx, s.env.OrgOf(p), id); err != nil {
		return "", time.Time{}, err
	}
	if !s.cfg.Store.WORM() {
		return "", time.Time{}, errs.New(errs.Precondition, "this server keeps packages in a local directory, which has no download URLs; use DownloadPackage")
	}
	x, err := s.downloadable(ctx, p, id, "presigned_url")
	if err != nil {
		return "", time.Time{}, err
	}
	u, err := s.cfg.Store.PresignGet(ctx, x.ObjectKey, PresignExpiry)
	if err != nil {
		return "", time.Time{}, err
	}
	return u, s.env.Clock().Add(PresignExpiry), nil
}

// OpenPackage opens a finished package for streaming
// ("evidence.package.downloaded").
func (s *Service) OpenPackage(ctx context.Context, p *core.Principal, id string) (io.ReadCloser, Export, error) {
	if s == nil {
		return nil, Export{}, errNoEvidence
	}
	x, err := s.downloadable(ctx, p, id, "stream")
	if err != nil {
		return nil, Export{}, err
	}
	r, _, err := s.cfg.Store.Open(ctx, x.ObjectKey)
	return r, x, err
}

// failedRestart is why an earlier version's export left running failed,
// as its record and its "evidence.export.failed" event say.
const failedRestart = "interrupted by a server restart; export again"

// failedInternal is why an export failed, as its job's record and its
// "evidence.export.failed" event say: a fixed text, so that a path, an
// internal error or a dependency's message never reaches the org's
// permanent log or a response; the detail is in the server log under
// the export ID.
func failedInternal(id string) string {
	return "export failed; the server log has details under export ID " + id
}

// RecoverLegacy, at start and before the job runner recovers its jobs,
// fails the exports an earlier version left running
// ("evidence.export.failed"); an export job interrupted by a restart is
// the runner's to fail (jobs.RestartFail).
func (s *Service) RecoverLegacy(ctx context.Context) error {
	for _, o := range s.env.Store.Orgs() {
		type found struct {
			x   Export
			raw []byte
		}
		var stale []found
		err := o.Scan(ctx, prefixExport, "", func(_ string, v []byte) bool {
			var x Export
			if json.Unmarshal(v, &x) == nil && x.State == ExportRunning {
				stale = append(stale, found{x, v})
			}
			return true
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		for _, f := range stale {
			x := f.x
			x.State, x.Error, x.Completed = ExportFailed, failedRestart, s.env.Now()
			_, err := o.Commit(ctx, ledger.AckDurable, store.Change{
				Event:   core.NewEvent(ctx, ec.EvidenceExportFailed, ec.System, "export:"+x.ID, map[string]any{"error": x.Error}),
				Require: map[string][]byte{prefixExport + x.ID: f.raw},
				Put:     map[string]any{prefixExport + x.ID: x},
			})
			if err != nil && !errors.Is(err, store.ErrConflict) {
				return err
			}
		}
	}
	return nil
}

// runExport is the export kind's handler: it builds and stores the
// package of job j.
func (s *Service) runExport(ctx context.Context, o store.Org, j *jobs.Job) (jobs.Result, error) {
	var a exportArgs
	if err := json.Unmarshal(j.Args, &a); err != nil {
		return jobs.Result{}, jobs.Failure(failedInternal(j.ID), err)
	}
	p, err := s.buildPackage(ctx, o, j, a.Scope)
	if err != nil {
		// The detail goes to the server log; the record says only where
		// to find it.
		return jobs.Result{}, jobs.Failure(failedInternal(j.ID), err)
	}
	return jobs.Result{Record: p, Data: map[string]any{
		"sha256": p.SHA256, "size": p.Size, "event_count": p.EventCount, "tree_size": p.TreeSize,
		"retain_until": p.RetainUntil, "worm": p.WORM,
	}}, nil
}

// selector decides which leaves of a scope go into a package.
type selector struct{ sc Scope }

func newSelector(sc Scope) *selector { return &selector{sc: sc} }

// match reports whether the leaf is in scope and whether it ends the
// scope (time at or past its end: times never decrease).
func (sel *selector) match(b []byte) (in, end bool, err error) {
	if b == nil {
		return false, false, nil // purged
	}
	l, err := leaf.Parse(b)
	if err != nil {
		return false, false, err
	}
	if !sel.sc.EndTime.IsZero() && !l.Time.Before(sel.sc.EndTime) {
		return false, true, nil
	}
	return sel.sc.Match(&l), false, nil
}

// recordedEvidence returns the SHA-256 (hex) of the evidence an
// "evidence.recorded" leaf records, or "".
func recordedEvidence(b []byte) string {
	l, err := leaf.Parse(b)
	if err != nil {
		return ""
	}
	var ev struct {
		Type string `json:"type"`
		Data struct {
			SHA256 string `json:"sha256"`
		} `json:"data"`
	}
	if json.Unmarshal(l.Event, &ev) != nil || ev.Type != ec.EvidenceRecorded || len(ev.Data.SHA256) != 64 {
		return ""
	}
	return ev.Data.SHA256
}

// scan calls fn for each leaf of [lo, hi) in scope, in order, until the
// scope ends; scanned, if set, is called as each leaf is read.
func (s *Service) scan(ctx context.Context, o store.Org, lo, hi uint64, sel *selector, scanned func(), fn func(ledger.Leaf) error) error {
	errEnd := errors.New("end of scope")
	err := o.Log().Leaves(ctx, lo, hi, func(lf ledger.Leaf) error {
		if scanned != nil {
			scanned()
		}
		in, end, err := sel.match(lf.Bytes)
		switch {
		case err != nil:
			return fmt.Errorf("leaf %d: %w", lf.Index, err)
		case end:
			return errEnd
		case in:
			return fn(lf)
		}
		return nil
	})
	if err == errEnd {
		return nil
	}
	return err
}

// buildPackage writes the package of export job j, of scope sc, to a
// temporary file, then stores it write-once, retained for the org's
// retention window. It reports its progress with j.Report.
func (s *Service) buildPackage(ctx context.Context, o store.Org, j *jobs.Job, sc Scope) (*exportPackage, error) {
	org, log := o.ID(), o.Log()
	e := &s.cfg
	cp, err := log.Checkpoint(ctx)
	if err != nil {
		return nil, err
	}
	n := cp.Size
	lo := uint64(0)
	if !sc.StartTime.IsZero() {
		if lo, err = core.FirstAtOrAfter(ctx, log, n, sc.StartTime); err != nil {
			return nil, err
		}
	}
	var done uint64
	j.Report(done, n-lo)
	scanned := func() {
		done++
		j.Report(done, n-lo)
	}
	sel := newSelector(sc)

	f, err := os.CreateTemp(e.TempDir, "export-*.zip")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	h := sha256.New()
	w, err := archive.NewWriter(io.MultiWriter(f, h), e.Signer, archive.Meta{
		Org: org, LogOrigin: log.Origin(), LogKey: log.VerifierKey(), Created: s.env.Now(),
		Scope:    sc,
		TreeSize: n, Checkpoint: cp.Note,
	})
	if err != nil {
		return nil, err
	}
	var count uint64
	var blobs []string // evidence the package's events recorded, in order
	seen := map[string]bool{}
	if err := s.scan(ctx, o, lo, n, sel, scanned, func(lf ledger.Leaf) error {
		count++
		if h := recordedEvidence(lf.Bytes); h != "" && !seen[h] {
			seen[h] = true
			blobs = append(blobs, h)
		}
		return w.AddEvent(lf.Bytes)
	}); err != nil {
		return nil, err
	}
	// The proof: a second pass over the scope yields the indices again,
	// so that memory does not grow with the package.
	var scanErr error
	selected := func(yield func(uint64) bool) {
		scanErr = s.scan(ctx, o, lo, n, sel, nil, func(lf ledger.Leaf) error {
			if !yield(lf.Index) {
				return errors.New("stopped")
			}
			return nil
		})
	}
	nodes, err := archive.Nodes(n, iter.Seq[uint64](selected), func(a, b uint64) ([]byte, error) {
		return log.SubtreeHash(ctx, a, b)
	})
	if err == nil {
		err = scanErr
	}
	if err != nil {
		return nil, fmt.Errorf("proof: %w", err)
	}
	if err := w.SetProof(nodes); err != nil {
		return nil, err
	}
	if err := s.addConsistency(ctx, o, j.ID, w, n); err != nil {
		return nil, err
	}
	for _, h := range blobs {
		b, err := agents.LoadEvidence(ctx, o, h)
		if err != nil {
			return nil, fmt.Errorf("evidence %s: %w", h, err)
		}
		if _, err := w.AddBlob(bytes.NewReader(b)); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	ret, err := log.Retention(ctx)
	if err != nil {
		return nil, err
	}
	p := &exportPackage{RetainUntil: s.env.Clock().Add(ret.Window).UTC().Truncate(time.Second)}
	obj, err := e.Store.Put(ctx, "orgs/"+org+"/exports/"+j.ID+".zip", f, size, p.RetainUntil)
	if err != nil {
		return nil, fmt.Errorf("store package: %w", err)
	}
	p.ObjectKey = obj.Key
	p.SHA256, p.Size = hex.EncodeToString(h.Sum(nil)), size
	p.EventCount, p.TreeSize, p.Checkpoint = count, n, cp.Note
	p.WORM = e.Store.WORM()
	return p, nil
}

// addConsistency adds consistency proofs from the checkpoints of the org's
// most recent earlier packages, so that a chain of packages shows one
// unbroken log.
func (s *Service) addConsistency(ctx context.Context, o store.Org, self string, w *archive.Writer, n uint64) error {
	var sizes []uint64
	seen := map[uint64]bool{}
	var earlier []Export
	keep := func(x Export) {
		if x.ID != self && x.State == ExportSucceeded && x.TreeSize > 0 && x.TreeSize < n {
			earlier = append(earlier, x)
		}
	}
	err := o.Scan(ctx, jobs.Prefix(JobKind), "", func(_ string, v []byte) bool {
		var x exportJob
		if json.Unmarshal(v, &x) == nil {
			keep(x.export())
		}
		return true
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// Exports recorded by earlier versions.
	err = o.Scan(ctx, prefixExport, "", func(_ string, v []byte) bool {
		var x Export
		if json.Unmarshal(v, &x) == nil {
			keep(x)
		}
		return true
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	slices.SortFunc(earlier, func(a, b Export) int { return b.Completed.Compare(a.Completed) })
	for _, x := range earlier {
		if len(sizes) == maxConsistencyCheckpoints {
			break
		}
		if seen[x.TreeSize] {
			continue
		}
		seen[x.TreeSize] = true
		sizes = append(sizes, x.TreeSize)
		p, err := o.Log().ConsistencyProof(ctx, x.TreeSize, n)
		if err != nil {
			return err
		}
		if err := w.AddConsistency(x.TreeSize, x.Checkpoint, p); err != nil {
			return err
		}
	}
	return nil
}
