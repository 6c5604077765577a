package cli_test

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nuxari/nuxari/cli"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
)

// connectorPassword is the password the tests give connectors: it must
// reach the server and never be printed.
const connectorPassword = "pg-Secret 7/x"

// fakeToken is the bearer token the harness sends to the fake.
const fakeToken = "nxa.acme.fake-token"

// fakeConnectors is a ConnectorService that records its requests and
// answers from a few fixed connectors. IDs ending in "-missing" are not
// found and those ending in "-forbidden" are denied, for every method.
type fakeConnectors struct {
	nuxariv1connect.UnimplementedConnectorServiceHandler
	t *testing.T

	callLog
	mu         sync.Mutex
	connectors map[string]*nuxariv1.Connector
	syncPolls  map[string]int // GetSync calls by sync ID
	keyPolls   int
	grantSnap  func(page int) string // the snapshot's sync ID for a grants page
	resealEnd  string                // the reseal job's final state
}

func newFakeConnectors(t *testing.T) *fakeConnectors {
	return &fakeConnectors{t: t, connectors: map[string]*nuxariv1.Connector{}, syncPolls: map[string]int{}, resealEnd: "succeeded"}
}

// serve serves f on loopback and points h at it.
func (f *fakeConnectors) serve(h *harness) {
	path, handler := nuxariv1connect.NewConnectorServiceHandler(f, fakeTokenCheck())
	serveFake(f.t, h, path, handler)
}

// record records a request and fails it as its ID asks.
func (f *fakeConnectors) record(method, id string, msg proto.Message) error {
	f.add(method, msg)
	switch {
	case strings.HasSuffix(id, "-missing"):
		return connect.NewError(connect.CodeNotFound, fmt.Errorf("connector %s not found", id))
	case strings.HasSuffix(id, "-forbidden"):
		return connect.NewError(connect.CodePermissionDenied, errors.New("the role auditor may not manage connectors"))
	}
	return nil
}

// set changes the fake's behaviour.
func (f *fakeConnectors) set(change func(f *fakeConnectors)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change(f)
}

func (f *fakeConnectors) put(c *nuxariv1.Connector) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connectors[c.GetConnectorId()] = c
}

func (f *fakeConnectors) get(id string) (*nuxariv1.Connector, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.connectors[id]
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("connector %s not found", id))
	}
	return proto.Clone(c).(*nuxariv1.Connector), nil
}

var fakeTime = timestamppb.New(time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC))

func (f *fakeConnectors) CreateConnector(_ context.Context, req *connect.Request[nuxariv1.CreateConnectorRequest]) (*connect.Response[nuxariv1.CreateConnectorResponse], error) {
	if err := f.record("CreateConnector", req.Msg.GetName(), req.Msg); err != nil {
		return nil, err
	}
	m := req.Msg
	var creds []*nuxariv1.CredentialField
	if m.GetCredentials().GetPostgres().GetPassword() != "" {
		creds = append(creds, &nuxariv1.CredentialField{Name: "password", RotateTime: fakeTime, KeyId: 1})
	}
	if m.GetCredentials().GetPostgres().GetClientKeyPem() != "" {
		creds = append(creds, &nuxariv1.CredentialField{Name: "client_key_pem", RotateTime: fakeTime, KeyId: 1})
	}
	c := &nuxariv1.Connector{
		ConnectorId: "0123456789abcdef01234567", Name: m.GetName(), Kind: "postgres", State: nuxariv1.ConnectorState_CONNECTOR_STATE_ACTIVE,
		Settings: m.GetSettings(), Credentials: creds, SyncInterval: m.GetSyncInterval(),
		CreateTime: fakeTime, UpdateTime: fakeTime, CreatedBy: "token:t1",
	}
	f.put(c)
	return connect.NewResponse(&nuxariv1.CreateConnectorResponse{Connector: c}), nil
}

func (f *fakeConnectors) GetConnector(_ context.Context, req *connect.Request[nuxariv1.GetConnectorRequest]) (*connect.Response[nuxariv1.GetConnectorResponse], error) {
	if err := f.record("GetConnector", req.Msg.GetConnectorId(), req.Msg); err != nil {
		return nil, err
	}
	c, err := f.get(req.Msg.GetConnectorId())
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nuxariv1.GetConnectorResponse{Connector: c}), nil
}

// ListConnectors hands out connectors c0…c4, two a page.
func (f *fakeConnectors) ListConnectors(_ context.Context, req *connect.Request[nuxariv1.ListConnectorsRequest]) (*connect.Response[nuxariv1.ListConnectorsResponse], error) {
	if err := f.record("ListConnectors", "", req.Msg); err != nil {
		return nil, err
	}
	page, _ := strconv.Atoi(strings.TrimPrefix(req.Msg.GetPageToken(), "page-"))
	res := &nuxariv1.ListConnectorsResponse{}
	for i := 2 * page; i < 2*page+2 && i < 5; i++ {
		c := &nuxariv1.Connector{ConnectorId: fmt.Sprintf("c%d", i), Name: fmt.Sprintf("db-%d", i), Kind: "postgres", State: nuxariv1.ConnectorState_CONNECTOR_STATE_PAUSED}
		if i == 3 {
			c.LastSync = &nuxariv1.SyncSummary{SyncId: "s3", SyncTime: fakeTime, Grants: 42}
		}
		res.Connectors = append(res.Connectors, c)
	}
	if 2*page+2 < 5 {
		res.NextPageToken = fmt.Sprintf("page-%d", page+1)
	}
	return connect.NewResponse(res), nil
}

func (f *fakeConnectors) UpdateConnector(_ context.Context, req *connect.Request[nuxariv1.UpdateConnectorRequest]) (*connect.Response[nuxariv1.UpdateConnectorResponse], error) {
	if err := f.record("UpdateConnector", req.Msg.GetConnectorId(), req.Msg); err != nil {
		return nil, err
	}
	c, err := f.get(req.Msg.GetConnectorId())
	if err != nil {
		return nil, err
	}
	if req.Msg.Name != nil {
		c.Name = req.Msg.GetName()
	}
	if req.Msg.GetSettings() != nil {
		c.Settings = req.Msg.GetSettings()
	}
	if req.Msg.GetSyncInterval() != nil {
		c.SyncInterval = req.Msg.GetSyncInterval()
	}
	f.put(c)
	return connect.NewResponse(&nuxariv1.UpdateConnectorResponse{Connector: c}), nil
}

