package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nuxari/nuxari/governance"
	"github.com/nuxari/nuxari/governance/core"
	"github.com/nuxari/nuxari/governance/rbac"
)

// Interceptor authenticates every call, enforces Procedures, and records
// metrics and a log line per call, for unary and streaming RPCs alike.
type Interceptor struct {
	svc      *governance.Service
	log      *slog.Logger
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// streamDuration times long-lived streams, apart from the unary
	// latencies: a stream lasts minutes by design.
	streamDuration *prometheus.HistogramVec
}

// NewInterceptor returns the interceptor; reg may be nil.
func NewInterceptor(svc *governance.Service, log *slog.Logger, reg prometheus.Registerer) *Interceptor {
	i := &Interceptor{
		svc: svc,
		log: log,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nuxari_rpc_requests_total",
			Help: "RPCs handled, by procedure and Connect code.",
		}, []string{"procedure", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "nuxari_rpc_duration_seconds",
			Help:    "RPC latency, by procedure and Connect code.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"procedure", "code"}),
		streamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "nuxari_stream_duration_seconds",
			Help:    "How long server streams lasted, by procedure and Connect code.",
			Buckets: prometheus.ExponentialBuckets(0.1, 4, 10),
		}, []string{"procedure", "code"}),
	}
	if reg != nil {
		reg.MustRegister(i.requests, i.duration, i.streamDuration)
	}
	return i
}

type principalKey struct{}

// admittedKey marks the procedure that Admit authorized: the context's
// principal holds for that procedure only.
type admittedKey struct{}

// Caller returns the authenticated caller of an RPC that needs
// credentials. The interceptor put it there; its absence is a bug, so it
// fails closed.
func Caller(ctx context.Context) (*core.Principal, error) { return principal(ctx) }

func principal(ctx context.Context) (*core.Principal, error) {
	p, ok := ctx.Value(principalKey{}).(*core.Principal)
	if !ok {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("no credentials"))
	}
	return p, nil
}

// authorize returns ctx with the caller's principal, or the error that
// refuses the call.
func (i *Interceptor) authorize(ctx context.Context, procedure string, h http.Header) (context.Context, error) {
	perm, ok := Procedures[procedure]
	if !ok {
		return ctx, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("procedure %s is not permitted", procedure))
	}
	if perm == rbac.Public {
		return ctx, nil
	}
	if proc, ok := ctx.Value(admittedKey{}).(string); ok && proc == procedure {
		if _, ok := ctx.Value(principalKey{}).(*core.Principal); ok {
			return ctx, nil
		}
	}
	p, err := i.authenticate(ctx, perm, h)
	if err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, principalKey{}, p), nil
}

// authenticate returns the principal of the bearer token in h, or of
// its console session cookie with the session's CSRF header (cookie.go),
// if its role grants perm, or the error that refuses the request.
func (i *Interceptor) authenticate(ctx context.Context, perm rbac.Permission, h http.Header) (*core.Principal, error) {
	tok, cookie, err := credential(h)
	if err != nil {
		return nil, err
	}
	p, err := i.svc.Authenticate(ctx, tok)
	if err != nil {
		return nil, toConnect(ctx, i.log, err)
	}
	// Fail closed; and the cookie holds a login session, nothing else.
	if p == nil || (cookie && p.SessionKey() == "") {
		return nil, connect.NewError(connect.CodeUnauthenticated, errors.New("invalid credentials"))
	}
	if !rbac.Allows(p.Role, perm) {
		return nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("role %s lacks permission %s", p.Role, perm))
	}
	return p, nil
}

// AdmitRoute authenticates and authorizes a request to one of Routes,
// plain HTTP beside the RPCs, from its headers (a bearer token, or a
// console session cookie with its CSRF header), exactly as a call to a
// procedure that needs the route's permission. It returns the caller,
// also carried by the returned context, or a Connect error.
func (i *Interceptor) AdmitRoute(ctx context.Context, route string, h http.Header) (context.Context, *core.Principal, error) {
	perm, ok := Routes[route]
	if !ok || perm == rbac.Public {
		// Every route needs credentials; one not listed is denied.
		return ctx, nil, connect.NewError(connect.CodePermissionDenied, fmt.Errorf("route %s is not permitted", route))
	}
	p, err := i.authenticate(ctx, perm, h)
	if err != nil {
		return ctx, nil, err
	}
	return context.WithValue(ctx, principalKey{}, p), p, nil
}

// ObserveRoute records a request to one of Routes as the interceptor
// records a call: in the RPC metrics under the route's name (which
// names no org) and a log line.
func (i *Interceptor) ObserveRoute(ctx context.Context, route string, start time.Time, err error) {
	i.observe(ctx, i.duration, route, start, err)
}

// Admit authenticates and authorizes a call to procedure from its
// headers alone, so that a transport can refuse a stranger before it
// reads a byte of the body. The returned context carries the principal;
// the interceptor reuses it for this procedure instead of authenticating
// again, and authenticates as before when it is absent.
func (i *Interceptor) Admit(ctx context.Context, procedure string, h http.Header) (context.Context, error) {
	ctx, err := i.authorize(ctx, procedure, h)
	if err != nil {
		return ctx, err
	}
	return context.WithValue(ctx, admittedKey{}, procedure), nil
}

// Refused records a call that the transport refused before it reached
// the interceptor (Admit failed, or a limit), as the interceptor records
// every call: a metric (with the streams, for a long-lived stream) and a
// log line.
func (i *Interceptor) Refused(ctx context.Context, procedure string, stream bool, start time.Time, err error) {
	hist := i.duration
	if stream {
		hist = i.streamDuration
	}
	i.observe(ctx, hist, procedure, start, err)
}

// observe counts and logs a call, and times it in hist.
func (i *Interceptor) observe(ctx context.Context, hist *prometheus.HistogramVec, procedure string, start time.Time, err error) {
	code := "ok"
	if err != nil {
		code = connect.CodeOf(err).String()
	}
	d := time.Since(start)
	i.requests.WithLabelValues(procedure, code).Inc()
	hist.WithLabelValues(procedure, code).Observe(d.Seconds())
	attrs := []slog.Attr{slog.String("procedure", procedure), slog.String("code", code), slog.Duration("duration", d)}
	if p, ok := ctx.Value(principalKey{}).(*core.Principal); ok {
		attrs = append(attrs, slog.String("org", p.Org), slog.String("actor", p.Actor()))
	}
	if err != nil {
		// Connect errors built here carry caller-safe messages only.
		var ce *connect.Error
		if errors.As(err, &ce) {
			attrs = append(attrs, slog.String("error", ce.Message()))
		}
	}
	i.log.LogAttrs(ctx, slog.LevelInfo, "rpc", attrs...)
}

// WrapUnary implements connect.Interceptor.
func (i *Interceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (res connect.AnyResponse, err error) {
		start, proc := time.Now(), req.Spec().Procedure
		ctx, err = i.authorize(ctx, proc, req.Header())
		if err == nil {
			res, err = next(ctx, req)
		}
		i.observe(ctx, i.duration, proc, start, err)
		return res, err
	}
}

// WrapStreamingClient implements connect.Interceptor; clients are not
// intercepted.
func (i *Interceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor.
func (i *Interceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) (err error) {
		start, proc := time.Now(), conn.Spec().Procedure
		ctx, err = i.authorize(ctx, proc, conn.RequestHeader())
		if err == nil {
			err = next(ctx, conn)
		}
		i.observe(ctx, i.streamDuration, proc, start, err)
		return err
	}
}
