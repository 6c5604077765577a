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

// evidence builds the governance evidence configuration.
func openEvidence(ctx context.Context, dataDir string, cfg EvidenceConfig) (evidence.Config, error) {
	var out evidence.Config
	var err error
	if cfg.SigningKMS != "" {
		out.Signer, err = kms.Get(ctx, cfg.SigningKMS, crypto.SHA256)
		if err != nil {
			return out, fmt.Errorf("evidence signing key %s: %w", cfg.SigningKMS, err)
		}
	} else {
		path := cfg.SigningKeyFile
		if path == "" {
			path = filepath.Join(dataDir, signingKeyFile)
		}
		if out.Signer, err = fileSigner(path); err != nil {
			return out, err
		}
	}
	pub, err := out.Signer.PublicKey()
	if err != nil {
		return out, fmt.Errorf("evidence signing key: %w", err)
	}
	// Refuse at start a key that packages cannot be verified with.
	if err := archive.SigningKeySupported(pub); err != nil {
		return out, fmt.Errorf("evidence signing key %s: %w", cmp.Or(cfg.SigningKMS, cfg.SigningKeyFile), err)
	}
	if out.PublicKeyPEM, err = cryptoutils.MarshalPublicKeyToPEM(pub); err != nil {
		return out, err
	}
	if cfg.S3 != nil {
		if out.Store, err = objstore.NewS3(ctx, *cfg.S3); err != nil {
			return out, fmt.Errorf("evidence store: %w", err)
		}
	} else {
		dir := cfg.Dir
		if dir == "" {
			dir = filepath.Join(dataDir, "evidence")
		}
		if out.Store, err = objstore.NewLocal(dir); err != nil {
			return out, fmt.Errorf("evidence store: %w", err)
		}
	}
	out.TempDir = filepath.Join(dataDir, "tmp")
	if err := os.MkdirAll(out.TempDir, 0o700); err != nil {
		return out, err
	}
	return out, nil
}

// fileSigner loads the manifest signing key from path, generating an
// ECDSA P-256 key there on first start.
func fileSigner(path string) (signature.Signer, error) {
	b, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, gerr := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if gerr != nil {
			return nil, gerr
		}
		if b, err = cryptoutils.MarshalPrivateKeyToPEM(key); err != nil {
			return nil, err
		}
		if err := writeNew(path, b); err != nil {
			return nil, fmt.Errorf("write evidence signing key: %w", err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("evidence signing key: %w", err)
	}
	key, err := cryptoutils.UnmarshalPEMToPrivateKey(b, cryptoutils.SkipPassword)
	if err != nil {
		return nil, fmt.Errorf("evidence signing key %s: %w", path, err)
	}
	return signature.LoadSigner(key, crypto.SHA256)
}
