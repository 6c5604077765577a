package api

import (
	"context"
	"encoding/json"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/nuxari/nuxari/connector/postgres"
	"github.com/nuxari/nuxari/governance/connectors"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/internal/secret"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
)

var _ nuxariv1connect.ConnectorServiceHandler = (*Handlers)(nil)

var connectorStates = map[connectors.State]nuxariv1.ConnectorState{
	connectors.Active:         nuxariv1.ConnectorState_CONNECTOR_STATE_ACTIVE,
	connectors.Paused:         nuxariv1.ConnectorState_CONNECTOR_STATE_PAUSED,
	connectors.Rotating:       nuxariv1.ConnectorState_CONNECTOR_STATE_ROTATING,
	connectors.Failed:         nuxariv1.ConnectorState_CONNECTOR_STATE_FAILED,
	connectors.Decommissioned: nuxariv1.ConnectorState_CONNECTOR_STATE_DECOMMISSIONED,
}

// settingsIn returns a request's settings as the domain takes them: the
// kind and its settings as JSON.
func settingsIn(s *nuxariv1.ConnectorSettings) (kind string, settings []byte, err error) {
	switch k := s.GetKind().(type) {
	case *nuxariv1.ConnectorSettings_Postgres:
		p := k.Postgres
		if p == nil {
			p = &nuxariv1.PostgresSettings{}
		}
		b, err := json.Marshal(postgres.Settings{
			Host: p.Host, Port: int(p.Port), Database: p.Database, User: p.User,
			TLSMode: postgres.TLSMode(p.TlsMode), CAPEM: p.CaPem, ClientCertPEM: p.ClientCertPem,
			ConnectTimeoutSeconds: int(p.ConnectTimeoutSeconds), PrivilegeEntitlements: p.PrivilegeEntitlements,
			RolePrefix: p.RolePrefix,
		})
		return postgres.Kind, b, err
	case nil:
		return "", nil, core.Invalid("settings are required: give the settings of the connector's kind (postgres)")
	}
	return "", nil, core.Invalid("settings of an unknown kind")
}

// settingsOut returns stored settings of kind as the API states them.
func settingsOut(kind string, settings []byte) *nuxariv1.ConnectorSettings {
	switch kind {
	case postgres.Kind:
		var p postgres.Settings
		if json.Unmarshal(settings, &p) != nil {
			return nil
		}
		return &nuxariv1.ConnectorSettings{Kind: &nuxariv1.ConnectorSettings_Postgres{Postgres: &nuxariv1.PostgresSettings{
			Host: p.Host, Port: uint32(p.Port), Database: p.Database, User: p.User, TlsMode: string(p.TLSMode),
			CaPem: p.CAPEM, ClientCertPem: p.ClientCertPEM, ConnectTimeoutSeconds: uint32(p.ConnectTimeoutSeconds),
			PrivilegeEntitlements: p.PrivilegeEntitlements, RolePrefix: p.RolePrefix,
		}}}
	}
	return nil
}

// credentialsIn returns a request's credentials by field, the empty ones
// left out, and their kind.
func credentialsIn(c *nuxariv1.ConnectorCredentials) (kind string, creds map[string]secret.String, err error) {
	creds = map[string]secret.String{}
	add := func(field, v string) {
		if v != "" {
			creds[field] = secret.New(v)
		}
	}
	switch k := c.GetKind().(type) {
	case *nuxariv1.ConnectorCredentials_Postgres:
		add(postgres.FieldPassword, k.Postgres.GetPassword())
		add(postgres.FieldClientKey, k.Postgres.GetClientKeyPem())
		return postgres.Kind, creds, nil
	case nil:
		return "", nil, core.Invalid("credentials are required")
	}
	return "", nil, core.Invalid("credentials of an unknown kind")
}

func snapshotOut(s *connectors.Snapshot) *nuxariv1.SyncSummary {
	if s == nil {
		return nil
	}
	return &nuxariv1.SyncSummary{
		SyncId: s.SyncID, SyncTime: ts(s.Time), Identities: uint64(s.Identities),
		Entitlements: uint64(s.Entitlements), Grants: uint64(s.Grants), GrantsDigest: s.GrantsDigest,
	}
}

