package sealing

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/nuxari/nuxari/internal/secret"
)

// prefixLen is the length of Tink's ciphertext prefix: 0x01 and the key ID.
const prefixLen = 5

// tinkPrefix is the first byte of a ciphertext under a key with Tink's
// output prefix.
const tinkPrefix = 0x01

// Keyring is one org's keyset, opened: it seals and opens the org's
// credentials, and rotates its keys. Its methods are safe for concurrent
// use. It prints as its org and key IDs only.
type Keyring struct {
	org string
	kek KEK

	mu   sync.RWMutex
	h    *keyset.Handle
	aead tink.AEAD          // the enabled keys, sealing with the primary
	keys map[uint32]KeyInfo // every key, by ID
}

// KeyInfo describes a key of a keyring. None of it is secret: the ID is in
// every ciphertext the key sealed.
type KeyInfo struct {
	ID      uint32
	Primary bool // seals new credentials
	Enabled bool // opens credentials; a disabled key opens nothing
}

// NewKeyring makes a keyring for org with one new AES-256-GCM key, and
// returns it with its sealed keyset for the caller to store.
func NewKeyring(kek KEK, org string) (*Keyring, []byte, error) {
	if kek == nil || org == "" {
		return nil, nil, errors.New("sealing: a keyring needs a key-encryption key and an org")
	}
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, nil, fmt.Errorf("sealing: new key: %w", err)
	}
	k := &Keyring{org: org, kek: kek}
	sealed, err := k.replace(h)
	if err != nil {
		return nil, nil, err
	}
	return k, sealed, nil
}

// OpenKeyring opens org's sealed keyset. It fails, with an error that
// satisfies errors.Is(err, [ErrCannotOpenKeyring]), for a keyset sealed
// under another key-encryption key or for another org, or damaged.
func OpenKeyring(kek KEK, org string, sealed []byte) (*Keyring, error) {
	if kek == nil || org == "" {
		return nil, errors.New("sealing: a keyring needs a key-encryption key and an org")
	}
	rec := &recordingKEK{KEK: kek}
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(sealed)), rec, keysetAD(org))
	if err != nil {
		if rec.err != nil {
			// The KEK's own error: a KMS that could not be reached says so.
			return nil, fmt.Errorf("%w of org %q: key-encryption key: %w", ErrCannotOpenKeyring, org, rec.err)
		}
		return nil, fmt.Errorf("%w of org %q: the sealed keyset is damaged", ErrCannotOpenKeyring, org)
	}
	k := &Keyring{org: org, kek: kek}
	if err := k.install(h); err != nil {
		return nil, fmt.Errorf("%w of org %q: %w", ErrCannotOpenKeyring, org, err)
	}
	return k, nil
}

// recordingKEK keeps the error of the KEK's last Decrypt, so that a KMS
// failure can be told from a keyset that does not open.
type recordingKEK struct {
	KEK
	err error
}

func (r *recordingKEK) Decrypt(ciphertext, associatedData []byte) ([]byte, error) {
	pt, err := r.KEK.Decrypt(ciphertext, associatedData)
	r.err = err
	return pt, err
}

// install checks h (every key AES-256-GCM with Tink's prefix, so that
// KeyIDOf names the key of every ciphertext) and makes it the keyring's
// keyset. The caller holds k.mu or owns k alone.
func (k *Keyring) install(h *keyset.Handle) error {
	keys := make(map[uint32]KeyInfo, h.Len())
	for i := range h.Len() {
		e, err := h.Entry(i)
		if err != nil {
			return errors.New("the keyset is malformed")
		}
		key, ok := e.Key().(*aesgcm.Key)
		if !ok {
			return fmt.Errorf("key %d is not an AES-GCM key", e.KeyID())
		}
		p, ok := key.Parameters().(*aesgcm.Parameters)
		if !ok || p.KeySizeInBytes() != 32 || p.Variant() != aesgcm.VariantTink {
			return fmt.Errorf("key %d is not AES-256-GCM with Tink's prefix", e.KeyID())
		}
		if e.KeyStatus() != keyset.Enabled && e.KeyStatus() != keyset.Disabled {
			return fmt.Errorf("key %d has status %v", e.KeyID(), e.KeyStatus())
		}
		keys[e.KeyID()] = KeyInfo{ID: e.KeyID(), Primary: e.IsPrimary(), Enabled: e.KeyStatus() == keyset.Enabled}
	}
	a, err := aead.New(h)
	if err != nil {
		return errors.New("the keyset has no usable primary key")
	}
	k.h, k.aead, k.keys = h, a, keys
	return nil
}