// TestConnector passes for IDs that start with "good".
func (f *fakeConnectors) TestConnector(_ context.Context, req *connect.Request[nuxariv1.TestConnectorRequest]) (*connect.Response[nuxariv1.TestConnectorResponse], error) {
	id := req.Msg.GetConnectorId()
	if err := f.record("TestConnector", id, req.Msg); err != nil {
		return nil, err
	}
	res := &nuxariv1.TestConnectorResponse{Ok: true, Connector: &nuxariv1.Connector{ConnectorId: id, State: nuxariv1.ConnectorState_CONNECTOR_STATE_ACTIVE}}
	if !strings.HasPrefix(id, "good") {
		res = &nuxariv1.TestConnectorResponse{Error: "the server refused the login: password authentication failed",
			Connector: &nuxariv1.Connector{ConnectorId: id, State: nuxariv1.ConnectorState_CONNECTOR_STATE_FAILED}}
	}
	return connect.NewResponse(res), nil
}

func (f *fakeConnectors) stateChange(method, id string, msg proto.Message, state nuxariv1.ConnectorState) (*nuxariv1.Connector, error) {
	if err := f.record(method, id, msg); err != nil {
		return nil, err
	}
	return &nuxariv1.Connector{ConnectorId: id, Name: "db", Kind: "postgres", State: state}, nil
}

func (f *fakeConnectors) PauseConnector(_ context.Context, req *connect.Request[nuxariv1.PauseConnectorRequest]) (*connect.Response[nuxariv1.PauseConnectorResponse], error) {
	c, err := f.stateChange("PauseConnector", req.Msg.GetConnectorId(), req.Msg, nuxariv1.ConnectorState_CONNECTOR_STATE_PAUSED)
	if err != nil {
		return nil, err
	}
	c.StateReason = req.Msg.GetReason()
	return connect.NewResponse(&nuxariv1.PauseConnectorResponse{Connector: c}), nil
}

func (f *fakeConnectors) ResumeConnector(_ context.Context, req *connect.Request[nuxariv1.ResumeConnectorRequest]) (*connect.Response[nuxariv1.ResumeConnectorResponse], error) {
	c, err := f.stateChange("ResumeConnector", req.Msg.GetConnectorId(), req.Msg, nuxariv1.ConnectorState_CONNECTOR_STATE_ACTIVE)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nuxariv1.ResumeConnectorResponse{Connector: c}), nil
}

func (f *fakeConnectors) DecommissionConnector(_ context.Context, req *connect.Request[nuxariv1.DecommissionConnectorRequest]) (*connect.Response[nuxariv1.DecommissionConnectorResponse], error) {
	c, err := f.stateChange("DecommissionConnector", req.Msg.GetConnectorId(), req.Msg, nuxariv1.ConnectorState_CONNECTOR_STATE_DECOMMISSIONED)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&nuxariv1.DecommissionConnectorResponse{Connector: c}), nil
}

// RotateCredentials refuses the password "refused".
func (f *fakeConnectors) RotateCredentials(_ context.Context, req *connect.Request[nuxariv1.RotateCredentialsRequest]) (*connect.Response[nuxariv1.RotateCredentialsResponse], error) {
	c, err := f.stateChange("RotateCredentials", req.Msg.GetConnectorId(), req.Msg, nuxariv1.ConnectorState_CONNECTOR_STATE_ACTIVE)
	if err != nil {
		return nil, err
	}
	if req.Msg.GetCredentials().GetPostgres().GetPassword() == "refused" {
		return nil, connect.NewError(connect.CodeFailedPrecondition, errors.New("the system refused the new credentials; the old ones stay in force"))
	}
	c.Credentials = []*nuxariv1.CredentialField{{Name: "password", RotateTime: fakeTime, KeyId: 2}}
	return connect.NewResponse(&nuxariv1.RotateCredentialsResponse{Connector: c}), nil
}

// SyncConnector starts sync "sync-<ID>". GetSync reports it running, with
// more items read at each call, until its second call; then a sync of a
// connector whose ID starts with "good" has succeeded, one that starts
// with "bad" has failed, and any other is still running.
func (f *fakeConnectors) SyncConnector(_ context.Context, req *connect.Request[nuxariv1.SyncConnectorRequest]) (*connect.Response[nuxariv1.SyncConnectorResponse], error) {
	id := req.Msg.GetConnectorId()
	if err := f.record("SyncConnector", id, req.Msg); err != nil {
		return nil, err
	}
	return connect.NewResponse(&nuxariv1.SyncConnectorResponse{Sync: &nuxariv1.Sync{
		SyncId: "sync-" + id, ConnectorId: id, State: nuxariv1.SyncState_SYNC_STATE_RUNNING, RequestedBy: "token:t1", CreateTime: fakeTime,
	}}), nil
}

func (f *fakeConnectors) GetSync(_ context.Context, req *connect.Request[nuxariv1.GetSyncRequest]) (*connect.Response[nuxariv1.GetSyncResponse], error) {
	id := req.Msg.GetSyncId()
	if err := f.record("GetSync", id, req.Msg); err != nil {
		return nil, err
	}
	connector, ok := strings.CutPrefix(id, "sync-")
	if !ok {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("sync %s not found", id))
	}
	f.mu.Lock()
	f.syncPolls[id]++
	n := f.syncPolls[id]
	f.mu.Unlock()
	s := &nuxariv1.Sync{SyncId: id, ConnectorId: connector, State: nuxariv1.SyncState_SYNC_STATE_RUNNING, RequestedBy: "token:t1",
		CreateTime: fakeTime, ItemsRead: uint64(100 * n)}
	if n >= 2 {
		switch {
		case strings.HasPrefix(connector, "good"):
			s.State, s.CompleteTime = nuxariv1.SyncState_SYNC_STATE_SUCCEEDED, fakeTime
			s.Summary = &nuxariv1.SyncSummary{SyncId: id, SyncTime: fakeTime, Identities: 3, Entitlements: 4, Grants: 5, GrantsDigest: strings.Repeat("ab", 32)}
		case strings.HasPrefix(connector, "bad"):
			s.State, s.CompleteTime = nuxariv1.SyncState_SYNC_STATE_FAILED, fakeTime
			s.Error = "reading grants: permission denied for table pg_auth_members"
		}
	}
	return connect.NewResponse(&nuxariv1.GetSyncResponse{Sync: s}), nil
}

