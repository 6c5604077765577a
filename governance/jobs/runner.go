package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nuxari/nuxari/governance/jcs"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/ledger"
)

// Defaults of Config.
const (
	DefaultWorkers = 2
	DefaultPerOrg  = 4
)

// Config configures a Runner; its zero value works.
type Config struct {
	// Workers is how many jobs run at once, across all orgs (default
	// DefaultWorkers).
	Workers int
	// PerOrg is how many jobs one org may have queued or running
	// (default DefaultPerOrg). Recover queues an org's recorded jobs
	// even beyond it.
	PerOrg int
	// Clock returns the current time (default time.Now).
	Clock func() time.Time
	// Logger gets what went wrong in detail (default: discarded).
	Logger *slog.Logger
	// BeforeStart, if set, is called by a worker that has read a queued
	// job and is about to record its start, for tests that order a
	// concurrent change deterministically.
	BeforeStart func(org, kind, id string)
}

func (c *Config) setDefaults() {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.PerOrg <= 0 {
		c.PerOrg = DefaultPerOrg
	}
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Runner runs the jobs of every org. Register its kinds, then Recover,
// then Submit; Close it to stop.
type Runner struct {
	st   *store.Store
	cfg  Config
	q    *fairQueue[ref]
	ctx  context.Context // ends at Close
	stop context.CancelCauseFunc
	wg   sync.WaitGroup

	mu    sync.Mutex
	kinds map[string]*Kind
	live  map[ref]*run // queued (nil) or running in this runner
	// ended counts the jobs whose end this runner recorded, by kind and
	// state.
	ended map[string]map[State]uint64
}

// KindStats are one kind's jobs in this runner, for metrics.
type KindStats struct {
	// Queued and Running are the jobs queued or running here now.
	Queued, Running int
	// Ended counts the jobs whose end this runner recorded since it
	// started, by state (succeeded, failed, canceled).
	Ended map[State]uint64
}

// Stats returns, for each registered kind, its jobs in this runner.
func (r *Runner) Stats() map[string]KindStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]KindStats, len(r.kinds))
	for name := range r.kinds {
		out[name] = KindStats{Ended: maps.Clone(r.ended[name])}
	}
	for rf, ru := range r.live {
		ks := out[rf.kind]
		if ru == nil {
			ks.Queued++
		} else {
			ks.Running++
		}
		out[rf.kind] = ks
	}
	return out
}

// recordEnded counts a job's recorded end.
func (r *Runner) recordEnded(kind string, st State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended[kind] == nil {
		r.ended[kind] = map[State]uint64{}
	}
	r.ended[kind][st]++
}

// ref names one job.
type ref struct{ org, kind, id string }

// run is a job running in this runner.
type run struct {
	cancel   context.CancelCauseFunc
	done     chan struct{} // closed once its end is recorded or given up
	progress progress
}

var (
	errShutdown = errors.New("the job runner is closing")
	errCanceled = errors.New("the job was canceled")
	// errCallerConflict: a precondition of the caller's change failed.
	errCallerConflict = errors.New("a precondition of the change failed")
)

// New returns a Runner over st with its workers started.
func New(st *store.Store, cfg Config) *Runner {
	cfg.setDefaults()
	ctx, stop := context.WithCancelCause(context.Background())
	r := &Runner{
		st: st, cfg: cfg, q: newFairQueue[ref](cfg.PerOrg), ctx: ctx, stop: stop,
		kinds: map[string]*Kind{}, live: map[ref]*run{}, ended: map[string]map[State]uint64{},
	}
	for range cfg.Workers {
		r.wg.Go(r.work)
	}
	return r
}

// Close stops taking jobs, cancels the running ones and waits for the
// workers. A job it interrupts stays recorded running, and one still
// queued stays queued: the next Recover resumes or fails them.
func (r *Runner) Close() {
	r.stop(errShutdown)
	r.wg.Wait()
}

// Register adds a kind of job. Every kind MUST be registered before
// Recover, or its interrupted jobs wait for a later one.
func (r *Runner) Register(k Kind) error {
	if !validName(k.Name, false) || k.Run == nil {
		return fmt.Errorf("%w: a kind needs a name of lower-case letters, digits, '.', '_', '-', and a handler", ErrInvalid)
	}
	k.setDefaults()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.kinds[k.Name] != nil {
		return fmt.Errorf("%w: kind %s is registered twice", ErrInvalid, k.Name)
	}
	r.kinds[k.Name] = &k
	return nil
}

