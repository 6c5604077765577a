package cli_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"regexp"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/nuxari/nuxari/cli"
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
		TaskID string `json:"task_id"`
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

// TestAgentJoinTokenCommands: join tokens listed by ID without their
// values, and revoked, through nuxctl; a revoked one cannot enrol.
func TestAgentJoinTokenCommands(t *testing.T) {
	srv := startServer(t)
	h := newHarness(t)
	h.ok(ownerPassword+"\n", "--server", srv.URL, "signup", "--org", "acme", "--email", "owner@acme.test")
	h.ok(ownerPassword+"\n", "--server", srv.URL, "login", "--org", "acme", "--email", "owner@acme.test")
	idRE := regexp.MustCompile(`join token ([0-9a-f]{24}) works once`)
	var joins, ids []string
	for range 2 {
		r := h.ok("", "agent", "join-token")
		m := idRE.FindStringSubmatch(r.stderr)
		if m == nil {
			t.Fatalf("join-token does not name the token's ID: %q", r.stderr)
		}
		joins, ids = append(joins, strings.TrimSpace(r.stdout)), append(ids, m[1])
	}
	r := h.ok("", "agent", "join-token", "list")
	if !strings.HasPrefix(r.stdout, "JOIN TOKEN ID") {
		t.Fatalf("join-token list:\n%s", r.stdout)
	}
	for i, id := range ids {
		if !strings.Contains(r.stdout, id) {
			t.Fatalf("join-token list does not list %s:\n%s", id, r.stdout)
		}
		if body := joins[i][strings.LastIndexByte(joins[i], '.')+1:]; strings.Contains(r.stdout, body) {
			t.Fatal("join-token list printed a token's value")
		}
	}
	var listed struct {
		JoinTokens []struct {
			JoinTokenID string `json:"join_token_id"`
			CreatedBy   string `json:"created_by"`
		} `json:"join_tokens"`
	}
	h.jsonOut(&listed, "agent", "join-token", "list")
	if len(listed.JoinTokens) != 2 || listed.JoinTokens[0].CreatedBy == "" {
		t.Fatalf("join-token list --json: %+v", listed)
	}
	if r := h.ok("", "agent", "join-token", "revoke", ids[0]); !strings.Contains(r.stdout, "Revoked join token "+ids[0]) {
		t.Fatalf("join-token revoke:\n%s", r.stdout)
	}
	if r := h.ok("", "agent", "join-token", "list"); strings.Contains(r.stdout, ids[0]) || !strings.Contains(r.stdout, ids[1]) {
		t.Fatalf("join-token list after revoking %s:\n%s", ids[0], r.stdout)
	}
	h.fails(cli.ExitNotFound, []string{"not_found", "join token"}, "", "agent", "join-token", "revoke", ids[0])
	h.fails(1, []string{"invalid_argument", "join_token_id"}, "", "agent", "join-token", "revoke", "../x")
	h.fails(2, []string{"missing arguments: want JOIN_TOKEN_ID"}, "", "agent", "join-token", "revoke")
	h.fails(2, []string{`unexpected argument "extra"`}, "", "agent", "join-token", "list", "extra")
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	_, err := srv.Clients("").Gateway.Enroll(context.Background(), connect.NewRequest(&nuxariv1.EnrollRequest{JoinToken: joins[0], PublicKey: pub, Hostname: "db-01"}))
	if connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("Enroll with a revoked join token: %v", err)
	}
	if _, err := srv.Clients("").Gateway.Enroll(context.Background(), connect.NewRequest(&nuxariv1.EnrollRequest{JoinToken: joins[1], PublicKey: pub, Hostname: "db-01"})); err != nil {
		t.Fatalf("Enroll with the other join token: %v", err)
	}
	for _, c := range []string{"agent join-token list", "agent join-token revoke"} {
		if r := h.ok("", "help"); !strings.Contains(r.stdout, "\n  "+c+" ") {
			t.Errorf("'nuxctl help' does not list %q", c)
		}
		if r := h.ok("", append(strings.Fields(c), "-h")...); !strings.HasPrefix(r.stdout, "Usage: nuxctl [global flags] "+c+" ") && !strings.HasPrefix(r.stdout, "Usage: nuxctl [global flags] "+c+"\n") {
			t.Errorf("nuxctl %s -h:\n%s", c, r.stdout)
		}
	}
}
