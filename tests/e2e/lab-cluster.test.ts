// The lab cluster (issue 4): the k3s role's lab path runs kine, kube-apiserver and
// kube-controller-manager on the lab VPS (k3s.service groups them), writes the admin kubeconfig
// where K3s writes it. Argo CD is not part of it: it runs as pods, installed by Pulumi
// (argocd-lab.test.ts); the node's registry mirror that lets those pods pull is checked here.
// The host reaches the API through an SSH tunnel (scripts/lab/api-tunnel.sh) and serves the
// repository over git daemon (scripts/lab/git-server.sh). Independent of the Pulumi Argo CD
// component: Application sync is asserted by its own tests (helpers: tests/support/cluster.ts).
import { kubectl, ensureApiTunnel, labKubeconfig } from "../support/cluster";
import { saveEvidence } from "../support/evidence";
import { labGitPort } from "../../lib/labEnv";
import { ansible, labEnv, onVps, recap, vpsAddress, waitFor } from "../support/lab";
import { run } from "../support/tools";
import { pinnedVersion } from "../../lib/versions";

jest.setTimeout(20 * 60 * 1000);

const CONTROL_PLANE = ["kine.service", "kube-apiserver.service", "kube-controller-manager.service", "k3s.service"];
const REGISTRY = ["k3s-lab-registry.service"];

function units(names: string[]): Record<string, { active: string; sub: string; pid: string; start: string; restarts: string }> {
  // systemctl show prints properties in its own order: read them as KEY=VALUE, one unit per line.
  const r = onVps(`for u in ${names.join(" ")}; do echo "$u $(systemctl show -p ActiveState -p SubState -p MainPID -p ExecMainStartTimestampMonotonic -p NRestarts "$u" | tr '\\n' ' ')"; done`);
  if (r.status !== 0) throw new Error(`cannot read units: ${r.stderr}`);
  return Object.fromEntries(
    r.stdout.trim().split("\n").map((l) => {
      const [u, ...kv] = l.trim().split(/\s+/);
      const p = Object.fromEntries(kv.map((x) => [x.slice(0, x.indexOf("=")), x.slice(x.indexOf("=") + 1)]));
      return [u, { active: p.ActiveState, sub: p.SubState, pid: p.MainPID, start: p.ExecMainStartTimestampMonotonic, restarts: p.NRestarts }];
    }),
  );
}

// The inventory names the lab VPS by its default address: follow LAB_VPS_ADDR (an isolated second lab).
const K3S = ["--tags", "k3s", "-e", `ansible_host=${vpsAddress}`];

