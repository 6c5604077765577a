package connectors

import (
	"context"
	"errors"
	"log/slog"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/sealing"
	"github.com/nuxari/nuxari/governance/store"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/ledger"
)

// changeable refuses a change to a connector being rotated or gone.
func (r *record) changeable() error {
	switch r.State {
	case Rotating:
		return errs.New(errs.Precondition, "connector %s is rotating its credentials; try again when the rotation ends", r.ID)
	case Decommissioned:
		return errs.New(errs.Precondition, "connector %s is decommissioned", r.ID)
	}
	return nil
}

// Pause stops a connector's syncs and changes until Resume
// ("connector.paused").
func (s *Service) Pause(ctx context.Context, p *core.Principal, id, reason string) (Connector, error) {
	if err := core.ValidateText("reason", reason, MaxReasonLen, false); err != nil {
		return Connector{}, err
	}
	return s.transition(ctx, p, id, func(r *record) (string, map[string]any, error) {
		if err := r.changeable(); err != nil {
			return "", nil, err
		}
		if r.State == Paused {
			return "", nil, errs.New(errs.Precondition, "connector %s is already paused", id)
		}
		from := r.State
		r.State, r.StateReason = Paused, reason
		return ec.ConnectorPaused, map[string]any{"reason": reason, "from": string(from)}, nil
	})
}

// Resume makes a paused connector active again ("connector.resumed").
func (s *Service) Resume(ctx context.Context, p *core.Principal, id string) (Connector, error) {
	return s.transition(ctx, p, id, func(r *record) (string, map[string]any, error) {
		if r.State != Paused {
			return "", nil, errs.New(errs.Precondition, "connector %s is %s, not paused", id, r.State)
		}
		r.State, r.StateReason = Active, ""
		return ec.ConnectorResumed, map[string]any{}, nil
	})
}

// Decommission ends a connector for good: its credentials, snapshot and
// name are released; its record stays ("connector.decommissioned").
func (s *Service) Decommission(ctx context.Context, p *core.Principal, id, reason string) (Connector, error) {
	if err := core.ValidateText("reason", reason, MaxReasonLen, false); err != nil {
		return Connector{}, err
	}
	o := s.env.OrgOf(p)
	var extra store.Change
	c, err := s.transition(ctx, p, id, func(r *record) (string, map[string]any, error) {
		if err := r.changeable(); err != nil {
			return "", nil, err
		}
		purged := sortedFields(r.Credentials)
		// The snapshot goes with its summary, which every sync changes:
		// a sync that records one meanwhile makes this commit conflict
		// and list the keys again.
		del, err := snapshotKeys(ctx, o, id)
		if err != nil {
			return "", nil, err
		}
		_, ssRaw, err := loadSync(ctx, o, id)
		if err != nil {
			return "", nil, err
		}
		extra = store.Change{
			Delete:  append(del, nameKey(r.Name), prefixSync+id),
			Require: map[string][]byte{prefixSync + id: ssRaw},
		}
		r.State, r.StateReason, r.Credentials = Decommissioned, reason, nil
		return ec.ConnectorDecommissioned, map[string]any{"reason": reason, "purged_fields": purged}, nil
	}, &extra)
	return c, err
}

// transition applies change to connector id's record and commits it with
// the event change names, retrying on a concurrent change. extra, if
// set, adds deletions and preconditions to the commit (filled in by
// change).
func (s *Service) transition(ctx context.Context, p *core.Principal, id string, change func(*record) (string, map[string]any, error), extra ...*store.Change) (Connector, error) {
	o := s.env.OrgOf(p)
	for attempt := 0; ; attempt++ {
		r, raw, err := load(ctx, o, id)
		if err != nil {
			return Connector{}, err
		}
		typ, data, err := change(r)
		if err != nil {
			return Connector{}, err
		}
		r.Updated = s.env.Now()
		c := store.Change{
			Event:   core.NewEvent(ctx, typ, p.Actor(), subject(id), data),
			Require: map[string][]byte{prefixConnector + id: raw},
			Put:     map[string]any{prefixConnector + id: r},
		}
		for _, x := range extra {
			c.Delete = append(c.Delete, x.Delete...)
			for k, v := range x.Require {
				c.Require[k] = v
			}
		}
		_, err = o.Commit(ctx, ledger.AckDurable, c)
		if errors.Is(err, store.ErrConflict) && attempt < 2 {
			continue
		}
		if err != nil {
			return Connector{}, core.Conflict(err)
		}
		return s.view(ctx, o, r)
	}
}

// recordAccess records a use of the connector's stored credentials
// before they are opened ("connector.credential.accessed").
func (s *Service) recordAccess(ctx context.Context, o store.Org, actor string, r *record, purpose string, extra map[string]any) error {
	data := map[string]any{"purpose": purpose, "fields": sortedFields(r.Credentials)}
	for k, v := range extra {
		data[k] = v
	}
	_, err := o.Commit(ctx, ledger.AckDurable, store.Change{
		Event: core.NewEvent(ctx, ec.ConnectorCredentialAccessed, actor, subject(r.ID), data),
	})
	return err
}