// ListGrants hands out grants g0…g6, three a page; grantSnap names each
// page's snapshot.
func (f *fakeConnectors) ListGrants(_ context.Context, req *connect.Request[nuxariv1.ListGrantsRequest]) (*connect.Response[nuxariv1.ListGrantsResponse], error) {
	if err := f.record("ListGrants", req.Msg.GetConnectorId(), req.Msg); err != nil {
		return nil, err
	}
	page, _ := strconv.Atoi(strings.TrimPrefix(req.Msg.GetPageToken(), "grants-"))
	snap := "sync-7"
	f.mu.Lock()
	if f.grantSnap != nil {
		snap = f.grantSnap(page)
	}
	f.mu.Unlock()
	res := &nuxariv1.ListGrantsResponse{Snapshot: &nuxariv1.SyncSummary{SyncId: snap, SyncTime: fakeTime, Grants: 7}}
	for i := 3 * page; i < 3*page+3 && i < 7; i++ {
		res.Grants = append(res.Grants, &nuxariv1.Grant{
			IdentityId: fmt.Sprintf("role:%d", i), IdentityName: fmt.Sprintf("user%d", i),
			EntitlementId: fmt.Sprintf("ent:%d", i), EntitlementName: fmt.Sprintf("entitlement%d", i), EntitlementKind: "role",
		})
	}
	if 3*page+3 < 7 {
		res.NextPageToken = fmt.Sprintf("grants-%d", page+1)
	}
	return connect.NewResponse(res), nil
}

// GetSealingKeys reports keys 1 and 2 and the reseal job "job-2": running
// at the first call after a rotation, then resealEnd.
func (f *fakeConnectors) GetSealingKeys(_ context.Context, req *connect.Request[nuxariv1.GetSealingKeysRequest]) (*connect.Response[nuxariv1.GetSealingKeysResponse], error) {
	if err := f.record("GetSealingKeys", "", req.Msg); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.keyPolls++
	state := f.resealEnd
	if f.keyPolls == 1 {
		state = "running"
	}
	f.mu.Unlock()
	return connect.NewResponse(&nuxariv1.GetSealingKeysResponse{
		Keys: []*nuxariv1.SealingKey{
			{KeyId: 1, Status: nuxariv1.SealingKeyStatus_SEALING_KEY_STATUS_DISABLED},
			{KeyId: 2, Status: nuxariv1.SealingKeyStatus_SEALING_KEY_STATUS_ENABLED, Primary: true, Credentials: 9},
		},
		ResealJobId: "job-2", ResealState: state,
	}), nil
}

func (f *fakeConnectors) RotateSealingKey(_ context.Context, req *connect.Request[nuxariv1.RotateSealingKeyRequest]) (*connect.Response[nuxariv1.RotateSealingKeyResponse], error) {
	if err := f.record("RotateSealingKey", "", req.Msg); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.keyPolls = 0
	f.mu.Unlock()
	return connect.NewResponse(&nuxariv1.RotateSealingKeyResponse{
		Key:         &nuxariv1.SealingKey{KeyId: 2, Status: nuxariv1.SealingKeyStatus_SEALING_KEY_STATUS_ENABLED, Primary: true},
		ResealJobId: "job-2",
	}), nil
}

// connectorHarness returns a harness that talks to a new fake
// ConnectorService, and the fake.
func connectorHarness(t *testing.T) (*harness, *fakeConnectors) {
	t.Helper()
	h := newHarness(t)
	f := newFakeConnectors(t)
	f.serve(h)
	return h, f
}

// noSecrets fails if anything nuxctl printed holds a secret.
func noSecrets(t *testing.T, h *harness, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(h.output.String(), s) {
			t.Errorf("nuxctl printed a credential (%d bytes)", len(s))
		}
	}
}

// writeFile writes a file in a test directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func pemOf(typ, body string) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: []byte(body)}))
}

// createArgs are the arguments of a minimal 'connector create'.
func createArgs(more ...string) []string {
	return append([]string{"connector", "create", "--name", "prod-db", "--kind", "postgres", "--host", "db.internal", "--database", "app", "--user", "nuxari"}, more...)
}

func postgresCreds(m proto.Message) *nuxariv1.PostgresCredentials {
	switch m := m.(type) {
	case *nuxariv1.CreateConnectorRequest:
		return m.GetCredentials().GetPostgres()
	case *nuxariv1.RotateCredentialsRequest:
		return m.GetCredentials().GetPostgres()
	}
	return nil
}

