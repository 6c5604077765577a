// Package server wires nuxarid: it opens the data directory (keys and the
// ledger), builds the governance service and serves it over Connect, gRPC
// and gRPC-Web on one listener, with gRPC health, reflection, Prometheus
// metrics and the web console. Every binary and test that runs the
// service uses it.
package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	connectcors "connectrpc.com/cors"
	"github.com/rs/cors"
	"golang.org/x/mod/sumdb/note"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/nuxari/nuxari/agentgw"
	"github.com/nuxari/nuxari/connector/postgres"
	"github.com/nuxari/nuxari/governance"
	"github.com/nuxari/nuxari/governance/api"
	"github.com/nuxari/nuxari/governance/connectors"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/governance/sealing"
	"github.com/nuxari/nuxari/internal/console"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/verify"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
)

// Config configures a Server. Zero values are working defaults except
// DataDir.
type Config struct {
	// DataDir holds the ledger and the keys; created (0700) if missing.
	DataDir string
	// LogName names the log in checkpoint origins (default "nuxari").
	LogName string
	// TLSCertFile and TLSKeyFile, when both set, serve TLS; otherwise the
	// listener speaks HTTP/1.1 and HTTP/2 without TLS (h2c).
	TLSCertFile, TLSKeyFile string
	// MaxRequestBytes bounds a request message of a procedure that needs
	// credentials (default 4 MiB); an agent's SubmitEvidence takes
	// MaxEvidenceItems items of MaxEvidenceSize. Its body is read only
	// after the caller's token is authenticated.
	MaxRequestBytes int
	// Limits bound request bodies of public procedures, connections and
	// streams.
	Limits Limits
	// AcceptRestore lets a restored data directory be served, once the
	// operator has checked its checkpoints (see ErrRestored).
	AcceptRestore bool
	// CORSOrigins are the browser origins (scheme://host[:port]) allowed
	// to call the API with Connect and gRPC-Web; none (the default) turns
	// CORS off, so browsers refuse cross-origin calls. "*" allows any
	// origin: cross-origin credentials are bearer tokens in a header;
	// the console's session cookie is never honoured cross-origin (no
	// answer allows credentials, and the Nuxari-CSRF header it needs is
	// not allowed).
	CORSOrigins []string
	// DisableConsole turns the web console off: the root URL and every
	// path that is not the API's is then 404, as on an API-only server.
	// By default the console is served at the root URL.
	DisableConsole bool
	// ConsoleFS, when set, is served as the console instead of the one
	// built into the binary (console.Embedded); its root holds
	// index.html.
	ConsoleFS fs.FS
	// ShutdownTimeout bounds the drain of in-flight calls (default 30 s);
	// long-lived streams end at once when shutdown starts.
	ShutdownTimeout time.Duration
	// KEKURI, when set, names the key-encryption key in a KMS
	// (gcp-kms://…, aws-kms://…, hcvault://…), through the Tink KMS
	// client the binary registered for its scheme; the data directory's
	// kek.json is then neither read nor made. Every org's keyring is
	// sealed under the KEK, so it must stay the same for the life of the
	// data directory.
	KEKURI string
	// Governance configures the domain service; its Evidence is built
	// from Evidence.
	Governance governance.Config
	// Evidence configures evidence packages.
	Evidence EvidenceConfig
	// Ledger overrides ledger settings; Dir, Signer, VerifierKey, LogName,
	// Registerer and Logger are set by the server.
	Ledger ledger.Config
	// Logger (default: JSON to stderr).
	Logger *slog.Logger
}

// Server is a running nuxarid.
type Server struct {
	cfg     Config
	log     *slog.Logger
	ledger  *ledger.Ledger
	svc     *governance.Service
	kek     tink.AEAD
	reg     *prometheus.Registry
	handler http.Handler
	// closing ends when shutdown starts; long-lived streams watch it.
	closing      context.Context
	closeStreams context.CancelFunc
	openConns    prometheus.Gauge
	refusals     *prometheus.CounterVec
	// gw and streams, set by routes, are read by the metrics collector.
	gw      *agentgw.Gateway
	streams *counter
	// lock is the data directory's lock, held until Close.
	lock io.Closer
	// admin serves the admin socket (backup.go) until adminDone.
	admin     *http.Server
	adminDone chan struct{}
}

// ErrDataDirInUse is returned by Open when another process holds the data
// directory's lock.
var ErrDataDirInUse = errors.New("in use by another process")