func (r *Runner) kind(name string) (*Kind, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if k := r.kinds[name]; k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownKind, name)
}

// Request asks for a job.
type Request struct {
	// Kind is a registered kind; ID names the job, unique per org and
	// kind: letters, digits, '.', '_', '-', ':'.
	Kind, ID string
	// Args are the job's arguments, kept as JSON in its record.
	Args any
	// Change carries the caller's event that asks for the job, with any
	// state writes and preconditions of its own. The job's record is
	// added to its writes, with the precondition that the job does not
	// exist yet. Its Event MUST be set.
	Change store.Change
	// Ack says when Submit returns (default ledger.AckDurable).
	Ack store.Ack
}

// Submit records the job queued, in one commit with req.Change through
// o (so o's holds apply), then queues it. It returns ErrBusy, before
// anything is written, when o's org has Config.PerOrg jobs queued or
// running; store.ErrConflict when the job exists or one of the change's
// preconditions fails. Once it has sent the commit, Submit waits for its
// outcome even if ctx ends, so that a job recorded is always queued.
func (r *Runner) Submit(ctx context.Context, o store.Org, req Request) (Job, error) {
	if _, err := r.kind(req.Kind); err != nil {
		return Job{}, err
	}
	if !validName(req.ID, true) {
		return Job{}, fmt.Errorf("%w: a job ID is 1 to 128 letters, digits, '.', '_', '-', ':'", ErrInvalid)
	}
	if req.Change.Event == nil {
		return Job{}, fmt.Errorf("%w: a job is submitted with its event", ErrInvalid)
	}
	if r.ctx.Err() != nil {
		return Job{}, ErrClosed
	}
	var args json.RawMessage
	if req.Args != nil {
		b, err := json.Marshal(req.Args)
		if err != nil {
			return Job{}, fmt.Errorf("%w: args: %w", ErrInvalid, err)
		}
		args = b
	}
	if !r.q.reserve(o.ID(), false) {
		return Job{}, fmt.Errorf("%w (%d)", ErrBusy, r.cfg.PerOrg)
	}
	j := Job{ID: req.ID, Kind: req.Kind, State: Queued, Args: args, Created: r.cfg.Clock().UTC()}
	key := Key(req.Kind, req.ID)
	if _, err := o.Commit(context.WithoutCancel(ctx), req.Ack, withRecord(req.Change, key, nil, j)); err != nil {
		r.q.unreserve(o.ID())
		return Job{}, err
	}
	r.enqueue(ref{o.ID(), req.Kind, req.ID})
	return j, nil
}

// enqueue queues a reserved job.
func (r *Runner) enqueue(rf ref) {
	r.mu.Lock()
	r.live[rf] = nil
	r.mu.Unlock()
	r.q.push(rf.org, rf)
}

// Get returns job id of kind in o's org, with its live progress while it
// runs here.
func (r *Runner) Get(ctx context.Context, o store.Org, kind, id string) (Job, error) {
	j, _, err := r.read(ctx, o, kind, id)
	if err != nil {
		return Job{}, err
	}
	if j.State == Running {
		r.mu.Lock()
		ru := r.live[ref{o.ID(), kind, id}]
		r.mu.Unlock()
		if ru != nil {
			j.Done, j.Total = ru.progress.done.Load(), ru.progress.total.Load()
		}
	}
	return j, nil
}

