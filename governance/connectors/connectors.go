// Package connectors is the connectors feature of the governance domain:
// the org's connections to the systems whose access Nuxari reads and
// changes (package connector), their lifecycle, their credentials sealed
// under the org's keys (package sealing), the rotation of those
// credentials, and the syncs that record a snapshot of each system's
// access on the job runner (package jobs).
//
// # Credentials
//
// Credentials are write-only. They arrive as secret.String, are sealed at
// once under the org's primary key with the org, connector and field as
// associated data, and are stored only as ciphertexts. They are opened
// only to be used (a test, a sync, a reseal), each use recorded first as a
// "connector.credential.accessed" event; no view, event, error or log
// line carries them.
//
// # Rotation
//
// RotateCredentials runs pause → validate → store → swap → purge →
// resume, each step a commit with its event. The connector record holds
// the rotation's step, so Recover, at start, rolls back a rotation
// interrupted before the new credentials were stored (the old ones stay)
// and completes one interrupted after (the new ones were validated).
package connectors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nuxari/nuxari/connector"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/jobs"
	"github.com/nuxari/nuxari/governance/sealing"
	"github.com/nuxari/nuxari/governance/store"
	ec "github.com/nuxari/nuxari/internal/eventcatalog"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/ledger"
)

// Driver makes connectors of one kind from stored settings and
// credentials. Its errors are connector errors, safe to show.
type Driver interface {
	// Kind names the kind ("postgres").
	Kind() string
	// CredentialFields lists the credential fields the kind knows.
	CredentialFields() []string
	// CheckSettings checks settings (a JSON object) and returns them
	// normalized, as they are stored and shown.
	CheckSettings(settings []byte) ([]byte, error)
	// CheckCredentials checks that the given credential fields suit the
	// settings.
	CheckCredentials(settings []byte, fields []string) error
	// Open returns a connector for settings and credentials, without
	// connecting.
	Open(settings []byte, creds map[string]secret.String) (connector.Connector, error)
	// CredentialSettings returns, for a kind whose settings hold what
	// goes with a credential (a client certificate and its key), a
	// function that reports whether two settings agree on it; a change of
	// those settings goes through a rotation, with the credentials. Nil
	// when the kind has none.
	CredentialSettings() func(a, b []byte) bool
}

// Config configures the feature.
type Config struct {
	// KEK seals the orgs' keyrings. Without it, connectors are refused.
	KEK sealing.KEK
	// Drivers are the kinds of connector the server offers.
	Drivers []Driver
	// TestTimeout bounds a test or a rotation's validation (default 30 s).
	TestTimeout time.Duration
	// SyncTimeout bounds a sync (default 1 h).
	SyncTimeout time.Duration
	// RetryWait is the wait before the first retry of a page that failed
	// as unavailable, doubling after (default 1 s).
	RetryWait time.Duration
	// MaxSnapshotItems bounds a snapshot's identities, entitlements and
	// grants together (default DefaultMaxSnapshotItems).
	MaxSnapshotItems int
	// AfterStep, when set, is called after each rotation step is
	// committed, with the step's name (a hook for tests that interrupt a
	// rotation).
	AfterStep func(org, connectorID, step string)
}

// Limits.
const (
	// MaxNameLen bounds a connector's name, in characters.
	MaxNameLen = 64
	// MaxCredentialLen bounds a credential field's value, in bytes.
	MaxCredentialLen = 16 << 10
	// MaxSettingsLen bounds a connector's settings (JSON), in bytes.
	MaxSettingsLen = 256 << 10
	// MaxReasonLen bounds a pause's or decommissioning's reason.
	MaxReasonLen = 256
	// MinSyncInterval and MaxSyncInterval bound a scheduled sync's
	// interval; zero turns the schedule off.
	MinSyncInterval = 5 * time.Minute
	MaxSyncInterval = 7 * 24 * time.Hour
	// DefaultMaxSnapshotItems is Config.MaxSnapshotItems' default: a
	// snapshot is recorded in one commit, which it keeps well under the
	// ledger's batch limit.
	DefaultMaxSnapshotItems = 200_000
)

func (c *Config) setDefaults() {
	if c.TestTimeout <= 0 {
		c.TestTimeout = 30 * time.Second
	}
	if c.SyncTimeout <= 0 {
		c.SyncTimeout = time.Hour
	}
	if c.RetryWait <= 0 {
		c.RetryWait = time.Second
	}
	if c.MaxSnapshotItems <= 0 {
		c.MaxSnapshotItems = DefaultMaxSnapshotItems
	}
}

