package ledger

// SetMigrateChunk sets how many leaves one migration batch converts, and
// returns a function restoring it.
func SetMigrateChunk(n uint64) func() {
	old := migrateChunk
	migrateChunk = n
	return func() { migrateChunk = old }
}

// SetMigrateHook sets the hook called after each durable migration batch.
func SetMigrateHook(f func(org string, done uint64) error) func() {
	testHookMigrated = f
	return func() { testHookMigrated = nil }
}

// ThinPass runs one pass of the thinning loop.
func (l *Ledger) ThinPass() { l.thinPass() }

// OrgInUse reports whether org's log has been verified and loaded.
func (l *Ledger) OrgInUse(org string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	o := l.orgs[org]
	return o != nil && o.inUse.Load()
}
