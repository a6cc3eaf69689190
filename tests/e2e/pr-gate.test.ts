// Issue 11 acceptance on the lab: `platform gate` on PR branches (made in a throwaway clone of
// this checkout, never pushed anywhere) tells "no change" from "changes" from "broken", lists
// exactly what a PR changes in each layer and why, and changes nothing itself; the nightly drift
// job's command (`platform drift-issue-body`) exits 3 with the issue body on a drifted lab and 0
// on a clean one. The lab stack is deployed first (a change of the hash inputs previews as a
// change of every domain until the next up).
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { ensureApiTunnel, kubectl, kubectlJson, waitForApp } from "../support/cluster";
import { saveEvidence } from "../support/evidence";
import { ensureStackInSync, fingerprintDiff, hostFingerprint } from "../support/faults";
import { childApps, gitObjects, operatorCheckout } from "../support/gitops";
import { labDir } from "../support/lab";
import { repoRoot, run, runAsync } from "../support/tools";

jest.setTimeout(40 * 60 * 1000);

const git = (args: string[], cwd: string) => run("git", args, { cwd, timeoutMs: 60_000 });
const commitAs = ["-c", "user.name=platform-test", "-c", "user.email=platform-test@lab.invalid"];
let head: string;
const checkouts: string[] = [];

interface GateRun {
  status: number | null;
  stdout: string;
  stderr: string;
  markdown: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  report: any;
}

/** A PR branch: a clone of this checkout's HEAD with `edit` committed on a new branch. */
function prBranch(name: string, edit: (dir: string) => void): string {
  const dir = operatorCheckout();
  checkouts.push(dir);
  expect(git(["checkout", "-q", "-b", `pr/${name}`], dir).status).toBe(0);
  edit(dir);
  expect(git(["add", "-A"], dir).status).toBe(0);
  expect(git([...commitAs, "commit", "-qm", `test PR: ${name}`], dir).status).toBe(0);
  return dir;
}

