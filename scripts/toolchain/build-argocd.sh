#!/usr/bin/env bash
# Build the Argo CD multi-call binary at $ARGOCD_VERSION from the Go module proxy into OUT_DIR,
# and copy the release's install manifests and CRDs (carried by the same module) next to it:
#   OUT_DIR/argocd                         one binary; its role comes from argv[0] or
#                                          ARGOCD_BINARY_NAME (argocd-application-controller,
#                                          argocd-repo-server, argocd, ...)
#   OUT_DIR/bin/argocd-<role> -> ../argocd, git-verify-wrapper.sh, gpg-wrapper.sh (PATH for host runs)
#   OUT_DIR/manifests/{install,core-install,namespace-install}.yaml, ha/install.yaml, crds/*.yaml
#   OUT_DIR/BUILDINFO                      the exact module versions that went in
# argo-cd/v3 replaces gitops-engine with ./gitops-engine (a nested module, not in its zip), so
# `go install` refuses it: a throwaway wrapper requires argo-cd/v3, copies every non-directory
# replace of its go.mod (the k8s.io/* pins etc.) and points gitops-engine at the published
# pseudo-version $ARGOCD_GITOPS_ENGINE_VERSION (see versions.env and docs/adr/0003).
# Usage: build-argocd.sh OUT_DIR
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
out="${1:?usage: build-argocd.sh OUT_DIR}"
v="v$ARGOCD_VERSION"
mod=github.com/argoproj/argo-cd/v3
ge=github.com/argoproj/argo-cd/gitops-engine
ge_v="${ARGOCD_GITOPS_ENGINE_VERSION:?ARGOCD_GITOPS_ENGINE_VERSION is not set in versions.env}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cd "$work"
export GOTOOLCHAIN=local CGO_ENABLED=0   # upstream's Makefile builds with CGO off on Linux

log "downloading $mod@$v"
with_heartbeat "go mod download $mod@$v" go mod download -json "$mod@$v" > dl.json
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' dl.json "$1"; }
upstream_dir="$(field Dir)"; upstream_mod="$(field GoMod)"

go_line="$(grep -m1 '^go ' "$upstream_mod")"
{ echo "module platform.invalid/toolchain/argocd"; echo; echo "$go_line"; echo
  grep '^godebug' "$upstream_mod" || true
  echo "require $mod $v"; } > go.mod
# Copy every replace that points at a module version; directory replaces are the nested modules.
go mod edit -json "$upstream_mod" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    old, new = r["Old"], r["New"]
    if not new.get("Version"):
        continue                      # ./gitops-engine and the like: handled below
    o = old["Path"] + ("@" + old["Version"] if old.get("Version") else "")
    print("-replace=%s=%s@%s" % (o, new["Path"], new["Version"]))
' > replaces.txt
xargs go mod edit < replaces.txt
go mod edit -replace="$ge=$ge@$ge_v"
log "wrapper: $(wc -l < replaces.txt) replaces copied from $mod@$v's go.mod; $ge => $ge_v; $go_line"

with_heartbeat "go get $mod (module download)" go get "$mod/cmd@$v"

p=github.com/argoproj/argo-cd/v3/common
kubectl_v="$(go list -m k8s.io/client-go | awk '{print $NF}')"
build_date="$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%dT%H:%M:%SZ)"
# `argocd version` says v3.5.1 only for the exact release tree; with another gitops-engine than the
# tag's own it says v3.5.1+<commit>.dirty, and ExtraBuildInfo names the gitops-engine used.
tree=dirty; [ "${ge_v##*-}" != "${ARGOCD_GIT_COMMIT:0:12}" ] || tree=clean
ldflags="-s -w -X $p.version=$ARGOCD_VERSION -X $p.gitTag=$v -X $p.gitTreeState=$tree"
ldflags+=" -X $p.gitCommit=${ARGOCD_GIT_COMMIT:-}"
ldflags+=" -X $p.buildDate=$build_date -X $p.kubectlVersion=$kubectl_v"
ldflags+=" -X $p.extraBuildInfo=gitops-engine@$ge_v"
log "compiling argocd $v (a big compile: many minutes on 2 cores)"
with_heartbeat "go build argocd" nice -n 19 go build -trimpath -ldflags "$ldflags" \
  -o "$out/argocd" "$mod/cmd"

# The release's manifests, straight from the module (air-gapped install material).
mkdir -p "$out/manifests/crds" "$out/manifests/ha"
for f in install.yaml core-install.yaml namespace-install.yaml ha/install.yaml crds/application-crd.yaml \
         crds/applicationset-crd.yaml crds/appproject-crd.yaml crds/kustomization.yaml; do
  install -m 0644 "$upstream_dir/manifests/$f" "$out/manifests/$f"
done
# The image's /usr/local/bin, for host processes (put OUT_DIR/bin first on PATH): the role
# symlinks, and the helper scripts the repo-server execs by name (v3.5.x runs
# git-verify-wrapper.sh on every manifest generation, whatever ARGOCD_GPG_ENABLED says).
mkdir -p "$out/bin"
for role in argocd argocd-application-controller argocd-repo-server argocd-server argocd-cmp-server \
            argocd-applicationset-controller argocd-notifications argocd-commit-server \
            argocd-git-ask-pass argocd-k8s-auth argocd-dex; do
  ln -s ../argocd "$out/bin/$role"
done
install -m 0755 "$upstream_dir/hack/git-verify-wrapper.sh" "$upstream_dir/hack/gpg-wrapper.sh" "$out/bin/"
{ echo "$mod $v"; echo "gitops-engine $ge_v"; echo "k8s.io/client-go $kubectl_v"; go version
  echo "built $build_date"; } > "$out/BUILDINFO"
log "manifests copied to $out/manifests"
