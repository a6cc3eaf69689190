#!/usr/bin/env bash
# Make sure every pinned tool is in the tool cache, building what is missing from the
# Go module proxy. Does nothing (in about a second) when all are present.
# Usage: ensure.sh [TOOL...]   TOOL in: pulumi langhost sops   (default: all of them)
#        ensure.sh cluster       the lab-cluster tools: kube (kube-apiserver, kube-controller-manager,
#                                kube-scheduler, kubelet, kube-proxy)
#                                kine argocd (binary + install manifests) helm   (see docs/adr/0003)
#        ensure.sh gitleaks      the secret scanner (scripts/security/scan-secrets.sh), not in the default list
#        ensure.sh images        the lab's OCI image archives (pause, greeter, CoreDNS; build-images.sh,
#                                docs/adr/0008), into $(images_dir) (scripts/lib/common.sh); not in the default list
#        ensure.sh argocd-images Argo CD's own images (build-argocd-images.sh); `images` ensures and packages them
#        ensure.sh coredns       CoreDNS for the images (build-coredns.sh, toolchain/coredns); `images` ensures it
#        ensure.sh kubernetes-provider  the Pulumi Kubernetes provider plugin (build-kubernetes-provider.sh,
#                                docs/adr/0015), linked into $PULUMI_HOME's plugin cache by lib/pulumiEnv.ts
#        ensure.sh actionlint    the workflow linter (scripts/test.sh static checks), not in the default list
# Prints, as its last line on stdout, the PATH entries to prepend (colon-separated).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
here="$(cd "$(dirname "$0")" && pwd)"

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(pulumi langhost sops)
# The lab-cluster tools are not in the default list: `ensure.sh cluster` (or name them one by one).
cluster_tools=(kube kine argocd helm)
expanded=()
for t in "${tools[@]}"; do
  if [ "$t" = cluster ]; then expanded+=("${cluster_tools[@]}"); else expanded+=("$t"); fi
done
tools=("${expanded[@]}")

need_go() {
  command -v go >/dev/null 2>&1 || die "cannot build $1: no 'go' on PATH (install Go >= 1.25 or put a $1 $2 on PATH)"
  # The Go module proxy is the only source we have; say so plainly when it cannot be reached.
  if ! go env GOPROXY | grep -q .; then die "cannot build $1: GOPROXY is empty"; fi
}

# build_into TOOL VERSION BINARY BUILDER...: run BUILDER with a temp output dir, then move it
# into place atomically, so an interrupted build never leaves a half tool in the cache.
# BINARY marks a complete entry: an executable, or a non-empty *.json manifest (the images).
entry_complete() { if [ "${1%.json}" != "$1" ]; then [ -s "$1" ]; else [ -x "$1" ]; fi; }
build_into() {
  local tool="$1" version="$2" binary="$3"; shift 3
  local dest; dest="$(tool_dir "$tool" "$version")"
  if entry_complete "$dest/$binary"; then log "$tool $version: cached"; return 0; fi
  need_go "$tool" "$version"
  log "$tool $version: building (not in $TOOLS_CACHE)"
  local tmp; tmp="$(mktemp -d "$TOOLS_CACHE/.build-$tool-XXXXXX")"
  local start; start=$(date +%s)
  if ! "$@" "$tmp"; then rm -rf "$tmp"; die "$tool $version: build failed (see the output above)"; fi
  entry_complete "$tmp/$binary" || { rm -rf "$tmp"; die "$tool $version: build produced no $binary"; }
  rm -rf "$dest"; mkdir -p "$(dirname "$dest")"; mv "$tmp" "$dest"
  log "$tool $version: built in $(( $(date +%s) - start ))s -> $dest"
}

