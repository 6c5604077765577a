package agent_test

import (
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/nuxari/nuxari/agent"
	"github.com/nuxari/nuxari/internal/agentsig"
	"github.com/nuxari/nuxari/internal/secret"
)

// enrolled returns a config enrolled with a fresh fake gateway.
func enrolled(t *testing.T) (agent.Config, *fakeGateway, *syncBuffer) {
	t.Helper()
	gw, url := newFakeGateway(t)
	logs := &syncBuffer{}
	dir := t.TempDir()
	conf := writeFile(t, filepath.Join(dir, "etc", "app.conf"), "listen 443\npassword=hunter2Zq9\n", 0o644)
	cfg := agent.Config{
		Server:      url,
		StateDir:    filepath.Join(dir, "state"),
		Collectors:  agent.Collectors{Files: []string{conf}, Commands: map[string][]string{"echo": {"/bin/echo", "hi"}}},
		Logger:      newLogger(logs),
		BackoffBase: time.Millisecond,
		BackoffMax:  20 * time.Millisecond,
		Hostname:    "host1",
	}
	id, err := agent.Enroll(context.Background(), cfg, secret.New(joinToken))
	if err != nil {
		t.Fatal(err)
	}
	if id.OrgID != "acme" || id.AgentID != "g1" || id.Server != url || id.Hostname != "host1" {
		t.Fatalf("identity %+v", id)
	}
	return cfg, gw, logs
}

// start runs the agent until the test ends.
func start(t *testing.T, cfg agent.Config) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

func completedCount(gw *fakeGateway, id string) (n int) {
	gw.snapshot(func(f *fakeGateway) {
		for _, c := range f.completes {
			if c.TaskId == id {
				n++
			}
		}
	})
	return n
}

func journalState(t *testing.T, cfg agent.Config, id string) string {
	t.Helper()
	j, err := agent.OpenJournal(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	e, ok, err := j.Get(id)
	if err != nil || !ok {
		t.Fatalf("journal of %s: %v %v", id, ok, err)
	}
	return e.State
}

func TestRunTasks(t *testing.T) {
	cfg, gw, logs := enrolled(t)
	gw.addTask("t-file", "file", cfg.Collectors.Files[0])
	gw.addTask("t-users", "users", "")
	gw.addTask("t-cmd", "command", "echo")
	gw.addTask("t-cmd-unlisted", "command", "/bin/sh")
	gw.addTask("t-unlisted", "file", "/etc/shadow")
	// Allowed but gone: the OS error names the path; the server gets a
	// fixed reason.
	missing := filepath.Join(filepath.Dir(cfg.Collectors.Files[0]), "gone.conf")
	cfg.Collectors.Files = append(cfg.Collectors.Files, missing)
	gw.addTask("t-missing", "file", missing)
	start(t, cfg)

	for _, id := range []string{"t-file", "t-users", "t-cmd", "t-cmd-unlisted", "t-unlisted", "t-missing"} {
		waitFor(t, "task "+id+" completed", func() bool { return completedCount(gw, id) == 1 })
		waitFor(t, "task "+id+" journalled done", func() bool { return journalState(t, cfg, id) == agent.TaskDone })
	}
	waitFor(t, "heartbeats", func() (ok bool) {
		gw.snapshot(func(f *fakeGateway) { ok = f.heartbeats >= 3 })
		return ok
	})

	gw.snapshot(func(f *fakeGateway) {
		want := map[string]struct {
			ok     bool
			detail string
		}{
			"t-file":         {true, "1 evidence item(s) submitted; scrubbed: password"},
			"t-users":        {false, "collector users not allowed by this agent's configuration"},
			"t-cmd":          {true, "1 evidence item(s) submitted"},
			"t-cmd-unlisted": {false, `command "/bin/sh" not allowed by this agent's configuration`},
			"t-unlisted":     {false, `file "/etc/shadow" not allowed by this agent's configuration`},
			"t-missing":      {false, "the collector's target does not exist on this host"},
		}
		for id, w := range want {
			c := f.completed[id]
			if c.Ok != w.ok || c.Detail != w.detail {
				t.Errorf("%s completed ok=%v %q, want ok=%v %q", id, c.Ok, c.Detail, w.ok, w.detail)
			}
		}
		if len(f.submissions) != 2 {
			t.Fatalf("%d submissions, want 2 (file and command)", len(f.submissions))
		}
		for _, s := range f.submissions {
			for _, it := range s.Items {
				// The gateway verified it; verify independently too.
				payload := agentsig.Evidence("acme", "g1", s.TaskId, it.Collector, it.Target, it.CollectedTime.AsTime(), it.Sha256, it.Scrubbed)
				if !ed25519.Verify(f.pub, payload, it.Signature) {
					t.Errorf("task %s: signature does not verify", s.TaskId)
				}
				if strings.Contains(string(it.Content), "hunter2Zq9") {
					t.Errorf("task %s: a secret left the host:\n%s", s.TaskId, it.Content)
				}
			}
		}
	})

	// Nothing secret in the logs or the state directory.
	gw.snapshot(func(f *fakeGateway) {
		secrets := append([]string{joinToken, "PRIVATE KEY", "hunter2Zq9"}, f.tokens...)
		for _, s := range secrets {
			if strings.Contains(logs.String(), s) {
				t.Errorf("logs hold a secret %q", s)
			}
		}
		filepath.WalkDir(cfg.StateDir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, _ := os.ReadFile(p)
			for _, s := range append([]string{joinToken, "hunter2Zq9"}, f.tokens...) {
				if strings.Contains(string(data), s) {
					t.Errorf("%s holds a secret", p)
				}
			}
			return nil
		})
	})
}