func connectorOut(c connectors.Connector) *nuxariv1.Connector {
	out := &nuxariv1.Connector{
		ConnectorId: c.ID, Name: c.Name, Kind: c.Kind, State: connectorStates[c.State],
		Settings: settingsOut(c.Kind, c.Settings), StateReason: c.StateReason, LastSync: snapshotOut(c.LastSync),
		SyncId: c.SyncID, RotationStep: c.RotationStep,
		CreateTime: ts(c.Created), UpdateTime: ts(c.Updated), CreatedBy: c.CreatedBy,
	}
	if c.SyncInterval > 0 {
		out.SyncInterval = durationpb.New(c.SyncInterval)
	}
	for _, f := range c.Credentials {
		out.Credentials = append(out.Credentials, &nuxariv1.CredentialField{Name: f.Field, RotateTime: ts(f.Rotated), KeyId: f.KeyID})
	}
	return out
}

var syncStates = map[string]nuxariv1.SyncState{
	"running":   nuxariv1.SyncState_SYNC_STATE_RUNNING,
	"succeeded": nuxariv1.SyncState_SYNC_STATE_SUCCEEDED,
	"failed":    nuxariv1.SyncState_SYNC_STATE_FAILED,
}

func syncOut(s connectors.Sync) *nuxariv1.Sync {
	return &nuxariv1.Sync{
		SyncId: s.ID, ConnectorId: s.ConnectorID, State: syncStates[s.State], RequestedBy: s.RequestedBy,
		CreateTime: ts(s.Created), CompleteTime: ts(s.Completed), ItemsRead: s.ItemsRead, Error: s.Error,
		Summary: snapshotOut(s.Summary),
	}
}

// sameKind refuses settings or credentials (what) of kind for connector
// id of another kind.
func (h *Handlers) sameKind(ctx context.Context, p *core.Principal, id, what, kind string) error {
	cur, err := h.svc.Connectors.Get(ctx, p, id)
	if err != nil {
		return err
	}
	if kind != cur.Kind {
		return core.Invalid("%s are of kind %s, the connector of kind %s", what, kind, cur.Kind)
	}
	return nil
}

// CreateConnector implements ConnectorService.CreateConnector.
func (h *Handlers) CreateConnector(ctx context.Context, req *connect.Request[nuxariv1.CreateConnectorRequest]) (*connect.Response[nuxariv1.CreateConnectorResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.CreateConnectorRequest) (*nuxariv1.CreateConnectorResponse, error) {
		kind, settings, err := settingsIn(m.Settings)
		if err != nil {
			return nil, err
		}
		ckind, creds, err := credentialsIn(m.Credentials)
		if err != nil {
			return nil, err
		}
		if ckind != kind {
			return nil, core.Invalid("credentials are of kind %s, settings of kind %s", ckind, kind)
		}
		interval, err := optDurationIn("sync_interval", m.SyncInterval)
		if err != nil {
			return nil, err
		}
		c, err := h.svc.Connectors.Create(ctx, p, connectors.CreateRequest{
			Name: m.Name, Kind: kind, Settings: settings, Credentials: creds, SyncInterval: interval,
		})
		return &nuxariv1.CreateConnectorResponse{Connector: connectorOut(c)}, err
	})
}

// GetConnector implements ConnectorService.GetConnector.
func (h *Handlers) GetConnector(ctx context.Context, req *connect.Request[nuxariv1.GetConnectorRequest]) (*connect.Response[nuxariv1.GetConnectorResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.GetConnectorRequest) (*nuxariv1.GetConnectorResponse, error) {
		c, err := h.svc.Connectors.Get(ctx, p, m.ConnectorId)
		return &nuxariv1.GetConnectorResponse{Connector: connectorOut(c)}, err
	})
}

// ListConnectors implements ConnectorService.ListConnectors.
func (h *Handlers) ListConnectors(ctx context.Context, req *connect.Request[nuxariv1.ListConnectorsRequest]) (*connect.Response[nuxariv1.ListConnectorsResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ListConnectorsRequest) (*nuxariv1.ListConnectorsResponse, error) {
		cs, next, err := h.svc.Connectors.List(ctx, p, m.PageSize, m.PageToken)
		if err != nil {
			return nil, err
		}
		out := &nuxariv1.ListConnectorsResponse{NextPageToken: next}
		for _, c := range cs {
			out.Connectors = append(out.Connectors, connectorOut(c))
		}
		return out, nil
	})
}