// Open opens the data directory and builds the service. Close releases
// it. Its first log lines say where the data directory is, which key
// files it generated or loaded (those to back up), and which evidence
// store it uses.
func Open(cfg Config) (*Server, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("server: DataDir is required")
	}
	if cfg.LogName == "" {
		cfg.LogName = verify.DefaultLogName
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 4 << 20
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 30 * time.Second
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if err := CheckCORSOrigins(cfg.CORSOrigins); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = NewLogger(os.Stderr, slog.LevelInfo)
	}
	if err := makePrivateDir(cfg.DataDir, cfg.Logger); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	lock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	owned := false // once the Server owns the lock, its Close releases it
	defer func() {
		if !owned {
			lock.Close()
		}
	}()
	cfg.Logger.Info("data directory", slog.String("path", absPath(cfg.DataDir)))
	var keys keyFiles
	signer, vkey, gen, err := logSigner(cfg.DataDir, cfg.LogName)
	if err != nil {
		return nil, err
	}
	keys.add(filepath.Join(cfg.DataDir, logKeyFile), gen)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	lc := ledgerConfig(cfg, signer, vkey, reg)
	if err := tightenDataDir(cfg.DataDir, cfg.Logger); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	l, err := ledger.Open(lc)
	if err != nil {
		return nil, openLedgerError(cfg.DataDir, cfg.LogName, err)
	}
	// The key-encryption key comes after the ledger, so that a ledger
	// refused (an older storage layout) leaves no new key behind.
	var kek tink.AEAD
	if cfg.KEKURI != "" {
		if kek, err = sealing.KEKFromURI(context.Background(), cfg.KEKURI); err != nil {
			l.Close()
			return nil, fmt.Errorf("key-encryption key: %w", err)
		}
	} else {
		if kek, gen, err = keyEncryptionKey(cfg.DataDir); err != nil {
			l.Close()
			return nil, err
		}
		keys.add(filepath.Join(cfg.DataDir, kekFile), gen)
	}
	restored, err := checkRestored(cfg.DataDir, l, cfg.AcceptRestore, cfg.Logger)
	if err != nil {
		l.Close()
		return nil, err
	}
	gc := cfg.Governance
	gc.Logger = cfg.Logger
	if gc.Connectors.KEK == nil {
		gc.Connectors.KEK = kek
	}
	if len(gc.Connectors.Drivers) == 0 {
		gc.Connectors.Drivers = []connectors.Driver{postgres.Driver{}}
	}
	ctx := context.Background()
	keyFile, gen, err := evidenceKey(ctx, cfg.DataDir, cfg.Evidence, &gc.Evidence)
	if err != nil {
		l.Close()
		return nil, err
	}
	if keyFile != "" {
		keys.add(keyFile, gen)
	}
	keys.log(cfg.Logger)
	if err := evidenceStore(ctx, cfg.DataDir, cfg.Evidence, &gc.Evidence, cfg.Logger); err != nil {
		l.Close()
		return nil, err
	}
	if gc.DefaultRetention == 0 {
		gc.DefaultRetention = lc.DefaultRetention
	}
	svc, err := governance.New(l, gc)
	if err != nil {
		l.Close()
		return nil, err
	}
	// A migration of the ledger's layout is recorded in each org's log
	// before anything else can append (migrate.go).
	if _, err := recordMigration(ctx, cfg.DataDir, l, svc.Log, cfg.Logger); err != nil {
		svc.Close()
		l.Close()
		return nil, err
	}
	if err := svc.RecoverJobs(context.Background()); err != nil {
		svc.Close()
		l.Close()
		return nil, fmt.Errorf("recover jobs: %w", err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, ledger: l, svc: svc, kek: kek, reg: reg, lock: lock}
	owned = true
	s.closing, s.closeStreams = context.WithCancel(context.Background())
	s.openConns = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "nuxari_open_connections",
		Help: "Connections open.",
	})
	s.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nuxari_limit_refusals_total",
		Help: "Connections and streams refused by a limit, by kind (conn, stream) and limit (per_source, total).",
	}, []string{"kind", "limit"})
	reg.MustRegister(s.openConns, s.refusals)
	s.handler = s.routes()
	reg.MustRegister(newCollector(s), collectors.NewBuildInfoCollector())
	if err := restored(); err != nil {
		s.Close()
		return nil, err
	}
	s.serveAdmin()
	return s, nil
}

// Services lists the fully-qualified names of every RPC service served.
var Services = append(slices.Clone(APIServices),
	grpchealth.HealthV1ServiceName,
	grpcreflect.ReflectV1ServiceName,
	grpcreflect.ReflectV1AlphaServiceName,
)

// APIServices lists Nuxari's own services: those health reports on and
// reflection describes.
var APIServices = []string{
	nuxariv1connect.OrgServiceName,
	nuxariv1connect.AuthServiceName,
	nuxariv1connect.LedgerServiceName,
	nuxariv1connect.EvidenceServiceName,
	nuxariv1connect.AgentAdminServiceName,
	nuxariv1connect.AgentGatewayServiceName,
	nuxariv1connect.ConnectorServiceName,
	nuxariv1connect.AccessServiceName,
}

