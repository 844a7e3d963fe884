#!/bin/sh
# Installs ts-mls (npm, versions pinned by package-lock.json) and runs
# bench.mjs with the given arguments, e.g.
#   run.sh --members 100,1000 --runs 5
set -eu
here=$(cd "$(dirname "$0")" && pwd)
(cd "$here" && npm ci --no-audit --no-fund --silent >&2)
exec node "$here/bench.mjs" "$@"
