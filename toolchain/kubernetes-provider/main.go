// The Pulumi Kubernetes provider plugin (pulumi-resource-kubernetes), built from the Go module
// proxy (docs/adr/0015-kubernetes-provider.md). Upstream's own cmd/pulumi-resource-kubernetes/main.go
// embeds schema-embed.json and terraform-mapping-embed.json, which its Makefile generates and Git
// ignores, so the module zip does not hold them and that main package cannot be built as is. This is
// the same program: scripts/toolchain/build-kubernetes-provider.sh writes the two files from the
// zip's committed schema.json (with "version" set, as upstream's generate step does) and
// terraform-mapping.json into a copy of this directory, then builds it.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
