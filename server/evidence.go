package server

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"

	"github.com/nuxari/nuxari/evidence/archive"
	"github.com/nuxari/nuxari/evidence/objstore"
	"github.com/nuxari/nuxari/governance/evidence"
)

// EvidenceConfig says where evidence packages are kept and what signs
// their manifests.
type EvidenceConfig struct {
	// SigningKMS, a sigstore KMS URI (e.g. "awskms://…", or a
	// sigstore-kms-<name> plugin's URI) of an ECDSA P-256 key, signs
	// manifests when set (an unknown URI or another key type fails Open);
	// otherwise SigningKeyFile, an ECDSA P-256 PEM key generated 0600 on
	// first start (default <data>/evidence-signing.pem).
	SigningKMS     string
	SigningKeyFile string
	// S3 keeps packages in a bucket with Object Lock (COMPLIANCE mode),
	// checked at start-up. Without it, packages are written once to Dir
	// (default <data>/evidence), which offers no WORM guarantee.
	S3  *objstore.S3Config
	Dir string
}

const signingKeyFile = "evidence-signing.pem"

// evidenceKey loads the key that signs manifests into out. keyFile is the
// key's file (empty for a KMS key), generated whether it was created now.
func evidenceKey(ctx context.Context, dataDir string, cfg EvidenceConfig, out *evidence.Config) (keyFile string, generated bool, err error) {
	if cfg.SigningKMS != "" {
		out.Signer, err = kms.Get(ctx, cfg.SigningKMS, crypto.SHA256)
		if err != nil {
			return "", false, fmt.Errorf("evidence signing key %s: %w", cfg.SigningKMS, err)
		}
	} else {
		keyFile = cfg.SigningKeyFile
		if keyFile == "" {
			keyFile = filepath.Join(dataDir, signingKeyFile)
		}
		if out.Signer, generated, err = fileSigner(keyFile); err != nil {
			return "", false, err
		}
	}
	pub, err := out.Signer.PublicKey()
	if err != nil {
		return "", false, fmt.Errorf("evidence signing key: %w", err)
	}
	// Refuse at start a key that packages cannot be verified with.
	if err := archive.SigningKeySupported(pub); err != nil {
		return "", false, fmt.Errorf("evidence signing key %s: %w", cmp.Or(cfg.SigningKMS, cfg.SigningKeyFile), err)
	}
	if out.PublicKeyPEM, err = cryptoutils.MarshalPublicKeyToPEM(pub); err != nil {
		return "", false, err
	}
	return keyFile, generated, nil
}

// evidenceStore opens the package store and the temporary directory of
// exports into out, and logs which store it is.
func evidenceStore(ctx context.Context, dataDir string, cfg EvidenceConfig, out *evidence.Config, log *slog.Logger) error {
	var err error
	if cfg.S3 != nil {
		if out.Store, err = objstore.NewS3(ctx, *cfg.S3); err != nil {
			return fmt.Errorf("evidence store: %w", err)
		}
		log.Info("evidence store: S3 bucket with Object Lock",
			slog.String("endpoint", cfg.S3.Endpoint), slog.String("bucket", cfg.S3.Bucket),
			slog.String("prefix", cfg.S3.Prefix), slog.Bool("tls", cfg.S3.Secure))
	} else {
		dir := cfg.Dir
		if dir == "" {
			dir = filepath.Join(dataDir, "evidence")
		}
		if out.Store, err = objstore.NewLocal(dir); err != nil {
			return fmt.Errorf("evidence store: %w", err)
		}
		log.Warn("evidence store: local directory with no WORM guarantee: anyone with access to this machine can delete or replace packages; use an S3 bucket with Object Lock in production",
			slog.String("dir", absPath(dir)))
	}
	out.TempDir = filepath.Join(dataDir, "tmp")
	return os.MkdirAll(out.TempDir, 0o700)
}

// fileSigner loads the manifest signing key from path, generating an
// ECDSA P-256 key there on first start (generated says so).
func fileSigner(path string) (s signature.Signer, generated bool, err error) {
	b, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, gerr := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if gerr != nil {
			return nil, false, gerr
		}
		if b, err = cryptoutils.MarshalPrivateKeyToPEM(key); err != nil {
			return nil, false, err
		}
		if err := writeNew(path, b); err != nil {
			return nil, false, fmt.Errorf("write evidence signing key: %w", err)
		}
		generated = true
	}
	if err != nil {
		return nil, false, fmt.Errorf("evidence signing key: %w", err)
	}
	key, err := cryptoutils.UnmarshalPEMToPrivateKey(b, cryptoutils.SkipPassword)
	if err != nil {
		return nil, false, fmt.Errorf("evidence signing key %s: %w", path, err)
	}
	s, err = signature.LoadSigner(key, crypto.SHA256)
	return s, generated, err
}
