package agent

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/nuxari/nuxari/internal/agentsig"
	"github.com/nuxari/nuxari/internal/secret"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const (
	// DefaultHeartbeat is the heartbeat interval until the server names
	// one.
	DefaultHeartbeat = 30 * time.Second
	// rpcTimeout bounds each unary RPC.
	rpcTimeout = 30 * time.Second
	// maxDetail is the longest task detail the gateway takes.
	maxDetail = 1000
	// maxItems is the most items the gateway takes in one submission.
	maxItems = 16
)

var (
	// errRenew ends a task stream so that it is reopened with a renewed
	// access token, without backoff.
	errRenew = errors.New("renewing the access token")
	// errStreamEnded: the server ended the task stream without an error.
	errStreamEnded = errors.New("the server closed the task stream")
)

// Run runs the agent until ctx ends, then returns nil. It needs an
// enrolment in the state directory (see Enroll) and fails at once only
// if there is none or the configuration or state is bad.
//
// Run dials out only: it opens the task stream (ReceiveTasks) with an
// access token it renews at 80% of its lifetime, heartbeats at the
// interval the server gives, and handles each task the stream delivers
// in turn, journalling it so that a task is not repeated after a
// restart. On any failure it waits (exponential backoff with full jitter,
// Config.BackoffBase to Config.BackoffMax) and reconnects.
//
// If the server refuses the agent itself (the token request fails with
// Unauthenticated, PermissionDenied or NotFound: the agent was
// decommissioned or its key is no longer accepted) Run logs an error and
// keeps trying at the longest backoff rather than exiting: a supervisor
// would only restart it, and an operator who re-activates the agent on
// the server needs nothing done on the host. Remove the host's state
// directory, or stop the service, to retire it for good.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withHTTPClient()
	id, key, err := loadIdentity(cfg.stateDir())
	if err != nil {
		return err
	}
	if id.Server != "" && id.Server != cfg.Server {
		cfg.logger().Warn("the configured server differs from the one the agent enrolled with", "server", cfg.Server, "enrolled_with", id.Server)
	}
	j, err := OpenJournal(cfg.stateDir())
	if err != nil {
		return fmt.Errorf("agent: opening the journal: %w", err)
	}
	r := &runner{
		cfg:     cfg,
		log:     cfg.logger().With("org_id", id.OrgID, "agent_id", id.AgentID),
		id:      id,
		key:     key,
		journal: j,
		tokens:  &tokens{cfg: cfg, id: id, key: key},
	}
	r.log.Info("agent starting", "server", cfg.Server, "key", Fingerprint(key.Public().(ed25519.PublicKey)))
	base, maxDelay := cfg.backoff()
	attempt := 0
	for {
		progress, err := r.session(ctx)
		if ctx.Err() != nil {
			r.log.Info("agent stopping")
			return nil
		}
		if errors.Is(err, errRenew) {
			continue
		}
		if progress {
			attempt = 0
		}
		var delay time.Duration
		var te *tokenError
		if errors.As(err, &te) && te.refused() {
			delay = maxDelay
			r.log.Error("the server refuses this agent (decommissioned, unknown, or its key is no longer accepted); retrying", "err", err, "retry_in", delay)
		} else {
			delay = jitter(base, maxDelay, attempt)
			attempt++
			r.log.Warn("connection to the server failed; reconnecting", "err", err, "retry_in", delay)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			r.log.Info("agent stopping")
			return nil
		case <-t.C:
		}
	}
}

// jitter returns a uniformly random delay in [0, min(maxDelay,
// base·2^attempt)].
func jitter(base, maxDelay time.Duration, attempt int) time.Duration {
	ceil := maxDelay
	if attempt < 30 && base<<attempt < maxDelay {
		ceil = base << attempt
	}
	return rand.N(ceil + 1)
}

type runner struct {
	cfg     Config
	log     *slog.Logger
	id      Identity
	key     ed25519.PrivateKey
	journal *Journal
	tokens  *tokens
}

