package server_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/nuxari/nuxari/client"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/proto/gen/nuxari/v1/nuxariv1connect"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// bigBody is a protobuf message whose field 1 is a string of n bytes,
// produced as it is read: the client holds none of it. read counts the
// bytes the transport took.
type bigBody struct {
	head []byte
	left int
	read *atomic.Int64
}

func newBigBody(n int, read *atomic.Int64) *bigBody {
	head := protowire.AppendTag(nil, 1, protowire.BytesType)
	return &bigBody{head: protowire.AppendVarint(head, uint64(n)), left: n, read: read}
}

func (b *bigBody) Read(p []byte) (int, error) {
	n := copy(p, b.head)
	b.head = b.head[n:]
	for ; n < len(p) && b.left > 0; n++ {
		p[n] = 'a'
		b.left--
	}
	if n == 0 {
		return 0, io.EOF
	}
	b.read.Add(int64(n))
	return n, nil
}

// connectError posts body to a Connect unary procedure and returns the
// error code and how many body bytes the client got to send.
func connectError(t *testing.T, hc *http.Client, url, proc, token string, body io.Reader, header map[string]string) string {
	t.Helper()
	r, err := http.NewRequest("POST", url+proc, body)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/proto")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	res, err := hc.Do(r)
	if err != nil {
		t.Fatalf("POST %s: %v", proc, err)
	}
	defer res.Body.Close()
	var e struct{ Code string }
	b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.StatusCode == http.StatusOK {
		return "ok"
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("POST %s: HTTP %d, no Connect error: %q", proc, res.StatusCode, b)
	}
	return e.Code
}

// TestPublicBodiesAreSmall: a procedure that needs no credentials reads
// at most Limits.PublicRequestBytes (64 KiB by default), whether the
// bytes come plain or compressed; a small request still works.
func TestPublicBodiesAreSmall(t *testing.T) {
	ts := servertest.Start(t)
	hc := servertest.HTTPClient()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	var read atomic.Int64
	io.Copy(zw, newBigBody(16<<20, &read))
	zw.Close()
	t.Logf("16 MiB message gzipped to %d bytes", gz.Len())
	for _, proc := range []string{
		nuxariv1connect.OrgServiceCreateOrgProcedure,
		nuxariv1connect.AuthServiceLoginProcedure,
		nuxariv1connect.AgentGatewayServiceEnrollProcedure,
		nuxariv1connect.AgentGatewayServiceGetChallengeProcedure,
		nuxariv1connect.AgentGatewayServiceGetAccessTokenProcedure,
	} {
		t.Run(proc, func(t *testing.T) {
			var read atomic.Int64
			if code := connectError(t, hc, ts.URL, proc, "", newBigBody(1<<20, &read), nil); code != "resource_exhausted" {
				t.Errorf("1 MiB body: got %s, want resource_exhausted", code)
			}
			if code := connectError(t, hc, ts.URL, proc, "", bytes.NewReader(gz.Bytes()), map[string]string{"Content-Encoding": "gzip"}); code != "resource_exhausted" {
				t.Errorf("gzipped 16 MiB message: got %s, want resource_exhausted", code)
			}
			// Just under the limit is decoded and judged on its merits.
			if code := connectError(t, hc, ts.URL, proc, "", newBigBody(60<<10, &read), nil); code == "resource_exhausted" {
				t.Errorf("60 KiB body: refused for its size")
			}
		})
	}
	ts.Signup(t, "small", "o@example.com", ownerPW)
}

