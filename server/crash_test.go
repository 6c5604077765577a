package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/nuxari/nuxari/ledger/verify"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server/servertest"
)

// nuxarid builds the server binary once per test binary.
var nuxarid = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp(binDir, "nuxarid-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nuxarid")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/nuxarid").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build nuxarid: %v\n%s", err, out)
	}
	return bin, nil
})

type process struct {
	cmd     *exec.Cmd
	url     string
	logs    *servertest.SyncBuffer
	dataDir string
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startProcess runs nuxarid on dataDir, with flags, and waits until it
// answers.
func startProcess(t *testing.T, dataDir string, flags ...string) *process {
	t.Helper()
	bin, err := nuxarid()
	if err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	p := &process{url: "http://" + addr, logs: &servertest.SyncBuffer{}, dataDir: dataDir}
	p.cmd = exec.Command(bin, append([]string{"--addr", addr}, flags...)...)
	p.cmd.Env = append(os.Environ(), "NUXARI_DATA_DIR="+dataDir)
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("nuxarid did not start: %s", p.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *process) clients(token string) servertest.Clients {
	return (&servertest.Server{URL: p.url}).Clients(token)
}

// startOwned bootstraps org with an owner in a fresh data directory,
// starts nuxarid on it and returns the process and the owner's clients.
func startOwned(t *testing.T, org string, flags ...string) (*process, servertest.Clients) {
	t.Helper()
	dir := t.TempDir()
	bootstrap(t, dir, org, "o@example.com", ownerPW)
	p := startProcess(t, dir, flags...)
	login, err := p.clients("").Auth.Login(context.Background(), req(&nuxariv1.LoginRequest{OrgId: org, Email: "o@example.com", Password: ownerPW}))
	if err != nil {
		t.Fatal(err)
	}
	return p, p.clients(login.Msg.SessionToken)
}

func bootstrap(t *testing.T, dataDir, org, email, pw string) {
	t.Helper()
	bin, err := nuxarid()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "bootstrap", "--data-dir", dataDir, "--org", org, "--owner-email", email)
	cmd.Stdin = strings.NewReader(pw + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "created org "+org) {
		t.Fatalf("bootstrap: %v: %s", err, out)
	}
}

type acked struct {
	index uint64
	hash  []byte
}

// TestCrashDuringAppends kills nuxarid with SIGKILL while clients append
// events; after each restart every acknowledged event is there with its
// bytes, and proofs verify against a signed checkpoint.
func TestCrashDuringAppends(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server")
	}
	dir := t.TempDir()
	bootstrap(t, dir, "crash", "o@example.com", ownerPW)
	for _, f := range []string{"log.key", "kek.json"} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v mode %v, want 0600", f, err, st.Mode().Perm())
		}
	}
	var (
		mu   sync.Mutex
		acks = map[string]acked{}
	)
	for round := range 3 {
		p := startProcess(t, dir)
		login, err := p.clients("").Auth.Login(context.Background(), req(&nuxariv1.LoginRequest{OrgId: "crash", Email: "o@example.com", Password: ownerPW}))
		if err != nil {
			t.Fatalf("round %d: login: %v", round, err)
		}
		c := p.clients(login.Msg.SessionToken)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					key := fmt.Sprintf("r%d-w%d-%d", round, w, i)
					res, err := c.Ledger.AppendEvents(ctx, req(&nuxariv1.AppendEventsRequest{Events: []*nuxariv1.NewEvent{{Type: "custom.crash", IdempotencyKey: key}}}))
					if err != nil {
						return
					}
					mu.Lock()
					acks[key] = acked{res.Msg.Events[0].Index, res.Msg.Events[0].LeafHash}
					mu.Unlock()
				}
			})
		}
		// Kill at a random moment once some appends were acknowledged
		// in this round.
		deadline := time.Now().Add(20 * time.Second)
		for n, want := len(acks), 20+rand.IntN(100); ; {
			mu.Lock()
			got := len(acks)
			mu.Unlock()
			if got >= n+want || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.cmd.Wait()
		cancel()
		wg.Wait()
	}

	p := startProcess(t, dir)
	tok := p.clients("")
	login, err := tok.Auth.Login(context.Background(), req(&nuxariv1.LoginRequest{OrgId: "crash", Email: "o@example.com", Password: ownerPW}))
	if err != nil {
		t.Fatal(err)
	}
	c := p.clients(login.Msg.SessionToken)
	if len(acks) < 100 {
		t.Fatalf("only %d acknowledged appends", len(acks))
	}
	var maxIndex uint64
	for _, a := range acks {
		maxIndex = max(maxIndex, a.index)
	}
	cpRes := waitCheckpoint(t, c, maxIndex+1)
	v, err := verify.NewVerifier(cpRes.VerifierKey, "nuxari/orgs/crash")
	if err != nil {
		t.Fatal(err)
	}
	cp, err := v.Checkpoint([]byte(cpRes.Checkpoint.Note))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for key, a := range acks {
		ev, err := c.Ledger.GetEvent(context.Background(), req(&nuxariv1.GetEventRequest{Index: a.index}))
		if err != nil {
			t.Fatalf("acknowledged event %s at %d: %v", key, a.index, err)
		}
		if string(rfc6962.DefaultHasher.HashLeaf(ev.Msg.Event.Leaf)) != string(a.hash) || !strings.Contains(string(ev.Msg.Event.Leaf), `"idempotency_key":"`+key+`"`) {
			t.Fatalf("event %d changed after restart", a.index)
		}
		if checked++; checked%25 == 0 {
			pr, err := c.Ledger.GetInclusionProof(context.Background(), req(&nuxariv1.GetInclusionProofRequest{Index: a.index, TreeSize: cp.Size}))
			if err != nil {
				t.Fatal(err)
			}
			if err := verify.Inclusion(a.hash, a.index, cp.Size, pr.Msg.Hashes, cp.Root); err != nil {
				t.Fatalf("inclusion of %d: %v", a.index, err)
			}
		}
	}
	t.Logf("%d acknowledged appends over 3 kills, all present", len(acks))
}

