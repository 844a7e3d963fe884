#!/usr/bin/env bash
# Runs every fuzz target of the three modules (root, interop, ds) for
# FUZZTIME each (default 3s), from its seeds: the f.Add seeds (many read
# from the official test vectors) and the committed corpus in each
# package's testdata/fuzz/FuzzX/ (regenerate it with
# `ARBOR_WRITE_CORPUS=1 go test -run TestFuzzCorpus .`).
#
#   .ci/fuzz.sh                      # every target, 3 s each (CI)
#   FUZZTIME=5m .ci/fuzz.sh          # a longer run
#   FUZZTIME=1m .ci/fuzz.sh FuzzLoadGroup FuzzWelcome   # some targets only
#
# `go test -fuzz` takes one target per invocation, so this loops. A
# failing input is written under the package's testdata/fuzz/ (commit it
# with the fix: it then runs in every go test); the script goes on with
# the other targets and exits 1 at the end, listing the failures.
# FUZZPARALLEL sets the fuzzing workers (default 2).
set -uo pipefail
cd "$(dirname "$0")/.."

fuzztime="${FUZZTIME:-3s}"
parallel="${FUZZPARALLEL:-2}"
only=("$@")
failed=()
count=0
start=$SECONDS

wanted() {
	[ ${#only[@]} -eq 0 ] && return 0
	local t
	for t in "${only[@]}"; do [ "$t" = "$1" ] && return 0; done
	return 1
}

# The targets, found in the sources (faster than go test -list, which
# builds every test binary): "MODULE PKG TARGET" per line, the module
# being the nested one (interop, ds) a file is under, else the root.
targets=$(git grep --untracked -n '^func Fuzz[A-Za-z0-9_]*(f \*testing.F)' -- '*_test.go' |
	sed -E 's#^(.*)/[^/]*_test.go:[0-9]+:func (Fuzz[A-Za-z0-9_]*).*#\1 \2#; s#^[^/ ]*_test.go:[0-9]+:func (Fuzz[A-Za-z0-9_]*).*#. \1#' |
	awk '{ dir = $1; mod = "."
		if (dir == "interop" || dir ~ /^interop\//) mod = "interop"
		if (dir == "ds" || dir ~ /^ds\//) mod = "ds"
		pkg = dir
		if (mod != ".") { pkg = substr(dir, length(mod) + 2); if (pkg == "") pkg = "." }
		if (pkg != ".") pkg = "./" pkg
		print mod, pkg, $2 }' | sort)

# go test -fuzz relinks the instrumented test binary for every target;
# build it once per package (go test -c -fuzz) and run it per target, in
# the package's folder (for testdata/), with go test's fuzz cache.
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
cache="$(go env GOCACHE)/fuzz"
built=""
fuzz_one() {
	(cd "$dir" && "$exe" -test.run='^$' -test.fuzz="^${target}\$" -test.fuzztime="$fuzztime" \
		-test.parallel="$parallel" -test.fuzzcachedir="$cache/$importpath" 2>&1)
}
while read -r mod pkg target; do
	[ -n "$target" ] || continue
	wanted "$target" || continue
	dir="$mod/$pkg"
	if [ "$built" != "$dir" ]; then
		built=$dir
		exe="$bin/$(echo "$dir" | tr -c 'A-Za-z0-9\n' '_').test"
		importpath=$(cd "$dir" && go list -f '{{.ImportPath}}' .)
		if ! (cd "$dir" && go test -c -fuzz=. -o "$exe" . >"$bin/build.log" 2>&1); then
			echo "FAIL  $dir: build"; sed 's/^/      /' "$bin/build.log"
			failed+=("$dir build"); exe=""
		fi
	fi
	[ -n "$exe" ] || continue
	count=$((count + 1))
	t0=$SECONDS
	note=""
	out=$(fuzz_one) && ok=1 || ok=0
	# On a starved machine Go's fuzzing coordinator can give up waiting
	# for a worker at the deadline ("context deadline exceeded") without
	# any failing input: that is no finding, so run the target once more.
	if [ $ok = 0 ] && ! grep -q 'Failing input written' <<<"$out" && grep -q 'context deadline exceeded' <<<"$out"; then
		note=", retried after a worker timeout"
		out=$(fuzz_one) && ok=1 || ok=0
	fi
	if [ $ok = 1 ]; then
		echo "ok    $importpath $target ($((SECONDS - t0))s$note)"
	else
		echo "FAIL  $importpath $target ($((SECONDS - t0))s)"
		echo "$out" | tail -20 | sed 's/^/      /'
		failed+=("$importpath $target")
	fi
done <<<"$targets"

echo "fuzzed $count targets for $fuzztime each in $((SECONDS - start))s"
if [ ${#only[@]} -gt 0 ] && [ "$count" -eq 0 ]; then
	echo "no fuzz target named ${only[*]}"; exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
	printf 'failed: %s\n' "${failed[@]}"
	exit 1
fi
