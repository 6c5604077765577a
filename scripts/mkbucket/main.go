// Command mkbucket creates an S3 bucket for the tests, with or without
// Object Lock. scripts/test-services.sh runs it against the Versity Gateway
// it starts.
//
// The endpoint and credentials come from the environment, never from flags,
// so that the secret key does not show in the process list:
//
//	NUXARI_TEST_S3_ENDPOINT    host:port, plain HTTP
//	NUXARI_TEST_S3_ACCESS_KEY
//	NUXARI_TEST_S3_SECRET_KEY
//
// Usage:
//
//	mkbucket [-lock] bucket
//
// With -lock the bucket is created with Object Lock enabled (which, on S3
// and on Versity Gateway, also enables versioning), and mkbucket checks that
// the bucket reports its object-lock configuration as Enabled.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

func main() {
	lock := flag.Bool("lock", false, "create the bucket with Object Lock enabled")
	region := flag.String("region", "us-east-1", "bucket region")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: mkbucket [-lock] [-region r] bucket")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, flag.Arg(0), *region, *lock); err != nil {
		fmt.Fprintln(os.Stderr, "mkbucket:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bucket, region string, lock bool) error {
	endpoint := os.Getenv("NUXARI_TEST_S3_ENDPOINT")
	access := os.Getenv("NUXARI_TEST_S3_ACCESS_KEY")
	secretKey := os.Getenv("NUXARI_TEST_S3_SECRET_KEY")
	if endpoint == "" || access == "" || secretKey == "" {
		return errors.New("NUXARI_TEST_S3_ENDPOINT, NUXARI_TEST_S3_ACCESS_KEY and NUXARI_TEST_S3_SECRET_KEY must be set")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := minio.New(endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(access, secretKey, ""),
		Region: region,
	})
	if err != nil {
		return err
	}
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: region, ObjectLocking: lock}); err != nil {
		return fmt.Errorf("create bucket %s: %w", bucket, err)
	}
	if !lock {
		return nil
	}
	enabled, _, _, _, err := c.GetObjectLockConfig(ctx, bucket)
	if err != nil {
		return fmt.Errorf("bucket %s: read object-lock configuration: %w", bucket, err)
	}
	if enabled != "Enabled" {
		return fmt.Errorf("bucket %s: object lock is %q after creating it with object lock", bucket, enabled)
	}
	return nil
}
