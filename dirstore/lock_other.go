//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || illumos || windows)

package dirstore

import (
	"fmt"
	"os"
	"runtime"
)

// lockFolder fails: this system has neither flock(2) nor LockFileEx (js/wasm,
// wasip1, plan9), and the folder must never be shared without a lock.
func lockFolder(path, dir string) (*os.File, error) {
	return nil, fmt.Errorf("dirstore: cannot lock %s: folder locking is not supported on %s", dir, runtime.GOOS)
}

func unlockFolder(f *os.File) error { return f.Close() }
