package ledger

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/nuxari/nuxari/ledger/storage"
)

// Backup writes a consistent copy of the whole ledger, as of one instant,
// into dir, which must not exist: every org's entries, checkpoints and
// governance state, while appends go on. Its files are hard links where
// the file system allows, so it is cheap; a backup meant to survive the
// disk must then be copied elsewhere. Opening the copy as a ledger checks
// every org's tree against its latest checkpoint, as every Open does.
func (l *Ledger) Backup(dir string) error {
	if err := l.failed(); err != nil {
		return err
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("ledger: backup: %s already exists", dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ledger: backup: %w", err)
	}
	bk, ok := l.db.(storage.Backuper)
	if !ok {
		return errors.New("ledger: backup: the store cannot back itself up")
	}
	if err := bk.Backup(dir); err != nil {
		return fmt.Errorf("ledger: backup: %w", err)
	}
	return nil
}

// OrgCheckpoint is an org's latest checkpoint.
type OrgCheckpoint struct {
	Org        string
	Checkpoint Checkpoint
}

// LatestCheckpoints returns every org's latest checkpoint, in org order
// (orgs with no checkpoint yet are left out), each verified against its
// stored tree first (a *CorruptionError if one does not): what a restored ledger has
// signed, to compare with the checkpoints handed out before (receipts,
// evidence packages), which may be newer.
func (l *Ledger) LatestCheckpoints() ([]OrgCheckpoint, error) {
	l.mu.RLock()
	orgs := make([]*orgInfo, 0, len(l.orgs))
	for _, o := range l.orgs {
		orgs = append(orgs, o)
	}
	l.mu.RUnlock()
	out := make([]OrgCheckpoint, 0, len(orgs))
	for _, o := range orgs {
		if err := l.ensure(o); err != nil {
			return nil, err
		}
		if cp := o.cp.Load(); cp != nil {
			out = append(out, OrgCheckpoint{Org: o.id, Checkpoint: *cp})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Org < out[j].Org })
	return out, nil
}
