// Command nuxarid is the Nuxari server.
//
//	nuxarid [flags]                 serve
//	nuxarid bootstrap [flags]       create an org and its first owner in the
//	                                data directory (server stopped)
//
// Every flag has an environment variable: --data-dir is NUXARI_DATA_DIR,
// and so on. Flags win over the environment.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/nuxari/nuxari/evidence/objstore"
	"github.com/nuxari/nuxari/governance"
	"github.com/nuxari/nuxari/governance/logapi"
	"github.com/nuxari/nuxari/governance/orgs"
	"github.com/nuxari/nuxari/governance/password"
	"github.com/nuxari/nuxari/internal/secret"
	"github.com/nuxari/nuxari/server"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "nuxarid:", err)
		os.Exit(1)
	}
}

// common registers the flags every command shares.
func common(fs *flag.FlagSet, cfg *server.Config) {
	fs.StringVar(&cfg.DataDir, "data-dir", "nuxari-data", "directory of the ledger and keys (created 0700)")
	fs.StringVar(&cfg.LogName, "log-name", "nuxari", "name of the log in checkpoint origins (<log-name>/orgs/<org>)")
}

// parse parses args, after applying NUXARI_<FLAG> environment variables.
func parse(fs *flag.FlagSet, args []string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := "NUXARI_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && err == nil {
			if serr := f.Value.Set(v); serr != nil {
				err = fmt.Errorf("%s: %w", env, serr)
			}
		}
		f.Usage += fmt.Sprintf(" [$%s]", env)
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
}