// TestConnectorCreate: every flag reaches its field of the request, and
// the password reaches the server exactly, from standard input or a file,
// without ever being printed.
func TestConnectorCreate(t *testing.T) {
	h, f := connectorHarness(t)
	ca, cert, key := pemOf("CERTIFICATE", "ca"), pemOf("CERTIFICATE", "cert")+pemOf("CERTIFICATE", "intermediate"), pemOf("PRIVATE KEY", "client-key-secret")
	caFile, certFile, keyFile := writeFile(t, "ca.pem", ca), writeFile(t, "cert.pem", cert), writeFile(t, "key.pem", key)

	r := h.ok(connectorPassword+"\n", createArgs("--port", "6432", "--tls-mode", "require", "--ca-file", caFile,
		"--client-cert-file", certFile, "--client-key-file", keyFile, "--connect-timeout", "30s", "--privilege-entitlements",
		"--role-prefix", "app_", "--sync-interval", "1h", "--password-stdin")...)
	for _, want := range []string{"Connector:", "0123456789abcdef01234567", "prod-db", "active", "db.internal", "6432", "require",
		"1 PEM certificates", "2 PEM certificates", "30s", "yes", `names starting with "app_"`, "password (sealed under key 1", "client_key_pem", "1h0m0s", "never synced"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("create: stdout does not contain %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "nuxctl connector test 0123456789abcdef01234567") {
		t.Errorf("create: stderr does not say how to test the connector: %q", r.stderr)
	}
	reqs := f.requests("CreateConnector")
	if len(reqs) != 1 {
		t.Fatalf("CreateConnector called %d times", len(reqs))
	}
	req := reqs[0].(*nuxariv1.CreateConnectorRequest)
	want := &nuxariv1.PostgresSettings{Host: "db.internal", Port: 6432, Database: "app", User: "nuxari", TlsMode: "require",
		CaPem: ca, ClientCertPem: cert, ConnectTimeoutSeconds: 30, PrivilegeEntitlements: true, RolePrefix: "app_"}
	if !proto.Equal(req.GetSettings().GetPostgres(), want) {
		t.Errorf("settings:\n got %v\nwant %v", req.GetSettings().GetPostgres(), want)
	}
	if req.GetName() != "prod-db" || req.GetSyncInterval().AsDuration() != time.Hour {
		t.Errorf("name %q, sync interval %v", req.GetName(), req.GetSyncInterval())
	}
	if c := postgresCreds(req); c.GetPassword() != connectorPassword || c.GetClientKeyPem() != key {
		t.Errorf("credentials did not reach the server as given (password %d bytes, key %d bytes)", len(c.GetPassword()), len(c.GetClientKeyPem()))
	}

	// The password from a file, from "-", with CRLF, and with one of two
	// newlines dropped; the defaults left to the server.
	tests := []struct {
		name, stdin, file, want string
		args                    []string
	}{
		{"file", "", connectorPassword + "\n", connectorPassword, nil},
		{"file without newline", "", connectorPassword, connectorPassword, nil},
		{"file with CRLF", "", connectorPassword + "\r\n", connectorPassword, nil},
		{"file with two newlines", "", connectorPassword + "\n\n", connectorPassword + "\n", nil},
		{"stdin without newline", connectorPassword, "", connectorPassword, []string{"--password-stdin"}},
		{"file -", connectorPassword + "\r\n", "", connectorPassword, []string{"--password-file", "-"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.t = t
			args := tt.args
			if tt.file != "" {
				args = []string{"--password-file", writeFile(t, "pw", tt.file)}
			}
			h.ok(tt.stdin, createArgs(args...)...)
			reqs := f.requests("CreateConnector")
			req := reqs[len(reqs)-1].(*nuxariv1.CreateConnectorRequest)
			if got := postgresCreds(req).GetPassword(); got != tt.want {
				t.Errorf("the password reached the server as %d bytes, want %d (%q vs %q)", len(got), len(tt.want), redact(got), redact(tt.want))
			}
			if got := req.GetSettings().GetPostgres(); got.GetPort() != 0 || got.GetTlsMode() != "" || got.GetConnectTimeoutSeconds() != 0 || req.GetSyncInterval() != nil {
				t.Errorf("defaults: settings %v, sync interval %v", got, req.GetSyncInterval())
			}
		})
	}
	h.t = t

	// --json: the connector in snake_case, no credential.
	r = h.ok(connectorPassword+"\n", createArgs("--json", "--password-stdin", "--client-key-file", keyFile)...)
	checkNames(t, "connector create --json", []byte(r.stdout))
	var got struct {
		ConnectorID string `json:"connector_id"`
		Credentials []struct {
			Name  string `json:"name"`
			KeyID int    `json:"key_id"`
		} `json:"credentials"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.ConnectorID == "" || len(got.Credentials) != 2 {
		t.Errorf("create --json: %v %+v\n%s", err, got, r.stdout)
	}
	noSecrets(t, h, connectorPassword, "client-key-secret", strings.TrimSpace(key))
}

// redact shows a string's shape, not its text.
func redact(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return r
		}
		return 'x'
	}, s)
}

// TestConnectorBadInput: a bad command line is a usage error (exit 2),
// found before any call to the server, and the error never shows a
// credential.
func TestConnectorBadInput(t *testing.T) {
	h, f := connectorHarness(t)
	pw := writeFile(t, "pw", connectorPassword+"\n")
	big := writeFile(t, "big", strings.Repeat("p", 100<<10))
	empty := writeFile(t, "empty", "\n")
	notPEM := writeFile(t, "ca.pem", connectorPassword)
	dir := t.TempDir()
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"no credential", "", createArgs(), "no credentials"},
		{"both password flags", connectorPassword, createArgs("--password-stdin", "--password-file", pw), "give one of --password-file and --password-stdin"},
		{"both password flags, stdin", connectorPassword, createArgs("--password-stdin", "--password-file", "-"), "give one of --password-file and --password-stdin"},
		{"stdin twice", connectorPassword, createArgs("--password-stdin", "--client-key-file", "-"), "only one credential can come from standard input"},
		{"empty password on stdin", "\n", createArgs("--password-stdin"), "the password is empty"},
		{"no stdin", "", createArgs("--password-stdin"), "the password is empty"},
		{"empty password file", "", createArgs("--password-file", empty), "the password is empty"},
		{"password file flag empty", "", createArgs("--password-file="), "--password-file needs a FILE"},
		{"100 KiB password file", "", createArgs("--password-file", big), "is larger than 64.0 KiB"},
		{"100 KiB password on stdin", strings.Repeat("p", 100<<10), createArgs("--password-stdin"), "standard input holds more than 64.0 KiB"},
		{"password file is a directory", "", createArgs("--password-file", dir), "is a directory"},
		{"password file missing", "", createArgs("--password-file", filepath.Join(dir, "none")), "no such file"},
		{"key file is a directory", "", createArgs("--client-key-file", dir), "is a directory"},
		{"empty key file", "", createArgs("--client-key-file", empty), "is empty"},
		{"unknown tls mode", connectorPassword, createArgs("--password-stdin", "--tls-mode", "prefer"), `unknown --tls-mode "prefer"`},
		{"unknown kind", connectorPassword, append(createArgs("--password-stdin"), "--kind", "mysql"), `unknown --kind "mysql"`},
		{"no kind", connectorPassword, []string{"connector", "create", "--name", "n", "--host", "h", "--database", "d", "--user", "u", "--password-stdin"}, "--kind is required"},
		{"no host", connectorPassword, []string{"connector", "create", "--name", "n", "--kind", "postgres", "--database", "d", "--user", "u", "--password-stdin"}, "--host is required"},
		{"bad port", connectorPassword, createArgs("--password-stdin", "--port", "70000"), `invalid argument "70000" for "--port"`},
		{"connect timeout not whole seconds", connectorPassword, createArgs("--password-stdin", "--connect-timeout", "1500ms"), "--connect-timeout must be whole seconds"},
		{"connect timeout too long", connectorPassword, createArgs("--password-stdin", "--connect-timeout", "10m"), "--connect-timeout must be at most 5m0s"},
		{"role prefix too long", connectorPassword, createArgs("--password-stdin", "--role-prefix", strings.Repeat("a", 64)), "--role-prefix is 64 bytes"},
		{"role prefix with a newline", connectorPassword, createArgs("--password-stdin", "--role-prefix", "app\n"), "--role-prefix must be text"},
		{"negative sync interval", connectorPassword, createArgs("--password-stdin", "--sync-interval", "-1h"), "--sync-interval must not be negative"},
		{"ca file not PEM", connectorPassword, createArgs("--password-stdin", "--ca-file", notPEM), "holds no PEM block"},
		{"ca file from stdin", connectorPassword, createArgs("--password-file", pw, "--ca-file", "-"), "--ca-file must name a file"},
		{"password as a flag", "", createArgs("--password", connectorPassword), "unknown flag: --password"},
		{"update nothing", "", []string{"connector", "update", "c1"}, "nothing to change"},
		{"update unknown tls mode", "", []string{"connector", "update", "c1", "--tls-mode", "allow"}, `unknown --tls-mode "allow"`},
		{"rotate no credential", "", []string{"connector", "rotate", "c1"}, "no credentials"},
		{"rotate empty password", "\r\n", []string{"connector", "rotate", "c1", "--password-stdin"}, "the password is empty"},
		{"rotate 100 KiB password file", "", []string{"connector", "rotate", "c1", "--password-file", big}, "is larger than 64.0 KiB"},
		{"rotate both password flags", "", []string{"connector", "rotate", "c1", "--password-stdin", "--password-file", pw}, "give one of"},
		{"sync timeout without wait", "", []string{"connector", "sync", "c1", "--timeout", "1m"}, "--timeout needs --wait"},
		{"keys rotate timeout without wait", "", []string{"connector", "keys", "rotate", "--timeout", "1m"}, "--timeout needs --wait"},
		{"get without ID", "", []string{"connector", "get"}, "missing arguments: want CONNECTOR_ID"},
		{"grants extra argument", "", []string{"connector", "grants", "c1", "c2"}, `unexpected argument "c2"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.t = t
			r := h.fails(cli.ExitUsage, []string{tt.want}, tt.stdin, tt.args...)
			if r.stdout != "" {
				t.Errorf("stdout on a usage error: %q", r.stdout)
			}
		})
	}
	h.t = t
	if m := f.methods(); len(m) != 0 {
		t.Errorf("bad command lines called the server: %v", m)
	}
	noSecrets(t, h, connectorPassword)
}

