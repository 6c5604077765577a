package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/nuxari/nuxari/internal/buildinfo"

	"github.com/spf13/pflag"
	"golang.org/x/time/rate"

	"github.com/nuxari/nuxari/evidence/objstore"
	"github.com/nuxari/nuxari/governance"
	"github.com/nuxari/nuxari/governance/access"
	"github.com/nuxari/nuxari/governance/logapi"
	"github.com/nuxari/nuxari/governance/password"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/server"
)

// common registers the flags every command shares.
func common(fs *pflag.FlagSet, cfg *server.Config) {
	fs.StringVar(&cfg.DataDir, "data-dir", "nuxari-data", "directory of the ledger and keys (created 0700)")
	fs.StringVar(&cfg.LogName, "log-name", "nuxari", "name of the log in checkpoint origins (<log-name>/orgs/<org>)")
}

// limits registers the flags of the connection, stream and body limits.
func limits(fs *pflag.FlagSet, l *server.Limits) {
	d := server.DefaultLimits()
	fs.IntVar(&l.PublicRequestBytes, "public-request-bytes", d.PublicRequestBytes, "largest request to a procedure that needs no credentials (sign-up, login, agent enrolment), on the wire and decompressed")
	fs.IntVar(&l.MaxConns, "max-conns", d.MaxConns, "open connections in total; more are closed at once")
	fs.IntVar(&l.MaxConnsPerSource, "max-conns-per-source", d.MaxConnsPerSource, "open connections of one source (IPv4 address, IPv6 /64); raise it for a NAT with more agents")
	fs.IntVar(&l.MaxStreamsPerConn, "max-streams-per-conn", d.MaxStreamsPerConn, "concurrent HTTP/2 streams of one connection")
	fs.IntVar(&l.MaxStreamsPerSource, "max-streams-per-source", d.MaxStreamsPerSource, "concurrent long-lived streams (agent task streams, health Watch, reflection) of one source")
	fs.DurationVar(&l.StreamMaxDuration, "stream-max-duration", d.StreamMaxDuration, "a long-lived stream ends after this long; clients reconnect")
	fs.DurationVar(&l.IdleTimeout, "idle-timeout", d.IdleTimeout, "a connection with no call open is closed after this long")
	fs.DurationVar(&l.PeerTimeout, "peer-timeout", d.PeerTimeout, "an HTTP/2 connection whose peer answers no ping, or takes no byte, within this long is closed")
}

// serveFlags holds the flags of serve; config turns them into the
// server's Config.
type serveFlags struct {
	cfg                                        server.Config
	addr, logLevel                             string
	pwBudget                                   int64
	loginEvery, signupEvery, signupGlobalEvery time.Duration
	s3                                         objstore.S3Config
	s3Secret                                   string
	s3Insecure                                 bool
	console                                    bool
}

