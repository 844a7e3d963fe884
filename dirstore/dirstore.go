// Package dirstore keeps an mls.Storage in a folder, one folder per client,
// as the mls command-line tool does with its --state folder.
//
// Layout, every name but the fixed ones the lowercase hex encoding of an
// ID (never raw input, so no name can climb out of the folder):
//
//	DIR/LOCK                        the lock (see Open); holds the owner's pid
//	DIR/FORMAT                      "arbor-dirstore 1"
//	DIR/groups/GROUPID              group states
//	DIR/keypackages/REF             KeyPackage bundles, by KeyPackageRef
//	DIR/psks/PSKID                  external PSKs
//	DIR/resumption/GROUPID/EPOCH    resumption PSKs, EPOCH in 16 hex digits
//
// Every file is written to a temporary file in its folder, synced, renamed
// over the old one, and the folder synced, so that after a crash each file
// holds either its old or its new content; Open removes temporary files a
// crash left behind. Each file carries its kind, its ID and a SHA-256
// checksum, so that a damaged file is reported as ErrCorrupt rather than
// read as something else. Files are made with mode 0600 and folders 0700.
//
// Files that are deleted or replaced are overwritten with zeros before
// their space is freed. That is best effort: journaling and copy-on-write
// filesystems and flash storage may keep old copies, so keep the folder on
// an encrypted disk.
package dirstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/internal/bounded"
	"github.com/arbormls/mls/internal/codec"
)

// Errors that callers may test for with errors.Is.
var (
	// ErrInUse is returned by Open when another Store, in this process or
	// another, has the folder open.
	ErrInUse = errors.New("dirstore: state folder in use")
	// ErrCorrupt is returned when a file does not hold what its name says.
	ErrCorrupt = errors.New("dirstore: corrupt file")
	// ErrClosed is returned by every method of a closed Store.
	ErrClosed = errors.New("dirstore: store closed")
)

// MaxIDLen is the longest ID (group ID, KeyPackageRef, psk_id) a Store
// takes: its hex encoding must fit in a file name of 255 bytes.
const MaxIDLen = 127

// MaxValueLen is the largest value (a group's state, a KeyPackage bundle,
// a PSK) a Store writes, and so the most it reads back from one file: a
// damaged or planted file cannot make a load allocate without bound. The
// state of a 50,000-member group of suite 1 is about 20 MB; post-quantum
// suites' keys and signatures make theirs tens of times larger.
const MaxValueLen = 1 << 30

const (
	formatName   = "FORMAT"
	formatText   = "arbor-dirstore 1\n"
	lockName     = "LOCK"
	groupsDir    = "groups"
	keyPkgsDir   = "keypackages"
	pskDir       = "psks"
	resumeDir    = "resumption"
	tmpPrefix    = ".tmp-"
	recordMagic  = "arbs"
	recordFormat = 1
)

// The kinds of record, written into each file.
const (
	kindGroup uint8 = iota + 1
	kindKeyPackage
	kindExternalPSK
	kindResumptionPSK
)

// Options are the choices Open leaves to the caller; nil means the zero
// value.
type Options struct {
	// ResumptionPSKEpochs is how many epochs' resumption PSKs are kept per
	// group; zero or less means mls.DefaultResumptionPSKEpochs.
	ResumptionPSKEpochs int
}

// Store is an mls.Storage in a folder. It is safe for concurrent use; its
// methods run one at a time.
type Store struct {
	dir          string
	resumeEpochs int

	mu   sync.Mutex
	lock *os.File // nil once closed
}

var _ mls.Storage = (*Store)(nil)

// Open opens the state folder dir, creating it if needed, and locks it
// until Close. The lock is an exclusive flock(2) on DIR/LOCK (LockFileEx
// on Windows; on systems with neither, such as js/wasm and wasip1, Open
// fails), which the kernel drops if the process dies: a second Open of the same folder, from
// this process or another, fails with ErrInUse until the first Store is
// closed. Open tightens the folder's permissions to 0700 and removes the
// temporary files an interrupted write left.
func Open(dir string, opts *Options) (*Store, error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := makeDir(dir); err != nil {
		return nil, err
	}
	lock, err := lockFolder(filepath.Join(dir, lockName), dir)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, resumeEpochs: opts.ResumptionPSKEpochs, lock: lock}
	if s.resumeEpochs <= 0 {
		s.resumeEpochs = mls.DefaultResumptionPSKEpochs
	}
	if err := s.prepare(); err != nil {
		unlockFolder(lock)
		return nil, err
	}
	return s, nil
}