// limits registers the flags of the connection, stream and body limits.
func limits(fs *flag.FlagSet, l *server.Limits) {
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

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "bootstrap" {
		return bootstrap(args[1:], stdin, stdout, stderr)
	}
	var cfg server.Config
	fs := flag.NewFlagSet("nuxarid", flag.ContinueOnError)
	fs.SetOutput(stderr)
	common(fs, &cfg)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "TLS certificate file (PEM); without it the listener speaks h2c")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "TLS private key file (PEM)")
	fs.BoolVar(&cfg.Governance.SignupDisabled, "disable-signup", false, "turn off self-service org sign-up (use 'nuxarid bootstrap')")
	fs.DurationVar(&cfg.Governance.SessionTTL, "session-ttl", 12*time.Hour, "lifetime of a login session")
	limits(fs, &cfg.Limits)
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	pwBudget := fs.Int64("password-memory-budget", password.DefaultMemoryBudget>>20, "MiB of memory that the password hashes running at once may use: with the default 64 MiB hashes, 256 MiB runs four at a time and queues the rest (at least one runs)")
	loginEvery := fs.Duration("login-interval", 6*time.Second, "a failed login's budget refills one attempt per interval, per account and source and per source")
	fs.IntVar(&cfg.Governance.LoginBurst, "login-burst", 10, "failed logins allowed at once per account and source, and per source; past as many failures on an account from all sources, its logins are delayed")
	fs.DurationVar(&cfg.Governance.LoginDelayMax, "login-delay-max", 4*time.Second, "the longest delay of a login on an account under guessing")
	signupEvery := fs.Duration("signup-interval", time.Minute, "sign-ups from one source refill one per interval")
	fs.IntVar(&cfg.Governance.SignupBurst, "signup-burst", 5, "sign-ups allowed at once from one source")
	signupGlobalEvery := fs.Duration("signup-global-interval", time.Second, "sign-ups from all sources refill one per interval")
	fs.IntVar(&cfg.Governance.SignupGlobalBurst, "signup-global-burst", 30, "sign-ups allowed at once from all sources")
	fs.IntVar(&cfg.Governance.LimiterKeys, "limiter-keys", 100_000, "sources or accounts each login and sign-up limit remembers (about 200 bytes each)")
	fs.StringVar(&cfg.Evidence.SigningKeyFile, "evidence-signing-key", "", "PEM key that signs evidence manifests (default <data-dir>/evidence-signing.pem, generated on first start)")
	fs.StringVar(&cfg.Evidence.SigningKMS, "evidence-signing-kms", "", "sigstore KMS URI of the key that signs evidence manifests (instead of the key file)")
	fs.StringVar(&cfg.Evidence.Dir, "evidence-dir", "", "directory of evidence packages when no S3 bucket is set (default <data-dir>/evidence; no WORM guarantee)")
	var s3 objstore.S3Config
	var s3Secret string
	fs.StringVar(&s3.Endpoint, "s3-endpoint", "", "S3 endpoint (host:port) for evidence packages; the bucket must have Object Lock")
	fs.StringVar(&s3.Bucket, "s3-bucket", "", "S3 bucket for evidence packages")
	fs.StringVar(&s3.Region, "s3-region", "", "S3 region")
	fs.StringVar(&s3.AccessKey, "s3-access-key", "", "S3 access key")
	fs.StringVar(&s3Secret, "s3-secret-key", "", "S3 secret key (prefer the environment variable)")
	s3Insecure := fs.Bool("s3-insecure", false, "talk to the S3 endpoint over plain HTTP")
	fs.IntVar(&cfg.Governance.ExportWorkers, "export-workers", governance.DefaultExportWorkers, "evidence exports run at once, shared fairly across orgs")
	fs.IntVar(&cfg.Governance.ExportsPerOrg, "exports-per-org", governance.DefaultExportsPerOrg, "most evidence exports one org may have queued or running; more are refused")
	fs.IntVar(&cfg.Governance.ListEventsMaxBytes, "list-events-max-bytes", logapi.DefaultListEventsMaxBytes, "most bytes of events in one ListEvents page (at least one event)")
	fs.IntVar(&cfg.Governance.OrgConcurrentReads, "org-concurrent-reads", logapi.DefaultOrgConcurrentReads, "most ListEvents calls of one org run at once; more wait")
	fs.IntVar(&cfg.Governance.OrgConcurrentAppends, "org-concurrent-appends", logapi.DefaultOrgConcurrentAppends, "most AppendEvents calls of one org run at once; more wait")
	if err := parse(fs, args); err != nil {
		return err
	}
	if s3.Endpoint != "" || s3.Bucket != "" {
		if s3.Endpoint == "" || s3.Bucket == "" {
			return errors.New("--s3-endpoint and --s3-bucket go together")
		}
		s3.Secure, s3.SecretKey = !*s3Insecure, secret.New(s3Secret)
		cfg.Evidence.S3 = &s3
	}
	for _, d := range []struct {
		name string
		v    time.Duration
		to   *rate.Limit
	}{
		{"--login-interval", *loginEvery, &cfg.Governance.LoginRate},
		{"--signup-interval", *signupEvery, &cfg.Governance.SignupRate},
		{"--signup-global-interval", *signupGlobalEvery, &cfg.Governance.SignupGlobalRate},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s must be positive", d.name)
		}
		*d.to = rate.Every(d.v)
	}
	if *pwBudget < 1 || *pwBudget > 1<<20 {
		return errors.New("--password-memory-budget must be 1 to 1048576 MiB")
	}
	cfg.Governance.PasswordMemoryBudget = *pwBudget << 20
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	cfg.Logger = server.NewLogger(stderr, level)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := server.Open(cfg)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
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

func bootstrap(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var cfg server.Config
	fs := flag.NewFlagSet("nuxarid bootstrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	common(fs, &cfg)
	var n orgs.NewOrg
	fs.StringVar(&n.ID, "org", "", "org ID (1 to 64 of [A-Za-z0-9_-])")
	fs.StringVar(&n.DisplayName, "name", "", "org display name")
	fs.StringVar(&n.OwnerEmail, "owner-email", "", "first owner's email")
	fs.StringVar(&n.OwnerDisplayName, "owner-name", "", "first owner's name")
	if err := parse(fs, args); err != nil {
		return err
	}
	// The password comes on stdin (first line), never as a flag.
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && (!errors.Is(err, io.EOF) || line == "") {
		return errors.New("write the owner's password on standard input")
	}
	n.OwnerPassword = secret.New(strings.TrimRight(line, "\r\n"))
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := server.Open(cfg)
	if err != nil {
		return err
	}
	defer s.Close()
	org, owner, err := s.Service().Orgs.CreateOrg(context.Background(), n, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created org %s with owner %s (%s)\n", org.ID, owner.Email, owner.UserID)
	return nil
}
