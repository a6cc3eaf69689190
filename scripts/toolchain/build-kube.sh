#!/usr/bin/env bash
# Build the lab cluster's Kubernetes binaries at $KUBERNETES_VERSION from the Go module proxy
# into OUT_DIR: the control plane (kube-apiserver, kube-controller-manager, kube-scheduler) and
# the node (kubelet, kube-proxy). K3s itself cannot be built here (docs/adr/0003).
# k8s.io/kubernetes replaces every staging module with ./staging/..., so `go install` refuses it:
# a throwaway wrapper module requires k8s.io/kubernetes and replaces each staging module (the list
# is read from k8s.io/kubernetes's own go.mod) with its published k8s.io/NAME v0.MINOR.PATCH, and
# copies its godebug line. Every command is built by one `go build`, so the packages they share
# compile once (kubelet alone is ~6 min cold on 2 cores; the others add little after it).
# Usage: build-kube.sh OUT_DIR
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
out="${1:?usage: build-kube.sh OUT_DIR}"
v="v$KUBERNETES_VERSION"                 # v1.36.3
staging_v="v0.${KUBERNETES_VERSION#*.}"   # v0.36.3
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"
export GOTOOLCHAIN=local CGO_ENABLED=0   # upstream builds its server binaries static (CGO off)

# The upstream go.mod: from the module cache if present, else from the proxy via `go mod download`.
upstream_mod="$(go mod download -json "k8s.io/kubernetes@$v" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
[ -f "$upstream_mod" ] || die "could not download k8s.io/kubernetes@$v's go.mod"
go_line="$(grep -m1 '^go ' "$upstream_mod")"
godebug="$(grep '^godebug' "$upstream_mod" || true)"
staging="$(sed -n 's#^[[:space:]]*\(k8s.io/[^ ]*\) => ./staging/src/.*#\1#p' "$upstream_mod")"
[ -n "$staging" ] || die "found no staging replace directives in k8s.io/kubernetes@$v's go.mod"
{
  echo "module platform.invalid/toolchain/kube"
  echo
  echo "$go_line"
  echo
  [ -z "$godebug" ] || { echo "$godebug"; echo; }
  echo "require k8s.io/kubernetes $v"
  echo
  echo "replace ("
  for m in $staging; do printf '\t%s => %s %s\n' "$m" "$m" "$staging_v"; done
  echo ")"
} > go.mod
log "wrapper: $(echo "$staging" | wc -w) staging modules replaced with $staging_v; $go_line; ${godebug:-no godebug}"

pkgs=(k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
      k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy)
with_heartbeat "go get k8s.io/kubernetes (module download)" go get "${pkgs[@]/%/@$v}"

# The version the binaries report (upstream's hack/lib/version.sh sets the same variables).
build_date="$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%dT%H:%M:%SZ)"
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=$v -X $p.gitMajor=${KUBERNETES_VERSION%%.*}"
  ldflags+=" -X $p.gitMinor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)"
  ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=$build_date"
done
log "compiling ${pkgs[*]##*/} $v (one big compile: many minutes on 2 cores)"
with_heartbeat "go build ${pkgs[*]##*/}" nice -n 19 go build -trimpath \
  -ldflags "$ldflags" -o "$out/" "${pkgs[@]}"