// prepare checks or writes the FORMAT file, makes the subfolders and
// removes leftover temporary files.
func (s *Store) prepare() error {
	format := filepath.Join(s.dir, formatName)
	switch data, err := bounded.ReadFile(format, int64(len(formatText))); {
	case errors.Is(err, fs.ErrNotExist):
		if err := writeAtomic(s.dir, formatName, []byte(formatText)); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("dirstore: %w", err)
	case string(data) != formatText:
		return fmt.Errorf("dirstore: %s: unsupported folder format %.40q", format, data)
	}
	for _, sub := range []string{groupsDir, keyPkgsDir, pskDir, resumeDir} {
		if err := makeDir(filepath.Join(s.dir, sub)); err != nil {
			return err
		}
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	// The lock is held, so every temporary file is a leftover.
	return filepath.WalkDir(s.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("dirstore: %w", err)
		}
		if d.Type().IsRegular() && strings.HasPrefix(d.Name(), tmpPrefix) {
			return removeWiped(filepath.Dir(path), d.Name())
		}
		return nil
	})
}

// Dir returns the folder s keeps its files in.
func (s *Store) Dir() string { return s.dir }

// Close releases the folder's lock. Later calls of s's methods return
// ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return ErrClosed
	}
	err := unlockFolder(s.lock)
	s.lock = nil
	if err != nil {
		return fmt.Errorf("dirstore: %w", err)
	}
	return nil
}