// TestConnectorUpdate: the settings flags apply over the current
// settings, which go back whole; other fields go only when given.
func TestConnectorUpdate(t *testing.T) {
	h, f := connectorHarness(t)
	cur := &nuxariv1.PostgresSettings{Host: "db.internal", Port: 5433, Database: "app", User: "nuxari", TlsMode: "verify-full",
		CaPem: pemOf("CERTIFICATE", "ca"), ClientCertPem: pemOf("CERTIFICATE", "cert"), ConnectTimeoutSeconds: 20, PrivilegeEntitlements: true,
		RolePrefix: "app_"}
	f.put(&nuxariv1.Connector{ConnectorId: "c1", Name: "db", Kind: "postgres", State: nuxariv1.ConnectorState_CONNECTOR_STATE_ACTIVE,
		Settings: &nuxariv1.ConnectorSettings{Kind: &nuxariv1.ConnectorSettings_Postgres{Postgres: cur}}, SyncInterval: durationpb.New(time.Hour)})
	newCA := pemOf("CERTIFICATE", "new-ca")

	r := h.ok("", "connector", "update", "c1", "--host", "db2.internal", "--port", "6543", "--tls-mode", "disable", "--ca-file", writeFile(t, "ca.pem", newCA),
		"--client-cert-file=", "--privilege-entitlements=false", "--name", "db-two", "--sync-interval", "0")
	if !strings.Contains(r.stdout, "db2.internal") || !strings.Contains(r.stdout, "db-two") || !strings.Contains(r.stdout, "syncs only by hand") {
		t.Errorf("update:\n%s", r.stdout)
	}
	if m := f.methods(); strings.Join(m, " ") != "GetConnector UpdateConnector" {
		t.Fatalf("update called %v, want GetConnector then UpdateConnector", m)
	}
	req := f.requests("UpdateConnector")[0].(*nuxariv1.UpdateConnectorRequest)
	want := &nuxariv1.PostgresSettings{Host: "db2.internal", Port: 6543, Database: "app", User: "nuxari", TlsMode: "disable",
		CaPem: newCA, ConnectTimeoutSeconds: 20, RolePrefix: "app_"}
	if !proto.Equal(req.GetSettings().GetPostgres(), want) {
		t.Errorf("settings:\n got %v\nwant %v", req.GetSettings().GetPostgres(), want)
	}
	if req.Name == nil || req.GetName() != "db-two" || req.GetSyncInterval() == nil || req.GetSyncInterval().AsDuration() != 0 || req.GetConnectorId() != "c1" {
		t.Errorf("update request: %v", req)
	}

	// Only the name: no settings are read or sent, the interval stays.
	f.reset()
	var got struct {
		Name string `json:"name"`
	}
	h.jsonOut(&got, "connector", "update", "c1", "--name", "db-three")
	if m := f.methods(); strings.Join(m, " ") != "UpdateConnector" {
		t.Fatalf("update --name called %v", m)
	}
	req = f.requests("UpdateConnector")[0].(*nuxariv1.UpdateConnectorRequest)
	if req.GetSettings() != nil || req.GetSyncInterval() != nil || req.GetName() != "db-three" || got.Name != "db-three" {
		t.Errorf("update --name: %v, printed %+v", req, got)
	}

	// One setting: the rest as they are.
	f.reset()
	h.ok("", "connector", "update", "c1", "--connect-timeout", "45s")
	req = f.requests("UpdateConnector")[0].(*nuxariv1.UpdateConnectorRequest)
	want.ConnectTimeoutSeconds = 45
	if !proto.Equal(req.GetSettings().GetPostgres(), want) || req.Name != nil {
		t.Errorf("update --connect-timeout: %v", req)
	}

	// The role prefix: changed, then removed.
	for _, prefix := range []string{"team_%", ""} {
		f.reset()
		h.ok("", "connector", "update", "c1", "--role-prefix", prefix)
		req = f.requests("UpdateConnector")[0].(*nuxariv1.UpdateConnectorRequest)
		want.RolePrefix = prefix
		if !proto.Equal(req.GetSettings().GetPostgres(), want) {
			t.Errorf("update --role-prefix %q: %v", prefix, req)
		}
	}

	// Not found before anything is sent.
	f.reset()
	h.fails(cli.ExitNotFound, []string{"nuxctl: not_found: "}, "", "connector", "update", "c9-missing", "--host", "h")
	if m := f.methods(); strings.Join(m, " ") != "GetConnector" {
		t.Errorf("update of a missing connector called %v", m)
	}
}