describe("lab cluster: control plane and the node's registry mirror on the lab VPS", () => {
  beforeAll(async () => {
    const st = run("bash", ["scripts/lab/status.sh"]);
    if (st.status !== 0) throw new Error(`the lab is not up (run scripts/lab/up.sh): ${st.stdout}${st.stderr}`);
    // Converged k3s domain (a no-op when it already is).
    const r = await ansible("lab-cluster", K3S);
    if (r.status !== 0) throw new Error(`k3s domain does not converge:\n${r.output.slice(-4000)}`);
  });

  it("runs the control plane units, grouped by k3s.service", () => {
    const u = units(CONTROL_PLANE);
    saveEvidence("lab-cluster", "control-plane-units.json", u);
    for (const name of CONTROL_PLANE) expect(`${name} ${u[name].active}`).toBe(`${name} active`);
    const deps = onVps("systemctl list-dependencies --plain --no-pager k3s.service").stdout;
    for (const name of CONTROL_PLANE.slice(0, 3)) expect(deps).toContain(name);
    // Datastore and PKI where K3s keeps them.
    expect(onVps("test -s /var/lib/rancher/k3s/server/db/state.db && test -s /var/lib/rancher/k3s/server/tls/server-ca.crt && echo ok").stdout.trim()).toBe("ok");
  });

  it("writes the admin kubeconfig where K3s writes it (/etc/rancher/k3s/k3s.yaml, 0600, https://127.0.0.1:6443)", () => {
    const r = onVps("stat -c '%a %U' /etc/rancher/k3s/k3s.yaml && grep -E '^\\s+server:' /etc/rancher/k3s/k3s.yaml");
    saveEvidence("lab-cluster", "kubeconfig-on-vps.txt", r.stdout);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("600 root");
    expect(r.stdout).toMatch(/server: https:\/\/127\.0\.0\.1:6443/);
  });

  it("serves the Kubernetes API to the host through the SSH tunnel, with the VPS's kubeconfig", async () => {
    ensureApiTunnel();
    const ready = kubectl(["get", "--raw", "/readyz"]);
    const ns = kubectl(["get", "ns", "-o", "name"]);
    const version = kubectl(["version", "-o", "json"]);
    saveEvidence("lab-cluster", "api.txt", `KUBECONFIG=${labKubeconfig}\n$ kubectl get --raw /readyz\n${ready.stdout}${ready.stderr}\n$ kubectl get ns -o name\n${ns.stdout}${ns.stderr}\n${version.stdout}`);
    expect(ready.status).toBe(0);
    expect(ready.stdout.trim()).toBe("ok");
    expect(ns.status).toBe(0);
    for (const n of ["default", "kube-system", "kube-public", "kube-node-lease"]) expect(ns.stdout).toContain(`namespace/${n}`);
    expect(JSON.parse(version.stdout).serverVersion.gitVersion).toBe(`v${pinnedVersion("KUBERNETES_VERSION")}`);
    // kube-controller-manager works: a new namespace gets its default ServiceAccount.
    const name = `plab-test-${Date.now()}`;
    expect(kubectl(["create", "namespace", name]).status).toBe(0);
    try {
      await waitFor(() => kubectl(["-n", name, "get", "serviceaccount", "default"]).status === 0, "the default ServiceAccount", 60_000, 1000);
    } finally {
      kubectl(["delete", "namespace", name, "--wait=false"]);
    }
  });

  it("runs no Argo CD unit on the host; the registry mirror answers each imported ref with its digest, and nothing else", () => {
    const files = onVps("systemctl list-unit-files --no-legend 'argocd*' 'redis*' | wc -l").stdout.trim();
    const u = units(REGISTRY);
    // What the role imported, as it recorded it for the mirror.
    const images = JSON.parse(onVps("cat /var/lib/rancher/k3s/agent/images/images.json").stdout) as { images: { ref: string; digest: string }[] };
    const ask = (ref: string) => {
      const [host, ...rest] = ref.split("/");
      const name = rest.join("/");
      const [repo, tag] = [name.slice(0, name.lastIndexOf(":")), name.slice(name.lastIndexOf(":") + 1)];
      return onVps(`curl -sS -o /dev/null -w '%{http_code} %header{docker-content-digest}' -I 'http://127.0.0.1:5000/v2/${repo}/manifests/${tag}?ns=${host}'`).stdout.trim();
    };
    const answers = Object.fromEntries(images.images.map((i) => [i.ref, ask(i.ref)]));
    const unknown = ask(`${pinnedVersion("ARGOCD_IMAGE").replace(/:[^:]+$/, ":v0.0.0-not-imported")}`);
    saveEvidence("lab-cluster", "registry-mirror.json", { argocdOrRedisUnitFiles: files, units: u, images: images.images, answers, unknown });
    expect(files).toBe("0");
    expect(u["k3s-lab-registry.service"].active).toBe("active");
    for (const ref of [pinnedVersion("ARGOCD_IMAGE"), pinnedVersion("ARGOCD_REDIS_IMAGE")]) expect(images.images.map((i) => i.ref)).toContain(ref);
    for (const i of images.images) expect(`${i.ref} ${answers[i.ref]}`).toBe(`${i.ref} 200 ${i.digest}`);
    expect(unknown).toMatch(/^404\b/);
  });

  it("serves this repository to the VPS from the host's git daemon", () => {
    expect(run("bash", ["scripts/lab/git-server.sh", "start"]).status).toBe(0);
    const pushed = run("bash", ["scripts/lab/git-server.sh", "push"]);
    expect(pushed.status).toBe(0);
    const sha = pushed.stdout.trim().split("\n").pop();
    // git-server.sh's port: LAB_GIT_PORT (an isolated lab's own), else git's 9418. The VPS has no
    // git (Argo CD's repo-server brings its own, in its image): it must reach the daemon, whose
    // answer at that address is the published HEAD.
    const url = `git://${labEnv.LAB_HOST_ADDR}:${labGitPort(labEnv)}/platform.git`;
    const reach = onVps(`timeout 5 bash -c 'exec 3<>/dev/tcp/${labEnv.LAB_HOST_ADDR}/${labGitPort(labEnv)}' && echo open`);
    const r = run("git", ["ls-remote", url, "refs/heads/main"], { timeoutMs: 20_000 });
    saveEvidence("lab-cluster", "git-ls-remote.txt", `from the VPS: ${reach.stdout}${reach.stderr}\n$ git ls-remote ${url}\n${r.stdout}${r.stderr}`);
    expect(reach.stdout.trim()).toBe("open");
    expect(r.status).toBe(0);
    expect(r.stdout.split(/\s+/)[0]).toBe(sha);
  });

  it("a replay of the k3s domain changes nothing and restarts nothing", async () => {
    const all = [...CONTROL_PLANE, ...REGISTRY];
    const before = units(all);
    const r = await ansible("lab-cluster", K3S);
    const after = units(all);
    const totals = recap(r.output);
    saveEvidence("lab-cluster", "replay.json", { status: r.status, totals, before, after, durationMs: r.durationMs });
    expect(r.status).toBe(0);
    expect(totals).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
    expect(r.record?.tasks.filter((t) => t.status === "changed")).toEqual([]);
    for (const u of all) {
      expect(`${u} ${JSON.stringify(after[u])}`).toBe(`${u} ${JSON.stringify(before[u])}`);
    }
  });
});