// session opens the task stream and serves it until it fails, the server
// ends it, or the token is due for renewal (errRenew). progress reports
// whether the server sent anything.
func (r *runner) session(ctx context.Context) (progress bool, err error) {
	tok, renewAt, err := r.tokens.get(ctx)
	if err != nil {
		return false, err
	}
	sctx, cancel := context.WithTimeout(ctx, max(renewAt.Sub(r.cfg.now()), time.Second))
	defer cancel()
	stream, err := r.cfg.gateway(tok.Reveal(), true).ReceiveTasks(sctx, connect.NewRequest(&nuxariv1.ReceiveTasksRequest{}))
	if err != nil {
		r.unauthorized(tok, err)
		return false, fmt.Errorf("opening the task stream: %w", err)
	}
	defer stream.Close()

	intervals := make(chan time.Duration, 1)
	var wg sync.WaitGroup
	wg.Go(func() { r.heartbeats(sctx, intervals) })
	defer wg.Wait()
	defer cancel()

	for stream.Receive() {
		if !progress {
			r.log.Info("task stream open")
		}
		progress = true
		switch m := stream.Msg().Message.(type) {
		case *nuxariv1.ReceiveTasksResponse_HeartbeatInterval:
			if d := m.HeartbeatInterval.AsDuration(); d > 0 {
				select {
				case <-intervals:
				default:
				}
				intervals <- d
			}
		case *nuxariv1.ReceiveTasksResponse_Task:
			if err := r.handle(ctx, m.Task); err != nil {
				return progress, fmt.Errorf("task %s: %w", m.Task.GetTaskId(), err)
			}
		}
	}
	err = stream.Err()
	if sctx.Err() != nil && ctx.Err() == nil {
		return progress, errRenew
	}
	if err == nil {
		return progress, errStreamEnded
	}
	r.unauthorized(tok, err)
	return progress, fmt.Errorf("task stream: %w", err)
}

// unauthorized drops tok if err says the server no longer takes it.
func (r *runner) unauthorized(tok secret.String, err error) {
	if connect.CodeOf(err) == connect.CodeUnauthenticated {
		r.tokens.drop(tok)
	}
}

// heartbeats sends Heartbeat at the latest interval the server gave
// until ctx ends. Failures are logged; the task stream decides whether to
// reconnect.
func (r *runner) heartbeats(ctx context.Context, intervals <-chan time.Duration) {
	t := time.NewTicker(DefaultHeartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-intervals:
			t.Reset(d)
		case <-t.C:
			var resp *connect.Response[nuxariv1.HeartbeatResponse]
			err := r.call(ctx, func(ctx context.Context, gw nuxariv1connect.AgentGatewayServiceClient) (err error) {
				resp, err = gw.Heartbeat(ctx, connect.NewRequest(&nuxariv1.HeartbeatRequest{}))
				return err
			})
			if err != nil {
				if ctx.Err() == nil {
					r.log.Warn("heartbeat failed", "err", err)
				}
				continue
			}
			if d := resp.Msg.GetInterval().AsDuration(); d > 0 {
				t.Reset(d)
			}
		}
	}
}

