package cli

import (
	"context"
	"encoding/pem"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

// kindPostgres is the one kind of connector so far.
const kindPostgres = "postgres"

// connectorKinds are the kinds of connector, as --kind takes them.
var connectorKinds = []string{kindPostgres}

// tlsModes are the values of --tls-mode; the first is the server's
// default.
var tlsModes = []string{"verify-full", "require", "disable"}

// Defaults the server applies to zero settings (connector.proto).
const (
	defaultPostgresPort   = 5432
	defaultConnectTimeout = 10 * time.Second
	maxConnectTimeout     = 5 * time.Minute
	maxRolePrefix         = 63 // bytes: a PostgreSQL role name's length
)

// The states a reseal job ends in (GetSealingKeysResponse.reseal_state,
// which is "running" before).
const (
	resealSucceeded = "succeeded"
	resealFailed    = "failed"
)

func connectorStateName(s nuxariv1.ConnectorState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "CONNECTOR_STATE_"))
}

func syncStateName(s nuxariv1.SyncState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "SYNC_STATE_"))
}

func sealingKeyStatusName(s nuxariv1.SealingKeyStatus) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "SEALING_KEY_STATUS_"))
}

// syncDone reports whether a sync has ended. A state this nuxctl does not
// know is waited on, as running.
func syncDone(s *nuxariv1.Sync) bool {
	return s.GetState() == nuxariv1.SyncState_SYNC_STATE_SUCCEEDED || s.GetState() == nuxariv1.SyncState_SYNC_STATE_FAILED
}

// completeWith registers the completions of a flag that takes one of
// values.
func completeWith(cmd *cobra.Command, flag string, values []string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
}

// postgresFlags are the flags that set PostgresSettings.
type postgresFlags struct {
	host, database, user   string
	port                   uint16
	tlsMode                string
	caFile, clientCertFile string
	connectTimeout         time.Duration
	privilegeEntitlements  bool
	rolePrefix             string

	caPEM, clientCertPEM string // what load read from caFile and clientCertFile
}

// postgresFlagNames are the flags of postgresFlags.
var postgresFlagNames = []string{"host", "port", "database", "user", "tls-mode", "ca-file", "client-cert-file", "connect-timeout", "privilege-entitlements", "role-prefix"}

func addPostgresFlags(cmd *cobra.Command) *postgresFlags {
	p := &postgresFlags{}
	f := cmd.Flags()
	f.StringVar(&p.host, "host", "", "the PostgreSQL server's `HOST` name or IP address")
	f.Uint16Var(&p.port, "port", 0, "its TCP `PORT` (0: 5432)")
	f.StringVar(&p.database, "database", "", "the `DATABASE` to connect to")
	f.StringVar(&p.user, "user", "", "the `ROLE` the connector logs in as")
	f.StringVar(&p.tlsMode, "tls-mode", "", "the TLS `MODE`: "+strings.Join(tlsModes, "|")+" (default verify-full)")
	f.StringVar(&p.caFile, "ca-file", "", "PEM certificates the server's must chain to, from `FILE` (default: the system's roots; \"\" to go back to them)")
	f.StringVar(&p.clientCertFile, "client-cert-file", "", "PEM client certificate chain from `FILE`, for client-certificate authentication (\"\" for none)")
	f.DurationVar(&p.connectTimeout, "connect-timeout", 0, "bound connecting to the server: whole seconds, at most 5m (0: 10s)")
	f.BoolVar(&p.privilegeEntitlements, "privilege-entitlements", false, "also list database and schema privileges as entitlements")
	f.StringVar(&p.rolePrefix, "role-prefix", "", "govern only the roles whose names start with `PREFIX` (exact bytes, no wildcards; \"\" for every role)")
	completeWith(cmd, "tls-mode", tlsModes)
	return p
}

