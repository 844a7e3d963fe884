package storagetest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/arbormls/mls"
)

// crashEnv names the folder a crash test's child writes to.
const crashEnv = "MLS_STORAGETEST_CRASH_DIR"

// OpenRecordStore opens (creating if needed) the store kept in folder dir.
type OpenRecordStore func(ctx context.Context, dir string) (mls.GroupRecordStore, func() error, error)

// Crash checks that a batch of records survives a crash whole or not at
// all: a child process (this test binary, running only the test named
// testName) writes batches in a loop to the store in a fresh folder, and
// is killed (SIGKILL) in the middle; the store, reopened, must hold the
// records of one batch, at least the last one the child reported. Batch i
// puts "a", "b" and "c" with value i and "d"+i, and deletes "d"+(i-1), so
// that a partly applied batch shows. The test calls Crash first thing:
// in the child, Crash writes until killed and never returns.
func Crash(t *testing.T, testName string, open OpenRecordStore) {
	ctx := context.Background()
	if dir := os.Getenv(crashEnv); dir != "" {
		crashChild(ctx, dir, open)
	}
	dir := t.TempDir()
	gid := []byte("group")
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^"+testName+"$")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill it a varying time after it reported its first batches.
		sc := bufio.NewScanner(out)
		last := int64(-1)
		deadline := time.Now().Add(time.Duration(50+round*70) * time.Millisecond)
		for sc.Scan() {
			n, err := strconv.ParseInt(sc.Text(), 10, 64)
			if err != nil {
				continue
			}
			last = n
			if last >= 5 && time.Now().After(deadline) {
				break
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		if last < 0 {
			t.Fatal("the child wrote no batch")
		}
		s, closeStore, err := open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := s.GroupRecords(ctx, gid)
		if err != nil {
			closeStore()
			t.Fatal(err)
		}
		closeStore()
		if len(recs) != 4 {
			t.Fatalf("after a crash, %d records, want 4: %v", len(recs), recs)
		}
		i, err := strconv.ParseInt(string(recs[0].Value), 10, 64)
		if err != nil || i < last {
			t.Fatalf("after a crash, record %q=%q; the child reported batch %d", recs[0].Key, recs[0].Value, last)
		}
		want := []string{"a", "b", "c", "d" + strconv.FormatInt(i, 10)}
		for j, r := range recs {
			if r.Key != want[j] || (j < 3 && string(r.Value) != strconv.FormatInt(i, 10)) {
				t.Fatalf("after a crash, a batch partly applied: %v", recs)
			}
		}
		t.Logf("round %d: killed after batch %d, found batch %d", round, last, i)
	}
}

// crashChild writes batches until killed.
func crashChild(ctx context.Context, dir string, open OpenRecordStore) {
	s, _, err := open(ctx, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	gid := []byte("group")
	start := int64(0)
	if recs, err := s.GroupRecords(ctx, gid); err == nil {
		start, _ = strconv.ParseInt(string(recs[0].Value), 10, 64)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := start + 1; ; i++ {
		v := []byte(strconv.FormatInt(i, 10))
		batch := &mls.GroupRecordBatch{Replace: i == 1, Records: []mls.GroupRecord{
			{Key: "a", Value: v}, {Key: "b", Value: v}, {Key: "c", Value: v},
			{Key: "d" + strconv.FormatInt(i-1, 10)}, {Key: "d" + string(v), Value: v},
		}}
		if err := s.UpdateGroupRecords(ctx, gid, batch); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintln(w, i)
		w.Flush()
	}
}