/** `platform gate` in a checkout, as an operator or a workflow runs it. */
async function gate(name: string, dir: string, extra: string[] = []): Promise<GateRun> {
  const out = path.join(dir, "gate-out");
  const t0 = Date.now();
  const r = await runAsync(path.join(dir, "cli/platform.js"), ["gate", "--stack", "lab", "--base", head, "--out", out, ...extra], { cwd: dir, env: { ...process.env, PLATFORM_LAB_DIR: labDir }, timeoutMs: 20 * 60 * 1000 });
  const markdown = fs.existsSync(path.join(out, "gate.md")) ? fs.readFileSync(path.join(out, "gate.md"), "utf8") : "";
  const report = fs.existsSync(path.join(out, "gate.json")) ? JSON.parse(fs.readFileSync(path.join(out, "gate.json"), "utf8")) : undefined;
  saveEvidence("pr-gate", `${name}.md`, markdown);
  saveEvidence("pr-gate", `${name}.log`, `$ platform gate --stack lab --base ${head} ${extra.join(" ")}\n(exit ${r.status}, ${Date.now() - t0} ms)\n--- stdout ---\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
  return { ...r, markdown, report };
}

/** The lab stack's state file and history entries (what an update would rewrite or add). */
function stackStateChecksum(): Record<string, string> {
  const crypto = require("crypto") as typeof import("crypto"); // eslint-disable-line @typescript-eslint/no-require-imports
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }) : []) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[path.relative(labDir, p)] = crypto.createHash("sha256").update(fs.readFileSync(p)).digest("hex");
    }
  };
  walk(path.join(labDir, "pulumi-state", ".pulumi"));
  return out;
}

/** Every object of every child app, by uid and resourceVersion (an apply or delete changes them). */
function liveObjects(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const app of childApps()) {
    for (const o of gitObjects(app, head)) {
      const args = ["get", o.kind, o.metadata.name, "--ignore-not-found", "-o", "jsonpath={.metadata.uid} {.metadata.resourceVersion}"];
      if (o.metadata.namespace) args.unshift("-n", o.metadata.namespace);
      out[`${app} ${o.kind}/${o.metadata.name}`] = kubectl(args).stdout.trim() || "absent";
    }
    const spec = kubectlJson(["-n", "argocd", "get", "applications.argoproj.io", app]).spec;
    out[`Application ${app} spec`] = JSON.stringify(spec);
  }
  return out;
}

async function closedLoopbackPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

let before: { state: Record<string, string>; host: Record<string, string>; live: Record<string, string> };

beforeAll(async () => {
  const st = run("bash", ["scripts/lab/status.sh"]);
  if (st.status !== 0) throw new Error(`the lab is not up (npx platform deploy lab): ${st.stdout}`);
  ensureApiTunnel();
  // The lab as after the main command: this checkout's HEAD published and deployed, apps Synced.
  expect(run("bash", ["scripts/lab/git-server.sh", "push", "HEAD"]).status).toBe(0);
  await ensureStackInSync();
  head = run("git", ["rev-parse", "HEAD"]).stdout.trim();
  for (const app of ["root", ...childApps()]) await waitForApp(app, { sync: "Synced", revision: head }, { timeoutMs: 180_000 });
  before = { state: stackStateChecksum(), host: hostFingerprint(), live: liveObjects() };
});

afterAll(() => {
  for (const d of checkouts) fs.rmSync(d, { recursive: true, force: true });
});

describe("platform gate on PR branches (lab stack, real engine and cluster)", () => {
  it("a documentation-only PR (a role README, a runbook): exit 0, and the Markdown says no change", async () => {
    const dir = prBranch("docs-only", (d) => {
      fs.appendFileSync(path.join(d, "infra/ansible/roles/ssh/README.md"), "\nA note for reviewers.\n");
      fs.appendFileSync(path.join(d, "docs/runbooks/lab.md"), "\nA note for operators.\n");
    });
    const r = await gate("docs-only", dir);
    expect(`${r.status} ${r.report?.reason ?? ""}`).toBe("0 ");
    expect(r.report.verdict).toBe("no-change");
    expect(r.report.pulumi.changes).toEqual([]);
    expect(r.report.cluster.touchedApps).toEqual([]);
    expect(r.markdown).toContain("## Gate on `lab`: no change (exit 0)");
    expect(r.markdown).toMatch(/No change \(\d+ resources unchanged\)\./);
  });

  it("a PR that edits one role's template: exit 7, exactly that domain, with the file", async () => {
    const file = "infra/ansible/roles/ssh/templates/sshd_config.j2";
    const dir = prBranch("ssh-template", (d) => fs.appendFileSync(path.join(d, file), "# reviewed in a PR\n"));
    const r = await gate("ssh-template", dir);
    expect(`${r.status} ${r.report?.reason ?? ""}`).toBe("7 ");
    expect(r.report.pulumi.changes.map((c: { name: string; op: string; domain: string; why: string[] }) => [c.name, c.op, c.domain, c.why])).toEqual([["ssh-run", "update", "ssh", [file]]]);
    expect(r.report.cluster.apps).toEqual([]);
    expect(r.markdown).toContain("changes expected (exit 7)");
    expect(r.markdown).toContain(`| \`ssh-run\` (domain ssh) | update (contentHash) | \`${file}\` |`);
  });

  it("a PR that changes one ConfigMap value and deletes one Service of the demo app: exactly those two object changes", async () => {
    const dir = prBranch("demo-gitops", (d) => {
      const cfg = path.join(d, "gitops/apps/demo/manifests/config.yaml");
      fs.writeFileSync(cfg, fs.readFileSync(cfg, "utf8").replace(/greeting: .*/, "greeting: hello from a PR"));
      fs.rmSync(path.join(d, "gitops/apps/demo/manifests/service.yaml"));
    });
    const r = await gate("demo-gitops", dir);
    expect(`${r.status} ${r.report?.reason ?? ""}`).toBe("7 ");
    expect(r.report.pulumi.changes).toEqual([]);
    expect(r.report.cluster.touchedApps).toEqual(["demo"]);
    expect(r.report.cluster.apps).toEqual([
      {
        app: "demo",
        notes: [],
        changes: [
          { kind: "changed", object: "ConfigMap/demo/demo-config", fields: [{ path: ".data.greeting", want: "hello from a PR", live: "hello from git" }] },
          { kind: "deleted", object: "Service/demo/demo" },
        ],
      },
    ]);
    expect(r.markdown).toContain("- app `demo`: 2 object change(s)");
    expect(r.markdown).toContain("- deleted `Service/demo/demo`");
  });

  it("with the Kubernetes API unreachable (a kubeconfig at a closed loopback port): broken, exit 1, with the reason", async () => {
    const port = await closedLoopbackPort();
    const kc = parseYaml(fs.readFileSync(path.join(labDir, "kubeconfig"), "utf8")) as { clusters: Array<{ cluster: { server: string } }> };
    for (const c of kc.clusters) c.cluster.server = `https://127.0.0.1:${port}`;
    // A documentation-only branch: the unreachable API is the only thing that can make it broken.
    const dir = prBranch("docs-only-no-api", (d) => fs.appendFileSync(path.join(d, "infra/ansible/roles/ssh/README.md"), "\nAnother note.\n"));
    const file = path.join(dir, "..", `${path.basename(dir)}.kubeconfig`);
    checkouts.push(file);
    fs.writeFileSync(file, toYaml(kc), { mode: 0o600 });
    const r = await gate("api-unreachable", dir, ["--kubeconfig", file]);
    expect(r.status).toBe(1);
    expect(r.report.verdict).toBe("broken");
    expect(r.report.reason).toMatch(new RegExp(`^cluster layer: the Kubernetes API at https://127\\.0\\.0\\.1:${port} does not answer: .*ECONNREFUSED`));
    expect(r.stderr).toContain(r.report.reason);
    expect(r.markdown).toContain(`**Broken:** ${r.report.reason}`);
  });

  it("changed nothing: the stack state, the host fingerprint and the live objects are as before the gate ran", () => {
    const after = { state: stackStateChecksum(), host: hostFingerprint(), live: liveObjects() };
    saveEvidence("pr-gate", "unchanged.json", { before, after });
    expect(Object.keys(before.state).length).toBeGreaterThan(0);
    expect(fingerprintDiff(before.state, after.state)).toEqual([]);
    expect(fingerprintDiff(before.host, after.host)).toEqual([]);
    expect(fingerprintDiff(before.live, after.live)).toEqual([]);
  });
});

