#!/usr/bin/env bash
# Build kine (an etcd v3 API over sqlite/SQL, what K3s itself embeds) at $KINE_VERSION with
# `go install` (no replace directives). CGO off: kine then uses the pure-Go modernc.org/sqlite.
# Usage: build-kine.sh OUT_DIR
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
out="${1:?usage: build-kine.sh OUT_DIR}"
v="v$KINE_VERSION"
export GOTOOLCHAIN=local CGO_ENABLED=0
log "go install github.com/k3s-io/kine@$v (CGO_ENABLED=0, pure-Go sqlite)"
GOBIN="$out" with_heartbeat "go install kine" nice -n 19 go install -trimpath \
  -ldflags "-s -w -X github.com/k3s-io/kine/pkg/version.Version=$v" "github.com/k3s-io/kine@$v"
