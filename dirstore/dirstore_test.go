package dirstore

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/internal/bounded"
	"github.com/arbormls/mls/internal/storagetest"
)

// open opens a Store in dir and closes it when the test ends.
func open(t *testing.T, dir string, opts *Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, resumptionEpochs int) mls.Storage {
		return open(t, t.TempDir(), &Options{ResumptionPSKEpochs: resumptionEpochs})
	})
}

func TestReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	ctx := t.Context()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	kp := storagetest.NewBundle(t, "alice", false)
	group := []byte{0x01, 0x02}
	if err := s.PutKeyPackage(ctx, kp); err != nil {
		t.Fatal(err)
	}
	if err := s.PutGroupState(ctx, group, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutExternalPSK(ctx, []byte("psk"), []byte("external")); err != nil {
		t.Fatal(err)
	}
	for epoch := range uint64(mls.DefaultResumptionPSKEpochs + 2) {
		if err := s.PutResumptionPSK(ctx, group, epoch, []byte{byte(epoch)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir, nil)
	if got, err := s.GroupState(ctx, group); err != nil || string(got) != "state" {
		t.Fatalf("GroupState after reopening: %q, %v", got, err)
	}
	if got, err := s.ExternalPSK(ctx, []byte("psk")); err != nil || string(got) != "external" {
		t.Fatalf("ExternalPSK after reopening: %q, %v", got, err)
	}
	if _, err := s.ResumptionPSK(ctx, group, 1); !errors.Is(err, mls.ErrNotFound) {
		t.Fatalf("resumption PSK beyond the default bound: %v", err)
	}
	if got, err := s.ResumptionPSK(ctx, group, 2); err != nil || !bytes.Equal(got, []byte{2}) {
		t.Fatalf("ResumptionPSK after reopening: %x, %v", got, err)
	}
	got, err := s.TakeKeyPackage(ctx, kp.Ref())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.InitPrivateKey(), kp.InitPrivateKey()) || !bytes.Equal(got.Ref(), kp.Ref()) {
		t.Fatal("KeyPackageBundle changed across reopening")
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, nil)
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open: %v, want ErrInUse", err)
	}
	if want := "process " + strconv.Itoa(os.Getpid()); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), dir) {
		t.Errorf("second Open's error %q does not name the folder and %q", err, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, nil)
	if _, err := s.GroupIDs(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// TestLockOtherProcess checks that a folder held by another process is
// reported as in use with its pid, and that the lock goes when that
// process dies without closing the Store.
func TestLockOtherProcess(t *testing.T) {
	if dir := os.Getenv("DIRSTORE_TEST_HOLD"); dir != "" {
		// The helper process: hold the folder until killed.
		if _, err := Open(dir, nil); err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockOtherProcess$")
	cmd.Env = append(os.Environ(), "DIRSTORE_TEST_HOLD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "locked\n" {
		t.Fatalf("helper process said %q, %v", line, err)
	}

	_, err = Open(dir, nil)
	if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "process "+strconv.Itoa(cmd.Process.Pid)) {
		t.Fatalf("Open of a folder another process holds: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	open(t, dir, nil)
}

func TestClosed(t *testing.T) {
	s, err := Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second Close: %v", err)
	}
	if err := s.PutGroupState(t.Context(), []byte{1}, []byte{1}); !errors.Is(err, ErrClosed) {
		t.Errorf("PutGroupState after Close: %v", err)
	}
	if _, err := s.KeyPackageRefs(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("KeyPackageRefs after Close: %v", err)
	}
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := open(t, dir, nil)
	ctx := t.Context()
	s.PutGroupState(ctx, []byte{1}, []byte("state"))
	s.PutKeyPackage(ctx, storagetest.NewBundle(t, "alice", false))
	s.PutExternalPSK(ctx, []byte{2}, []byte("psk"))
	s.PutResumptionPSK(ctx, []byte{1}, 7, []byte("psk"))
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = fs.ModeDir | 0o700
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode(), want)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// dir, LOCK, FORMAT, 4 folders, 4 files, the group's resumption folder.
	if n != 12 {
		t.Errorf("walked %d entries, want 12", n)
	}
}

// TestNames checks that file names are hex, whatever bytes the IDs hold.
func TestNames(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	ctx := t.Context()
	evil := [][]byte{[]byte("../../escape"), []byte("/etc/passwd"), []byte(".tmp-x"), []byte("a\x00b"), []byte(".."), bytes.Repeat([]byte{0xff}, MaxIDLen)}
	for _, id := range evil {
		if err := s.PutGroupState(ctx, id, id); err != nil {
			t.Fatalf("PutGroupState(%q): %v", id, err)
		}
		if err := s.PutResumptionPSK(ctx, id, 1, id); err != nil {
			t.Fatalf("PutResumptionPSK(%q): %v", id, err)
		}
		if got, err := s.GroupState(ctx, id); err != nil || !bytes.Equal(got, id) {
			t.Fatalf("GroupState(%q) = %q, %v", id, got, err)
		}
	}
	ids, err := s.GroupIDs(ctx)
	if err != nil || len(ids) != len(evil) {
		t.Fatalf("GroupIDs = %q, %v", ids, err)
	}
	for _, sub := range []string{groupsDir, resumeDir} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if _, err := hex.DecodeString(e.Name()); err != nil {
				t.Errorf("%s/%s is not a hex name", sub, e.Name())
			}
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(dir)); len(entries) != 1 {
		t.Errorf("files appeared beside the state folder: %v", entries)
	}
	long := bytes.Repeat([]byte{1}, MaxIDLen+1)
	if err := s.PutGroupState(ctx, long, nil); err == nil {
		t.Error("PutGroupState took an ID longer than MaxIDLen")
	}
	if _, err := s.ExternalPSK(ctx, long); err == nil || errors.Is(err, mls.ErrNotFound) {
		t.Errorf("ExternalPSK of an ID longer than MaxIDLen: %v", err)
	}
}

// TestLeftoverTemp checks that temporary files a crash left are ignored
// while the store is open and removed by Open.
func TestLeftoverTemp(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	group := []byte{0xab}
	if err := s.PutGroupState(ctx, group, []byte("good")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutResumptionPSK(ctx, group, 3, []byte("good psk")); err != nil {
		t.Fatal(err)
	}
	var leftovers []string
	for _, sub := range []string{groupsDir, keyPkgsDir, pskDir, filepath.Join(resumeDir, "ab"), "."} {
		p := filepath.Join(dir, sub, tmpPrefix+"12345")
		if err := os.WriteFile(p, []byte("half-written"), 0o600); err != nil {
			t.Fatal(err)
		}
		leftovers = append(leftovers, p)
	}
	for name, list := range map[string]func() ([][]byte, error){
		"GroupIDs":       func() ([][]byte, error) { return s.GroupIDs(ctx) },
		"KeyPackageRefs": func() ([][]byte, error) { return s.KeyPackageRefs(ctx) },
	} {
		if ids, err := list(); err != nil || len(ids) > 1 {
			t.Errorf("%s with leftovers: %x, %v", name, ids, err)
		}
	}
	// A PSK put evicts by listing epochs; the leftover is no epoch.
	if err := s.PutResumptionPSK(ctx, group, 4, []byte("psk 4")); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s = open(t, dir, nil)
	for _, p := range leftovers {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s survived Open: %v", p, err)
		}
	}
	if got, err := s.GroupState(ctx, group); err != nil || string(got) != "good" {
		t.Fatalf("GroupState = %q, %v", got, err)
	}
	if got, err := s.ResumptionPSK(ctx, group, 3); err != nil || string(got) != "good psk" {
		t.Fatalf("ResumptionPSK = %q, %v", got, err)
	}
	if err := s.DeleteResumptionPSKs(ctx, group); err != nil {
		t.Fatal(err)
	}
}

func TestCorrupt(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	ctx := t.Context()
	a, b := []byte{0x0a}, []byte{0x0b}
	secret := []byte("very secret group state")
	for _, id := range [][]byte{a, b} {
		if err := s.PutGroupState(ctx, id, secret); err != nil {
			t.Fatal(err)
		}
	}
	kp := storagetest.NewBundle(t, "alice", false)
	if err := s.PutKeyPackage(ctx, kp); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, groupsDir, "0a")
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	kpData, err := os.ReadFile(filepath.Join(dir, keyPkgsDir, hex.EncodeToString(kp.Ref())))
	if err != nil {
		t.Fatal(err)
	}
	other, err := os.ReadFile(filepath.Join(dir, groupsDir, "0b"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[10] ^= 1
	for name, tc := range map[string]struct {
		data   []byte
		reason string
	}{
		"flipped bit":    {flipped, "checksum mismatch"},
		"truncated":      {good[:len(good)-1], "checksum mismatch"},
		"empty":          {nil, "not a dirstore record"},
		"garbage":        {[]byte("this is not a state file at all, not at all"), "not a dirstore record"},
		"other group":    {other, "another entry"},
		"a KeyPackage":   {kpData, "another entry"},
		"trailing byte":  {append(bytes.Clone(good), 0), "checksum mismatch"},
		"future version": {append([]byte("arbs\x02"), good[5:]...), "unsupported record format 2"},
		"bad body":       {withChecksum([]byte("arbs\x01\x01\x40")), "truncated"},
	} {
		if err := os.WriteFile(path, tc.data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := s.GroupState(ctx, a)
		if err == nil || !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: got %v, want an error naming %s and %q", name, err, path, tc.reason)
		}
		if wantCorrupt := !strings.HasPrefix(tc.reason, "unsupported"); errors.Is(err, ErrCorrupt) != wantCorrupt {
			t.Errorf("%s: errors.Is(%v, ErrCorrupt) = %v", name, err, !wantCorrupt)
		}
		if err != nil && strings.Contains(err.Error(), string(secret)) {
			t.Errorf("%s: error shows the state", name)
		}
	}

	// A record with a valid checksum but a bundle that does not decode.
	bad, err := encodeRecord(kindKeyPackage, kp.Ref(), []byte{0x02, 0x01, 0xff})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, keyPkgsDir, hex.EncodeToString(kp.Ref())), bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeKeyPackage(ctx, kp.Ref()); !errors.Is(err, ErrCorrupt) {
		t.Errorf("TakeKeyPackage of a bad bundle: %v", err)
	}
	if refs, _ := s.KeyPackageRefs(ctx); len(refs) != 1 {
		t.Error("TakeKeyPackage of a bad bundle deleted it")
	}

	// An unknown folder format.
	s.Close()
	if err := os.WriteFile(filepath.Join(dir, formatName), []byte("arbor-dirstore 9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); err == nil || !strings.Contains(err.Error(), "unsupported folder format") {
		t.Errorf("Open of a folder of another format: %v", err)
	}
}

// TestWipe checks, through a second hard link to a file, that the content
// of a deleted or replaced file is overwritten with zeros.
func TestWipe(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	ctx := t.Context()
	id := []byte{0x42}
	link := func(sub, name string) string {
		t.Helper()
		l := filepath.Join(t.TempDir(), "link")
		if err := os.Link(filepath.Join(dir, sub, name), l); err != nil {
			t.Fatalf("hard link: %v", err)
		}
		return l
	}
	wiped := func(what, l string) {
		t.Helper()
		data, err := os.ReadFile(l)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) == 0 || !bytes.Equal(data, make([]byte, len(data))) {
			t.Errorf("%s: old content not zeroed", what)
		}
	}

	s.PutGroupState(ctx, id, []byte("epoch 1 secrets"))
	l := link(groupsDir, "42")
	s.PutGroupState(ctx, id, []byte("epoch 2 secrets"))
	wiped("replaced group state", l)
	l = link(groupsDir, "42")
	s.DeleteGroupState(ctx, id)
	wiped("deleted group state", l)

	kp := storagetest.NewBundle(t, "alice", false)
	s.PutKeyPackage(ctx, kp)
	l = link(keyPkgsDir, hex.EncodeToString(kp.Ref()))
	if _, err := s.TakeKeyPackage(ctx, kp.Ref()); err != nil {
		t.Fatal(err)
	}
	wiped("taken KeyPackage", l)

	s.PutResumptionPSK(ctx, id, 1, []byte("psk 1"))
	l = link(filepath.Join(resumeDir, "42"), epochName(1))
	for epoch := range uint64(mls.DefaultResumptionPSKEpochs) {
		s.PutResumptionPSK(ctx, id, epoch+2, []byte("psk"))
	}
	wiped("evicted resumption PSK", l)
}

// withChecksum appends the SHA-256 of body to it, as a record ends.
func withChecksum(body []byte) []byte {
	sum := sha256.Sum256(body)
	return append(body, sum[:]...)
}

// TestSymlinkNotWiped checks that replacing or deleting an entry that is a
// symbolic link leaves the file it points to alone.
func TestSymlinkNotWiped(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	outside := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(outside, []byte("precious data"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range [][]byte{{0x01}, {0x02}} {
		if err := os.Symlink(outside, filepath.Join(dir, groupsDir, hex.EncodeToString(id))); err != nil {
			t.Fatalf("symbolic link: %v", err)
		}
	}
	if err := s.PutGroupState(t.Context(), []byte{0x01}, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteGroupState(t.Context(), []byte{0x02}); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(outside); err != nil || string(data) != "precious data" {
		t.Fatalf("file behind the links: %q, %v", data, err)
	}
	if got, err := s.GroupState(t.Context(), []byte{0x01}); err != nil || string(got) != "state" {
		t.Fatalf("GroupState = %q, %v", got, err)
	}
}

// TestOversized: a state file larger than any Store writes (here a sparse
// 2 GiB file) is refused before it is read.
func TestOversized(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, nil)
	ctx := t.Context()
	id := []byte{0x0a}
	if err := s.PutGroupState(ctx, id, []byte("state")); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(filepath.Join(dir, groupsDir, "0a"), 2<<30); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GroupState(ctx, id); !errors.Is(err, bounded.ErrTooLarge) {
		t.Fatalf("2 GiB state file: %v", err)
	}
}