// call runs one unary RPC with a current access token and a timeout,
// dropping the token if the server refuses it.
func (r *runner) call(ctx context.Context, fn func(context.Context, nuxariv1connect.AgentGatewayServiceClient) error) error {
	tok, _, err := r.tokens.get(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	err = fn(ctx, r.cfg.gateway(tok.Reveal(), false))
	r.unauthorized(tok, err)
	return err
}

// handle carries one task through the journal:
//
//	(none) or started → run the collector → SubmitEvidence → submitted
//	submitted         → CompleteTask → done
//	done              → CompleteTask again (the server ignores it)
//
// A task found "started" after a restart is run again: nothing of it was
// submitted. One found "submitted" or "done" is never run or submitted
// again. An error leaves the journal where it was; the server delivers
// the task again after the reconnect.
func (r *runner) handle(ctx context.Context, t *nuxariv1.Task) error {
	log := r.log.With("task_id", t.GetTaskId(), "collector", t.GetCollector(), "target", t.GetTarget())
	e, found, err := r.journal.Get(t.GetTaskId())
	switch {
	case errors.Is(err, ErrBadTaskID):
		log.Warn("ignoring a task with an unusable ID")
		return nil
	case errors.Is(err, ErrState):
		// Whether it ran is unknown: fail it rather than risk a repeat.
		log.Error("journal entry corrupt; failing the task without running it", "err", err)
		e = JournalEntry{TaskID: t.GetTaskId(), Collector: t.GetCollector(), Target: t.GetTarget(), State: TaskSubmitted,
			Detail: "the agent's journal entry for this task is corrupt; not run again"}
		return r.complete(ctx, log, e)
	case err != nil:
		return err
	}
	if found && (e.State == TaskSubmitted || e.State == TaskDone) {
		return r.complete(ctx, log, e)
	}
	if found {
		log.Info("resuming a task interrupted before its evidence was submitted")
	}
	e = JournalEntry{TaskID: t.GetTaskId(), Collector: t.GetCollector(), Target: t.GetTarget(), State: TaskStarted, Updated: r.cfg.now().UTC()}
	if err := r.journal.Put(e); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	log.Info("running task")
	items, cerr := r.cfg.Collectors.Collect(ctx, t.GetCollector(), t.GetTarget())
	if ctx.Err() != nil {
		return ctx.Err()
	}
	switch {
	case cerr != nil:
		e.OK, e.Detail = false, failureDetail(cerr)
		if errors.Is(cerr, ErrNotAllowed) {
			log.Warn("task refused", "err", cerr)
		} else {
			log.Warn("collector failed", "err", cerr)
		}
	case len(items) > maxItems:
		e.OK, e.Detail = false, fmt.Sprintf("the collector produced %d items, more than the %d the gateway takes", len(items), maxItems)
	default:
		hashes, err := r.submit(ctx, t.GetTaskId(), items)
		if connect.CodeOf(err) == connect.CodeFailedPrecondition {
			// The task is already closed on the server.
			log.Warn("the server no longer takes evidence for this task", "err", err)
			e.State, e.OK, e.Detail, e.Updated = TaskDone, false, "closed on the server before its evidence was submitted", r.cfg.now().UTC()
			return r.journal.Put(e)
		}
		if err != nil {
			return fmt.Errorf("submitting evidence: %w", err)
		}
		e.OK, e.Evidence = true, hashes
		e.Detail = fmt.Sprintf("%d evidence item(s) submitted", len(items))
		if s := scrubbedKinds(items); s != "" {
			e.Detail += "; scrubbed: " + s
		}
	}
	e.State, e.Detail, e.Updated = TaskSubmitted, cleanDetail(e.Detail), r.cfg.now().UTC()
	if err := r.journal.Put(e); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	return r.complete(ctx, log, e)
}

// complete sends CompleteTask with the journalled result and records the
// task done.
func (r *runner) complete(ctx context.Context, log *slog.Logger, e JournalEntry) error {
	err := r.call(ctx, func(ctx context.Context, gw nuxariv1connect.AgentGatewayServiceClient) error {
		_, err := gw.CompleteTask(ctx, connect.NewRequest(&nuxariv1.CompleteTaskRequest{TaskId: e.TaskID, Ok: e.OK, Detail: e.Detail}))
		return err
	})
	if connect.CodeOf(err) == connect.CodeNotFound {
		log.Warn("the server does not know this task; recording it done", "err", err)
		err = nil
	}
	if err != nil {
		return fmt.Errorf("completing: %w", err)
	}
	if e.State != TaskDone {
		e.State, e.Updated = TaskDone, r.cfg.now().UTC()
		if err := r.journal.Put(e); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		log.Info("task completed", "ok", e.OK)
	}
	return nil
}

// submit hashes and signs items and submits them; it returns their
// hashes (hex).
func (r *runner) submit(ctx context.Context, taskID string, items []Item) ([]string, error) {
	req := &nuxariv1.SubmitEvidenceRequest{TaskId: taskID}
	var hashes []string
	for _, it := range items {
		ev := SignItem(r.key, r.id.OrgID, r.id.AgentID, taskID, it, r.cfg.now())
		req.Items = append(req.Items, ev)
		hashes = append(hashes, hex.EncodeToString(ev.Sha256))
	}
	err := r.call(ctx, func(ctx context.Context, gw nuxariv1connect.AgentGatewayServiceClient) error {
		_, err := gw.SubmitEvidence(ctx, connect.NewRequest(req))
		return err
	})
	if err != nil {
		return nil, err
	}
	return hashes, nil
}

// SignItem returns the evidence item of it: its content's SHA-256 and
// the Ed25519 signature by key over agentsig.Evidence, collected at the
// given time (sent with nanoseconds, in UTC, as signed).
func SignItem(key ed25519.PrivateKey, org, agentID, taskID string, it Item, collected time.Time) *nuxariv1.EvidenceItem {
	collected = collected.UTC()
	sum := sha256.Sum256(it.Content)
	sig := ed25519.Sign(key, agentsig.Evidence(org, agentID, taskID, it.Collector, it.Target, collected, sum[:], it.Scrubbed))
	return &nuxariv1.EvidenceItem{
		Collector:     it.Collector,
		Target:        it.Target,
		Content:       it.Content,
		Sha256:        sum[:],
		CollectedTime: timestamppb.New(collected),
		Scrubbed:      it.Scrubbed,
		Signature:     sig,
	}
}

func scrubbedKinds(items []Item) string {
	var all []string
	for _, it := range items {
		all = mergeKinds(all, it.Scrubbed)
	}
	return strings.Join(all, ",")
}

// failureDetail is what the server's log records of a failed collection:
// the agent's own words for a refusal or a timeout, a fixed reason for
// anything else. The error itself (an OS or library message that may name
// paths on this host) stays in the agent's own log.
func failureDetail(err error) string {
	switch {
	case errors.Is(err, ErrNotAllowed), errors.Is(err, ErrTimeout):
		return err.Error()
	case errors.Is(err, fs.ErrNotExist):
		return "the collector's target does not exist on this host"
	case errors.Is(err, fs.ErrPermission):
		return "the agent may not read the collector's target on this host"
	}
	return "the collector failed; the agent's log on this host has the detail"
}

// cleanDetail makes s acceptable as a task detail: valid UTF-8, no
// control characters, at most maxDetail characters.
func cleanDetail(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > maxDetail {
		s = string([]rune(s)[:maxDetail-1]) + "…"
	}
	return s
}