// The state keys connectors own.
const (
	prefixConnector = "connector/"      // <id>: record
	prefixName      = "connector-name/" // <sha256 of the lower-case name>: the connector's ID
	prefixSync      = "connector-sync/" // <id>: syncState
	prefixSnapshot  = "connector-snap/" // <id>/<set>/<chunk>: a snapshot's items
	keyKeyring      = "sealing-keyring" // the org's sealed keyset
	keyReseal       = "sealing-reseal"  // the latest reseal job's ID
)

// StateKeys lists the state keys connectors own.
var StateKeys = []core.StateKey{
	{Key: prefixConnector, Owner: "connectors"},
	{Key: prefixName, Owner: "connectors"},
	{Key: prefixSync, Owner: "connectors"},
	{Key: prefixSnapshot, Owner: "connectors"},
	{Key: keyKeyring, Owner: "connectors"},
	{Key: keyReseal, Owner: "connectors"},
}

// State is where a connector is in its life.
type State string

// Connector states.
const (
	Active         State = "active"
	Paused         State = "paused"
	Rotating       State = "rotating"
	Failed         State = "failed"
	Decommissioned State = "decommissioned"
)

// Service is the connectors feature.
type Service struct {
	env     *core.Env
	cfg     Config
	runner  *jobs.Runner
	drivers map[string]Driver

	mu    sync.Mutex
	rings map[string]openRing // by org: the keyring last opened
}

type openRing struct {
	sealed []byte
	ring   *sealing.Keyring
}