func (f *serveFlags) register(fs *pflag.FlagSet) {
	cfg := &f.cfg
	common(fs, cfg)
	fs.StringVar(&f.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "TLS certificate file (PEM); without it the listener speaks h2c")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "TLS private key file (PEM)")
	fs.BoolVar(&cfg.AcceptRestore, "accept-restore", false, "serve a data directory restored from a backup, once each org's newest checkpoint has been checked against those handed out (see 'nuxarid restore --help')")
	fs.StringSliceVar(&cfg.CORSOrigins, "cors-origins", nil, "browser origins (scheme://host[:port], comma-separated, or *) allowed to call the API with Connect and gRPC-Web; none: CORS off")
	fs.BoolVar(&f.console, "console", true, "serve the web console at the root URL; --console=false serves the API only")
	fs.BoolVar(&cfg.Governance.SignupDisabled, "disable-signup", false, "turn off self-service org sign-up (use 'nuxarid bootstrap')")
	fs.DurationVar(&cfg.Governance.SessionTTL, "session-ttl", 12*time.Hour, "lifetime of a login session")
	fs.DurationVar(&cfg.Governance.Access.RequestTTL, "access-request-ttl", access.DefaultRequestTTL, "a pending access request expires after this long (1m to 8760h)")
	limits(fs, &cfg.Limits)
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.Int64Var(&f.pwBudget, "password-memory-budget", password.DefaultMemoryBudget>>20, "MiB of memory that the password hashes running at once may use: with the default 64 MiB hashes, 256 MiB runs four at a time and queues the rest (at least one runs)")
	fs.DurationVar(&f.loginEvery, "login-interval", 6*time.Second, "a failed login's budget refills one attempt per interval, per account and source and per source")
	fs.IntVar(&cfg.Governance.LoginBurst, "login-burst", 10, "failed logins allowed at once per account and source, and per source; past as many failures on an account from all sources, its logins are delayed")
	fs.DurationVar(&cfg.Governance.LoginDelayMax, "login-delay-max", 4*time.Second, "the longest delay of a login on an account under guessing")
	fs.DurationVar(&f.signupEvery, "signup-interval", time.Minute, "sign-ups from one source refill one per interval")
	fs.IntVar(&cfg.Governance.SignupBurst, "signup-burst", 5, "sign-ups allowed at once from one source")
	fs.DurationVar(&f.signupGlobalEvery, "signup-global-interval", time.Second, "sign-ups from all sources refill one per interval")
	fs.IntVar(&cfg.Governance.SignupGlobalBurst, "signup-global-burst", 30, "sign-ups allowed at once from all sources")
	fs.IntVar(&cfg.Governance.LimiterKeys, "limiter-keys", 100_000, "sources or accounts each login and sign-up limit remembers (about 200 bytes each)")
	fs.StringVar(&cfg.Evidence.SigningKeyFile, "evidence-signing-key", "", "PEM key that signs evidence manifests (default <data-dir>/evidence-signing.pem, generated on first start)")
	fs.StringVar(&cfg.Evidence.SigningKMS, "evidence-signing-kms", "", "sigstore KMS URI of the key that signs evidence manifests (instead of the key file)")
	fs.StringVar(&cfg.KEKURI, "kek-uri", "", "KMS key URI of the key-encryption key that seals each org's connector keyring (instead of <data-dir>/kek.json); needs a Tink KMS client for its scheme built in")
	fs.StringVar(&cfg.Evidence.Dir, "evidence-dir", "", "directory of evidence packages when no S3 bucket is set (default <data-dir>/evidence; no WORM guarantee)")
	fs.StringVar(&f.s3.Endpoint, "s3-endpoint", "", "S3 endpoint (host:port) for evidence packages; the bucket must have Object Lock")
	fs.StringVar(&f.s3.Bucket, "s3-bucket", "", "S3 bucket for evidence packages")
	fs.StringVar(&f.s3.Region, "s3-region", "", "S3 region")
	fs.StringVar(&f.s3.AccessKey, "s3-access-key", "", "S3 access key")
	fs.StringVar(&f.s3Secret, "s3-secret-key", "", "S3 secret key (prefer the environment variable)")
	fs.BoolVar(&f.s3Insecure, "s3-insecure", false, "talk to the S3 endpoint over plain HTTP")
	fs.IntVar(&cfg.Governance.ExportWorkers, "export-workers", governance.DefaultExportWorkers, "evidence exports run at once, shared fairly across orgs")
	fs.IntVar(&cfg.Governance.ExportsPerOrg, "exports-per-org", governance.DefaultExportsPerOrg, "most evidence exports one org may have queued or running; more are refused")
	fs.IntVar(&cfg.Governance.ListEventsMaxBytes, "list-events-max-bytes", logapi.DefaultListEventsMaxBytes, "most bytes of events in one ListEvents page (at least one event)")
	fs.IntVar(&cfg.Governance.OrgConcurrentReads, "org-concurrent-reads", logapi.DefaultOrgConcurrentReads, "most ListEvents calls of one org run at once; more wait")
	fs.IntVar(&cfg.Governance.OrgConcurrentAppends, "org-concurrent-appends", logapi.DefaultOrgConcurrentAppends, "most AppendEvents calls of one org run at once; more wait")
}

// config checks the flags that go together or need a range, and builds
// the server's Config; stderr receives the logs. Its errors are usage
// errors.
func (f *serveFlags) config(stderr io.Writer) (server.Config, error) {
	cfg := f.cfg
	cfg.DisableConsole = !f.console
	if f.s3.Endpoint != "" || f.s3.Bucket != "" {
		if f.s3.Endpoint == "" || f.s3.Bucket == "" {
			return cfg, usagef("--s3-endpoint and --s3-bucket go together")
		}
		s3 := f.s3
		s3.Secure, s3.SecretKey = !f.s3Insecure, secret.New(f.s3Secret)
		cfg.Evidence.S3 = &s3
	}
	if ttl := cfg.Governance.Access.RequestTTL; ttl < time.Minute || ttl > 365*24*time.Hour {
		return cfg, usagef("--access-request-ttl must be 1m to 8760h")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		to   *rate.Limit
	}{
		{"--login-interval", f.loginEvery, &cfg.Governance.LoginRate},
		{"--signup-interval", f.signupEvery, &cfg.Governance.SignupRate},
		{"--signup-global-interval", f.signupGlobalEvery, &cfg.Governance.SignupGlobalRate},
	} {
		if d.v <= 0 {
			return cfg, usagef("%s must be positive", d.name)
		}
		*d.to = rate.Every(d.v)
	}
	if f.pwBudget < 1 || f.pwBudget > 1<<20 {
		return cfg, usagef("--password-memory-budget must be 1 to 1048576 MiB")
	}
	cfg.Governance.PasswordMemoryBudget = f.pwBudget << 20
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return cfg, usagef("--tls-cert and --tls-key go together")
	}
	if err := server.CheckCORSOrigins(cfg.CORSOrigins); err != nil {
		return cfg, usagef("--cors-origins: %w", err)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return cfg, usagef("--log-level: %w", err)
	}
	cfg.Logger = server.NewLogger(stderr, level)
	return cfg, nil
}

// serve opens the data directory and serves on --addr until ctx ends.
func serve(ctx context.Context, f *serveFlags, stderr io.Writer) error {
	cfg, err := f.config(stderr)
	if err != nil {
		return err
	}
	cfg.Logger.Info("starting nuxarid", buildAttrs(buildinfo.Read())...)
	s, err := server.Open(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		s.Close()
		return err
	}
	serr := s.Serve(ctx, ln)
	if err := s.Close(); err != nil && serr == nil {
		serr = err
	}
	return serr
}
