package orgs

import (
	"context"
	"errors"
	"slices"
	"time"

	ec "github.com/nuxari/nuxari/internal/eventcatalog"

	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/errs"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/ledger"
)

// NewOrg is a sign-up: an org with its first owner.
type NewOrg struct {
	ID               string
	DisplayName      string
	OwnerEmail       string
	OwnerDisplayName string
	OwnerPassword    secret.String
}

// CreateOrg creates an org with its first owner (self-service sign-up, or
// the operator's bootstrap when operator is true). Its first event,
// "org.created", commits with the org's state.
func (s *Service) CreateOrg(ctx context.Context, n NewOrg, operator bool) (Org, Member, error) {
	if !operator && s.cfg.SignupDisabled {
		return Org{}, Member{}, errs.New(errs.Disabled, "self-service sign-up is turned off; ask the operator")
	}
	if err := core.ValidateOrgID(n.ID); err != nil {
		return Org{}, Member{}, err
	}
	if err := core.ValidateText("display_name", n.DisplayName, core.MaxDisplayNameLen, false); err != nil {
		return Org{}, Member{}, err
	}
	email, err := core.NormalizeEmail("owner_email", n.OwnerEmail)
	if err != nil {
		return Org{}, Member{}, err
	}
	if err := core.ValidateText("owner_display_name", n.OwnerDisplayName, core.MaxDisplayNameLen, false); err != nil {
		return Org{}, Member{}, err
	}
	if err := core.ValidatePassword("owner_password", n.OwnerPassword); err != nil {
		return Org{}, Member{}, err
	}
	// Cheap checks first: a taken org ID costs a read, not a hash. The
	// commit below still requires the ID free, for a race.
	taken := errs.New(errs.AlreadyExists, "org %q is taken; choose another org_id", n.ID)
	o, err := s.env.Store.Org(n.ID)
	if err != nil {
		return Org{}, Member{}, core.Invalid("org_id: %v", err)
	}
	if _, err := o.Get(ctx, keyOrg); err == nil {
		return Org{}, Member{}, taken
	} else if !errors.Is(err, store.ErrNotFound) {
		return Org{}, Member{}, err
	}
	if !operator {
		if err := s.throttle.AdmitSignup(ctx); err != nil {
			return Org{}, Member{}, err
		}
	}
	hash, err := s.throttle.HashNew(ctx, "owner_password", n.OwnerPassword)
	if err != nil {
		return Org{}, Member{}, err
	}
	now := s.env.Now()
	org := orgRecord{ID: n.ID, DisplayName: n.DisplayName, Created: now, Retention: s.cfg.DefaultRetention}
	if org.DisplayName == "" {
		org.DisplayName = n.ID
	}
	u := User{ID: core.NewID("u"), Email: email, DisplayName: n.OwnerDisplayName, Role: rbac.Owner, PasswordHash: hash, Created: now}
	via := "signup"
	if operator {
		via = "operator"
	}
	_, err = o.Commit(ctx, ledger.AckDurable, store.Change{
		Event: core.NewEvent(ctx, ec.OrgCreated, u.ID, n.ID, map[string]any{
			"display_name": org.DisplayName, "owner": map[string]any{"user_id": u.ID, "email": u.Email}, "via": via,
			"retention_seconds": int64(org.Retention / time.Second),
		}),
		Require: map[string][]byte{keyOrg: nil},
		Put: map[string]any{
			keyOrg: org, core.KeyPageKey: core.NewPageKey(), keyOwners: []string{u.ID},
			prefixUser + u.ID: u, prefixEmail + email: []byte(u.ID),
		},
		Retention: org.Retention,
	})
	if errors.Is(err, store.ErrConflict) {
		return Org{}, Member{}, taken
	}
	if err != nil {
		return Org{}, Member{}, err
	}
	got, err := s.org(ctx, o)
	return got, u.member(), err
}

func (s *Service) org(ctx context.Context, o store.Org) (Org, error) {
	var r orgRecord
	if _, err := o.GetJSON(ctx, keyOrg, &r); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Org{}, errs.New(errs.NotFound, "org")
		}
		return Org{}, err
	}
	ret, err := o.Log().Retention(ctx)
	if err != nil {
		return Org{}, err
	}
	return Org{
		ID: r.ID, DisplayName: r.DisplayName, Retention: ret.Window, Created: r.Created,
		LogOrigin: o.Log().Origin(), VerifierKey: o.Log().VerifierKey(),
	}, nil
}

// GetOrg returns the principal's org. A non-empty id other than the
// principal's org is NotFound, exactly as a missing org.
func (s *Service) GetOrg(ctx context.Context, p *core.Principal, id string) (Org, error) {
	if id != "" && id != p.Org {
		return Org{}, errs.New(errs.NotFound, "org")
	}
	return s.org(ctx, s.env.OrgOf(p))
}

