package sealing

import (
	"encoding/binary"
	"errors"
)

// AD is what a sealed credential is bound to: the org, the connector and
// the credential's field. A ciphertext opens only with the AD it was
// sealed with, so one moved to another org, connector or field does not.
type AD struct {
	Org       string // the org's ID
	Connector string // the connector's ID within the org
	Field     string // the credential's name within the connector ("client_secret")
}

// Domain labels keep the associated data of credentials and of keysets
// apart, and name the encoding's version.
const (
	credentialLabel = "nuxari/sealing/credential/v1"
	keysetLabel     = "nuxari/sealing/keyset/v1"
)

// bytes encodes ad as a label followed by each part with its length (4
// bytes, big-endian) before it: no two ADs have the same encoding.
func (ad AD) bytes() []byte {
	return encode(credentialLabel, ad.Org, ad.Connector, ad.Field)
}

// check refuses an AD with an empty part.
func (ad AD) check() error {
	if ad.Org == "" || ad.Connector == "" || ad.Field == "" {
		return errors.New("sealing: associated data needs an org, a connector and a field")
	}
	return nil
}

// keysetAD is the associated data of org's sealed keyset.
func keysetAD(org string) []byte {
	return encode(keysetLabel, org)
}

func encode(label string, parts ...string) []byte {
	n := len(label)
	for _, p := range parts {
		n += 4 + len(p)
	}
	b := make([]byte, 0, n)
	b = append(b, label...)
	for _, p := range parts {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}