// UpdateConnector implements ConnectorService.UpdateConnector.
func (h *Handlers) UpdateConnector(ctx context.Context, req *connect.Request[nuxariv1.UpdateConnectorRequest]) (*connect.Response[nuxariv1.UpdateConnectorResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.UpdateConnectorRequest) (*nuxariv1.UpdateConnectorResponse, error) {
		var u connectors.UpdateRequest
		u.Name = m.Name
		if m.Settings != nil {
			kind, settings, err := settingsIn(m.Settings)
			if err != nil {
				return nil, err
			}
			if err := h.sameKind(ctx, p, m.ConnectorId, "settings", kind); err != nil {
				return nil, err
			}
			u.Settings = settings
		}
		if m.SyncInterval != nil {
			d, err := durationIn("sync_interval", m.SyncInterval)
			if err != nil {
				return nil, err
			}
			u.SyncInterval = &d
		}
		c, err := h.svc.Connectors.Update(ctx, p, m.ConnectorId, u)
		return &nuxariv1.UpdateConnectorResponse{Connector: connectorOut(c)}, err
	})
}

// TestConnector implements ConnectorService.TestConnector.
func (h *Handlers) TestConnector(ctx context.Context, req *connect.Request[nuxariv1.TestConnectorRequest]) (*connect.Response[nuxariv1.TestConnectorResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.TestConnectorRequest) (*nuxariv1.TestConnectorResponse, error) {
		o, err := h.svc.Connectors.Test(ctx, p, m.ConnectorId)
		return &nuxariv1.TestConnectorResponse{Ok: o.OK, Error: o.Error, Connector: connectorOut(o.Connector)}, err
	})
}

// PauseConnector implements ConnectorService.PauseConnector.
func (h *Handlers) PauseConnector(ctx context.Context, req *connect.Request[nuxariv1.PauseConnectorRequest]) (*connect.Response[nuxariv1.PauseConnectorResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.PauseConnectorRequest) (*nuxariv1.PauseConnectorResponse, error) {
		c, err := h.svc.Connectors.Pause(ctx, p, m.ConnectorId, m.Reason)
		return &nuxariv1.PauseConnectorResponse{Connector: connectorOut(c)}, err
	})
}

// ResumeConnector implements ConnectorService.ResumeConnector.
func (h *Handlers) ResumeConnector(ctx context.Context, req *connect.Request[nuxariv1.ResumeConnectorRequest]) (*connect.Response[nuxariv1.ResumeConnectorResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ResumeConnectorRequest) (*nuxariv1.ResumeConnectorResponse, error) {
		c, err := h.svc.Connectors.Resume(ctx, p, m.ConnectorId)
		return &nuxariv1.ResumeConnectorResponse{Connector: connectorOut(c)}, err
	})
}

// RotateCredentials implements ConnectorService.RotateCredentials.
func (h *Handlers) RotateCredentials(ctx context.Context, req *connect.Request[nuxariv1.RotateCredentialsRequest]) (*connect.Response[nuxariv1.RotateCredentialsResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.RotateCredentialsRequest) (*nuxariv1.RotateCredentialsResponse, error) {
		kind, creds, err := credentialsIn(m.Credentials)
		if err != nil {
			return nil, err
		}
		if err := h.sameKind(ctx, p, m.ConnectorId, "credentials", kind); err != nil {
			return nil, err
		}
		var settings []byte
		if m.Settings != nil {
			skind, b, err := settingsIn(m.Settings)
			if err != nil {
				return nil, err
			}
			if skind != kind {
				return nil, core.Invalid("settings are of kind %s, the credentials of kind %s", skind, kind)
			}
			settings = b
		}
		c, err := h.svc.Connectors.RotateCredentials(ctx, p, m.ConnectorId, creds, settings)
		return &nuxariv1.RotateCredentialsResponse{Connector: connectorOut(c)}, err
	})
}