// New returns the feature over env, registering its job kinds with
// runner.
func New(env *core.Env, cfg Config, runner *jobs.Runner) (*Service, error) {
	cfg.setDefaults()
	s := &Service{env: env, cfg: cfg, runner: runner, drivers: map[string]Driver{}, rings: map[string]openRing{}}
	for _, d := range cfg.Drivers {
		if _, dup := s.drivers[d.Kind()]; dup {
			return nil, fmt.Errorf("connectors: two drivers of kind %q", d.Kind())
		}
		s.drivers[d.Kind()] = d
	}
	if err := runner.Register(jobs.Kind{
		Name: SyncJobKind, Run: s.runSync, Restart: jobs.RestartResume,
		Events: syncEvents, Subject: "sync:",
	}); err != nil {
		return nil, err
	}
	if err := runner.Register(jobs.Kind{
		Name: ResealJobKind, Run: s.runReseal, Restart: jobs.RestartResume,
		Events: resealEvents, Subject: "reseal:",
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// The runner's events about syncs and reseals. Neither is ever
// canceled; a restart requeues both (jobs.RestartResume).
var (
	syncEvents   = jobs.EventsPrefix(ec.ConnectorSyncStarted, ec.ConnectorSyncCompleted, ec.ConnectorSyncFailed, ec.ConnectorSyncRequeued)
	resealEvents = jobs.EventsPrefix(ec.SealingResealStarted, ec.SealingResealCompleted, ec.SealingResealFailed, ec.SealingResealRequeued)
)

// record is a connector as stored under prefixConnector+ID.
type record struct {
	ID           string                `json:"id"`
	Name         string                `json:"name"`
	Kind         string                `json:"kind"`
	State        State                 `json:"state"`
	StateReason  string                `json:"state_reason,omitempty"`
	Settings     json.RawMessage       `json:"settings"`
	Credentials  map[string]credential `json:"credentials,omitempty"`
	SyncInterval time.Duration         `json:"sync_interval,omitempty"`
	Rotation     *rotation             `json:"rotation,omitempty"`
	Created      time.Time             `json:"created"`
	Updated      time.Time             `json:"updated"`
	CreatedBy    string                `json:"created_by"`
}

// credential is one sealed credential field.
type credential struct {
	Sealed  []byte    `json:"sealed"`
	KeyID   uint32    `json:"key_id"`
	Rotated time.Time `json:"rotated"`
}

// syncState is a connector's sync bookkeeping, under prefixSync+ID, kept
// apart from its record so that a sync does not collide with a change of
// the connector.
type syncState struct {
	// SyncID is the latest sync submitted; Requested when.
	SyncID    string    `json:"sync_id,omitempty"`
	Requested time.Time `json:"requested,omitzero"`
	// Last is the latest snapshot recorded.
	Last *Snapshot `json:"last,omitempty"`
}

// Snapshot describes a recorded snapshot of a system's access.
type Snapshot struct {
	SyncID string `json:"sync_id"`
	// Started is when the sync began to list (zero in snapshots recorded
	// before it was kept); Time is when the snapshot was recorded.
	Started      time.Time `json:"started,omitzero"`
	Time         time.Time `json:"time"`
	Identities   int       `json:"identities"`
	Entitlements int       `json:"entitlements"`
	Grants       int       `json:"grants"`
	// GrantsDigest is the SHA-256 (hex) of the grant set (GrantsDigest).
	GrantsDigest string `json:"grants_digest"`
}

// Connector is a connector as callers see it: no credential, no
// ciphertext.
type Connector struct {
	ID           string
	Name         string
	Kind         string
	State        State
	StateReason  string
	Settings     json.RawMessage
	Credentials  []CredentialInfo
	SyncInterval time.Duration
	LastSync     *Snapshot
	// SyncID is the sync queued or running, if any.
	SyncID       string
	RotationStep string
	Created      time.Time
	Updated      time.Time
	CreatedBy    string
}

// CredentialInfo says a credential field is set, never its value.
type CredentialInfo struct {
	Field   string
	Rotated time.Time
	KeyID   uint32
}

func (r *record) view(ss *syncState, running string) Connector {
	c := Connector{
		ID: r.ID, Name: r.Name, Kind: r.Kind, State: r.State, StateReason: r.StateReason,
		Settings: r.Settings, SyncInterval: r.SyncInterval, SyncID: running,
		Created: r.Created, Updated: r.Updated, CreatedBy: r.CreatedBy,
	}
	for _, f := range sortedFields(r.Credentials) {
		cr := r.Credentials[f]
		c.Credentials = append(c.Credentials, CredentialInfo{Field: f, Rotated: cr.Rotated, KeyID: cr.KeyID})
	}
	if r.Rotation != nil {
		c.RotationStep = r.Rotation.Step
	}
	if ss != nil {
		c.LastSync = ss.Last
	}
	return c
}

func sortedFields[V any](m map[string]V) []string {
	fs := make([]string, 0, len(m))
	for f := range m {
		fs = append(fs, f)
	}
	slices.Sort(fs)
	return fs
}

func subject(id string) string { return "connector:" + id }

var errNotFound = errs.New(errs.NotFound, "connector")

// errNoSealing refuses connectors on a server without a key-encryption
// key.
var errNoSealing = errs.New(errs.Precondition, "connectors are not configured on this server (no key-encryption key)")

// load reads connector id's record.
func load(ctx context.Context, o store.Org, id string) (*record, []byte, error) {
	if err := core.ValidateID("connector_id", id); err != nil {
		return nil, nil, err
	}
	var r record
	raw, err := o.GetJSON(ctx, prefixConnector+id, &r)
	if err != nil {
		return nil, nil, core.NotFoundAs(err, errNotFound)
	}
	return &r, raw, nil
}

// loadSync reads connector id's sync bookkeeping; raw is nil when it has
// none.
func loadSync(ctx context.Context, o store.Org, id string) (*syncState, []byte, error) {
	var ss syncState
	raw, err := o.GetJSON(ctx, prefixSync+id, &ss)
	if errors.Is(err, store.ErrNotFound) {
		return &ss, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return &ss, raw, nil
}

// view returns the connector's view: its record, its latest snapshot and
// its running sync.
func (s *Service) view(ctx context.Context, o store.Org, r *record) (Connector, error) {
	ss, _, err := loadSync(ctx, o, r.ID)
	if err != nil {
		return Connector{}, err
	}
	running := ""
	if ss.SyncID != "" {
		j, err := s.runner.Get(ctx, o, SyncJobKind, ss.SyncID)
		if err == nil && !j.State.Ended() {
			running = j.ID
		}
	}
	return r.view(ss, running), nil
}

func (s *Service) driver(kind string) (Driver, error) {
	d, ok := s.drivers[kind]
	if !ok {
		kinds := sortedFields(s.drivers)
		return nil, core.Invalid("unknown connector kind %q (this server offers: %s)", kind, strings.Join(kinds, ", "))
	}
	return d, nil
}

// driverErr maps a driver's or connector's error to the caller's: its
// own safe message, as InvalidArgument for bad settings.
func driverErr(what string, err error) error {
	var ce *connector.Error
	if errors.As(err, &ce) {
		if ce.Kind() == connector.ErrInvalid {
			return core.Invalid("%s: %s", what, ce.Message())
		}
		return errs.New(errs.Precondition, "%s: %s", what, ce.Message())
	}
	return err
}

// nameKey is the key of a name's uniqueness index: names are unique
// among live connectors, whatever their letter case.
func nameKey(name string) string {
	h := sha256.Sum256([]byte(strings.ToLower(name)))
	return prefixName + hex.EncodeToString(h[:])
}

func validateName(name string) error {
	if err := core.ValidateText("name", name, MaxNameLen, true); err != nil {
		return err
	}
	if strings.TrimSpace(name) != name {
		return core.Invalid("name must not start or end with spaces")
	}
	return nil
}

func validateInterval(d time.Duration) error {
	if d != 0 && (d < MinSyncInterval || d > MaxSyncInterval) {
		return core.Invalid("sync_interval %v: want 0 (syncs by hand only) or %v to %v", d, MinSyncInterval, MaxSyncInterval)
	}
	return nil
}

// checkSettings checks settings of driver d and returns them normalized.
func checkSettings(d Driver, settings []byte) ([]byte, error) {
	if len(settings) == 0 {
		return nil, core.Invalid("settings are required")
	}
	if len(settings) > MaxSettingsLen {
		return nil, core.Invalid("settings of %d bytes, at most %d allowed", len(settings), MaxSettingsLen)
	}
	norm, err := d.CheckSettings(settings)
	if err != nil {
		return nil, driverErr("settings", err)
	}
	return norm, nil
}

// checkCredentials checks credentials for settings of driver d: known
// fields, non-empty, bounded, and a set the driver accepts, which it can
// build a connector from.
func checkCredentials(d Driver, settings []byte, creds map[string]secret.String) error {
	if len(creds) == 0 {
		return core.Invalid("credentials are required")
	}
	known := d.CredentialFields()
	for f, v := range creds {
		switch {
		case !slices.Contains(known, f):
			return core.Invalid("unknown credential field %q (want one of %s)", f, strings.Join(known, ", "))
		case v.IsZero():
			return core.Invalid("credential %s is empty", f)
		case len(v.Reveal()) > MaxCredentialLen:
			return core.Invalid("credential %s is longer than %d bytes", f, MaxCredentialLen)
		case !utf8.ValidString(v.Reveal()) || strings.ContainsRune(v.Reveal(), 0):
			return core.Invalid("credential %s must be UTF-8 text without NUL", f)
		}
	}
	if err := d.CheckCredentials(settings, sortedFields(creds)); err != nil {
		return driverErr("credentials", err)
	}
	c, err := d.Open(settings, creds)
	if err != nil {
		return driverErr("credentials", err)
	}
	return c.Close()
}

// CreateRequest is a new connector.
type CreateRequest struct {
	Name         string
	Kind         string
	Settings     []byte
	Credentials  map[string]secret.String
	SyncInterval time.Duration
}

// Create creates a connector, active, with its credentials sealed
// ("connector.created"; "sealing.keyring.created" with the org's first).
func (s *Service) Create(ctx context.Context, p *core.Principal, req CreateRequest) (Connector, error) {
	if s.cfg.KEK == nil {
		return Connector{}, errNoSealing
	}
	if err := validateName(req.Name); err != nil {
		return Connector{}, err
	}
	if err := validateInterval(req.SyncInterval); err != nil {
		return Connector{}, err
	}
	d, err := s.driver(req.Kind)
	if err != nil {
		return Connector{}, err
	}
	settings, err := checkSettings(d, req.Settings)
	if err != nil {
		return Connector{}, err
	}
	if err := checkCredentials(d, settings, req.Credentials); err != nil {
		return Connector{}, err
	}
	o := s.env.OrgOf(p)
	now := s.env.Now()
	r := &record{
		ID: core.NewID("c"), Name: req.Name, Kind: req.Kind, State: Active, Settings: settings,
		SyncInterval: req.SyncInterval, Created: now, Updated: now, CreatedBy: p.Actor(),
	}
	for attempt := 0; ; attempt++ {
		kr, err := s.keyring(ctx, o)
		if err != nil {
			return Connector{}, err
		}
		if r.Credentials, err = kr.seal(o.ID(), r.ID, req.Credentials, now); err != nil {
			return Connector{}, err
		}
		change := store.Change{
			Event: core.NewEvent(ctx, ec.ConnectorCreated, p.Actor(), subject(r.ID), map[string]any{
				"name": r.Name, "kind": r.Kind, "settings": r.Settings,
				"credential_fields": sortedFields(r.Credentials), "sync_interval_seconds": int64(r.SyncInterval / time.Second),
				"key_id": kr.ring.Primary(),
			}),
			Require: map[string][]byte{nameKey(r.Name): nil},
			Put:     map[string]any{prefixConnector + r.ID: r, nameKey(r.Name): []byte(r.ID)},
		}
		_, err = o.Commit(ctx, ledger.AckDurable, kr.with(change)...)
		if errors.Is(err, store.ErrConflict) {
			if _, nerr := o.Get(ctx, nameKey(r.Name)); nerr == nil {
				return Connector{}, errs.New(errs.AlreadyExists, "a connector named %q exists; choose another name", r.Name)
			}
			if attempt < 2 {
				continue // the keyring changed
			}
			return Connector{}, errs.Conflict
		}
		if err != nil {
			return Connector{}, err
		}
		return r.view(nil, ""), nil
	}
}

// Get returns connector id.
func (s *Service) Get(ctx context.Context, p *core.Principal, id string) (Connector, error) {
	o := s.env.OrgOf(p)
	r, _, err := load(ctx, o, id)
	if err != nil {
		return Connector{}, err
	}
	return s.view(ctx, o, r)
}

// List lists the org's connectors in ID order.
func (s *Service) List(ctx context.Context, p *core.Principal, size int32, pageToken string) ([]Connector, string, error) {
	o := s.env.OrgOf(p)
	recs, next, err := core.ListPage(ctx, o, prefixConnector, size, pageToken, func(r *record) *record { return r })
	if err != nil {
		return nil, "", err
	}
	out := make([]Connector, len(recs))
	for i, r := range recs {
		if out[i], err = s.view(ctx, o, r); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}

// UpdateRequest changes a connector; nil fields stay as they are.
type UpdateRequest struct {
	Name         *string
	Settings     []byte
	SyncInterval *time.Duration
}

// Update changes a connector's name, settings or sync interval
// ("connector.updated"); a change to nothing changes nothing.
func (s *Service) Update(ctx context.Context, p *core.Principal, id string, req UpdateRequest) (Connector, error) {
	o := s.env.OrgOf(p)
	r, raw, err := load(ctx, o, id)
	if err != nil {
		return Connector{}, err
	}
	if err := r.changeable(); err != nil {
		return Connector{}, err
	}
	var changed []string
	c := store.Change{Require: map[string][]byte{prefixConnector + id: raw}, Put: map[string]any{}}
	if req.Name != nil && *req.Name != r.Name {
		if err := validateName(*req.Name); err != nil {
			return Connector{}, err
		}
		if !strings.EqualFold(*req.Name, r.Name) {
			c.Require[nameKey(*req.Name)] = nil
			c.Delete = append(c.Delete, nameKey(r.Name))
		}
		c.Put[nameKey(*req.Name)] = []byte(r.ID)
		r.Name = *req.Name
		changed = append(changed, "name")
	}
	if req.Settings != nil {
		d, err := s.driver(r.Kind)
		if err != nil {
			return Connector{}, err
		}
		settings, err := checkSettings(d, req.Settings)
		if err != nil {
			return Connector{}, err
		}
		if string(settings) != string(r.Settings) {
			if err := d.CheckCredentials(settings, sortedFields(r.Credentials)); err != nil {
				return Connector{}, driverErr("the new settings do not suit the stored credentials (rotate the credentials with them)", err)
			}
			if f := d.CredentialSettings(); f != nil && !f(r.Settings, settings) {
				return Connector{}, core.Invalid("the new settings change what goes with the credentials (a client certificate): rotate the credentials with them")
			}
			r.Settings = settings
			changed = append(changed, "settings")
		}
	}
	if req.SyncInterval != nil && *req.SyncInterval != r.SyncInterval {
		if err := validateInterval(*req.SyncInterval); err != nil {
			return Connector{}, err
		}
		r.SyncInterval = *req.SyncInterval
		changed = append(changed, "sync_interval")
	}
	if len(changed) == 0 {
		return s.view(ctx, o, r)
	}
	r.Updated = s.env.Now()
	c.Put[prefixConnector+id] = r
	c.Event = core.NewEvent(ctx, ec.ConnectorUpdated, p.Actor(), subject(id), map[string]any{
		"changed": changed, "name": r.Name, "settings": r.Settings, "sync_interval_seconds": int64(r.SyncInterval / time.Second),
	})
	if _, err := o.Commit(ctx, ledger.AckDurable, c); err != nil {
		if errors.Is(err, store.ErrConflict) && slices.Contains(changed, "name") {
			if v, nerr := o.Get(ctx, nameKey(r.Name)); nerr == nil && string(v) != id {
				return Connector{}, errs.New(errs.AlreadyExists, "a connector named %q exists; choose another name", r.Name)
			}
		}
		return Connector{}, core.Conflict(err)
	}
	return s.view(ctx, o, r)
}
