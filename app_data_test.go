package mls

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestAppDataDictionary(t *testing.T) {
	d := AppDataDictionary{}.With(4, []byte{}).With(1, []byte("a"))
	enc, err := d.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{7, 0x00, 0x01, 1, 'a', 0x00, 0x04, 0}
	if !bytes.Equal(enc, want) {
		t.Fatalf("encoding %x, want %x", enc, want)
	}
	var back AppDataDictionary
	if err := back.UnmarshalBinary(enc); err != nil || len(back) != 2 {
		t.Fatalf("decoded %+v, %v", back, err)
	}
	if v, ok := back.Get(1); !ok || string(v) != "a" {
		t.Fatal("Get(1)")
	}
	if _, ok := back.Get(2); ok {
		t.Fatal("Get(2) found an entry")
	}
	if v, _ := back.With(1, []byte("b")).Get(1); string(v) != "b" || string(d[0].Data) != "a" {
		t.Fatal("With did not replace in a copy")
	}
	// Out of order or twice: refused both ways (section 4.6).
	for _, bad := range [][]byte{
		{6, 0x00, 0x04, 0, 0x00, 0x01, 0},
		{6, 0x00, 0x01, 0, 0x00, 0x01, 0},
	} {
		if err := back.UnmarshalBinary(bad); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%x: %v", bad, err)
		}
	}
	if _, err := (AppDataDictionary{{ComponentID: 2}, {ComponentID: 1}}).MarshalBinary(); err == nil {
		t.Fatal("unsorted dictionary encoded")
	}
	// In a group's extensions, a malformed dictionary is refused.
	id, _ := NewBasicIdentity(groupSuite, "alice")
	caps := DefaultCapabilities(groupSuite)
	caps.Extensions = []ExtensionType{ExtensionTypeAppDataDictionary}
	_, err = CreateGroup(id, nil, &CreateOptions{
		Extensions: Extensions{{ExtensionType: ExtensionTypeAppDataDictionary, ExtensionData: []byte{6, 0x00, 0x04, 0, 0x00, 0x01, 0}}},
		Leaf:       &KeyPackageOptions{Capabilities: &caps},
	})
	checkRule(t, err, ruleGroupExtensions)
}

// The last-resort component of the draft, beside the 0x000A extension.
func TestLastResortComponent(t *testing.T) {
	id, err := NewBasicIdentity(groupSuite, "alice")
	if err != nil {
		t.Fatal(err)
	}
	kp, err := NewKeyPackage(id, &KeyPackageOptions{LastResortComponent: true})
	if err != nil {
		t.Fatal(err)
	}
	k := kp.KeyPackage
	if _, ok := k.Extensions.Find(ExtensionTypeLastResort); !ok {
		t.Fatal("no 0x000A extension")
	}
	d, ok := appData(k.Extensions)
	if !ok {
		t.Fatal("no app_data_dictionary")
	}
	if v, ok := d.Get(ComponentLastResortKeyPackage); !ok || len(v) != 0 {
		t.Fatal("no last_resort_key_package component")
	}
	if !slices.Contains(k.LeafNode.Capabilities.Extensions, ExtensionTypeAppDataDictionary) {
		t.Fatal("capabilities do not list app_data_dictionary")
	}
	if err := k.Validate(groupSuite, nil); err != nil {
		t.Fatal(err)
	}
	if !k.IsLastResort() {
		t.Fatal("not last resort")
	}
	// The component alone marks it too; a malformed dictionary does not.
	only, err := NewKeyPackage(id, &KeyPackageOptions{Extensions: Extensions{{ExtensionType: ExtensionTypeAppDataDictionary, ExtensionData: []byte{3, 0x00, 0x04, 0}}}})
	if err != nil {
		t.Fatal(err)
	}
	if !only.KeyPackage.IsLastResort() {
		t.Fatal("the component alone is not read as last resort")
	}
	malformed := Extensions{{ExtensionType: ExtensionTypeAppDataDictionary, ExtensionData: []byte{6, 0x00, 0x04, 0, 0x00, 0x04, 0}}}
	if _, err := NewKeyPackage(id, &KeyPackageOptions{Extensions: malformed}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("KeyPackage with a malformed dictionary made: %v", err)
	}
	received := *only.KeyPackage
	received.Extensions = malformed
	if received.IsLastResort() {
		t.Fatal("a malformed dictionary read as last resort")
	}
	plain, err := NewKeyPackage(id, &KeyPackageOptions{LastResort: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := appData(plain.KeyPackage.Extensions); ok || !plain.KeyPackage.IsLastResort() {
		t.Fatal("LastResort alone writes the component, or is not last resort")
	}
}

func FuzzAppDataDictionary(f *testing.F) {
	fuzzRoundTrip[AppDataDictionary](f, []byte{7, 0x00, 0x01, 1, 'a', 0x00, 0x04, 0}, []byte{0})
}
