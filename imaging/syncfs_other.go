//go:build !linux

package imaging

import "errors"

// syncFileSystem is syncfs(2), which only Linux has; elsewhere a FileStore
// fsyncs each file and directory instead.
func syncFileSystem(dir string) error { return errors.ErrUnsupported }

// haveSyncFileSystem tells whether syncFileSystem works here.
const haveSyncFileSystem = false
