package treemath

import "testing"

func TestSmallTree(t *testing.T) {
	// The 8-leaf tree of RFC 9420 appendix C.
	if r := Root(8); r != 7 {
		t.Fatalf("Root(8) = %d", r)
	}
	if l, _ := Left(7); l != 3 {
		t.Fatalf("Left(7) = %d", l)
	}
	if r, _ := Right(3); r != 5 {
		t.Fatalf("Right(3) = %d", r)
	}
	if p, _ := Parent(4, 8); p != 5 {
		t.Fatalf("Parent(4) = %d", p)
	}
	if _, ok := Parent(7, 8); ok {
		t.Fatal("root has a parent")
	}
	got := DirectPath(0, 8)
	want := []NodeIndex{1, 3, 7}
	if len(got) != len(want) {
		t.Fatalf("DirectPath(0) = %v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("DirectPath(0) = %v", got)
		}
	}
	cp := Copath(0, 8)
	wantCp := []NodeIndex{2, 5, 11}
	for i := range wantCp {
		if cp[i] != wantCp[i] {
			t.Fatalf("Copath(0) = %v", cp)
		}
	}
	if a := CommonAncestor(0, 6); a != 3 {
		t.Fatalf("CommonAncestor(0,6) = %d", a)
	}
	if a := CommonAncestor(2, 8); a != 7 {
		t.Fatalf("CommonAncestor(2,8) = %d", a)
	}
	if !IsAncestor(7, 12) || IsAncestor(3, 12) || !IsAncestor(5, 5) {
		t.Fatal("IsAncestor wrong")
	}
	if _, ok := Left(4); ok {
		t.Fatal("leaf has a left child")
	}
}
