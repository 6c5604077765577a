package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nuxari/nuxari/ledger/verify"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server/servertest"
)

// agentBin builds nuxari-agent once per test binary.
var agentBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp(binDir, "nuxari-agent-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nuxari-agent")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/nuxari-agent").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build nuxari-agent: %v\n%s", err, out)
	}
	return bin, nil
})

// listeningSockets returns the sockets process pid holds that could take
// anything inbound, from /proc: listening TCP sockets and bound UDP ones,
// IPv4 and IPv6 (and UDP-Lite and raw), and Unix sockets that listen
// (stream or seqpacket, flag __SO_ACCEPTCON) or are datagram sockets
// bound to a name (a path or an abstract "@name"). Each entry ends with
// "inode N", N the socket's inode.
func listeningSockets(t *testing.T, pid int) []string {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	if len(inodes) == 0 {
		t.Fatalf("process %d holds no socket at all: is it connected?", pid)
	}
	var out []string
	// The tables must exist: a missing one would hide its sockets.
	read := func(table string, each func(fields []string)) {
		t.Helper()
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			if table == "udplite" || table == "udplite6" || table == "raw" || table == "raw6" {
				return // optional in some kernels
			}
			t.Fatalf("reading the %s sockets of process %d: %v", table, pid, err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Scan() // the header
		for sc.Scan() {
			each(strings.Fields(sc.Text()))
		}
		if err := sc.Err(); err != nil {
			t.Fatalf("reading the %s sockets of process %d: %v", table, pid, err)
		}
	}
	for _, table := range []string{"tcp", "tcp6", "udp", "udp6", "udplite", "udplite6", "raw", "raw6"} {
		read(table, func(fields []string) {
			if len(fields) < 10 || !inodes[fields[9]] {
				return
			}
			// TCP state 0A is LISTEN; any UDP or raw socket of ours is
			// bound.
			if fields[3] == "0A" || !strings.HasPrefix(table, "tcp") {
				out = append(out, fmt.Sprintf("%s %s inode %s", table, fields[1], fields[9]))
			}
		})
	}
	// Num RefCount Protocol Flags Type St Inode [Path]
	const acceptCon = 0x10000 // __SO_ACCEPTCON: listen(2) was called
	const sockDgram = 2
	read("unix", func(fields []string) {
		if len(fields) < 7 || !inodes[fields[6]] {
			return
		}
		flags, err1 := strconv.ParseUint(fields[3], 16, 32)
		typ, err2 := strconv.ParseUint(fields[4], 16, 16)
		if err1 != nil || err2 != nil {
			t.Fatalf("unparsable line of /proc/%d/net/unix: %q", pid, fields)
		}
		path := ""
		if len(fields) > 7 {
			path = fields[7]
		}
		if flags&acceptCon != 0 || (typ == sockDgram && path != "") {
			out = append(out, fmt.Sprintf("unix %q inode %s", path, fields[6]))
		}
	})
	return out
}

// TestListeningSocketsSeesListeners: the check the agent's tests rely on
// finds every kind of listener, here in the test's own process: TCP and
// UDP on IPv4 and IPv6, a Unix stream socket on a path and on an
// abstract name, a Unix seqpacket listener, and a bound Unix datagram
// socket; and not a Unix socket that only connects out.
func TestListeningSocketsSeesListeners(t *testing.T) {
	dir := t.TempDir()
	inode := func(f *os.File) string {
		t.Helper()
		defer f.Close()
		var st syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
			t.Fatal(err)
		}
		return strconv.FormatUint(st.Ino, 10)
	}
	type filer interface{ File() (*os.File, error) }
	want := map[string]string{}
	add := func(name string, c io.Closer, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() { c.Close() })
		f, err := c.(filer).File()
		if err != nil {
			t.Fatal(err)
		}
		want[name] = inode(f)
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	add("tcp4", l, err)
	if l, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		add("tcp6", l, nil)
	} else {
		t.Logf("no IPv6 loopback here: %v", err)
	}
	u, err := net.ListenPacket("udp4", "127.0.0.1:0")
	add("udp4", u, err)
	if u, err := net.ListenPacket("udp6", "[::1]:0"); err == nil {
		add("udp6", u, nil)
	}
	l, err = net.Listen("unix", filepath.Join(dir, "s.sock"))
	add("unix path", l, err)
	l, err = net.Listen("unix", "@nuxari-test-"+randID(8))
	add("unix abstract", l, err)
	l, err = net.Listen("unixpacket", filepath.Join(dir, "p.sock"))
	add("unix seqpacket", l, err)
	d, err := net.ListenPacket("unixgram", filepath.Join(dir, "d.sock"))
	add("unix datagram", d, err)
	// A client connection to our own listener: out, not in.
	c, err := net.Dial("unix", filepath.Join(dir, "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	client := inode(must(c.(*net.UnixConn).File())(t))

	found := strings.Join(listeningSockets(t, os.Getpid()), "\n") + "\n"
	for name, ino := range want {
		if !strings.Contains(found, " inode "+ino+"\n") {
			t.Errorf("the %s listener (inode %s) was not reported:\n%s", name, ino, found)
		}
	}
	if strings.Contains(found, " inode "+client+"\n") {
		t.Errorf("an outbound Unix connection (inode %s) was reported as listening:\n%s", client, found)
	}
}

type agentProc struct {
	cmd  *exec.Cmd
	logs *servertest.SyncBuffer
}

func runAgent(t *testing.T, config string) *agentProc {
	t.Helper()
	bin, err := agentBin()
	if err != nil {
		t.Fatal(err)
	}
	p := &agentProc{cmd: exec.Command(bin, "run", "--config", config), logs: &servertest.SyncBuffer{}}
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	return p
}

func waitTask(t *testing.T, c servertest.Clients, id string, d time.Duration) *nuxariv1.Task {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		res, err := c.Agents.GetTask(context.Background(), req(&nuxariv1.GetTaskRequest{TaskId: id}))
		if err != nil {
			t.Fatal(err)
		}
		if s := res.Msg.Task.State; s == nuxariv1.TaskState_TASK_STATE_SUCCEEDED || s == nuxariv1.TaskState_TASK_STATE_FAILED {
			return res.Msg.Task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s still %v after %v", id, res.Msg.Task.State, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAgentProcessEndToEnd runs a real nuxarid and a real nuxari-agent on
// loopback: enrol, receive a task, collect, submit; the evidence and its
// events are in the ledger with proofs; the agent listens on nothing; an
// agent killed mid-task and restarted finishes it exactly once.
func TestAgentProcessEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs nuxarid and nuxari-agent")
	}
	dir := t.TempDir()
	bootstrap(t, filepath.Join(dir, "server"), "edge", "o@example.com", ownerPW)
	srv := startProcess(t, filepath.Join(dir, "server"))
	login, err := srv.clients("").Auth.Login(context.Background(), req(&nuxariv1.LoginRequest{OrgId: "edge", Email: "o@example.com", Password: ownerPW}))
	if err != nil {
		t.Fatal(err)
	}
	admin := srv.clients(login.Msg.SessionToken)

	passwd := filepath.Join(dir, "passwd")
	group := filepath.Join(dir, "group")
	os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n"), 0o644)
	os.WriteFile(group, []byte("root:x:0:\nsudo:x:27:alice\n"), 0o644)
	marker := filepath.Join(dir, "slow-ran")
	// A private key inside collected content: the agent must scrub it
	// before hashing, so that no package ever holds it.
	keyBody := "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC" + strings.Repeat("q", 40) + "canaryKEY"
	keyFile := filepath.Join(dir, "service.conf")
	os.WriteFile(keyFile, []byte("listen = 0.0.0.0:443\n-----BEGIN PRIVATE KEY-----\n"+keyBody+"\n-----END PRIVATE KEY-----\n"), 0o644)
	cfg := map[string]any{
		"server":    srv.url,
		"state_dir": filepath.Join(dir, "agent-state"),
		"collectors": map[string]any{
			"users": true, "passwd_path": passwd, "group_path": group,
			"files": []string{keyFile},
			"commands": map[string][]string{
				// Slow enough to be killed in the middle; counts its runs.
				"slow": {"/bin/sh", "-c", "echo run >> " + marker + "; sleep 2; echo collected"},
			},
		},
	}
	b, _ := json.Marshal(cfg)
	config := filepath.Join(dir, "agent.json")
	if err := os.WriteFile(config, b, 0o600); err != nil {
		t.Fatal(err)
	}

	// Enrol with a join token on standard input.
	jt, err := admin.Agents.CreateJoinToken(context.Background(), req(&nuxariv1.CreateJoinTokenRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	bin, err := agentBin()
	if err != nil {
		t.Fatal(err)
	}
	enroll := exec.Command(bin, "enroll", "--config", config)
	enroll.Stdin = strings.NewReader(jt.Msg.JoinToken + "\n")
	if out, err := enroll.CombinedOutput(); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	} else if strings.Contains(string(out), jt.Msg.JoinToken) {
		t.Fatal("enroll printed the join token")
	}
	if st, err := os.Stat(filepath.Join(dir, "agent-state", "agent.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("agent key: %v %v", st, err)
	}
	agents, err := admin.Agents.ListAgents(context.Background(), req(&nuxariv1.ListAgentsRequest{}))
	if err != nil || len(agents.Msg.Agents) != 1 {
		t.Fatalf("agents: %v %v", agents, err)
	}
	agentID := agents.Msg.Agents[0].AgentId

	a := runAgent(t, config)
	task, err := admin.Agents.CreateTask(context.Background(), req(&nuxariv1.CreateTaskRequest{AgentId: agentID, Collector: "users"}))
	if err != nil {
		t.Fatal(err)
	}
	done := waitTask(t, admin, task.Msg.Task.TaskId, 30*time.Second)
	if done.State != nuxariv1.TaskState_TASK_STATE_SUCCEEDED || len(done.Evidence) != 1 {
		t.Fatalf("users task: %v; agent log:\n%s", done, a.logs.String())
	}
	if l := listeningSockets(t, a.cmd.Process.Pid); len(l) > 0 {
		t.Fatalf("nuxari-agent listens: %v", l)
	}

	// The evidence.recorded event is in the log, with a proof.
	evs, err := admin.Ledger.ListEvents(context.Background(), req(&nuxariv1.ListEventsRequest{Types: []string{"evidence.recorded"}}))
	if err != nil || len(evs.Msg.Events) != 1 || !strings.Contains(string(evs.Msg.Events[0].Leaf), done.Evidence[0]) {
		t.Fatalf("evidence.recorded: %v %v", evs, err)
	}
	ev := evs.Msg.Events[0]
	cp := waitCheckpoint(t, admin, ev.Index+1)
	v, _ := verify.NewVerifier(cp.VerifierKey, "nuxari/orgs/edge")
	c, err := v.Checkpoint([]byte(cp.Checkpoint.Note))
	if err != nil {
		t.Fatal(err)
	}
	pr, err := admin.Ledger.GetInclusionProof(context.Background(), req(&nuxariv1.GetInclusionProofRequest{Index: ev.Index, TreeSize: c.Size}))
	if err != nil {
		t.Fatal(err)
	}
	if err := verify.Inclusion(verify.LeafHash(ev.Leaf), ev.Index, c.Size, pr.Msg.Hashes, c.Root); err != nil {
		t.Fatalf("inclusion: %v", err)
	}

	// Killed mid-task, restarted: the task ends once, with one record.
	slow, err := admin.Agents.CreateTask(context.Background(), req(&nuxariv1.CreateTaskRequest{AgentId: agentID, Collector: "command", Target: "slow"}))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, _ := os.ReadFile(marker); len(b) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slow command never started; agent log:\n%s", a.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.cmd.Process.Signal(syscall.SIGKILL)
	a.cmd.Wait()
	a2 := runAgent(t, config)
	done = waitTask(t, admin, slow.Msg.Task.TaskId, 60*time.Second)
	if done.State != nuxariv1.TaskState_TASK_STATE_SUCCEEDED || len(done.Evidence) != 1 {
		t.Fatalf("slow task after restart: %v; agent log:\n%s", done, a2.logs.String())
	}
	// A task's state can be read a moment before the batch that wrote it
	// is durable and its events listed: wait for the events, then count.
	count := map[string]int{}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		evs, err = admin.Ledger.ListEvents(context.Background(), req(&nuxariv1.ListEventsRequest{Types: []string{"evidence.recorded", "agent.task.completed"}}))
		if err != nil {
			t.Fatal(err)
		}
		clear(count)
		for _, e := range evs.Msg.Events {
			if strings.Contains(string(e.Leaf), slow.Msg.Task.TaskId) {
				count[e.Type]++
			}
		}
		if count["agent.task.completed"] > 0 || time.Now().After(deadline) {
			break
		}
	}
	if count["evidence.recorded"] != 1 || count["agent.task.completed"] != 1 {
		t.Fatalf("after kill and restart: %v, want one of each", count)
	}
	if l := listeningSockets(t, a2.cmd.Process.Pid); len(l) > 0 {
		t.Fatalf("nuxari-agent listens: %v", l)
	}
	// The private key was scrubbed on the agent and is in no package.
	kt, err := admin.Agents.CreateTask(context.Background(), req(&nuxariv1.CreateTaskRequest{AgentId: agentID, Collector: "file", Target: keyFile}))
	if err != nil {
		t.Fatal(err)
	}
	if done := waitTask(t, admin, kt.Msg.Task.TaskId, 30*time.Second); done.State != nuxariv1.TaskState_TASK_STATE_SUCCEEDED {
		t.Fatalf("file task: %v; agent log:\n%s", done, a2.logs.String())
	}
	recorded, err := admin.Ledger.ListEvents(context.Background(), req(&nuxariv1.ListEventsRequest{Types: []string{"evidence.recorded"}}))
	if err != nil {
		t.Fatal(err)
	}
	last := recorded.Msg.Events[len(recorded.Msg.Events)-1]
	if !strings.Contains(string(last.Leaf), `"private_key"`) {
		t.Fatalf("the evidence does not say the private key was scrubbed: %s", last.Leaf)
	}
	// The package must cover the file task's completion: wait for a
	// checkpoint past its event.
	var completedAt uint64
	for deadline := time.Now().Add(10 * time.Second); completedAt == 0; time.Sleep(20 * time.Millisecond) {
		done, err := admin.Ledger.ListEvents(context.Background(), req(&nuxariv1.ListEventsRequest{Types: []string{"agent.task.completed"}, PageSize: 1000}))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range done.Msg.Events {
			if strings.Contains(string(e.Leaf), kt.Msg.Task.TaskId) {
				completedAt = e.Index + 1
			}
		}
		if completedAt == 0 && time.Now().After(deadline) {
			t.Fatal("the file task's completion is not in the log")
		}
	}
	waitCheckpoint(t, admin, completedAt)
	x := exportAndWait(t, admin, nil)
	pkg := download(t, admin, x.ExportId)
	if rep := verifyPackage(t, pkg, pins(t, admin, "edge")); rep.Blobs < 3 {
		t.Fatalf("package holds %d evidence blobs, want 3", rep.Blobs)
	}
	if l := leaks(pkg, []canary{newCanary("private key", keyBody)}); len(l) > 0 {
		t.Fatalf("the package holds the private key: %v", l)
	}
	for _, logs := range []string{a.logs.String(), a2.logs.String(), srv.logs.String()} {
		if strings.Contains(logs, jt.Msg.JoinToken) || strings.Contains(logs, "nxg.") {
			t.Fatal("a token reached a log")
		}
	}
}
