// Package logapi is the log API feature of the governance domain: an
// integration's events appended to the org's log, and the log read back:
// events by filter and page, checkpoints, inclusion and consistency
// proofs. It owns no state keys: it reads and appends the org's log
// through the org's handle.
package logapi

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	ec "github.com/nuxari/nuxari/internal/eventcatalog"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/jcs"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/leaf"
)

// Limits of the log API.
const (
	// MaxAppendEvents is the most events one AppendEvents call carries.
	MaxAppendEvents = 100
	// MaxCustomEventSize bounds one custom event's canonical data.
	MaxCustomEventSize = 64 << 10
	// MaxTypeFilters bounds ListEvents' type filter.
	MaxTypeFilters = 32
	// listScanLimit bounds the leaves one ListEvents page reads; a page
	// may come back short, with a token to continue.
	listScanLimit = 10_000
)

// Config configures the feature; New fills in defaults.
type Config struct {
	// ListEventsMaxBytes bounds a ListEvents page by the sum of its
	// leaves' sizes (default DefaultListEventsMaxBytes); a page holds at
	// least one event.
	ListEventsMaxBytes int
	// OrgConcurrentReads and OrgConcurrentAppends bound how many
	// ListEvents and AppendEvents calls of one org run at once (defaults
	// DefaultOrgConcurrentReads and DefaultOrgConcurrentAppends); more of
	// that org's calls wait their turn.
	OrgConcurrentReads, OrgConcurrentAppends int
}

// Service is the log API feature.
type Service struct {
	env     *core.Env
	cfg     Config
	reads   *orgLimiter
	appends *orgLimiter
	// scanLimit is listScanLimit; tests lower it.
	scanLimit int
}

// New returns the feature over env.
func New(env *core.Env, cfg Config) *Service {
	if cfg.ListEventsMaxBytes <= 0 {
		cfg.ListEventsMaxBytes = DefaultListEventsMaxBytes
	}
	if cfg.OrgConcurrentReads <= 0 {
		cfg.OrgConcurrentReads = DefaultOrgConcurrentReads
	}
	if cfg.OrgConcurrentAppends <= 0 {
		cfg.OrgConcurrentAppends = DefaultOrgConcurrentAppends
	}
	return &Service{
		env: env, cfg: cfg, reads: newOrgLimiter(cfg.OrgConcurrentReads), appends: newOrgLimiter(cfg.OrgConcurrentAppends),
		scanLimit: listScanLimit,
	}
}

// Checkpoint is a signed tree head; see ledger.Checkpoint.
type Checkpoint = ledger.Checkpoint

// Event is one leaf of an org's log.
type Event struct {
	Index    uint64
	Leaf     []byte // nil once purged
	LeafHash []byte
	Time     time.Time
	Type     string
	Actor    string
	Purged   bool
}

// Checkpoint returns the org's latest checkpoint (size 0) or the one
// issued at exactly size.
func (s *Service) Checkpoint(ctx context.Context, p *core.Principal, size uint64) (Checkpoint, error) {
	if size == 0 {
		cp, err := s.env.OrgOf(p).Log().Checkpoint(ctx)
		return cp, core.LedgerErr(err)
	}
	cp, err := s.env.OrgOf(p).Log().CheckpointAt(ctx, size)
	return cp, core.LedgerErr(err)
}

// InclusionProof proves leaf index in the tree of size (0: the latest
// checkpoint's), and returns the checkpoint of that size and the leaf
// hash.
func (s *Service) InclusionProof(ctx context.Context, p *core.Principal, index, size uint64) ([][]byte, Checkpoint, []byte, error) {
	cp, err := s.Checkpoint(ctx, p, size)
	if err != nil {
		return nil, Checkpoint{}, nil, err
	}
	if index >= cp.Size {
		return nil, Checkpoint{}, nil, errs.New(errs.NotFound, "leaf %d is not in the tree of size %d", index, cp.Size)
	}
	proof, err := s.env.OrgOf(p).Log().InclusionProof(ctx, index, cp.Size)
	if err != nil {
		return nil, Checkpoint{}, nil, core.LedgerErr(err)
	}
	lf, err := s.env.OrgOf(p).Log().Leaf(ctx, index)
	if err != nil && !errors.Is(err, ledger.ErrPurged) {
		return nil, Checkpoint{}, nil, core.LedgerErr(err)
	}
	return proof, cp, lf.Hash, nil
}