// changed reports whether a postgres settings flag is given.
func (p *postgresFlags) changed(cmd *cobra.Command) bool {
	for _, n := range postgresFlagNames {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

// check refuses bad values of the given flags, before anything is read
// or sent.
func (p *postgresFlags) check(cmd *cobra.Command) error {
	path, f := pathOf(cmd), cmd.Flags()
	if f.Changed("tls-mode") && !slices.Contains(tlsModes, p.tlsMode) {
		return usagef(path, "unknown --tls-mode %q: use one of %s", p.tlsMode, strings.Join(tlsModes, ", "))
	}
	if f.Changed("connect-timeout") {
		switch d := p.connectTimeout; {
		case d < 0:
			return usagef(path, "--connect-timeout must not be negative")
		case d%time.Second != 0:
			return usagef(path, "--connect-timeout must be whole seconds")
		case d > maxConnectTimeout:
			return usagef(path, "--connect-timeout must be at most %s", maxConnectTimeout)
		}
	}
	if f.Changed("role-prefix") {
		switch r := p.rolePrefix; {
		case len(r) > maxRolePrefix:
			return usagef(path, "--role-prefix is %d bytes: a role name has at most %d", len(r), maxRolePrefix)
		case !utf8.ValidString(r) || printable(r) != r:
			return usagef(path, "--role-prefix must be text without control characters")
		}
	}
	for _, n := range []string{"ca-file", "client-cert-file"} {
		if f.Lookup(n).Value.String() == stdinName {
			return usagef(path, "--%s must name a file, not standard input", n)
		}
	}
	return nil
}

// load reads the certificate files the flags name.
func (p *postgresFlags) load(e *env, cmd *cobra.Command) error {
	var err error
	if cmd.Flags().Changed("ca-file") {
		if p.caPEM, err = e.readPEMFlag(cmd, "ca-file", p.caFile); err != nil {
			return err
		}
	}
	if cmd.Flags().Changed("client-cert-file") {
		if p.clientCertPEM, err = e.readPEMFlag(cmd, "client-cert-file", p.clientCertFile); err != nil {
			return err
		}
	}
	return nil
}

// apply sets the fields of s whose flags are given (after load).
func (p *postgresFlags) apply(cmd *cobra.Command, s *nuxariv1.PostgresSettings) {
	f := cmd.Flags()
	if f.Changed("host") {
		s.Host = p.host
	}
	if f.Changed("port") {
		s.Port = uint32(p.port)
	}
	if f.Changed("database") {
		s.Database = p.database
	}
	if f.Changed("user") {
		s.User = p.user
	}
	if f.Changed("tls-mode") {
		s.TlsMode = p.tlsMode
	}
	if f.Changed("ca-file") {
		s.CaPem = p.caPEM
	}
	if f.Changed("client-cert-file") {
		s.ClientCertPem = p.clientCertPEM
	}
	if f.Changed("connect-timeout") {
		s.ConnectTimeoutSeconds = uint32(p.connectTimeout / time.Second)
	}
	if f.Changed("privilege-entitlements") {
		s.PrivilegeEntitlements = p.privilegeEntitlements
	}
	if f.Changed("role-prefix") {
		s.RolePrefix = p.rolePrefix
	}
}

// readPEMFlag reads the PEM file flag names, as is; "" reads nothing.
func (e *env) readPEMFlag(cmd *cobra.Command, flag, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := e.readFlagFile(cmd, flag, path)
	if err != nil {
		return "", err
	}
	if block, _ := pem.Decode(b); block == nil || !utf8.Valid(b) {
		return "", usagef(pathOf(cmd), "--%s %s holds no PEM block", flag, path)
	}
	return string(b), nil
}

// syncIntervalFlag is --sync-interval as a request field: nil when not
// given; zero (syncs by hand only) or positive.
func syncIntervalFlag(cmd *cobra.Command, d time.Duration) (*durationpb.Duration, error) {
	if !cmd.Flags().Changed("sync-interval") {
		return nil, nil
	}
	if d < 0 {
		return nil, usagef(pathOf(cmd), "--sync-interval must not be negative")
	}
	return durationpb.New(d), nil
}

const syncIntervalUsage = "start a sync this often, 5m to 168h (0: only by hand with 'connector sync')"

func (e *env) connectorCreateCmd() *cobra.Command {
	var name, kind string
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "create --name N --kind postgres --host H [--port P] --database D --user U [settings] [--sync-interval D] (--password-file FILE | --password-stdin) [--client-key-file FILE]",
		Short: "create a connector to a system (credentials from files or stdin)",
		Long: `Create a connector: the settings that reach a system and the credentials
it logs in with. Credentials are never flags: the password comes from
--password-file FILE (- for standard input) or --password-stdin (typed
without echo at a terminal, else all of standard input), with one trailing
newline dropped; a client key (PEM, with --client-cert-file) from
--client-key-file FILE. Give a password, a client key, or both. The server
seals them at once and never shows them again. Creating does not contact
the system: check the connector with 'connector test'.`,
		Args: nargs(0, 0),
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "the connector's `NAME`, unique in the org")
	f.StringVar(&kind, "kind", "", "the `KIND` of system: "+strings.Join(connectorKinds, "|"))
	completeWith(cmd, "kind", connectorKinds)
	pg := addPostgresFlags(cmd)
	f.DurationVar(&interval, "sync-interval", 0, syncIntervalUsage)
	creds := addCredentialFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := required(cmd, "name", "kind"); err != nil {
			return err
		}
		if !slices.Contains(connectorKinds, kind) {
			return usagef(pathOf(cmd), "unknown --kind %q: use one of %s", kind, strings.Join(connectorKinds, ", "))
		}
		if err := required(cmd, "host", "database", "user"); err != nil {
			return err
		}
		if err := pg.check(cmd); err != nil {
			return err
		}
		every, err := syncIntervalFlag(cmd, interval)
		if err != nil {
			return err
		}
		if err := creds.check(cmd); err != nil {
			return err
		}
		if err := pg.load(e, cmd); err != nil {
			return err
		}
		settings := &nuxariv1.PostgresSettings{}
		pg.apply(cmd, settings)
		c, err := e.connect()
		if err != nil {
			return err
		}
		cr, err := creds.read(e, cmd)
		if err != nil {
			return err
		}
		res, err := c.Connectors.CreateConnector(e.ctx, connect.NewRequest(&nuxariv1.CreateConnectorRequest{
			Name:         name,
			Settings:     &nuxariv1.ConnectorSettings{Kind: &nuxariv1.ConnectorSettings_Postgres{Postgres: settings}},
			Credentials:  cr.postgres(),
			SyncInterval: every,
		}))
		if err != nil {
			return err
		}
		co := res.Msg.GetConnector()
		if e.json {
			return e.printProto(co)
		}
		fmt.Fprintf(e.stderr, "Created connector %s; nothing has contacted the system yet: check it with 'nuxctl connector test %s'.\n", printable(co.GetConnectorId()), printable(co.GetConnectorId()))
		return printConnector(e, co)
	}
	return cmd
}

