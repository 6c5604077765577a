package server_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/nuxari/nuxari/evidence/archive"
	"github.com/nuxari/nuxari/evidence/objstore"
	"github.com/nuxari/nuxari/internal/secret"
	nuxariv1 "github.com/nuxari/nuxari/proto/gen/nuxari/v1"
	"github.com/nuxari/nuxari/server"
	"github.com/nuxari/nuxari/server/servertest"
)

// s3Config returns the test S3 service's configuration: under CI it must
// be there; elsewhere its absence skips the test.
func s3Config(t *testing.T) *objstore.S3Config {
	t.Helper()
	ep := os.Getenv("NUXARI_TEST_S3_ENDPOINT")
	if ep == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("NUXARI_TEST_S3_ENDPOINT is not set: run the tests through scripts/test-services.sh")
		}
		t.Skip("no S3 service: run the tests through scripts/test-services.sh")
	}
	return &objstore.S3Config{
		Endpoint: ep, Bucket: os.Getenv("NUXARI_TEST_S3_BUCKET"),
		AccessKey: os.Getenv("NUXARI_TEST_S3_ACCESS_KEY"), SecretKey: secret.New(os.Getenv("NUXARI_TEST_S3_SECRET_KEY")),
		// Each test has its own prefix in the shared bucket.
		Prefix: "t" + strings.ToLower(hex.EncodeToString([]byte(t.Name()))[:16]) + time.Now().Format("150405.000000000") + "/",
	}
}

