package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nuxari/nuxari/client"
	"github.com/nuxari/nuxari/governance/connectors"
	"github.com/nuxari/nuxari/internal/pgtest"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// The rotation crash helper is this test binary run again as a server of
// its own, which kills itself with SIGKILL right after the rotation step
// its environment names is committed.
const (
	crashStepEnv = "NUXARI_TEST_ROTATION_CRASH_STEP"     // the step after which to die
	crashDirEnv  = "NUXARI_TEST_ROTATION_CRASH_DATA_DIR" // the server's data directory
	crashURLEnv  = "NUXARI_TEST_ROTATION_CRASH_URL_FILE" // where to write the server's URL
)

// crashLine is what the helper writes to its standard error just before
// it kills itself.
func crashLine(step string) string { return "rotation crash helper: SIGKILL after step " + step }

// TestRotationCrashHelper is not a test: TestRotationCrash runs it in a
// process of its own (see crashStepEnv).
func TestRotationCrashHelper(t *testing.T) {
	step := os.Getenv(crashStepEnv)
	if step == "" {
		t.Skip("a server process of TestRotationCrash's, not a test")
	}
	ts := servertest.Start(t, func(c *server.Config) {
		c.DataDir = os.Getenv(crashDirEnv)
		c.Logger = server.NewLogger(os.Stderr, slog.LevelDebug)
		c.Governance.Connectors.AfterStep = func(org, id, s string) {
			if s != step {
				return
			}
			fmt.Fprintln(os.Stderr, crashLine(step))
			if err := syscall.Kill(os.Getpid(), syscall.SIGKILL); err != nil {
				fmt.Fprintln(os.Stderr, "rotation crash helper: kill:", err)
			}
			select {} // nothing more of the rotation runs
		}
	})
	file := os.Getenv(crashURLEnv)
	if err := os.WriteFile(file+".tmp", []byte(ts.URL), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".tmp", file); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Minute)
	t.Fatalf("not killed after step %s within 2 minutes", step)
}

// crashHelper is a running TestRotationCrashHelper process.
type crashHelper struct {
	cmd    *exec.Cmd
	url    string
	logs   *servertest.SyncBuffer
	exited chan struct{}
}

// startCrashHelper starts a server on dataDir that dies after step and
// waits until it answers.
func startCrashHelper(t *testing.T, dataDir, step string) *crashHelper {
	t.Helper()
	return startHelperProcess(t, "TestRotationCrashHelper", func(urlFile string) []string {
		return []string{crashStepEnv + "=" + step, crashDirEnv + "=" + dataDir, crashURLEnv + "=" + urlFile}
	})
}

// startHelperProcess runs test (a helper test of this binary) in a new
// process with the variables env gives for the file it writes its URL
// to, and waits until it serves; the process is killed when t ends.
func startHelperProcess(t *testing.T, test string, env func(urlFile string) []string) *crashHelper {
	t.Helper()
	// The helper is killed, so it never removes its own temporary
	// directories: they are made inside this test's, which is removed.
	tmp := t.TempDir()
	urlFile := filepath.Join(tmp, "url")
	h := &crashHelper{logs: &servertest.SyncBuffer{}, exited: make(chan struct{})}
	h.cmd = exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.timeout=5m")
	h.cmd.Env = append(append(os.Environ(), "TMPDIR="+tmp), env(urlFile)...)
	h.cmd.Stdout, h.cmd.Stderr = h.logs, h.logs
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = h.cmd.Wait(); close(h.exited) }()
	t.Cleanup(func() { _ = h.cmd.Process.Kill(); <-h.exited })
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(urlFile)
		if err == nil {
			h.url = string(b)
			return h
		}
		select {
		case <-h.exited:
			t.Fatalf("%s exited before serving: %s", test, h.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start: %s", test, h.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *crashHelper) clients(token string) servertest.Clients {
	return client.New(h.url, token)
}

// waitKilled waits for the helper to end and checks that SIGKILL ended
// it, after step.
func (h *crashHelper) waitKilled(t *testing.T, step string) {
	t.Helper()
	select {
	case <-h.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("the crash helper still runs 30 s after the rotation: %s", h.logs.String())
	}
	ws, ok := h.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the crash helper ended with %v, not SIGKILL: %s", h.cmd.ProcessState, h.logs.String())
	}
	if !strings.Contains(h.logs.String(), crashLine(step)) {
		t.Fatalf("the crash helper was killed, but not after step %s: %s", step, h.logs.String())
	}
}

