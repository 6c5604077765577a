package server

import "time"

// WriteMigrationRecord writes the migration record that an interrupted
// MigrateLedger leaves behind: with orgs nil, the one written before
// ledger.Migrate starts; otherwise the one written once it returned,
// before the orgs' events were recorded.
func WriteMigrationRecord(dataDir string, orgs []MigratedOrg) error {
	rec := &migrationRecord{FromLayout: fromLayout, ToLayout: toLayout, Started: time.Now().UTC()}
	if orgs != nil {
		rec.Converted = true
		for _, o := range orgs {
			o.Event, o.Recorded = nil, false
			rec.Orgs = append(rec.Orgs, o)
		}
	}
	return writeMigrationRecord(dataDir, rec)
}
