package sealing

import (
	"errors"
	"fmt"
)

var (
	// ErrCannotOpen is what every failed [Keyring.Open] satisfies: the
	// ciphertext is damaged, was sealed by another keyring or with another
	// AD, or its key is disabled or gone.
	ErrCannotOpen = errors.New("sealing: cannot open the credential")

	// ErrKeyDisabled is satisfied (with [ErrCannotOpen]) by the error of
	// an Open of a ciphertext whose key is disabled: the credential is
	// intact but must be resealed ([Keyring.Enable], then
	// [Keyring.Reseal]) or entered again.
	ErrKeyDisabled = errors.New("sealing: the credential's key is disabled")

	// ErrCannotOpenKeyring is what a failed [OpenKeyring] satisfies: the
	// sealed keyset is damaged, belongs to another org, or was sealed
	// under another key-encryption key.
	ErrCannotOpenKeyring = errors.New("sealing: cannot open the keyring")
)

// openError is the error of a failed Open. It holds no more than the ID
// of a disabled key, which every ciphertext shows in its prefix.
type openError struct {
	disabled bool
	keyID    uint32
}

func (e *openError) Error() string {
	if e.disabled {
		return fmt.Sprintf("%v: its key %d is disabled", ErrCannotOpen, e.keyID)
	}
	return ErrCannotOpen.Error()
}

func (e *openError) Is(target error) bool {
	return target == ErrCannotOpen || (e.disabled && target == ErrKeyDisabled)
}
