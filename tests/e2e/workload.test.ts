// Issue 10 on the lab: a real node (containerd + kubelet + kube-proxy inside the VPS) runs the
// greeter (apps/greeter) that Argo CD deploys from gitops/apps/demo, with its PostgreSQL password
// from SOPS. The two stories are proven on what the cluster serves, not only on object content:
// - Story 1.2: a full replay and a k3s-tagged run fail no request and restart no pod;
// - Story 2.3: a faulty config commit breaks the service (Degraded, requests fail); rollback of it
//   brings back Healthy and the previous greeting; a manual scale is OutOfSync and resync restores
//   it; the workload's rows in PostgreSQL survive all of it.
// The service is reached through the API relay and the API server's service proxy (the operator's
// way in, never a public port): tests/support/workload.ts.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { appStatus, kubectl, kubectlJson, waitForApp } from "../support/cluster";
import { saveEvidence } from "../support/evidence";
import { childApps } from "../support/gitops";
import { ansible, labDir, managedServices, onVps, recap, serviceSnapshot } from "../support/lab";
import { repoRoot, run, runAsync } from "../support/tools";
import { greet, serviceProbe, serviceRequest, waitUntil, workloadPods } from "../support/workload";

jest.setTimeout(30 * 60 * 1000);

const labRemote = path.join(labDir, "git", "platform.git");
const git = (args: string[], cwd = repoRoot) => run("git", args, { cwd, timeoutMs: 60_000 });
const platform = (args: string[], env: Record<string, string> = {}) =>
  runAsync(path.join(repoRoot, "cli/platform.js"), args, { cwd: repoRoot, env: { ...process.env, ...env }, timeoutMs: 20 * 60 * 1000 });
const commitAs = ["-c", "user.name=platform-test", "-c", "user.email=platform-test@lab.invalid"];
const gitGreeting = () => /^\s+greeting: (.*)$/m.exec(fs.readFileSync(path.join(repoRoot, "gitops/apps/demo/manifests/config.yaml"), "utf8"))![1];
/** The node's units: their restarts matter as much as the host's (Story 1.2; in managedServices). */
const nodeUnits = ["containerd.service", "kubelet.service", "kube-proxy.service", "kube-scheduler.service"];
const readyPods = () => Object.values(workloadPods()).filter((p) => p.phase === "Running" && p.ready).length;

let head: string;

beforeAll(async () => {
  const st = run("bash", ["scripts/lab/status.sh"]);
  if (st.status !== 0) throw new Error(`the lab is not up (run scripts/lab/up.sh): ${st.stdout}`);
  expect(run("bash", ["scripts/lab/git-server.sh", "push", "HEAD"]).status).toBe(0);
  const up = await platform(["up", "lab"]);
  if (up.status !== 0) throw new Error(`pulumi up failed:\n${up.stderr.slice(-3000)}`);
  head = git(["rev-parse", "HEAD"]).stdout.trim();
  for (const app of ["root", ...childApps()]) await waitForApp(app, { sync: "Synced", health: "Healthy", revision: head }, { timeoutMs: 300_000 });
});

afterAll(async () => {
  run("bash", ["scripts/lab/git-server.sh", "push", "HEAD"]);
  await platform(["resync", "lab"]);
});

