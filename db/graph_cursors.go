package db

// RunCursor is the opaque cursor of a feed run in ListRuns: passed as after,
// it continues with the runs older than runID. GraphQL gives one to every
// edge of a connection, where ListRuns gives only the page's last.
func RunCursor(runID int64) string {
	return encodeCursor(cursor{Scope: runsCursorScope, ID: runID})
}
