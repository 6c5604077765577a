package jobs_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nuxari/nuxari/governance/jobs"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/internal/fakeclock"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/leaf"
)

// env is one ledger directory, reopenable to simulate a restart, and the
// jobs' handler, driven by each job's args.
type env struct {
	t     *testing.T
	dir   string
	skey  string
	l     *ledger.Ledger
	st    *store.Store
	clock *fakeclock.Clock
	logs  *syncBuffer

	started chan string   // "org/id" of each run as it starts
	release chan struct{} // each send lets one blocked run end

	mu    sync.Mutex
	runs  map[string]int           // runs per "org/id"
	gates map[string]chan struct{} // per "org/id#run", for mode "gated"
}

// gate returns the channel that run n of job name waits on in mode
// "gated"; closing it lets that run end.
func (e *env) gate(name string, n int) chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	k := fmt.Sprintf("%s#%d", name, n)
	if e.gates[k] == nil {
		e.gates[k] = make(chan struct{})
	}
	return e.gates[k]
}

// args drive the test handler.
type args struct {
	// Mode: "" succeeds at once; "block" waits for a release or its
	// context; "block-once" blocks only its first run; "panic"; "fail"
	// (a plain error carrying a secret); "failure" (a stated reason);
	// "progress" reports 3 of 10, then blocks; "gated" waits for its own
	// run's gate or its context.
	Mode string `json:"mode,omitempty"`
}

const secret = "postgres://app:hunter2@db.internal"

func newEnv(t *testing.T) *env {
	t.Helper()
	skey, _, err := ledger.GenerateSignerKey(rand.Reader, "test")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{
		t: t, dir: t.TempDir(), skey: skey,
		clock:   fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)),
		logs:    &syncBuffer{},
		started: make(chan string, 4096), release: make(chan struct{}),
		runs: map[string]int{}, gates: map[string]chan struct{}{},
	}
	e.open()
	t.Cleanup(func() { e.l.Close() })
	return e
}

func (e *env) open() {
	e.t.Helper()
	s, vkey, err := ledger.ParseSignerKey(e.skey)
	if err != nil {
		e.t.Fatal(err)
	}
	l, err := ledger.Open(ledger.Config{Dir: e.dir, LogName: "test", Signer: s, VerifierKey: vkey})
	if err != nil {
		e.t.Fatal(err)
	}
	e.l, e.st = l, store.New(l)
}

// restart closes the ledger and opens it again.
func (e *env) restart() {
	e.t.Helper()
	if err := e.l.Close(); err != nil {
		e.t.Fatal(err)
	}
	e.open()
}

// runner returns a runner over the env's store with the test kinds
// registered: "work" (RestartFail), "resume" (RestartResume) and
// "resume1" (RestartResume, one run at most).
func (e *env) runner(cfg jobs.Config) *jobs.Runner {
	e.t.Helper()
	cfg.Clock = e.clock.Now
	cfg.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := jobs.New(e.st, cfg)
	e.t.Cleanup(r.Close)
	for _, k := range []jobs.Kind{
		{Name: "work", Run: e.handle, Subject: "work:"},
		{Name: "resume", Run: e.handle, Restart: jobs.RestartResume},
		{Name: "resume1", Run: e.handle, Restart: jobs.RestartResume, MaxAttempts: 1},
	} {
		if err := r.Register(k); err != nil {
			e.t.Fatal(err)
		}
	}
	return r
}