describe("the nightly drift job's command (platform drift-issue-body)", () => {
  const drift = async (name: string) => {
    const body = path.join(repoRoot, "evidence", "tests", "pr-gate", `${name}.issue.md`);
    const r = await runAsync(path.join(repoRoot, "cli/platform.js"), ["drift-issue-body", "--stack", "lab", "--out", body], { env: { ...process.env, PLATFORM_CORRELATION_ID: `test-${name}-${Date.now()}` }, timeoutMs: 30 * 60 * 1000 });
    saveEvidence("pr-gate", `${name}.log`, `(exit ${r.status})\n${r.stdout}\n--- stderr ---\n${r.stderr}`);
    return { ...r, body: fs.existsSync(body) ? fs.readFileSync(body, "utf8") : "" };
  };

  it("against a clean lab: exit 0", async () => {
    const r = await drift("drift-clean");
    expect(`${r.status} ${r.body.split("\n")[1]}`).toBe("0 ## Drift on `lab`: clean");
  });

  it("against a drifted lab (a hand edit of the report-only demo app): exit 3 and the issue body names it", async () => {
    // Argo CD's automated sync (no self-heal) syncs once more when its last sync was to an older
    // revision than the branch's, which would undo the edit (docs/adr/0007): start from a sync to
    // HEAD, as after any deploy or resync (tests/e2e/drift-and-rollback.test.ts does the same).
    expect((await runAsync(path.join(repoRoot, "cli/platform.js"), ["resync", "lab", "demo"], { timeoutMs: 10 * 60 * 1000 })).status).toBe(0);
    expect(kubectl(["-n", "demo", "patch", "configmap", "demo-config", "--type", "merge", "-p", '{"data":{"greeting":"edited by hand"}}']).status).toBe(0);
    try {
      await waitForApp("demo", { sync: "OutOfSync" }, { timeoutMs: 60_000, intervalMs: 1000 });
      const r = await drift("drift-drifted");
      expect(r.status).toBe(3);
      expect(r.body.startsWith("<!-- platform-drift -->")).toBe(true);
      expect(r.body).toContain("## Drift on `lab`: drifted");
      expect(r.body).toContain("- app `demo`: OutOfSync");
      expect(r.body).toContain("`ConfigMap/demo/demo-config`");
    } finally {
      // Back to Git's state, as an operator would (docs/runbooks/resync.md).
      await runAsync(path.join(repoRoot, "cli/platform.js"), ["resync", "lab", "demo"], { timeoutMs: 10 * 60 * 1000 });
    }
    await waitForApp("demo", { sync: "Synced", revision: head }, { timeoutMs: 120_000, intervalMs: 1000 });
  });
});