// ConsistencyProof proves that the tree of size2 (0: the latest
// checkpoint's) extends the tree of size1, and returns both checkpoints
// (the first is zero when size1 is 0).
func (s *Service) ConsistencyProof(ctx context.Context, p *core.Principal, size1, size2 uint64) ([][]byte, Checkpoint, Checkpoint, error) {
	cp2, err := s.Checkpoint(ctx, p, size2)
	if err != nil {
		return nil, Checkpoint{}, Checkpoint{}, err
	}
	if size1 > cp2.Size {
		return nil, Checkpoint{}, Checkpoint{}, core.Invalid("size1 %d is larger than size2 %d", size1, cp2.Size)
	}
	var cp1 Checkpoint
	if size1 > 0 {
		if cp1, err = s.Checkpoint(ctx, p, size1); err != nil {
			return nil, Checkpoint{}, Checkpoint{}, err
		}
	}
	proof, err := s.env.OrgOf(p).Log().ConsistencyProof(ctx, size1, cp2.Size)
	return proof, cp1, cp2, core.LedgerErr(err)
}

// GetEvent returns the event at index.
func (s *Service) GetEvent(ctx context.Context, p *core.Principal, index uint64) (Event, error) {
	lf, err := s.env.OrgOf(p).Log().Leaf(ctx, index)
	if err != nil && !errors.Is(err, ledger.ErrPurged) {
		return Event{}, core.LedgerErr(err)
	}
	return DecodeEvent(lf)
}

// DecodeEvent returns the event of a leaf.
func DecodeEvent(lf ledger.Leaf) (Event, error) {
	e := Event{Index: lf.Index, LeafHash: lf.Hash, Purged: lf.Bytes == nil}
	if e.Purged {
		return e, nil
	}
	l, err := leaf.Parse(lf.Bytes)
	if err != nil {
		return Event{}, fmt.Errorf("leaf %d: %w", lf.Index, err)
	}
	var body struct {
		Type  string `json:"type"`
		Actor string `json:"actor"`
	}
	if err := json.Unmarshal(l.Event, &body); err != nil {
		return Event{}, fmt.Errorf("leaf %d: %w", lf.Index, err)
	}
	e.Leaf, e.Time, e.Type, e.Actor = lf.Bytes, l.Time, body.Type, body.Actor
	return e, nil
}

// EventFilter selects events; zero fields select everything.
type EventFilter struct {
	Types      []string
	Actor      string
	Start, End time.Time // [Start, End)
}

func (f *EventFilter) validate() error {
	if len(f.Types) > MaxTypeFilters {
		return core.Invalid("at most %d types", MaxTypeFilters)
	}
	for _, t := range f.Types {
		if err := core.ValidateText("types", t, 128, true); err != nil {
			return err
		}
		if err := core.ValidateKnownType("types", t); err != nil {
			return err
		}
	}
	if err := core.ValidateText("actor", f.Actor, 128, false); err != nil {
		return err
	}
	if !f.Start.IsZero() && !f.End.IsZero() && !f.Start.Before(f.End) {
		return core.Invalid("start_time must be before end_time")
	}
	return nil
}

// digest binds a page token to the filter it was issued for.
func (f *EventFilter) digest() []byte {
	types := slices.Clone(f.Types)
	sort.Strings(types)
	b, _ := json.Marshal([]any{types, f.Actor, f.Start.UnixNano(), f.End.UnixNano()})
	h := sha256.Sum256(b)
	return h[:8]
}

func (f *EventFilter) match(e *Event) bool {
	if e.Purged {
		return len(f.Types) == 0 && f.Actor == "" && f.Start.IsZero()
	}
	return (len(f.Types) == 0 || slices.Contains(f.Types, e.Type)) && (f.Actor == "" || f.Actor == e.Actor)
}

// ListEvents lists the org's events matching f in log order, a page at a
// time. Since event time never decreases within an org, the time range is
// found by binary search, not by scanning. A page reads at most
// listScanLimit leaves and holds at most Config.ListEventsMaxBytes of
// leaves (and always at least one event, when one matches), so it may
// hold fewer than size events even when more follow: continue while
// next_page_token is set. At most Config.OrgConcurrentReads calls of one
// org run at once; the org's further calls wait their turn. So one org's
// reads hold at most OrgConcurrentReads pages in memory, whatever they
// ask for, and never take another org's turn.
func (s *Service) ListEvents(ctx context.Context, p *core.Principal, f EventFilter, size int32, pageToken string) ([]Event, string, error) {
	n, err := core.PageSize(size)
	if err != nil {
		return nil, "", err
	}
	if err := f.validate(); err != nil {
		return nil, "", err
	}
	release, err := s.reads.acquire(ctx, p.Org)
	if err != nil {
		return nil, "", err
	}
	defer release()
	o := s.env.OrgOf(p)
	payload, err := core.DecodePageToken(ctx, o, "events", pageToken)
	if err != nil {
		return nil, "", err
	}
	total, err := o.Log().Size()
	if err != nil {
		return nil, "", core.LedgerErr(err)
	}
	var start uint64
	digest := f.digest()
	switch {
	case payload != nil:
		if len(payload) != 16 || string(payload[8:]) != string(digest) {
			return nil, "", core.Invalid("page_token was issued for a different filter")
		}
		start = binary.BigEndian.Uint64(payload[:8])
	case !f.Start.IsZero():
		if start, err = core.FirstAtOrAfter(ctx, o.Log(), total, f.Start); err != nil {
			return nil, "", err
		}
	}
	var out []Event
	next, scanned, bytes := start, 0, 0
	stop := errors.New("stop")
	done := false
	err = o.Log().Leaves(ctx, min(start, total), total, func(lf ledger.Leaf) error {
		if len(out) == n || scanned == s.scanLimit {
			return stop
		}
		e, err := DecodeEvent(lf)
		if err != nil {
			return err
		}
		if !f.End.IsZero() && !e.Purged && !e.Time.Before(f.End) {
			done = true
			return stop
		}
		in := f.match(&e)
		if in && len(out) > 0 && bytes+len(lf.Bytes) > s.cfg.ListEventsMaxBytes {
			return stop // the next page starts with this event
		}
		scanned++
		next = lf.Index + 1
		if in {
			out = append(out, e)
			bytes += len(lf.Bytes)
		}
		return nil
	})
	if err != nil && err != stop {
		return nil, "", core.LedgerErr(err)
	}
	if done || next >= total {
		return out, "", nil
	}
	tok, err := core.EncodePageToken(ctx, o, "events", append(binary.BigEndian.AppendUint64(nil, next), digest...))
	return out, tok, err
}

