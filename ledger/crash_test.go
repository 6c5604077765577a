package ledger_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
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

// The crash test runs its child in a copy of the test binary, configured
// through these environment variables.
const (
	crashDirEnv = "NUXARI_CRASH_DIR" // the ledger directory
	crashKeyEnv = "NUXARI_CRASH_KEY" // the note signer key
	crashRunEnv = "NUXARI_CRASH_RUN" // distinguishes the events of each run
)

var crashOrgs = []string{"acme", "globex", "initech", "umbrella", "hooli"}

// crashEvent is the event appended for seed. An entry with an idempotency
// key has the key as its seed, so that a retry carries the same event.
func crashEvent(seed string) []byte {
	return fmt.Appendf(nil, `{"seed":%q,"type":"crash-test"}`, seed)
}

// TestCrashChild is the process TestCrashRecovery kills. It opens the
// ledger (recovering from the previous kill), appends from many goroutines
// to several orgs, and prints one line per acknowledged entry once Append
// has returned:
//
//	ack <org> <index> <leaf hash hex> <seed> <dup|new> <checkpoint note base64|->
//
// or "fail <error>" if an append fails.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("the process TestCrashRecovery starts and kills")
	}
	s, vkey, err := ledger.ParseSignerKey(os.Getenv(crashKeyEnv))
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ledger.Config{
		Dir: dir, LogName: "nuxari-test", Signer: s, VerifierKey: vkey,
		CacheSize:          8 << 20,
		CheckpointInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	run := os.Getenv(crashRunEnv)
	var mu sync.Mutex // one write per append, whole lines
	var wg sync.WaitGroup
	for g := range 24 {
		wg.Go(func() {
			org := crashOrgs[g%len(crashOrgs)]
			for n := 0; ; n++ {
				entries := make([]ledger.Entry, 1+(g+n)%3)
				seeds := make([]string, len(entries))
				for i := range entries {
					seeds[i] = fmt.Sprintf("r%s-g%d-n%d-%d", run, g, n, i)
					if (n+i)%4 == 0 {
						// Keys recur in every run: retries across crashes.
						entries[i].IdempotencyKey = fmt.Sprintf("k-g%d-%d", g, (n+i)%60)
						seeds[i] = entries[i].IdempotencyKey
					}
					entries[i].Event = crashEvent(seeds[i])
				}
				ack := ledger.AckDurable
				if n%3 != 0 {
					ack = ledger.AckCheckpoint
				}
				rs, err := l.Append(context.Background(), org, entries, ack)
				var out bytes.Buffer
				if err != nil {
					fmt.Fprintf(&out, "fail %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
				}
				for i, r := range rs {
					dup, note := "new", "-"
					if r.Duplicate {
						dup = "dup"
					}
					if r.Checkpoint != nil {
						note = base64.StdEncoding.EncodeToString(r.Checkpoint.Note)
					}
					fmt.Fprintf(&out, "ack %s %d %x %s %s %s\n", org, r.Index, r.LeafHash, seeds[i], dup, note)
				}
				mu.Lock()
				_, werr := os.Stdout.Write(out.Bytes())
				mu.Unlock()
				if err != nil || werr != nil {
					return
				}
			}
		})
	}
	wg.Wait()
}

// crashAck is one line of TestCrashChild.
type crashAck struct {
	org   string
	index uint64
	hash  []byte
	seed  string
	dup   bool
	note  []byte // nil unless AckCheckpoint
}

func (a crashAck) key() string {
	if strings.HasPrefix(a.seed, "k-") {
		return a.seed
	}
	return ""
}

func parseCrashAck(line string) (crashAck, error) {
	f := strings.Fields(line)
	if len(f) != 7 || f[0] != "ack" {
		return crashAck{}, fmt.Errorf("malformed line %q", line)
	}
	a := crashAck{org: f[1], seed: f[4], dup: f[5] == "dup"}
	var err error
	if a.index, err = strconv.ParseUint(f[2], 10, 64); err != nil {
		return crashAck{}, fmt.Errorf("line %q: %w", line, err)
	}
	if a.hash, err = hex.DecodeString(f[3]); err != nil || len(a.hash) != verify.HashSize {
		return crashAck{}, fmt.Errorf("line %q: bad leaf hash", line)
	}
	if f[6] != "-" {
		if a.note, err = base64.StdEncoding.DecodeString(f[6]); err != nil {
			return crashAck{}, fmt.Errorf("line %q: %w", line, err)
		}
	}
	return a, nil
}

// TestCrashRecovery kills a process appending under load with SIGKILL at
// random moments, again and again on the same directory, and after each
// kill reopens the ledger (Open checks every tree against its latest
// checkpoint) and checks that every acknowledged entry is there with its
// hash and event, that idempotency keys kept their first index, that the
// latest checkpoint verifies and extends the one recovery found and every
// checkpoint an appender received, and that inclusion proofs verify.
func TestCrashRecovery(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the child")
	}
	skey, err := testKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.CheckpointInterval = 10 * time.Millisecond // sign what a kill left unsigned soon
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill schedule seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	const cycles = 24
	var acks []crashAck
	keyIndex := map[string]uint64{} // org/key → the index first acknowledged
	kills, early := 0, 0
	for c := range cycles {
		// Every third cycle a second child recovers from the first one's
		// crash before the test looks.
		runs := 1
		if c%3 == 2 {
			runs = 2
		}
		var fresh []crashAck
		for k := range runs {
			got, wasEarly := runAndKill(t, cfg.Dir, skey, fmt.Sprintf("%d.%d", c, k), rng)
			fresh = append(fresh, got...)
			kills++
			if wasEarly {
				early++
			}
		}
		l, err := ledger.Open(cfg)
		if err != nil {
			t.Fatalf("cycle %d: Open after SIGKILL: %v", c, err)
		}
		old := acks
		if c < cycles-1 && len(old) > 100 {
			// Earlier acknowledgements were checked after their own kill;
			// recheck a sample, and all of them after the last kill.
			old = make([]crashAck, 100)
			for i := range old {
				old[i] = acks[rng.IntN(len(acks))]
			}
		}
		checkCrash(t, l, old, fresh, keyIndex, rng)
		if err := l.Close(); err != nil {
			t.Fatalf("cycle %d: Close: %v", c, err)
		}
		acks = append(acks, fresh...)
	}
	dups, signed := 0, 0
	for _, a := range acks {
		if a.dup {
			dups++
		}
		if a.note != nil {
			signed++
		}
	}
	t.Logf("%d kills (%d early), %d acknowledged entries, %d duplicates, %d with a checkpoint", kills, early, len(acks), dups, signed)
	if len(acks) < 200 || dups == 0 || signed == 0 {
		t.Fatalf("too little load to test anything: %d acknowledgements, %d duplicates, %d with a checkpoint", len(acks), dups, signed)
	}
}