// TestGracefulShutdown: SIGTERM drains in-flight appends; every
// acknowledged one is there after restart, and the process exits cleanly.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a server")
	}
	p, c := startOwned(t, "term")
	var (
		mu     sync.Mutex
		acks   []uint64
		wg     sync.WaitGroup
		errs   = map[connect.Code]int{}
		signal = make(chan struct{})
	)
	for range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				res, err := c.Ledger.AppendEvents(context.Background(), req(&nuxariv1.AppendEventsRequest{Events: []*nuxariv1.NewEvent{{Type: "custom.term"}}}))
				mu.Lock()
				if err != nil {
					errs[connect.CodeOf(err)]++
					mu.Unlock()
					return
				}
				acks = append(acks, res.Msg.Events[0].Index)
				if len(acks) == 100 {
					close(signal)
				}
				mu.Unlock()
			}
		})
	}
	<-signal
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("nuxarid exited with %v after SIGTERM: %s", err, p.logs.String())
	}
	wg.Wait()
	if !strings.Contains(p.logs.String(), "draining in-flight calls") {
		t.Fatalf("no drain logged: %s", p.logs.String())
	}
	p2 := startProcess(t, p.dataDir)
	login, err := p2.clients("").Auth.Login(context.Background(), req(&nuxariv1.LoginRequest{OrgId: "term", Email: "o@example.com", Password: ownerPW}))
	if err != nil {
		t.Fatal(err)
	}
	c2 := p2.clients(login.Msg.SessionToken)
	for _, i := range acks {
		if _, err := c2.Ledger.GetEvent(context.Background(), req(&nuxariv1.GetEventRequest{Index: i})); err != nil {
			t.Fatalf("acknowledged event %d lost: %v", i, err)
		}
	}
	t.Logf("%d acknowledged before SIGTERM, all present; refused after: %v", len(acks), errs)
}
