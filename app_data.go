package mls

import (
	"errors"
	"slices"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// ExtensionTypeAppDataDictionary is the app_data_dictionary extension of
// draft-ietf-mls-extensions-10 (value 0x0006, as the draft suggests):
// application data by component, in a GroupContext, LeafNode, KeyPackage
// or GroupInfo. Its data is an AppDataDictionary.
const ExtensionTypeAppDataDictionary ExtensionType = 0x0006

// ComponentLastResortKeyPackage is the last_resort_key_package component
// of draft-ietf-mls-extensions-10 (section 6.4, value 0x0004): in the
// app_data_dictionary of a KeyPackage, with empty data, it marks a
// KeyPackage that may be used more than once.
const ComponentLastResortKeyPackage ciphersuite.ComponentID = 0x0004

// ComponentData is one entry of an AppDataDictionary.
type ComponentData struct {
	ComponentID ciphersuite.ComponentID
	Data        []byte
}

func (c *ComponentData) marshal(b *codec.Builder) {
	b.AddUint16(uint16(c.ComponentID))
	b.AddOpaque(c.Data)
}

func (c *ComponentData) unmarshal(r *codec.Reader) {
	c.ComponentID = ciphersuite.ComponentID(r.ReadUint16())
	c.Data = r.ReadOpaque()
}

// AppDataDictionary is the content of the app_data_dictionary extension
// (draft-ietf-mls-extensions-10 section 4.6): ComponentData
// component_data<V>, sorted by component ID with at most one entry per
// ID. Encoding and decoding enforce both rules.
type AppDataDictionary []ComponentData

var errAppDataOrder = errors.New("app_data_dictionary entries not sorted by component ID, or one ID twice")

// sorted reports whether d follows the rules of the draft.
func (d AppDataDictionary) sorted() bool {
	for i := 1; i < len(d); i++ {
		if d[i].ComponentID <= d[i-1].ComponentID {
			return false
		}
	}
	return true
}

func (d AppDataDictionary) marshal(b *codec.Builder) {
	if !d.sorted() {
		b.SetError(errAppDataOrder)
		return
	}
	marshalList(b, d)
}

func (d *AppDataDictionary) unmarshal(r *codec.Reader) {
	*d = unmarshalList[ComponentData](r)
	if r.Err() == nil && !d.sorted() {
		r.SetError(errAppDataOrder)
	}
}

// MarshalBinary returns the extension data of d.
func (d AppDataDictionary) MarshalBinary() ([]byte, error) { return encode(d) }

// UnmarshalBinary decodes app_data_dictionary extension data.
func (d *AppDataDictionary) UnmarshalBinary(data []byte) error {
	return decode("AppDataDictionary", data, d)
}

// Get returns the data of component id, if d has an entry for it.
func (d AppDataDictionary) Get(id ciphersuite.ComponentID) ([]byte, bool) {
	i, ok := slices.BinarySearchFunc(d, id, func(c ComponentData, id ciphersuite.ComponentID) int { return int(c.ComponentID) - int(id) })
	if !ok {
		return nil, false
	}
	return d[i].Data, true
}

// With returns a copy of d (sorted, as d must be) in which component id
// has data, replacing its entry or inserting one in order.
func (d AppDataDictionary) With(id ciphersuite.ComponentID, data []byte) AppDataDictionary {
	out := slices.Clone(d)
	i, ok := slices.BinarySearchFunc(out, id, func(c ComponentData, id ciphersuite.ComponentID) int { return int(c.ComponentID) - int(id) })
	if ok {
		out[i].Data = data
		return out
	}
	return slices.Insert(out, i, ComponentData{ComponentID: id, Data: data})
}

// appData returns the AppDataDictionary of exts, if exts has a well-formed
// app_data_dictionary extension.
func appData(exts Extensions) (AppDataDictionary, bool) {
	e, ok := exts.Find(ExtensionTypeAppDataDictionary)
	if !ok {
		return nil, false
	}
	var d AppDataDictionary
	if err := d.UnmarshalBinary(e.ExtensionData); err != nil {
		return nil, false
	}
	return d, true
}