// postgres is cr as the credentials of a postgres connector.
func (cr credentials) postgres() *nuxariv1.ConnectorCredentials {
	return &nuxariv1.ConnectorCredentials{Kind: &nuxariv1.ConnectorCredentials_Postgres{Postgres: &nuxariv1.PostgresCredentials{
		Password:     cr.password.Reveal(),
		ClientKeyPem: cr.clientKey.Reveal(),
	}}}
}

func printConnector(e *env, co *nuxariv1.Connector) error {
	kv := []string{
		"Connector", co.GetConnectorId(),
		"Name", co.GetName(),
		"Kind", co.GetKind(),
		"State", connectorStateName(co.GetState()),
	}
	if r := co.GetStateReason(); r != "" {
		kv = append(kv, "State reason", r)
	}
	if s := co.GetRotationStep(); s != "" {
		kv = append(kv, "Rotation step", s)
	}
	if pg := co.GetSettings().GetPostgres(); pg != nil {
		kv = append(kv, postgresFields(pg)...)
	}
	var creds []string
	for _, f := range co.GetCredentials() {
		creds = append(creds, fmt.Sprintf("%s (sealed under key %d, %s)", f.GetName(), f.GetKeyId(), timeText(f.GetRotateTime())))
	}
	kv = append(kv,
		"Credentials", orDash(strings.Join(creds, "; ")),
		"Sync interval", syncIntervalText(co.GetSyncInterval()),
		"Last sync", lastSyncText(co.GetLastSync()),
	)
	if ls := co.GetLastSync(); ls != nil {
		kv = append(kv, "Grants digest", orDash(ls.GetGrantsDigest()))
	}
	if id := co.GetSyncId(); id != "" {
		kv = append(kv, "Sync running", id)
	}
	kv = append(kv,
		"Created", timeText(co.GetCreateTime()),
		"Created by", orDash(co.GetCreatedBy()),
		"Updated", timeText(co.GetUpdateTime()),
	)
	return fields(e.stdout, kv...)
}

