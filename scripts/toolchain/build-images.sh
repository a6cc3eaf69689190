#!/usr/bin/env bash
# Build the lab's container images from local inputs only (no registry is reachable here): the
# sandbox image (pause), the sample workload (greeter), cluster DNS (CoreDNS) and Argo CD's own
# two (build-argocd-images.sh, their own cache entry), each a
# single-layer OCI image archive named as prod names it in a registry (toolchain/versions.env).
# Same inputs, same digests. See docs/adr/0008-images-without-a-registry.md.
# Usage: build-images.sh OUT_DIR
#   writes OUT_DIR/<ref with / and : as _>.oci.tar (import: ctr -n k8s.io images import --all-platforms)
#   and OUT_DIR/images.json (ref -> manifest digest -> file)
# Normally run through `ensure.sh images`, which caches OUT_DIR by versions and source hash.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
out="${1:?usage: build-images.sh OUT_DIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
oci="$PLATFORM_ROOT/scripts/toolchain/oci-image.py"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
# Reproducible binaries: no paths, no build id, no symbol table.
go_ldflags="-s -w -buildid="

command -v gcc >/dev/null 2>&1 || die "no gcc: the pause image is a static C program (apt-get install gcc libc6-dev)"
command -v python3 >/dev/null 2>&1 || die "no python3 (the OCI layout is written by $oci)"

# Each ref's tag must be the version it is built at (versions.env holds both as literals).
check_tag() { # check_tag VAR_OF_REF EXPECTED_TAG
  local ref="${!1}"
  [ "${ref##*:}" = "$2" ] || die "toolchain/versions.env: $1=$ref, but its tag should be $2"
}
check_tag PAUSE_IMAGE "$PAUSE_VERSION"
check_tag GREETER_IMAGE "$GREETER_VERSION"
check_tag COREDNS_IMAGE "$COREDNS_VERSION"
# CoreDNS is compiled once into a cache entry of its own (build-coredns.sh, keyed by its wrapper
# module), not here: ensure it (a no-op when cached), then package that binary.
bash "$(dirname "$0")/ensure.sh" coredns >/dev/null
coredns_bin="$(tool_dir coredns "$(coredns_key)")/coredns"
[ -x "$coredns_bin" ] || die "$coredns_bin is missing: bash scripts/toolchain/ensure.sh coredns"

# Argo CD's images: their own cache entry (build-argocd-images.sh); copied in and listed here.
bash "$(dirname "$0")/ensure.sh" argocd-images >/dev/null
argocd_images="$(tool_dir argocd-images "$(argocd_images_key)")"
[ -s "$argocd_images/built.jsonl" ] || die "$argocd_images/built.jsonl is missing: bash scripts/toolchain/ensure.sh argocd-images"

work="$(mktemp -d "${TMPDIR:-/tmp}/build-images-XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/gobin"

log "pause $PAUSE_VERSION: gcc -static"
nice -n 10 gcc -static -O2 -Wall -Wextra -Werror -DPAUSE_VERSION="\"$PAUSE_VERSION\"" \
  -o "$work/pause" "$PLATFORM_ROOT/toolchain/images/pause/pause.c"
strip "$work/pause"

log "greeter $GREETER_VERSION: go build (apps/greeter)"
(cd "$PLATFORM_ROOT/apps/greeter" && nice -n 10 go build -trimpath \
  -ldflags "$go_ldflags -X main.version=$GREETER_VERSION" -o "$work/greeter" .)

safe_name() { printf '%s' "$1" | tr '/:@' '___'; }
image() { # image REF ARGS... : one archive; prints the helper's JSON line
  local ref="$1"; shift
  nice -n 10 python3 "$oci" build --ref "$ref" --out "$out/$(safe_name "$ref").oci.tar" "$@"
}
{
  # Upstream's pause image runs as 65535 (nobody) too.
  image "$PAUSE_IMAGE" --entrypoint /pause --user 65535:65535 --file "$work/pause=/pause:0755" \
    --label "org.opencontainers.image.source=toolchain/images/pause/pause.c"
  image "$GREETER_IMAGE" --entrypoint /greeter --user 65532:65532 --expose 8080/tcp \
    --file "$work/greeter=/greeter:0755" --label "org.opencontainers.image.source=apps/greeter" \
    --label "org.opencontainers.image.version=$GREETER_VERSION"
  # As upstream's image (distroless nonroot, EXPOSE 53 53/udp). Upstream's binary also carries the
  # file capability cap_net_bind_service; ours cannot (no xattrs here), so the lab's Deployment
  # lowers the pod's net.ipv4.ip_unprivileged_port_start instead (roles/k3s coredns.yaml.j2).
  image "$COREDNS_IMAGE" --entrypoint /coredns --user 65532:65532 --expose 53/tcp --expose 53/udp \
    --file "$coredns_bin=/coredns:0755" \
    --label "org.opencontainers.image.source=github.com/coredns/coredns@v$COREDNS_VERSION (toolchain/coredns)" \
    --label "org.opencontainers.image.version=$COREDNS_VERSION"
  cp "$argocd_images"/*.oci.tar "$out/"
  cat "$argocd_images/built.jsonl"
} > "$work/built.jsonl"
python3 "$oci" list "$out" < "$work/built.jsonl"
python3 "$oci" verify "$out"/*.oci.tar >&2
log "images in $out:"
sed 's/^/  /' "$work/built.jsonl" >&2