// open opens the connector's stored credentials and returns a connector
// of its kind; the caller closes it. The access must be recorded first.
func (s *Service) open(ctx context.Context, o store.Org, r *record) (connector.Connector, error) {
	d, err := s.driver(r.Kind)
	if err != nil {
		return nil, err
	}
	creds, err := s.openCredentials(ctx, o, r.ID, r.Credentials)
	if err != nil {
		return nil, err
	}
	c, err := d.Open(r.Settings, creds)
	if err != nil {
		return nil, driverErr("connector", err)
	}
	return c, nil
}

// Outcome is the result of a test.
type Outcome struct {
	OK bool
	// Error says why the test failed: a connector's safe message.
	Error     string
	Connector Connector
}

// Test connects to the system with the stored credentials
// ("connector.credential.accessed", then "connector.tested"); a failing
// active connector becomes failed ("connector.failed"), a failed one that
// passes active ("connector.recovered").
func (s *Service) Test(ctx context.Context, p *core.Principal, id string) (Outcome, error) {
	o := s.env.OrgOf(p)
	r, _, err := load(ctx, o, id)
	if err != nil {
		return Outcome{}, err
	}
	if err := r.changeable(); err != nil {
		return Outcome{}, err
	}
	if err := s.recordAccess(ctx, o, p.Actor(), r, "test", nil); err != nil {
		return Outcome{}, core.Conflict(err)
	}
	verr := s.validate(ctx, o, r)
	msg := failureText(verr)
	s.logFailure(o, r.ID, "test", verr)
	var out Outcome
	for attempt := 0; ; attempt++ {
		r, raw, err := load(ctx, o, id)
		if err != nil {
			return Outcome{}, err
		}
		changes := []store.Change{{
			Event: core.NewEvent(ctx, ec.ConnectorTested, p.Actor(), subject(id), map[string]any{"ok": verr == nil, "error": msg}),
		}}
		if c, ok := s.health(ctx, r, raw, p.Actor(), msg); ok {
			changes = append(changes, c)
		}
		_, err = o.Commit(ctx, ledger.AckDurable, changes...)
		if errors.Is(err, store.ErrConflict) && attempt < 2 {
			continue
		}
		if err != nil {
			return Outcome{}, core.Conflict(err)
		}
		out.OK, out.Error = verr == nil, msg
		out.Connector, err = s.view(ctx, o, r)
		return out, err
	}
}

// validate opens the connector's credentials and checks them against the
// system, within the test timeout.
func (s *Service) validate(ctx context.Context, o store.Org, r *record) error {
	c, err := s.open(ctx, o, r)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.TestTimeout)
	defer cancel()
	return c.Validate(ctx)
}

// health returns the change that moves r between active and failed
// after a use that failed with msg (or succeeded, msg empty), and
// whether there is one. It updates r.
func (s *Service) health(ctx context.Context, r *record, raw []byte, actor, msg string) (store.Change, bool) {
	var typ string
	var data map[string]any
	switch {
	case msg != "" && r.State == Active:
		r.State, r.StateReason = Failed, msg
		typ, data = ec.ConnectorFailed, map[string]any{"reason": msg}
	case msg == "" && r.State == Failed:
		r.State, r.StateReason = Active, ""
		typ, data = ec.ConnectorRecovered, map[string]any{}
	default:
		return store.Change{}, false
	}
	r.Updated = s.env.Now()
	return store.Change{
		Event:   core.NewEvent(ctx, typ, actor, subject(r.ID), data),
		Require: map[string][]byte{prefixConnector + r.ID: raw},
		Put:     map[string]any{prefixConnector + r.ID: r},
	}, true
}

// failureText is what a caller, an event and a record may say of a
// connector's failure: a connector error's own message (which never
// carries a credential or the system's text) or a fixed text.
func failureText(err error) string {
	var ce *connector.Error
	var ee *errs.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &ce):
		return ce.Error()
	case errors.Is(err, sealing.ErrKeyDisabled):
		return "the stored credentials are sealed under a disabled key; rotate the credentials"
	case errors.Is(err, sealing.ErrCannotOpen):
		return "the stored credentials cannot be opened; rotate the credentials"
	case errors.Is(err, context.DeadlineExceeded):
		return "the system did not answer in time"
	case errors.As(err, &ee):
		return ee.Error()
	}
	return "the connector failed; the server log has details"
}

// logFailure logs a use's failure for the operator: the error's own text
// is safe (connector errors carry no credential, sealing errors no key).
func (s *Service) logFailure(o store.Org, id, what string, err error) {
	if err != nil {
		s.env.Logger.Warn("connector "+what+" failed", slog.String("org", o.ID()), slog.String("connector", id), slog.String("error", err.Error()))
	}
}
