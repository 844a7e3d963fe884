#!/bin/sh
# Live interop with other implementations: installs the peers' MLSClient
# servers (npm, versions pinned by package-lock.json, packages from the npm
# cache in ~/.npm) and plays the scenarios against them with TestPeers
# (interop/peer_test.go), then writes the README's table from the results.
#
# Usage: run.sh [-full] [NAME]
#   -full  every scenario x suite x wire format x role (default: the ci
#          matrix, every scenario and every suite in each role)
#   NAME   play only the peers whose name contains NAME
# RESULTS=FILE keeps the JSON lines (default: a temporary file).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
matrix=ci
if [ "${1:-}" = "-full" ]; then matrix=full; shift; fi
only=${1:-}

# The peers' folders ("dir" in peers.json) that npm installs. npm ci starts
# from an empty node_modules, about 20 s even from the cache: skip it while
# node_modules was installed from this very lock file.
for name in $(sed -n 's/^ *"dir": *"\([^"]*\)".*/\1/p' "$here/peers.json" | sort -u); do
	dir="$here/$name"
	[ -f "$dir/package-lock.json" ] || continue
	stamp="$dir/node_modules/.installed-lock"
	if ! cmp -s "$dir/package-lock.json" "$stamp" 2>/dev/null; then
		(cd "$dir" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
		cp "$dir/package-lock.json" "$stamp"
	fi
done

results=${RESULTS:-$(mktemp)}
: > "$results"
status=0
(cd "$root/interop" && MLS_INTEROP_PEERS="$here/peers.json" MLS_INTEROP_RESULTS="$results" \
	MLS_INTEROP_MATRIX=$matrix MLS_INTEROP_ONLY=$only go test -count=1 -run '^TestPeers$' .) || status=$?
(cd "$root/interop" && go run ./cmd/peer-table -results "$results" -peers "$here/peers.json" -readme "$root/README.md")
if ! git -C "$root" diff --quiet -- README.md; then
	echo "run.sh: README.md's peer table changed with this run; commit it if the change is meant"
fi
[ -n "${RESULTS:-}" ] || rm -f "$results"
exit $status