// postgresFields are the lines that show PostgreSQL settings.
func postgresFields(pg *nuxariv1.PostgresSettings) []string {
	port := strconv.FormatUint(uint64(pg.GetPort()), 10)
	if pg.GetPort() == 0 {
		port = strconv.Itoa(defaultPostgresPort) + " (default)"
	}
	tls := pg.GetTlsMode()
	if tls == "" {
		tls = tlsModes[0] + " (default)"
	}
	ca := "the system's roots"
	if n := pemBlocks(pg.GetCaPem()); pg.GetCaPem() != "" {
		ca = fmt.Sprintf("%d PEM certificates", n)
	}
	cert := "-"
	if n := pemBlocks(pg.GetClientCertPem()); pg.GetClientCertPem() != "" {
		cert = fmt.Sprintf("%d PEM certificates", n)
	}
	timeout := (time.Duration(pg.GetConnectTimeoutSeconds()) * time.Second).String()
	if pg.GetConnectTimeoutSeconds() == 0 {
		timeout = defaultConnectTimeout.String() + " (default)"
	}
	priv := "no"
	if pg.GetPrivilegeEntitlements() {
		priv = "yes"
	}
	roles := "every role"
	if r := pg.GetRolePrefix(); r != "" {
		roles = "names starting with " + strconv.Quote(r)
	}
	return []string{
		"Host", pg.GetHost(),
		"Port", port,
		"Database", pg.GetDatabase(),
		"User", pg.GetUser(),
		"TLS mode", tls,
		"CA", ca,
		"Client certificate", cert,
		"Connect timeout", timeout,
		"Privilege entitlements", priv,
		"Roles", roles,
	}
}

// pemBlocks counts the PEM blocks in s.
func pemBlocks(s string) int {
	n, rest := 0, []byte(s)
	for {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return n
		}
		n++
	}
}

func syncIntervalText(d *durationpb.Duration) string {
	if d.AsDuration() == 0 {
		return "- (syncs only by hand)"
	}
	return durationText(d)
}

func lastSyncText(s *nuxariv1.SyncSummary) string {
	if s == nil {
		return "- (never synced)"
	}
	return fmt.Sprintf("%s at %s: %d identities, %d entitlements, %d grants",
		s.GetSyncId(), timeText(s.GetSyncTime()), s.GetIdentities(), s.GetEntitlements(), s.GetGrants())
}

// getConnector calls GetConnector.
func (e *env) getConnector(c *clients, id string) (*nuxariv1.Connector, error) {
	res, err := c.Connectors.GetConnector(e.ctx, connect.NewRequest(&nuxariv1.GetConnectorRequest{ConnectorId: id}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetConnector(), nil
}

func (e *env) connectorGetCmd() *cobra.Command {
	return oneCmd(e, "get CONNECTOR_ID", "show a connector", "Show a connector: its state, settings, which credentials it holds (never their values) and its last sync.",
		e.getConnector,
		func(co *nuxariv1.Connector) error { return printConnector(e, co) })
}

func (e *env) connectorListCmd() *cobra.Command {
	all := &nuxariv1.ListConnectorsResponse{}
	return e.listCmd("list", "list the org's connectors", "List the org's connectors, decommissioned ones included.", all, func(c *clients, token string) (string, error) {
		res, err := c.Connectors.ListConnectors(e.ctx, connect.NewRequest(&nuxariv1.ListConnectorsRequest{PageSize: 1000, PageToken: token}))
		if err != nil {
			return "", err
		}
		all.Connectors = append(all.Connectors, res.Msg.GetConnectors()...)
		return res.Msg.GetNextPageToken(), nil
	}, func(t *table) {
		t.header("CONNECTOR ID", "NAME", "KIND", "STATE", "LAST SYNC", "GRANTS")
		for _, co := range all.Connectors {
			grants := "-"
			if ls := co.GetLastSync(); ls != nil {
				grants = strconv.FormatUint(ls.GetGrants(), 10)
			}
			t.row(co.GetConnectorId(), co.GetName(), co.GetKind(), connectorStateName(co.GetState()), timeText(co.GetLastSync().GetSyncTime()), grants)
		}
	})
}

// mergedSettings returns connector id's current settings with the
// settings flags applied over them, to send back whole; nil when no
// settings flag is given.
func (e *env) mergedSettings(c *clients, cmd *cobra.Command, pg *postgresFlags, id string) (*nuxariv1.ConnectorSettings, error) {
	if !pg.changed(cmd) {
		return nil, nil
	}
	cur, err := e.getConnector(c, id)
	if err != nil {
		return nil, err
	}
	old := cur.GetSettings().GetPostgres()
	if cur.GetKind() != kindPostgres || old == nil {
		return nil, fmt.Errorf("connector %s is of kind %q: the settings flags are those of %s", printable(id), printable(cur.GetKind()), kindPostgres)
	}
	merged := proto.Clone(old).(*nuxariv1.PostgresSettings)
	pg.apply(cmd, merged)
	return &nuxariv1.ConnectorSettings{Kind: &nuxariv1.ConnectorSettings_Postgres{Postgres: merged}}, nil
}

func (e *env) connectorUpdateCmd() *cobra.Command {
	var name string
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "update CONNECTOR_ID [--name N] [settings] [--sync-interval D]",
		Short: "change a connector's name, settings or sync interval",
		Long: `Change a connector's name, settings or sync interval; what no flag names
stays as it is. The server replaces the settings whole, so nuxctl reads
the current ones and sends them back with the flags' values applied.
Credentials change only with 'connector rotate'.`,
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	cmd.Flags().StringVar(&name, "name", "", "the connector's new `NAME`")
	pg := addPostgresFlags(cmd)
	cmd.Flags().DurationVar(&interval, "sync-interval", 0, syncIntervalUsage)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f := cmd.Flags()
		if !f.Changed("name") && !f.Changed("sync-interval") && !pg.changed(cmd) {
			return usagef(pathOf(cmd), "nothing to change: give --name, a setting (such as --host) or --sync-interval")
		}
		if err := pg.check(cmd); err != nil {
			return err
		}
		req := &nuxariv1.UpdateConnectorRequest{ConnectorId: args[0]}
		var err error
		if req.SyncInterval, err = syncIntervalFlag(cmd, interval); err != nil {
			return err
		}
		if f.Changed("name") {
			req.Name = &name
		}
		if err := pg.load(e, cmd); err != nil {
			return err
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		if req.Settings, err = e.mergedSettings(c, cmd, pg, args[0]); err != nil {
			return err
		}
		res, err := c.Connectors.UpdateConnector(e.ctx, connect.NewRequest(req))
		if err != nil {
			return err
		}
		if e.json {
			return e.printProto(res.Msg.GetConnector())
		}
		return printConnector(e, res.Msg.GetConnector())
	}
	return cmd
}

func (e *env) connectorTestCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "test CONNECTOR_ID",
		Short: "check that the system accepts a connector's credentials",
		Long: `Connect to the system with the connector's stored credentials and report
whether it accepts them. A connector that fails becomes failed; a failed
one that passes becomes active again. Exits 1 when the test fails, with
the reason on standard error.`,
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.connect()
			if err != nil {
				return err
			}
			res, err := c.Connectors.TestConnector(e.ctx, connect.NewRequest(&nuxariv1.TestConnectorRequest{ConnectorId: args[0]}))
			if err != nil {
				return err
			}
			m := res.Msg
			id := printable(args[0])
			if e.json {
				err = e.printProto(m)
			} else if m.GetOk() {
				_, err = fmt.Fprintf(e.stdout, "ok: connector %s passed its test; it is %s.\n", id, connectorStateName(m.GetConnector().GetState()))
			} else {
				_, err = fmt.Fprintf(e.stdout, "failed: connector %s failed its test; it is %s.\n", id, connectorStateName(m.GetConnector().GetState()))
			}
			if err != nil {
				return err
			}
			if !m.GetOk() {
				return &exitError{code: ExitFailure, err: fmt.Errorf("connector %s failed its test: %s", id, orDash(printable(m.GetError())))}
			}
			return nil
		},
	}
}

