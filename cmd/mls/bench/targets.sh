#!/bin/sh
# Measures the performance targets at 50,000 members (suite 1: every
# operation in the full shape, and the sparse-shape commit) with mls bench,
# keeps the JSON lines in results/target50k.jsonl, and regenerates the part
# of BENCHMARKS.md and of README.md between their "targets" markers with
# benchreport --targets.
# Usage: cmd/mls/bench/targets.sh [RUNS]   (default 3)
#        cmd/mls/bench/targets.sh --regenerate   (tables from results/ only)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
res="$here/results"
. "$here/lib.sh"
if [ "${1:-}" = --regenerate ]; then
  runs=$(runs_of "$res/target50k.jsonl")
else
  runs=${1:-3}
  mkdir -p "$res"
  at=$(arbor_at "$root")
  {
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(go version)"
    echo "- $at"
    echo "- $(load) before"
  } > "$res/target50k-machine.md"
  (cd "$root" && go build -o "$res/.mls" ./cmd/mls)
  "$res/.mls" bench --members 50000 --shape full --runs "$runs" > "$res/target50k.jsonl"
  "$res/.mls" bench --members 50000 --shape sparse --ops commit --runs "$runs" >> "$res/target50k.jsonl"
  rm -f "$res/.mls"
  echo "- $(load) after" >> "$res/target50k-machine.md"
fi
gen=$(mktemp)
trap 'rm -f "$gen"' EXIT
{
  echo "Command: \`cmd/mls/bench/targets.sh $runs\`, which runs"
  echo "\`mls bench --members 50000 --shape full --runs $runs\` and"
  echo "\`mls bench --members 50000 --shape sparse --ops commit --runs $runs\`, then"
  echo "\`go run ./cmd/mls/bench/benchreport --targets cmd/mls/bench/results/target50k.jsonl\`."
  echo
  cat "$res/target50k-machine.md"
  echo
  (cd "$root" && go run ./cmd/mls/bench/benchreport --targets "$res/target50k.jsonl")
} > "$gen"
for doc in "$root/BENCHMARKS.md" "$root/README.md"; do
  replace_section "$doc" targets "$gen"
done