func TestRunDoesNotRepeatAfterFailedCompletion(t *testing.T) {
	cfg, gw, _ := enrolled(t)
	gw.snapshot(func(f *fakeGateway) { f.failComplete = 2 })
	gw.addTask("t1", "command", "echo")
	start(t, cfg)
	waitFor(t, "completion", func() bool { return completedCount(gw, "t1") == 1 })
	gw.snapshot(func(f *fakeGateway) {
		if len(f.submissions) != 1 {
			t.Errorf("evidence submitted %d times, want once", len(f.submissions))
		}
	})
}

func TestRunResumesStartedTask(t *testing.T) {
	cfg, gw, _ := enrolled(t)
	j, err := agent.OpenJournal(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	// As if the agent died while running the collector.
	if err := j.Put(agent.JournalEntry{TaskID: "t1", Collector: "command", Target: "echo", State: agent.TaskStarted}); err != nil {
		t.Fatal(err)
	}
	gw.addTask("t1", "command", "echo")
	start(t, cfg)
	waitFor(t, "completion", func() bool { return completedCount(gw, "t1") == 1 })
	waitFor(t, "journal done", func() bool { return journalState(t, cfg, "t1") == agent.TaskDone })
	gw.snapshot(func(f *fakeGateway) {
		if len(f.submissions) != 1 || !f.completed["t1"].Ok {
			t.Errorf("%d submissions, completion %v; want the task run once", len(f.submissions), f.completed["t1"])
		}
	})
}

func TestRunNeverRerunsDoneOrSubmitted(t *testing.T) {
	cfg, gw, _ := enrolled(t)
	j, err := agent.OpenJournal(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []agent.JournalEntry{
		{TaskID: "t-done", Collector: "command", Target: "echo", State: agent.TaskDone, OK: true, Detail: "from the journal"},
		{TaskID: "t-sub", Collector: "command", Target: "echo", State: agent.TaskSubmitted, OK: false, Detail: "failed before"},
	} {
		if err := j.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	gw.addTask("t-done", "command", "echo")
	gw.addTask("t-sub", "command", "echo")
	start(t, cfg)
	waitFor(t, "completions", func() bool { return completedCount(gw, "t-done") == 1 && completedCount(gw, "t-sub") == 1 })
	waitFor(t, "journal done", func() bool { return journalState(t, cfg, "t-sub") == agent.TaskDone })
	gw.snapshot(func(f *fakeGateway) {
		if len(f.submissions) != 0 {
			t.Errorf("%d submissions for tasks already submitted", len(f.submissions))
		}
		if c := f.completed["t-done"]; !c.Ok || c.Detail != "from the journal" {
			t.Errorf("t-done completed with %v", c)
		}
		if c := f.completed["t-sub"]; c.Ok || c.Detail != "failed before" {
			t.Errorf("t-sub completed with %v", c)
		}
	})
}

func TestRunReauthenticates(t *testing.T) {
	cfg, gw, _ := enrolled(t)
	start(t, cfg)
	waitFor(t, "first token", func() (ok bool) {
		gw.snapshot(func(f *fakeGateway) { ok = f.issued == 1 && f.heartbeats > 0 })
		return ok
	})
	gw.revokeTokens()
	waitFor(t, "a new token", func() (ok bool) {
		gw.snapshot(func(f *fakeGateway) { ok = f.issued >= 2 })
		return ok
	})
	gw.addTask("t1", "command", "echo")
	waitFor(t, "completion with the new token", func() bool { return completedCount(gw, "t1") == 1 })
}

// TestRunRenewsTokenBeforeExpiry: the gateway refuses expired tokens and
// ends a stream when its token expires, as the real one does; the agent
// renews each token before its lifetime ends, so it never makes a call
// with an expired token and its stream is never cut by expiry.
func TestRunRenewsTokenBeforeExpiry(t *testing.T) {
	cfg, gw, _ := enrolled(t)
	// Long enough that the 20% left at renewal (1 s) absorbs a busy
	// machine's scheduling delays.
	const ttl = 5 * time.Second
	gw.snapshot(func(f *fakeGateway) { f.tokenTTL = ttl })
	start(t, cfg)
	var issuedAt []time.Time
	deadline := 10 * ttl
	waitForWithin(t, "two renewals", deadline, func() (ok bool) {
		gw.snapshot(func(f *fakeGateway) { ok, issuedAt = f.issued >= 3, slices.Clone(f.issuedAt) })
		return ok
	})
	for i := 1; i < len(issuedAt); i++ {
		if gap := issuedAt[i].Sub(issuedAt[i-1]); gap >= ttl {
			t.Errorf("token %d was issued %v after token %d, whose lifetime is %v: not renewed before it expired", i+1, gap, i, ttl)
		}
	}
	gw.snapshot(func(f *fakeGateway) {
		for _, u := range f.expiredUses {
			t.Errorf("the agent used an expired token: %s", u)
		}
	})
	// Still working with the renewed token.
	gw.addTask("t1", "command", "echo")
	waitFor(t, "completion with a renewed token", func() bool { return completedCount(gw, "t1") == 1 })
	gw.snapshot(func(f *fakeGateway) {
		if len(f.expiredUses) > 0 {
			t.Errorf("the agent used an expired token: %v", f.expiredUses)
		}
	})
}

func TestRunKeepsTryingWhenRefused(t *testing.T) {
	cfg, gw, logs := enrolled(t)
	gw.snapshot(func(f *fakeGateway) {
		f.refuse = connect.NewError(connect.CodeUnauthenticated, errors.New("unknown or decommissioned agent"))
	})
	start(t, cfg)
	waitFor(t, "a logged refusal, twice", func() bool { return strings.Count(logs.String(), "the server refuses this agent") >= 2 })
	gw.snapshot(func(f *fakeGateway) { f.refuse = nil })
	gw.addTask("t1", "command", "echo")
	waitFor(t, "recovery", func() bool { return completedCount(gw, "t1") == 1 })
}

func TestRunNotEnrolled(t *testing.T) {
	cfg := agent.Config{Server: "http://127.0.0.1:1", StateDir: t.TempDir()}
	if err := agent.Run(context.Background(), cfg); !errors.Is(err, agent.ErrNotEnrolled) {
		t.Errorf("Run = %v, want ErrNotEnrolled", err)
	}
}

func TestEnrollState(t *testing.T) {
	cfg, gw, _ := enrolled(t)
	for name, want := range map[string]os.FileMode{".": 0o700, "agent.key": 0o600, "agent.json": 0o600} {
		fi, err := os.Stat(filepath.Join(cfg.StateDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %o, want %o", name, fi.Mode().Perm(), want)
		}
	}
	// The key on disk is the one the server has.
	data, err := os.ReadFile(filepath.Join(cfg.StateDir, "agent.key"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	gw.snapshot(func(f *fakeGateway) {
		if !k.(ed25519.PrivateKey).Public().(ed25519.PublicKey).Equal(f.pub) {
			t.Error("agent.key does not match the enrolled public key")
		}
	})
	if _, err := agent.Enroll(context.Background(), cfg, secret.New(joinToken)); !errors.Is(err, agent.ErrAlreadyEnrolled) {
		t.Errorf("second Enroll = %v, want ErrAlreadyEnrolled", err)
	}
	// Journal files are 0600 in a 0700 directory.
	j, err := agent.OpenJournal(cfg.StateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Put(agent.JournalEntry{TaskID: "t1", State: agent.TaskStarted}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"tasks": 0o700, "tasks/t1.json": 0o600} {
		fi, err := os.Stat(filepath.Join(cfg.StateDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s has mode %o, want %o", name, fi.Mode().Perm(), want)
		}
	}
	var out strings.Builder
	if err := agent.Status(cfg, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"org:       acme", "agent:     g1", "key:       sha256:", "tasks:     1 started, 0 submitted, 0 done"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
}

func TestEnrollRefusedLeavesNoKey(t *testing.T) {
	_, url := newFakeGateway(t)
	cfg := agent.Config{Server: url, StateDir: filepath.Join(t.TempDir(), "state"), Hostname: "h"}
	_, err := agent.Enroll(context.Background(), cfg, secret.New("nxj.acme.wrongwrongwrongwrongwrongwrongwrongwrongwro"))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("Enroll = %v, want Unauthenticated", err)
	}
	if strings.Contains(err.Error(), "wrongwrong") {
		t.Error("the error shows the join token")
	}
	ents, _ := os.ReadDir(cfg.StateDir)
	if len(ents) != 0 {
		t.Errorf("state directory holds %v after a refused enrolment", ents)
	}
	var out strings.Builder
	if err := agent.Status(cfg, &out); !errors.Is(err, agent.ErrNotEnrolled) || !strings.Contains(out.String(), "enrolled:  no") {
		t.Errorf("Status = %v, %q", err, out.String())
	}
}

func TestSignItem(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	it := agent.Item{Collector: "file", Target: "/etc/x", Content: []byte("c"), Scrubbed: []string{"password", "token"}}
	ev := agent.SignItem(key, "acme", "g1", "t1", it, at)
	payload := agentsig.Evidence("acme", "g1", "t1", "file", "/etc/x", ev.CollectedTime.AsTime(), ev.Sha256, ev.Scrubbed)
	if !ed25519.Verify(pub, payload, ev.Signature) {
		t.Fatal("signature does not verify")
	}
	if !ev.CollectedTime.AsTime().Equal(at) || sha256hex("c") != hexOf(ev.Sha256) {
		t.Errorf("item %v", ev)
	}
	// Any change to what is signed breaks it.
	for _, p := range [][]byte{
		agentsig.Evidence("acme", "g1", "t2", "file", "/etc/x", at, ev.Sha256, ev.Scrubbed),
		agentsig.Evidence("acme", "g1", "t1", "file", "/etc/y", at, ev.Sha256, ev.Scrubbed),
		agentsig.Evidence("acme", "g1", "t1", "file", "/etc/x", at, ev.Sha256, []string{"token"}),
	} {
		if ed25519.Verify(pub, p, ev.Signature) {
			t.Error("signature verifies over a different payload")
		}
	}
}

func TestRunCorruptJournalEntryFailsTask(t *testing.T) {
	cfg, gw, _ := enrolled(t)
	if _, err := agent.OpenJournal(cfg.StateDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.StateDir, "tasks", "t1.json"), []byte("{garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	gw.addTask("t1", "command", "echo")
	start(t, cfg)
	waitFor(t, "completion", func() bool { return completedCount(gw, "t1") == 1 })
	gw.snapshot(func(f *fakeGateway) {
		if len(f.submissions) != 0 || f.completed["t1"].Ok {
			t.Errorf("a task of unknown progress was run again: %d submissions, %v", len(f.submissions), f.completed["t1"])
		}
	})
}
