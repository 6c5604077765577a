package governance

import (
	"strings"
	"testing"
)

// TestStateKeysDoNotCollide: no state key is a prefix of another, so a
// scan of one prefix reads only its own records, and every prefix ends in
// "/" so that an ID can never extend it into another key.
func TestStateKeysDoNotCollide(t *testing.T) {
	if len(StateKeys) < 17 {
		t.Fatalf("the registry lists %d keys", len(StateKeys))
	}
	for i, a := range StateKeys {
		if a.Key == "" || a.Owner == "" {
			t.Errorf("entry %d is incomplete: %+v", i, a)
		}
		exact := !strings.HasSuffix(a.Key, "/")
		if exact && strings.Contains(a.Key, "/") {
			t.Errorf("exact key %q holds a slash", a.Key)
		}
		for j, b := range StateKeys {
			if i != j && strings.HasPrefix(b.Key, a.Key) {
				t.Errorf("%q (%s) is a prefix of %q (%s)", a.Key, a.Owner, b.Key, b.Owner)
			}
		}
	}
}
