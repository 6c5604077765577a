package core

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/nuxari/nuxari/governance/store"
	"github.com/nuxari/nuxari/ledger"
	"github.com/nuxari/nuxari/ledger/leaf"
)

// FirstAtOrAfter returns the index of the first leaf at or after t (size
// if none). Purged leaves are older than any unpurged one.
func FirstAtOrAfter(ctx context.Context, log store.Log, size uint64, t time.Time) (uint64, error) {
	var ferr error
	i := sort.Search(int(size), func(i int) bool {
		if ferr != nil {
			return true
		}
		lf, err := log.Leaf(ctx, uint64(i))
		if errors.Is(err, ledger.ErrPurged) {
			return false
		}
		if err != nil {
			ferr = err
			return true
		}
		lt, err := leaf.TimeOf(lf.Bytes)
		if err != nil {
			ferr = err
			return true
		}
		return !lt.Before(t)
	})
	return uint64(i), LedgerErr(ferr)
}
