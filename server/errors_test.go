package server_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"connectrpc.com/connect"

	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server/servertest"
)

// TestExportFailureKeepsDetailInServerLog: an export that fails on the
// filesystem records a fixed reason naming its export ID; the path and
// the OS's message reach neither the org's log nor any response, only
// the server log.
func TestExportFailureKeepsDetailInServerLog(t *testing.T) {
	ts := servertest.Start(t)
	ctx := context.Background()
	tok, _ := ts.Signup(t, "errx", "o@example.com", ownerPW)
	c := ts.Clients(tok)
	waitCheckpoint(t, c, 2)
	// The directory packages are built in becomes a file.
	tmp := filepath.Join(ts.DataDir, "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte("not a directory"), 0o600); err != nil {
		t.Fatal(err)
	}

	res, err := c.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	id := res.Msg.Export.ExportId
	x := waitExportEnd(t, c, id)
	if x.State != nuxariv1.ExportState_EXPORT_STATE_FAILED {
		t.Fatalf("export with no temporary directory: %v", x.State)
	}
	if !strings.Contains(x.Error, id) {
		t.Errorf("the failure %q does not name export ID %s", x.Error, id)
	}
	list, err := c.Evidence.ListExports(ctx, req(&nuxariv1.ListExportsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	lfs := waitEvents(t, ts.Ledger(), "errx", "evidence.export.failed", 1)
	for _, s := range []string{ts.DataDir, "not a directory", "export-", "open "} {
		if strings.Contains(x.Error, s) {
			t.Errorf("GetExport's error %q holds %q", x.Error, s)
		}
		for _, lx := range list.Msg.Exports {
			if strings.Contains(lx.Error, s) {
				t.Errorf("ListExports' error %q holds %q", lx.Error, s)
			}
		}
		for _, lf := range lfs {
			if bytes.Contains(lf, []byte(s)) {
				t.Errorf("a leaf holds %q: %s", s, lf)
			}
		}
	}
	// The detail is in the server log, under the export ID.
	found := false
	for line := range strings.Lines(ts.Logs.String()) {
		if strings.Contains(line, id) && strings.Contains(line, "not a directory") {
			found = true
		}
	}
	if !found {
		t.Errorf("no server log line has export %s's failure", id)
	}
}

// TestInternalErrorNamesRequestID: an internal error's answer is a fixed
// message naming the request's ID; its detail (here the store's message
// about a missing package, with its object key) is only in the server
// log, on the line of that request.
func TestInternalErrorNamesRequestID(t *testing.T) {
	ts := servertest.Start(t)
	ctx := context.Background()
	tok, _ := ts.Signup(t, "interr", "o@example.com", ownerPW)
	c := ts.Clients(tok)
	waitCheckpoint(t, c, 2)
	x := exportAndWait(t, c, nil)
	files, _ := filepath.Glob(filepath.Join(ts.DataDir, "evidence", "orgs", "interr", "exports", "*.zip"))
	if len(files) != 1 {
		t.Fatalf("package files: %v", files)
	}
	if err := os.Remove(files[0]); err != nil {
		t.Fatal(err)
	}

	stream, err := c.Evidence.DownloadPackage(ctx, req(&nuxariv1.DownloadPackageRequest{ExportId: x.ExportId}))
	if err != nil {
		t.Fatal(err)
	}
	for stream.Receive() {
		t.Fatal("received package bytes of a missing file")
	}
	err = stream.Err()
	rid := stream.ResponseHeader().Get("Request-Id")
	stream.Close()
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeInternal {
		t.Fatalf("DownloadPackage of a missing file: %v, want Internal", err)
	}
	if rid == "" || !strings.Contains(ce.Message(), rid) {
		t.Errorf("message %q does not name the request ID %q", ce.Message(), rid)
	}
	for _, s := range []string{ts.DataDir, "orgs/interr/exports", "object not found", "objstore"} {
		if strings.Contains(ce.Message(), s) {
			t.Errorf("message %q holds %q", ce.Message(), s)
		}
	}
	found := false
	for line := range strings.Lines(ts.Logs.String()) {
		if strings.Contains(line, rid) && strings.Contains(line, "object not found") {
			found = true
		}
	}
	if !found {
		t.Errorf("no server log line of request %s has the error's detail", rid)
	}
}
