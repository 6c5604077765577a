package objstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/nuxari/nuxari/internal/secret"
)

// DefaultRegion is the region S3Config uses when Region is empty.
const DefaultRegion = "us-east-1"

// S3Config says where an [S3] store keeps its objects. Its zero value is
// not usable: Endpoint, Bucket, AccessKey and SecretKey are required.
type S3Config struct {
	// Endpoint is the S3 service's host:port, with no scheme.
	Endpoint string
	// Secure selects HTTPS; plain HTTP otherwise.
	Secure bool
	// Region is the bucket's region; DefaultRegion if empty.
	Region string
	// Bucket is the bucket, which MUST have Object Lock enabled.
	Bucket string
	// AccessKey and SecretKey are the credentials. The store needs
	// s3:GetBucketObjectLockConfiguration, s3:ListBucket,
	// s3:ListBucketVersions, s3:PutObject, s3:PutObjectRetention,
	// s3:GetObject and s3:GetObjectVersion on the bucket.
	AccessKey string
	SecretKey secret.String
	// Prefix is put before every key, e.g. "evidence/". It is empty, or a
	// valid key (see the package documentation) followed by "/".
	Prefix string
}

// S3 is a [Store] in an S3 bucket with Object Lock. Every object is
// written once, in one PUT, with a COMPLIANCE-mode retention until the
// date given to Put, so that until then the server refuses to delete or
// overwrite that version, whoever asks.
//
// Put refuses a key under which the bucket holds any version or delete
// marker, and sends If-None-Match: * so that of two concurrent Puts of a
// key at most one succeeds. The version Put wrote is therefore the oldest
// version of its key, and that is the version Open and PresignGet hand
// out, even if someone later writes a newer version under the same key
// with other tools.
type S3 struct {
	client    *minio.Client
	transport *http.Transport
	endpoint  string
	bucket    string
	prefix    string
}

var _ Store = (*S3)(nil)

// NewS3 connects to the bucket and checks that it exists and has Object
// Lock enabled; otherwise it returns an error (wrapping ErrNoObjectLock if
// the lock is missing). Close it when done.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	switch {
	case cfg.Endpoint == "":
		return nil, errors.New("objstore: S3 endpoint (host:port) is required")
	case cfg.Bucket == "":
		return nil, errors.New("objstore: S3 bucket is required")
	case cfg.AccessKey == "" || cfg.SecretKey.IsZero():
		return nil, errors.New("objstore: S3 access key and secret key are required")
	}
	if cfg.Prefix != "" {
		if !strings.HasSuffix(cfg.Prefix, "/") {
			return nil, fmt.Errorf("objstore: S3 prefix %q must end with \"/\"", cfg.Prefix)
		}
		if err := ValidKey(strings.TrimSuffix(cfg.Prefix, "/")); err != nil {
			return nil, fmt.Errorf("objstore: S3 prefix: %w", err)
		}
	}
	region := cfg.Region
	if region == "" {
		region = DefaultRegion
	}
	tr, err := minio.DefaultTransport(cfg.Secure)
	if err != nil {
		return nil, fmt.Errorf("objstore: S3 transport: %w", err)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey.Reveal(), ""),
		Secure:    cfg.Secure,
		Transport: tr,
		Region:    region,
		// minio-go sends a caller's x-amz-checksum-* header only with
		// TrailingHeaders set; Put sends its SHA-256 as such a header and
		// no trailer (Versity Gateway v1.8.0 rejects minio-go's trailing
		// checksums on signed streaming uploads).
		TrailingHeaders: true,
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: S3 client for %s: %w", cfg.Endpoint, err)
	}
	s := &S3{client: client, transport: tr, endpoint: cfg.Endpoint, bucket: cfg.Bucket, prefix: cfg.Prefix}
	if err := s.checkBucket(ctx); err != nil {
		tr.CloseIdleConnections()
		return nil, err
	}
	return s, nil
}

