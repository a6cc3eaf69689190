#!/usr/bin/env bash
# Build a Go main package that has no replace directives with `go install pkg@version`.
# Usage: build-go-install.sh PACKAGE VERSION OUT_DIR
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
pkg="${1:?package}"; version="${2:?version}"; out="${3:?out dir}"
log "go install $pkg@$version"
GOBIN="$out" with_heartbeat "go install $(basename "$pkg")" \
  go install -trimpath -ldflags "-s -w" "$pkg@$version"