// connectorCmd is a command that acts on one connector and prints it.
func (e *env) connectorCmd(use, short, long string, call func(c *clients, id string) (*nuxariv1.Connector, error)) *cobra.Command {
	return oneCmd(e, use, short, long, call, func(co *nuxariv1.Connector) error { return printConnector(e, co) })
}

// connectorOf returns a response's connector, or the call's error.
func connectorOf[T any, PT interface {
	*T
	GetConnector() *nuxariv1.Connector
}](res *connect.Response[T], err error) (*nuxariv1.Connector, error) {
	if err != nil {
		return nil, err
	}
	return PT(res.Msg).GetConnector(), nil
}

func (e *env) connectorPauseCmd() *cobra.Command {
	var reason string
	cmd := e.connectorCmd("pause CONNECTOR_ID [--reason R]", "stop a connector's syncs and changes", "Stop a connector's syncs and changes until 'connector resume'.",
		func(c *clients, id string) (*nuxariv1.Connector, error) {
			return connectorOf(c.Connectors.PauseConnector(e.ctx, connect.NewRequest(&nuxariv1.PauseConnectorRequest{ConnectorId: id, Reason: reason})))
		})
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the event (up to 256 characters)")
	return cmd
}

func (e *env) connectorResumeCmd() *cobra.Command {
	return e.connectorCmd("resume CONNECTOR_ID", "resume a paused connector", "",
		func(c *clients, id string) (*nuxariv1.Connector, error) {
			return connectorOf(c.Connectors.ResumeConnector(e.ctx, connect.NewRequest(&nuxariv1.ResumeConnectorRequest{ConnectorId: id})))
		})
}

