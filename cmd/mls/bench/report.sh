#!/bin/sh
# Measures Arbor (mls bench) and ts-mls (ts-mls/bench.mjs) in one run on
# this machine, keeps the raw JSON lines in results/, and regenerates the
# part of BENCHMARKS.md between its "generated" markers from them with
# benchreport. Usage: cmd/mls/bench/report.sh [RUNS]   (default 5)
#        cmd/mls/bench/report.sh --regenerate   (tables from results/ only)
# ARBOR_ROOT names another checkout to measure Arbor from (default: this one).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
res="$here/results"
. "$here/lib.sh"
members=100,1000
if [ "${1:-}" = --regenerate ]; then
  runs=$(runs_of "$res/arbor.jsonl")
else
  runs=${1:-5}
  arbor_root=${ARBOR_ROOT:-$root}
  mkdir -p "$res"
  at=$(arbor_at "$arbor_root")
  {
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- machine: $(nproc) cores, $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
    echo "- $(go version), node $(node --version), ts-mls $(sed -n 's/.*"ts-mls": "\(.*\)".*/\1/p' "$here/ts-mls/package.json")"
    echo "- $at"
    echo "- $(load) before Arbor"
  } > "$res/machine.md"
  (cd "$arbor_root" && go run ./cmd/mls bench --members "$members" --shape both --runs "$runs") > "$res/arbor.jsonl"
  echo "- $(load) after Arbor, before ts-mls" >> "$res/machine.md"
  # ts-mls's full shape costs time quadratic in the group size to build
  # (see bench.mjs): measured at 100 members only.
  "$here/ts-mls/run.sh" --members "$members" --shape sparse --runs "$runs" > "$res/ts-mls.jsonl"
  "$here/ts-mls/run.sh" --members 100 --shape full --runs "$runs" >> "$res/ts-mls.jsonl"
  echo "- $(load) after ts-mls" >> "$res/machine.md"
fi
gen=$(mktemp)
trap 'rm -f "$gen"' EXIT
{
  echo "Commands (from the repository root): \`cmd/mls/bench/report.sh $runs\`, which runs"
  echo "\`go run ./cmd/mls bench --members $members --shape both --runs $runs\` and"
  echo "\`cmd/mls/bench/ts-mls/run.sh --members $members --shape sparse --runs $runs\` and"
  echo "\`cmd/mls/bench/ts-mls/run.sh --members 100 --shape full --runs $runs\`, then"
  echo "\`go run ./cmd/mls/bench/benchreport --arbor cmd/mls/bench/results/arbor.jsonl --ts cmd/mls/bench/results/ts-mls.jsonl\`."
  echo
  cat "$res/machine.md"
  echo
  (cd "$root" && go run ./cmd/mls/bench/benchreport --arbor "$res/arbor.jsonl" --ts "$res/ts-mls.jsonl")
} > "$gen"
replace_section "$root/BENCHMARKS.md" generated "$gen"