// begin checks ctx and that s is open, and locks s. The caller unlocks it.
func (s *Store) begin(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.lock == nil {
		s.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// fileName returns the file name of id; what names the ID in errors.
func fileName(what string, id []byte) (string, error) {
	if len(id) == 0 {
		return "", fmt.Errorf("dirstore: empty %s", what)
	}
	if len(id) > MaxIDLen {
		return "", fmt.Errorf("dirstore: %s of %d bytes is longer than %d", what, len(id), MaxIDLen)
	}
	return hex.EncodeToString(id), nil
}

// epochName returns the file name of a resumption PSK's epoch.
func epochName(epoch uint64) string { return fmt.Sprintf("%016x", epoch) }

// resumptionKey is the key recorded in a resumption PSK's file.
func resumptionKey(groupID []byte, epoch uint64) []byte {
	return strconv.AppendUint(append(bytes.Clone(groupID), '/'), epoch, 10)
}

// encodeRecord returns a file's content:
//
//	"arbs" uint8 format=1 uint8 kind opaque key<V> opaque value<V>
//	[32]byte SHA-256 of everything before it
func encodeRecord(kind uint8, key, value []byte) ([]byte, error) {
	if len(value) > MaxValueLen {
		return nil, fmt.Errorf("dirstore: value of %d bytes, more than the %d a Store keeps", len(value), MaxValueLen)
	}
	b := codec.NewBuilder(len(key) + len(value) + 48)
	b.AddRaw([]byte(recordMagic))
	b.AddUint8(recordFormat)
	b.AddUint8(kind)
	b.AddOpaque(key)
	b.AddOpaque(value)
	body, err := b.Bytes()
	if err != nil {
		return nil, fmt.Errorf("dirstore: %w", err)
	}
	sum := sha256.Sum256(body)
	return append(body, sum[:]...), nil
}

// decodeRecord returns the value of the record data read from path,
// checking that it is intact and is the record of kind and key.
func decodeRecord(path string, data []byte, kind uint8, key []byte) ([]byte, error) {
	corrupt := func(reason string) error { return fmt.Errorf("%w %s: %s", ErrCorrupt, path, reason) }
	const head = len(recordMagic) + 2
	if len(data) < head+sha256.Size || string(data[:len(recordMagic)]) != recordMagic {
		return nil, corrupt("not a dirstore record")
	}
	if v := data[len(recordMagic)]; v != recordFormat {
		return nil, fmt.Errorf("dirstore: %s: unsupported record format %d", path, v)
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	want := sha256.Sum256(body)
	if subtle.ConstantTimeCompare(want[:], sum) != 1 {
		return nil, corrupt("checksum mismatch")
	}
	r := codec.NewReader(body[head:])
	gotKey := r.ReadOpaque()
	value := r.ReadOpaque()
	if err := r.Finish(); err != nil {
		clear(value)
		return nil, corrupt(err.Error())
	}
	if body[head-1] != kind || !bytes.Equal(gotKey, key) {
		clear(value)
		return nil, corrupt("holds another entry than its name says")
	}
	return value, nil
}

// put writes the record of kind, key and value as dir/name.
func put(dir, name string, kind uint8, key, value []byte) error {
	data, err := encodeRecord(kind, key, value)
	if err != nil {
		return err
	}
	defer clear(data)
	return writeAtomic(dir, name, data)
}

// get reads the value of the record of kind and key from dir/name.
func get(dir, name string, kind uint8, key []byte) ([]byte, error) {
	path := filepath.Join(dir, name)
	// The record's head, key and checksum are far below the slack of 4 KiB.
	data, err := bounded.ReadFile(path, MaxValueLen+4096)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, mls.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("dirstore: %w", err)
	}
	defer clear(data)
	return decodeRecord(path, data, kind, key)
}

// listIDs returns the IDs whose files are in dir, in bytewise order. It
// skips names that are not the hex encoding of an ID (temporary files,
// a stray file someone put there).
func listIDs(dir string) ([][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dirstore: %w", err)
	}
	ids := make([][]byte, 0, len(entries))
	for _, e := range entries {
		id, err := hex.DecodeString(e.Name())
		if err != nil || len(id) == 0 || !e.Type().IsRegular() || hex.EncodeToString(id) != e.Name() {
			continue
		}
		ids = append(ids, id)
	}
	slices.SortFunc(ids, bytes.Compare)
	return ids, nil
}

// keyFile returns the folder and the file name of an entry keyed by id
// under sub, checking id.
func (s *Store) keyFile(sub, what string, id []byte) (dir, name string, err error) {
	name, err = fileName(what, id)
	return filepath.Join(s.dir, sub), name, err
}

// putEntry, getEntry and deleteEntry store, read and delete the entry of
// kind keyed by id in subfolder sub.
func (s *Store) putEntry(ctx context.Context, sub, what string, kind uint8, id, value []byte) error {
	dir, name, err := s.keyFile(sub, what, id)
	if err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	return put(dir, name, kind, id, value)
}

func (s *Store) getEntry(ctx context.Context, sub, what string, kind uint8, id []byte) ([]byte, error) {
	dir, name, err := s.keyFile(sub, what, id)
	if err != nil {
		return nil, err
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return get(dir, name, kind, id)
}

func (s *Store) deleteEntry(ctx context.Context, sub, what string, id []byte) error {
	dir, name, err := s.keyFile(sub, what, id)
	if err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	return removeWiped(dir, name)
}

func (s *Store) listEntries(ctx context.Context, sub string) ([][]byte, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return listIDs(filepath.Join(s.dir, sub))
}

// PutGroupState implements mls.GroupStore.
func (s *Store) PutGroupState(ctx context.Context, groupID, state []byte) error {
	return s.putEntry(ctx, groupsDir, "group ID", kindGroup, groupID, state)
}

// GroupState implements mls.GroupStore.
func (s *Store) GroupState(ctx context.Context, groupID []byte) ([]byte, error) {
	return s.getEntry(ctx, groupsDir, "group ID", kindGroup, groupID)
}

// DeleteGroupState implements mls.GroupStore.
func (s *Store) DeleteGroupState(ctx context.Context, groupID []byte) error {
	return s.deleteEntry(ctx, groupsDir, "group ID", groupID)
}

// GroupIDs implements mls.GroupStore.
func (s *Store) GroupIDs(ctx context.Context) ([][]byte, error) {
	return s.listEntries(ctx, groupsDir)
}

// PutKeyPackage implements mls.KeyPackageStore.
func (s *Store) PutKeyPackage(ctx context.Context, b *mls.KeyPackageBundle) error {
	if b == nil || b.KeyPackage == nil {
		return errors.New("dirstore: empty KeyPackageBundle")
	}
	data, err := b.MarshalBinary()
	if err != nil {
		return err
	}
	defer clear(data)
	return s.putEntry(ctx, keyPkgsDir, "KeyPackageRef", kindKeyPackage, b.Ref(), data)
}

// KeyPackage implements mls.KeyPackageStore.
func (s *Store) KeyPackage(ctx context.Context, ref []byte) (*mls.KeyPackageBundle, error) {
	return s.loadKeyPackage(ctx, ref, false)
}

// TakeKeyPackage implements mls.KeyPackageStore.
func (s *Store) TakeKeyPackage(ctx context.Context, ref []byte) (*mls.KeyPackageBundle, error) {
	return s.loadKeyPackage(ctx, ref, true)
}

// loadKeyPackage reads the bundle stored under ref and, if take is set and
// it is not a last-resort KeyPackage, deletes its file.
func (s *Store) loadKeyPackage(ctx context.Context, ref []byte, take bool) (*mls.KeyPackageBundle, error) {
	dir, name, err := s.keyFile(keyPkgsDir, "KeyPackageRef", ref)
	if err != nil {
		return nil, err
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	data, err := get(dir, name, kindKeyPackage, ref)
	if err != nil {
		return nil, err
	}
	defer clear(data)
	b := new(mls.KeyPackageBundle)
	if err := b.UnmarshalBinary(data); err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrCorrupt, filepath.Join(dir, name), err)
	}
	if take && !b.KeyPackage.IsLastResort() {
		if err := removeWiped(dir, name); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// DeleteKeyPackage implements mls.KeyPackageStore.
func (s *Store) DeleteKeyPackage(ctx context.Context, ref []byte) error {
	return s.deleteEntry(ctx, keyPkgsDir, "KeyPackageRef", ref)
}

// KeyPackageRefs implements mls.KeyPackageStore.
func (s *Store) KeyPackageRefs(ctx context.Context) ([][]byte, error) {
	return s.listEntries(ctx, keyPkgsDir)
}

// PutExternalPSK implements mls.PSKStore.
func (s *Store) PutExternalPSK(ctx context.Context, pskID, psk []byte) error {
	return s.putEntry(ctx, pskDir, "psk_id", kindExternalPSK, pskID, psk)
}

// ExternalPSK implements mls.PSKStore.
func (s *Store) ExternalPSK(ctx context.Context, pskID []byte) ([]byte, error) {
	return s.getEntry(ctx, pskDir, "psk_id", kindExternalPSK, pskID)
}

// DeleteExternalPSK implements mls.PSKStore.
func (s *Store) DeleteExternalPSK(ctx context.Context, pskID []byte) error {
	return s.deleteEntry(ctx, pskDir, "psk_id", pskID)
}

// PutResumptionPSK implements mls.PSKStore.
func (s *Store) PutResumptionPSK(ctx context.Context, groupID []byte, epoch uint64, psk []byte) error {
	dir, err := s.resumptionDir(groupID)
	if err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	switch err := os.Mkdir(dir, 0o700); {
	case err == nil:
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("dirstore: %w", err)
	}
	if err := put(dir, epochName(epoch), kindResumptionPSK, resumptionKey(groupID, epoch), psk); err != nil {
		return err
	}
	epochs, err := listEpochs(dir)
	if err != nil {
		return err
	}
	for len(epochs) > s.resumeEpochs {
		if err := removeWiped(dir, epochName(epochs[0])); err != nil {
			return err
		}
		epochs = epochs[1:]
	}
	return nil
}

// ResumptionPSK implements mls.PSKStore.
func (s *Store) ResumptionPSK(ctx context.Context, groupID []byte, epoch uint64) ([]byte, error) {
	dir, err := s.resumptionDir(groupID)
	if err != nil {
		return nil, err
	}
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	return get(dir, epochName(epoch), kindResumptionPSK, resumptionKey(groupID, epoch))
}

// DeleteResumptionPSKs implements mls.PSKStore.
func (s *Store) DeleteResumptionPSKs(ctx context.Context, groupID []byte) error {
	dir, err := s.resumptionDir(groupID)
	if err != nil {
		return err
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	defer s.mu.Unlock()
	epochs, err := listEpochs(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range epochs {
		if err := removeWiped(dir, epochName(e)); err != nil {
			return err
		}
	}
	if err := os.Remove(dir); err != nil {
		return fmt.Errorf("dirstore: %w", err)
	}
	return syncDir(filepath.Dir(dir))
}

// resumptionDir returns the folder of groupID's resumption PSKs.
func (s *Store) resumptionDir(groupID []byte) (string, error) {
	name, err := fileName("group ID", groupID)
	return filepath.Join(s.dir, resumeDir, name), err
}

// listEpochs returns the epochs whose resumption PSKs are in dir, in
// increasing order. An error wraps fs.ErrNotExist if dir does not exist.
func listEpochs(dir string) ([]uint64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("dirstore: %w", err)
	}
	var epochs []uint64
	for _, e := range entries {
		epoch, err := strconv.ParseUint(e.Name(), 16, 64)
		if err != nil || !e.Type().IsRegular() || e.Name() != epochName(epoch) {
			continue
		}
		epochs = append(epochs, epoch)
	}
	slices.Sort(epochs)
	return epochs, nil
}