func (e *env) connectorDecommissionCmd() *cobra.Command {
	var reason string
	cmd := e.connectorCmd("decommission CONNECTOR_ID [--reason R]", "end a connector for good",
		"End a connector for good, at once: its credentials and snapshot are purged; its record and history stay.",
		func(c *clients, id string) (*nuxariv1.Connector, error) {
			return connectorOf(c.Connectors.DecommissionConnector(e.ctx, connect.NewRequest(&nuxariv1.DecommissionConnectorRequest{ConnectorId: id, Reason: reason})))
		})
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded in the event")
	return cmd
}

func (e *env) connectorRotateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate CONNECTOR_ID (--password-file FILE | --password-stdin) [--client-key-file FILE] [settings]",
		Short: "replace a connector's credentials (from files or stdin)",
		Long: `Replace a connector's credentials: the server pauses the connector, checks
the new credentials against the system, stores them, purges the old ones
and resumes it. The new set replaces the old one whole: give every
credential the connector logs in with. If the system refuses the new
ones, the old ones stay in force and the command fails (exit 1) saying
why. Credentials are read as by 'connector create'.

Settings that go with the credentials change with them: a renewed client
certificate is given here, with its new key (--client-cert-file with
--client-key-file), and put in force with it; 'connector update' refuses
it. Settings flags apply over the current settings, as in 'update'.`,
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	creds := addCredentialFlags(cmd)
	pg := addPostgresFlags(cmd)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := creds.check(cmd); err != nil {
			return err
		}
		if err := pg.check(cmd); err != nil {
			return err
		}
		if err := pg.load(e, cmd); err != nil {
			return err
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		cr, err := creds.read(e, cmd)
		if err != nil {
			return err
		}
		settings, err := e.mergedSettings(c, cmd, pg, args[0])
		if err != nil {
			return err
		}
		co, err := connectorOf(c.Connectors.RotateCredentials(e.ctx, connect.NewRequest(&nuxariv1.RotateCredentialsRequest{ConnectorId: args[0], Credentials: cr.postgres(), Settings: settings})))
		if err != nil {
			return err
		}
		if e.json {
			return e.printProto(co)
		}
		return printConnector(e, co)
	}
	return cmd
}

func printSync(e *env, s *nuxariv1.Sync) error {
	kv := []string{
		"Sync", s.GetSyncId(),
		"Connector", s.GetConnectorId(),
		"State", syncStateName(s.GetState()),
		"Requested by", orDash(s.GetRequestedBy()),
		"Created", timeText(s.GetCreateTime()),
		"Completed", timeText(s.GetCompleteTime()),
		"Items read", strconv.FormatUint(s.GetItemsRead(), 10),
	}
	if s.GetError() != "" {
		kv = append(kv, "Error", s.GetError())
	}
	if sum := s.GetSummary(); sum != nil {
		kv = append(kv,
			"Identities", strconv.FormatUint(sum.GetIdentities(), 10),
			"Entitlements", strconv.FormatUint(sum.GetEntitlements(), 10),
			"Grants", strconv.FormatUint(sum.GetGrants(), 10),
			"Grants digest", orDash(sum.GetGrantsDigest()),
		)
	}
	return fields(e.stdout, kv...)
}

func (e *env) connectorSyncCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sync CONNECTOR_ID [--wait [--timeout D]]",
		Short: "start reading a system's access into a snapshot",
		Long: `Start a sync: read the system's identities, entitlements and grants into a
new snapshot. A sync already queued or running is returned instead of a
new one. Without --wait it prints the sync's ID; follow it with
'connector sync-status'. With --wait it shows how many items it has read
on standard error and prints the finished sync; it exits 6 if the sync
fails and 7 if it has not finished within --timeout.`,
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
	wait := addWaitFlags(cmd, "the sync finishes, showing progress")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := wait.check(cmd); err != nil {
			return err
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		res, err := c.Connectors.SyncConnector(e.ctx, connect.NewRequest(&nuxariv1.SyncConnectorRequest{ConnectorId: args[0]}))
		if err != nil {
			return err
		}
		s := res.Msg.GetSync()
		if !wait.wait {
			if e.json {
				return e.printProto(s)
			}
			id := printable(s.GetSyncId())
			_, err := fmt.Fprintf(e.stdout, "Sync %s is %s. Follow it with: nuxctl connector sync-status %s\n", id, syncStateName(s.GetState()), id)
			return err
		}
		if s, err = e.waitSync(c, s, wait.timeout); err != nil {
			return err
		}
		if e.json {
			err = e.printProto(s)
		} else {
			err = printSync(e, s)
		}
		if err != nil {
			return err
		}
		if s.GetState() == nuxariv1.SyncState_SYNC_STATE_FAILED {
			return &exitError{code: ExitFailed, err: fmt.Errorf("sync %s failed: %s", printable(s.GetSyncId()), orDash(printable(s.GetError())))}
		}
		return nil
	}
	return cmd
}