// TestConnectorExitCodes: not found exits 3, permission denied 4, another
// error 1; stdout stays empty.
func TestConnectorExitCodes(t *testing.T) {
	h, _ := connectorHarness(t)
	pw := writeFile(t, "pw", connectorPassword)
	tests := []struct {
		code int
		want string
		args []string
	}{
		{cli.ExitNotFound, "nuxctl: not_found: connector c1-missing not found", []string{"connector", "get", "c1-missing"}},
		{cli.ExitNotFound, "nuxctl: not_found: ", []string{"connector", "test", "c1-missing"}},
		{cli.ExitNotFound, "nuxctl: not_found: ", []string{"connector", "sync-status", "nosuchsync"}},
		{cli.ExitNotFound, "nuxctl: not_found: ", []string{"connector", "grants", "c1-missing"}},
		{cli.ExitNotFound, "nuxctl: not_found: ", []string{"connector", "rotate", "c1-missing", "--password-file", pw}},
		{cli.ExitPermissionDenied, "nuxctl: permission_denied: the role auditor", []string{"connector", "pause", "c1-forbidden"}},
		{cli.ExitPermissionDenied, "nuxctl: permission_denied: ", []string{"connector", "decommission", "c1-forbidden"}},
		{cli.ExitPermissionDenied, "nuxctl: permission_denied: ", append(createArgs("--password-file", pw), "--name", "x-forbidden")},
		{cli.ExitPermissionDenied, "nuxctl: permission_denied: ", []string{"connector", "sync", "c1-forbidden", "--wait"}},
		{cli.ExitFailure, "nuxctl: failed_precondition: the system refused the new credentials", []string{"connector", "rotate", "c1", "--password-file", writeFile(t, "refused", "refused\n")}},
		{cli.ExitUnauthenticated, "nuxctl: unauthenticated: ", []string{"--token", "wrong", "connector", "list"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			h.t = t
			if r := h.fails(tt.code, []string{tt.want}, "", tt.args...); r.stdout != "" {
				t.Errorf("stdout on failure: %q", r.stdout)
			}
		})
	}
	h.t = t
	noSecrets(t, h, connectorPassword)
}