func (r *Runner) read(ctx context.Context, o store.Org, kind, id string) (Job, []byte, error) {
	if !validName(kind, false) || !validName(id, true) {
		return Job{}, nil, fmt.Errorf("%w: %w", ErrNotFound, store.ErrNotFound)
	}
	var j Job
	raw, err := o.GetJSON(ctx, Key(kind, id), &j)
	if errors.Is(err, store.ErrNotFound) {
		return Job{}, nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return j, raw, err
}

// Cancel stops job id of kind in o's org, committing c (the caller's
// event, MUST be set) through o with it. A queued job ends canceled at
// once (<events>.canceled in the same commit). A running job is marked
// CancelRequested in that commit, its context is canceled, and Cancel
// waits, until ctx ends, for its end: canceled, or succeeded if it had
// already done its work. It returns the job as it then is, and ErrEnded
// (with the job) if it had ended before.
func (r *Runner) Cancel(ctx context.Context, o store.Org, kind, id string, c store.Change) (Job, error) {
	k, err := r.kind(kind)
	if err != nil {
		return Job{}, err
	}
	if c.Event == nil {
		return Job{}, fmt.Errorf("%w: a job is canceled with the caller's event", ErrInvalid)
	}
	rf, key := ref{o.ID(), kind, id}, Key(kind, id)
	var prev []byte
	for {
		j, raw, err := r.read(ctx, o, kind, id)
		if err != nil {
			return Job{}, err
		}
		if prev != nil && bytes.Equal(raw, prev) {
			// The job is as it was: one of c's own preconditions failed.
			return Job{}, fmt.Errorf("%w: %w", store.ErrConflict, errCallerConflict)
		}
		prev = raw
		switch {
		case j.State.Ended():
			return j, ErrEnded
		case j.State == Queued:
			end := j
			end.State, end.Ended = Canceled, r.cfg.Clock().UTC()
			_, err = o.Commit(ctx, ledger.AckDurable, c, store.Change{
				Event:   r.event(k, id, evCanceled, map[string]any{"while": string(Queued)}),
				Require: map[string][]byte{key: raw},
				Put:     map[string]any{key: end},
			})
			if err == nil {
				if r.q.remove(rf.org, rf) {
					r.forget(rf)
				}
				r.recordEnded(kind, Canceled)
				return end, nil
			}
		default:
			// Running: c is committed even if a cancel was asked for
			// before, so that every request to stop is in the log.
			asked := j
			asked.CancelRequested = true
			if _, err = o.Commit(ctx, ledger.AckDurable, withRecord(c, key, raw, asked)); err == nil {
				return r.awaitEnd(ctx, o, rf)
			}
		}
		if !errors.Is(err, store.ErrConflict) {
			return Job{}, err
		}
		// The record changed since it was read (the job started or
		// ended): read it again.
	}
}

// awaitEnd cancels rf's run here and waits for its end to be recorded.
// A job recorded running that does not run here (a stopped server's) is
// returned as it is: Recover ends it canceled.
func (r *Runner) awaitEnd(ctx context.Context, o store.Org, rf ref) (Job, error) {
	r.mu.Lock()
	ru := r.live[rf]
	r.mu.Unlock()
	if ru != nil {
		ru.cancel(errCanceled)
		select {
		case <-ru.done:
		case <-ctx.Done():
			return Job{}, ctx.Err()
		}
	}
	return r.Get(ctx, o, rf.kind, rf.id)
}

func (r *Runner) forget(rf ref) {
	r.mu.Lock()
	delete(r.live, rf)
	r.mu.Unlock()
}

// withRecord returns c with the job record at key set to v, on the
// precondition that it is raw (nil: absent); c's own maps are not
// changed.
func withRecord(c store.Change, key string, raw []byte, v Job) store.Change {
	c.Require = maps.Clone(c.Require)
	if c.Require == nil {
		c.Require = map[string][]byte{}
	}
	c.Put = maps.Clone(c.Put)
	if c.Put == nil {
		c.Put = map[string]any{}
	}
	c.Require[key], c.Put[key] = raw, v
	return c
}

// event is the body of the runner's events: the same shape as every
// governance event (type, actor, subject, data).
type event struct {
	Type    string `json:"type"`
	Actor   string `json:"actor"`
	Subject string `json:"subject,omitempty"`
	Data    any    `json:"data,omitempty"`
}

// actorSystem is the actor of the runner's events.
const actorSystem = "system"

func (r *Runner) event(k *Kind, id, what string, data map[string]any) event {
	return event{Type: k.Events + "." + what, Actor: actorSystem, Subject: k.Subject + id, Data: data}
}

// work is one worker: it runs jobs until Close.
func (r *Runner) work() {
	for {
		org, rf, ok := r.q.next(r.ctx)
		if !ok {
			return
		}
		r.q.done(org, r.run(rf))
	}
}

// run starts, runs and ends one job, if it is still queued; released
// says its org's place was given back when its end was recorded.
func (r *Runner) run(rf ref) (released bool) {
	defer r.forget(rf)
	k, err := r.kind(rf.kind)
	if err != nil {
		return // queued only once registered
	}
	ctx := context.WithoutCancel(r.ctx) // records are written even while closing
	log := r.cfg.Logger.With("org", rf.org, "kind", rf.kind, "job", rf.id)
	o, err := r.st.Org(rf.org)
	if err != nil {
		log.Error("job of an invalid org", "error", err)
		return
	}
	j, raw, err := r.read(ctx, o, rf.kind, rf.id)
	if err != nil {
		log.Error("read job", "error", err)
		return
	}
	if j.State != Queued || r.ctx.Err() != nil {
		return // canceled, taken by another runner, or closing: stays queued
	}
	if r.cfg.BeforeStart != nil {
		r.cfg.BeforeStart(rf.org, rf.kind, rf.id)
	}
	cur := j
	cur.State, cur.Started, cur.Ended, cur.Reason = Running, r.cfg.Clock().UTC(), time.Time{}, ""
	cur.Attempts++
	runCtx, cancel := context.WithCancelCause(r.ctx)
	ru := &run{cancel: cancel, done: make(chan struct{})}
	defer close(ru.done)
	defer cancel(nil)
	r.mu.Lock()
	r.live[rf] = ru
	r.mu.Unlock()
	if _, err := o.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   r.event(k, rf.id, evStarted, map[string]any{"attempt": cur.Attempts}),
		Require: map[string][]byte{Key(rf.kind, rf.id): raw},
		Put:     map[string]any{Key(rf.kind, rf.id): cur},
	}); err != nil {
		if errors.Is(err, store.ErrConflict) {
			log.Debug("job changed before it started; not run", "error", err)
		} else {
			log.Error("record job start", "error", err)
		}
		return
	}
	cur.progress = &ru.progress
	res, herr := call(runCtx, k.Run, o, &cur)
	return r.finish(ctx, o, k, rf, cur.Attempts, &ru.progress, res, herr, log)
}

