package mls

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/hpke"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"hash"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
)

// vectorsDir follows the rule of conformance.VectorsDir (which this package
// cannot import): $MLS_TEST_VECTORS, else ../shared/test-vectors next to the
// module root, which is this package's folder.
func vectorsDir(t testing.TB) string {
	if d := os.Getenv("MLS_TEST_VECTORS"); d != "" {
		return d
	}
	return filepath.Join("..", "shared", "test-vectors")
}

// loadVectors decodes the vector file name into v.
func loadVectors(t testing.TB, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(vectorsDir(t), name))
	if err != nil {
		t.Fatalf("test vectors: %v", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// hexBytes is a JSON hex string.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	*h = v
	return err
}

// roundTrip decodes data into v and checks that re-encoding gives data back.
func roundTrip(t testing.TB, what string, data []byte, v interface {
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}) {
	t.Helper()
	if err := v.UnmarshalBinary(data); err != nil {
		t.Fatalf("%s: decode: %v", what, err)
	}
	got, err := v.MarshalBinary()
	if err != nil {
		t.Fatalf("%s: encode: %v", what, err)
	}
	if string(got) != string(data) {
		t.Fatalf("%s: re-encoding differs:\n got %x\nwant %x", what, got, data)
	}
}

// verifyWithLabel checks a signature made by SignWithLabel (RFC 9420
// section 5.1.2) with the standard library, independently of the
// ciphersuite package. It reports false for suites whose signature scheme
// (Ed448) the standard library lacks.
func verifyWithLabel(t testing.TB, suite ciphersuite.ID, pub []byte, label string, content, sig []byte) (checked bool) {
	t.Helper()
	b := codec.NewBuilder(len(content) + 32)
	b.AddOpaque([]byte("MLS 1.0 " + label))
	b.AddOpaque(content)
	msg, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var curve elliptic.Curve
	var h hash.Hash
	switch suite {
	case 1, 3:
		if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, msg, sig) {
			t.Fatalf("%s signature does not verify", label)
		}
		return true
	case 2:
		curve, h = elliptic.P256(), sha256.New()
	case 5:
		curve, h = elliptic.P521(), sha512.New()
	case 7:
		curve, h = elliptic.P384(), sha512.New384()
	default:
		return false
	}
	key, err := ecdsa.ParseUncompressedPublicKey(curve, pub)
	if err != nil {
		t.Fatalf("%s: signature key: %v", label, err)
	}
	h.Write(msg)
	if !ecdsa.VerifyASN1(key, h.Sum(nil), sig) {
		t.Fatalf("%s signature does not verify", label)
	}
	return true
}

