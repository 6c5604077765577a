package logapi

// SetScanLimit lowers how many leaves one ListEvents page of s reads, so
// that a test reaches the bound with a short log. Call it before s is
// used.
func SetScanLimit(s *Service, n int) { s.scanLimit = n }