// errPanic is the error of a handler that panicked.
type errPanic struct {
	value any
	stack []byte
}

func (e *errPanic) Error() string { return fmt.Sprintf("panic: %v\n%s", e.value, e.stack) }

// call runs h, turning a panic into an error.
func call(ctx context.Context, h Handler, o store.Org, j *Job) (res Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			res, err = Result{}, &errPanic{value: v, stack: debug.Stack()}
		}
	}()
	return h(ctx, o, j)
}

// finish records the end of attempt of job rf, unless the job is no
// longer in that run (recovered by another runner) or the runner is
// closing and the handler failed (Recover then resumes or fails it).
func (r *Runner) finish(ctx context.Context, o store.Org, k *Kind, rf ref, attempt int, pr *progress, res Result, herr error, log *slog.Logger) (released bool) {
	key := Key(rf.kind, rf.id)
	for {
		cur, raw, err := r.read(ctx, o, rf.kind, rf.id)
		if err != nil {
			log.Error("read job at its end", "error", err)
			return
		}
		if cur.State != Running || cur.Attempts != attempt {
			log.Warn("job run ended after its record moved on; its end is not recorded", "state", cur.State, "attempts", cur.Attempts, "attempt", attempt, "error", herr)
			return
		}
		end := cur
		end.Ended = r.cfg.Clock().UTC()
		end.Done, end.Total = pr.done.Load(), pr.total.Load()
		var ev event
		switch {
		case herr == nil:
			ev = r.event(k, rf.id, evCompleted, res.Data)
			var b []byte
			if res.Record != nil {
				b, err = json.Marshal(res.Record)
			}
			if err == nil {
				_, err = jcs.Marshal(ev)
			}
			if err != nil {
				herr = fmt.Errorf("encode the result: %w", err)
				continue // recorded failed instead
			}
			end.State, end.Result = Succeeded, b
		case cur.CancelRequested:
			end.State = Canceled
			ev = r.event(k, rf.id, evCanceled, map[string]any{"while": string(Running)})
		case r.ctx.Err() != nil:
			log.Info("job interrupted by shutdown; the next recovery resumes or fails it", "error", herr)
			return
		default:
			end.State, end.Reason = Failed, reasonError+rf.id
			var f *failure
			var p *errPanic
			switch {
			case errors.As(herr, &p):
				end.Reason = reasonPanic + rf.id
			case errors.As(herr, &f):
				end.Reason = f.reason
			}
			log.Error("job failed", "error", herr)
			ev = r.event(k, rf.id, evFailed, map[string]any{"error": end.Reason})
		}
		// The org's place is free once the end is recorded, and a caller
		// who reads the end may submit again at once: the end is readable
		// as soon as the commit is applied, a moment before it returns,
		// so the place is given back before. (Should the commit fail, the
		// job stays recorded running without its place until the next
		// recovery.)
		if !released {
			r.q.ended(rf.org)
			released = true
		}
		_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
			Event:   ev,
			Require: map[string][]byte{key: raw},
			Put:     map[string]any{key: end},
		})
		switch {
		case err == nil:
			r.recordEnded(rf.kind, end.State)
			return true
		case !errors.Is(err, store.ErrConflict):
			log.Error("record job end", "state", end.State, "error", err)
			return
		}
		// A Cancel marked the record meanwhile: read it again.
	}
}