// Settings are the org settings an owner may change; nil keeps a value.
type Settings struct {
	DisplayName *string
	Retention   *time.Duration
}

// UpdateSettings changes the org's settings ("org.settings_changed").
func (s *Service) UpdateSettings(ctx context.Context, p *core.Principal, st Settings) (Org, error) {
	if st.DisplayName != nil {
		if err := core.ValidateText("display_name", *st.DisplayName, core.MaxDisplayNameLen, true); err != nil {
			return Org{}, err
		}
	}
	if st.Retention != nil && (*st.Retention < s.cfg.MinRetention || *st.Retention > s.cfg.MaxRetention) {
		return Org{}, core.Invalid("retention must be between %s and %s", s.cfg.MinRetention, s.cfg.MaxRetention)
	}
	if st.DisplayName == nil && st.Retention == nil {
		return Org{}, core.Invalid("nothing to change: set display_name or retention")
	}
	o := s.env.OrgOf(p)
	var r orgRecord
	old, err := o.GetJSON(ctx, keyOrg, &r)
	if err != nil {
		return Org{}, err
	}
	if r.Retention == 0 { // an org from before the record held it
		cur, err := o.Log().Retention(ctx)
		if err != nil {
			return Org{}, err
		}
		r.Retention = cur.Window
	}
	// The new values, the event that states them and the retention
	// window commit in one batch, on the record as read: a concurrent
	// change makes this one fail rather than leave the setting and the
	// log disagreeing.
	c := store.Change{Require: map[string][]byte{keyOrg: old}}
	changes := map[string]any{}
	if st.DisplayName != nil {
		changes["display_name"] = map[string]any{"from": r.DisplayName, "to": *st.DisplayName}
		r.DisplayName = *st.DisplayName
	}
	if st.Retention != nil {
		changes["retention_seconds"] = map[string]any{"from": int64(r.Retention / time.Second), "to": int64(*st.Retention / time.Second)}
		r.Retention, c.Retention = *st.Retention, *st.Retention
	}
	r.Version++
	c.Event = core.NewEvent(ctx, ec.OrgSettingsChanged, p.Actor(), p.Org, changes)
	c.Put = map[string]any{keyOrg: r}
	if _, err := o.Commit(ctx, ledger.AckDurable, c); err != nil {
		return Org{}, core.Conflict(err)
	}
	return s.org(ctx, o)
}

// NewMember is a person to add to an org.
type NewMember struct {
	Email       string
	DisplayName string
	Role        rbac.Role
	// SetupTTL is how long the setup token works (default
	// DefaultSetupTTL).
	SetupTTL time.Duration
}

// AddMember adds a person to the principal's org ("member.added"), with
// no password: they set their own with the setup token returned.
func (s *Service) AddMember(ctx context.Context, p *core.Principal, n NewMember) (Member, PasswordSetup, error) {
	email, err := core.NormalizeEmail("email", n.Email)
	if err != nil {
		return Member{}, PasswordSetup{}, err
	}
	if err := core.ValidateText("display_name", n.DisplayName, core.MaxDisplayNameLen, false); err != nil {
		return Member{}, PasswordSetup{}, err
	}
	if err := core.ValidateRole("role", n.Role); err != nil {
		return Member{}, PasswordSetup{}, err
	}
	ttl, err := setupTTL(n.SetupTTL)
	if err != nil {
		return Member{}, PasswordSetup{}, err
	}
	if n.Role == rbac.Owner && !rbac.Allows(p.Role, rbac.RolesManage) {
		return Member{}, PasswordSetup{}, errs.New(errs.Permission, "only owners may add owners")
	}
	u := User{ID: core.NewID("u"), Email: email, DisplayName: n.DisplayName, Role: n.Role, Created: s.env.Now()}
	c := store.Change{
		Require: map[string][]byte{
			prefixEmail + email: nil,
			prefixUser + u.ID:   nil,
		},
		Put: map[string]any{prefixEmail + email: []byte(u.ID)},
	}
	ps, err := s.newSetup(p.Org, &u, p.Actor(), ttl, &c)
	if err != nil {
		return Member{}, PasswordSetup{}, err
	}
	c.Event = core.NewEvent(ctx, ec.MemberAdded, p.Actor(), u.ID, map[string]any{"email": email, "role": u.Role, "setup_expires": ps.Expires})
	c.Put[prefixUser+u.ID] = u
	o := s.env.OrgOf(p)
	if u.Role == rbac.Owner {
		if err := s.changeOwners(ctx, o, &c, func(ids []string) []string { return append(ids, u.ID) }); err != nil {
			return Member{}, PasswordSetup{}, err
		}
	}
	if _, err := o.Commit(ctx, ledger.AckDurable, c); err != nil {
		if errors.Is(err, store.ErrConflict) {
			if _, gerr := o.Get(ctx, prefixEmail+email); gerr == nil {
				return Member{}, PasswordSetup{}, errs.New(errs.AlreadyExists, "a member with this email")
			}
		}
		return Member{}, PasswordSetup{}, core.Conflict(err)
	}
	return u.member(), ps, nil
}