// DecommissionConnector implements ConnectorService.DecommissionConnector.
func (h *Handlers) DecommissionConnector(ctx context.Context, req *connect.Request[nuxariv1.DecommissionConnectorRequest]) (*connect.Response[nuxariv1.DecommissionConnectorResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.DecommissionConnectorRequest) (*nuxariv1.DecommissionConnectorResponse, error) {
		c, err := h.svc.Connectors.Decommission(ctx, p, m.ConnectorId, m.Reason)
		return &nuxariv1.DecommissionConnectorResponse{Connector: connectorOut(c)}, err
	})
}

// SyncConnector implements ConnectorService.SyncConnector.
func (h *Handlers) SyncConnector(ctx context.Context, req *connect.Request[nuxariv1.SyncConnectorRequest]) (*connect.Response[nuxariv1.SyncConnectorResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.SyncConnectorRequest) (*nuxariv1.SyncConnectorResponse, error) {
		s, err := h.svc.Connectors.StartSync(ctx, p, m.ConnectorId)
		return &nuxariv1.SyncConnectorResponse{Sync: syncOut(s)}, err
	})
}

// GetSync implements ConnectorService.GetSync.
func (h *Handlers) GetSync(ctx context.Context, req *connect.Request[nuxariv1.GetSyncRequest]) (*connect.Response[nuxariv1.GetSyncResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.GetSyncRequest) (*nuxariv1.GetSyncResponse, error) {
		s, err := h.svc.Connectors.GetSync(ctx, p, m.SyncId)
		return &nuxariv1.GetSyncResponse{Sync: syncOut(s)}, err
	})
}

// ListGrants implements ConnectorService.ListGrants.
func (h *Handlers) ListGrants(ctx context.Context, req *connect.Request[nuxariv1.ListGrantsRequest]) (*connect.Response[nuxariv1.ListGrantsResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.ListGrantsRequest) (*nuxariv1.ListGrantsResponse, error) {
		gs, next, snap, err := h.svc.Connectors.ListGrants(ctx, p, m.ConnectorId, m.PageSize, m.PageToken)
		if err != nil {
			return nil, err
		}
		out := &nuxariv1.ListGrantsResponse{NextPageToken: next, Snapshot: snapshotOut(snap)}
		for _, g := range gs {
			out.Grants = append(out.Grants, &nuxariv1.Grant{
				IdentityId: g.IdentityID, IdentityName: g.IdentityName,
				EntitlementId: g.EntitlementID, EntitlementName: g.EntitlementName, EntitlementKind: g.EntitlementKind,
			})
		}
		return out, nil
	})
}

// GetSealingKeys implements ConnectorService.GetSealingKeys.
func (h *Handlers) GetSealingKeys(ctx context.Context, req *connect.Request[nuxariv1.GetSealingKeysRequest]) (*connect.Response[nuxariv1.GetSealingKeysResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.GetSealingKeysRequest) (*nuxariv1.GetSealingKeysResponse, error) {
		k, err := h.svc.Connectors.GetKeys(ctx, p)
		if err != nil {
			return nil, err
		}
		out := &nuxariv1.GetSealingKeysResponse{ResealJobId: k.ResealJob, ResealState: k.ResealState}
		for _, ki := range k.Keys {
			out.Keys = append(out.Keys, keyOut(ki))
		}
		return out, nil
	})
}

func keyOut(k connectors.KeyInfo) *nuxariv1.SealingKey {
	st := nuxariv1.SealingKeyStatus_SEALING_KEY_STATUS_ENABLED
	if !k.Enabled {
		st = nuxariv1.SealingKeyStatus_SEALING_KEY_STATUS_DISABLED
	}
	return &nuxariv1.SealingKey{KeyId: k.ID, Status: st, Primary: k.Primary, Credentials: uint32(k.Credentials)}
}

// RotateSealingKey implements ConnectorService.RotateSealingKey.
func (h *Handlers) RotateSealingKey(ctx context.Context, req *connect.Request[nuxariv1.RotateSealingKeyRequest]) (*connect.Response[nuxariv1.RotateSealingKeyResponse], error) {
	return call(h, ctx, req, func(p *core.Principal, m *nuxariv1.RotateSealingKeyRequest) (*nuxariv1.RotateSealingKeyResponse, error) {
		k, job, err := h.svc.Connectors.RotateKey(ctx, p)
		return &nuxariv1.RotateSealingKeyResponse{Key: keyOut(k), ResealJobId: job}, err
	})
}