func (e *env) handle(ctx context.Context, o store.Org, j *jobs.Job) (jobs.Result, error) {
	var a args
	if err := json.Unmarshal(j.Args, &a); err != nil {
		return jobs.Result{}, err
	}
	name := o.ID() + "/" + j.ID
	e.mu.Lock()
	e.runs[name]++
	n := e.runs[name]
	e.mu.Unlock()
	e.started <- name
	block := func() error {
		select {
		case <-e.release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	switch a.Mode {
	case "block":
		if err := block(); err != nil {
			return jobs.Result{}, err
		}
	case "block-once":
		if n == 1 {
			if err := block(); err != nil {
				return jobs.Result{}, err
			}
		}
	case "progress":
		j.Report(3, 10)
		if err := block(); err != nil {
			return jobs.Result{}, err
		}
	case "gated":
		select {
		case <-e.gate(name, n):
		case <-ctx.Done():
			return jobs.Result{}, ctx.Err()
		}
	case "panic":
		panic("handler bug")
	case "fail":
		return jobs.Result{}, fmt.Errorf("connect %s: refused", secret)
	case "failure":
		return jobs.Result{}, jobs.Failure("the scope matched no events", fmt.Errorf("scan %s", secret))
	}
	return jobs.Result{Record: map[string]any{"run": n}, Data: map[string]any{"run": n}}, nil
}

func (e *env) runsOf(org, id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs[org+"/"+id]
}

// submit submits job id of kind to org with the caller's event.
func (e *env) submit(r *jobs.Runner, org, kind, id, mode string) (jobs.Job, error) {
	return r.Submit(context.Background(), orgOf(e.t, e.st, org), jobs.Request{
		Kind: kind, ID: id, Args: args{Mode: mode},
		Change: store.Change{Event: testEvent{Type: "test.requested", Actor: "alice", Subject: "request:" + id}},
	})
}

func (e *env) mustSubmit(r *jobs.Runner, org, kind, id, mode string) {
	e.t.Helper()
	if _, err := e.submit(r, org, kind, id, mode); err != nil {
		e.t.Fatalf("submit %s/%s: %v", org, id, err)
	}
}

// waitStarted waits for the next run to start and returns its "org/id".
func (e *env) waitStarted() string {
	e.t.Helper()
	select {
	case s := <-e.started:
		return s
	case <-time.After(30 * time.Second):
		e.t.Fatal("no job started")
		return ""
	}
}

// releaseOne lets one blocked run end.
func (e *env) releaseOne() {
	e.t.Helper()
	select {
	case e.release <- struct{}{}:
	case <-time.After(30 * time.Second):
		e.t.Fatal("no blocked job to release")
	}
}

// waitState waits for the job to be in state and returns it.
func (e *env) waitState(r *jobs.Runner, org, kind, id string, state jobs.State) jobs.Job {
	e.t.Helper()
	var j jobs.Job
	waitFor(e.t, fmt.Sprintf("%s/%s %s", org, id, state), func() bool {
		var err error
		j, err = r.Get(context.Background(), orgOf(e.t, e.st, org), kind, id)
		return err == nil && j.State == state
	})
	return j
}

type testEvent struct {
	Type    string         `json:"type"`
	Actor   string         `json:"actor"`
	Subject string         `json:"subject,omitempty"`
	Data    map[string]any `json:"data,omitempty"`
}

// events returns the org's log, decoded.
func (e *env) events(org string) []testEvent {
	e.t.Helper()
	n, err := e.l.Size(org)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []testEvent
	if err := e.l.Leaves(context.Background(), org, 0, n, func(lf ledger.Leaf) error {
		l, err := leaf.Parse(lf.Bytes)
		if err != nil {
			return err
		}
		var ev testEvent
		if err := json.Unmarshal(l.Event, &ev); err != nil {
			return err
		}
		out = append(out, ev)
		return nil
	}); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// typesOf returns the types of the events about subject, in order.
func (e *env) typesOf(org, subject string) []string {
	e.t.Helper()
	var out []string
	for _, ev := range e.events(org) {
		if ev.Subject == subject {
			out = append(out, ev.Type)
		}
	}
	return out
}

// waitEvents waits until the log holds at least len(want) events about
// subject (a state write may be read a moment before the log's size
// covers its event), then reports whether their types are want.
func (e *env) waitEvents(org, subject string, want []string) (got []string, ok bool) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got = e.typesOf(org, subject)
		if len(got) >= len(want) || time.Now().After(deadline) {
			return got, equal(got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

// TestJobRunsWithItsEvents: a job is recorded queued with the caller's
// event, then started and completed with the kind's events, its result
// in its record, its times from the clock.
func TestJobRunsWithItsEvents(t *testing.T) {
	e := newEnv(t)
	r := e.runner(jobs.Config{})
	ctx := context.Background()
	created := e.clock.Now()
	j, err := e.submit(r, "a", "work", "j1", "block")
	if err != nil || j.State != jobs.Queued || !j.Created.Equal(created) {
		t.Fatalf("submit: %+v %v", j, err)
	}
	e.waitStarted()
	e.clock.Advance(time.Minute)
	e.releaseOne()
	j = e.waitState(r, "a", "work", "j1", jobs.Succeeded)
	if j.Attempts != 1 || string(j.Result) != `{"run":1}` || !j.Ended.Equal(created.Add(time.Minute)) || !j.Started.Equal(created) {
		t.Fatalf("record: %+v", j)
	}
	if got, ok := e.waitEvents("a", "work:j1", []string{"work.started", "work.completed"}); !ok {
		t.Fatalf("events %v", got)
	}
	evs := e.events("a")
	if len(evs) != 3 || evs[0].Type != "test.requested" {
		t.Fatalf("events %+v", evs)
	}
	if evs[2].Subject != "work:j1" || evs[2].Actor != "system" || evs[2].Data["run"] != 1.0 {
		t.Fatalf("completed event: %+v", evs[2])
	}
	// The same ID again is a conflict, and writes nothing.
	if _, err := e.submit(r, "a", "work", "j1", ""); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second submit of j1: %v", err)
	}
	if n, _ := e.l.Size("a"); n != 3 {
		t.Fatalf("log size %d after a refused submit, want 3", n)
	}
	// Another org does not see it.
	if _, err := r.Get(ctx, orgOf(t, e.st, "b"), "work", "j1"); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("org b reads org a's job: %v", err)
	}
	if _, err := r.Submit(ctx, orgOf(t, e.st, "a"), jobs.Request{Kind: "nope", ID: "x", Change: store.Change{Event: testEvent{Type: "t"}}}); !errors.Is(err, jobs.ErrUnknownKind) {
		t.Fatalf("unknown kind: %v", err)
	}
}

// TestPerOrgCap: an org's job beyond its cap is refused with ErrBusy
// before anything is written; another org is not affected; a place frees
// up when a job ends.
func TestPerOrgCap(t *testing.T) {
	e := newEnv(t)
	r := e.runner(jobs.Config{Workers: 1, PerOrg: 2})
	e.mustSubmit(r, "a", "work", "a1", "block")
	e.mustSubmit(r, "a", "work", "a2", "block")
	e.waitStarted()
	size, _ := e.l.Size("a")
	if _, err := e.submit(r, "a", "work", "a3", "block"); !errors.Is(err, jobs.ErrBusy) {
		t.Fatalf("third job of org a over its cap of 2: %v", err)
	}
	if n, _ := e.l.Size("a"); n != size {
		t.Fatalf("a refused job wrote to the log: size %d, want %d", n, size)
	}
	if _, err := r.Get(context.Background(), orgOf(t, e.st, "a"), "work", "a3"); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("a refused job was recorded: %v", err)
	}
	e.mustSubmit(r, "b", "work", "b1", "")
	e.releaseOne() // a1 ends
	// The place frees up as the worker leaves the job, just after its end
	// is recorded.
	waitFor(t, "a place of org a", func() bool {
		_, err := e.submit(r, "a", "work", "a3", "")
		return err == nil
	})
}

// TestFairAcrossOrgs: org b has 1,000 jobs queued; org a's single job,
// submitted after them, starts as soon as one of b's running jobs ends.
func TestFairAcrossOrgs(t *testing.T) {
	e := newEnv(t)
	r := e.runner(jobs.Config{Workers: 2, PerOrg: 1000})
	for i := range 1000 {
		e.mustSubmit(r, "b", "work", fmt.Sprintf("b%d", i), "block")
	}
	first := []string{e.waitStarted(), e.waitStarted()}
	if !equal(first, []string{"b/b0", "b/b1"}) && !equal(first, []string{"b/b1", "b/b0"}) {
		t.Fatalf("first runs %v, want b0 and b1", first)
	}
	if _, err := e.submit(r, "b", "work", "b1000", "block"); !errors.Is(err, jobs.ErrBusy) {
		t.Fatalf("org b's job over its cap: %v", err)
	}
	e.mustSubmit(r, "a", "work", "a0", "block")
	e.releaseOne() // one of b's running jobs ends
	if next := e.waitStarted(); next != "a/a0" {
		t.Fatalf("next run %s, want a/a0 ahead of org b's 998 queued jobs", next)
	}
	e.releaseOne()
	if next := e.waitStarted(); next != "b/b2" {
		t.Fatalf("next run %s, want b/b2", next)
	}
}

// TestFailures: a panic, a plain error and a stated failure each end
// their job failed with a fixed reason and an event; no error's text
// reaches the record or the log of events, the server log has it with
// the org and job ID; the single worker goes on to the next job.
func TestFailures(t *testing.T) {
	e := newEnv(t)
	r := e.runner(jobs.Config{Workers: 1})
	ctx := context.Background()
	for _, tc := range []struct{ id, mode, reason string }{
		{"p1", "panic", "the job failed unexpectedly; the server log has details under job ID p1"},
		{"f1", "fail", "the job failed; the server log has details under job ID f1"},
		{"s1", "failure", "the scope matched no events"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			e.mustSubmit(r, "a", "work", tc.id, tc.mode)
			j := e.waitState(r, "a", "work", tc.id, jobs.Failed)
			if j.Reason != tc.reason {
				t.Fatalf("reason %q, want %q", j.Reason, tc.reason)
			}
			if got, ok := e.waitEvents("a", "work:"+tc.id, []string{"work.started", "work.failed"}); !ok {
				t.Fatalf("events %v", got)
			}
			evs := e.events("a")
			if last := evs[len(evs)-1]; last.Data["error"] != tc.reason {
				t.Fatalf("failed event: %+v", last)
			}
		})
	}
	e.mustSubmit(r, "a", "work", "ok", "")
	e.waitState(r, "a", "work", "ok", jobs.Succeeded)
	for _, ev := range e.events("a") {
		if b, _ := json.Marshal(ev); bytes.Contains(b, []byte("hunter2")) || bytes.Contains(b, []byte("handler bug")) {
			t.Fatalf("an error's text in an event: %s", b)
		}
	}
	raw, err := orgOf(t, e.st, "a").Get(ctx, jobs.Key("work", "f1"))
	if err != nil || bytes.Contains(raw, []byte("hunter2")) {
		t.Fatalf("record of f1: %s %v", raw, err)
	}
	logs := e.logs.String()
	for _, want := range []string{"job=f1", "org=a", "hunter2", "job=p1", "handler bug"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("server log lacks %q:\n%s", want, logs)
		}
	}
}