// replace seals h and makes it the keyring's keyset, returning the sealed
// bytes. On failure the keyring is unchanged. The caller holds k.mu or
// owns k alone.
func (k *Keyring) replace(h *keyset.Handle) ([]byte, error) {
	var buf bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), k.kek, keysetAD(k.org)); err != nil {
		return nil, fmt.Errorf("sealing: seal the keyset of org %q: %w", k.org, err)
	}
	if err := k.install(h); err != nil {
		return nil, fmt.Errorf("sealing: keyset of org %q: %w", k.org, err)
	}
	return buf.Bytes(), nil
}

// Org returns the org the keyring belongs to.
func (k *Keyring) Org() string { return k.org }

// Seal encrypts plaintext under the primary key, bound to ad, whose org
// must be the keyring's.
func (k *Keyring) Seal(plaintext secret.String, ad AD) ([]byte, error) {
	if err := ad.check(); err != nil {
		return nil, err
	}
	if ad.Org != k.org {
		return nil, fmt.Errorf("sealing: the keyring of org %q cannot seal for org %q", k.org, ad.Org)
	}
	k.mu.RLock()
	a := k.aead
	k.mu.RUnlock()
	ct, err := a.Encrypt([]byte(plaintext.Reveal()), ad.bytes())
	if err != nil {
		return nil, errors.New("sealing: cannot seal the credential")
	}
	return ct, nil
}

// Open decrypts a ciphertext that Seal returned for ad. Every failure
// satisfies errors.Is(err, [ErrCannotOpen]); one for a ciphertext whose
// key is disabled also satisfies errors.Is(err, [ErrKeyDisabled]).
func (k *Keyring) Open(ciphertext []byte, ad AD) (secret.String, error) {
	k.mu.RLock()
	a, keys := k.aead, k.keys
	k.mu.RUnlock()
	if id, err := KeyIDOf(ciphertext); err == nil {
		if info, ok := keys[id]; ok && !info.Enabled {
			return secret.String{}, &openError{disabled: true, keyID: id}
		}
	}
	pt, err := a.Decrypt(ciphertext, ad.bytes())
	if err != nil {
		return secret.String{}, &openError{}
	}
	return secret.New(string(pt)), nil
}

// Reseal opens ciphertext with whichever enabled key sealed it and seals
// the plaintext again under the primary key, for the job that moves
// credentials to a new key after [Keyring.Rotate].
func (k *Keyring) Reseal(ciphertext []byte, ad AD) ([]byte, error) {
	pt, err := k.Open(ciphertext, ad)
	if err != nil {
		return nil, err
	}
	return k.Seal(pt, ad)
}

// KeyIDOf returns the ID of the key that sealed ciphertext, read from its
// prefix (not authenticated: Open checks it). It fails, with an error
// that satisfies errors.Is(err, [ErrCannotOpen]), for bytes that do not
// start with a Tink prefix.
func KeyIDOf(ciphertext []byte) (uint32, error) {
	if len(ciphertext) < prefixLen || ciphertext[0] != tinkPrefix {
		return 0, fmt.Errorf("%w: not a sealed credential", ErrCannotOpen)
	}
	return binary.BigEndian.Uint32(ciphertext[1:prefixLen]), nil
}

// Keys returns the keyring's keys in the keyset's order, oldest first.
func (k *Keyring) Keys() []KeyInfo {
	k.mu.RLock()
	defer k.mu.RUnlock()
	infos := make([]KeyInfo, 0, k.h.Len())
	for i := range k.h.Len() {
		if e, err := k.h.Entry(i); err == nil {
			infos = append(infos, k.keys[e.KeyID()])
		}
	}
	return infos
}

