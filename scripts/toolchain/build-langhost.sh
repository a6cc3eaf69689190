#!/usr/bin/env bash
# Build our own Node.js language host (toolchain/langhost) against the pinned sdk/v3.
# Usage: build-langhost.sh OUT_DIR
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
out="${1:?usage: build-langhost.sh OUT_DIR}"
cd "$PLATFORM_ROOT/toolchain/langhost"
with_heartbeat "go build pulumi-language-nodejs" go build -trimpath -mod=readonly \
  -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_LANGUAGE_NODEJS_VERSION" \
  -o "$out/pulumi-language-nodejs" .
