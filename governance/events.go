package governance

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"slices"
	"sort"
	"time"

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

// ledgerErr translates the ledger's errors about one org's log into the
// domain's own messages: the ledger's text (its keys, or a dependency's
// message it wraps) never reaches the caller.
func ledgerErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ledger.ErrUnknownOrg):
		return errorf(ErrNotFound, "the org has no log")
	case errors.Is(err, ledger.ErrIndexOutOfRange):
		return errorf(ErrNotFound, "the index is beyond the end of the log")
	case errors.Is(err, ledger.ErrSizeOutOfRange):
		return errorf(ErrNotFound, "the tree size is larger than the log")
	case errors.Is(err, ledger.ErrNotFound):
		return errorf(ErrNotFound, "no checkpoint of that tree size has been issued")
	case errors.Is(err, ledger.ErrInvalidRange):
		return invalid("the range of the log is not valid")
	case errors.Is(err, ledger.ErrClosed):
		return wrapf(ErrUnavailable, err, "the server is shutting down; retry")
	case errors.Is(err, ledger.ErrFailed):
		return wrapf(ErrUnavailable, err, "the log's storage failed; retry later")
	}
	return err
}

// Checkpoint returns the org's latest checkpoint (size 0) or the one
// issued at exactly size.
func (s *Service) Checkpoint(ctx context.Context, p *Principal, size uint64) (Checkpoint, error) {
	if size == 0 {
		cp, err := s.orgOf(p).Log().Checkpoint(ctx)
		return cp, ledgerErr(err)
	}
	cp, err := s.orgOf(p).Log().CheckpointAt(ctx, size)
	return cp, ledgerErr(err)
}

// InclusionProof proves leaf index in the tree of size (0: the latest
// checkpoint's), and returns the checkpoint of that size and the leaf
// hash.
func (s *Service) InclusionProof(ctx context.Context, p *Principal, index, size uint64) ([][]byte, Checkpoint, []byte, error) {
	cp, err := s.Checkpoint(ctx, p, size)
	if err != nil {
		return nil, Checkpoint{}, nil, err
	}
	if index >= cp.Size {
		return nil, Checkpoint{}, nil, errorf(ErrNotFound, "leaf %d is not in the tree of size %d", index, cp.Size)
	}
	proof, err := s.orgOf(p).Log().InclusionProof(ctx, index, cp.Size)
	if err != nil {
		return nil, Checkpoint{}, nil, ledgerErr(err)
	}
	lf, err := s.orgOf(p).Log().Leaf(ctx, index)
	if err != nil && !errors.Is(err, ledger.ErrPurged) {
		return nil, Checkpoint{}, nil, ledgerErr(err)
	}
	return proof, cp, lf.Hash, nil
}

// ConsistencyProof proves that the tree of size2 (0: the latest
// checkpoint's) extends the tree of size1, and returns both checkpoints
// (the first is zero when size1 is 0).
func (s *Service) ConsistencyProof(ctx context.Context, p *Principal, size1, size2 uint64) ([][]byte, Checkpoint, Checkpoint, error) {
	cp2, err := s.Checkpoint(ctx, p, size2)
	if err != nil {
		return nil, Checkpoint{}, Checkpoint{}, err
	}
	if size1 > cp2.Size {
		return nil, Checkpoint{}, Checkpoint{}, invalid("size1 %d is larger than size2 %d", size1, cp2.Size)
	}
	var cp1 Checkpoint
	if size1 > 0 {
		if cp1, err = s.Checkpoint(ctx, p, size1); err != nil {
			return nil, Checkpoint{}, Checkpoint{}, err
		}
	}
	proof, err := s.orgOf(p).Log().ConsistencyProof(ctx, size1, cp2.Size)
	return proof, cp1, cp2, ledgerErr(err)
}

// GetEvent returns the event at index.
func (s *Service) GetEvent(ctx context.Context, p *Principal, index uint64) (Event, error) {
	lf, err := s.orgOf(p).Log().Leaf(ctx, index)
	if err != nil && !errors.Is(err, ledger.ErrPurged) {
		return Event{}, ledgerErr(err)
	}
	return decodeEvent(lf)
}

