// Package api serves the governance domain over Connect (and gRPC and
// gRPC-Web): handlers that translate proto to domain and domain errors to
// Connect codes, the one table of what each procedure needs (Procedures),
// and the interceptor that enforces it.
package api

import (
	"context"
	"log/slog"

	"connectrpc.com/connect"

	"github.com/nuxari/nuxari/governance"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/internal/secret"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
)

// Handlers implements the nuxari.v1 services over a governance.Service.
type Handlers struct {
	svc *governance.Service
	log *slog.Logger
}

var (
	_ nuxariv1connect.OrgServiceHandler    = (*Handlers)(nil)
	_ nuxariv1connect.AuthServiceHandler   = (*Handlers)(nil)
	_ nuxariv1connect.LedgerServiceHandler = (*Handlers)(nil)
)

// NewHandlers returns the handlers of svc.
func NewHandlers(svc *governance.Service, log *slog.Logger) *Handlers {
	return &Handlers{svc: svc, log: log}
}

// call runs a handler body for an authenticated caller and maps its error.
func call[Req, Res any](h *Handlers, ctx context.Context, req *connect.Request[Req], fn func(*core.Principal, *Req) (*Res, error)) (*connect.Response[Res], error) {
	p, err := principal(ctx)
	if err != nil {
		return nil, err
	}
	res, err := fn(p, req.Msg)
	if err != nil {
		return nil, toConnect(ctx, h.log, err)
	}
	return connect.NewResponse(res), nil
}

// CreateOrg implements OrgService.CreateOrg.
func (h *Handlers) CreateOrg(ctx context.Context, req *connect.Request[nuxariv1.CreateOrgRequest]) (*connect.Response[nuxariv1.CreateOrgResponse], error) {
	m := req.Msg
	org, owner, err := h.svc.Orgs.CreateOrg(ctx, orgs.NewOrg{
		ID: m.OrgId, DisplayName: m.DisplayName, OwnerEmail: m.OwnerEmail,
		OwnerDisplayName: m.OwnerDisplayName, OwnerPassword: secret.New(m.OwnerPassword),
	}, false)
	if err != nil {
		return nil, toConnect(ctx, h.log, err)
	}
	return connect.NewResponse(&nuxariv1.CreateOrgResponse{Org: orgOut(org), Owner: memberOut(owner)}), nil
}

// GetOrg implements OrgService.GetOrg.
func (h *Handlers) GetOrg(ctx context.Context, req *connect.Request[nuxariv1.GetOrgRequest]) (*connect.Response[nuxariv1.GetOrgResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.GetOrgRequest) (*nuxariv1.GetOrgResponse, error) {
		o, err := h.svc.Orgs.GetOrg(ctx, p, m.OrgId)
		return &nuxariv1.GetOrgResponse{Org: orgOut(o)}, err
	})
}

// UpdateOrgSettings implements OrgService.UpdateOrgSettings.
func (h *Handlers) UpdateOrgSettings(ctx context.Context, req *connect.Request[nuxariv1.UpdateOrgSettingsRequest]) (*connect.Response[nuxariv1.UpdateOrgSettingsResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.UpdateOrgSettingsRequest) (*nuxariv1.UpdateOrgSettingsResponse, error) {
		var st orgs.Settings
		st.DisplayName = m.DisplayName
		if m.Retention != nil {
			d, err := durationIn("retention", m.Retention)
			if err != nil {
				return nil, err
			}
			st.Retention = &d
		}
		o, err := h.svc.Orgs.UpdateSettings(ctx, p, st)
		return &nuxariv1.UpdateOrgSettingsResponse{Org: orgOut(o)}, err
	})
}

// AddMember implements OrgService.AddMember.
func (h *Handlers) AddMember(ctx context.Context, req *connect.Request[nuxariv1.AddMemberRequest]) (*connect.Response[nuxariv1.AddMemberResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.AddMemberRequest) (*nuxariv1.AddMemberResponse, error) {
		role, err := roleIn("role", m.Role)
		if err != nil {
			return nil, err
		}
		ttl, err := optDurationIn("setup_ttl", m.SetupTtl)
		if err != nil {
			return nil, err
		}
		mem, ps, err := h.svc.Orgs.AddMember(ctx, p, orgs.NewMember{Email: m.Email, DisplayName: m.DisplayName, Role: role, SetupTTL: ttl})
		if err != nil {
			return nil, err
		}
		return &nuxariv1.AddMemberResponse{Member: memberOut(mem), Setup: setupOut(ps)}, nil
	})
}