// NewEvent is an integration's event.
type NewEvent struct {
	// Type is "custom." and 1 to 120 of [A-Za-z0-9._-].
	Type           string
	Data           map[string]any
	IdempotencyKey string
}

// Appended is the receipt of one appended event.
type Appended struct {
	Index     uint64
	LeafHash  []byte
	Time      time.Time
	Duplicate bool
}

func validateCustomType(t string) error {
	if !ec.IsCustom(t) {
		return core.Invalid("type must be %q followed by 1 to %d of [A-Za-z0-9._-]", ec.CustomPrefix, ec.MaxCustomNameLen)
	}
	return nil
}

// AppendEvents appends an integration's events, all or none, and returns
// once a signed checkpoint covers them. At most
// Config.OrgConcurrentAppends calls of one org append at once; the org's
// further calls wait their turn, so one org cannot fill the committer's
// batches and hold back other orgs' appends.
func (s *Service) AppendEvents(ctx context.Context, p *core.Principal, evs []NewEvent) ([]Appended, Checkpoint, error) {
	if len(evs) == 0 || len(evs) > MaxAppendEvents {
		return nil, Checkpoint{}, core.Invalid("events must hold 1 to %d events, not %d", MaxAppendEvents, len(evs))
	}
	changes := make([]store.Change, len(evs))
	keys := map[string]bool{}
	for i, e := range evs {
		if err := validateCustomType(e.Type); err != nil {
			return nil, Checkpoint{}, errs.Prefix(err, "events[%d]", i)
		}
		if err := leaf.ValidateIdempotencyKey(e.IdempotencyKey); err != nil {
			return nil, Checkpoint{}, core.Invalid("events[%d].idempotency_key must be at most %d of [A-Za-z0-9._:-]", i, leaf.MaxIdempotencyKeyLen)
		}
		if e.IdempotencyKey != "" && keys[e.IdempotencyKey] {
			return nil, Checkpoint{}, core.Invalid("events[%d].idempotency_key repeats an earlier event's", i)
		}
		keys[e.IdempotencyKey] = true
		data := e.Data
		if data == nil {
			data = map[string]any{}
		}
		b, err := jcs.Marshal(data)
		if err != nil {
			return nil, Checkpoint{}, core.Invalid("events[%d].data is not valid JSON (numbers must be finite)", i)
		}
		if len(b) > MaxCustomEventSize {
			return nil, Checkpoint{}, core.Invalid("events[%d].data is %d bytes as canonical JSON, limit %d", i, len(b), MaxCustomEventSize)
		}
		ev := core.NewEvent(ctx, e.Type, p.Actor(), "", jcs.Canonical(b))
		if e.IdempotencyKey != "" {
			// A retry must build the same event: no per-request ID.
			ev.RequestID = ""
		}
		changes[i] = store.Change{Event: ev, IdempotencyKey: e.IdempotencyKey}
	}
	release, err := s.appends.acquire(ctx, p.Org)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	defer release()
	rs, err := s.env.OrgOf(p).Commit(ctx, ledger.AckCheckpoint, changes...)
	if errors.Is(err, ledger.ErrIdempotencyConflict) {
		return nil, Checkpoint{}, errs.New(errs.Precondition, "an idempotency key was used before with different data")
	}
	if err != nil {
		return nil, Checkpoint{}, err
	}
	out := make([]Appended, len(rs))
	var cp Checkpoint
	for i, r := range rs {
		out[i] = Appended{Index: r.Index, LeafHash: r.LeafHash, Time: r.Time, Duplicate: r.Duplicate}
		if r.Checkpoint != nil && r.Checkpoint.Size >= cp.Size {
			cp = *r.Checkpoint
		}
	}
	return out, cp, nil
}