// TestRotationCrash kills a real server process with SIGKILL right after
// each step of a credential rotation is committed, then starts nuxarid on
// the same data directory. The connector must end up active, not
// rotating, with one set of credentials that PostgreSQL accepts: the old
// password after a rotation interrupted before the new one was stored
// (rolled back), the new one after (completed by the restart). The org's
// log holds the rotation's events in order, the steps after the kill
// taken by the system, each in a signed checkpoint.
func TestRotationCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds, kills and restarts servers")
	}
	pg := pgtest.Need(t)
	if _, err := nuxarid(); err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{
		connectors.StepStarted, connectors.StepValidated, connectors.StepStored,
		connectors.StepSwapped, connectors.StepPurged, connectors.StepCompleted,
	} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			rotationCrash(t, pg, step)
		})
	}
}

func rotationCrash(t *testing.T, pg pgtest.Server, step string) {
	ctx := context.Background()
	admin := pg.Admin(t, pg.Database)
	prefix := pgtest.NewPrefix(t)
	pgtest.DropRoles(t, admin, prefix)
	role := prefix + "rotated"
	oldPW, newPW := pgPassword("OldPw"), pgPassword("NewPw")
	pgLoginRole(t, admin, role, oldPW)
	testConn := func(c servertest.Clients, id string) *nuxariv1.TestConnectorResponse {
		t.Helper()
		return must(c.Connectors.TestConnector(ctx, req(&nuxariv1.TestConnectorRequest{ConnectorId: id})))(t).Msg
	}

	// The first server: an org, a connector on the old password, tested;
	// then PostgreSQL takes the new password and the rotation to it
	// starts, and the server dies after step.
	dir := t.TempDir()
	h := startCrashHelper(t, dir, step)
	const org = "rotcrash"
	created := must(h.clients("").Org.CreateOrg(ctx, req(&nuxariv1.CreateOrgRequest{OrgId: org, OwnerEmail: "o@example.com", OwnerPassword: ownerPW})))(t)
	ownerID := created.Msg.Owner.UserId
	login := must(h.clients("").Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: org, Email: "o@example.com", Password: ownerPW})))(t)
	c := h.clients(login.Msg.SessionToken)
	before := must(c.Connectors.CreateConnector(ctx, req(&nuxariv1.CreateConnectorRequest{
		Name: "crash " + step, Settings: pgSettings(pg, prefix, role), Credentials: pgCreds(oldPW),
	})))(t).Msg.Connector
	id := before.ConnectorId
	if res := testConn(c, id); !res.Ok {
		t.Fatalf("TestConnector before the rotation: %v", res)
	}
	pgSetPassword(t, admin, role, newPW)
	_, err := c.Connectors.RotateCredentials(ctx, req(&nuxariv1.RotateCredentialsRequest{ConnectorId: id, Credentials: pgCreds(newPW)}))
	if err == nil {
		t.Fatalf("the rotation answered; the server should have died after step %s", step)
	}
	h.waitKilled(t, step)

	// nuxarid on the same data directory ends the rotation as it starts.
	p := startProcess(t, dir)
	login = must(p.clients("").Auth.Login(ctx, req(&nuxariv1.LoginRequest{OrgId: org, Email: "o@example.com", Password: ownerPW})))(t)
	c = p.clients(login.Msg.SessionToken)
	got := must(c.Connectors.GetConnector(ctx, req(&nuxariv1.GetConnectorRequest{ConnectorId: id})))(t).Msg.Connector
	if got.State != stActive || got.RotationStep != "" || len(got.Credentials) != 1 || got.Credentials[0].Name != "password" {
		t.Fatalf("the connector after the restart: %v", got)
	}
	rolledBack := step == connectors.StepStarted || step == connectors.StepValidated
	beforeTime, afterTime := rotateTime(t, before, "password"), rotateTime(t, got, "password")
	if rolledBack && !afterTime.Equal(beforeTime) {
		t.Errorf("rolled back, yet the password was stored anew at %v (first at %v)", afterTime, beforeTime)
	}
	if !rolledBack && !afterTime.After(beforeTime) {
		t.Errorf("completed, yet the password's time %v is not after the first's %v", afterTime, beforeTime)
	}
	keys := must(c.Connectors.GetSealingKeys(ctx, req(&nuxariv1.GetSealingKeysRequest{})))(t).Msg
	if len(keys.Keys) != 1 || keys.Keys[0].Credentials != 1 {
		t.Errorf("sealing keys after the restart: %v; want one key sealing one password, the old or new one purged", keys)
	}
	recovering := "recovering an interrupted credential rotation"
	if logs := p.logs.String(); step == connectors.StepCompleted && strings.Contains(logs, recovering) {
		t.Errorf("nuxarid recovered a rotation that had completed: %s", logs)
	} else if step != connectors.StepCompleted && (!strings.Contains(logs, recovering) || !strings.Contains(logs, `"step":"`+step+`"`)) {
		t.Errorf("nuxarid's log does not say it recovered the rotation at step %s: %s", step, logs)
	}

	// The log: the connector's creation and test, then the rotation.
	evs := ofSubject(orgLog(t, c, org), "connector:"+id)
	type ev struct{ typ, actor string }
	want := []ev{{"connector.created", ownerID}, {"connector.credential.accessed", ownerID}, {"connector.tested", ownerID}}
	by := ownerID
	steps := []ev{{"connector.rotation.started", ""}}
	if step != connectors.StepStarted {
		steps = append(steps, ev{"connector.credential.accessed", ""}, ev{"connector.rotation.validated", ""})
	}
	if rolledBack {
		steps = append(steps, ev{"connector.rotation.rolled_back", ""})
	} else {
		for _, s := range []string{"stored", "swapped", "purged", "completed"} {
			steps = append(steps, ev{"connector.rotation." + s, ""})
		}
	}
	for _, s := range steps {
		s.actor = by
		want = append(want, s)
		if s.typ == "connector.rotation."+step {
			by = "system" // the restart took the steps after the kill
		}
	}
	if rolledBack {
		want[len(want)-1].actor = "system"
	}
	var gotEvs []ev
	for _, e := range evs {
		gotEvs = append(gotEvs, ev{e.Type, e.Actor})
	}
	if !slices.Equal(gotEvs, want) {
		t.Fatalf("the connector's events after a kill at %s:\n got %v\nwant %v", step, gotEvs, want)
	}
	rid := ""
	for _, e := range evs[3:] {
		r, _ := e.Data["rotation_id"].(string)
		if rid == "" {
			rid = r
		}
		if e.Type != "connector.credential.accessed" && (r == "" || r != rid) {
			t.Errorf("event %s of rotation %q: rotation_id %q", e.Type, rid, r)
		}
	}
	if last := evs[len(evs)-1]; rolledBack && (last.Data["step"] != step || last.Data["state"] != "active") {
		t.Errorf("connector.rotation.rolled_back: %v; want step %s, state active", last.Data, step)
	} else if !rolledBack && last.Data["state"] != "active" {
		t.Errorf("connector.rotation.completed: %v; want state active", last.Data)
	}
	verifyInLog(t, c, org, evs)

	// Which password is in force: PostgreSQL takes one at a time. The
	// one not in force fails the test (the connector becomes failed);
	// the one in force passes it (the connector is active again).
	inForce, other := newPW, oldPW
	if rolledBack {
		inForce, other = oldPW, newPW
	}
	pgSetPassword(t, admin, role, other)
	if res := testConn(c, id); res.Ok || res.Connector.State != stFailed {
		t.Errorf("TestConnector with PostgreSQL on the password not in force: %v", res)
	}
	pgSetPassword(t, admin, role, inForce)
	if res := testConn(c, id); !res.Ok || res.Connector.State != stActive {
		t.Fatalf("TestConnector with PostgreSQL on the password in force: %v", res)
	}
	// And the connector works on: a sync, and a rotation from start to
	// end.
	if sy := syncNow(t, c, id); sy.State != syncSucceeded {
		t.Errorf("sync after the restart: %v", sy)
	}
	third := pgPassword("ThirdPw")
	pgSetPassword(t, admin, role, third)
	if rot := must(c.Connectors.RotateCredentials(ctx, req(&nuxariv1.RotateCredentialsRequest{ConnectorId: id, Credentials: pgCreds(third)})))(t).Msg.Connector; rot.State != stActive {
		t.Errorf("a rotation after the restart: %v", rot)
	}
	if res := testConn(c, id); !res.Ok {
		t.Errorf("TestConnector after a rotation after the restart: %v", res)
	}
}