func decodeEvent(lf ledger.Leaf) (Event, error) {
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
		return invalid("at most %d types", MaxTypeFilters)
	}
	for _, t := range f.Types {
		if err := validateText("types", t, 128, true); err != nil {
			return err
		}
		if err := validateKnownType("types", t); err != nil {
			return err
		}
	}
	if err := validateText("actor", f.Actor, 128, false); err != nil {
		return err
	}
	if !f.Start.IsZero() && !f.End.IsZero() && !f.Start.Before(f.End) {
		return invalid("start_time must be before end_time")
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
func (s *Service) ListEvents(ctx context.Context, p *Principal, f EventFilter, size int32, pageToken string) ([]Event, string, error) {
	n, err := pageSize(size)
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
	o := s.orgOf(p)
	payload, err := s.decodePageToken(ctx, o, "events", pageToken)
	if err != nil {
		return nil, "", err
	}
	total, err := o.Log().Size()
	if err != nil {
		return nil, "", ledgerErr(err)
	}
	var start uint64
	digest := f.digest()
	switch {
	case payload != nil:
		if len(payload) != 16 || string(payload[8:]) != string(digest) {
			return nil, "", invalid("page_token was issued for a different filter")
		}
		start = binary.BigEndian.Uint64(payload[:8])
	case !f.Start.IsZero():
		if start, err = s.firstAtOrAfter(ctx, o.Log(), total, f.Start); err != nil {
			return nil, "", err
		}
	}
	var out []Event
	next, scanned, bytes := start, 0, 0
	stop := errors.New("stop")
	done := false
	err = o.Log().Leaves(ctx, min(start, total), total, func(lf ledger.Leaf) error {
		if len(out) == n || scanned == listScanLimit {
			return stop
		}
		e, err := decodeEvent(lf)
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
		return nil, "", ledgerErr(err)
	}
	if done || next >= total {
		return out, "", nil
	}
	tok, err := s.encodePageToken(ctx, o, "events", append(binary.BigEndian.AppendUint64(nil, next), digest...))
	return out, tok, err
}

// firstAtOrAfter returns the index of the first leaf at or after t (size
// if none). Purged leaves are older than any unpurged one.
func (s *Service) firstAtOrAfter(ctx context.Context, log store.Log, size uint64, t time.Time) (uint64, error) {
	var ferr error
	i := sort.Search(int(size), func(i int) bool {
		if ferr != nil {
			return true
		}
		lf, err := log.Leaf(ctx, uint64(i))
		if errors.Is(err, ledger.ErrPurged) {
			return false
		}
		if err != nil {
			ferr = err
			return true
		}
		lt, err := leaf.TimeOf(lf.Bytes)
		if err != nil {
			ferr = err
			return true
		}
		return !lt.Before(t)
	})
	return uint64(i), ledgerErr(ferr)
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
		return invalid("type must be %q followed by 1 to %d of [A-Za-z0-9._-]", ec.CustomPrefix, ec.MaxCustomNameLen)
	}
	return nil
}

// validateKnownType refuses a type that names no event: neither in the
// catalog nor a custom one.
func validateKnownType(field, t string) error {
	if !ec.Known(t) {
		return invalid("%s: %q is neither an event type (docs/events.md) nor %s<name>", field, t, ec.CustomPrefix)
	}
	return nil
}

// AppendEvents appends an integration's events, all or none, and returns
// once a signed checkpoint covers them. At most
// Config.OrgConcurrentAppends calls of one org append at once; the org's
// further calls wait their turn, so one org cannot fill the committer's
// batches and hold back other orgs' appends.
func (s *Service) AppendEvents(ctx context.Context, p *Principal, evs []NewEvent) ([]Appended, Checkpoint, error) {
	if len(evs) == 0 || len(evs) > MaxAppendEvents {
		return nil, Checkpoint{}, invalid("events must hold 1 to %d events, not %d", MaxAppendEvents, len(evs))
	}
	changes := make([]store.Change, len(evs))
	keys := map[string]bool{}
	for i, e := range evs {
		if err := validateCustomType(e.Type); err != nil {
			return nil, Checkpoint{}, errs.Prefix(err, "events[%d]", i)
		}
		if err := leaf.ValidateIdempotencyKey(e.IdempotencyKey); err != nil {
			return nil, Checkpoint{}, invalid("events[%d].idempotency_key must be at most %d of [A-Za-z0-9._:-]", i, leaf.MaxIdempotencyKeyLen)
		}
		if e.IdempotencyKey != "" && keys[e.IdempotencyKey] {
			return nil, Checkpoint{}, invalid("events[%d].idempotency_key repeats an earlier event's", i)
		}
		keys[e.IdempotencyKey] = true
		data := e.Data
		if data == nil {
			data = map[string]any{}
		}
		b, err := jcs.Marshal(data)
		if err != nil {
			return nil, Checkpoint{}, invalid("events[%d].data is not valid JSON (numbers must be finite)", i)
		}
		if len(b) > MaxCustomEventSize {
			return nil, Checkpoint{}, invalid("events[%d].data is %d bytes as canonical JSON, limit %d", i, len(b), MaxCustomEventSize)
		}
		ev := newEvent(ctx, e.Type, p.Actor(), "", json.RawMessage(b))
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
	rs, err := s.orgOf(p).Commit(ctx, ledger.AckCheckpoint, changes...)
	if errors.Is(err, ledger.ErrIdempotencyConflict) {
		return nil, Checkpoint{}, errorf(ErrPrecondition, "an idempotency key was used before with different data")
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
