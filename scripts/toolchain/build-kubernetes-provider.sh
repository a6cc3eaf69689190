#!/usr/bin/env bash
# Build the Pulumi Kubernetes provider plugin, pulumi-resource-kubernetes, from the Go module proxy
# into OUT_DIR (docs/adr/0015-kubernetes-provider.md):
#   module   github.com/pulumi/pulumi-kubernetes/provider/v4 @ $KUBERNETES_PROVIDER_MODULE_VERSION
#            (the pseudo-version of the v4.25.0 tag's commit; the proxy refuses the tag's own version)
#   wrapper  toolchain/kubernetes-provider (go.mod/go.sum committed, used read-only): it points
#            sdk/v4 (upstream: `=> ../sdk`, not in the zip) at the published sdk/v4 v4.24.0, and its
#            main.go is upstream's, embedding the two files upstream's Makefile generates:
#            schema-embed.json (the zip's schema.json with "version" set) and
#            terraform-mapping-embed.json (the zip's terraform-mapping.json), written here.
#   version  -X .../pkg/version.Version=$KUBERNETES_PROVIDER_VERSION (= the @pulumi/kubernetes pin)
# Usage: build-kubernetes-provider.sh OUT_DIR     (normally through `ensure.sh kubernetes-provider`)
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
out="${1:?usage: build-kubernetes-provider.sh OUT_DIR}"
mod=github.com/pulumi/pulumi-kubernetes/provider/v4
v="${KUBERNETES_PROVIDER_MODULE_VERSION:?not set in toolchain/versions.env}"
src="$PLATFORM_ROOT/toolchain/kubernetes-provider"
grep -qE "^[[:space:]]*(require[[:space:]]+)?$mod $v\$" "$src/go.mod" \
  || die "toolchain/kubernetes-provider/go.mod does not require $mod $v (versions.env): update it (go get $mod@$v; go mod tidy)"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
cp "$src/go.mod" "$src/go.sum" "$src/main.go" "$work/"
cd "$work"
log "downloading $mod@$v and its dependencies"
with_heartbeat "go mod download" go mod download
upstream="$(go list -m -f '{{.Dir}}' "$mod")/cmd/pulumi-resource-kubernetes"
python3 - "$upstream/schema.json" "$KUBERNETES_PROVIDER_VERSION" > schema-embed.json <<'PY'
import json, sys
schema = json.load(open(sys.argv[1]))
schema["version"] = sys.argv[2]
json.dump(schema, sys.stdout)
PY
cp "$upstream/terraform-mapping.json" terraform-mapping-embed.json
log "compiling pulumi-resource-kubernetes $KUBERNETES_PROVIDER_VERSION from $mod@$v (a big compile: many minutes on 2 cores)"
with_heartbeat "go build pulumi-resource-kubernetes" nice -n 10 go build -trimpath \
  -ldflags "-s -w -buildid= -X $mod/pkg/version.Version=$KUBERNETES_PROVIDER_VERSION" \
  -o "$out/pulumi-resource-kubernetes" .
{ echo "$mod $v"; go list -m github.com/pulumi/pulumi-kubernetes/sdk/v4 github.com/pulumi/pulumi/sdk/v3 helm.sh/helm/v3 k8s.io/client-go
  go version; } > "$out/BUILDINFO"
