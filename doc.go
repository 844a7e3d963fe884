// Package mls implements Messaging Layer Security (RFC 9420): groups that
// share end-to-end encryption keys with forward secrecy and post-compromise
// security, at a cost logarithmic in the group's size.
//
// Each file holds one concept of the RFC under its name: the wire structs
// with their encodings, the ratchet tree and TreeKEM, the key schedule, the
// secret tree, message framing and protection, proposals, commits, Welcome
// and GroupInfo, and the Group state machine.
package mls

import "github.com/arbormls/mls/internal/treemath"

// LeafIndex is the position of a member's leaf in the ratchet tree.
type LeafIndex = treemath.LeafIndex

// NodeIndex is the position of a node in the array form of the ratchet tree.
type NodeIndex = treemath.NodeIndex