// TestConnectorListAndGrants: list and grants follow next_page_token to
// the end, as a table or one JSON document.
func TestConnectorListAndGrants(t *testing.T) {
	h, f := connectorHarness(t)
	r := h.ok("", "connector", "list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 6 || strings.Join(strings.Fields(lines[0]), " ") != "CONNECTOR ID NAME KIND STATE LAST SYNC GRANTS" {
		t.Fatalf("list:\n%s", r.stdout)
	}
	for i := range 5 {
		if !strings.HasPrefix(lines[i+1], fmt.Sprintf("c%d ", i)) || !strings.Contains(lines[i+1], "paused") {
			t.Errorf("list line %d: %q", i+1, lines[i+1])
		}
	}
	if !strings.Contains(lines[4], "2026-12-01T09:30:00Z") || !strings.HasSuffix(lines[4], " 42") || !strings.HasSuffix(lines[1], " -") {
		t.Errorf("list: last sync and grants:\n%s", r.stdout)
	}
	var tokens []string
	for _, m := range f.requests("ListConnectors") {
		tokens = append(tokens, m.(*nuxariv1.ListConnectorsRequest).GetPageToken())
	}
	if strings.Join(tokens, ",") != ",page-1,page-2" {
		t.Errorf("list asked for pages %q", tokens)
	}
	var list struct {
		Connectors []struct {
			ConnectorID string `json:"connector_id"`
		} `json:"connectors"`
		NextPageToken string `json:"next_page_token"`
	}
	h.jsonOut(&list, "connector", "list")
	if len(list.Connectors) != 5 || list.NextPageToken != "" {
		t.Errorf("list --json: %+v", list)
	}

	r = h.ok("", "connector", "grants", "c1")
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 8 || strings.Join(strings.Fields(lines[0]), " ") != "IDENTITY ENTITLEMENT KIND" {
		t.Fatalf("grants:\n%s", r.stdout)
	}
	for i := range 7 {
		if got := strings.Join(strings.Fields(lines[i+1]), " "); got != fmt.Sprintf("user%d entitlement%d role", i, i) {
			t.Errorf("grants line %d: %q", i+1, got)
		}
	}
	if !strings.Contains(r.stderr, "Snapshot of sync sync-7 at 2026-12-01T09:30:00Z: 7 grants") {
		t.Errorf("grants: stderr %q", r.stderr)
	}
	tokens = nil
	for _, m := range f.requests("ListGrants") {
		tokens = append(tokens, m.(*nuxariv1.ListGrantsRequest).GetPageToken())
	}
	if strings.Join(tokens, ",") != ",grants-1,grants-2" {
		t.Errorf("grants asked for pages %q", tokens)
	}
	r = h.ok("", "--json", "connector", "grants", "c1")
	checkNames(t, "connector grants --json", []byte(r.stdout))
	var grants struct {
		Grants []struct {
			IdentityID string `json:"identity_id"`
		} `json:"grants"`
		Snapshot struct {
			SyncID string `json:"sync_id"`
		} `json:"snapshot"`
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&grants); err != nil || dec.More() || len(grants.Grants) != 7 || grants.Snapshot.SyncID != "sync-7" || grants.Grants[6].IdentityID != "role:6" {
		t.Errorf("grants --json is not one document of every grant: %v %+v\n%s", err, grants, r.stdout)
	}

	// A new snapshot between pages: the listing fails.
	f.set(func(f *fakeConnectors) { f.grantSnap = func(page int) string { return fmt.Sprintf("sync-%d", 7+page) } })
	h.fails(cli.ExitFailure, []string{"a new snapshot (sync sync-8) replaced sync sync-7's"}, "", "connector", "grants", "c1")
}

// TestConnectorSync: sync without --wait names the sync; --wait exits 0
// when it succeeds, 6 when it fails, 7 on --timeout.
func TestConnectorSync(t *testing.T) {
	h, _ := connectorHarness(t)
	r := h.ok("", "connector", "sync", "good1")
	if !strings.Contains(r.stdout, "Sync sync-good1 is running. Follow it with: nuxctl connector sync-status sync-good1") {
		t.Errorf("sync:\n%s", r.stdout)
	}
	r = h.ok("", "connector", "sync", "good2", "--wait", "--timeout", "30s")
	if !strings.Contains(r.stderr, "waiting for sync sync-good2 of connector good2 to finish (up to 30s)") {
		t.Errorf("sync --wait: stderr %q", r.stderr)
	}
	for _, want := range []string{"State:", "succeeded", "Grants:", "Grants digest:", "Items read:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("sync --wait: stdout does not contain %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "sync sync-good2: 200 items read") {
		t.Errorf("sync --wait: no final progress line: %q", r.stderr)
	}

	r = h.fails(cli.ExitFailed, []string{"nuxctl: sync sync-bad1 failed: reading grants: permission denied for table pg_auth_members"}, "", "connector", "sync", "bad1", "--wait")
	if !strings.Contains(r.stdout, "failed") || !strings.Contains(r.stdout, "Error:") {
		t.Errorf("sync --wait of a failing sync: stdout:\n%s", r.stdout)
	}
	r = h.fails(cli.ExitFailed, nil, "", "--json", "connector", "sync", "bad2", "--wait")
	var s struct {
		SyncID string `json:"sync_id"`
		State  string `json:"state"`
		Error  string `json:"error"`
	}
	if err := jsonUnmarshal(r.stdout, &s); err != nil || s.State != "SYNC_STATE_FAILED" || s.Error == "" {
		t.Errorf("sync --wait --json of a failing sync: %v %+v\n%s", err, s, r.stdout)
	}

	start := time.Now()
	r = h.fails(cli.ExitTimeout, []string{"gave up after 300ms (--timeout) waiting for sync sync-slow of connector slow",
		"follow it with 'nuxctl connector sync-status sync-slow'"}, "", "connector", "sync", "slow", "--wait", "--timeout", "300ms")
	if time.Since(start) > 10*time.Second || r.stdout != "" {
		t.Errorf("sync --wait --timeout 300ms: %s, stdout %q", time.Since(start), r.stdout)
	}

	r = h.ok("", "connector", "sync-status", "sync-good3")
	if !strings.Contains(r.stdout, "running") || !strings.Contains(r.stdout, "100") {
		t.Errorf("sync-status:\n%s", r.stdout)
	}
	var st struct {
		ItemsRead string `json:"items_read"`
	}
	h.jsonOut(&st, "connector", "sync-status", "sync-good3")
	if st.ItemsRead != "200" {
		t.Errorf("sync-status --json: %+v", st)
	}
}

