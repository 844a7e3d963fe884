//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly || illumos || windows

package dirstore

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/arbormls/mls/internal/bounded"
)

// lockFolder takes an exclusive lock on the lock file at path (tryLock:
// flock(2) on Unix systems, LockFileEx on Windows), creating it, and writes
// the process ID into it so that a process that finds the folder locked can
// say by whom. A kernel lock rather than a file made with O_EXCL: the
// system drops it when its holder exits or crashes, so no stale lock file
// ever needs removing by hand. A second Open in the same process fails too,
// because each Open has its own open file description (handle).
func lockFolder(path, dir string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dirstore: %w", err)
	}
	held, err := tryLock(f)
	if held {
		holder := "another process"
		if data, rerr := bounded.ReadFile(path, 64); rerr == nil { // a process ID
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
	// Closing the only descriptor of the lock drops it; unlocking first
	// makes that explicit.
	err := unlock(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