// waitSync polls sync s until it ends or timeout passes, saying on
// standard error what it waits for and how many items it has read.
func (e *env) waitSync(c *clients, s *nuxariv1.Sync, timeout time.Duration) (*nuxariv1.Sync, error) {
	if syncDone(s) {
		return s, nil
	}
	id := printable(s.GetSyncId())
	of := "sync " + id + " of connector " + printable(s.GetConnectorId())
	fmt.Fprintf(e.stderr, "waiting for %s to finish (up to %s)…\n", of, timeout)
	p := e.newProgress("sync "+id, 0, unitItems)
	defer func() { p.finish(s.GetState() == nuxariv1.SyncState_SYNC_STATE_SUCCEEDED) }()
	err := e.poll(timeout, func() string {
		return fmt.Sprintf("%s (%d items read); it carries on: follow it with 'nuxctl connector sync-status %s'", of, s.GetItemsRead(), id)
	}, func(ctx context.Context) (bool, error) {
		res, err := c.Connectors.GetSync(ctx, connect.NewRequest(&nuxariv1.GetSyncRequest{SyncId: s.GetSyncId()}))
		if err != nil {
			return false, err
		}
		s = res.Msg.GetSync()
		p.set(int64(s.GetItemsRead()))
		return syncDone(s), nil
	})
	return s, err
}

func (e *env) connectorSyncStatusCmd() *cobra.Command {
	return oneCmd(e, "sync-status SYNC_ID", "show a sync's state and what it read", "",
		func(c *clients, id string) (*nuxariv1.Sync, error) {
			res, err := c.Connectors.GetSync(e.ctx, connect.NewRequest(&nuxariv1.GetSyncRequest{SyncId: id}))
			if err != nil {
				return nil, err
			}
			return res.Msg.GetSync(), nil
		},
		func(s *nuxariv1.Sync) error { return printSync(e, s) })
}

func (e *env) connectorGrantsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "grants CONNECTOR_ID",
		Short: "list the grants of a connector's latest snapshot",
		Long: `List who holds which entitlement in the connector's latest snapshot, in
identity and entitlement ID order. Standard error names the snapshot; with
--json the output is one document: every grant and the snapshot.`,
		Args:              nargs(1, 1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := e.connect()
			if err != nil {
				return err
			}
			all := &nuxariv1.ListGrantsResponse{}
			err = eachPage(func(token string) (string, error) {
				res, err := c.Connectors.ListGrants(e.ctx, connect.NewRequest(&nuxariv1.ListGrantsRequest{ConnectorId: args[0], PageSize: 1000, PageToken: token}))
				if err != nil {
					return "", err
				}
				snap := res.Msg.GetSnapshot()
				if token == "" {
					all.Snapshot = snap
				} else if snap.GetSyncId() != all.GetSnapshot().GetSyncId() {
					return "", fmt.Errorf("a new snapshot (sync %s) replaced sync %s's while listing its grants: run the command again",
						printable(snap.GetSyncId()), printable(all.GetSnapshot().GetSyncId()))
				}
				all.Grants = append(all.Grants, res.Msg.GetGrants()...)
				return res.Msg.GetNextPageToken(), nil
			})
			if err != nil {
				return err
			}
			if e.json {
				return e.printProto(all)
			}
			if snap := all.GetSnapshot(); snap == nil {
				fmt.Fprintf(e.stderr, "Connector %s has no snapshot yet: start one with 'nuxctl connector sync %s --wait'.\n", printable(args[0]), printable(args[0]))
			} else {
				fmt.Fprintf(e.stderr, "Snapshot of sync %s at %s: %d grants.\n", printable(snap.GetSyncId()), timeText(snap.GetSyncTime()), len(all.Grants))
			}
			t := newTable(e.stdout)
			t.header("IDENTITY", "ENTITLEMENT", "KIND")
			for _, g := range all.Grants {
				t.row(nameOrID(g.GetIdentityName(), g.GetIdentityId()), nameOrID(g.GetEntitlementName(), g.GetEntitlementId()), orDash(g.GetEntitlementKind()))
			}
			return t.flush()
		},
	}
}

// nameOrID is a name, or the ID when there is none.
func nameOrID(name, id string) string {
	if name != "" {
		return name
	}
	return orDash(id)
}

