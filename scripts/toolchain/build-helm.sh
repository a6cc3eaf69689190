#!/usr/bin/env bash
# Build helm at $HELM_VERSION with `go install` (no replace directives), with the version
# ldflags of upstream's Makefile: without them `helm version` says "v3.21" and the default
# .Capabilities.KubeVersion of `helm template` is not the one of the client-go it was built with.
# Usage: build-helm.sh OUT_DIR
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
out="${1:?usage: build-helm.sh OUT_DIR}"
v="v$HELM_VERSION"; mod=helm.sh/helm/v3
export GOTOOLCHAIN=local CGO_ENABLED=0
gomod="$(go mod download -json "$mod@$v" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')"
client_go="$(awk '$1 == "k8s.io/client-go" {print $2; exit}' "$gomod")"   # v0.MAJOR.MINOR -> k8s 1.MAJOR
k8s_minor="$(echo "$client_go" | cut -d. -f2)"
[ -n "$k8s_minor" ] || die "could not read k8s.io/client-go's version from $mod@$v's go.mod"
ldflags="-s -w -X $mod/internal/version.version=$v -X $mod/internal/version.gitTreeState=clean"
for p in pkg/lint/rules pkg/chartutil; do
  ldflags+=" -X $mod/$p.k8sVersionMajor=1 -X $mod/$p.k8sVersionMinor=$k8s_minor"
done
log "go install $mod/cmd/helm@$v (Kubernetes 1.$k8s_minor capabilities, from client-go $client_go)"
GOBIN="$out" with_heartbeat "go install helm" nice -n 19 go install -trimpath -ldflags "$ldflags" "$mod/cmd/helm@$v"
