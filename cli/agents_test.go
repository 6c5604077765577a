package cli_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"connectrpc.com/connect"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
)

// TestAgentCommands: a join token, an agent enrolled with it, a task for
// it, and its decommissioning, through nuxctl.
func TestAgentCommands(t *testing.T) {
	srv := startServer(t)
	h := newHarness(t)
	h.ok(ownerPassword+"\n", "--server", srv.URL, "signup", "--org", "acme", "--email", "owner@acme.test")
	h.ok(ownerPassword+"\n", "--server", srv.URL, "login", "--org", "acme", "--email", "owner@acme.test")
	r := h.ok("", "agent", "join-token", "--ttl", "10m")
	join := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(join, "nxj.acme.") || !strings.Contains(r.stderr, "works once") {
		t.Fatalf("join-token: %q %q", r.stdout, r.stderr)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	res, err := srv.Clients("").Gateway.Enroll(context.Background(), connect.NewRequest(&nuxariv1.EnrollRequest{JoinToken: join, PublicKey: pub, Hostname: "db-01"}))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Msg.AgentId
	if r := h.ok("", "agent", "list"); !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "active") {
		t.Fatalf("agent list:\n%s", r.stdout)
	}
	var task struct {
		TaskID string `json:"taskId"`
		State  string `json:"state"`
	}
	h.jsonOut(&task, "agent", "collect", id, "users")
	if task.TaskID == "" || task.State != "TASK_STATE_PENDING" {
		t.Fatalf("collect: %+v", task)
	}
	if r := h.ok("", "agent", "task", task.TaskID); !strings.Contains(r.stdout, "pending") {
		t.Fatalf("agent task:\n%s", r.stdout)
	}
	h.fails(1, []string{"invalid_argument", "collector"}, "", "agent", "collect", id, "rm-rf")
	if r := h.ok("", "agent", "decommission", id); !strings.Contains(r.stdout, "decommissioned") {
		t.Fatalf("decommission:\n%s", r.stdout)
	}
	h.fails(1, []string{"failed_precondition"}, "", "agent", "collect", id, "users")
	if strings.Contains(h.output.String(), ownerPassword) {
		t.Fatal("the password was printed")
	}
}