// TestCancel: a queued job ends canceled at once, never runs and gives
// back its place; a running one is stopped and recorded canceled; an
// ended one cannot be canceled.
func TestCancel(t *testing.T) {
	e := newEnv(t)
	r := e.runner(jobs.Config{Workers: 1, PerOrg: 2})
	ctx := context.Background()
	o := orgOf(t, e.st, "a")
	cancelEvent := func(id string) store.Change {
		return store.Change{Event: testEvent{Type: "test.cancel", Actor: "alice", Subject: "work:" + id}}
	}
	e.mustSubmit(r, "a", "work", "run", "block")
	e.mustSubmit(r, "a", "work", "queued", "")
	if s := e.waitStarted(); s != "a/run" {
		t.Fatalf("started %s", s)
	}
	if st := r.Stats()["work"]; st.Running != 1 || st.Queued != 1 || len(st.Ended) != 0 {
		t.Fatalf("stats with one running, one queued: %+v", st)
	}

	j, err := r.Cancel(ctx, o, "work", "queued", cancelEvent("queued"))
	if err != nil || j.State != jobs.Canceled {
		t.Fatalf("cancel queued: %+v %v", j, err)
	}
	if got, ok := e.waitEvents("a", "work:queued", []string{"test.cancel", "work.canceled"}); !ok {
		t.Fatalf("events of the canceled queued job: %v", got)
	}
	// Its place is free again: a job submitted now fits under the cap.
	e.mustSubmit(r, "a", "work", "after", "")

	j, err = r.Cancel(ctx, o, "work", "run", cancelEvent("run"))
	if err != nil || j.State != jobs.Canceled || !j.CancelRequested {
		t.Fatalf("cancel running: %+v %v", j, err)
	}
	if got, ok := e.waitEvents("a", "work:run", []string{"work.started", "test.cancel", "work.canceled"}); !ok {
		t.Fatalf("events of the canceled running job: %v", got)
	}
	// The worker goes on, in order: "after" runs, "queued" never did.
	e.waitState(r, "a", "work", "after", jobs.Succeeded)
	if n := e.runsOf("a", "queued"); n != 0 {
		t.Fatalf("the canceled queued job ran %d times", n)
	}
	if _, err := r.Cancel(ctx, o, "work", "after", cancelEvent("after")); !errors.Is(err, jobs.ErrEnded) {
		t.Fatalf("cancel of an ended job: %v", err)
	}
	if _, err := r.Cancel(ctx, o, "work", "none", cancelEvent("none")); !errors.Is(err, jobs.ErrNotFound) {
		t.Fatalf("cancel of a missing job: %v", err)
	}
	// A job's record ends before its worker lets go of it: wait for that.
	waitFor(t, "the stats of two canceled jobs and one succeeded, none live", func() bool {
		st := r.Stats()["work"]
		return st.Running == 0 && st.Queued == 0 && st.Ended[jobs.Canceled] == 2 && st.Ended[jobs.Succeeded] == 1 && st.Ended[jobs.Failed] == 0
	})
}

