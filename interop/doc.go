// Package interop serves Arbor to the MLS working group's interop harness:
// an implementation of the gRPC service mls_client.MLSClient (see
// proto/mls_client.proto) that a test runner drives through scenarios
// together with the servers of other MLS implementations.
//
// Every RPC of the service is implemented on package mls: groups, Welcome
// and external joins, proposals by reference and by value, commits, PSKs,
// external senders, ReInit and branches (see README.md for the details
// of each).
//
// The server hands out numeric handles (state, transaction and signer IDs)
// for the client states it keeps; they are drawn from one counter starting
// at 1, never reused, so a stale handle is always an error rather than a
// different state.
package interop