func (s *S3) checkBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return fmt.Errorf("objstore: check bucket %s at %s: %w", s.bucket, s.endpoint, err)
	}
	if !ok {
		return fmt.Errorf("objstore: bucket %s does not exist at %s; create it with object lock enabled", s.bucket, s.endpoint)
	}
	enabled, _, _, _, err := s.client.GetObjectLockConfig(ctx, s.bucket)
	if err != nil && !strings.HasPrefix(minio.ToErrorResponse(err).Code, "ObjectLockConfigurationNotFound") {
		return fmt.Errorf("objstore: read object-lock configuration of bucket %s: %w", s.bucket, err)
	}
	if err != nil || enabled != "Enabled" {
		return fmt.Errorf("%w: bucket %s has no Object Lock configuration; create it with object lock enabled "+
			"(aws s3api create-bucket --object-lock-enabled-for-bucket, mc mb --with-lock, "+
			"or minio-go MakeBucketOptions{ObjectLocking: true}), or turn it on for the versioned bucket "+
			"with aws s3api put-object-lock-configuration --object-lock-configuration ObjectLockEnabled=Enabled",
			ErrNoObjectLock, s.bucket)
	}
	return nil
}

// Close closes idle connections.
func (s *S3) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

// String describes the store without credentials.
func (s *S3) String() string {
	return fmt.Sprintf("objstore.S3{endpoint=%s bucket=%s prefix=%q}", s.endpoint, s.bucket, s.prefix)
}

// WORM reports true: the bucket enforces COMPLIANCE-mode retention.
func (s *S3) WORM() bool { return true }

// Put writes the object in one PUT with Object Lock mode COMPLIANCE and
// the given retain-until date, which MUST be in the future, and a SHA-256
// checksum that the server verifies. It reads r twice if r is an
// io.ReadSeeker (it computes the checksum first); otherwise it holds the
// object in memory and refuses objects over MaxBuffered bytes.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64, retainUntil time.Time) (Object, error) {
	if err := ValidKey(key); err != nil {
		return Object{}, err
	}
	if size < 0 {
		return Object{}, fmt.Errorf("objstore: put %s: negative size %d", key, size)
	}
	if !retainUntil.After(time.Now()) {
		return Object{}, fmt.Errorf("objstore: put %s: retain-until date %s is not in the future", key, retainUntil.UTC().Format(time.RFC3339))
	}
	_, found, err := s.firstVersion(ctx, key, true)
	if err != nil {
		return Object{}, err
	}
	if found {
		return Object{}, fmt.Errorf("%w: %s", ErrExists, key)
	}
	body, sum, err := checksummed(ctx, r, size)
	if err != nil {
		return Object{}, fmt.Errorf("objstore: put %s: %w", key, err)
	}
	opts := minio.PutObjectOptions{
		ContentType:      "application/octet-stream",
		Mode:             minio.Compliance,
		RetainUntilDate:  retainUntil.UTC(),
		DisableMultipart: true,
		// The SHA-256 checksum header, which the signature covers, stands
		// for the payload hash: no aws-chunked streaming signature.
		DisableContentSha256: true,
		UserMetadata:         map[string]string{"x-amz-checksum-sha256": base64.StdEncoding.EncodeToString(sum)},
	}
	opts.SetMatchETagExcept("*")
	info, err := s.client.PutObject(ctx, s.bucket, s.prefix+key, body, size, opts)
	if err != nil {
		if resp := minio.ToErrorResponse(err); resp.StatusCode == http.StatusPreconditionFailed || resp.Code == "PreconditionFailed" {
			return Object{}, fmt.Errorf("%w: %s", ErrExists, key)
		}
		return Object{}, fmt.Errorf("objstore: put %s: %w", key, err)
	}
	if info.VersionID == "" {
		return Object{}, fmt.Errorf("objstore: put %s: the bucket returned no version ID; is versioning on?", key)
	}
	return Object{Key: key, VersionID: info.VersionID, Size: size}, nil
}

