package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/store"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/ledger"
)

// rotation is a credential rotation in progress, in the connector's
// record while it is Rotating.
type rotation struct {
	ID      string    `json:"id"`
	Step    string    `json:"step"`
	Started time.Time `json:"started"`
	By      string    `json:"by"`
	// Resume is the state the connector returns to.
	Resume State `json:"resume"`
	// New holds the new credentials once stored; Old the replaced ones
	// after the swap, until they are purged.
	New map[string]credential `json:"new,omitempty"`
	Old map[string]credential `json:"old,omitempty"`
	// NewSettings, when the rotation changes the settings too, are put in
	// force with the new credentials; OldSettings are the replaced ones,
	// until the purge.
	NewSettings json.RawMessage `json:"new_settings,omitempty"`
	OldSettings json.RawMessage `json:"old_settings,omitempty"`
}

// Rotation steps, as recorded in the connector's record and named in
// Config.AfterStep. Each is committed with its event.
const (
	StepStarted   = "started"   // paused for the rotation: connector.rotation.started
	StepValidated = "validated" // the system accepted the new credentials
	StepStored    = "stored"    // the new credentials are sealed and stored
	StepSwapped   = "swapped"   // the new credentials are in force
	StepPurged    = "purged"    // the old ciphertexts are deleted
	StepCompleted = "completed" // resumed: the rotation is over (or rolled back)
)

// RotateCredentials replaces connector id's credentials whole, step by
// step (see the package documentation), and its settings with them when
// settings is not nil (a renewed client certificate goes with its new
// key). If the system refuses the new credentials, the old ones stay in
// force, the connector resumes, and the error (Precondition) says why.
func (s *Service) RotateCredentials(ctx context.Context, p *core.Principal, id string, creds map[string]secret.String, settings []byte) (Connector, error) {
	if s.cfg.KEK == nil {
		return Connector{}, errNoSealing
	}
	o := s.env.OrgOf(p)
	r, raw, err := load(ctx, o, id)
	if err != nil {
		return Connector{}, err
	}
	if err := r.changeable(); err != nil {
		return Connector{}, err
	}
	d, err := s.driver(r.Kind)
	if err != nil {
		return Connector{}, err
	}
	if settings != nil {
		if settings, err = checkSettings(d, settings); err != nil {
			return Connector{}, err
		}
		if string(settings) == string(r.Settings) {
			settings = nil
		}
	}
	inForce := r.Settings
	if settings != nil {
		inForce = settings
	}
	if err := checkCredentials(d, inForce, creds); err != nil {
		return Connector{}, err
	}
	actor := p.Actor()
	rot := &rotation{ID: core.NewID("r"), Step: StepStarted, Started: s.env.Now(), By: actor, Resume: r.State, NewSettings: settings}
	if rot.Resume == Failed {
		// New credentials that the system accepts cure a connector that
		// failed.
		rot.Resume = Active
	}
	// Pause.
	from := r.State
	r.State, r.Rotation = Rotating, rot
	if err := s.step(ctx, o, r, raw, actor, ec.ConnectorRotationStarted, map[string]any{
		"rotation_id": rot.ID, "fields": sortedFields(creds), "from": string(from), "settings_changed": settings != nil,
	}); err != nil {
		return Connector{}, core.Conflict(err)
	}

	// Validate against the system.
	verr := s.validateNew(ctx, o, r.ID, inForce, d, creds, actor)
	if verr != nil {
		msg := failureText(verr)
		s.logFailure(o, id, "rotation", verr)
		if err := s.rollBack(ctx, o, id, actor, ec.ConnectorRotationFailed, map[string]any{
			"rotation_id": rot.ID, "step": "validate", "error": msg,
		}); err != nil {
			return Connector{}, err
		}
		return Connector{}, errs.New(errs.Precondition, "the system refused the new credentials (%s); the old credentials stay in force", msg)
	}
	if err := s.advance(ctx, o, id, actor, StepValidated, ec.ConnectorRotationValidated, func(r *record) (map[string]any, error) {
		return map[string]any{"rotation_id": rot.ID}, nil
	}); err != nil {
		return Connector{}, err
	}

	// Store, sealed.
	for attempt := 0; ; attempt++ {
		r, raw, err := load(ctx, o, id)
		if err != nil {
			return Connector{}, err
		}
		k, err := s.keyring(ctx, o)
		if err != nil {
			return Connector{}, err
		}
		if r.Rotation.New, err = k.seal(o.ID(), id, creds, s.env.Now()); err != nil {
			return Connector{}, err
		}
		r.Rotation.Step = StepStored
		r.Updated = s.env.Now()
		_, err = o.Commit(ctx, ledger.AckDurable, k.with(store.Change{
			Event: core.NewEvent(ctx, ec.ConnectorRotationStored, actor, subject(id), map[string]any{
				"rotation_id": rot.ID, "fields": sortedFields(creds), "key_id": k.ring.Primary(),
			}),
			Require: map[string][]byte{prefixConnector + id: raw},
			Put:     map[string]any{prefixConnector + id: r},
		})...)
		if errors.Is(err, store.ErrConflict) && attempt < 2 {
			continue
		}
		if err != nil {
			return Connector{}, core.Conflict(err)
		}
		break
	}
	s.afterStep(o, id, StepStored)
	if err := s.finishRotation(ctx, o, id, actor); err != nil {
		return Connector{}, err
	}
	r, _, err = load(ctx, o, id)
	if err != nil {
		return Connector{}, err
	}
	return s.view(ctx, o, r)
}

