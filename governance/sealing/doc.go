// Package sealing seals connector credentials (API keys, client secrets,
// OAuth tokens, passwords) under per-org keys, so that they are encrypted
// at rest and a ciphertext opens only for the org, connector and field it
// was sealed for.
//
// # Keys
//
// Each org has a [Keyring]: a Tink keyset of AES-256-GCM keys, one of them
// primary. The keyset is itself encrypted ("sealed") under the server's
// key-encryption key ([KEK]) with the org's ID as associated data, so a
// sealed keyset copied into another org's state does not open there. The
// package is storage-agnostic: [NewKeyring] and every change to a keyring
// return the sealed keyset as bytes, and [OpenKeyring] takes them back.
// The caller stores them in the org's state and records the audit event
// in the same commit.
//
// A keyring changed in memory ([Keyring.Rotate], [Keyring.Disable],
// [Keyring.Enable], [Keyring.Delete]) is ahead of what is stored until the
// caller commits the returned bytes. The caller must commit them before it
// seals anything with the keyring again, and must drop the keyring (and
// open it again from the stored bytes) if the commit fails: a credential
// sealed under a key that was never stored cannot be opened after a
// restart.
//
// # Credentials
//
// [Keyring.Seal] encrypts a [secret.String] under the primary key with an
// [AD] (org, connector, field) as associated data, encoded with a length
// before each part so that no two ADs share an encoding. The ciphertext
// starts with Tink's 5-byte prefix, 0x01 and the big-endian ID of the key
// that sealed it ([KeyIDOf]). [Keyring.Open] returns the plaintext, or an
// error that satisfies errors.Is(err, [ErrCannotOpen]) and says no more
// than why: never any plaintext or key material. A ciphertext whose key
// is disabled also satisfies errors.Is(err, [ErrKeyDisabled]).
//
// # Rotation
//
// [Keyring.Rotate] adds a new key and makes it primary; older keys stay
// and still open what they sealed. A background job then moves each
// credential to the primary with [Keyring.Reseal] (those for which
// [KeyIDOf] already names the primary can be skipped).
// [Keyring.Disable] takes an old key out of use, reversibly
// ([Keyring.Enable]): a credential still under it fails with
// [ErrKeyDisabled] and shows what the job missed. [Keyring.Delete] then
// destroys the disabled key for good.
//
// # Key-encryption keys
//
// [LocalKEK] parses a Tink JSON keyset held in a file (nuxarid's
// kek.json). In production the KEK lives in a KMS and is named by a key
// URI ([KEKFromURI]), resolved through Tink's KMS client registry
// (github.com/tink-crypto/tink-go/v2/core/registry). No KMS client is
// registered by default, so that this module does not depend on any
// cloud SDK: the binary that uses a KMS links in the Tink integration for
// it and registers its client at start-up, before the KEK is resolved.
// For Google Cloud KMS (github.com/tink-crypto/tink-go-gcpkms/v2):
//
//	client, err := gcpkms.NewClientWithOptions(ctx, "gcp-kms://")
//	if err != nil {
//		return err
//	}
//	registry.RegisterKMSClient(client)
//	kek, err := sealing.KEKFromURI(ctx, "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k")
//
// AWS KMS (aws-kms://arn:aws:kms:...) is the same with
// github.com/tink-crypto/tink-go-awskms/v2, and HashiCorp Vault
// (hcvault://...) with github.com/tink-crypto/tink-go-hcvault/v2. Each
// keyring opened or changed costs one KMS call, so callers keep opened
// keyrings rather than open one per credential.
package sealing
