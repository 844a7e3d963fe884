#!/usr/bin/env bash
# Runs the root package's runnable Examples on WebAssembly: js/wasm under
# Node.js (Go's go_js_wasm_exec) and in headless Chromium (Debian's
# chromium, driven by playwright-core from npm, both pinned), and wasip1
# under wazero (from the Go module proxy, pinned). Called by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/../.."

CHROMIUM_VERSION=156.0.8078.129-1~deb12u1
WAZERO_VERSION=v1.12.0

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
examples=(-test.run '^Example' -test.v)

echo "-- js/wasm under Node.js $(node --version)"
GOOS=js GOARCH=wasm go test -c -o "$out/mls-js.wasm" .
"$(go env GOROOT)/lib/wasm/go_js_wasm_exec" "$out/mls-js.wasm" "${examples[@]}" | tee "$out/node.log" | grep -c '^--- PASS: Example' | sed 's/^/examples passed: /'

echo "-- js/wasm in headless Chromium"
if [ ! -x /usr/bin/chromium ]; then
	. .ci/apt.sh
	apt_install chromium "$CHROMIUM_VERSION"
fi
(cd .ci/wasm && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --silent; })
node .ci/wasm/browser.mjs "$out/mls-js.wasm" "${examples[@]}" | tee "$out/chromium.log" | grep -c '^--- PASS: Example' | sed 's/^/examples passed: /'

echo "-- wasip1 under wazero $WAZERO_VERSION"
if ! command -v wazero >/dev/null 2>&1 || ! wazero version 2>/dev/null | grep -q "${WAZERO_VERSION#v}"; then
	go install "github.com/tetratelabs/wazero/cmd/wazero@$WAZERO_VERSION"
fi
GOOS=wasip1 GOARCH=wasm go test -c -o "$out/mls-wasip1.wasm" .
mkdir "$out/tmp"
wazero run -mount "$out/tmp:/tmp" -cachedir "$out/wazero-cache" "$out/mls-wasip1.wasm" "${examples[@]}" | tee "$out/wasip1.log" | grep -c '^--- PASS: Example' | sed 's/^/examples passed: /'

# Each run must have run every Example of the package, and passed.
want=$(grep -h '^func Example' *_test.go | wc -l)
for log in node chromium wasip1; do
	if ! grep -q '^PASS$' "$out/$log.log" || [ "$(grep -c '^--- PASS: Example' "$out/$log.log")" != "$want" ]; then
		echo "$log: not every one of the $want Examples passed:"; cat "$out/$log.log"; exit 1
	fi
done
