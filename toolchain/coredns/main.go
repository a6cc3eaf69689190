// CoreDNS for the lab's cluster DNS, with only the plugins K3s's packaged Corefile uses.
//
// Upstream's main (coredns.go) blank-imports core/plugin, which registers every plugin and so
// compiles the AWS, Azure, GCP, etcd and dnstap SDKs (about 7 minutes cold on two cores). The
// directive ORDER does not come from these imports: it is dnsserver.Directives (generated from
// upstream's plugin.cfg into core/dnsserver/zdirectives.go, imported by coremain), and a plugin
// absent here is simply unknown to a Corefile. See docs/adr/0008-images-without-a-registry.md.
package main

import (
	"github.com/coredns/coredns/coremain"

	// The plugins of K3s's Corefile (manifests/coredns.yaml), nothing else. `import` is built
	// into the Corefile parser (caddy), not a plugin.
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics" // the `prometheus` directive
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() {
	coremain.Run()
}
