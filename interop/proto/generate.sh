#!/usr/bin/env bash
# Regenerates the Go code for mls_client.proto. The generated files are
# committed, so building the interop client needs no protoc; run this only
# after editing the .proto.
#
# The committed files were made with:
#   protoc             libprotoc 3.21.12  (Debian/Ubuntu: apt-get install protobuf-compiler)
#   protoc-gen-go      v1.36.12           (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12)
#   protoc-gen-go-grpc 1.6.2              (go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2)
#
# Other versions work but change the version comments at the top of the
# generated files, and may change more; regenerate with these to keep diffs
# small.
#
# require_unimplemented_servers=false: the server must implement every RPC
# itself, so a method added to the .proto breaks the build instead of being
# answered "Unimplemented" by an embedded default without anyone noticing.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$(go env GOPATH)/bin:$PATH"

for tool in protoc protoc-gen-go protoc-gen-go-grpc; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "generate.sh: $tool not found; see the versions at the top of this script" >&2
		exit 1
	fi
done

protoc --proto_path=. \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	--go-grpc_opt=require_unimplemented_servers=false \
	mls_client.proto
gofmt -l . | (! grep .) || { echo "generate.sh: generated code is not gofmt-clean" >&2; exit 1; }