// printSealingKeys prints the org's sealing keys and its latest reseal
// job.
func printSealingKeys(e *env, m *nuxariv1.GetSealingKeysResponse) error {
	t := newTable(e.stdout)
	t.header("KEY ID", "STATUS", "PRIMARY", "CREDENTIALS")
	for _, k := range m.GetKeys() {
		primary := "no"
		if k.GetPrimary() {
			primary = "yes"
		}
		t.row(strconv.FormatUint(uint64(k.GetKeyId()), 10), sealingKeyStatusName(k.GetStatus()), primary, strconv.FormatUint(uint64(k.GetCredentials()), 10))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if m.GetResealJobId() == "" {
		return nil
	}
	_, err := fmt.Fprintf(e.stdout, "Reseal job %s: %s.\n", printable(m.GetResealJobId()), orDash(printable(m.GetResealState())))
	return err
}

func (e *env) connectorKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "show the org's credential sealing keys",
		Long: `Show the keys the org's connector credentials are sealed under: their IDs,
status and how many credentials each seals (never key material), and the
state of the reseal job of the latest rotation.`,
		Args: nargs(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.connect()
			if err != nil {
				return err
			}
			res, err := c.Connectors.GetSealingKeys(e.ctx, connect.NewRequest(&nuxariv1.GetSealingKeysRequest{}))
			if err != nil {
				return err
			}
			if e.json {
				return e.printProto(res.Msg)
			}
			return printSealingKeys(e, res.Msg)
		},
	}
	e.add(cmd, e.connectorKeysRotateCmd())
	return cmd
}

func (e *env) connectorKeysRotateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rotate [--wait [--timeout D]]",
		Short: "add a new primary sealing key and reseal every credential",
		Long: `Add a new primary sealing key and start the job that reseals every
credential under it and then disables the keys nothing uses any more.
Without --wait it prints the new key and the job's ID (with --json the
RotateSealingKey response). With --wait it waits for the job and prints
the keys as 'connector keys' does (with --json its response); it exits 6
if the job fails and 7 if it has not finished within --timeout.`,
		Args: nargs(0, 0),
	}
	wait := addWaitFlags(cmd, "every credential is resealed")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := wait.check(cmd); err != nil {
			return err
		}
		c, err := e.connect()
		if err != nil {
			return err
		}
		res, err := c.Connectors.RotateSealingKey(e.ctx, connect.NewRequest(&nuxariv1.RotateSealingKeyRequest{}))
		if err != nil {
			return err
		}
		job := res.Msg.GetResealJobId()
		if !wait.wait {
			if e.json {
				return e.printProto(res.Msg)
			}
			_, err := fmt.Fprintf(e.stdout, "New primary sealing key %d. Reseal job %s started; follow it with: nuxctl connector keys\n",
				res.Msg.GetKey().GetKeyId(), printable(job))
			return err
		}
		keys, err := e.waitReseal(c, job, wait.timeout)
		if err != nil {
			return err
		}
		if e.json {
			err = e.printProto(keys)
		} else {
			err = printSealingKeys(e, keys)
		}
		if err != nil {
			return err
		}
		if keys.GetResealState() == resealFailed {
			return &exitError{code: ExitFailed, err: fmt.Errorf("reseal job %s failed", printable(job))}
		}
		return nil
	}
	return cmd
}

// waitReseal polls the sealing keys until reseal job job ends or timeout
// passes.
func (e *env) waitReseal(c *clients, job string, timeout time.Duration) (*nuxariv1.GetSealingKeysResponse, error) {
	fmt.Fprintf(e.stderr, "waiting for reseal job %s to finish (up to %s)…\n", printable(job), timeout)
	var keys *nuxariv1.GetSealingKeysResponse
	err := e.poll(timeout, func() string {
		return fmt.Sprintf("reseal job %s (still %s); it carries on: follow it with 'nuxctl connector keys'", printable(job), orDash(printable(keys.GetResealState())))
	}, func(ctx context.Context) (bool, error) {
		res, err := c.Connectors.GetSealingKeys(ctx, connect.NewRequest(&nuxariv1.GetSealingKeysRequest{}))
		if err != nil {
			return false, err
		}
		keys = res.Msg
		if got := keys.GetResealJobId(); got != job && got != "" {
			return false, fmt.Errorf("a later rotation's reseal job %s replaced job %s: follow it with 'nuxctl connector keys'", printable(got), printable(job))
		}
		return keys.GetResealJobId() == job && (keys.GetResealState() == resealSucceeded || keys.GetResealState() == resealFailed), nil
	})
	return keys, err
}
