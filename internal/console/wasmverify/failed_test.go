package wasmverify

import (
	"errors"
	"fmt"
	"testing"

	"github.com/nuxari/nuxari/evidence/archive"
)

// TestFailed: an archive.Failure maps field by field (no index when it
// names none), the pins' errors as CheckPins, anything else as a
// sentence alone.
func TestFailed(t *testing.T) {
	f := &archive.Failure{Check: archive.CheckEvents, File: archive.FileEvents, Line: 7, Index: 6, Reason: "leaf index 6 is out of order"}
	r := failed(fmt.Errorf("wrapped: %w", f))
	if r.OK || r.Check != archive.CheckEvents || r.File != archive.FileEvents || r.Line != 7 || r.Index == nil || *r.Index != 6 ||
		r.Reason != f.Reason || r.Error != "wrapped: "+f.Error() {
		t.Fatalf("a failure with an index: %+v", r)
	}
	r = failed(&archive.Failure{Check: archive.CheckProof, Index: -1, Reason: "root mismatch"})
	if r.Check != archive.CheckProof || r.Index != nil || r.File != "" || r.Line != 0 {
		t.Fatalf("a failure without an index: %+v", r)
	}
	r = failed(fmt.Errorf("%w: log key: bad", archive.ErrPins))
	if r.Check != CheckPins || r.Reason != r.Error || r.Error == "" {
		t.Fatalf("a pins error: %+v", r)
	}
	r = failed(errors.New("something else"))
	if r.Check != "" || r.Error != "something else" || r.Reason != "" {
		t.Fatalf("another error: %+v", r)
	}
}