// MaxBuffered is the largest object that Put to S3 reads from a reader
// that is not an io.ReadSeeker: it holds such an object in memory to
// compute its checksum before it sends it.
const MaxBuffered = 64 << 20

// checksummed returns a reader of exactly size bytes of r and their
// SHA-256. It reads r twice if r is an io.ReadSeeker, and otherwise holds
// the bytes in memory, up to MaxBuffered.
func checksummed(ctx context.Context, r io.Reader, size int64) (io.Reader, []byte, error) {
	h := sha256.New()
	if rs, ok := r.(io.ReadSeeker); ok {
		start, err := rs.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, nil, err
		}
		if _, err := io.Copy(h, &exactReader{r: ctxReader{ctx, rs}, n: size}); err != nil {
			return nil, nil, err
		}
		if _, err := rs.Seek(start, io.SeekStart); err != nil {
			return nil, nil, err
		}
		return &exactReader{r: rs, n: size}, h.Sum(nil), nil
	}
	if size > MaxBuffered {
		return nil, nil, fmt.Errorf("%d bytes from a reader that cannot seek; pass an io.ReadSeeker (such as *os.File) for objects over %d bytes", size, MaxBuffered)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	if _, err := io.Copy(io.MultiWriter(buf, h), &exactReader{r: ctxReader{ctx, r}, n: size}); err != nil {
		return nil, nil, err
	}
	return bytes.NewReader(buf.Bytes()), h.Sum(nil), nil
}

// Open returns the content of the version Put wrote.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	if err := ValidKey(key); err != nil {
		return nil, 0, err
	}
	v, found, err := s.firstVersion(ctx, key, false)
	if err != nil {
		return nil, 0, err
	}
	if !found {
		return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{VersionID: v.VersionID})
	if err != nil {
		return nil, 0, fmt.Errorf("objstore: open %s: %w", key, err)
	}
	st, err := obj.Stat()
	if err != nil {
		_ = obj.Close()
		if notFound(err) {
			return nil, 0, fmt.Errorf("%w: %s", ErrNotFound, key)
		}
		return nil, 0, fmt.Errorf("objstore: open %s: %w", key, err)
	}
	return obj, st.Size, nil
}

// PresignGet returns a URL that downloads the version Put wrote, valid
// for expiry, which is between one second and MaxPresignExpiry.
func (s *S3) PresignGet(ctx context.Context, key string, expiry time.Duration) (string, error) {
	if err := ValidKey(key); err != nil {
		return "", err
	}
	if expiry < time.Second || expiry > MaxPresignExpiry {
		return "", fmt.Errorf("objstore: presign %s: expiry %v is not between 1s and %v", key, expiry, MaxPresignExpiry)
	}
	v, found, err := s.firstVersion(ctx, key, false)
	if err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, s.prefix+key, expiry, url.Values{"versionId": {v.VersionID}})
	if err != nil {
		return "", fmt.Errorf("objstore: presign %s: %w", key, err)
	}
	return u.String(), nil
}

// firstVersion returns the oldest version of key: with markers, the oldest
// version or delete marker, else the oldest version that is not a delete
// marker.
func (s *S3) firstVersion(ctx context.Context, key string, markers bool) (minio.ObjectInfo, bool, error) {
	name := s.prefix + key
	var first minio.ObjectInfo
	found := false
	// Versions of a key are listed newest first; the last one wins.
	for v := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: name, WithVersions: true}) {
		if v.Err != nil {
			return minio.ObjectInfo{}, false, fmt.Errorf("objstore: list versions of %s: %w", key, v.Err)
		}
		if v.Key != name || (v.IsDeleteMarker && !markers) {
			continue
		}
		first, found = v, true
	}
	return first, found, nil
}

func notFound(err error) bool {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey", "NoSuchVersion":
		return true
	}
	return false
}
