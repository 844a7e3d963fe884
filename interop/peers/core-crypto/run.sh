#!/bin/sh
# Live interop with Wire's core-crypto 10.3.0 (OpenMLS, wasm build in
# Node): installs the wrapper's packages (npm, versions pinned by
# package-lock.json, from the npm cache in ~/.npm when it has them) and
# plays every scenario with Arbor in suites 1, 2, 3, 5 and 7, both
# handshake wire formats and both roles (TestPeerCoreCrypto,
# interop/peer_corecrypto_test.go).
#
# Usage: run.sh [SCENARIO,...]
# RESULTS=FILE writes the JSON lines there (default: results.jsonl beside
# this script, which is committed).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)

# npm ci empties node_modules first: skip it while node_modules was
# installed from this very lock file.
stamp="$here/node_modules/.installed-lock"
if ! cmp -s "$here/package-lock.json" "$stamp" 2>/dev/null; then
	(cd "$here" && npm ci --no-audit --no-fund --prefer-offline --ignore-scripts --loglevel=error)
	cp "$here/package-lock.json" "$stamp"
fi

results=${RESULTS:-$here/results.jsonl}
: > "$results"
cd "$root/interop"
MLS_PEER_CORECRYPTO="$here" MLS_INTEROP_RESULTS="$results" MLS_PEER_SCENARIOS="${1:-}" \
	go test -count=1 -run '^TestPeerCoreCrypto$' .
