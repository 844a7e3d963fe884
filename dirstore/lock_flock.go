//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly || illumos

package dirstore

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/arbormls/mls/internal/bounded"
)

// lockFolder takes an exclusive flock(2) on the lock file at path,
// creating it, and writes the process ID into it so that a process that
// finds the folder locked can say by whom. flock rather than a file made
// with O_EXCL: the kernel drops the lock when its holder exits or crashes,
// so no stale lock file ever needs removing by hand. A second Open in the
// same process fails too, because each Open has its own open file
// description. On NFS, Linux maps flock onto POSIX byte-range locks.
func lockFolder(path, dir string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("dirstore: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != syscall.EINTR {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
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
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
