package ledger_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/verify"
)

const (
	crashDirEnv   = "NUXARI_CRASH_DIR"
	crashKeyEnv   = "NUXARI_CRASH_KEY"
	crashCycleEnv = "NUXARI_CRASH_CYCLE"
)

// crashEvent is the event appended for a seed; with an idempotency key,
// the seed is the key, so a retry carries the same event.
func crashEvent(seed string) []byte { return fmt.Appendf(nil, `{"seed":%q}`, seed) }

// TestCrashChild is the process the crash test kills: it appends under
// load from many goroutines and prints one line per acknowledged entry:
//
//	org index leafhash seed checkpointSize checkpointRoot
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrashRecovery")
	}
	s, vkey, err := ledger.ParseSignerKey(os.Getenv(crashKeyEnv))
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ledger.Config{Dir: dir, LogName: "nuxari-test", Signer: s, VerifierKey: vkey, CacheSize: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	cycle := os.Getenv(crashCycleEnv)
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			org := fmt.Sprintf("org-%d", g%4)
			for n := 0; ; n++ {
				seed := fmt.Sprintf("c%s-g%d-n%d", cycle, g, n)
				e := ledger.Entry{Event: crashEvent(seed)}
				if n%5 == 0 {
					// Keys repeat across cycles: retries of earlier entries.
					e.IdempotencyKey = fmt.Sprintf("k-%d-%d", g, n%40)
					seed = e.IdempotencyKey
					e.Event = crashEvent(seed)
				}
				ack := ledger.AckDurable
				if n%3 == 0 {
					ack = ledger.AckCheckpoint
				}
				rs, err := l.Append(context.Background(), org, []ledger.Entry{e}, ack)
				if err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(2)
				}
				r := rs[0]
				cpSize, cpRoot := uint64(0), "-"
				if r.Checkpoint != nil {
					cpSize, cpRoot = r.Checkpoint.Size, hex.EncodeToString(r.Checkpoint.Root)
				}
				mu.Lock()
				fmt.Fprintf(out, "%s %d %x %s %d %s\n", org, r.Index, r.LeafHash, seed, cpSize, cpRoot)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

type crashAck struct {
	org, seed, hash string
	index           uint64
	cpSize          uint64
	cpRoot          string
}

func parseAck(line string) (crashAck, bool) {
	f := strings.Fields(line)
	if len(f) != 6 {
		return crashAck{}, false
	}
	idx, err1 := strconv.ParseUint(f[1], 10, 64)
	size, err2 := strconv.ParseUint(f[4], 10, 64)
	if err1 != nil || err2 != nil {
		return crashAck{}, false
	}
	return crashAck{org: f[0], index: idx, hash: f[2], seed: f[3], cpSize: size, cpRoot: f[5]}, true
}

// TestCrashRecovery kills a process appending under load with SIGKILL at
// random moments, 24 times on the same store, and after each restart checks
// that every acknowledged entry is there with its bytes, that the tree
// matches its latest checkpoint, and that proofs verify.
func TestCrashRecovery(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("child")
	}
	cfg := testConfig(t)
	skey, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var acks []crashAck
	firstIndex := map[string]uint64{} // org/key → index of its first ack
	const cycles = 24
	for c := 0; c < cycles; c++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+cfg.Dir, crashKeyEnv+"="+skey, crashCycleEnv+"="+strconv.Itoa(c))
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Kill after a random number of acknowledgements (none, for some
		// cycles: a kill during start-up and recovery).
		want := []int{0, 1, 10, 100, 500, 2000}[rng.IntN(6)]
		deadline := time.After(20 * time.Second)
		var cycleAcks []crashAck
		for len(cycleAcks) < want {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("cycle %d: child exited early: %v\n%s", c, cmd.Wait(), stderr.String())
				}
				if a, ok := parseAck(line); ok {
					cycleAcks = append(cycleAcks, a)
				}
			case <-deadline:
				t.Fatalf("cycle %d: %d of %d acknowledgements in 20s\n%s", c, len(cycleAcks), want, stderr.String())
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		// Lines written before the kill are acknowledgements too.
		for line := range lines {
			if a, ok := parseAck(line); ok {
				cycleAcks = append(cycleAcks, a)
			}
		}
		_ = cmd.Wait()
		acks = append(acks, cycleAcks...)

		l, err := ledger.Open(cfg)
		if err != nil {
			t.Fatalf("cycle %d: reopen after SIGKILL: %v", c, err)
		}
		checkCrashAcks(t, l, acks, firstIndex, rng)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if len(acks) < 1000 {
		t.Fatalf("only %d acknowledgements over %d cycles", len(acks), cycles)
	}
}

func checkCrashAcks(t *testing.T, l *ledger.Ledger, acks []crashAck, firstIndex map[string]uint64, rng *rand.Rand) {
	t.Helper()
	ctx := context.Background()
	latest := map[string]ledger.Checkpoint{}
	for _, org := range l.Orgs() {
		// The reopened ledger signs what the killed one left unsigned.
		size, _ := l.Size(org)
		var cp ledger.Checkpoint
		var err error
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			cp, err = l.Checkpoint(ctx, org)
			if err == nil && cp.Size == size {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("org %s: no checkpoint at size %d after restart: %+v, %v", org, size, cp, err)
			}
		}
		v, err := verify.NewVerifier(l.VerifierKey(), l.Origin(org))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Checkpoint(cp.Note); err != nil {
			t.Fatalf("org %s: latest checkpoint: %v", org, err)
		}
		latest[org] = cp
	}
	for i, a := range acks {
		lf, err := l.Leaf(ctx, a.org, a.index)
		if err != nil {
			t.Fatalf("acknowledged %s/%d lost: %v", a.org, a.index, err)
		}
		if hex.EncodeToString(lf.Hash) != a.hash {
			t.Fatalf("acknowledged %s/%d has another hash", a.org, a.index)
		}
		parsed, err := verify.LeafAt(lf.Bytes, a.org, a.index)
		if err != nil || string(parsed.Event) != string(crashEvent(a.seed)) {
			t.Fatalf("acknowledged %s/%d holds %s, %v; want seed %s", a.org, a.index, parsed.Event, err, a.seed)
		}
		if strings.HasPrefix(a.seed, "k-") {
			key := a.org + "/" + a.seed
			if first, ok := firstIndex[key]; ok && first != a.index {
				t.Fatalf("idempotency key %s acknowledged at %d and %d", key, first, a.index)
			} else if !ok {
				firstIndex[key] = a.index
			}
		}
		// Proofs for a sample, and every checkpoint an appender received
		// must be consistent with the latest.
		cp := latest[a.org]
		if i%17 == 0 || rng.IntN(50) == 0 {
			p, err := l.InclusionProof(ctx, a.org, a.index, cp.Size)
			if err != nil || verify.Inclusion(lf.Hash, a.index, cp.Size, p, cp.Root) != nil {
				t.Fatalf("inclusion of %s/%d in %d: %v", a.org, a.index, cp.Size, err)
			}
		}
		if a.cpSize > 0 && a.cpSize <= cp.Size {
			root, _ := hex.DecodeString(a.cpRoot)
			c, err := l.ConsistencyProof(ctx, a.org, a.cpSize, cp.Size)
			if err != nil || verify.Consistency(a.cpSize, cp.Size, c, root, cp.Root) != nil {
				t.Fatalf("checkpoint %d given to an appender is not consistent with %d: %v", a.cpSize, cp.Size, err)
			}
		}
	}
}