describe("the lab node runs the workload", () => {
  it("every app is Synced and Healthy, the greeter's two pods are Running and Ready, and GET / through its Service returns the greeting and the row count", async () => {
    const apps = Object.fromEntries(["root", ...childApps()].map((a) => [a, appStatus(a)]));
    const pods = workloadPods();
    saveEvidence("workload", "after-deploy.json", { apps, pods });
    for (const [name, s] of Object.entries(apps)) expect(`${name} ${s?.sync} ${s?.health}`).toBe(`${name} Synced Healthy`);
    expect(Object.keys(pods)).toHaveLength(2);
    for (const p of Object.values(pods)) expect(p).toMatchObject({ phase: "Running", ready: true });

    const before = await greet();
    expect(before.greeting).toBe(gitGreeting());
    expect(typeof before.rows).toBe("number");
    const visit = await serviceRequest("/visits", { method: "POST", body: "workload e2e" });
    expect(visit.status).toBe(201);
    expect((await greet()).rows).toBe(before.rows + 1);
  });

  it("the node registered with credentials of its own (system:node:<name>), never the admin's", () => {
    const nodes = kubectlJson<{ items: Array<{ metadata: { name: string }; status: { conditions: Array<{ type: string; status: string }> } }> }>(["get", "nodes"]);
    expect(nodes.items.map((n) => n.metadata.name)).toEqual(["lab-vps"]);
    expect(nodes.items[0].status.conditions.find((c) => c.type === "Ready")?.status).toBe("True");
    const subject = onVps("openssl x509 -noout -subject -in /var/lib/rancher/k3s/server/tls/client-kubelet.crt").stdout;
    expect(subject).toMatch(/O\s*=\s*system:nodes, CN\s*=\s*system:node:lab-vps/);
    // The kubelet's kubeconfig carries the node's certificate, not the admin's.
    const admin = onVps("grep client-certificate-data /etc/rancher/k3s/k3s.yaml | awk '{print $2}'").stdout.trim();
    const kubelet = onVps("grep client-certificate-data /var/lib/rancher/k3s/agent/kubelet.kubeconfig | awk '{print $2}'").stdout.trim();
    expect(kubelet.length).toBeGreaterThan(100);
    expect(kubelet).not.toBe(admin);
  });

  it("the database password reaches the pods from SOPS through a Secret that is not in Git", () => {
    const secret = kubectlJson<{ metadata: { labels: Record<string, string> }; data: Record<string, string> }>(["-n", "demo", "get", "secret", "demo-credentials"]);
    expect(Object.keys(secret.data)).toEqual(["PGPASSWORD"]);
    expect(secret.metadata.labels["platform.example/source"]).toBe("sops");
    expect(git(["grep", "-l", "kind: Secret", "--", "gitops"]).stdout.trim()).toBe("");
  });
});

describe("Story 1.2 with a workload: replays do not degrade what the cluster serves", () => {
  for (const [label, args] of [["a full replay of site.yml", []], ["a --tags k3s run", ["--tags", "k3s"]]] as const) {
    it(`${label} changes nothing, fails no request to the workload (probe every 200 ms) and restarts no pod or unit`, async () => {
      const podsBefore = workloadPods();
      const unitsBefore = serviceSnapshot();
      const probe = serviceProbe({ intervalMs: 200 });
      const r = await ansible(`workload-replay-${args.length ? "k3s" : "all"}`, [...args]);
      const stats = await probe.stop();
      const podsAfter = workloadPods();
      const unitsAfter = serviceSnapshot();
      const totals = recap(r.output);
      saveEvidence("workload-availability", `${args.length ? "tags-k3s" : "full-replay"}.json`, { status: r.status, totals, stats, podsBefore, podsAfter, unitsBefore, unitsAfter });
      expect(r.status).toBe(0);
      expect(totals).toMatchObject({ changed: 0, failed: 0 });
      expect(stats.attempts).toBeGreaterThan(10);
      expect(stats.failures).toBe(0);
      expect(stats.errors).toEqual([]);
      // Same pods, same containers, no restart; the host's and the node's units kept their PIDs.
      expect(podsAfter).toEqual(podsBefore);
      expect(unitsAfter).toEqual(unitsBefore);
      expect(Object.keys(unitsAfter)).toEqual(expect.arrayContaining([...managedServices, ...nodeUnits]));
    });
  }
});