// IssuePasswordSetup implements OrgService.IssuePasswordSetup.
func (h *Handlers) IssuePasswordSetup(ctx context.Context, req *connect.Request[nuxariv1.IssuePasswordSetupRequest]) (*connect.Response[nuxariv1.IssuePasswordSetupResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.IssuePasswordSetupRequest) (*nuxariv1.IssuePasswordSetupResponse, error) {
		ttl, err := optDurationIn("setup_ttl", m.SetupTtl)
		if err != nil {
			return nil, err
		}
		ps, err := h.svc.Orgs.IssuePasswordSetup(ctx, p, m.UserId, ttl)
		if err != nil {
			return nil, err
		}
		return &nuxariv1.IssuePasswordSetupResponse{Setup: setupOut(ps)}, nil
	})
}

// EndMemberSessions implements OrgService.EndMemberSessions.
func (h *Handlers) EndMemberSessions(ctx context.Context, req *connect.Request[nuxariv1.EndMemberSessionsRequest]) (*connect.Response[nuxariv1.EndMemberSessionsResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.EndMemberSessionsRequest) (*nuxariv1.EndMemberSessionsResponse, error) {
		n, r, err := h.svc.Orgs.EndMemberSessions(ctx, p, m.UserId, m.RevokeApiTokens)
		return &nuxariv1.EndMemberSessionsResponse{SessionsEnded: int32(n), ApiTokensRevoked: int32(r)}, err
	})
}

// RemoveMember implements OrgService.RemoveMember.
func (h *Handlers) RemoveMember(ctx context.Context, req *connect.Request[nuxariv1.RemoveMemberRequest]) (*connect.Response[nuxariv1.RemoveMemberResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.RemoveMemberRequest) (*nuxariv1.RemoveMemberResponse, error) {
		return &nuxariv1.RemoveMemberResponse{}, h.svc.Orgs.RemoveMember(ctx, p, m.UserId)
	})
}

// SetMemberRole implements OrgService.SetMemberRole.
func (h *Handlers) SetMemberRole(ctx context.Context, req *connect.Request[nuxariv1.SetMemberRoleRequest]) (*connect.Response[nuxariv1.SetMemberRoleResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.SetMemberRoleRequest) (*nuxariv1.SetMemberRoleResponse, error) {
		role, err := roleIn("role", m.Role)
		if err != nil {
			return nil, err
		}
		mem, err := h.svc.Orgs.SetMemberRole(ctx, p, m.UserId, role)
		return &nuxariv1.SetMemberRoleResponse{Member: memberOut(mem)}, err
	})
}

// ListMembers implements OrgService.ListMembers.
func (h *Handlers) ListMembers(ctx context.Context, req *connect.Request[nuxariv1.ListMembersRequest]) (*connect.Response[nuxariv1.ListMembersResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ListMembersRequest) (*nuxariv1.ListMembersResponse, error) {
		ms, next, err := h.svc.Orgs.ListMembers(ctx, p, m.PageSize, m.PageToken)
		res := &nuxariv1.ListMembersResponse{NextPageToken: next}
		for _, mem := range ms {
			res.Members = append(res.Members, memberOut(mem))
		}
		return res, err
	})
}

// Login implements AuthService.Login.
func (h *Handlers) Login(ctx context.Context, req *connect.Request[nuxariv1.LoginRequest]) (*connect.Response[nuxariv1.LoginResponse], error) {
	m := req.Msg
	tok, p, err := h.svc.Sessions.Login(ctx, m.OrgId, m.Email, secret.New(m.Password))
	if err != nil {
		return nil, toConnect(ctx, h.log, err)
	}
	if !m.CookieSession {
		return connect.NewResponse(&nuxariv1.LoginResponse{SessionToken: tok.Reveal(), Principal: principalOut(p)}), nil
	}
	// A console session: the token goes in an HttpOnly cookie only.
	res := connect.NewResponse(&nuxariv1.LoginResponse{Principal: principalOut(p), CsrfToken: CSRFToken(tok)})
	res.Header().Add("Set-Cookie", newSessionCookie(ctx, tok, p.Expires).String())
	return res, nil
}