func (s *Server) routes() http.Handler {
	icpt := api.NewInterceptor(s.svc, s.log, s.reg)
	opts := connect.WithHandlerOptions(
		connect.WithInterceptors(icpt),
		connect.WithReadMaxBytes(s.cfg.MaxRequestBytes),
		api.JSONCodec(),
		// Compressing small messages costs more CPU than it saves bytes.
		connect.WithCompressMinBytes(1024),
	)
	// Procedures that need no credentials are served by handlers of
	// their own that decode small messages only.
	publicOpts := connect.WithHandlerOptions(opts, connect.WithReadMaxBytes(s.cfg.Limits.PublicRequestBytes))
	// Agents submit up to MaxEvidenceItems items of MaxEvidenceSize.
	gwOpts := connect.WithHandlerOptions(opts, connect.WithReadMaxBytes(evidenceRequestBytes))
	h := api.NewHandlers(s.svc, s.log)
	gw := agentgw.New(s.svc.Agents, s.log)
	s.gw = gw
	health := grpchealth.NewStaticChecker(APIServices...)
	reflector := grpcreflect.NewStaticReflector(APIServices...)
	services := func(o, gwo connect.HandlerOption) map[string]http.Handler {
		m := map[string]http.Handler{}
		for _, mk := range []func() (string, http.Handler){
			func() (string, http.Handler) { return nuxariv1connect.NewOrgServiceHandler(h, o) },
			func() (string, http.Handler) { return nuxariv1connect.NewAuthServiceHandler(h, o) },
			func() (string, http.Handler) { return nuxariv1connect.NewLedgerServiceHandler(h, o) },
			func() (string, http.Handler) { return nuxariv1connect.NewEvidenceServiceHandler(h, o) },
			func() (string, http.Handler) { return nuxariv1connect.NewAgentAdminServiceHandler(h, o) },
			func() (string, http.Handler) { return nuxariv1connect.NewAgentGatewayServiceHandler(gw, gwo) },
			func() (string, http.Handler) { return nuxariv1connect.NewConnectorServiceHandler(h, o) },
			func() (string, http.Handler) { return nuxariv1connect.NewAccessServiceHandler(h, o) },
			func() (string, http.Handler) { return grpchealth.NewHandler(health, o) },
			func() (string, http.Handler) { return grpcreflect.NewHandlerV1(reflector, o) },
			func() (string, http.Handler) { return grpcreflect.NewHandlerV1Alpha(reflector, o) },
		} {
			path, handler := mk()
			m[path] = handler
		}
		return m
	}
	mux := http.NewServeMux()
	for path, handler := range services(opts, gwOpts) {
		mux.Handle(path, handler)
	}
	public := services(publicOpts, publicOpts)
	for proc, perm := range api.Procedures {
		if perm != rbac.Public {
			continue
		}
		svc := proc[:strings.LastIndexByte(proc, '/')+1]
		ph, ok := public[svc]
		if !ok {
			panic("server: public procedure " + proc + " of a service not served")
		}
		mux.Handle(proc, ph)
	}
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	// The web console has every path the API does not: GET and HEAD of
	// its files, 404 for the rest as before.
	if !s.cfg.DisableConsole {
		fsys := s.cfg.ConsoleFS
		if fsys == nil {
			fsys = console.Embedded()
		}
		if _, err := fs.Stat(fsys, "index.html"); err != nil {
			s.log.Info("web console: not built into this binary (make web, then rebuild); its root URL says so")
		}
		mux.Handle("/", console.Handler(fsys))
	}
	// Each org's log as tlog-tiles (tlog.go): its paths are taken as
	// they come, never cleaned or redirected by the mux.
	tlog := &tlogHandler{svc: s.svc, auth: icpt, log: s.log}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, tlogPrefix) {
			tlog.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	s.streams = newCounter(0, s.cfg.Limits.MaxStreamsPerSource)
	g := &guard{
		next:     next,
		auth:     icpt,
		procs:    newProcedureLimits(s.cfg.MaxRequestBytes, s.cfg.Limits.PublicRequestBytes),
		streams:  s.streams,
		maxDur:   s.cfg.Limits.StreamMaxDuration,
		closing:  s.closing,
		refusals: s.refusals,
		errw:     connect.NewErrorWriter(),
	}
	return withRequestInfo(withCORS(s.cfg.CORSOrigins, g))
}

