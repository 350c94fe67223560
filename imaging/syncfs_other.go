//go:build !linux

package imaging

// fileSystemSync is nil where there is no syncfs(2), which only Linux has:
// a FileStore then fsyncs each file and directory instead.
func fileSystemSync(dir string) *groupSync { return nil }