// TestProgress: progress a running job reports is readable while it
// runs, and kept in its record at the end.
func TestProgress(t *testing.T) {
	e := newEnv(t)
	r := e.runner(jobs.Config{})
	e.mustSubmit(r, "a", "work", "p", "progress")
	waitFor(t, "progress 3/10", func() bool {
		j, err := r.Get(context.Background(), orgOf(t, e.st, "a"), "work", "p")
		return err == nil && j.State == jobs.Running && j.Done == 3 && j.Total == 10
	})
	e.releaseOne()
	if j := e.waitState(r, "a", "work", "p", jobs.Succeeded); j.Done != 3 || j.Total != 10 {
		t.Fatalf("final progress %d/%d", j.Done, j.Total)
	}
}

// TestRestart: a runner stops with jobs running and queued; after the
// restart, Recover resumes the resumable running job from the start,
// fails the others with their event, and runs every queued job exactly
// once.
func TestRestart(t *testing.T) {
	e := newEnv(t)
	r1 := e.runner(jobs.Config{Workers: 3, PerOrg: 8})
	e.mustSubmit(r1, "a", "resume", "r", "block-once")
	e.mustSubmit(r1, "a", "work", "w", "block")
	e.mustSubmit(r1, "a", "resume1", "x", "block-once")
	for range 3 {
		e.waitStarted()
	}
	e.mustSubmit(r1, "a", "work", "q1", "")
	e.mustSubmit(r1, "a", "resume", "q2", "")
	r1.Close()
	for _, id := range []string{"q1", "q2"} {
		if n := e.runsOf("a", id); n != 0 {
			t.Fatalf("%s ran %d times before the restart", id, n)
		}
	}

	e.restart()
	r2 := e.runner(jobs.Config{Workers: 3, PerOrg: 1})
	if err := r2.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if j := e.waitState(r2, "a", "resume", "r", jobs.Succeeded); j.Attempts != 2 || string(j.Result) != `{"run":2}` {
		t.Fatalf("resumed job: %+v", j)
	}
	if j := e.waitState(r2, "a", "work", "w", jobs.Failed); j.Reason != "interrupted by a server restart" {
		t.Fatalf("interrupted job: %+v", j)
	}
	if j := e.waitState(r2, "a", "resume1", "x", jobs.Failed); j.Reason != "interrupted by server restarts 1 times, the most its kind allows" {
		t.Fatalf("job out of runs: %+v", j)
	}
	e.waitState(r2, "a", "work", "q1", jobs.Succeeded)
	e.waitState(r2, "a", "resume", "q2", jobs.Succeeded)
	for id, want := range map[string]int{"r": 2, "w": 1, "x": 1, "q1": 1, "q2": 1} {
		if n := e.runsOf("a", id); n != want {
			t.Errorf("%s ran %d times, want %d", id, n, want)
		}
	}
	for subject, want := range map[string][]string{
		"job:r":   {"resume.started", "resume.requeued", "resume.started", "resume.completed"},
		"work:w":  {"work.started", "work.failed"},
		"job:x":   {"resume1.started", "resume1.failed"},
		"work:q1": {"work.started", "work.completed"},
		"job:q2":  {"resume.started", "resume.completed"},
	} {
		if got, ok := e.waitEvents("a", subject, want); !ok {
			t.Errorf("events of %s: %v, want %v", subject, got, want)
		}
	}
}