// TestLargeBodiesNeedAToken: SubmitEvidence takes up to 17 MiB, but
// only from an agent whose token holds; anyone else is refused before
// the server reads the body, so the client gets to send little of it.
func TestLargeBodiesNeedAToken(t *testing.T) {
	ts := servertest.Start(t)
	ownerTok, _ := ts.Signup(t, "big", "o@example.com", ownerPW)
	hc := servertest.HTTPClient()
	for _, c := range []struct{ name, token, code string }{
		{"no token", "", "unauthenticated"},
		{"bad token", "nxg.big.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "unauthenticated"},
		{"a member's session", ownerTok, "permission_denied"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var read atomic.Int64
			code := connectError(t, hc, ts.URL, nuxariv1connect.AgentGatewayServiceSubmitEvidenceProcedure, c.token, newBigBody(16<<20, &read), nil)
			if code != c.code {
				t.Errorf("got %s, want %s", code, c.code)
			}
			// HTTP/2 flow control lets a client send a window (1 MiB)
			// ahead of what the server reads.
			if n := read.Load(); n >= 4<<20 {
				t.Errorf("the client sent %d bytes of a refused body, want < 4 MiB", n)
			} else {
				t.Logf("the client sent %d bytes of a refused 16 MiB body", n)
			}
		})
	}
	// An agent's token admits a large submission, judged on its merits.
	admin := ts.Clients(ownerTok)
	a := enrollAgent(t, ts, admin, "host-big")
	task := createTask(t, admin, a.id, "file", "/etc/hosts")
	content := bytes.Repeat([]byte("x"), 1<<20)
	items := make([]*nuxariv1.EvidenceItem, 6)
	for i := range items {
		items[i] = a.evidence(task.TaskId, "file", "/etc/hosts", content)
	}
	if _, err := ts.Clients(a.token(t, ts)).Gateway.SubmitEvidence(context.Background(), req(&nuxariv1.SubmitEvidenceRequest{TaskId: task.TaskId, Items: items})); err != nil {
		t.Fatalf("an agent's 6 MiB submission: %v", err)
	}
}

// dialFrom returns an h2c client whose connections come from ip.
func dialFrom(ip string) *http.Client {
	hc := client.HTTPClient("http://")
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	hc.Transport.(*http.Transport).DialContext = d.DialContext
	return hc
}

