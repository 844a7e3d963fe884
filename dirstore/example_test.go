package dirstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/arbormls/mls/dirstore"
)

// A state folder belongs to one Store at a time.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "mls-state-")
	defer os.RemoveAll(dir)

	store, err := dirstore.Open(dir, nil)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	if err := store.PutGroupState(ctx, []byte("team"), []byte("serialized state")); err != nil {
		panic(err)
	}

	_, err = dirstore.Open(dir, nil)
	fmt.Println("in use:", errors.Is(err, dirstore.ErrInUse))

	store.Close()
	store, err = dirstore.Open(dir, nil)
	if err != nil {
		panic(err)
	}
	defer store.Close()
	state, _ := store.GroupState(ctx, []byte("team"))
	fmt.Printf("%s\n", state)
	// Output:
	// in use: true
	// serialized state
}