// CheckCORSOrigins refuses a CORS origin that is not "*" or a bare
// scheme://host[:port] of http or https: a browser sends exactly that,
// so anything else would never match and hide a typo.
func CheckCORSOrigins(origins []string) error {
	for _, o := range origins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("server: CORS origin %q is not \"*\" or scheme://host[:port] (http or https, no path)", o)
		}
	}
	return nil
}

// withCORS answers browsers' preflight requests for origins, before the
// guard (a preflight carries no credentials), and adds the CORS headers
// Connect and gRPC-Web need to every answer to those origins. With no
// origins it is next itself. It never allows credentials, and never the
// Nuxari-CSRF header: the console's cookie session is same-origin only.
func withCORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return cors.New(cors.Options{
		AllowCredentials: false,
		AllowedOrigins:   origins,
		AllowedMethods:   connectcors.AllowedMethods(),
		AllowedHeaders:   append(connectcors.AllowedHeaders(), "Authorization"),
		ExposedHeaders:   append(connectcors.ExposedHeaders(), "Request-Id"),
		MaxAge:           7200,
	}).Handler(next)
}

// withRequestInfo gives each request an ID (echoed in the Request-Id
// response header, and in its log lines and events), its source address,
// and whether it came over TLS (secureRequest).
func withRequestInfo(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [12]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		src, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			src = r.RemoteAddr
		}
		w.Header().Set("Request-Id", id)
		ctx := core.WithRequestInfo(r.Context(), core.RequestInfo{ID: id, Source: src})
		ctx = api.WithSecureTransport(ctx, secureRequest(r))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// secureRequest reports whether r reached the server over TLS: its own
// listener's, or a proxy's in front that says so in X-Forwarded-Proto
// (the first, client-facing, value). It decides only whether the console
// session cookie is Secure, which a false claim can only make stricter
// (a browser then refuses the cookie over plain HTTP), never weaker.
func secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	return strings.EqualFold(strings.TrimSpace(proto), "https")
}

// Handler returns the HTTP handler of every route.
func (s *Server) Handler() http.Handler { return s.handler }

// Service returns the governance service.
func (s *Server) Service() *governance.Service { return s.svc }

// Ledger returns the ledger.
func (s *Server) Ledger() *ledger.Ledger { return s.ledger }

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, waits (up to ShutdownTimeout) for in-flight calls, whose
// appends are durable before they answer, and returns. Call Close after.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	lim := s.cfg.Limits
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	hs.HTTP2 = &http.HTTP2Config{
		MaxConcurrentStreams: lim.MaxStreamsPerConn,
		SendPingTimeout:      lim.PeerTimeout,
		PingTimeout:          lim.PeerTimeout,
		WriteByteTimeout:     lim.PeerTimeout,
	}
	// Shutdown ends long-lived streams at once; calls in flight drain.
	hs.RegisterOnShutdown(s.closeStreams)
	ln = &connLimiter{
		Listener: ln, conns: newCounter(lim.MaxConns, lim.MaxConnsPerSource),
		open: s.openConns, refusals: s.refusals, log: s.log,
	}
	hs.Protocols = new(http.Protocols)
	hs.Protocols.SetHTTP1(true)
	tlsOn := s.cfg.TLSCertFile != "" && s.cfg.TLSKeyFile != ""
	if tlsOn {
		hs.Protocols.SetHTTP2(true)
		cert, err := tls.LoadX509KeyPair(s.cfg.TLSCertFile, s.cfg.TLSKeyFile)
		if err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	} else {
		hs.Protocols.SetUnencryptedHTTP2(true)
	}
	errc := make(chan error, 1)
	go func() {
		if tlsOn {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	protocol := "h2c"
	if tlsOn {
		protocol = "TLS"
	}
	s.log.Info("serving", slog.String("addr", ln.Addr().String()), slog.Bool("tls", tlsOn), slog.String("protocol", protocol))
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining in-flight calls")
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// Close closes the ledger: pending appends finish or fail, none is lost
// once acknowledged.
func (s *Server) Close() error {
	s.closeAdmin()
	s.closeStreams()
	s.svc.Close()
	s.kek = nil
	err := s.ledger.Close()
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
	return err
}

// ledgerConfig is the Config of the data directory's ledger: cfg.Ledger
// in <data-dir>/ledger, with the log key, files private to the server's
// user, and metrics into reg (none if nil).
func ledgerConfig(cfg Config, signer note.Signer, vkey string, reg prometheus.Registerer) ledger.Config {
	lc := cfg.Ledger
	lc.Dir = filepath.Join(cfg.DataDir, ledgerDir)
	lc.LogName, lc.Signer, lc.VerifierKey = cfg.LogName, signer, vkey
	lc.Registerer, lc.Logger = reg, cfg.Logger
	if lc.FS == nil {
		lc.FS = privateFS{vfs.Default}
	}
	return lc
}