// TestTwoRunnersStartOnce: two runners holding the same queued job
// cannot both start it: the one that read it first but commits second is
// refused by the precondition on the record.
func TestTwoRunnersStartOnce(t *testing.T) {
	e := newEnv(t)
	atJ, goOn := make(chan struct{}), make(chan struct{})
	r1 := e.runner(jobs.Config{Workers: 1, BeforeStart: func(org, kind, id string) {
		if id == "j" {
			close(atJ)
			<-goOn
		}
	}})
	e.mustSubmit(r1, "a", "work", "blocker", "block")
	e.waitStarted()
	e.mustSubmit(r1, "a", "work", "j", "")
	e.releaseOne() // r1's worker takes j, reads it queued, and waits
	<-atJ
	r2 := e.runner(jobs.Config{Workers: 1})
	if err := r2.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s := e.waitStarted(); s != "a/j" {
		t.Fatalf("started %s", s)
	}
	e.waitState(r2, "a", "work", "j", jobs.Succeeded)
	close(goOn) // r1 now tries to start j from its stale read
	e.mustSubmit(r1, "a", "work", "next", "")
	e.waitState(r1, "a", "work", "next", jobs.Succeeded) // r1 is past j
	if n := e.runsOf("a", "j"); n != 1 {
		t.Fatalf("j ran %d times", n)
	}
	if got, ok := e.waitEvents("a", "work:j", []string{"work.started", "work.completed"}); !ok {
		t.Fatalf("events of j: %v", got)
	}
}

