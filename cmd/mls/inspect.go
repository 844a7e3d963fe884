package main

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"unicode"
	"unicode/utf8"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
)

// obj is a JSON object that keeps its fields in the order written, so that
// decoded structs read in wire order.
type obj []field

type field struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.k)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(f.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// hx is bytes shown in hex.
func hx(b []byte) string { return hex.EncodeToString(b) }

// enum shows a code point with its name.
func enum(code uint64, name string) obj { return obj{{"value", code}, {"name", name}} }

// check is the outcome of one validation: "valid", or why not.
func check(err error) string {
	if err != nil {
		return "invalid: " + err.Error()
	}
	return "valid"
}

func cmdInspect(args []string, out io.Writer) error {
	c := newCommand("inspect", "[--suite N] [--group-id HEX] FILE",
		"Decode an MLS object (an MLSMessage, else a ratchet tree) and print it as\n"+
			"JSON, with the checks that need no keys: a KeyPackage's signatures and\n"+
			"validity, a GroupInfo's signature and tree when the tree is inline, and\n"+
			"the leaf signatures of a tree. A bare tree names neither its suite nor its\n"+
			"group: --suite and --group-id supply them.")
	c.takesArgs = true
	suiteFlag := c.fs.String("suite", "", "cipher suite of a bare ratchet tree (default: the one its leaves all support, if unique)")
	gidHex := c.fs.String("group-id", "", "group ID of a bare ratchet tree, to check its leaves bound to the group")
	if err := c.parse(args, out); err != nil {
		return err
	}
	if len(c.pos) != 1 {
		return fmt.Errorf("inspect: give exactly one FILE (see mls inspect --help)")
	}
	data, err := readInput(c.pos[0])
	if err != nil {
		return err
	}
	var m mls.MLSMessage
	merr := m.UnmarshalBinary(data)
	if merr == nil {
		return writeJSON(out, inspectMessage(&m))
	}
	var t mls.TreeNodes
	if terr := t.UnmarshalBinary(data); terr != nil {
		return fmt.Errorf("%s: neither an MLSMessage (%v) nor a ratchet tree (%v)", c.pos[0], merr, terr)
	}
	var suite ciphersuite.ID
	if *suiteFlag != "" {
		if suite, err = parseSuite(*suiteFlag); err != nil {
			return err
		}
	}
	var gid []byte // nil: unknown
	if *gidHex != "" {
		if gid, err = parseHex("group-id", *gidHex); err != nil {
			return err
		}
	}
	return writeJSON(out, obj{{"type", "ratchet_tree"}, {"ratchet_tree", inspectTree(t, suite, gid, nil)}})
}

func inspectMessage(m *mls.MLSMessage) obj {
	o := obj{{"version", "mls10"}, {"wire_format", m.WireFormat().String()}}
	switch {
	case m.PublicMessage != nil:
		pm := m.PublicMessage
		o = append(o, field{"public_message", obj{
			{"content", framedContent(&pm.Content)},
			{"auth", auth(&pm.Auth)},
			{"membership_tag", hx(pm.MembershipTag)},
		}})
	case m.PrivateMessage != nil:
		pm := m.PrivateMessage
		o = append(o, field{"private_message", obj{
			{"group_id", hx(pm.GroupID)},
			{"epoch", pm.Epoch},
			{"content_type", pm.ContentType.String()},
			{"authenticated_data", hx(pm.AuthenticatedData)},
			{"encrypted_sender_data", hx(pm.EncryptedSenderData)},
			{"ciphertext", hx(pm.Ciphertext)},
		}})
	case m.Welcome != nil:
		w := m.Welcome
		var secrets []obj
		for _, s := range w.Secrets {
			secrets = append(secrets, obj{
				{"new_member", hx(s.NewMember)},
				{"encrypted_group_secrets", hpkeCiphertext(&s.EncryptedGroupSecrets)},
			})
		}
		o = append(o, field{"welcome", obj{
			{"cipher_suite", suiteEnum(w.CipherSuite)},
			{"secrets", secrets},
			{"encrypted_group_info", hx(w.EncryptedGroupInfo)},
		}})
	case m.GroupInfo != nil:
		o = append(o, field{"group_info", groupInfo(m.GroupInfo)})
	case m.KeyPackage != nil:
		o = append(o, field{"key_package", keyPackage(m.KeyPackage)})
	}
	return o
}

func suiteEnum(id ciphersuite.ID) obj { return enum(uint64(id), id.String()) }

func hpkeCiphertext(c *mls.HPKECiphertext) obj {
	return obj{{"kem_output", hx(c.KEMOutput)}, {"ciphertext", hx(c.Ciphertext)}}
}

func auth(a *mls.FramedContentAuthData) obj {
	o := obj{{"signature", hx(a.Signature)}}
	if a.ConfirmationTag != nil {
		o = append(o, field{"confirmation_tag", hx(a.ConfirmationTag)})
	}
	return o
}

func sender(s *mls.Sender) obj {
	o := obj{{"sender_type", s.SenderType.String()}}
	switch s.SenderType {
	case mls.SenderTypeMember:
		o = append(o, field{"leaf_index", uint32(s.LeafIndex)})
	case mls.SenderTypeExternal:
		o = append(o, field{"sender_index", s.SenderIndex})
	}
	return o
}

func framedContent(c *mls.FramedContent) obj {
	o := obj{
		{"group_id", hx(c.GroupID)},
		{"epoch", c.Epoch},
		{"sender", sender(&c.Sender)},
		{"authenticated_data", hx(c.AuthenticatedData)},
		{"content_type", c.ContentType.String()},
	}
	switch {
	case c.Proposal != nil:
		o = append(o, field{"proposal", proposal(c.Proposal)})
	case c.Commit != nil:
		o = append(o, field{"commit", commit(c.Commit)})
	default:
		o = append(o, field{"application_data", hx(c.ApplicationData)})
	}
	return o
}

func commit(c *mls.Commit) obj {
	var props []obj
	for _, p := range c.Proposals {
		if p.Proposal != nil {
			props = append(props, obj{{"proposal", proposal(p.Proposal)}})
		} else {
			props = append(props, obj{{"reference", hx(p.Reference)}})
		}
	}
	o := obj{{"proposals", props}}
	if c.Path != nil {
		var nodes []obj
		for _, n := range c.Path.Nodes {
			var cts []obj
			for i := range n.EncryptedPathSecret {
				cts = append(cts, hpkeCiphertext(&n.EncryptedPathSecret[i]))
			}
			nodes = append(nodes, obj{{"encryption_key", hx(n.EncryptionKey)}, {"encrypted_path_secret", cts}})
		}
		o = append(o, field{"path", obj{{"leaf_node", leafNode(&c.Path.LeafNode)}, {"nodes", nodes}}})
	}
	return o
}

func proposal(p *mls.Proposal) obj {
	o := obj{{"proposal_type", p.Type().String()}}
	switch {
	case p.Add != nil:
		o = append(o, field{"key_package", keyPackage(&p.Add.KeyPackage)})
	case p.Update != nil:
		o = append(o, field{"leaf_node", leafNode(&p.Update.LeafNode)})
	case p.Remove != nil:
		o = append(o, field{"removed", uint32(p.Remove.Removed)})
	case p.PreSharedKey != nil:
		o = append(o, field{"psk", pskID(&p.PreSharedKey.PSK)})
	case p.ReInit != nil:
		o = append(o, field{"reinit", obj{
			{"group_id", hx(p.ReInit.GroupID)},
			{"version", p.ReInit.Version.String()},
			{"cipher_suite", suiteEnum(p.ReInit.CipherSuite)},
			{"extensions", extensions(p.ReInit.Extensions)},
		}})
	case p.ExternalInit != nil:
		o = append(o, field{"kem_output", hx(p.ExternalInit.KEMOutput)})
	case p.GroupContextExtensions != nil:
		o = append(o, field{"extensions", extensions(p.GroupContextExtensions.Extensions)})
	case p.Unknown != nil:
		o = obj{{"proposal_type", enum(uint64(p.Unknown.ProposalType), "unknown")}, {"data", hx(p.Unknown.Data)}}
	}
	return o
}

func pskID(p *mls.PreSharedKeyID) obj {
	o := obj{{"psktype", p.PSKType.String()}}
	if p.PSKType == mls.PSKTypeExternal {
		o = append(o, field{"psk_id", hx(p.PSKID)})
	} else {
		o = append(o, field{"usage", p.Usage.String()}, field{"psk_group_id", hx(p.PSKGroupID)}, field{"psk_epoch", p.PSKEpoch})
	}
	return append(o, field{"psk_nonce", hx(p.PSKNonce)})
}

func keyPackage(kp *mls.KeyPackage) obj {
	o := obj{
		{"version", kp.Version.String()},
		{"cipher_suite", suiteEnum(kp.CipherSuite)},
		{"init_key", hx(kp.InitKey)},
		{"leaf_node", leafNode(&kp.LeafNode)},
		{"extensions", extensions(kp.Extensions)},
		{"signature", hx(kp.Signature)},
	}
	if ref, err := kp.Ref(); err == nil {
		o = append(o, field{"key_package_ref", hx(ref)})
	}
	// Validate checks both signatures, the keys, capabilities and lifetime.
	return append(o, field{"validation", check(kp.Validate(kp.CipherSuite, nil))})
}

func leafNode(ln *mls.LeafNode) obj {
	caps := &ln.Capabilities
	versions, suites, exts, props, creds := []any{}, []any{}, []any{}, []any{}, []any{}
	for _, v := range caps.Versions {
		versions = append(versions, v.String())
	}
	for _, s := range caps.CipherSuites {
		suites = append(suites, suiteEnum(s))
	}
	for _, e := range caps.Extensions {
		exts = append(exts, extName(e))
	}
	for _, p := range caps.Proposals {
		props = append(props, p.String())
	}
	for _, c := range caps.Credentials {
		creds = append(creds, c.String())
	}
	o := obj{
		{"encryption_key", hx(ln.EncryptionKey)},
		{"signature_key", hx(ln.SignatureKey)},
		{"credential", credential(&ln.Credential)},
		{"capabilities", obj{
			{"versions", versions}, {"cipher_suites", suites}, {"extensions", exts},
			{"proposals", props}, {"credentials", creds},
		}},
		{"leaf_node_source", ln.LeafNodeSource.String()},
	}
	if ln.Lifetime != nil {
		o = append(o, field{"lifetime", obj{{"not_before", ln.Lifetime.NotBefore}, {"not_after", ln.Lifetime.NotAfter}}})
	}
	if ln.LeafNodeSource == mls.LeafNodeSourceCommit {
		o = append(o, field{"parent_hash", hx(ln.ParentHash)})
	}
	return append(o, field{"extensions", extensions(ln.Extensions)}, field{"signature", hx(ln.Signature)})
}

func credential(c *mls.Credential) obj {
	o := obj{{"credential_type", c.CredentialType.String()}}
	switch c.CredentialType {
	case mls.CredentialTypeBasic:
		return append(o, field{"identity", hx(c.Identity)}, field{"identity_text", textOrHex(c.Identity)})
	case mls.CredentialTypeX509:
		var certs []string
		for _, der := range c.Certificates {
			certs = append(certs, hx(der))
		}
		return append(o, field{"subject", certSubject(c.Certificates)}, field{"certificates", certs})
	}
	return append(o, field{"data", hx(c.Data)})
}

// textOrHex shows b as text when it is printable UTF-8, else in hex.
func textOrHex(b []byte) string {
	if !utf8.Valid(b) {
		return hx(b)
	}
	for _, r := range string(b) {
		if !unicode.IsPrint(r) {
			return hx(b)
		}
	}
	return string(b)
}

// certSubject is the subject of the first certificate, or "" if it does
// not parse.
func certSubject(chain [][]byte) string {
	if len(chain) == 0 {
		return ""
	}
	cert, err := x509.ParseCertificate(chain[0])
	if err != nil {
		return ""
	}
	return cert.Subject.String()
}

func extensions(es mls.Extensions) []obj {
	out := []obj{}
	for _, e := range es {
		o := obj{{"extension_type", enum(uint64(e.ExtensionType), extName(e.ExtensionType))}}
		switch e.ExtensionType {
		case mls.ExtensionTypeApplicationID:
			var a mls.ApplicationID
			if a.UnmarshalBinary(e.ExtensionData) == nil {
				o = append(o, field{"application_id", textOrHex(a)})
				break
			}
			o = append(o, field{"extension_data", hx(e.ExtensionData)})
		case mls.ExtensionTypeExternalPub:
			var p mls.ExternalPub
			if p.UnmarshalBinary(e.ExtensionData) == nil {
				o = append(o, field{"external_pub", hx(p.ExternalPub)})
				break
			}
			o = append(o, field{"extension_data", hx(e.ExtensionData)})
		case mls.ExtensionTypeExternalSenders:
			var s mls.ExternalSenders
			if s.UnmarshalBinary(e.ExtensionData) == nil {
				var list []obj
				for i := range s {
					list = append(list, obj{{"signature_key", hx(s[i].SignatureKey)}, {"credential", credential(&s[i].Credential)}})
				}
				o = append(o, field{"external_senders", list})
				break
			}
			o = append(o, field{"extension_data", hx(e.ExtensionData)})
		case mls.ExtensionTypeRatchetTree:
			// Shown by the GroupInfo, which can check it.
			o = append(o, field{"length", len(e.ExtensionData)})
		default:
			o = append(o, field{"extension_data", hx(e.ExtensionData)})
		}
		out = append(out, o)
	}
	return out
}

func groupInfo(gi *mls.GroupInfo) obj {
	gc := &gi.GroupContext
	o := obj{
		{"group_context", obj{
			{"version", gc.Version.String()},
			{"cipher_suite", suiteEnum(gc.CipherSuite)},
			{"group_id", hx(gc.GroupID)},
			{"epoch", gc.Epoch},
			{"tree_hash", hx(gc.TreeHash)},
			{"confirmed_transcript_hash", hx(gc.ConfirmedTranscriptHash)},
			{"extensions", extensions(gc.Extensions)},
		}},
		{"extensions", extensions(gi.Extensions)},
		{"confirmation_tag", hx(gi.ConfirmationTag)},
		{"signer", uint32(gi.Signer)},
		{"signature", hx(gi.Signature)},
	}
	ext, ok := gi.Extensions.Find(mls.ExtensionTypeRatchetTree)
	if !ok {
		return append(o, field{"signature_check", "unchecked: the ratchet tree is not inline"})
	}
	var t mls.TreeNodes
	if err := t.UnmarshalBinary(ext.ExtensionData); err != nil {
		return append(o, field{"ratchet_tree", "invalid: " + err.Error()})
	}
	sig := "invalid: the signer's leaf is blank or outside the tree"
	if i := 2 * int(gi.Signer); i < len(t) && t[i] != nil && t[i].Leaf != nil {
		sig = check(gi.Verify(t[i].Leaf.SignatureKey))
	}
	return append(o, field{"signature_check", sig}, field{"ratchet_tree", inspectTree(t, gc.CipherSuite, gc.GroupID, gc.TreeHash)})
}

// inspectTree shows a ratchet tree with each leaf's signature check and,
// when the suite and the group are known, the whole tree's validation and
// its hash compared with treeHash (if given).
func inspectTree(t mls.TreeNodes, suiteID ciphersuite.ID, groupID, treeHash []byte) obj {
	if suiteID == 0 {
		suiteID = commonSuite(t)
	}
	suite, serr := ciphersuite.Lookup(suiteID)
	var nodes []obj
	for i, n := range t {
		switch {
		case n == nil:
			nodes = append(nodes, obj{{"node", i}, {"blank", true}})
		case n.Leaf != nil:
			o := obj{{"node", i}, {"leaf_index", i / 2}, {"leaf_node", leafNode(n.Leaf)}}
			nodes = append(nodes, append(o, field{"signature_check", leafSignature(suite, serr, n.Leaf, groupID, mls.LeafIndex(i/2))}))
		case n.Parent != nil:
			var unmerged []uint32
			for _, l := range n.Parent.UnmergedLeaves {
				unmerged = append(unmerged, uint32(l))
			}
			nodes = append(nodes, obj{{"node", i}, {"parent_node", obj{
				{"encryption_key", hx(n.Parent.EncryptionKey)},
				{"parent_hash", hx(n.Parent.ParentHash)},
				{"unmerged_leaves", unmerged},
			}}})
		}
	}
	o := obj{{"nodes", nodes}}
	if serr != nil {
		return append(o, field{"validation", "unchecked: unknown cipher suite (give --suite)"})
	}
	o = append(o, field{"cipher_suite", suiteEnum(suiteID)})
	rt, err := mls.RatchetTreeFromNodes(suite, t)
	if err != nil {
		return append(o, field{"validation", check(err)})
	}
	o = append(o, field{"tree_hash", hx(rt.TreeHash())})
	if treeHash != nil {
		if bytes.Equal(rt.TreeHash(), treeHash) {
			o = append(o, field{"tree_hash_check", "valid"})
		} else {
			o = append(o, field{"tree_hash_check", "invalid: does not match the GroupContext"})
		}
	}
	if groupID == nil {
		return append(o, field{"validation", "unchecked: unknown group ID (give --group-id)"})
	}
	return append(o, field{"validation", check(rt.Validate(groupID, nil))})
}

// commonSuite is the one suite every leaf of t lists, or 0.
func commonSuite(t mls.TreeNodes) ciphersuite.ID {
	count := map[ciphersuite.ID]int{}
	leaves := 0
	for _, n := range t {
		if n == nil || n.Leaf == nil {
			continue
		}
		leaves++
		seen := map[ciphersuite.ID]bool{}
		for _, s := range n.Leaf.Capabilities.CipherSuites {
			if !seen[s] {
				seen[s] = true
				count[s]++
			}
		}
	}
	var found ciphersuite.ID
	for s, n := range count {
		if n == leaves {
			if found != 0 {
				return 0
			}
			found = s
		}
	}
	return found
}

// leafSignature checks a leaf's signature. The leaves of Update proposals
// and commits sign the group ID and their index too, so without the group
// ID only key_package leaves can be checked.
func leafSignature(suite *ciphersuite.Suite, serr error, ln *mls.LeafNode, groupID []byte, i mls.LeafIndex) string {
	if serr != nil {
		return "unchecked: unknown cipher suite (give --suite)"
	}
	if ln.LeafNodeSource != mls.LeafNodeSourceKeyPackage && groupID == nil {
		return "unchecked: unknown group ID (give --group-id)"
	}
	tbs, err := ln.TBS(groupID, i)
	if err != nil {
		return check(err)
	}
	return check(suite.VerifyWithLabel(ln.SignatureKey, "LeafNodeTBS", tbs, ln.Signature))
}

// extName names an extension type, last_resort included.
func extName(t mls.ExtensionType) string {
	if t == mls.ExtensionTypeLastResort {
		return "last_resort"
	}
	return t.String()
}
