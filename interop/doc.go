// Package interop serves Arbor to the MLS working group's interop harness:
// an implementation of the gRPC service mls_client.MLSClient (see
// proto/mls_client.proto) that a test runner drives through scenarios
// together with the servers of other MLS implementations.
//
// So far only the RPCs that need no group are implemented: Name,
// SupportedCiphersuites, CreateKeyPackage, StorePSK, CreateExternalSigner
// and Free. Every other RPC answers codes.Unimplemented until it is wired
// to the Group state machine of package mls.
//
// The server hands out numeric handles (state, transaction and signer IDs)
// for the client states it keeps; they are drawn from one counter starting
// at 1, never reused, so a stale handle is always an error rather than a
// different state.
package interop
