#!/bin/sh
# Measures how Arbor's costs grow with the group size (suite 1, full tree)
# with mls bench, keeps the JSON lines in results/growth.jsonl, draws them
# as results/growth.svg with benchplot, and regenerates the part of
# BENCHMARKS.md between its "growth" markers with benchreport --growth.
# Usage: cmd/mls/bench/growth.sh [RUNS]   (default 3)
#        cmd/mls/bench/growth.sh --regenerate   (table and plot from results/ only)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
res="$here/results"
. "$here/lib.sh"
members=1000,10000,50000,100000
if [ "${1:-}" = --regenerate ]; then
  runs=$(runs_of "$res/growth.jsonl")
else
  runs=${1:-3}
  mkdir -p "$res"
  at=$(arbor_at "$root")
  {
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(go version)"
    echo "- $at"
    echo "- $(load) before"
  } > "$res/growth-machine.md"
  (cd "$root" && go run ./cmd/mls bench --members "$members" --shape full --runs "$runs") > "$res/growth.jsonl"
  echo "- $(load) after" >> "$res/growth-machine.md"
fi
(cd "$root" && go run ./cmd/mls/bench/benchplot -o "$res/growth.svg" "$res/growth.jsonl")
gen=$(mktemp)
trap 'rm -f "$gen"' EXIT
{
  echo "Command: \`cmd/mls/bench/growth.sh $runs\`, which runs"
  echo "\`go run ./cmd/mls bench --members $members --shape full --runs $runs\` and then"
  echo "\`go run ./cmd/mls/bench/benchreport --growth cmd/mls/bench/results/growth.jsonl\` (the table) and"
  echo "\`go run ./cmd/mls/bench/benchplot -o cmd/mls/bench/results/growth.svg cmd/mls/bench/results/growth.jsonl\` (the plot)."
  echo
  cat "$res/growth-machine.md"
  echo
  echo "![Median time of each operation against the group size, log-log, with O(n) and O(log n) reference curves](cmd/mls/bench/results/growth.svg)"
  echo
  (cd "$root" && go run ./cmd/mls/bench/benchreport --growth "$res/growth.jsonl")
} > "$gen"
replace_section "$root/BENCHMARKS.md" growth "$gen"