// TestVectorTrees checks that every ratchet tree in the official vectors
// decodes and re-encodes byte-exact, and that the LeafNodeTBS encoding is
// right: every leaf signature of tree-validation.json verifies over it.
func TestVectorTrees(t *testing.T) {
	var validation []struct {
		CipherSuite ciphersuite.ID `json:"cipher_suite"`
		Tree        hexBytes       `json:"tree"`
		GroupID     hexBytes       `json:"group_id"`
	}
	loadVectors(t, "tree-validation.json", &validation)
	var checked int
	for i, c := range validation {
		var tree TreeNodes
		roundTrip(t, "tree-validation tree", c.Tree, &tree)
		for n, node := range tree {
			if node == nil || node.Leaf == nil {
				continue
			}
			tbs, err := node.Leaf.TBS(c.GroupID, LeafIndex(n/2))
			if err != nil {
				t.Fatalf("case %d node %d: %v", i, n, err)
			}
			if verifyWithLabel(t, c.CipherSuite, node.Leaf.SignatureKey, "LeafNodeTBS", tbs, node.Leaf.Signature) {
				checked++
			}
			raw, err := node.Leaf.MarshalBinary()
			if err != nil || string(raw) != string(node.Leaf.Raw()) {
				t.Fatalf("case %d node %d: Raw() differs from the encoding", i, n)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no leaf signature checked")
	}
	t.Logf("%d leaf signatures verified", checked)

	var treekem []struct {
		CipherSuite ciphersuite.ID `json:"cipher_suite"`
		GroupID     hexBytes       `json:"group_id"`
		Tree        hexBytes       `json:"ratchet_tree"`
		UpdatePaths []struct {
			Sender     LeafIndex `json:"sender"`
			UpdatePath hexBytes  `json:"update_path"`
		} `json:"update_paths"`
	}
	loadVectors(t, "treekem.json", &treekem)
	for _, c := range treekem {
		var tree TreeNodes
		roundTrip(t, "treekem ratchet_tree", c.Tree, &tree)
		for _, u := range c.UpdatePaths {
			var path UpdatePath
			roundTrip(t, "treekem update_path", u.UpdatePath, &path)
			if path.LeafNode.LeafNodeSource != LeafNodeSourceCommit {
				t.Fatalf("update_path leaf source %v", path.LeafNode.LeafNodeSource)
			}
			tbs, err := path.LeafNode.TBS(c.GroupID, u.Sender)
			if err != nil {
				t.Fatal(err)
			}
			verifyWithLabel(t, c.CipherSuite, path.LeafNode.SignatureKey, "LeafNodeTBS", tbs, path.LeafNode.Signature)
		}
	}

	var ops []struct {
		TreeBefore hexBytes `json:"tree_before"`
		TreeAfter  hexBytes `json:"tree_after"`
	}
	loadVectors(t, "tree-operations.json", &ops)
	for _, c := range ops {
		var tree TreeNodes
		roundTrip(t, "tree-operations tree_before", c.TreeBefore, &tree)
		roundTrip(t, "tree-operations tree_after", c.TreeAfter, &tree)
	}
}

// TestVectorGroupContext round-trips the GroupContext of every epoch of
// key-schedule.json.
func TestVectorGroupContext(t *testing.T) {
	var cases []struct {
		CipherSuite ciphersuite.ID `json:"cipher_suite"`
		GroupID     hexBytes       `json:"group_id"`
		Epochs      []struct {
			GroupContext            hexBytes `json:"group_context"`
			TreeHash                hexBytes `json:"tree_hash"`
			ConfirmedTranscriptHash hexBytes `json:"confirmed_transcript_hash"`
		} `json:"epochs"`
	}
	loadVectors(t, "key-schedule.json", &cases)
	for _, c := range cases {
		for i, e := range c.Epochs {
			var gc GroupContext
			roundTrip(t, "group_context", e.GroupContext, &gc)
			if gc.Version != ProtocolVersionMLS10 || gc.CipherSuite != c.CipherSuite ||
				string(gc.GroupID) != string(c.GroupID) || gc.Epoch != uint64(i) ||
				string(gc.TreeHash) != string(e.TreeHash) ||
				string(gc.ConfirmedTranscriptHash) != string(e.ConfirmedTranscriptHash) {
				t.Fatalf("group_context fields differ from the vector: %+v", gc)
			}
		}
	}
}

// TestVectorKeyPackages round-trips the KeyPackages of welcome.json and
// passive-client-welcome.json and verifies their signatures over TBS.
func TestVectorKeyPackages(t *testing.T) {
	var cases []struct {
		CipherSuite ciphersuite.ID `json:"cipher_suite"`
		KeyPackage  hexBytes       `json:"key_package"`
	}
	var more []struct {
		CipherSuite ciphersuite.ID `json:"cipher_suite"`
		KeyPackage  hexBytes       `json:"key_package"`
	}
	loadVectors(t, "welcome.json", &cases)
	loadVectors(t, "passive-client-welcome.json", &more)
	cases = append(cases, more...)
	for i, c := range cases {
		// key_package is an MLSMessage: version and wire_format come first.
		if !strings.HasPrefix(hex.EncodeToString(c.KeyPackage), "00010005") {
			t.Fatalf("case %d: key_package is not an MLSMessage", i)
		}
		data := c.KeyPackage[4:]
		var kp KeyPackage
		roundTrip(t, "key_package", data, &kp)
		if string(kp.Raw()) != string(data) {
			t.Fatalf("case %d: Raw() is not the received encoding", i)
		}
		tbs, err := kp.TBS()
		if err != nil {
			t.Fatal(err)
		}
		verifyWithLabel(t, c.CipherSuite, kp.LeafNode.SignatureKey, "KeyPackageTBS", tbs, kp.Signature)
		// A key_package LeafNode is signed without group binding.
		ltbs, err := kp.LeafNode.TBS([]byte("ignored"), 7)
		if err != nil {
			t.Fatal(err)
		}
		verifyWithLabel(t, c.CipherSuite, kp.LeafNode.SignatureKey, "LeafNodeTBS", ltbs, kp.LeafNode.Signature)
	}
}

// suiteHash returns the hash function of the suite, for the MAC checks below.
func suiteHash(t testing.TB, suite ciphersuite.ID) func() hash.Hash {
	switch suite {
	case 1, 2, 3:
		return sha256.New
	case 4, 5, 6:
		return sha512.New
	case 7:
		return sha512.New384
	}
	t.Fatalf("unknown suite %d", suite)
	return nil
}

// TestVectorMessages round-trips every encoded message and struct of the
// vector files other than messages.json (which the conformance package
// checks).
func TestVectorMessages(t *testing.T) {
	var passive []struct {
		KeyPackage hexBytes  `json:"key_package"`
		Welcome    hexBytes  `json:"welcome"`
		Tree       *hexBytes `json:"ratchet_tree"`
		Epochs     []struct {
			Proposals []hexBytes `json:"proposals"`
			Commit    hexBytes   `json:"commit"`
		} `json:"epochs"`
	}
	var n int
	for _, file := range []string{"passive-client-welcome.json", "passive-client-handling-commit.json"} {
		passive = nil
		loadVectors(t, file, &passive)
		for _, c := range passive {
			var m MLSMessage
			roundTrip(t, file+" key_package", c.KeyPackage, &m)
			roundTrip(t, file+" welcome", c.Welcome, &m)
			n += 2
			if c.Tree != nil {
				var tree TreeNodes
				roundTrip(t, file+" ratchet_tree", *c.Tree, &tree)
			}
			for _, e := range c.Epochs {
				for _, p := range e.Proposals {
					roundTrip(t, file+" proposal", p, &m)
					n++
				}
				roundTrip(t, file+" commit", e.Commit, &m)
				n++
			}
		}
	}

	var welcome []struct {
		Welcome hexBytes `json:"welcome"`
	}
	loadVectors(t, "welcome.json", &welcome)
	for _, c := range welcome {
		var m MLSMessage
		roundTrip(t, "welcome.json welcome", c.Welcome, &m)
		if m.WireFormat() != WireFormatWelcome {
			t.Fatalf("welcome has wire format %v", m.WireFormat())
		}
		n++
	}

	var ops []struct {
		Proposal hexBytes `json:"proposal"`
	}
	loadVectors(t, "tree-operations.json", &ops)
	for _, c := range ops {
		var p Proposal
		roundTrip(t, "tree-operations proposal", c.Proposal, &p)
		n++
	}
	t.Logf("%d messages round-tripped", n)
}

// TestVectorMessageProtection checks the framing structs against
// message-protection.json: the PublicMessage forms round-trip and carry the
// vector's proposal and commit, their signatures verify over
// FramedContentTBS, and their membership tags over AuthenticatedContentTBM.
func TestVectorMessageProtection(t *testing.T) {
	var cases []struct {
		CipherSuite             ciphersuite.ID `json:"cipher_suite"`
		GroupID                 hexBytes       `json:"group_id"`
		Epoch                   uint64         `json:"epoch"`
		TreeHash                hexBytes       `json:"tree_hash"`
		ConfirmedTranscriptHash hexBytes       `json:"confirmed_transcript_hash"`
		SignaturePub            hexBytes       `json:"signature_pub"`
		MembershipKey           hexBytes       `json:"membership_key"`
		Proposal                hexBytes       `json:"proposal"`
		ProposalPub             hexBytes       `json:"proposal_pub"`
		ProposalPriv            hexBytes       `json:"proposal_priv"`
		Commit                  hexBytes       `json:"commit"`
		CommitPub               hexBytes       `json:"commit_pub"`
		CommitPriv              hexBytes       `json:"commit_priv"`
		ApplicationPriv         hexBytes       `json:"application_priv"`
	}
	loadVectors(t, "message-protection.json", &cases)
	for _, c := range cases {
		gc := GroupContext{
			Version:                 ProtocolVersionMLS10,
			CipherSuite:             c.CipherSuite,
			GroupID:                 c.GroupID,
			Epoch:                   c.Epoch,
			TreeHash:                c.TreeHash,
			ConfirmedTranscriptHash: c.ConfirmedTranscriptHash,
		}
		gcBytes, err := gc.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		var p Proposal
		roundTrip(t, "proposal", c.Proposal, &p)
		var cm Commit
		roundTrip(t, "commit", c.Commit, &cm)
		for _, priv := range []hexBytes{c.ProposalPriv, c.CommitPriv, c.ApplicationPriv} {
			var m MLSMessage
			roundTrip(t, "private message", priv, &m)
			if m.PrivateMessage == nil || string(m.PrivateMessage.GroupID) != string(c.GroupID) {
				t.Fatal("private message does not match the group")
			}
		}
		for _, pub := range []struct {
			data hexBytes
			body hexBytes
		}{{c.ProposalPub, c.Proposal}, {c.CommitPub, c.Commit}} {
			var m MLSMessage
			roundTrip(t, "public message", pub.data, &m)
			pm := m.PublicMessage
			if pm == nil || pm.Content.Sender != (Sender{SenderType: SenderTypeMember, LeafIndex: 1}) {
				t.Fatal("not a PublicMessage from member 1")
			}
			var body []byte
			if pm.Content.Proposal != nil {
				body, err = pm.Content.Proposal.MarshalBinary()
			} else {
				body, err = pm.Content.Commit.MarshalBinary()
			}
			if err != nil || string(body) != string(pub.body) {
				t.Fatalf("content differs from the vector (%v)", err)
			}
			tbs, err := pm.Content.TBS(WireFormatPublicMessage, gcBytes)
			if err != nil {
				t.Fatal(err)
			}
			verifyWithLabel(t, c.CipherSuite, c.SignaturePub, "FramedContentTBS", tbs, pm.Auth.Signature)
			ac := pm.AuthenticatedContent()
			if tbs2, err := ac.TBS(gcBytes); err != nil || string(tbs2) != string(tbs) {
				t.Fatal("AuthenticatedContent.TBS differs")
			}
			if _, err := pm.Content.TBS(WireFormatPublicMessage, nil); err == nil {
				t.Fatal("member FramedContentTBS without GroupContext")
			}
			tbm, err := pm.TBM(gcBytes)
			if err != nil {
				t.Fatal(err)
			}
			mac := hmac.New(suiteHash(t, c.CipherSuite), c.MembershipKey)
			mac.Write(tbm)
			if !hmac.Equal(mac.Sum(nil), pm.MembershipTag) {
				t.Fatal("membership tag does not match AuthenticatedContentTBM")
			}
		}
	}
}

// TestVectorAuthenticatedContent round-trips the AuthenticatedContent of
// transcript-hashes.json and checks its confirmation tag.
func TestVectorAuthenticatedContent(t *testing.T) {
	var cases []struct {
		CipherSuite                  ciphersuite.ID `json:"cipher_suite"`
		ConfirmationKey              hexBytes       `json:"confirmation_key"`
		AuthenticatedContent         hexBytes       `json:"authenticated_content"`
		ConfirmedTranscriptHashAfter hexBytes       `json:"confirmed_transcript_hash_after"`
	}
	loadVectors(t, "transcript-hashes.json", &cases)
	for _, c := range cases {
		var ac AuthenticatedContent
		roundTrip(t, "authenticated_content", c.AuthenticatedContent, &ac)
		if ac.Content.ContentType != ContentTypeCommit {
			t.Fatalf("content type %v", ac.Content.ContentType)
		}
		mac := hmac.New(suiteHash(t, c.CipherSuite), c.ConfirmationKey)
		mac.Write(c.ConfirmedTranscriptHashAfter)
		if !hmac.Equal(mac.Sum(nil), ac.Auth.ConfirmationTag) {
			t.Fatal("confirmation_tag is not the one the vector implies")
		}
	}
}

// hpkeSuite returns the HPKE algorithms of the suite, or ok=false for the
// X448 suites, which the standard library lacks.
func hpkeSuite(suite ciphersuite.ID) (curve ecdh.Curve, kdf hpke.KDF, aead hpke.AEAD, ok bool) {
	switch suite {
	case 1:
		return ecdh.X25519(), hpke.HKDFSHA256(), hpke.AES128GCM(), true
	case 2:
		return ecdh.P256(), hpke.HKDFSHA256(), hpke.AES128GCM(), true
	case 3:
		return ecdh.X25519(), hpke.HKDFSHA256(), hpke.ChaCha20Poly1305(), true
	case 5:
		return ecdh.P521(), hpke.HKDFSHA512(), hpke.AES256GCM(), true
	case 7:
		return ecdh.P384(), hpke.HKDFSHA384(), hpke.AES256GCM(), true
	}
	return nil, nil, nil, false
}

// TestVectorWelcome opens the Welcomes of welcome.json with the standard
// library's HPKE and the ciphersuite key derivations, which checks the
// encodings of Welcome, EncryptedGroupSecrets, GroupSecrets and GroupInfo
// on real data, and GroupInfoTBS by verifying the GroupInfo signature.
func TestVectorWelcome(t *testing.T) {
	var cases []struct {
		CipherSuite ciphersuite.ID `json:"cipher_suite"`
		InitPriv    hexBytes       `json:"init_priv"`
		KeyPackage  hexBytes       `json:"key_package"`
		SignerPub   hexBytes       `json:"signer_pub"`
		Welcome     hexBytes       `json:"welcome"`
	}
	loadVectors(t, "welcome.json", &cases)
	var opened int
	for _, c := range cases {
		curve, kdf, aead, ok := hpkeSuite(c.CipherSuite)
		if !ok {
			continue
		}
		suite, err := ciphersuite.Lookup(c.CipherSuite)
		if err != nil {
			t.Fatal(err)
		}
		var kpMsg, wMsg MLSMessage
		if err := kpMsg.UnmarshalBinary(c.KeyPackage); err != nil {
			t.Fatal(err)
		}
		if err := wMsg.UnmarshalBinary(c.Welcome); err != nil {
			t.Fatal(err)
		}
		w := wMsg.Welcome
		ref := suite.MakeKeyPackageRef(kpMsg.KeyPackage.Raw())
		var egs *EncryptedGroupSecrets
		for i := range w.Secrets {
			if string(w.Secrets[i].NewMember) == string(ref) {
				egs = &w.Secrets[i]
			}
		}
		if egs == nil {
			t.Fatal("no EncryptedGroupSecrets for the KeyPackageRef")
		}

		// EncryptWithLabel(init_key, "Welcome", encrypted_group_info, group_secrets).
		info := codec.NewBuilder(64)
		info.AddOpaque([]byte("MLS 1.0 Welcome"))
		info.AddOpaque(w.EncryptedGroupInfo)
		infoBytes, _ := info.Bytes()
		ecdhPriv, err := curve.NewPrivateKey(c.InitPriv)
		if err != nil {
			t.Fatal(err)
		}
		priv, err := hpke.NewDHKEMPrivateKey(ecdhPriv)
		if err != nil {
			t.Fatal(err)
		}
		rcpt, err := hpke.NewRecipient(egs.EncryptedGroupSecrets.KEMOutput, priv, kdf, aead, infoBytes)
		if err != nil {
			t.Fatal(err)
		}
		gsBytes, err := rcpt.Open(nil, egs.EncryptedGroupSecrets.Ciphertext)
		if err != nil {
			t.Fatal(err)
		}
		var gs GroupSecrets
		roundTrip(t, "GroupSecrets", gsBytes, &gs)
		if len(gs.PSKs) != 0 {
			t.Fatal("welcome.json case with PSKs")
		}

		// welcome_secret = DeriveSecret(Extract(joiner_secret, 0), "welcome").
		member, err := suite.Extract(gs.JoinerSecret, make([]byte, suite.HashSize()))
		if err != nil {
			t.Fatal(err)
		}
		welcomeSecret, _ := suite.DeriveSecret(member, "welcome")
		key, _ := suite.ExpandWithLabel(welcomeSecret, "key", nil, suite.AEADKeySize())
		nonce, _ := suite.ExpandWithLabel(welcomeSecret, "nonce", nil, suite.AEADNonceSize())
		giBytes, err := suite.Open(key, nonce, nil, w.EncryptedGroupInfo)
		if err != nil {
			t.Fatal(err)
		}
		var gi GroupInfo
		roundTrip(t, "GroupInfo", giBytes, &gi)
		if string(gi.Raw()) != string(giBytes) {
			t.Fatal("GroupInfo.Raw is not the received encoding")
		}
		tbs, err := gi.TBS()
		if err != nil {
			t.Fatal(err)
		}
		verifyWithLabel(t, c.CipherSuite, c.SignerPub, "GroupInfoTBS", tbs, gi.Signature)
		opened++
	}
	if opened == 0 {
		t.Fatal("no Welcome opened")
	}
	t.Logf("%d Welcomes opened", opened)
}
