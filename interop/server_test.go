package interop

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/arbormls/mls"
	"github.com/arbormls/mls/ciphersuite"
	"github.com/arbormls/mls/internal/codec"
	pb "github.com/arbormls/mls/interop/proto"
)

// harness is a Server behind a real gRPC server on a loopback port, and a
// client connection to it.
type harness struct {
	srv    *Server
	conn   *grpc.ClientConn
	client pb.MLSClientClient
}

func startServer(t *testing.T) *harness {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer()
	gs := grpc.NewServer()
	pb.RegisterMLSClientServer(gs, srv)
	served := make(chan error, 1)
	go func() { served <- gs.Serve(lis) }()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		gs.GracefulStop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		srv.Close()
	})
	return &harness{srv: srv, conn: conn, client: pb.NewMLSClientClient(conn)}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// wantCode fails unless err is a gRPC status with code want.
func wantCode(t *testing.T, what string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s: got code %v (%v), want %v", what, got, err, want)
	}
}

func TestName(t *testing.T) {
	h := startServer(t)
	resp, err := h.client.Name(ctx(t), &pb.NameRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetName() != "Arbor" {
		t.Errorf("Name = %q, want Arbor", resp.GetName())
	}
}

func TestSupportedCiphersuites(t *testing.T) {
	h := startServer(t)
	check := func(want []ciphersuite.ID) {
		t.Helper()
		resp, err := h.client.SupportedCiphersuites(ctx(t), &pb.SupportedCiphersuitesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var got []ciphersuite.ID
		for _, s := range resp.GetCiphersuites() {
			got = append(got, ciphersuite.ID(s))
		}
		if !slices.Equal(got, want) {
			t.Errorf("profile %q: suites %v, want %v", ciphersuite.Profile(), got, want)
		}
	}

	// The profile in force decides; the RFC profile is suites 1 to 7.
	check(ciphersuite.IDs())
	if err := ciphersuite.UseProfile(ciphersuite.ProfileRFC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ciphersuite.UseProfile(ciphersuite.ProfileDefault); err != nil {
			t.Fatal(err)
		}
	})
	check([]ciphersuite.ID{1, 2, 3, 4, 5, 6, 7})
}

func TestCreateKeyPackage(t *testing.T) {
	h := startServer(t)
	seen := map[uint32]bool{}
	for _, suite := range ciphersuite.IDs() {
		t.Run(fmt.Sprintf("0x%04x", uint16(suite)), func(t *testing.T) {
			name := []byte("alice-" + suite.String())
			resp, err := h.client.CreateKeyPackage(ctx(t), &pb.CreateKeyPackageRequest{CipherSuite: uint32(suite), Identity: name})
			if err != nil {
				t.Fatal(err)
			}
			txID := resp.GetTransactionId()
			if txID == 0 || seen[txID] {
				t.Errorf("transaction ID %d is 0 or reused", txID)
			}
			seen[txID] = true

			var msg mls.MLSMessage
			if err := msg.UnmarshalBinary(resp.GetKeyPackage()); err != nil {
				t.Fatalf("decoding the MLSMessage: %v", err)
			}
			kp := msg.KeyPackage
			if msg.WireFormat() != mls.WireFormatKeyPackage || kp == nil {
				t.Fatalf("wire format %v, want mls_key_package", msg.WireFormat())
			}
			if err := kp.Validate(suite, nil); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			cred := kp.LeafNode.Credential
			if cred.CredentialType != mls.CredentialTypeBasic || !bytes.Equal(cred.Identity, name) {
				t.Errorf("credential %v %q, want basic %q", cred.CredentialType, cred.Identity, name)
			}

			// The private keys returned are those of the KeyPackage.
			if _, err := mls.NewKeyPackageBundle(kp, resp.GetInitPriv(), resp.GetEncryptionPriv()); err != nil {
				t.Errorf("init_priv, encryption_priv: %v", err)
			}
			s, err := ciphersuite.Lookup(suite)
			if err != nil {
				t.Fatal(err)
			}
			sk, err := s.ParseSigningKey(resp.GetSignaturePriv())
			if err != nil {
				t.Fatalf("signature_priv: %v", err)
			}
			if !bytes.Equal(sk.PublicKey(), kp.LeafNode.SignatureKey) {
				t.Error("signature_priv is not the key of the leaf's signature_key")
			}

			// The server kept the same KeyPackage under the transaction ID.
			wantRef, err := kp.Ref()
			if err != nil {
				t.Fatal(err)
			}
			err = h.srv.states.use(txID, func(c *clientState) error {
				if !bytes.Equal(c.keyPackage.Ref(), wantRef) {
					t.Error("stored KeyPackage differs from the one returned")
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCreateKeyPackageRejects(t *testing.T) {
	h := startServer(t)
	unregistered := uint32(0xFFFF)
	if slices.Contains(ciphersuite.IDs(), ciphersuite.ID(unregistered)) {
		t.Fatal("test assumes 0xFFFF is not registered")
	}
	for _, tc := range []struct {
		name  string
		suite uint32
		id    []byte
	}{
		{"suite 0", 0, []byte("a")},
		{"unregistered suite", unregistered, []byte("a")},
		{"suite beyond 16 bits", 0x10001, []byte("a")},
		{"empty identity", 1, nil},
	} {
		_, err := h.client.CreateKeyPackage(ctx(t), &pb.CreateKeyPackageRequest{CipherSuite: tc.suite, Identity: tc.id})
		wantCode(t, "CreateKeyPackage "+tc.name, err, codes.InvalidArgument)
		_, err = h.client.CreateExternalSigner(ctx(t), &pb.CreateExternalSignerRequest{CipherSuite: tc.suite, Identity: tc.id})
		wantCode(t, "CreateExternalSigner "+tc.name, err, codes.InvalidArgument)
	}
	if n := h.srv.states.count(); n != 0 {
		t.Errorf("%d states kept after failed calls", n)
	}
}

// decodeExternalSender decodes data as one ExternalSender through the
// external_senders list decoder of package mls.
func decodeExternalSender(t *testing.T, data []byte) mls.ExternalSender {
	t.Helper()
	b := codec.NewBuilder(len(data) + 4)
	b.AddVector(func(b *codec.Builder) { b.AddRaw(data) })
	list, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	var senders mls.ExternalSenders
	if err := senders.UnmarshalBinary(list); err != nil {
		t.Fatalf("decoding external_sender: %v", err)
	}
	if len(senders) != 1 {
		t.Fatalf("external_sender holds %d entries, want 1", len(senders))
	}
	return senders[0]
}

func TestCreateExternalSigner(t *testing.T) {
	h := startServer(t)
	kp, err := h.client.CreateKeyPackage(ctx(t), &pb.CreateKeyPackageRequest{CipherSuite: 1, Identity: []byte("member")})
	if err != nil {
		t.Fatal(err)
	}
	for _, suite := range []ciphersuite.ID{1, 2, 7} {
		resp, err := h.client.CreateExternalSigner(ctx(t), &pb.CreateExternalSignerRequest{CipherSuite: uint32(suite), Identity: []byte("ds")})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetSignerId() == 0 || resp.GetSignerId() == kp.GetTransactionId() {
			t.Errorf("signer ID %d is 0 or shared with a transaction", resp.GetSignerId())
		}
		es := decodeExternalSender(t, resp.GetExternalSender())
		if es.Credential.CredentialType != mls.CredentialTypeBasic || string(es.Credential.Identity) != "ds" {
			t.Errorf("credential %v %q, want basic \"ds\"", es.Credential.CredentialType, es.Credential.Identity)
		}

		// What the signer signs verifies with the key it advertised.
		s, err := ciphersuite.Lookup(suite)
		if err != nil {
			t.Fatal(err)
		}
		var sig []byte
		err = h.srv.states.use(resp.GetSignerId(), func(c *clientState) error {
			var err error
			sig, err = s.SignWithLabel(c.identity.SigningKey, "test", []byte("proposal"))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.VerifyWithLabel(es.SignatureKey, "test", []byte("proposal"), sig); err != nil {
			t.Errorf("suite %v: signature_key does not match the signer's key: %v", suite, err)
		}
	}
}

func TestStorePSK(t *testing.T) {
	h := startServer(t)
	id, secret := []byte("psk-1"), bytes.Repeat([]byte{7}, 32)
	store := func(state uint32, id, secret []byte) error {
		_, err := h.client.StorePSK(ctx(t), &pb.StorePSKRequest{StateOrTransactionId: state, PskId: id, PskSecret: secret})
		return err
	}

	// ID 0: a client with no state yet.
	if err := store(0, id, secret); err != nil {
		t.Fatal(err)
	}
	if got, ok := h.srv.psks.get(id); !ok || !bytes.Equal(got, secret) {
		t.Errorf("stored PSK = %x, %v; want %x", got, ok, secret)
	}
	if _, ok := h.srv.psks.get([]byte("psk-2")); ok {
		t.Error("unknown PSK ID found")
	}

	kp, err := h.client.CreateKeyPackage(ctx(t), &pb.CreateKeyPackageRequest{CipherSuite: 1, Identity: []byte("bob")})
	if err != nil {
		t.Fatal(err)
	}
	// The same PSK again, for a second client: accepted.
	if err := store(kp.GetTransactionId(), id, secret); err != nil {
		t.Errorf("storing the same PSK again: %v", err)
	}
	// Another secret under the same ID: refused, the first one kept.
	wantCode(t, "conflicting secret", store(0, id, bytes.Repeat([]byte{8}, 32)), codes.AlreadyExists)
	if got, _ := h.srv.psks.get(id); !bytes.Equal(got, secret) {
		t.Error("conflicting StorePSK replaced the secret")
	}
	wantCode(t, "unknown state", store(kp.GetTransactionId()+100, []byte("psk-3"), secret), codes.NotFound)
	wantCode(t, "empty PSK ID", store(0, nil, secret), codes.InvalidArgument)

	// The store keeps its own copy.
	mine := []byte("psk-4")
	s4 := bytes.Repeat([]byte{9}, 16)
	if err := h.srv.psks.store(mine, s4); err != nil {
		t.Fatal(err)
	}
	clear(s4)
	if got, _ := h.srv.psks.get(mine); !bytes.Equal(got, bytes.Repeat([]byte{9}, 16)) {
		t.Error("the store aliases the caller's secret")
	}
}

func TestFree(t *testing.T) {
	h := startServer(t)
	kp, err := h.client.CreateKeyPackage(ctx(t), &pb.CreateKeyPackageRequest{CipherSuite: 1, Identity: []byte("carol")})
	if err != nil {
		t.Fatal(err)
	}
	txID := kp.GetTransactionId()

	// Hold on to the key bytes the state keeps, to see them zeroed.
	var held [][]byte
	err = h.srv.states.use(txID, func(c *clientState) error {
		held = [][]byte{c.identity.SigningKey.Bytes(), c.keyPackage.InitPrivateKey(), c.keyPackage.EncryptionPrivateKey()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(held[1], kp.GetInitPriv()) {
		t.Fatal("held init key is not the one returned")
	}

	free := func(id uint32) error {
		_, err := h.client.Free(ctx(t), &pb.FreeRequest{StateId: id})
		return err
	}
	if err := free(txID); err != nil {
		t.Fatalf("Free: %v", err)
	}
	for i, k := range held {
		if len(k) == 0 || !bytes.Equal(k, make([]byte, len(k))) {
			t.Errorf("private key %d not zeroed by Free", i)
		}
	}
	wantCode(t, "double Free", free(txID), codes.NotFound)
	wantCode(t, "Free of an unknown ID", free(txID+1000), codes.NotFound)
	wantCode(t, "Free of ID 0", free(0), codes.NotFound)
	wantCode(t, "StorePSK on a freed ID", func() error {
		_, err := h.client.StorePSK(ctx(t), &pb.StorePSKRequest{StateOrTransactionId: txID, PskId: []byte("p"), PskSecret: []byte("s")})
		return err
	}(), codes.NotFound)

	// IDs are not reused after Free.
	kp2, err := h.client.CreateKeyPackage(ctx(t), &pb.CreateKeyPackageRequest{CipherSuite: 1, Identity: []byte("carol")})
	if err != nil {
		t.Fatal(err)
	}
	if kp2.GetTransactionId() == txID {
		t.Error("freed ID handed out again")
	}

	// A signer is freed the same way.
	sg, err := h.client.CreateExternalSigner(ctx(t), &pb.CreateExternalSignerRequest{CipherSuite: 1, Identity: []byte("ds")})
	if err != nil {
		t.Fatal(err)
	}
	if err := free(sg.GetSignerId()); err != nil {
		t.Errorf("Free of a signer: %v", err)
	}
}

// TestStatesConcurrently creates and frees states from several goroutines;
// run with -race to check the locking.
func TestStatesConcurrently(t *testing.T) {
	h := startServer(t)
	const workers, each = 6, 4
	var (
		mu  sync.Mutex
		ids = map[uint32]bool{}
		wg  sync.WaitGroup
	)
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				name := fmt.Appendf(nil, "w%d-%d", w, i)
				resp, err := h.client.CreateKeyPackage(context.Background(), &pb.CreateKeyPackageRequest{CipherSuite: 1, Identity: name})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				dup := ids[resp.GetTransactionId()]
				ids[resp.GetTransactionId()] = true
				mu.Unlock()
				if dup {
					errs <- fmt.Errorf("ID %d handed out twice", resp.GetTransactionId())
				}
				if i%2 == 0 {
					if _, err := h.client.Free(context.Background(), &pb.FreeRequest{StateId: resp.GetTransactionId()}); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, want := h.srv.states.count(), workers*each/2; got != want {
		t.Errorf("%d states left, want %d", got, want)
	}
}

// TestEveryRPCImplemented calls every RPC of the service with an empty
// request: none may answer Unimplemented, and none may panic (an empty
// request names no state, no message, no suite).
func TestEveryRPCImplemented(t *testing.T) {
	h := startServer(t)
	svc := pb.File_mls_client_proto.Services().ByName("MLSClient")
	if svc == nil {
		t.Fatal("no service MLSClient")
	}
	methods := svc.Methods()
	if methods.Len() != 34 {
		t.Errorf("service has %d RPCs, want 34", methods.Len())
	}
	for i := range methods.Len() {
		m := methods.Get(i)
		name := string(m.Name())
		in, out := dynamicpb.NewMessage(m.Input()), dynamicpb.NewMessage(m.Output())
		err := h.conn.Invoke(ctx(t), "/mls_client.MLSClient/"+name, in, out)
		if c := status.Code(err); c == codes.Unimplemented || c == codes.Unknown {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

// TestGarbageInputs calls every RPC with a live group's state ID in every
// ID field and random bytes in every bytes field: each must answer an
// error status (a panic would take the test down), never Unknown.
func TestGarbageInputs(t *testing.T) {
	h := startServer(t)
	cg, err := h.client.CreateGroup(ctx(t), &pb.CreateGroupRequest{GroupId: []byte("g"), CipherSuite: 1, Identity: []byte("alice")})
	if err != nil {
		t.Fatal(err)
	}
	methods := pb.File_mls_client_proto.Services().ByName("MLSClient").Methods()
	for i := range methods.Len() {
		m := methods.Get(i)
		switch m.Name() {
		case "Name", "SupportedCiphersuites", "StorePSK", "Free", "CreateGroup", "CreateKeyPackage", "CreateExternalSigner",
			"StateAuth", "UpdateProposal", "Commit", "ReInitCommit", "HandlePendingCommit", "ReInitProposal",
			"Export", "GroupInfo", "Protect", "GroupContextExtensionsProposal", "ResumptionPSKProposal":
			continue // no bytes to garble, or any bytes are valid input
		}
		for range 20 {
			in, out := dynamicpb.NewMessage(m.Input()), dynamicpb.NewMessage(m.Output())
			fields := m.Input().Fields()
			for j := range fields.Len() {
				f := fields.Get(j)
				switch {
				case f.Kind() == protoreflect.Uint32Kind && !f.IsList():
					in.Set(f, protoreflect.ValueOfUint32(cg.StateId))
				case f.Kind() == protoreflect.BytesKind && !f.IsList():
					b := make([]byte, 1+mrand.IntN(64))
					rand.Read(b)
					in.Set(f, protoreflect.ValueOfBytes(b))
				case f.Kind() == protoreflect.BytesKind && f.IsList():
					b := make([]byte, 1+mrand.IntN(64))
					rand.Read(b)
					l := in.Mutable(f).List()
					l.Append(protoreflect.ValueOfBytes(b))
				}
			}
			err := h.conn.Invoke(ctx(t), "/mls_client.MLSClient/"+string(m.Name()), in, out)
			if c := status.Code(err); c == codes.OK || c == codes.Unknown {
				t.Errorf("%s: got %v", m.Name(), err)
			}
		}
	}
	// PSKs the group could not inject are refused when proposed.
	_, err = h.client.ResumptionPSKProposal(ctx(t), &pb.ResumptionPSKProposalRequest{StateId: cg.StateId, EpochId: 1})
	wantCode(t, "ResumptionPSKProposal of a later epoch", err, codes.NotFound)
	_, err = h.client.ExternalPSKProposal(ctx(t), &pb.ExternalPSKProposalRequest{StateId: cg.StateId, PskId: []byte("unknown")})
	wantCode(t, "ExternalPSKProposal of an unknown PSK", err, codes.NotFound)
}