// Recover queues again, in every org, the jobs a stopped runner left
// queued; and each job it left running is queued again (RestartResume,
// "<events>.requeued", while it has runs left), recorded failed
// (RestartFail, or no runs left; "<events>.failed") or, if a Cancel had
// asked it to stop, recorded canceled. It MUST be called once at start,
// after every kind is registered, while no other runner serves the same
// ledger; jobs of kinds not registered are left as they are.
func (r *Runner) Recover(ctx context.Context) error {
	orgs := r.st.Orgs()
	slices.SortFunc(orgs, func(a, b store.Org) int { return strings.Compare(a.ID(), b.ID()) })
	for _, o := range orgs {
		type found struct {
			j   Job
			raw []byte
		}
		var left []found
		err := o.Scan(ctx, KeyPrefix, "", func(_ string, v []byte) bool {
			var j Job
			if json.Unmarshal(v, &j) == nil && !j.State.Ended() {
				left = append(left, found{j, v})
			}
			return true
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		for _, f := range left {
			if err := r.recoverJob(ctx, o, f.j, f.raw); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Runner) recoverJob(ctx context.Context, o store.Org, j Job, raw []byte) error {
	rf := ref{o.ID(), j.Kind, j.ID}
	log := r.cfg.Logger.With("org", rf.org, "kind", rf.kind, "job", rf.id)
	k, err := r.kind(j.Kind)
	if err != nil {
		log.Warn("job of a kind not registered left as it is", "state", j.State)
		return nil
	}
	r.mu.Lock()
	_, here := r.live[rf]
	r.mu.Unlock()
	if here {
		return nil // queued or running in this runner already
	}
	key := Key(j.Kind, j.ID)
	next := j
	var ev event
	switch {
	case j.State == Queued:
		r.q.reserve(rf.org, true)
		r.enqueue(rf)
		return nil
	case j.CancelRequested:
		next.State, next.Ended = Canceled, r.cfg.Clock().UTC()
		ev = r.event(k, j.ID, evCanceled, map[string]any{"while": string(Running)})
	case k.Restart == RestartResume && j.Attempts < k.MaxAttempts:
		next.State, next.Started = Queued, time.Time{}
		ev = r.event(k, j.ID, evRequeued, map[string]any{"reason": reasonRestart, "attempts": j.Attempts})
	default:
		next.State, next.Ended, next.Reason = Failed, r.cfg.Clock().UTC(), reasonRestart
		if k.Restart == RestartResume {
			next.Reason = reasonAttempts(j.Attempts)
		}
		ev = r.event(k, j.ID, evFailed, map[string]any{"error": next.Reason})
	}
	_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   ev,
		Require: map[string][]byte{key: raw},
		Put:     map[string]any{key: next},
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		log.Warn("job changed while it was recovered; left as it is", "error", err)
		return nil
	case err != nil:
		return err
	}
	if next.State.Ended() {
		r.recordEnded(j.Kind, next.State)
	}
	if next.State == Queued {
		r.q.reserve(rf.org, true)
		r.enqueue(rf)
	}
	return nil
}
