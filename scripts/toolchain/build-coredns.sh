#!/usr/bin/env bash
# Build CoreDNS $COREDNS_VERSION for the lab's cluster DNS into OUT_DIR/coredns, from our wrapper
# module toolchain/coredns (its main.go imports coremain and only the plugins of K3s's Corefile;
# `go install github.com/coredns/coredns@v...` would compile every plugin's cloud SDK: ~7 min cold
# on two cores). Its go.mod/go.sum are committed and used read-only: the dependency versions are
# pinned there, aligned with Argo CD's build so the Go build cache shares their packages
# (docs/adr/0008-images-without-a-registry.md has the measured times).
# Usage: build-coredns.sh OUT_DIR      (normally through `ensure.sh coredns` / `ensure.sh images`)
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
out="${1:?usage: build-coredns.sh OUT_DIR}"
src="$PLATFORM_ROOT/toolchain/coredns"
# The wrapper must build the pinned version (versions.env is the pin; go.mod restates it for Go).
want="github.com/coredns/coredns v$COREDNS_VERSION"
grep -qE "^[[:space:]]*(require[[:space:]]+)?$want\$" "$src/go.mod" \
  || die "toolchain/coredns/go.mod does not require $want (COREDNS_VERSION in toolchain/versions.env): update it with go get github.com/coredns/coredns@v$COREDNS_VERSION"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
log "coredns $COREDNS_VERSION: go build (toolchain/coredns)"
# Reproducible (no paths, no build id), like the images' other binaries.
(cd "$src" && with_heartbeat "go build coredns" nice -n 10 go build -trimpath -ldflags "-s -w -buildid=" -o "$out/coredns" .)
"$out/coredns" -version | grep -q "CoreDNS-$COREDNS_VERSION" || die "$out/coredns does not report CoreDNS-$COREDNS_VERSION"
# The registered plugins: ours, plus the few our plugins import themselves (metadata, transfer, ...).
log "coredns plugins: $("$out/coredns" -plugins | grep -v '^$' | tr '\n' ' ')"
