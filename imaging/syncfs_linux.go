package imaging

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// fileSystemSync returns the group sync of the file system that holds dir.
func fileSystemSync(dir string) *groupSync {
	return newGroupSync(func() error { return syncFileSystem(dir) })
}

// syncFileSystem commits the file system that holds dir: every file
// written and every name created or renamed on it so far is durable
// afterwards (syncfs(2)). It writes back the other dirty files of that file
// system too, which the kernel would write back within seconds anyway.
func syncFileSystem(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("imaging: open directory: %w", err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("imaging: syncfs: %w", err)
	}
	return nil
}
