package main

import (
	"errors"

	"github.com/arbormls/mls"
)

// externalJoinSupported reports whether the library offers external
// commits; the tests check the command against it.
const externalJoinSupported = false

// joinExternal joins by external commit. The library on this branch has no
// JoinExternal yet (it is being added on branch group).
func joinExternal(gi *mls.MLSMessage, id *mls.Identity, cfg *mls.Config, tree mls.TreeNodes) (*mls.Group, *mls.MLSMessage, error) {
	return nil, nil, errors.New("group external-join: not supported yet (the library has no external commits yet)")
}
