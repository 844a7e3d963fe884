package mls

import (
	"context"
	"errors"
	"fmt"
)

// JoinFromStore joins a group from a Welcome with whichever of this
// client's KeyPackages in store it was made for, then deletes that
// KeyPackage's private keys from the store and from memory (RFC 9420
// section 16.8: a KeyPackage is used once), unless it is a last-resort
// KeyPackage, which stays for later use. The KeyPackage is deleted only
// after the join succeeded, so a forged Welcome cannot burn it.
func JoinFromStore(ctx context.Context, store KeyPackageStore, id *Identity, welcome *MLSMessage, cfg *Config, opts *JoinOptions) (*Group, error) {
	if welcome == nil || welcome.Welcome == nil {
		return nil, errors.New("mls: JoinFromStore needs a Welcome message")
	}
	for _, s := range welcome.Welcome.Secrets {
		bundle, err := store.KeyPackage(ctx, s.NewMember)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		g, err := Join(id, welcome, bundle, cfg, opts)
		if err != nil {
			bundle.erase()
			return nil, err
		}
		taken, err := store.TakeKeyPackage(ctx, s.NewMember)
		if err != nil {
			return nil, fmt.Errorf("mls: joined, but the KeyPackage could not be consumed: %w", err)
		}
		if !bundle.KeyPackage.IsLastResort() {
			bundle.erase()
			taken.erase()
		}
		return g, nil
	}
	return nil, ErrNoWelcomeForKeyPackage
}

// erase zeroes the bundle's private keys.
func (b *KeyPackageBundle) erase() {
	clear(b.initPriv)
	clear(b.encPriv)
}
