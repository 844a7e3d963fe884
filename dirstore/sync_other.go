//go:build !windows

package dirstore

import (
	"fmt"
	"os"
)

// syncDir flushes the folder dir, so that the names created, renamed or
// removed in it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("dirstore: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("dirstore: syncing %s: %w", dir, err)
	}
	return nil
}

// openWritable opens the regular file at path for writing.
func openWritable(path string) (*os.File, error) { return os.OpenFile(path, os.O_WRONLY, 0) }
