// Issue 10, cluster DNS on the lab: CoreDNS (built from toolchain/coredns, imported as the image K3s's
// manifest names) runs in kube-system as K3s packages it, behind Service kube-dns at the kubelet's
// clusterDNS address, and answers for Services by name. The queries go from the node host (the
// VPS) to the Service address, through kube-proxy, with a DNS packet built by hand (the VPS has
// no DNS client and no resolver configured: that is the point of the lab). Every wait is bounded.
import * as fs from "fs";
import * as path from "path";
import { kubectl, kubectlJson } from "../support/cluster";
import { saveEvidence } from "../support/evidence";
import { onVps } from "../support/lab";
import { repoRoot, run } from "../support/tools";
import { waitUntil, workloadPods } from "../support/workload";

jest.setTimeout(10 * 60 * 1000);

/** The pins (toolchain/versions.env) and the role's defaults the test checks against. */
const pin = (name: string) => new RegExp(`^${name}=(.*)$`, "m").exec(fs.readFileSync(path.join(repoRoot, "toolchain/versions.env"), "utf8"))![1];
const roleDefault = (name: string) => new RegExp(`^${name}: (.*)$`, "m").exec(fs.readFileSync(path.join(repoRoot, "infra/ansible/roles/k3s/defaults/main.yml"), "utf8"))![1].trim();
const clusterDns = roleDefault("k3s_lab_node_cluster_dns");
const clusterDomain = roleDefault("k3s_lab_node_cluster_domain");

