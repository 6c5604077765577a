package objstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/nuxari/nuxari/evidence/objstore"
	"github.com/nuxari/nuxari/evidence/objstore/objstoretest"
	"github.com/nuxari/nuxari/internal/secret"
)

// s3Env is the S3 service scripts/test-services.sh starts: a Versity
// Gateway with a bucket with Object Lock and one without.
type s3Env struct {
	cfg          objstore.S3Config // for the locked bucket
	noLockBucket string
}

// needS3 returns the S3 service from the environment. Without it the test
// is skipped, or fails under CI=true.
func needS3(t *testing.T) s3Env {
	t.Helper()
	vars := map[string]string{}
	var missing []string
	for _, name := range []string{
		"NUXARI_TEST_S3_ENDPOINT", "NUXARI_TEST_S3_ACCESS_KEY", "NUXARI_TEST_S3_SECRET_KEY",
		"NUXARI_TEST_S3_BUCKET", "NUXARI_TEST_S3_BUCKET_NOLOCK",
	} {
		vars[name] = os.Getenv(name)
		if vars[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		msg := fmt.Sprintf("no S3 service: %s not set; run the tests with scripts/test-services.sh", strings.Join(missing, ", "))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return s3Env{
		cfg: objstore.S3Config{
			Endpoint:  vars["NUXARI_TEST_S3_ENDPOINT"],
			Bucket:    vars["NUXARI_TEST_S3_BUCKET"],
			AccessKey: vars["NUXARI_TEST_S3_ACCESS_KEY"],
			SecretKey: secret.New(vars["NUXARI_TEST_S3_SECRET_KEY"]),
		},
		noLockBucket: vars["NUXARI_TEST_S3_BUCKET_NOLOCK"],
	}
}

func newS3(t *testing.T, cfg objstore.S3Config) *objstore.S3 {
	t.Helper()
	s, err := objstore.NewS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// rawClient is a plain minio-go client on the same service, to do what
// the store never does (delete, overwrite) and check the server refuses.
func rawClient(t *testing.T, cfg objstore.S3Config) *minio.Client {
	t.Helper()
	c, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey.Reveal(), ""),
		Region: objstore.DefaultRegion,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testPrefix returns a prefix no other test run uses: the bucket lives as
// long as the gateway, and locked objects cannot be cleaned up.
func testPrefix(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "test-" + hex.EncodeToString(b[:]) + "/"
}

func TestS3Conformance(t *testing.T) {
	env := needS3(t)
	cfg := env.cfg
	cfg.Prefix = testPrefix(t)
	s := newS3(t, cfg)
	if !s.WORM() {
		t.Error("S3 store does not claim WORM")
	}
	objstoretest.Run(t, s)
}

// putLocked stores data under a fresh key and returns the key and object.
func putLocked(t *testing.T, s *objstore.S3, data []byte) (string, objstore.Object) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	key := "locked/" + hex.EncodeToString(b[:])
	obj, err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if obj.VersionID == "" {
		t.Fatal("Put returned no version ID")
	}
	return key, obj
}

func readVersion(t *testing.T, c *minio.Client, bucket, name, versionID string) []byte {
	t.Helper()
	o, err := c.GetObject(t.Context(), bucket, name, minio.GetObjectOptions{VersionID: versionID})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("read %s version %s: %v", name, versionID, err)
	}
	return b
}

func readStore(t *testing.T, s objstore.Store, key string) []byte {
	t.Helper()
	rc, _, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestS3LockedVersionCannotBeDeleted checks retention by behaviour: the
// server refuses to delete the locked version, with or without the
// governance bypass, which COMPLIANCE mode ignores.
func TestS3LockedVersionCannotBeDeleted(t *testing.T) {
	env := needS3(t)
	cfg := env.cfg
	cfg.Prefix = testPrefix(t)
	s := newS3(t, cfg)
	c := rawClient(t, cfg)
	data := []byte("signed evidence package")
	retain := time.Now().Add(time.Hour).Truncate(time.Second)
	var b [6]byte
	_, _ = rand.Read(b[:])
	key := "locked/" + hex.EncodeToString(b[:])
	obj, err := s.Put(t.Context(), key, bytes.NewReader(data), int64(len(data)), retain)
	if err != nil {
		t.Fatal(err)
	}
	name := cfg.Prefix + key

	// The version carries the lock and the checksum. (minio-go's
	// GetObjectRetention cannot parse Versity Gateway's reply, so read the
	// HEAD headers.)
	st, err := c.StatObject(t.Context(), cfg.Bucket, name, minio.StatObjectOptions{VersionID: obj.VersionID, Checksum: true})
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Metadata.Get("X-Amz-Object-Lock-Mode"); mode != "COMPLIANCE" {
		t.Errorf("object-lock mode %q, want COMPLIANCE", mode)
	}
	if until := st.Metadata.Get("X-Amz-Object-Lock-Retain-Until-Date"); until != retain.UTC().Format(time.RFC3339) {
		t.Errorf("retain-until %q, want %s", until, retain.UTC().Format(time.RFC3339))
	}
	sum := sha256.Sum256(data)
	if st.ChecksumSHA256 != base64.StdEncoding.EncodeToString(sum[:]) {
		t.Errorf("stored SHA-256 checksum %q, want %q", st.ChecksumSHA256, base64.StdEncoding.EncodeToString(sum[:]))
	}

	for _, tc := range []struct {
		name string
		opts minio.RemoveObjectOptions
	}{
		{"version", minio.RemoveObjectOptions{VersionID: obj.VersionID}},
		{"version-governance-bypass", minio.RemoveObjectOptions{VersionID: obj.VersionID, GovernanceBypass: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The same client may delete a version without a lock, so
			// a refusal below is the lock's, not the credentials'.
			unlocked := unlockedVersion(t, c, cfg.Bucket, name+"-unlocked")
			opts := tc.opts
			opts.VersionID = unlocked
			if err := c.RemoveObject(t.Context(), cfg.Bucket, name+"-unlocked", opts); err != nil {
				t.Fatalf("delete of a version without a lock: %v", err)
			}
			wantLockRefusal(t, c.RemoveObject(t.Context(), cfg.Bucket, name, tc.opts))
			if got := readVersion(t, c, cfg.Bucket, name, obj.VersionID); !bytes.Equal(got, data) {
				t.Errorf("locked version now holds %q, want %q", got, data)
			}
		})
	}

	// A delete without a version only adds a delete marker; the locked
	// version stays, and Open still returns it.
	t.Run("delete-marker", func(t *testing.T) {
		if err := c.RemoveObject(t.Context(), cfg.Bucket, name, minio.RemoveObjectOptions{}); err != nil {
			t.Fatalf("delete without a version (a delete marker): %v", err)
		}
		if got := readVersion(t, c, cfg.Bucket, name, obj.VersionID); !bytes.Equal(got, data) {
			t.Errorf("locked version now holds %q, want %q", got, data)
		}
		if got := readStore(t, s, key); !bytes.Equal(got, data) {
			t.Errorf("Open = %q, want %q", got, data)
		}
		if _, err := s.Put(t.Context(), key, strings.NewReader("x"), 1, time.Now().Add(time.Hour)); !errors.Is(err, objstore.ErrExists) {
			t.Errorf("Put over a delete marker: err = %v, want ErrExists", err)
		}
	})
}

// TestS3OverwriteMakesNewVersion checks that writing the key again with
// another client makes a new version and leaves the locked one as it was,
// and that the store keeps handing out the locked one.
func TestS3OverwriteMakesNewVersion(t *testing.T) {
	env := needS3(t)
	cfg := env.cfg
	cfg.Prefix = testPrefix(t)
	s := newS3(t, cfg)
	c := rawClient(t, cfg)
	data := []byte("original")
	key, obj := putLocked(t, s, data)
	name := cfg.Prefix + key

	forged := []byte("forged!!")
	info, err := c.PutObject(t.Context(), cfg.Bucket, name, bytes.NewReader(forged), int64(len(forged)), minio.PutObjectOptions{})
	if err != nil {
		t.Fatalf("overwrite with a plain PutObject: %v", err)
	}
	if info.VersionID == "" || info.VersionID == obj.VersionID {
		t.Fatalf("overwrite made version %q, want a new version beside %q", info.VersionID, obj.VersionID)
	}
	if got := readVersion(t, c, cfg.Bucket, name, obj.VersionID); !bytes.Equal(got, data) {
		t.Errorf("locked version holds %q after the overwrite, want %q", got, data)
	}
	if got := readVersion(t, c, cfg.Bucket, name, ""); !bytes.Equal(got, forged) {
		t.Errorf("latest version holds %q, want the overwrite %q", got, forged)
	}
	if got := readStore(t, s, key); !bytes.Equal(got, data) {
		t.Errorf("Open = %q after the overwrite, want the locked %q", got, data)
	}
	u, err := s.PresignGet(t.Context(), key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got, status := httpGet(t, u); status != http.StatusOK || !bytes.Equal(got, data) {
		t.Errorf("presigned URL: %d %q, want 200 %q", status, got, data)
	}
	wantLockRefusal(t, c.RemoveObject(t.Context(), cfg.Bucket, name, minio.RemoveObjectOptions{VersionID: obj.VersionID}))
	if got := readVersion(t, c, cfg.Bucket, name, obj.VersionID); !bytes.Equal(got, data) {
		t.Errorf("locked version holds %q after the refused delete, want %q", got, data)
	}
	// The overwrite has no lock: the same client deletes it, so the
	// refusal above is the lock's.
	if err := c.RemoveObject(t.Context(), cfg.Bucket, name, minio.RemoveObjectOptions{VersionID: info.VersionID}); err != nil {
		t.Errorf("delete of the unlocked overwrite: %v", err)
	}
	if got := readStore(t, s, key); !bytes.Equal(got, data) {
		t.Errorf("Open = %q after the deletes, want the locked %q", got, data)
	}
}

// lockRefusalCodes are the S3 error codes of a delete refused by Object
// Lock: AccessDenied (AWS S3 and Versity Gateway) or ObjectLocked.
var lockRefusalCodes = []string{"AccessDenied", "ObjectLocked"}

// wantLockRefusal fails unless err is an S3 refusal of a locked version:
// HTTP 403 with a lock refusal code, not any other failure.
func wantLockRefusal(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("the server deleted the locked version")
	}
	r := minio.ToErrorResponse(err)
	if r.StatusCode != http.StatusForbidden || !slices.Contains(lockRefusalCodes, r.Code) {
		t.Fatalf("delete failed with %v (HTTP %d, code %q), want a lock refusal (HTTP 403, one of %v)", err, r.StatusCode, r.Code, lockRefusalCodes)
	}
	t.Logf("refused: %s: %s", r.Code, r.Message)
}

// unlockedVersion writes a version without a lock and returns its ID.
func unlockedVersion(t *testing.T, c *minio.Client, bucket, name string) string {
	t.Helper()
	info, err := c.PutObject(t.Context(), bucket, name, strings.NewReader("unlocked"), int64(len("unlocked")), minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if info.VersionID == "" {
		t.Fatal("PutObject returned no version ID")
	}
	return info.VersionID
}

func TestS3NoObjectLock(t *testing.T) {
	env := needS3(t)
	cfg := env.cfg
	cfg.Bucket = env.noLockBucket
	_, err := objstore.NewS3(t.Context(), cfg)
	if !errors.Is(err, objstore.ErrNoObjectLock) {
		t.Fatalf("NewS3 on a bucket without object lock: err = %v, want ErrNoObjectLock", err)
	}
	if !strings.Contains(err.Error(), env.noLockBucket) || !strings.Contains(err.Error(), "create it with object lock enabled") {
		t.Errorf("error does not say which bucket and what to do: %v", err)
	}

	cfg.Bucket = "no-such-bucket-" + hex.EncodeToString([]byte(t.Name()))[:8]
	if _, err := objstore.NewS3(t.Context(), cfg); err == nil {
		t.Error("NewS3 on a missing bucket succeeded")
	}
}

func TestS3PresignExpires(t *testing.T) {
	env := needS3(t)
	cfg := env.cfg
	cfg.Prefix = testPrefix(t)
	s := newS3(t, cfg)
	data := []byte("package bytes")
	key, _ := putLocked(t, s, data)

	for _, expiry := range []time.Duration{0, 500 * time.Millisecond, objstore.MaxPresignExpiry + time.Second} {
		if _, err := s.PresignGet(t.Context(), key, expiry); err == nil {
			t.Errorf("PresignGet with expiry %v succeeded", expiry)
		}
	}
	if _, err := s.PresignGet(t.Context(), "locked/missing", time.Minute); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("PresignGet of a missing key: err = %v, want ErrNotFound", err)
	}

	// A URL with a long expiry works.
	long, err := s.PresignGet(t.Context(), key, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(long, cfg.SecretKey.Reveal()) {
		t.Fatal("presigned URL contains the secret key")
	}
	if got, status := httpGet(t, long); status != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("presigned URL: %d %q, want 200 %q", status, got, data)
	}

	// A URL with a short expiry serves the package until it expires, then
	// is refused as expired, and stays refused. No step assumes how long
	// another takes: the test waits for the refusal, with a generous
	// deadline.
	short, err := s.PresignGet(t.Context(), key, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(short, cfg.SecretKey.Reveal()) {
		t.Fatal("presigned URL contains the secret key")
	}
	deadline := time.Now().Add(2 * time.Minute)
	var refusal []byte
	for {
		body, status := httpGet(t, short)
		if status == http.StatusForbidden {
			refusal = body
			break
		}
		if status != http.StatusOK || !bytes.Equal(body, data) {
			t.Fatalf("presigned URL before it expires: %d %q, want 200 %q", status, body, data)
		}
		if time.Now().After(deadline) {
			t.Fatal("presigned URL with a 1s expiry still works after 2 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !bytes.Contains(bytes.ToLower(refusal), []byte("expired")) {
		t.Fatalf("presigned URL refused, but not as expired: %s", refusal)
	}
	if body, status := httpGet(t, short); status != http.StatusForbidden {
		t.Fatalf("expired presigned URL works again: %d %q", status, body)
	}
	if got, status := httpGet(t, long); status != http.StatusOK || !bytes.Equal(got, data) {
		t.Fatalf("the long presigned URL after the short one expired: %d %q, want 200", status, got)
	}
}

func httpGet(t *testing.T, u string) ([]byte, int) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b, resp.StatusCode
}

func TestS3PutRefusesPastRetention(t *testing.T) {
	env := needS3(t)
	cfg := env.cfg
	cfg.Prefix = testPrefix(t)
	s := newS3(t, cfg)
	for _, until := range []time.Time{{}, time.Now().Add(-time.Minute)} {
		if _, err := s.Put(t.Context(), "past", strings.NewReader("x"), 1, until); err == nil {
			t.Errorf("Put with retain-until %v succeeded", until)
		}
	}
}

// TestS3SecretNotShown checks that neither the configuration, the store
// nor errors from a failing connection or a wrong secret show the secret
// key.
func TestS3SecretNotShown(t *testing.T) {
	const secretValue = "s3cr3t-Value-that-must-not-leak"
	cfg := objstore.S3Config{
		Endpoint:  closedAddr(t),
		Bucket:    "evidence",
		AccessKey: "AKIDEXAMPLE",
		SecretKey: secret.New(secretValue),
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, cfg); strings.Contains(out, secretValue) {
			t.Errorf("fmt %s of S3Config shows the secret: %s", verb, out)
		}
		if out := fmt.Sprintf(verb, &cfg); strings.Contains(out, secretValue) {
			t.Errorf("fmt %s of *S3Config shows the secret: %s", verb, out)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := objstore.NewS3(ctx, cfg)
	if err == nil {
		t.Fatal("NewS3 against a closed port succeeded")
	}
	if msg := fmt.Sprintf("%v %+v", err, err); strings.Contains(msg, secretValue) {
		t.Errorf("connection error shows the secret: %s", msg)
	}

	// Against the real service, with a wrong secret and with the right one.
	if os.Getenv("NUXARI_TEST_S3_ENDPOINT") == "" && os.Getenv("CI") != "true" {
		return
	}
	env := needS3(t)
	wrong := env.cfg
	wrong.SecretKey = secret.New(secretValue)
	_, err = objstore.NewS3(t.Context(), wrong)
	if err == nil {
		t.Fatal("NewS3 with a wrong secret key succeeded")
	}
	if msg := fmt.Sprintf("%v %+v", err, err); strings.Contains(msg, secretValue) {
		t.Errorf("authentication error shows the secret: %s", msg)
	}
	s := newS3(t, env.cfg)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(verb, s); strings.Contains(out, env.cfg.SecretKey.Reveal()) {
			t.Errorf("fmt %s of the store shows the secret: %s", verb, out)
		}
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
