//go:build windows

package dirstore

import (
	"errors"
	"os"

	"golang.org/x/sys/windows"
)

// lockRange is the byte range of the lock file that LockFileEx locks: one
// byte at offset 2^32, past the process ID written at offset 0. Windows
// locks are mandatory, so locking the ID itself would keep a second process
// from reading who holds the folder.
const lockRangeHigh = 1

// tryLock takes an exclusive LockFileEx lock on lockRange of f without
// waiting; held reports that another handle has it. Windows releases the
// lock when its holder's handle closes, which includes the process
// exiting or crashing.
func tryLock(f *os.File) (held bool, err error) {
	ol := &windows.Overlapped{OffsetHigh: lockRangeHigh}
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	return errors.Is(err, windows.ERROR_LOCK_VIOLATION), err
}

// unlock drops the LockFileEx lock of f.
func unlock(f *os.File) error {
	ol := &windows.Overlapped{OffsetHigh: lockRangeHigh}
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, ol)
}

// openWritable opens the regular file at path for writing, sharing it for
// deletion: the file is then renamed over or removed while this handle
// stays open to wipe its content, which Windows refuses for a handle
// opened without FILE_SHARE_DELETE (os.OpenFile's).
func openWritable(path string) (*os.File, error) {
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, err
	}
	h, err := windows.CreateFile(p, windows.GENERIC_WRITE,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE|windows.FILE_SHARE_DELETE,
		nil, windows.OPEN_EXISTING, windows.FILE_ATTRIBUTE_NORMAL|windows.FILE_FLAG_OPEN_REPARSE_POINT, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(h), path), nil
}

// syncDir does nothing on Windows: a folder cannot be flushed there
// (FlushFileBuffers needs a handle with write access, which a folder's
// handle cannot have), and NTFS journals the renames and removals that
// syncDir makes durable elsewhere.
func syncDir(dir string) error { return nil }