// Primary returns the ID of the key that seals new credentials.
func (k *Keyring) Primary() uint32 {
	k.mu.RLock()
	defer k.mu.RUnlock()
	for _, info := range k.keys {
		if info.Primary {
			return info.ID
		}
	}
	return 0
}

// Rotate adds a new AES-256-GCM key and makes it primary; the other keys
// keep opening what they sealed. It returns the new key's ID and the
// sealed keyset to store (see the package documentation on committing it
// before sealing again).
func (k *Keyring) Rotate() (newKeyID uint32, sealed []byte, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	m := keyset.NewManagerFromHandle(k.h)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err != nil {
		return 0, nil, fmt.Errorf("sealing: new key: %w", err)
	}
	if err := m.SetPrimary(id); err != nil {
		return 0, nil, fmt.Errorf("sealing: new key: %w", err)
	}
	sealed, err = k.change(m)
	if err != nil {
		return 0, nil, err
	}
	return id, sealed, nil
}

// Disable takes key id out of use: what it sealed no longer opens
// ([ErrKeyDisabled]) until [Keyring.Enable]. The primary key cannot be
// disabled. It returns the sealed keyset to store.
func (k *Keyring) Disable(id uint32) (sealed []byte, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.known(id); err != nil {
		return nil, err
	}
	if k.keys[id].Primary {
		return nil, fmt.Errorf("sealing: key %d is the primary key: rotate before disabling it", id)
	}
	m := keyset.NewManagerFromHandle(k.h)
	if err := m.Disable(id); err != nil {
		return nil, fmt.Errorf("sealing: disable key %d: %w", id, err)
	}
	return k.change(m)
}

// Enable puts a disabled key back in use. It returns the sealed keyset to
// store.
func (k *Keyring) Enable(id uint32) (sealed []byte, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.known(id); err != nil {
		return nil, err
	}
	m := keyset.NewManagerFromHandle(k.h)
	if err := m.Enable(id); err != nil {
		return nil, fmt.Errorf("sealing: enable key %d: %w", id, err)
	}
	return k.change(m)
}

// Delete destroys key id for good: what it sealed can never be opened
// again. Only a disabled key can be deleted, so that a key is first seen
// to be unused. It returns the sealed keyset to store.
func (k *Keyring) Delete(id uint32) (sealed []byte, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.known(id); err != nil {
		return nil, err
	}
	if k.keys[id].Enabled {
		return nil, fmt.Errorf("sealing: key %d is enabled: disable it before deleting it", id)
	}
	m := keyset.NewManagerFromHandle(k.h)
	if err := m.Delete(id); err != nil {
		return nil, fmt.Errorf("sealing: delete key %d: %w", id, err)
	}
	return k.change(m)
}

// known refuses an ID the keyring does not hold. The caller holds k.mu.
func (k *Keyring) known(id uint32) error {
	if _, ok := k.keys[id]; !ok {
		return fmt.Errorf("sealing: org %q has no key %d", k.org, id)
	}
	return nil
}

// change makes m's keyset the keyring's. The caller holds k.mu.
func (k *Keyring) change(m *keyset.Manager) ([]byte, error) {
	h, err := m.Handle()
	if err != nil {
		return nil, fmt.Errorf("sealing: keyset of org %q: %w", k.org, err)
	}
	return k.replace(h)
}

// String describes the keyring by its org and key IDs, never its keys.
func (k *Keyring) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "sealing.Keyring{org: %q, keys: [", k.org)
	for i, info := range k.Keys() {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%d", info.ID)
		switch {
		case info.Primary:
			b.WriteString(" (primary)")
		case !info.Enabled:
			b.WriteString(" (disabled)")
		}
	}
	b.WriteString("]}")
	return b.String()
}

// GoString is String, for %#v.
func (k *Keyring) GoString() string { return k.String() }