// metric returns the value of the series line (name and labels) in the
// server's /metrics, or -1 if it is absent.
func metric(t *testing.T, hc *http.Client, url, series string) float64 {
	t.Helper()
	res, err := hc.Get(url + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	return -1
}

// waitFor polls cond until it holds, failing t after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still not %s after 30 s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConnectionsPerSource: thousands of idle connections from one
// source keep at most MaxConnsPerSource open; the rest are closed at
// once, and a second source still gets answers.
func TestConnectionsPerSource(t *testing.T) {
	const perSource, dials = 50, 2000
	ts := servertest.Start(t, func(c *server.Config) { c.Limits.MaxConnsPerSource = perSource })
	addr := strings.TrimPrefix(ts.URL, "http://")
	other := dialFrom("127.0.0.2")
	if _, err := other.Get(ts.URL + "/metrics"); err != nil {
		t.Skipf("cannot dial from 127.0.0.2: %v", err)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range dials {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
	}
	waitFor(t, "refusing the connections beyond the cap", func() bool {
		return metric(t, other, ts.URL, `nuxari_limit_refusals_total{kind="conn",limit="per_source"}`) >= dials-perSource
	})
	if n := metric(t, other, ts.URL, "nuxari_open_connections"); n > perSource+1 {
		t.Fatalf("%v connections open, want at most %d from 127.0.0.1 and one from 127.0.0.2", n, perSource)
	}
	// The refused connections are closed: their client reads EOF.
	var closed atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
				closed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := closed.Load(); n < dials-perSource {
		t.Fatalf("%d of the %d connections beyond the cap were closed", n, dials-perSource)
	}
	hc := grpchealth.NewClient(other, ts.URL)
	if res, err := hc.Check(context.Background(), &grpchealth.CheckRequest{}); err != nil || res.Status != grpchealth.StatusServing {
		t.Fatalf("health check from a second source: %v %v", res, err)
	}
	t.Logf("%d dials from 127.0.0.1: %d refused and closed; 127.0.0.2 answered", dials, closed.Load())
}

// TestStreamsPerSource: a thousand health Watch streams from one source
// get at most MaxStreamsPerSource; the rest are refused with
// ResourceExhausted, and a second source still watches and checks.
func TestStreamsPerSource(t *testing.T) {
	const perSource, streams = 20, 1000
	ts := servertest.Start(t, func(c *server.Config) { c.Limits.MaxStreamsPerSource = perSource })
	other := dialFrom("127.0.0.2")
	if _, err := other.Get(ts.URL + "/metrics"); err != nil {
		t.Skipf("cannot dial from 127.0.0.2: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hc := grpchealth.NewClient(servertest.HTTPClient(), ts.URL, connect.WithGRPC())
	var (
		wg                 sync.WaitGroup
		mu                 sync.Mutex
		serving, exhausted int
		others             []error
	)
	for range streams {
		wg.Go(func() {
			ev := <-hc.Watch(ctx, &grpchealth.CheckRequest{})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case ev.Response != nil && ev.Response.Status == grpchealth.StatusServing:
				serving++
			case connect.CodeOf(ev.Err) == connect.CodeResourceExhausted:
				exhausted++
			default:
				others = append(others, ev.Err)
			}
		})
	}
	wg.Wait()
	if serving != perSource || exhausted != streams-perSource || len(others) > 0 {
		t.Fatalf("%d streams watching, %d refused, others: %v; want %d and %d", serving, exhausted, others, perSource, streams-perSource)
	}
	second := grpchealth.NewClient(other, ts.URL)
	if ev := <-second.Watch(ctx, &grpchealth.CheckRequest{}); ev.Err != nil || ev.Response.Status != grpchealth.StatusServing {
		t.Fatalf("a second source's Watch: %+v", ev)
	}
	if res, err := second.Check(ctx, &grpchealth.CheckRequest{}); err != nil || res.Status != grpchealth.StatusServing {
		t.Fatalf("a second source's Check: %v %v", res, err)
	}
	t.Logf("%d Watch streams from 127.0.0.1: %d held, %d refused; 127.0.0.2 watched", streams, serving, exhausted)
}

// TestStreamMaxDuration: a long-lived stream ends when it has lasted
// StreamMaxDuration, cleanly, so that the client reconnects.
func TestStreamMaxDuration(t *testing.T) {
	ts := servertest.Start(t, func(c *server.Config) { c.Limits.StreamMaxDuration = 300 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := 0
	for ev := range grpchealth.NewClient(servertest.HTTPClient(), ts.URL).Watch(ctx, &grpchealth.CheckRequest{}) {
		if ev.Err != nil {
			t.Fatalf("Watch: %v", ev.Err)
		}
		n++
	}
	if ctx.Err() != nil || n != 1 {
		t.Fatalf("Watch sent %d statuses and ended: %v; want 1 and an end before the client's deadline", n, ctx.Err())
	}
}

// TestShutdownEndsStreams: SIGTERM with agent task streams and health
// Watch streams open exits 0 within a few seconds, not the 30 s drain
// timeout; the streams end.
func TestShutdownEndsStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a server")
	}
	p, admin := startOwned(t, "term")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ended sync.WaitGroup
	for i := range 3 {
		jt := createJoinToken(t, admin, 0)
		pub, key := newAgentKey(t)
		en, err := p.clients("").Gateway.Enroll(ctx, req(&nuxariv1.EnrollRequest{JoinToken: jt, PublicKey: pub, Hostname: "host-" + strconv.Itoa(i)}))
		if err != nil {
			t.Fatal(err)
		}
		tok, err := getAgentToken(ctx, p.clients(""), en.Msg.OrgId, en.Msg.AgentId, key)
		if err != nil {
			t.Fatal(err)
		}
		s, err := p.clients(tok).Gateway.ReceiveTasks(ctx, req(&nuxariv1.ReceiveTasksRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		if !s.Receive() {
			t.Fatalf("task stream: %v", s.Err())
		}
		ended.Go(func() {
			for s.Receive() {
			}
		})
		events := grpchealth.NewClient(servertest.HTTPClient(), p.url, connect.WithGRPC()).Watch(ctx, &grpchealth.CheckRequest{})
		if ev := <-events; ev.Err != nil {
			t.Fatalf("Watch: %v", ev.Err)
		}
		ended.Go(func() {
			for range events {
			}
		})
	}
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("nuxarid exited with %v after SIGTERM: %s", err, p.logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("nuxarid still running 10 s after SIGTERM with open streams")
	}
	ended.Wait()
	t.Logf("exited 0 %v after SIGTERM with 3 task streams and 3 Watch streams open", time.Since(start).Round(time.Millisecond))
}

// TestOversizedBodiesHoldNoMemory: 60 concurrent 16 MiB bodies to
// Enroll (public) and 60 to SubmitEvidence without a token, each on its
// own connection, raise a fresh nuxarid's heap in use and its resident
// memory by less than 128 MiB (unbounded, they took gigabytes). What
// remains is transient: each connection's HTTP/2 receive window (at most
// 1 MiB) until its stream is reset, and 64 KiB per Enroll.
func TestOversizedBodiesHoldNoMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a server")
	}
	const bound = 128 << 20
	p := startProcess(t, t.TempDir())
	mc := servertest.HTTPClient()
	heap := func() float64 { return metric(t, mc, p.url, "go_memstats_heap_inuse_bytes") }
	rss := func() float64 { return metric(t, mc, p.url, "process_resident_memory_bytes") }
	baseHeap, baseRSS := heap(), rss()
	var (
		done              = make(chan struct{})
		sampled           = make(chan struct{})
		peakHeap, peakRSS = baseHeap, baseRSS
	)
	go func() {
		defer close(sampled)
		for {
			peakHeap, peakRSS = max(peakHeap, heap()), max(peakRSS, rss())
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	var sent atomic.Int64
	codes := map[string]int{}
	var mu sync.Mutex
	for i := range 120 {
		proc := nuxariv1connect.AgentGatewayServiceEnrollProcedure
		if i%2 == 1 {
			proc = nuxariv1connect.AgentGatewayServiceSubmitEvidenceProcedure
		}
		wg.Go(func() {
			code := connectError(t, servertest.HTTPClient(), p.url, proc, "", newBigBody(16<<20, &sent), nil)
			mu.Lock()
			codes[proc[strings.LastIndexByte(proc, '/')+1:]+" "+code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	close(done)
	<-sampled
	peakHeap, peakRSS = max(peakHeap, heap()), max(peakRSS, rss())
	t.Logf("answers %v; clients sent %d MiB of 1920 MiB", codes, sent.Load()>>20)
	t.Logf("heap in use %.1f MiB before, %.1f MiB at peak (+%.1f MiB); resident %.1f MiB before, %.1f MiB at peak (+%.1f MiB)",
		baseHeap/(1<<20), peakHeap/(1<<20), (peakHeap-baseHeap)/(1<<20), baseRSS/(1<<20), peakRSS/(1<<20), (peakRSS-baseRSS)/(1<<20))
	if codes["Enroll resource_exhausted"] != 60 || codes["SubmitEvidence unauthenticated"] != 60 {
		t.Errorf("answers %v, want 60 resource_exhausted and 60 unauthenticated", codes)
	}
	if peakHeap-baseHeap >= bound || peakRSS-baseRSS >= bound {
		t.Fatalf("the heap grew by %.1f MiB and resident memory by %.1f MiB, want < %d MiB", (peakHeap-baseHeap)/(1<<20), (peakRSS-baseRSS)/(1<<20), bound>>20)
	}
}

// TestLimitFlags: nuxarid takes its limits from flags and NUXARI_*
// variables.
func TestLimitFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a server")
	}
	t.Setenv("NUXARI_PUBLIC_REQUEST_BYTES", "1024")
	p := startProcess(t, t.TempDir(), "--max-streams-per-source", "2")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hc := grpchealth.NewClient(servertest.HTTPClient(), p.url)
	for i := range 3 {
		ev := <-hc.Watch(ctx, &grpchealth.CheckRequest{})
		if refused := connect.CodeOf(ev.Err) == connect.CodeResourceExhausted; refused != (i == 2) {
			t.Fatalf("Watch %d: %+v", i, ev)
		}
	}
	var read atomic.Int64
	if code := connectError(t, servertest.HTTPClient(), p.url, nuxariv1connect.AuthServiceLoginProcedure, "", newBigBody(2048, &read), nil); code != "resource_exhausted" {
		t.Fatalf("2 KiB login with NUXARI_PUBLIC_REQUEST_BYTES=1024: %s", code)
	}
}