// runAndKill starts TestCrashChild on dir, kills it with SIGKILL at a
// random moment, and returns what it acknowledged. Mostly the kill comes
// a random delay after a random number of acknowledgements; one time in
// five it comes a random delay after the start, which may be before the
// ledger is open, during recovery, or among the first appends.
func runAndKill(t *testing.T, dir, skey, run string, rng *rand.Rand) (acks []crashAck, early bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashKeyEnv+"="+skey, crashRunEnv+"="+run)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Should the test stop early, the child goes too; after Wait this
	// fails harmlessly.
	defer func() { _ = cmd.Process.Kill() }()
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	exited := func() {
		for range lines {
		}
		t.Fatalf("run %s: child exited before the kill: %v\n%s", run, cmd.Wait(), stderr.String())
	}
	take := func(line string) {
		if rest, ok := strings.CutPrefix(line, "fail "); ok {
			t.Errorf("run %s: append failed in the child: %s", run, rest)
			return
		}
		if !strings.HasPrefix(line, "ack ") {
			return // test framework output
		}
		a, err := parseCrashAck(line)
		if err != nil {
			t.Fatalf("run %s: %v", run, err)
		}
		acks = append(acks, a)
	}

	var delay time.Duration
	if early = rng.IntN(5) == 0; early {
		delay = time.Duration(rng.Int64N(int64(150 * time.Millisecond)))
	} else {
		want := []int{1, 1, 10, 100, 400}[rng.IntN(5)]
		deadline := time.After(20 * time.Second)
		for len(acks) < want {
			select {
			case line, ok := <-lines:
				if !ok {
					exited()
				}
				take(line)
			case <-deadline:
				t.Fatalf("run %s: %d of %d acknowledgements in 20 s\n%s", run, len(acks), want, stderr.String())
			}
		}
		delay = time.Duration(rng.Int64N(int64(50 * time.Millisecond)))
	}
	kill := time.After(delay)
