package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nuxari/nuxari/governance/store"
)

// Errors returned by this package.
var (
	// ErrBusy: the org has as many jobs queued or running as it may have
	// (Config.PerOrg). Nothing was written.
	ErrBusy = errors.New("the org has as many jobs queued or running as it may have; submit again when one ends")
	// ErrUnknownKind: no kind of that name is registered.
	ErrUnknownKind = errors.New("unknown job kind")
	// ErrInvalid: a kind, ID or request is malformed.
	ErrInvalid = errors.New("invalid job request")
	// ErrNotFound: the org has no such job. It is wrapped with
	// store.ErrNotFound.
	ErrNotFound = errors.New("job not found")
	// ErrEnded: the job has already ended.
	ErrEnded = errors.New("the job has already ended")
	// ErrClosed: the runner is closed.
	ErrClosed = errors.New("the job runner is closed")
)

// State is where a job is in its life.
type State string

// Job states. A job is Queued, then Running, then ends Succeeded, Failed
// or Canceled; a RestartResume job interrupted by a restart goes back to
// Queued.
const (
	Queued    State = "queued"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Canceled  State = "canceled"
)

// Ended reports whether s is a final state.
func (s State) Ended() bool { return s == Succeeded || s == Failed || s == Canceled }

// Job is a job's record, as kept in its org's state under Key(Kind, ID).
type Job struct {
	ID    string `json:"id"`
	Kind  string `json:"kind"`
	State State  `json:"state"`
	// Args are the submitted arguments, as JSON.
	Args    json.RawMessage `json:"args,omitempty"`
	Created time.Time       `json:"created"`
	// Started is when the latest run started; Ended when the job ended.
	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	// Attempts counts the runs started (more than one only for a
	// RestartResume kind interrupted by restarts).
	Attempts int `json:"attempts,omitempty"`
	// Done and Total are the progress the handler last reported: live
	// while the job runs (Runner.Get), as it was at the end after.
	Done  uint64 `json:"done,omitempty"`
	Total uint64 `json:"total,omitempty"`
	// CancelRequested is set when a running job is asked to stop.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// Reason says why a job failed: a fixed, caller-safe text.
	Reason string `json:"reason,omitempty"`
	// Result is Result.Record of a job that succeeded, as JSON.
	Result json.RawMessage `json:"result,omitempty"`

	progress *progress
}

// Report records the job's progress: done of total units. Handlers call
// it on the *Job they are given; it is safe for concurrent use and cheap
// (nothing is written until the job ends).
func (j *Job) Report(done, total uint64) {
	if j.progress != nil {
		j.progress.done.Store(done)
		j.progress.total.Store(total)
	}
}

type progress struct{ done, total atomic.Uint64 }

// Handler runs one job of a kind, of org o (the runner's own handle: it
// holds no actor's authority). It returns the job's result, or an error:
// a plain error fails the job with a generic reason, Failure states a
// caller-safe one. It MUST return soon after ctx ends.
type Handler func(ctx context.Context, o store.Org, j *Job) (Result, error)

// Result is what a job that succeeded produced.
type Result struct {
	// Record is kept in the job's record (Job.Result), encoded as JSON.
	Record any
	// Data is the data of the job's <events>.completed event: what an
	// auditor needs to know of the outcome, never a secret.
	Data map[string]any
}

// Restart says what becomes of a job that a restart interrupted.
type Restart int

const (
	// RestartFail records the job failed ("interrupted by a server
	// restart"), with its <events>.failed event. It is the default.
	RestartFail Restart = iota
	// RestartResume queues the job again, to run from the start; its
	// handler MUST be idempotent. After Kind.MaxAttempts runs it fails.
	RestartResume
)

// Kind is one kind of job.
type Kind struct {
	// Name names the kind ("evidence.export"): lower-case letters,
	// digits, '.', '_' and '-'.
	Name string
	// Run runs one job.
	Run Handler
	// Restart says what a restart does to a job it interrupted.
	Restart Restart
	// MaxAttempts bounds the runs of a RestartResume job (default 3).
	MaxAttempts int
	// Events prefixes the types of the runner's events about the kind's
	// jobs: <Events>.started, .completed, .failed, .canceled, .requeued
	// (default Name).
	Events string
	// Subject prefixes the job ID as the subject of those events
	// (default "job:"; "export:" gives "export:<id>").
	Subject string
}

// EventsPrefix returns the prefix of a job kind's event types
// ("evidence.export" of "evidence.export.started"), given those its jobs
// can have, which MUST share one: a kind names its event types where it
// sets Kind.Events, so that the event catalog's check finds them.
func EventsPrefix(types ...string) string {
	p := types[0][:strings.LastIndexByte(types[0], '.')]
	for _, t := range types[1:] {
		if t[:strings.LastIndexByte(t, '.')] != p {
			panic("job event types of different prefixes: " + p + ", " + t)
		}
	}
	return p
}

// DefaultMaxAttempts is Kind.MaxAttempts' default.
const DefaultMaxAttempts = 3

// EventTypes returns the types of the runner's events about k's jobs.
func (k Kind) EventTypes() []string {
	k.setDefaults()
	var out []string
	for _, s := range []string{evStarted, evCompleted, evFailed, evCanceled, evRequeued} {
		out = append(out, k.Events+"."+s)
	}
	return out
}

func (k *Kind) setDefaults() {
	if k.MaxAttempts <= 0 {
		k.MaxAttempts = DefaultMaxAttempts
	}
	if k.Events == "" {
		k.Events = k.Name
	}
	if k.Subject == "" {
		k.Subject = "job:"
	}
}

const (
	evStarted   = "started"
	evCompleted = "completed"
	evFailed    = "failed"
	evCanceled  = "canceled"
	evRequeued  = "requeued"
)

// Key returns the state key of job id of kind: "job/<kind>/<id>".
func Key(kind, id string) string { return Prefix(kind) + id }

// Prefix returns the prefix of the state keys of kind's jobs, to list
// them with store.Org.Scan.
func Prefix(kind string) string { return KeyPrefix + kind + "/" }

// KeyPrefix starts the state key of every job.
const KeyPrefix = "job/"

// Failure returns an error that fails a job with reason, a fixed,
// caller-safe text that the job's record and <events>.failed event
// state; err, the detail, goes only to the server log. reason MUST NOT
// carry an error's text, a secret or another org's data.
func Failure(reason string, err error) error { return &failure{reason: reason, err: err} }

type failure struct {
	reason string
	err    error
}

func (f *failure) Error() string {
	if f.err == nil {
		return f.reason
	}
	return f.reason + ": " + f.err.Error()
}

func (f *failure) Unwrap() error { return f.err }

// Fixed reasons of failures the runner records.
const (
	reasonRestart = "interrupted by a server restart"
	reasonPanic   = "the job failed unexpectedly; the server log has details under job ID "
	reasonError   = "the job failed; the server log has details under job ID "
)

func reasonAttempts(n int) string {
	return fmt.Sprintf("interrupted by server restarts %d times, the most its kind allows", n)
}

// validName reports whether s is a kind name or job ID: 1 to 128 of
// letters, digits, '.', '_', '-' (and ':' in an ID); never '/', so a key
// names one job.
func validName(s string, id bool) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		case id && (c >= 'A' && c <= 'Z' || c == ':'):
		default:
			return false
		}
	}
	return true
}