// TestOldRunnerCannotEnd: a run whose job a newer runner recovered and
// started again cannot record its end when it returns, while the new run
// is still going; the new run's end is recorded.
func TestOldRunnerCannotEnd(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	r1 := e.runner(jobs.Config{Workers: 1})
	e.mustSubmit(r1, "a", "resume", "j", "gated")
	e.waitStarted()
	r2 := e.runner(jobs.Config{Workers: 1})
	if err := r2.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	e.waitStarted() // the second run, in r2
	close(e.gate("a/j", 1))
	waitFor(t, "the old run's end refused", func() bool {
		return strings.Contains(e.logs.String(), "its end is not recorded")
	})
	j, err := r2.Get(ctx, orgOf(t, e.st, "a"), "resume", "j")
	if err != nil || j.State != jobs.Running || j.Attempts != 2 {
		t.Fatalf("record after the old run returned: %+v %v", j, err)
	}
	close(e.gate("a/j", 2))
	if j := e.waitState(r2, "a", "resume", "j", jobs.Succeeded); string(j.Result) != `{"run":2}` {
		t.Fatalf("record: %+v", j)
	}
	if got, ok := e.waitEvents("a", "job:j", []string{"resume.started", "resume.requeued", "resume.started", "resume.completed"}); !ok {
		t.Fatalf("events of j: %v", got)
	}
}

// orgOf returns the store handle of org id.
func orgOf(t testing.TB, st *store.Store, id string) store.Org {
	t.Helper()
	o, err := st.Org(id)
	if err != nil {
		t.Fatal(err)
	}
	return o
}