// validateNew records the use of the new credentials
// ("connector.credential.accessed") and checks them against the system.
func (s *Service) validateNew(ctx context.Context, o store.Org, id string, settings []byte, d Driver, creds map[string]secret.String, actor string) error {
	_, err := o.Commit(ctx, ledger.AckDurable, store.Change{
		Event: core.NewEvent(ctx, ec.ConnectorCredentialAccessed, actor, subject(id), map[string]any{
			"purpose": "rotation", "fields": sortedFields(creds),
		}),
	})
	if err != nil {
		return err
	}
	c, err := d.Open(settings, creds)
	if err != nil {
		return err
	}
	defer c.Close()
	vctx, cancel := context.WithTimeout(ctx, s.cfg.TestTimeout)
	defer cancel()
	return c.Validate(vctx)
}

// step commits r (whose raw bytes were read as raw) with an event, and
// calls the step hook with r's rotation step.
func (s *Service) step(ctx context.Context, o store.Org, r *record, raw []byte, actor, typ string, data map[string]any) error {
	r.Updated = s.env.Now()
	_, err := o.Commit(ctx, ledger.AckDurable, store.Change{
		Event:   core.NewEvent(ctx, typ, actor, subject(r.ID), data),
		Require: map[string][]byte{prefixConnector + r.ID: raw},
		Put:     map[string]any{prefixConnector + r.ID: r},
	})
	if err != nil {
		return err
	}
	s.afterStep(o, r.ID, r.Rotation.stepOr(StepCompleted))
	return nil
}

func (rot *rotation) stepOr(def string) string {
	if rot == nil {
		return def
	}
	return rot.Step
}

func (s *Service) afterStep(o store.Org, id, step string) {
	if s.cfg.AfterStep != nil {
		s.cfg.AfterStep(o.ID(), id, step)
	}
}

// advance moves connector id's rotation to step with the event typ,
// after change, retrying on a concurrent change of the record.
func (s *Service) advance(ctx context.Context, o store.Org, id, actor, step, typ string, change func(*record) (map[string]any, error)) error {
	for attempt := 0; ; attempt++ {
		r, raw, err := load(ctx, o, id)
		if err != nil {
			return err
		}
		if r.State != Rotating || r.Rotation == nil {
			return fmt.Errorf("connector %s is no longer rotating", id)
		}
		data, err := change(r)
		if err != nil {
			return err
		}
		r.Rotation.Step = step
		if step == StepCompleted {
			r.State, r.StateReason, r.Rotation = r.Rotation.Resume, "", nil
		}
		err = s.step(ctx, o, r, raw, actor, typ, data)
		if errors.Is(err, store.ErrConflict) && attempt < 2 {
			continue
		}
		return core.Conflict(err)
	}
}