// changeOwners adds to c the update of the owners list by fn, conditioned
// on the list as read, and refuses a list left empty.
func (s *Service) changeOwners(ctx context.Context, o store.Org, c *store.Change, fn func([]string) []string) error {
	var ids []string
	old, err := o.GetJSON(ctx, keyOwners, &ids)
	if err != nil {
		return err
	}
	ids = fn(ids)
	if len(ids) == 0 {
		return errs.New(errs.Precondition, "an org always has at least one owner; make another member owner first")
	}
	c.Require[keyOwners] = old
	c.Put[keyOwners] = ids
	return nil
}

// RemoveMember removes a person from the principal's org
// ("member.removed"). Their sessions, API tokens and setup token end with
// them, in the same batch. The last owner cannot be removed.
func (s *Service) RemoveMember(ctx context.Context, p *core.Principal, userID string) error {
	if err := core.ValidateID("user_id", userID); err != nil {
		return err
	}
	o := s.env.OrgOf(p)
	u, raw, err := LoadUser(ctx, o, userID)
	if err != nil {
		return err
	}
	c := store.Change{
		Require: map[string][]byte{prefixUser + u.ID: raw},
		Put:     map[string]any{},
		Delete:  []string{prefixUser + u.ID, prefixEmail + u.Email},
	}
	if u.Setup != "" {
		c.Delete = append(c.Delete, prefixSetup+u.Setup)
	}
	u.SessionEpoch++
	n, err := s.creds.EndSessions(ctx, o, u.ID, u.SessionEpoch, "", &c)
	if err != nil {
		return err
	}
	ids, err := s.creds.RevokeTokens(ctx, o, u.ID, func(rbac.Role) bool { return true }, &c)
	if err != nil {
		return err
	}
	c.Event = core.NewEvent(ctx, ec.MemberRemoved, p.Actor(), u.ID, map[string]any{
		"email": u.Email, "role": u.Role, "sessions_ended": n, "api_tokens_revoked": ids,
	})
	if u.Role == rbac.Owner {
		if err := s.changeOwners(ctx, o, &c, func(ids []string) []string {
			return slices.DeleteFunc(ids, func(id string) bool { return id == u.ID })
		}); err != nil {
			return err
		}
	}
	_, err = o.Commit(ctx, ledger.AckDurable, c)
	return core.Conflict(err)
}

// SetMemberRole changes a member's role ("member.role_changed"). Nobody
// changes their own role, and the last owner stays an owner. The member's
// API tokens whose role the new one does not cover are revoked for good,
// in the same batch: a later promotion does not bring them back.
func (s *Service) SetMemberRole(ctx context.Context, p *core.Principal, userID string, role rbac.Role) (Member, error) {
	if err := core.ValidateID("user_id", userID); err != nil {
		return Member{}, err
	}
	if err := core.ValidateRole("role", role); err != nil {
		return Member{}, err
	}
	if userID == p.UserID {
		return Member{}, errs.New(errs.Permission, "nobody changes their own role; ask another owner")
	}
	o := s.env.OrgOf(p)
	u, raw, err := LoadUser(ctx, o, userID)
	if err != nil {
		return Member{}, err
	}
	if u.Role == role {
		return u.member(), nil
	}
	from := u.Role
	u.Role = role
	c := store.Change{
		Require: map[string][]byte{prefixUser + u.ID: raw},
		Put:     map[string]any{prefixUser + u.ID: u},
	}
	ids, err := s.creds.RevokeTokens(ctx, o, u.ID, func(r rbac.Role) bool { return !rbac.Covers(role, r) }, &c)
	if err != nil {
		return Member{}, err
	}
	c.Event = core.NewEvent(ctx, ec.MemberRoleChanged, p.Actor(), u.ID, map[string]any{"from": from, "to": role, "api_tokens_revoked": ids})
	if from == rbac.Owner || role == rbac.Owner {
		if err := s.changeOwners(ctx, o, &c, func(ids []string) []string {
			ids = slices.DeleteFunc(ids, func(id string) bool { return id == u.ID })
			if role == rbac.Owner {
				ids = append(ids, u.ID)
			}
			return ids
		}); err != nil {
			return Member{}, err
		}
	}
	if _, err := o.Commit(ctx, ledger.AckDurable, c); err != nil {
		return Member{}, core.Conflict(err)
	}
	return u.member(), nil
}

// ListMembers lists the org's members in user ID order, a page at a time.
func (s *Service) ListMembers(ctx context.Context, p *core.Principal, size int32, pageToken string) ([]Member, string, error) {
	return core.ListPage(ctx, s.env.OrgOf(p), prefixUser, size, pageToken, (*User).member)
}