wait:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				exited()
			}
			take(line)
		case <-kill:
			break wait
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Lines written before the kill are acknowledgements too.
	for line := range lines {
		take(line)
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("run %s: child did not die of SIGKILL: %v\n%s", run, err, stderr.String())
	}
	return acks, early
}

// checkCrash checks a ledger reopened after a kill against the entries
// acknowledged before it: fresh ones, from the runs since the last check,
// and old ones, from earlier runs. It records the first index of each
// idempotency key in keyIndex.
func checkCrash(t *testing.T, l *ledger.Ledger, old, fresh []crashAck, keyIndex map[string]uint64, rng *rand.Rand) {
	t.Helper()
	ctx := context.Background()
	recovered := map[string]ledger.Checkpoint{} // what Open checked the tree against
	latest := map[string]ledger.Checkpoint{}    // covering the whole tree
	size := map[string]uint64{}
	verifiers := map[string]*verify.Verifier{}
	for _, org := range l.Orgs() {
		v, err := verify.NewVerifier(l.VerifierKey(), l.Origin(org))
		if err != nil {
			t.Fatal(err)
		}
		verifiers[org] = v
		n, err := l.Size(org)
		if err != nil {
			t.Fatalf("org %s: size after recovery: %v", org, err)
		}
		size[org] = n
		if cp, err := l.Checkpoint(ctx, org); err == nil {
			recovered[org] = verifyNote(t, l, org, cp.Note, cp)
		} else if !errors.Is(err, ledger.ErrNotFound) {
			t.Fatal(err)
		}
		latest[org] = awaitCheckpoint(t, l, org)
		if cp, ok := recovered[org]; ok {
			checkConsistent(t, l, org, cp, latest[org])
		}
	}
	noteSize := map[string]uint64{} // receipt checkpoint notes checked
	for _, a := range append(old, fresh...) {
		if a.index >= size[a.org] {
			t.Fatalf("acknowledged %s/%d beyond the recovered size %d", a.org, a.index, size[a.org])
		}
		checkAcked(t, l, []acked{{a.org, a.index, a.hash, crashEvent(a.seed), a.key()}})
		if k := a.key(); k != "" {
			id := a.org + "/" + k
			if first, ok := keyIndex[id]; ok && first != a.index {
				t.Fatalf("idempotency key %s acknowledged at %d and at %d", id, first, a.index)
			} else if !ok {
				keyIndex[id] = a.index
			}
		}
		// Inclusion proofs for a sample.
		if rng.IntN(8) == 0 {
			cur := latest[a.org]
			p, err := l.InclusionProof(ctx, a.org, a.index, cur.Size)
			if err != nil || verify.Inclusion(a.hash, a.index, cur.Size, p, cur.Root) != nil {
				t.Fatalf("inclusion of %s/%d in the latest checkpoint (%d): %v", a.org, a.index, cur.Size, err)
			}
			if rec, ok := recovered[a.org]; ok && a.index < rec.Size {
				p, err := l.InclusionProof(ctx, a.org, a.index, rec.Size)
				if err != nil || verify.Inclusion(a.hash, a.index, rec.Size, p, rec.Root) != nil {
					t.Fatalf("inclusion of %s/%d in the recovered checkpoint (%d): %v", a.org, a.index, rec.Size, err)
				}
			}
		}
		// A checkpoint handed to an appender is one the log must extend.
		if a.note != nil {
			cpSize, ok := noteSize[string(a.note)]
			if !ok {
				cp, err := verifiers[a.org].Checkpoint(a.note)
				if err != nil {
					t.Fatalf("checkpoint received for %s/%d: %v", a.org, a.index, err)
				}
				checkConsistent(t, l, a.org, cp, latest[a.org])
				cpSize = cp.Size
				noteSize[string(a.note)] = cpSize
			}
			if cpSize <= a.index {
				t.Fatalf("checkpoint of size %d received for %s/%d", cpSize, a.org, a.index)
			}
		}
	}
}