// Logout implements AuthService.Logout. A session authenticated by its
// cookie has the cookie cleared.
func (h *Handlers) Logout(ctx context.Context, req *connect.Request[nuxariv1.LogoutRequest]) (*connect.Response[nuxariv1.LogoutResponse], error) {
	res, err := call(h, ctx, req, func(p *core.Principal, _ *nuxariv1.LogoutRequest) (*nuxariv1.LogoutResponse, error) {
		return &nuxariv1.LogoutResponse{}, h.svc.Sessions.Logout(ctx, p)
	})
	if err == nil && cookieSession(req.Header()) {
		res.Header().Add("Set-Cookie", clearedSessionCookie(ctx).String())
	}
	return res, err
}

// WhoAmI implements AuthService.WhoAmI.
func (h *Handlers) WhoAmI(ctx context.Context, req *connect.Request[nuxariv1.WhoAmIRequest]) (*connect.Response[nuxariv1.WhoAmIResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, _ *nuxariv1.WhoAmIRequest) (*nuxariv1.WhoAmIResponse, error) {
		return &nuxariv1.WhoAmIResponse{Principal: principalOut(p)}, nil
	})
}

// ChangePassword implements AuthService.ChangePassword.
func (h *Handlers) ChangePassword(ctx context.Context, req *connect.Request[nuxariv1.ChangePasswordRequest]) (*connect.Response[nuxariv1.ChangePasswordResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ChangePasswordRequest) (*nuxariv1.ChangePasswordResponse, error) {
		n, err := h.svc.Orgs.ChangePassword(ctx, p, secret.New(m.CurrentPassword), secret.New(m.NewPassword))
		return &nuxariv1.ChangePasswordResponse{SessionsEnded: int32(n)}, err
	})
}

// SetPassword implements AuthService.SetPassword.
func (h *Handlers) SetPassword(ctx context.Context, req *connect.Request[nuxariv1.SetPasswordRequest]) (*connect.Response[nuxariv1.SetPasswordResponse], error) {
	m := req.Msg
	org, email, err := h.svc.Orgs.SetPassword(ctx, secret.New(m.SetupToken), secret.New(m.NewPassword))
	if err != nil {
		return nil, toConnect(ctx, h.log, err)
	}
	return connect.NewResponse(&nuxariv1.SetPasswordResponse{OrgId: org, Email: email}), nil
}

// CreateAPIToken implements AuthService.CreateAPIToken.
func (h *Handlers) CreateAPIToken(ctx context.Context, req *connect.Request[nuxariv1.CreateAPITokenRequest]) (*connect.Response[nuxariv1.CreateAPITokenResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.CreateAPITokenRequest) (*nuxariv1.CreateAPITokenResponse, error) {
		role, err := roleIn("role", m.Role)
		if err != nil {
			return nil, err
		}
		ttl, err := optDurationIn("ttl", m.Ttl) // unset: the domain's default
		if err != nil {
			return nil, err
		}
		t, tok, err := h.svc.Sessions.CreateAPIToken(ctx, p, m.Name, role, ttl)
		if err != nil {
			return nil, err
		}
		return &nuxariv1.CreateAPITokenResponse{Token: tokenOut(t), Secret: tok.Reveal()}, nil
	})
}

// RevokeAPIToken implements AuthService.RevokeAPIToken.
func (h *Handlers) RevokeAPIToken(ctx context.Context, req *connect.Request[nuxariv1.RevokeAPITokenRequest]) (*connect.Response[nuxariv1.RevokeAPITokenResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.RevokeAPITokenRequest) (*nuxariv1.RevokeAPITokenResponse, error) {
		return &nuxariv1.RevokeAPITokenResponse{}, h.svc.Sessions.RevokeAPIToken(ctx, p, m.TokenId)
	})
}

// ListAPITokens implements AuthService.ListAPITokens.
func (h *Handlers) ListAPITokens(ctx context.Context, req *connect.Request[nuxariv1.ListAPITokensRequest]) (*connect.Response[nuxariv1.ListAPITokensResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ListAPITokensRequest) (*nuxariv1.ListAPITokensResponse, error) {
		ts, next, err := h.svc.Sessions.ListAPITokens(ctx, p, m.PageSize, m.PageToken)
		res := &nuxariv1.ListAPITokensResponse{NextPageToken: next}
		for _, t := range ts {
			res.Tokens = append(res.Tokens, tokenOut(t))
		}
		return res, err
	})
}
