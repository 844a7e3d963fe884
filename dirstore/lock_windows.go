//go:build windows

package dirstore

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/windows"
)

// lockRange is the byte range of the lock file that LockFileEx locks: one
// byte at offset 2^32, past the process ID written at offset 0. Windows
// locks are mandatory, so locking the ID itself would keep a second process
// from reading who holds the folder.
const lockRangeHigh = 1

// lockFolder takes an exclusive LockFileEx lock on the lock file at path,
// creating it, and writes the process ID into it, like the flock(2) of the
// Unix systems: Windows releases the lock when its holder's handle closes,
// which includes the process exiting or crashing, so no stale lock file
// ever needs removing by hand, and a second Open in the same process fails
// too, because each Open has its own handle.
func lockFolder(path, dir string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dirstore: %w", err)
	}
	ol := &windows.Overlapped{OffsetHigh: lockRangeHigh}
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, ol)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		holder := "another process"
		if data, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(data))); perr == nil && pid > 0 {
				holder = "process " + strconv.Itoa(pid)
			}
		}
		f.Close()
		return nil, fmt.Errorf("%w: %s is locked by %s", ErrInUse, dir, holder)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dirstore: locking %s: %w", path, err)
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err = f.Truncate(0); err == nil {
		_, err = f.WriteAt(pid, 0)
	}
	if err != nil {
		f.Close() // closing drops the lock
		return nil, fmt.Errorf("dirstore: %w", err)
	}
	return f, nil
}

// unlockFolder drops the lock taken by lockFolder.
func unlockFolder(f *os.File) error {
	ol := &windows.Overlapped{OffsetHigh: lockRangeHigh}
	err := windows.UnlockFileEx(windows.Handle(f.Fd()), 0, 1, 0, ol)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
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
