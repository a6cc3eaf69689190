#!/usr/bin/env bash
# Build the Pulumi CLI at $PULUMI_VERSION from the Go module proxy into the tool cache.
# pkg/v3 has replace directives, so `go install pkg@version` refuses it: we build it from a
# throwaway wrapper module that requires pkg/v3 and sdk/v3 at the same tag and copies the
# non-directory replace (clipboard). Usage: build-pulumi-cli.sh OUT_DIR
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
out="${1:?usage: build-pulumi-cli.sh OUT_DIR}"
v="v$PULUMI_VERSION"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"
cat > go.mod <<MOD
module platform.invalid/toolchain/pulumi-cli

go 1.25.11

require (
	github.com/pulumi/pulumi/pkg/v3 $v
	github.com/pulumi/pulumi/sdk/v3 $v
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
MOD
log "resolving github.com/pulumi/pulumi/pkg/v3@$v"
with_heartbeat "go get pkg/v3 (module download)" go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@$v"
log "compiling the Pulumi CLI $v (a big compile: several minutes on 2 cores)"
with_heartbeat "go build pulumi" go build -trimpath \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$v" \
  -o "$out/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