// finishRotation takes a rotation whose new credentials are stored
// through swap, purge and resume.
func (s *Service) finishRotation(ctx context.Context, o store.Org, id, actor string) error {
	for {
		r, _, err := load(ctx, o, id)
		if err != nil {
			return err
		}
		if r.Rotation == nil {
			return nil
		}
		rid := r.Rotation.ID
		switch r.Rotation.Step {
		case StepStored:
			err = s.advance(ctx, o, id, actor, StepSwapped, ec.ConnectorRotationSwapped, func(r *record) (map[string]any, error) {
				r.Rotation.Old, r.Credentials, r.Rotation.New = r.Credentials, r.Rotation.New, nil
				data := map[string]any{"rotation_id": rid, "fields": sortedFields(r.Credentials)}
				if r.Rotation.NewSettings != nil {
					r.Rotation.OldSettings, r.Settings, r.Rotation.NewSettings = r.Settings, r.Rotation.NewSettings, nil
					data["settings"] = r.Settings
				}
				return data, nil
			})
		case StepSwapped:
			err = s.advance(ctx, o, id, actor, StepPurged, ec.ConnectorRotationPurged, func(r *record) (map[string]any, error) {
				purged := sortedFields(r.Rotation.Old)
				r.Rotation.Old, r.Rotation.OldSettings = nil, nil
				return map[string]any{"rotation_id": rid, "fields": purged}, nil
			})
		case StepPurged:
			err = s.advance(ctx, o, id, actor, StepCompleted, ec.ConnectorRotationCompleted, func(r *record) (map[string]any, error) {
				return map[string]any{"rotation_id": rid, "state": string(r.Rotation.Resume)}, nil
			})
		default:
			return fmt.Errorf("connector %s: rotation at step %q cannot be finished", id, r.Rotation.Step)
		}
		if err != nil {
			return err
		}
	}
}

// rollBack ends connector id's rotation before its new credentials were
// stored: the old ones stay in force and the connector resumes, with the
// event typ.
func (s *Service) rollBack(ctx context.Context, o store.Org, id, actor, typ string, data map[string]any) error {
	return s.advance(ctx, o, id, actor, StepCompleted, typ, func(r *record) (map[string]any, error) {
		if r.Rotation.New != nil {
			return nil, fmt.Errorf("connector %s: a rotation with stored credentials cannot be rolled back", id)
		}
		data["state"] = string(r.Rotation.Resume)
		return data, nil
	})
}

// reasonRestart is why a rotation interrupted before its new
// credentials were stored was rolled back.
const reasonRestart = "interrupted by a server restart before the new credentials were stored; the old credentials stay in force"

// Recover, at start, ends every rotation a stopped server left: one
// interrupted before its new credentials were stored is rolled back
// ("connector.rotation.rolled_back"), one interrupted after is completed
// (its remaining steps' events, by the system). Either way the connector
// has usable credentials after.
func (s *Service) Recover(ctx context.Context) error {
	for _, o := range s.env.Store.Orgs() {
		var rotating []string
		if err := scanRecords(ctx, o, func(r *record) {
			if r.State == Rotating && r.Rotation != nil {
				rotating = append(rotating, r.ID)
			}
		}); err != nil {
			return err
		}
		for _, id := range rotating {
			if err := s.recoverRotation(ctx, o, id); err != nil {
				return fmt.Errorf("org %s: connector %s: %w", o.ID(), id, err)
			}
		}
	}
	return nil
}

// staleRotation is how long a rotation may stay at one step before the
// schedule ends it: longer than a rotation's request can run (its
// validation is bounded by TestTimeout; each other step is one commit).
func (s *Service) staleRotation() time.Duration { return 2*s.cfg.TestTimeout + 5*time.Minute }

func (s *Service) recoverRotation(ctx context.Context, o store.Org, id string) error {
	r, _, err := load(ctx, o, id)
	if err != nil {
		return err
	}
	rot := r.Rotation
	s.env.Logger.Info("recovering an interrupted credential rotation", slog.String("org", o.ID()), slog.String("connector", id), slog.String("step", rot.Step))
	switch rot.Step {
	case StepStarted, StepValidated:
		return s.rollBack(ctx, o, id, ec.System, ec.ConnectorRotationRolledBack, map[string]any{
			"rotation_id": rot.ID, "step": rot.Step, "reason": reasonRestart,
		})
	}
	return s.finishRotation(ctx, o, id, ec.System)
}