// exportAndWait exports scope and waits for the package.
func exportAndWait(t *testing.T, c servertest.Clients, scope *nuxariv1.EvidenceScope) *nuxariv1.Export {
	t.Helper()
	ctx := context.Background()
	res, err := c.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{Scope: scope}))
	if err != nil {
		t.Fatalf("ExportPackage: %v", err)
	}
	id := res.Msg.Export.ExportId
	deadline := time.Now().Add(time.Minute)
	for {
		got, err := c.Evidence.GetExport(ctx, req(&nuxariv1.GetExportRequest{ExportId: id}))
		if err != nil {
			t.Fatalf("GetExport: %v", err)
		}
		switch got.Msg.Export.State {
		case nuxariv1.ExportState_EXPORT_STATE_SUCCEEDED:
			return got.Msg.Export
		case nuxariv1.ExportState_EXPORT_STATE_FAILED:
			t.Fatalf("export failed: %s", got.Msg.Export.Error)
		}
		if time.Now().After(deadline) {
			t.Fatalf("export still %v after a minute", got.Msg.Export.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func download(t *testing.T, c servertest.Clients, id string) []byte {
	t.Helper()
	stream, err := c.Evidence.DownloadPackage(context.Background(), req(&nuxariv1.DownloadPackageRequest{ExportId: id}))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var b bytes.Buffer
	for stream.Receive() {
		b.Write(stream.Msg().Chunk)
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("DownloadPackage: %v", err)
	}
	return b.Bytes()
}

// pins fetches what an auditor pins, out of band, before verifying.
func pins(t *testing.T, c servertest.Clients, org string) archive.Pins {
	t.Helper()
	ctx := context.Background()
	cp, err := c.Ledger.GetCheckpoint(ctx, req(&nuxariv1.GetCheckpointRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.Evidence.GetSigningKey(ctx, req(&nuxariv1.GetSigningKeyRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	return archive.Pins{LogKey: cp.Msg.VerifierKey, Origin: "nuxari/orgs/" + org, SigningKey: []byte(k.Msg.PublicKeyPem)}
}

func verifyPackage(t *testing.T, pkg []byte, p archive.Pins) *archive.Report {
	t.Helper()
	rep, err := archive.Verify(bytes.NewReader(pkg), int64(len(pkg)), p)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

// TestEvidenceExportLocal exports, downloads and verifies packages on the
// embedded default store, with scopes, consistency from an earlier
// package, audit events, RBAC and isolation.
func TestEvidenceExportLocal(t *testing.T) {
	ts := servertest.Start(t)
	ctx := context.Background()
	ownerTok, _ := ts.Signup(t, "ev", "o@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	audTok, _ := ts.AddMember(t, ownerTok, "ev", "a@example.com", "auditor password", nuxariv1.Role_ROLE_AUDITOR)
	aud := ts.Clients(audTok)
	adminTok, _ := ts.AddMember(t, ownerTok, "ev", "ad@example.com", "admin password!", nuxariv1.Role_ROLE_ADMIN)
	admin := ts.Clients(adminTok)
	for i := range 20 {
		typ := "custom.deploy"
		if i%2 == 1 {
			typ = "custom.rollback"
		}
		if _, err := admin.Ledger.AppendEvents(ctx, req(&nuxariv1.AppendEventsRequest{Events: []*nuxariv1.NewEvent{{Type: typ}}})); err != nil {
			t.Fatal(err)
		}
	}
	size := ledgerSize(t, ts, "ev")
	waitCheckpoint(t, owner, size)
	p := pins(t, aud, "ev")

	// Everything.
	all := exportAndWait(t, aud, nil)
	if all.TreeSize < size || all.EventCount != all.TreeSize || all.Worm || all.Sha256 == "" {
		t.Fatalf("export: %+v (log size %d)", all, size)
	}
	pkg := download(t, aud, all.ExportId)
	if int64(len(pkg)) != all.SizeBytes {
		t.Fatalf("downloaded %d bytes, export says %d", len(pkg), all.SizeBytes)
	}
	rep := verifyPackage(t, pkg, p)
	if rep.Events.Count != all.EventCount || rep.TreeSize != all.TreeSize {
		t.Fatalf("report %+v, export %+v", rep, all)
	}

	// A scope: one type, from the 5th custom event on.
	list, err := owner.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{Types: []string{"custom.deploy", "custom.rollback"}}))
	if err != nil {
		t.Fatal(err)
	}
	from := list.Msg.Events[4].Time
	sub := exportAndWait(t, aud, &nuxariv1.EvidenceScope{Types: []string{"custom.rollback"}, StartTime: from})
	pkg2 := download(t, aud, sub.ExportId)
	rep2 := verifyPackage(t, pkg2, p)
	if rep2.Events.Count != sub.EventCount || sub.EventCount == 0 || sub.EventCount > 10 {
		t.Fatalf("scoped export: %d events, report %+v", sub.EventCount, rep2)
	}
	if len(rep2.Consistency) == 0 {
		t.Fatalf("the second package proves no consistency from the first")
	}

	// Audit: the request, the completion and each download are events.
	evs, err := owner.Ledger.ListEvents(ctx, req(&nuxariv1.ListEventsRequest{Types: []string{
		"evidence.export.requested", "evidence.export.completed", "evidence.package.downloaded",
	}}))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range evs.Msg.Events {
		count[e.Type]++
	}
	if count["evidence.export.requested"] != 2 || count["evidence.export.completed"] != 2 || count["evidence.package.downloaded"] != 2 {
		t.Fatalf("audit events: %v", count)
	}

	// RBAC: an admin may not export; a readonly member may not see exports.
	_, err = admin.Evidence.ExportPackage(ctx, req(&nuxariv1.ExportPackageRequest{}))
	wantCode(t, err, connect.CodePermissionDenied)

	// Local storage has no presigned URLs, and says so.
	_, err = aud.Evidence.GetDownloadURL(ctx, req(&nuxariv1.GetDownloadURLRequest{ExportId: all.ExportId}))
	wantCode(t, err, connect.CodeFailedPrecondition)

	// Another org's auditor gets NotFound for this org's export, by ID.
	otherTok, _ := ts.Signup(t, "other", "x@example.com", ownerPW)
	other := ts.Clients(otherTok)
	for name, call := range map[string]func() error{
		"GetExport": func() error {
			_, err := other.Evidence.GetExport(ctx, req(&nuxariv1.GetExportRequest{ExportId: all.ExportId}))
			return err
		},
		"GetDownloadURL": func() error {
			_, err := other.Evidence.GetDownloadURL(ctx, req(&nuxariv1.GetDownloadURLRequest{ExportId: all.ExportId}))
			return err
		},
		"DownloadPackage": func() error {
			s, err := other.Evidence.DownloadPackage(ctx, req(&nuxariv1.DownloadPackageRequest{ExportId: all.ExportId}))
			if err != nil {
				return err
			}
			defer s.Close()
			for s.Receive() {
				t.Fatalf("another org received package bytes")
			}
			return s.Err()
		},
	} {
		if err := call(); connect.CodeOf(err) != connect.CodeNotFound {
			t.Errorf("%s with org ev's export ID from org other: %v, want NotFound", name, err)
		}
	}
	xs, err := other.Evidence.ListExports(ctx, req(&nuxariv1.ListExportsRequest{}))
	if err != nil || len(xs.Msg.Exports) != 0 {
		t.Fatalf("org other lists exports: %v %v", xs, err)
	}

	// The package file on disk is read-only and cannot be replaced.
	files, _ := filepath.Glob(filepath.Join(ts.DataDir, "evidence", "orgs", "ev", "exports", "*.zip"))
	if len(files) != 2 {
		t.Fatalf("package files: %v", files)
	}
	if st, err := os.Stat(files[0]); err != nil || st.Mode().Perm() != 0o400 {
		t.Fatalf("package file mode: %v %v", st.Mode(), err)
	}
}

// TestEvidenceExportS3 stores packages in a bucket with Object Lock: the
// locked version cannot be deleted or replaced, a presigned URL downloads
// it, and it verifies.
func TestEvidenceExportS3(t *testing.T) {
	s3 := s3Config(t)
	ts := servertest.Start(t, func(c *server.Config) { c.Evidence.S3 = s3 })
	ctx := context.Background()
	ownerTok, _ := ts.Signup(t, "s3org", "o@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	waitCheckpoint(t, owner, 2)
	x := exportAndWait(t, owner, nil)
	if !x.Worm || x.RetainUntil == nil || x.RetainUntil.AsTime().Before(time.Now().Add(360*24*time.Hour)) {
		t.Fatalf("export on S3: worm %v, retain until %v", x.Worm, x.RetainUntil)
	}
	u, err := owner.Evidence.GetDownloadURL(ctx, req(&nuxariv1.GetDownloadURLRequest{ExportId: x.ExportId}))
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(u.Msg.Url)
	if err != nil {
		t.Fatal(err)
	}
	pkg, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("presigned GET: %s", res.Status)
	}
	verifyPackage(t, pkg, pins(t, owner, "s3org"))

	// Straight to the bucket: the locked version stays.
	mc, err := minio.New(s3.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKey, s3.SecretKey.Reveal(), "")})
	if err != nil {
		t.Fatal(err)
	}
	var key, version string
	for o := range mc.ListObjects(ctx, s3.Bucket, minio.ListObjectsOptions{Prefix: s3.Prefix, Recursive: true, WithVersions: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		key, version = o.Key, o.VersionID
	}
	if key == "" {
		t.Fatal("no package in the bucket")
	}
	err = mc.RemoveObject(ctx, s3.Bucket, key, minio.RemoveObjectOptions{VersionID: version, GovernanceBypass: true})
	if err == nil {
		t.Fatal("deleting the locked package version succeeded")
	}
	if _, err := mc.PutObject(ctx, s3.Bucket, key, strings.NewReader("forged"), 6, minio.PutObjectOptions{}); err != nil {
		t.Logf("overwrite refused: %v", err)
	}
	again := download(t, owner, x.ExportId)
	if !bytes.Equal(again, pkg) {
		t.Fatal("the package changed after an overwrite attempt")
	}
}

// TestEvidenceSignatureVerifiesWithCosign checks the manifest signature
// with standard tooling.
func TestEvidenceSignatureVerifiesWithCosign(t *testing.T) {
	cosign := os.Getenv("NUXARI_TEST_COSIGN")
	if cosign == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("NUXARI_TEST_COSIGN is not set: run the tests through scripts/test-services.sh")
		}
		t.Skip("no cosign: run the tests through scripts/test-services.sh")
	}
	ts := servertest.Start(t)
	tok, _ := ts.Signup(t, "cos", "o@example.com", ownerPW)
	c := ts.Clients(tok)
	waitCheckpoint(t, c, 2)
	x := exportAndWait(t, c, nil)
	pkg := download(t, c, x.ExportId)
	dir := t.TempDir()
	zr, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"manifest.json", "manifest.sig"} {
		f, err := zr.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	k, err := c.Evidence.GetSigningKey(context.Background(), req(&nuxariv1.GetSigningKeyRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pinned.pub"), []byte(k.Msg.PublicKeyPem), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(sig string) error {
		cmd := exec.Command(cosign, "verify-blob", "--key", filepath.Join(dir, "pinned.pub"), "--signature", sig, "--insecure-ignore-tlog=true", filepath.Join(dir, "manifest.json"))
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		t.Logf("cosign: %s", out)
		return err
	}
	if err := run(filepath.Join(dir, "manifest.sig")); err != nil {
		t.Fatalf("cosign rejects the manifest signature: %v", err)
	}
	bad := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 64))
	if err := os.WriteFile(filepath.Join(dir, "bad.sig"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(filepath.Join(dir, "bad.sig")); err == nil {
		t.Fatal("cosign accepts a forged signature")
	}

	// Well-formed forgeries: ASN.1 DER ECDSA P-256 signatures, as the
	// real one, by a valid key that is not the pinned one; of the real
	// manifest, and of a changed one.
	manifest, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Replace(manifest, []byte(`"org": "cos"`), []byte(`"org": "coz"`), 1)
	if bytes.Equal(changed, manifest) {
		t.Fatal("the manifest names no org \"cos\"")
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherSigner, err := signature.LoadECDSASignerVerifier(other, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, file string }{{"real manifest", "manifest.json"}, {"changed manifest", "changed.json"}} {
		msg := manifest
		if c.file == "changed.json" {
			msg = changed
			if err := os.WriteFile(filepath.Join(dir, "changed.json"), changed, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		sig, err := otherSigner.SignMessage(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		// The forgery is a valid signature: by its own key, it verifies.
		if err := otherSigner.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
			t.Fatalf("%s: the forgery is not a valid signature: %v", c.name, err)
		}
		sigFile := filepath.Join(dir, "other-"+c.file+".sig")
		if err := os.WriteFile(sigFile, []byte(base64.StdEncoding.EncodeToString(sig)), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(cosign, "verify-blob", "--key", filepath.Join(dir, "pinned.pub"), "--signature", sigFile, "--insecure-ignore-tlog=true", filepath.Join(dir, c.file))
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Fatalf("%s: cosign accepts a signature by another key: %s", c.name, out)
		}
	}
	// The real signature does not cover the changed manifest.
	cmd := exec.Command(cosign, "verify-blob", "--key", filepath.Join(dir, "pinned.pub"), "--signature", filepath.Join(dir, "manifest.sig"), "--insecure-ignore-tlog=true", filepath.Join(dir, "changed.json"))
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Fatalf("cosign accepts the real signature over a changed manifest: %s", out)
	}
}

// TestEvidenceForgedSignature: the verifier refuses a package whose
// manifest is signed by a valid P-256 key that is not the pinned one, in
// exactly the right format, whether the manifest is the real one or
// changed; and a package whose key file names the forger's key.
func TestEvidenceForgedSignature(t *testing.T) {
	ts := servertest.Start(t)
	tok, _ := ts.Signup(t, "forge", "o@example.com", ownerPW)
	c := ts.Clients(tok)
	waitCheckpoint(t, c, 2)
	x := exportAndWait(t, c, nil)
	pkg := download(t, c, x.ExportId)
	p := pins(t, c, "forge")
	verifyPackage(t, pkg, p)

	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	forger, err := signature.LoadECDSASignerVerifier(other, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	otherPEM, err := cryptoutils.MarshalPublicKeyToPEM(&other.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	// rewrite returns pkg with manifest.json changed by edit, the key file
	// replaced when key is set, and manifest.sig the forger's signature.
	rewrite := func(edit func([]byte) []byte, key []byte) []byte {
		zr, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
		if err != nil {
			t.Fatal(err)
		}
		var manifest []byte
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatal(err)
			}
			switch f.Name {
			case archive.FileSigningKey:
				if key != nil {
					b = key
				}
			case archive.FileManifest:
				b = edit(b)
				manifest = b
			case archive.FileSignature:
				sig, err := forger.SignMessage(bytes.NewReader(manifest))
				if err != nil {
					t.Fatal(err)
				}
				b = []byte(base64.StdEncoding.EncodeToString(sig))
			}
			w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(b); err != nil {
				t.Fatal(err)
			}
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	same := func(b []byte) []byte { return b }
	changed := func(b []byte) []byte {
		out := bytes.Replace(b, []byte(`"count": `), []byte(`"count": 1`), 1)
		if bytes.Equal(out, b) {
			t.Fatal("the manifest has no event count")
		}
		return out
	}
	for _, c := range []struct {
		name string
		pkg  []byte
	}{
		{"real manifest, another key", rewrite(same, nil)},
		{"changed manifest, another key", rewrite(changed, nil)},
		{"real manifest, another key named in the package", rewrite(same, otherPEM)},
		{"changed manifest, another key named in the package", rewrite(changed, otherPEM)},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := archive.Verify(bytes.NewReader(c.pkg), int64(len(c.pkg)), p)
			var f *archive.Failure
			if !errors.As(err, &f) || f.Check != archive.CheckSignature || !strings.Contains(f.Reason, "pinned signing key") {
				t.Fatalf("verify: %v; want a signature failure naming the pinned key", err)
			}
		})
	}
}

// TestEvidencePackageHoldsBlobsNotAgentSecrets: a package of an agent's
// evidence carries the evidence blob (named by its hash, checked by the
// verifier) and none of the agent's join or access tokens.
func TestEvidencePackageHoldsBlobsNotAgentSecrets(t *testing.T) {
	ts := servertest.Start(t)
	ctx := context.Background()
	ownerTok, _ := ts.Signup(t, "agev", "o@example.com", ownerPW)
	owner := ts.Clients(ownerTok)
	join := createJoinToken(t, owner, 0)
	pub, key := newAgentKey(t)
	res, err := ts.Clients("").Gateway.Enroll(ctx, req(&nuxariv1.EnrollRequest{JoinToken: join, PublicKey: pub, Hostname: "db-01"}))
	if err != nil {
		t.Fatal(err)
	}
	a := &testAgent{org: res.Msg.OrgId, id: res.Msg.AgentId, hostname: "db-01", pub: pub, key: key}
	agentTok := a.token(t, ts)
	ag := ts.Clients(agentTok)
	task := createTask(t, owner, a.id, "users", "")
	content := []byte("root:x:0:0\nalice:x:1000:1000 groups=sudo\n")
	if _, err := ag.Gateway.SubmitEvidence(ctx, req(&nuxariv1.SubmitEvidenceRequest{TaskId: task.TaskId, Items: []*nuxariv1.EvidenceItem{a.evidence(task.TaskId, "users", "", content)}})); err != nil {
		t.Fatal(err)
	}
	if _, err := ag.Gateway.CompleteTask(ctx, req(&nuxariv1.CompleteTaskRequest{TaskId: task.TaskId, Ok: true})); err != nil {
		t.Fatal(err)
	}
	size := ledgerSize(t, ts, "agev")
	waitCheckpoint(t, owner, size)
	x := exportAndWait(t, owner, &nuxariv1.EvidenceScope{Types: []string{"evidence.recorded"}})
	pkg := download(t, owner, x.ExportId)
	rep := verifyPackage(t, pkg, pins(t, owner, "agev"))
	if rep.Events.Count != 1 || rep.Blobs != 1 {
		t.Fatalf("package: %d events, %d blobs; want 1 and 1", rep.Events.Count, rep.Blobs)
	}
	if !bytes.Contains(pkg, content) {
		t.Fatal("the evidence content is not in the package")
	}
	var cs []canary
	cs = append(cs, tokenCanaries("join token", join)...)
	cs = append(cs, tokenCanaries("agent token", agentTok)...)
	cs = append(cs, tokenCanaries("owner session", ownerTok)...)
	cs = append(cs, newCanary("password", ownerPW))
	if l := leaks(pkg, cs); len(l) > 0 {
		t.Fatalf("the package holds secrets: %v", l)
	}
}