// TestConnectorStateCommands: get, test, pause, resume, decommission and
// rotate send what they are given and print the connector.
func TestConnectorStateCommands(t *testing.T) {
	h, f := connectorHarness(t)
	f.put(&nuxariv1.Connector{ConnectorId: "good1", Name: "db", Kind: "postgres", State: nuxariv1.ConnectorState_CONNECTOR_STATE_ACTIVE,
		Settings:    &nuxariv1.ConnectorSettings{Kind: &nuxariv1.ConnectorSettings_Postgres{Postgres: &nuxariv1.PostgresSettings{Host: "h", Database: "d", User: "u"}}},
		Credentials: []*nuxariv1.CredentialField{{Name: "password", RotateTime: fakeTime, KeyId: 1}},
		LastSync:    &nuxariv1.SyncSummary{SyncId: "s1", SyncTime: fakeTime, Identities: 1, Entitlements: 2, Grants: 3, GrantsDigest: "00ff"}})
	r := h.ok("", "connector", "get", "good1")
	for _, want := range []string{"Connector:", "good1", "5432 (default)", "verify-full (default)", "the system's roots", "10s (default)",
		"s1 at 2026-12-01T09:30:00Z: 1 identities, 2 entitlements, 3 grants", "00ff", "syncs only by hand"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("get: stdout does not contain %q:\n%s", want, r.stdout)
		}
	}

	if r := h.ok("", "connector", "test", "good1"); !strings.HasPrefix(r.stdout, "ok: connector good1 passed its test; it is active.") {
		t.Errorf("test of a good connector:\n%s", r.stdout)
	}
	r = h.fails(cli.ExitFailure, []string{"nuxctl: connector c2 failed its test: the server refused the login: password authentication failed"}, "", "connector", "test", "c2")
	if !strings.Contains(r.stdout, "failed") {
		t.Errorf("test of a failing connector: stdout %q", r.stdout)
	}
	r = h.fails(cli.ExitFailure, []string{"failed its test"}, "", "--json", "connector", "test", "c2")
	var tr struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := jsonUnmarshal(r.stdout, &tr); err != nil || tr.OK || tr.Error == "" {
		t.Errorf("test --json of a failing connector: %v %+v", err, tr)
	}

	if r := h.ok("", "connector", "pause", "c3", "--reason", "maintenance window"); !strings.Contains(r.stdout, "paused") || !strings.Contains(r.stdout, "maintenance window") {
		t.Errorf("pause:\n%s", r.stdout)
	}
	if req := f.requests("PauseConnector")[0].(*nuxariv1.PauseConnectorRequest); req.GetConnectorId() != "c3" || req.GetReason() != "maintenance window" {
		t.Errorf("pause request: %v", req)
	}
	if r := h.ok("", "connector", "resume", "c3"); !strings.Contains(r.stdout, "active") {
		t.Errorf("resume:\n%s", r.stdout)
	}
	var dec struct {
		State string `json:"state"`
	}
	h.jsonOut(&dec, "connector", "decommission", "c3", "--reason", "database retired")
	if dec.State != "CONNECTOR_STATE_DECOMMISSIONED" {
		t.Errorf("decommission --json: %+v", dec)
	}
	if req := f.requests("DecommissionConnector")[0].(*nuxariv1.DecommissionConnectorRequest); req.GetConnectorId() != "c3" || req.GetReason() != "database retired" {
		t.Errorf("decommission request: %v", req)
	}

	key := pemOf("PRIVATE KEY", "rotated-key-secret")
	r = h.ok(connectorPassword+"\n", "connector", "rotate", "c3", "--password-stdin", "--client-key-file", writeFile(t, "key.pem", key))
	if !strings.Contains(r.stdout, "sealed under key 2") {
		t.Errorf("rotate:\n%s", r.stdout)
	}
	req := f.requests("RotateCredentials")[0].(*nuxariv1.RotateCredentialsRequest)
	if c := postgresCreds(req); req.GetConnectorId() != "c3" || c.GetPassword() != connectorPassword || c.GetClientKeyPem() != key {
		t.Errorf("rotate: the credentials did not reach the server as given")
	}
	if req.Settings != nil {
		t.Errorf("rotate without settings flags sent settings: %v", req.Settings)
	}

	// A renewed client certificate goes with its new key: the settings
	// flags apply over the current settings, sent with the credentials.
	cert := pemOf("CERTIFICATE", "renewed")
	h.ok(connectorPassword+"\n", "connector", "rotate", "good1", "--password-stdin", "--client-key-file", writeFile(t, "key2.pem", key), "--client-cert-file", writeFile(t, "cert.pem", cert))
	req = f.requests("RotateCredentials")[1].(*nuxariv1.RotateCredentialsRequest)
	cur, _ := f.get("good1")
	want := proto.Clone(cur.GetSettings().GetPostgres()).(*nuxariv1.PostgresSettings)
	want.ClientCertPem = cert
	if got := req.GetSettings().GetPostgres(); !proto.Equal(got, want) {
		t.Errorf("rotate --client-cert-file sent settings %v, want %v", got, want)
	}
	noSecrets(t, h, connectorPassword, "rotated-key-secret")
}

// TestConnectorKeys: the sealing keys, and a rotation with and without
// --wait.
func TestConnectorKeys(t *testing.T) {
	h, f := connectorHarness(t)
	r := h.ok("", "connector", "keys")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 4 || strings.Join(strings.Fields(lines[0]), " ") != "KEY ID STATUS PRIMARY CREDENTIALS" ||
		strings.Join(strings.Fields(lines[2]), " ") != "2 enabled yes 9" || lines[3] != "Reseal job job-2: running." {
		t.Errorf("keys:\n%s", r.stdout)
	}
	var keys struct {
		Keys []struct {
			KeyID int `json:"key_id"`
		} `json:"keys"`
		ResealState string `json:"reseal_state"`
	}
	h.jsonOut(&keys, "connector", "keys")
	if len(keys.Keys) != 2 || keys.ResealState != "succeeded" {
		t.Errorf("keys --json: %+v", keys)
	}

	if r := h.ok("", "connector", "keys", "rotate"); !strings.Contains(r.stdout, "New primary sealing key 2. Reseal job job-2 started") {
		t.Errorf("keys rotate:\n%s", r.stdout)
	}
	r = h.ok("", "connector", "keys", "rotate", "--wait", "--timeout", "30s")
	if !strings.Contains(r.stderr, "waiting for reseal job job-2") || !strings.Contains(r.stdout, "Reseal job job-2: succeeded.") {
		t.Errorf("keys rotate --wait:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	f.set(func(f *fakeConnectors) { f.resealEnd = "failed" })
	h.fails(cli.ExitFailed, []string{"reseal job job-2 failed"}, "", "connector", "keys", "rotate", "--wait")
	f.set(func(f *fakeConnectors) { f.resealEnd = "running" })
	h.fails(cli.ExitTimeout, []string{"gave up after 250ms (--timeout) waiting for reseal job job-2 (still running)"}, "", "connector", "keys", "rotate", "--wait", "--timeout", "250ms")
}
