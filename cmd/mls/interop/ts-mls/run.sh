#!/bin/sh
# Builds the mls tool, installs ts-mls (npm) and runs interop.mjs.
# Usage: run.sh [SUITE...]   (default: the suites that interoperate; see interop.mjs)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd "$root" && go build -o "$out/mls" ./cmd/mls)
(cd "$here" && npm install --no-audit --no-fund --silent)
node "$here/interop.mjs" "$out/mls" "$@"
