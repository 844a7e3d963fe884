package dirstore

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/arbormls/mls"
)

// makeDir makes the folder dir with mode 0700, or tightens an existing
// one to 0700: it holds private keys.
func makeDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("dirstore: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("dirstore: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("dirstore: %s is not a folder", dir)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("dirstore: %w", err)
		}
	}
	return nil
}

// writeAtomic replaces dir/name with data: it writes a temporary file in
// dir (mode 0600), syncs it, renames it over dir/name and syncs dir. A
// crash leaves dir/name old or new, never partly written, and at worst a
// temporary file, which Open removes. The replaced file is then wiped.
func writeAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("dirstore: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("dirstore: writing %s: %w", filepath.Join(dir, name), err)
	}
	target := filepath.Join(dir, name)
	old := openForWipe(target) // nil when there is none
	if err := os.Rename(tmp, target); err != nil {
		os.Remove(tmp)
		if old != nil {
			old.Close()
		}
		return fmt.Errorf("dirstore: %w", err)
	}
	err = syncDir(dir)
	if old != nil {
		wipe(old)
	}
	return err
}

// removeWiped removes dir/name, then overwrites its old content with zeros,
// or returns mls.ErrNotFound if there is no such file. The name goes first
// so that a crash cannot leave a zeroed file behind it.
func removeWiped(dir, name string) error {
	path := filepath.Join(dir, name)
	f := openForWipe(path)
	if err := os.Remove(path); err != nil {
		if f != nil {
			f.Close()
		}
		if errors.Is(err, fs.ErrNotExist) {
			return mls.ErrNotFound
		}
		return fmt.Errorf("dirstore: %w", err)
	}
	err := syncDir(dir)
	if f != nil {
		wipe(f)
	}
	return err
}

// openForWipe opens path for wiping, or returns nil if it is not a
// regular file that can be opened for writing. It never follows a symbolic
// link: wiping must not reach a file outside the folder.
func openForWipe(path string) *os.File {
	before, err := os.Lstat(path)
	if err != nil || !before.Mode().IsRegular() {
		return nil
	}
	f, err := openWritable(path)
	if err != nil {
		return nil
	}
	// Whatever replaced path since Lstat is not wiped.
	if after, err := f.Stat(); err != nil || !os.SameFile(before, after) {
		f.Close()
		return nil
	}
	return f
}

// wipe overwrites the content of f with zeros, syncs and closes it. It is
// best effort: the entry it wipes is already gone, so errors are dropped.
func wipe(f *os.File) {
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return
	}
	zeros := make([]byte, min(fi.Size(), 64<<10))
	for off := int64(0); off < fi.Size(); off += int64(len(zeros)) {
		n := min(int64(len(zeros)), fi.Size()-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return
		}
	}
	f.Sync()
}