// One UDP query (type A) to SERVER:53, parsed: the rcode and the answer addresses (stdlib only).
const resolver = String.raw`
import json, random, socket, struct, sys
server, name = sys.argv[1], sys.argv[2]
qid = random.randrange(65536)
q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
for attempt in range(5):
    try:
        s.sendto(q, (server, 53)); r = s.recv(4096)
        if struct.unpack(">H", r[:2])[0] == qid: break
    except socket.timeout:
        continue
else:
    print(json.dumps({"error": "no answer"})); sys.exit(0)
flags, qd, an = struct.unpack(">HHH", r[2:8])
def skip(i):
    while r[i]:
        if r[i] & 0xC0 == 0xC0: return i + 2
        i += r[i] + 1
    return i + 1
i = 12
for _ in range(qd): i = skip(i) + 4
ips = []
for _ in range(an):
    i = skip(i); t, c, ttl, n = struct.unpack(">HHIH", r[i:i + 10]); i += 10
    if t == 1: ips.append(socket.inet_ntoa(r[i:i + n]))
    i += n
print(json.dumps({"rcode": flags & 0xF, "answers": ips}))
`;
function query(name: string): { rcode?: number; answers?: string[]; error?: string } {
  const r = onVps(`python3 - ${clusterDns} ${name} <<'EOF'\n${resolver}\nEOF`, 60_000);
  if (r.status !== 0) throw new Error(`query ${name} on the VPS: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!);
}

interface Pod { metadata: { name: string; uid: string }; status: { phase: string; podIP?: string; containerStatuses?: Array<{ ready: boolean; image: string; restartCount: number }> } }
const corednsPods = () => kubectlJson<{ items: Pod[] }>(["-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns"]).items;
const clusterIp = (ns: string, svc: string) => kubectlJson<{ spec: { clusterIP: string } }>(["-n", ns, "get", "service", svc]).spec.clusterIP;

beforeAll(async () => {
  const st = run("bash", ["scripts/lab/status.sh"]);
  if (st.status !== 0) throw new Error(`the lab is not up (npx platform deploy lab): ${st.stdout}`);
  // The k3s domain applied CoreDNS during the main command; its pod may still be starting.
  await waitUntil(() => corednsPods().some((p) => p.status.phase === "Running" && (p.status.containerStatuses ?? []).every((c) => c.ready)),
    "the CoreDNS pod Running and Ready", 180_000, 1000);
});

describe("cluster DNS (CoreDNS, as K3s packages it)", () => {
  it("CoreDNS runs in kube-system from the locally built image K3s's manifest names, Ready, behind Service kube-dns at the kubelet's clusterDNS", () => {
    const pods = corednsPods();
    const svc = kubectlJson<{ spec: { clusterIP: string; ports: Array<{ name: string; port: number; protocol: string }> } }>(["-n", "kube-system", "get", "service", "kube-dns"]);
    const slices = kubectlJson<{ items: Array<{ endpoints: Array<{ addresses: string[]; conditions: { ready: boolean } }> }> }>(
      ["-n", "kube-system", "get", "endpointslices", "-l", "kubernetes.io/service-name=kube-dns"]);
    const kubeletConfig = onVps("cat /var/lib/rancher/k3s/agent/etc/kubelet.yaml").stdout;
    saveEvidence("cluster-dns", "coredns.json", { pods, service: svc.spec, slices: slices.items });

    expect(pods).toHaveLength(1);
    const [pod] = pods;
    expect(pod.status.phase).toBe("Running");
    expect(pod.status.containerStatuses).toEqual([expect.objectContaining({ ready: true, image: pin("COREDNS_IMAGE"), restartCount: 0 })]);
    expect(svc.spec.clusterIP).toBe(clusterDns);
    expect(svc.spec.ports.map((p) => `${p.name} ${p.port}/${p.protocol}`).sort()).toEqual(["dns 53/UDP", "dns-tcp 53/TCP", "metrics 9153/TCP"]);
    expect(slices.items.flatMap((s) => s.endpoints).filter((e) => e.conditions.ready).flatMap((e) => e.addresses)).toEqual([pod.status.podIP]);
    expect(kubeletConfig).toMatch(new RegExp(`^clusterDNS: \\[${clusterDns.replace(/\./g, "\\.")}\\]$`, "m"));
    expect(kubeletConfig).toMatch(new RegExp(`^clusterDomain: ${clusterDomain}$`, "m"));
    // CoreDNS itself reports the pinned version at start (its binary, not only the image tag).
    const logs = kubectl(["-n", "kube-system", "logs", pod.metadata.name]);
    expect(logs.stdout).toContain(`CoreDNS-${pin("COREDNS_VERSION")}`);
  });

  it("a query to kube-dns from the node resolves the kubernetes Service and the demo app's Service to their ClusterIPs, and the node's name from NodeHosts", () => {
    const want = {
      [`kubernetes.default.svc.${clusterDomain}`]: clusterIp("default", "kubernetes"),
      [`demo.demo.svc.${clusterDomain}`]: clusterIp("demo", "demo"),
    };
    const got = Object.fromEntries(Object.keys(want).map((n) => [n, query(n)]));
    const node = kubectlJson<{ items: Array<{ metadata: { name: string }; status: { addresses: Array<{ type: string; address: string }> } }> }>(["get", "nodes"]).items[0];
    const nodeAnswer = query(node.metadata.name);
    const missing = query(`no-such-service.demo.svc.${clusterDomain}`);
    saveEvidence("cluster-dns", "queries.json", { want, got, node: { name: node.metadata.name, answer: nodeAnswer }, missing });

    for (const [name, ip] of Object.entries(want)) expect(`${name} ${JSON.stringify(got[name])}`).toBe(`${name} ${JSON.stringify({ rcode: 0, answers: [ip] })}`);
    expect(nodeAnswer).toEqual({ rcode: 0, answers: [node.status.addresses.find((a) => a.type === "InternalIP")!.address] });
    expect(missing).toEqual({ rcode: 3, answers: [] }); // NXDOMAIN: the cluster zone is authoritative
  });

  it("the kubelet gives the pods the cluster DNS: a running demo pod's resolv.conf names kube-dns and the cluster search path", () => {
    const pods = Object.keys(workloadPods());
    expect(pods.length).toBeGreaterThan(0);
    // The kubelet writes each pod's resolv.conf into its sandbox (containerd's CRI state): find
    // the demo pods' sandboxes by the labels the kubelet gave them.
    const r = onVps(String.raw`for id in $(ctr -n k8s.io containers ls -q 'labels."io.cri-containerd.kind"==sandbox,labels."io.kubernetes.pod.namespace"==demo'); do
      f=/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/$id/resolv.conf; [ -f "$f" ] && { echo "== $id"; cat "$f"; }; done`);
    expect(r.status).toBe(0);
    saveEvidence("cluster-dns", "pod-resolv.conf.txt", r.stdout);
    const files = r.stdout.split(/^== .*$/m).map((s) => s.trim()).filter(Boolean);
    expect(files.length).toBeGreaterThanOrEqual(pods.length);
    for (const f of files) {
      expect(f).toMatch(new RegExp(`^nameserver ${clusterDns.replace(/\./g, "\\.")}$`, "m"));
      expect(f).toMatch(new RegExp(`^search demo\\.svc\\.${clusterDomain} svc\\.${clusterDomain} ${clusterDomain}$`, "m"));
      expect(f).toMatch(/^options ndots:5$/m);
    }
  });
});
