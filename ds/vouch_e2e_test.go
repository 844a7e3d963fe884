package ds_test

import (
	"slices"
	"testing"
)

// TestDeviceVouchingCLI registers a second device of alice through the mls
// tool, vouched for by her first (--vouch-state); a device of the same user
// name without a voucher is refused. bob's invitation of alice then adds
// both devices, and both read the group.
func TestDeviceVouchingCLI(t *testing.T) {
	c := newCLI(t)
	c.join("alice", "bob")
	c.fails("--vouch-state", "ds", "register", "--state", "mallory", "--server", c.url, "--user", "alice")
	c.fails(`registered with`, "ds", "register", "--state", "mallory", "--server", c.url, "--user", "alice", "--vouch-state", "bob")
	c.run("ds", "register", "--state", "alice-phone", "--server", c.url, "--user", "alice", "--vouch-state", "alice")
	c.run("ds", "publish", "--state", "alice-phone", "--count", "2")

	c.run("ds", "create", "--state", "bob", "--group", "team")
	var r dsReport
	c.runJSON(&r, "ds", "invite", "--state", "bob", "--group", "team", "alice")
	if !slices.Equal(r.Added, []string{"alice", "alice"}) {
		t.Fatalf("bob's invitation of alice added %v, want both of her devices", r.Added)
	}
	c.run("ds", "send", "--state", "bob", "--group", "team", "hello")
	for _, dev := range []string{"alice", "alice-phone"} {
		var texts []string
		for _, e := range c.sync(dev) {
			if e.Kind == "message" {
				texts = append(texts, e.Text)
			}
		}
		if !slices.Equal(texts, []string{"hello"}) {
			t.Fatalf("%s read %v", dev, texts)
		}
	}
	c.agree("team", "alice", "alice-phone", "bob")
	// The refused state folder never got registered.
	c.fails("not registered", "ds", "publish", "--state", "mallory")
}
