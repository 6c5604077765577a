package sealing_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/nuxari/nuxari/governance/sealing"
)

// FuzzOpen opens arbitrary bytes with a keyring of two keys, one of them
// disabled: Open never panics, fails only with ErrCannotOpen, and opens
// nothing but the one valid ciphertext under an enabled key.
func FuzzOpen(f *testing.F) {
	k, _ := newKeyring(f, newKEK(f), "acme")
	old := k.Primary()
	disabled := seal(f, k, canary, adAcme)
	if _, _, err := k.Rotate(); err != nil {
		f.Fatal(err)
	}
	valid := seal(f, k, canary, adAcme)
	if _, err := k.Disable(old); err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(disabled)
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add(valid[:5])
	f.Add(valid[:len(valid)-1])
	f.Add(append([]byte{0}, valid[1:]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = sealing.KeyIDOf(data)
		got, err := k.Open(data, adAcme)
		if err == nil {
			if !bytes.Equal(data, valid) {
				t.Fatalf("Open accepted %d bytes that are not the sealed credential", len(data))
			}
			if got.Reveal() != canary {
				t.Fatal("Open returned a different plaintext")
			}
			return
		}
		if !errors.Is(err, sealing.ErrCannotOpen) {
			t.Fatalf("Open: %v, want ErrCannotOpen", err)
		}
		if errors.Is(err, sealing.ErrKeyDisabled) && len(data) >= 5 && !bytes.Equal(data[:5], disabled[:5]) {
			t.Fatalf("Open said disabled for a ciphertext whose prefix names no disabled key")
		}
	})
}

// FuzzOpenKeyring opens arbitrary bytes as a sealed keyset: it never
// panics and fails only with ErrCannotOpenKeyring.
func FuzzOpenKeyring(f *testing.F) {
	kek := newKEK(f)
	_, sealed := newKeyring(f, kek, "acme")
	f.Add(sealed)
	f.Add([]byte{})
	f.Add(sealed[:len(sealed)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := sealing.OpenKeyring(kek, "acme", data)
		if err != nil {
			if !errors.Is(err, sealing.ErrCannotOpenKeyring) {
				t.Fatalf("OpenKeyring: %v, want ErrCannotOpenKeyring", err)
			}
			return
		}
		if len(k.Keys()) == 0 {
			t.Fatal("OpenKeyring opened a keyring without keys")
		}
	})
}