mkdir -p "$TOOLS_CACHE"
for t in "${tools[@]}"; do
  case "$t" in
    pulumi)
      # An operator whose workstation already has the pinned CLI keeps it.
      if command -v pulumi >/dev/null 2>&1 && [ "$(pulumi version 2>/dev/null)" = "v$PULUMI_VERSION" ] \
         && [ "$(command -v pulumi)" != "$(tool_dir pulumi "$PULUMI_VERSION")/pulumi" ]; then
        log "pulumi $PULUMI_VERSION: using $(command -v pulumi) from PATH"
      else
        build_into pulumi "$PULUMI_VERSION" pulumi bash "$here/build-pulumi-cli.sh"
      fi ;;
    langhost)
      # Keyed by version and by the hash of our own source, so an edit to it rebuilds it.
      lh_version="$PULUMI_LANGUAGE_NODEJS_VERSION-$(langhost_source_hash)"
      build_into langhost "$lh_version" pulumi-language-nodejs bash "$here/build-langhost.sh"
      # The CLI looks for language hosts next to itself first: link ours there (quietly, no
      # "ambient plugin" warning), unless the operator brought their own CLI.
      cli_dir="$(tool_dir pulumi "$PULUMI_VERSION")"
      if [ -d "$cli_dir" ]; then
        # Only when they differ, and atomically (rename): several commands may run this at once.
        lh_target="$(tool_dir langhost "$lh_version")/pulumi-language-nodejs"
        if [ "$(readlink "$cli_dir/pulumi-language-nodejs" 2>/dev/null)" != "$lh_target" ]; then
          ln -sfn "$lh_target" "$cli_dir/.pulumi-language-nodejs.$$" && mv -fT "$cli_dir/.pulumi-language-nodejs.$$" "$cli_dir/pulumi-language-nodejs"
        fi
        shim="$PLATFORM_ROOT/toolchain/pulumi-resource-pulumi-nodejs"
        if ! cmp -s "$shim" "$cli_dir/pulumi-resource-pulumi-nodejs"; then
          install -m 0755 "$shim" "$cli_dir/.pulumi-resource-pulumi-nodejs.$$" && mv -f "$cli_dir/.pulumi-resource-pulumi-nodejs.$$" "$cli_dir/pulumi-resource-pulumi-nodejs"
        fi
      fi ;;
    sops)     build_into sops "$SOPS_VERSION" sops bash "$here/build-go-install.sh" github.com/getsops/sops/v3/cmd/sops "v$SOPS_VERSION" ;;
    actionlint) build_into actionlint "$ACTIONLINT_VERSION" actionlint bash "$here/build-go-install.sh" github.com/rhysd/actionlint/cmd/actionlint "v$ACTIONLINT_VERSION" ;;
    gitleaks) build_into gitleaks "$GITLEAKS_VERSION" gitleaks bash "$here/build-go-install.sh" github.com/zricethezav/gitleaks/v8 "v$GITLEAKS_VERSION" ;;
    # kubelet is the marker: a cache entry from before the node binaries were added is rebuilt
    # (the Go build cache keeps that rebuild to the node's own packages).
    kube)     build_into kube "$KUBERNETES_VERSION" kubelet bash "$here/build-kube.sh" ;;
    kine)     build_into kine "$KINE_VERSION" kine bash "$here/build-kine.sh" ;;
    argocd)
      # Keyed by version; a cache entry built against another gitops-engine pin is rebuilt.
      ad="$(tool_dir argocd "$ARGOCD_VERSION")"
      if [ -f "$ad/BUILDINFO" ] && ! grep -qx "gitops-engine $ARGOCD_GITOPS_ENGINE_VERSION" "$ad/BUILDINFO"; then
        log "argocd $ARGOCD_VERSION: cached build used another gitops-engine: rebuilding"; rm -rf "$ad"
      fi
      build_into argocd "$ARGOCD_VERSION" argocd bash "$here/build-argocd.sh" ;;
    helm)     build_into helm "$HELM_VERSION" helm bash "$here/build-helm.sh" ;;
    # Keyed by version and the hash of our wrapper module (like langhost).
    kubernetes-provider)
      build_into kubernetes "$(kubernetes_provider_key)" pulumi-resource-kubernetes bash "$here/build-kubernetes-provider.sh"
      # The engine finds a resource plugin (after Pulumi.yaml's `plugins:` and ambient ones on PATH,
      # which it warns about) in $PULUMI_HOME/plugins/resource-NAME-vVERSION/ at the exact version
      # the SDK asks for (@pulumi/kubernetes's, pinned to the same value). Link ours there: a real
      # directory (the engine skips symlinked ones) holding a link to the cached binary, replaced
      # atomically; with automatic acquisition off, a missing plugin fails instead of downloading.
      kp_dir="${PULUMI_HOME:-$HOME/.pulumi}/plugins/resource-kubernetes-v$KUBERNETES_PROVIDER_VERSION"
      kp_target="$(tool_dir kubernetes "$(kubernetes_provider_key)")/pulumi-resource-kubernetes"
      if [ "$(readlink "$kp_dir/pulumi-resource-kubernetes" 2>/dev/null)" != "$kp_target" ]; then
        mkdir -p "$kp_dir"
        ln -sfn "$kp_target" "$kp_dir/.pulumi-resource-kubernetes.$$" && mv -fT "$kp_dir/.pulumi-resource-kubernetes.$$" "$kp_dir/pulumi-resource-kubernetes"
        rm -f "$kp_dir.partial"
        log "kubernetes provider $KUBERNETES_PROVIDER_VERSION linked into $kp_dir"
      fi ;;
    coredns)  build_into coredns "$(coredns_key)" coredns bash "$here/build-coredns.sh" ;;
    # Argo CD's images: their own entry (debootstrap is slow; build-argocd-images.sh).
    argocd-images) build_into argocd-images "$(argocd_images_key)" images.json bash "$here/build-argocd-images.sh" ;;
    # Keyed by the image pins and the hash of their sources (like langhost): an edit rebuilds them.
    # The CoreDNS binary and Argo CD's images they package are entries of their own (build-images.sh ensures them).
    images)   build_into images "$(images_key)" images.json bash "$here/build-images.sh" ;;
    *) die "unknown tool '$t' (known: pulumi langhost sops kubernetes-provider gitleaks actionlint coredns argocd-images images; cluster = ${cluster_tools[*]})" ;;
  esac
done
tools_path
