package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/nuxari/nuxari/governance/agents"
	"github.com/nuxari/nuxari/governance/api"
	"github.com/nuxari/nuxari/governance/rbac"
	"github.com/nuxari/nuxari/internal/netsource"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
)

// Limits bound what a caller, above all one that has not authenticated,
// can make the server hold: bytes of a request, connections, streams and
// their lifetimes. Zero values are the documented defaults.
type Limits struct {
	// PublicRequestBytes bounds a request to a procedure that needs no
	// credentials (sign-up, login, agent enrolment, challenge and token
	// requests, health, reflection), both on the wire and decompressed
	// (default 64 KiB).
	PublicRequestBytes int
	// MaxConns bounds the open connections in total (default 8192);
	// MaxConnsPerSource bounds those of one source, an IPv4 address or
	// an IPv6 /64 (default 1024; raise it for a NAT with more agents). A
	// connection beyond either is closed as soon as it is accepted.
	MaxConns, MaxConnsPerSource int
	// MaxStreamsPerConn bounds the concurrent HTTP/2 streams of one
	// connection (default 100).
	MaxStreamsPerConn int
	// MaxStreamsPerSource bounds the concurrent long-lived streams
	// (health Watch, agent task streams, reflection) of one source
	// (default 1024, as MaxConnsPerSource: each agent holds one); one
	// more is refused with ResourceExhausted.
	MaxStreamsPerSource int
	// StreamMaxDuration ends a long-lived stream after this long (default
	// 15 min, an agent access token's lifetime); clients reconnect.
	// Shutdown ends every long-lived stream at once.
	StreamMaxDuration time.Duration
	// IdleTimeout closes a connection that has no call open for this
	// long (default 2 min).
	IdleTimeout time.Duration
	// PeerTimeout closes an HTTP/2 connection whose peer answers no ping,
	// or takes no byte written to it, within this long; a ping goes out
	// after this long without a frame (default 1 min). Streams of a peer
	// that vanished end with it.
	PeerTimeout time.Duration
}

// DefaultLimits returns the limits a zero Limits stands for.
func DefaultLimits() Limits { return Limits{}.withDefaults() }

// withDefaults returns l with every zero field set to its default.
func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.PublicRequestBytes, 64<<10)
	def(&l.MaxConns, 8192)
	def(&l.MaxConnsPerSource, 1024)
	def(&l.MaxStreamsPerConn, 100)
	def(&l.MaxStreamsPerSource, 1024)
	defDur(&l.StreamMaxDuration, agents.AgentTokenTTL)
	defDur(&l.IdleTimeout, 2*time.Minute)
	defDur(&l.PeerTimeout, time.Minute)
	return l
}

// Reasons a connection or call is refused by a limit, as metric labels.
const (
	refusedSource = "per_source"
	refusedTotal  = "total"
)

// errTooManyStreams refuses a long-lived stream beyond its source's cap.
var errTooManyStreams = errors.New("too many open streams from this address")

// source is the key that per-source limits count by (netsource.Key).
func source(addr string) string { return netsource.Key(addr) }

// counter counts holders per source and in total, under caps.
type counter struct {
	max, perSource int // max 0: no total cap
	mu             sync.Mutex
	total          int
	per            map[string]int
}

func newCounter(max, perSource int) *counter {
	return &counter{max: max, perSource: perSource, per: map[string]int{}}
}

// count returns how many places are taken.
func (c *counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// acquire takes one place for src, or returns why it cannot.
func (c *counter) acquire(src string) (refused string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max > 0 && c.total >= c.max {
		return refusedTotal
	}
	if c.per[src] >= c.perSource {
		return refusedSource
	}
	c.total++
	c.per[src]++
	return ""
}

// release gives back a place that acquire gave src.
func (c *counter) release(src string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total--
	if c.per[src]--; c.per[src] <= 0 {
		delete(c.per, src)
	}
}

// procedureLimits says, per procedure served, how many request bytes it
// may read and whether it is a long-lived stream.
type procedureLimits struct {
	bytes map[string]int64
	long  map[string]bool
}

// evidenceRequestBytes bounds a SubmitEvidence request: MaxEvidenceItems
// items of MaxEvidenceSize, and room for their metadata.
const evidenceRequestBytes = agents.MaxEvidenceItems*agents.MaxEvidenceSize + 1<<20

// wireBytes is the body a request of n message bytes may take on the
// wire: envelopes and incompressible compression add a little.
func wireBytes(n int) int64 { return int64(n) + int64(n)/16 + 1024 }

func newProcedureLimits(maxRequest, public int) procedureLimits {
	pl := procedureLimits{bytes: map[string]int64{}, long: map[string]bool{}}
	for proc, perm := range api.Procedures {
		switch {
		case perm == rbac.Public:
			pl.bytes[proc] = wireBytes(public)
		case proc == nuxariv1connect.AgentGatewayServiceSubmitEvidenceProcedure:
			pl.bytes[proc] = wireBytes(evidenceRequestBytes)
		default:
			pl.bytes[proc] = wireBytes(maxRequest)
		}
		pl.long[proc] = streaming(proc)
	}
	return pl
}

// streaming reports whether procedure ("/pkg.Service/Method") streams
// in either direction; one whose schema is not found counts as streaming,
// so that it is bounded all the same.
func streaming(procedure string) bool {
	svc, method, ok := strings.Cut(strings.TrimPrefix(procedure, "/"), "/")
	if !ok {
		return true
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return true
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return true
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	return md == nil || md.IsStreamingClient() || md.IsStreamingServer()
}

// guard is the HTTP layer in front of every RPC, run before any byte of
// a body is read: it bounds each body by its procedure, authenticates and
// authorizes calls that need credentials from their headers alone, and
// caps, times and ends long-lived streams.
type guard struct {
	next     http.Handler
	auth     *api.Interceptor
	procs    procedureLimits
	streams  *counter
	maxDur   time.Duration
	closing  context.Context // ends at shutdown
	refusals *prometheus.CounterVec
	errw     *connect.ErrorWriter
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	proc := r.URL.Path
	limit, known := g.procs.bytes[proc]
	if !known {
		// Not a procedure: metrics, or a path to refuse. Nothing of its
		// body is read.
		r.Body = http.MaxBytesReader(w, r.Body, 0)
		g.next.ServeHTTP(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	start, ctx := time.Now(), r.Context()
	if api.Procedures[proc] != rbac.Public {
		var err error
		if ctx, err = g.auth.Admit(ctx, proc, r.Header); err != nil {
			g.refuse(w, r.WithContext(ctx), proc, start, err)
			return
		}
	}
	if g.procs.long[proc] {
		src := source(r.RemoteAddr)
		if reason := g.streams.acquire(src); reason != "" {
			g.refusals.WithLabelValues("stream", reason).Inc()
			g.refuse(w, r.WithContext(ctx), proc, start, connect.NewError(connect.CodeResourceExhausted, errTooManyStreams))
			return
		}
		defer g.streams.release(src)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.maxDur)
		defer cancel()
		stop := context.AfterFunc(g.closing, cancel)
		defer stop()
	}
	g.next.ServeHTTP(w, r.WithContext(ctx))
}

func (g *guard) refuse(w http.ResponseWriter, r *http.Request, proc string, start time.Time, err error) {
	g.auth.Refused(r.Context(), proc, g.procs.long[proc], start, err)
	// The body stays unread: HTTP/2 resets the stream, HTTP/1.1 closes
	// the connection if much of it is left.
	g.errw.Write(w, r, err)
}
