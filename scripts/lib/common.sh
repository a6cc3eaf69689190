# Shared shell helpers for the operator scripts. Source it; it defines functions only
# (plus the repository root and the pinned versions), and changes nothing on the machine.
# shellcheck shell=bash

PLATFORM_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PLATFORM_ROOT
# shellcheck source=../../toolchain/versions.env
set -a; . "$PLATFORM_ROOT/toolchain/versions.env"; set +a

# Every built tool lives here, keyed by name and version, outside the repository so that
# clones and CI runs on the same machine share it.
TOOLS_CACHE="${PLATFORM_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/platform-tools}"
export TOOLS_CACHE

log()  { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die()  { printf 'error: %s\n' "$*" >&2; exit 1; }

# Run a long command, printing a heartbeat every 30 s so that CI logs show progress.
with_heartbeat() {
  local label="$1"; shift
  local start; start=$(date +%s)
  ( while sleep 30; do log "  ... $label still running ($(( $(date +%s) - start ))s)"; done ) &
  local ticker=$!
  local rc=0
  "$@" || rc=$?
  kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null || true
  log "  $label took $(( $(date +%s) - start ))s (exit $rc)"
  return "$rc"
}

# Where a built tool of this name and version lives.
tool_dir() { printf '%s/%s-%s' "$TOOLS_CACHE" "$1" "$2"; }

# The PATH entries for every pinned tool (those not built yet are simply absent).
tools_path() {
  printf '%s:%s\n' "$(tool_dir pulumi "$PULUMI_VERSION")" "$(tool_dir sops "$SOPS_VERSION")"
}

# Our language host is built from source in the repository: key its cache entry by that source.
langhost_source_hash() {
  cat "$PLATFORM_ROOT"/toolchain/langhost/go.mod "$PLATFORM_ROOT"/toolchain/langhost/go.sum \
    "$PLATFORM_ROOT"/toolchain/langhost/*.go | sha256sum | cut -c1-12
}

# CoreDNS is built from our wrapper module (toolchain/coredns: its plugin list and dependency pins):
# key its cache entry by the pinned version and that module, like the language host.
coredns_key() {
  printf '%s-%s' "$COREDNS_VERSION" "$(cat "$PLATFORM_ROOT"/toolchain/coredns/go.mod "$PLATFORM_ROOT"/toolchain/coredns/go.sum     "$PLATFORM_ROOT"/toolchain/coredns/*.go "$PLATFORM_ROOT"/scripts/toolchain/build-coredns.sh | sha256sum | cut -c1-12)"
}

# The Kubernetes provider plugin is built from our wrapper module (toolchain/kubernetes-provider): key
# its cache entry by the version label and that module (like CoreDNS).
kubernetes_provider_key() {
  printf '%s-%s' "$KUBERNETES_PROVIDER_VERSION" "$(printf '%s\n' "$KUBERNETES_PROVIDER_MODULE_VERSION" | cat - "$PLATFORM_ROOT"/toolchain/kubernetes-provider/go.mod \
    "$PLATFORM_ROOT"/toolchain/kubernetes-provider/go.sum "$PLATFORM_ROOT"/toolchain/kubernetes-provider/main.go \
    "$PLATFORM_ROOT"/scripts/toolchain/build-kubernetes-provider.sh | sha256sum | cut -c1-12)"
}

# Argo CD's images (build-argocd-images.sh: a debootstrap root filesystem plus the argocd binary)
# are an entry of their own, so an edit of the greeter does not re-run debootstrap: key it by the
# Argo CD version, the image names, the Debian suite and the scripts that build it.
argocd_images_key() {
  printf '%s-%s' "$ARGOCD_VERSION" "$( { grep -E '^ARGOCD_(IMAGE|REDIS_IMAGE)=' "$PLATFORM_ROOT/toolchain/versions.env"
    grep -E '^LAB_DEBIAN_SUITE=' "$PLATFORM_ROOT/scripts/lab/lab.env"
    cat "$PLATFORM_ROOT"/scripts/toolchain/build-argocd-images.sh "$PLATFORM_ROOT"/scripts/toolchain/oci-image.py; } | sha256sum | cut -c1-12)"
}

# The lab's images (scripts/toolchain/build-images.sh) are built from our own sources by two
# compilers: key their cache entry by the image pins, those sources and the compilers' versions.
images_source_hash() {
  local f
  {
    grep -E '^(PAUSE|GREETER|COREDNS)_' "$PLATFORM_ROOT/toolchain/versions.env"
    # The CoreDNS binary comes from its own cache entry (ensure.sh coredns), keyed by its sources.
    printf 'coredns %s\n' "$(coredns_key)"
    printf 'argocd-images %s\n' "$(argocd_images_key)"
    for f in "$PLATFORM_ROOT"/toolchain/images/pause/pause.c \
             "$PLATFORM_ROOT"/scripts/toolchain/build-images.sh "$PLATFORM_ROOT"/scripts/toolchain/oci-image.py \
             "$PLATFORM_ROOT"/apps/greeter/go.mod "$PLATFORM_ROOT"/apps/greeter/go.sum \
             $(find "$PLATFORM_ROOT/apps/greeter" -maxdepth 1 -name '*.go' ! -name '*_test.go' | LC_ALL=C sort); do
      printf '== %s\n' "${f#"$PLATFORM_ROOT"/}"; cat "$f"
    done
    go version 2>/dev/null || echo "no go"
    gcc --version 2>/dev/null | head -1 || echo "no gcc"
  } | sha256sum | cut -c1-12
}
# The version part of the images' cache entry, and the entry itself (what the lab imports).
images_key() { printf 'pause%s-greeter%s-coredns%s-%s' "$PAUSE_VERSION" "$GREETER_VERSION" "$COREDNS_VERSION" "$(images_source_hash)"; }
images_dir() { tool_dir images "$(images_key)"; }
