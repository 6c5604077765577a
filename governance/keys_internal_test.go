package governance

import (
	"strings"
	"testing"
)

// TestStateKeysDoNotCollide: no state key is a prefix of another, so a
// scan of one prefix reads only its own records, and every prefix ends in
// "/" so that an ID can never extend it into another key.
func TestStateKeysDoNotCollide(t *testing.T) {
	if len(stateKeys) < 17 {
		t.Fatalf("the registry lists %d keys", len(stateKeys))
	}
	for i, a := range stateKeys {
		if a.key == "" || a.owner == "" {
			t.Errorf("entry %d is incomplete: %+v", i, a)
		}
		exact := !strings.HasSuffix(a.key, "/")
		if exact && strings.Contains(a.key, "/") {
			t.Errorf("exact key %q holds a slash", a.key)
		}
		for j, b := range stateKeys {
			if i != j && strings.HasPrefix(b.key, a.key) {
				t.Errorf("%q (%s) is a prefix of %q (%s)", a.key, a.owner, b.key, b.owner)
			}
		}
	}
}