describe("Story 2.3 with a workload", () => {
  it("a manual scale of the workload is reported OutOfSync, and resync restores it with its pods", async () => {
    expect(kubectl(["-n", "demo", "scale", "deployment", "demo", "--replicas=1"]).status).toBe(0);
    await waitUntil(() => appStatus("demo")?.sync === "OutOfSync", "demo OutOfSync after the scale", 60_000);
    await waitUntil(() => Object.keys(workloadPods()).length === 1, "one pod left", 60_000);
    const cid = `test-workload-resync-${Date.now()}`;
    const resync = await platform(["resync", "lab", "demo"], { PLATFORM_CORRELATION_ID: cid });
    saveEvidence("workload-resync", "resync.txt", resync.stdout + resync.stderr);
    expect(resync.status).toBe(0);
    const ms = await waitUntil(() => readyPods() === 2, "two ready pods again", 120_000);
    saveEvidence("workload-resync", "timing.json", { podsBackMs: ms });
    expect(kubectlJson<{ spec: { replicas: number } }>(["-n", "demo", "get", "deployment", "demo"]).spec.replicas).toBe(2);
    await waitForApp("demo", { sync: "Synced", health: "Healthy" }, { timeoutMs: 120_000, intervalMs: 1000 });
  });

  it("a faulty config commit breaks the service (Degraded, requests fail); rollback restores Healthy and the previous greeting; the rows survive", async () => {
    const stable = await greet();
    expect((await serviceRequest("/visits", { method: "POST", body: "before the faulty commit" })).status).toBe(201);
    const rowsBefore = stable.rows + 1;
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "platform-workload-"));
    try {
      expect(git(["clone", "-q", labRemote, work]).status).toBe(0);
      const file = path.join(work, "gitops/apps/demo/manifests/config.yaml");
      const text = fs.readFileSync(file, "utf8");
      // Nothing listens on 5433: every pod fails its readiness probe once it reads this.
      const faulty = text.replace(/^(\s+db-port): .*$/m, '$1: "5433"').replace(/^(\s+greeting): .*$/m, "$1: faulty greeting");
      expect(faulty).not.toBe(text);
      fs.writeFileSync(file, faulty);
      expect(git([...commitAs, "commit", "-qam", "demo: point the greeter at the wrong database port"], work).status).toBe(0);
      const bad = git(["rev-parse", "HEAD"], work).stdout.trim();
      expect(git(["push", "-q", "origin", "HEAD:refs/heads/main"], work).status).toBe(0);

      const probe = serviceProbe({ intervalMs: 200 });
      await waitForApp("demo", { sync: "Synced", revision: bad }, { timeoutMs: 120_000, intervalMs: 1000 });
      await waitUntil(async () => (await serviceRequest("/", { timeoutMs: 3000 })).status !== 200, "the service to stop answering", 120_000);
      const degraded = await waitForApp("demo", { health: "Degraded" }, { timeoutMs: 120_000, intervalMs: 1000 });

      const cid = `test-workload-rollback-${Date.now()}`;
      const t0 = Date.now();
      const rb = await platform(["rollback", "--repo", work, bad], { PLATFORM_CORRELATION_ID: cid });
      saveEvidence("workload-rollback", "rollback.txt", rb.stdout + rb.stderr);
      expect(rb.status).toBe(0);
      const answersMs = await waitUntil(async () => {
        const r = await serviceRequest("/", { timeoutMs: 3000 });
        return r.status === 200 && JSON.parse(r.body).greeting === stable.greeting;
      }, "the service to answer with the previous greeting", 120_000, 250);
      const totalMs = Date.now() - t0;
      const stats = await probe.stop();
      const healthy = await waitForApp("demo", { sync: "Synced", health: "Healthy" }, { timeoutMs: 120_000, intervalMs: 1000 });
      const after = await greet();
      saveEvidence("workload-rollback", "result.json", { degraded, healthy, stats, answersMs, totalMs, rowsBefore, after });
      // The outage was real (requests failed, no faulty greeting ever served as a success)...
      expect(stats.failures).toBeGreaterThan(0);
      expect(stats.greetings).toEqual([stable.greeting]);
      // ...and the revert ended it, with the previous state and the rows intact.
      expect(after.greeting).toBe(stable.greeting);
      expect(after.rows).toBeGreaterThanOrEqual(rowsBefore);
      expect(git(["log", "-1", "--format=%B"], work).stdout).toContain(`Correlation-Id: ${cid}`);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
      run("bash", ["scripts/lab/git-server.sh", "push", "HEAD"]);
    }
    await waitForApp("demo", { sync: "Synced", health: "Healthy", revision: head }, { timeoutMs: 180_000 });
  });
});
