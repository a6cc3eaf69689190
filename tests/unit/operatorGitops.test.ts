// `platform resync`, `rollback` and `audit` against fakes of Argo CD (tests/support/fakeArgo.ts),
// Git remotes and the Automation API; rollback's checkout is a real throwaway Git repository
// (local, milliseconds). Refusals, exit paths, the audit records, the evidence, the rendering.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { UpdateSummary } from "@pulumi/pulumi/automation";
import { argoLines, auditTrail, renderRecent, renderTrail } from "../../cli/commands/audit";
import { RollbackDeps, runRollback } from "../../cli/commands/rollback";
import { runResync } from "../../cli/commands/resync";
import { PlatformConfig } from "../../lib/config";
import { K8sObject } from "../../lib/gate/objectDiff";
import { AuditRecord, makeAuditRecord } from "../../lib/operator/audit";
import { rendersJsonnet } from "../../lib/operator/argocd";
import { OperatorFailure } from "../../lib/operator/deps";
import { affectedApps, touchesProgram } from "../../lib/operator/gitops";
import { isOurOperation, mapLimit, requestSync, syncedTo, verifyApp, waitSynced } from "../../lib/operator/sync";
import { FakeArgo, fakeApp, fakeGit } from "../support/fakeArgo";

const HEAD = "b".repeat(40);
const OLD = "a".repeat(40);
const cm = (greeting: string): K8sObject => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "demo-config", namespace: "demo" }, data: { greeting } });
const manifests = { "gitops/apps/demo/manifests/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo-config\ndata:\n  greeting: hello from git\n" };
const config = { evidenceDir: "", argocd: { enabled: true, gitopsRepoUrl: "git://lab/platform.git", gitopsRevision: "main" } } as unknown as PlatformConfig;

let tmp: string;
let records: AuditRecord[];
let progress: string[];
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "op-unit-"));
  records = [];
  progress = [];
});
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

function deps(argo: FakeArgo, git = fakeGit({ "git://lab/platform.git main": HEAD }, { [HEAD]: manifests })): RollbackDeps {
  let t = 0;
  return {
    root: tmp,
    env: { PLATFORM_EVIDENCE_DIR: path.join(tmp, "evidence") },
    cluster: async () => {
      await argo.ping();
      return { config, cluster: argo, kubeconfig: "/kc" };
    },
    git,
    audit: (a) => {
      const r = makeAuditRecord(a, { now: new Date("2026-12-01T10:00:00Z"), who: "op@ws", gitRevision: null });
      records.push(r);
      return r;
    },
    progress: (l) => progress.push(l),
    clock: () => (t += 500),
    secretsCheck: () => undefined,
    pulumiUp: async () => {},
  };
}

function driftedDemo(): FakeArgo {
  const argo = new FakeArgo([fakeApp("demo", { sync: { status: "OutOfSync", revision: HEAD }, resources: [{ kind: "ConfigMap", namespace: "demo", name: "demo-config", status: "OutOfSync" }] }), fakeApp("platform-config")]);
  argo.apps_.get("demo")!.spec.destination = { namespace: "demo" };
  argo.live.set("ConfigMap/demo/demo-config", cm("edited by hand"));
  argo.applies.set("demo", [cm("hello from git")]);
  return argo;
}

describe("sync, wait and verify (lib/operator/sync.ts)", () => {
  it("asks for a hard refresh when the app compares with another revision, then patches the operation with the id in its info and initiator", async () => {
    const argo = driftedDemo();
    argo.apps_.get("demo")!.status!.sync!.revision = OLD;
    await requestSync(argo, "demo", HEAD, "cid-1", "resync to Git");
    expect(argo.patches[0].patch).toEqual({ metadata: { annotations: { "argocd.argoproj.io/refresh": "hard" } } });
    expect(argo.patches[1].patch).toMatchObject({
      operation: { initiatedBy: { username: "platform-operator (Correlation-Id: cid-1)" }, info: [{ name: "Correlation-Id", value: "cid-1" }, { name: "Reason", value: "resync to Git" }], sync: { revision: HEAD, prune: true, syncOptions: ["ServerSideApply=true"] } },
    });
  });

  it("skips the hard refresh when the app already compares with the revision it syncs (nothing cached to drop)", async () => {
    const argo = driftedDemo(); // compared with HEAD, an object edited by hand
    const watches = jest.spyOn(argo, "watchApp");
    await requestSync(argo, "demo", HEAD, "cid-1b", "resync to Git");
    expect(argo.patches.map((p) => Object.keys(p.patch))).toEqual([["metadata", "operation"]]);
    expect(watches).not.toHaveBeenCalled(); // the version just read was idle: patched as read
    await expect(waitSynced(argo, "demo", HEAD, "cid-1b", 5000)).resolves.toMatchObject({ revision: HEAD, operation: "Succeeded" });
  });

  it("never patches its operation into an automated sync the refresh started (it waits for it, then patches that version only)", async () => {
    const argo = driftedDemo();
    argo.apps_.get("demo")!.status!.sync!.revision = OLD;
    argo.autoSyncOnRefresh = true;
    await requestSync(argo, "demo", HEAD, "cid-race", "r");
    await expect(waitSynced(argo, "demo", HEAD, "cid-race", 5000)).resolves.toMatchObject({ revision: HEAD, operation: "Succeeded" });
    expect(argo.patches[1].patch.metadata).toEqual({ resourceVersion: expect.any(String) });
  });

  it("waits for OUR operation: an earlier Succeeded one under another id does not count", () => {
    const a = fakeApp("demo", { sync: { status: "Synced", revision: HEAD }, operationState: { phase: "Succeeded", operation: { info: [{ name: "Correlation-Id", value: "other" }], sync: { revision: HEAD } } } });
    expect(syncedTo("demo", HEAD, "mine")(a)).toBeUndefined();
    a.status!.operationState!.operation!.info = [{ name: "Correlation-Id", value: "mine" }];
    expect(syncedTo("demo", HEAD, "mine")(a)).toMatchObject({ sync: "Synced", revision: HEAD, operation: "Succeeded" });
    expect(isOurOperation(a.status!.operationState, "mine", OLD)).toBe(false);
  });

  it("stops at once when our operation failed, with its message", async () => {
    const argo = driftedDemo();
    argo.behaviour = "fail";
    await requestSync(argo, "demo", HEAD, "cid-2", "r");
    await expect(waitSynced(argo, "demo", HEAD, "cid-2", 5000)).rejects.toThrow("demo: sync Failed: one or more objects failed to apply");
  });

  it("is bounded: an operation never picked up times out naming the app, the revision and the last state", async () => {
    const argo = driftedDemo();
    argo.behaviour = "hang";
    await requestSync(argo, "demo", HEAD, "cid-3", "r");
    await expect(waitSynced(argo, "demo", HEAD, "cid-3", 50)).rejects.toThrow(/^demo: not Synced to bbbbbbbbbbbb within 0.05s \(last: .*"sync":"OutOfSync"/);
  });

  it("reads a few objects at a time, results in order (mapLimit)", async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0, 6, 7, 9, 8], 3, async (n) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setTimeout(r, n));
      inFlight--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0, 60, 70, 90, 80]);
    expect(most).toBe(3);
  });

  it("verifies every object Git holds against the live one, field by field", async () => {
    const argo = driftedDemo();
    const g = fakeGit({}, { [HEAD]: { ...manifests, "gitops/apps/demo/manifests/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: demo\n" } });
    const v = await verifyApp(argo, g, (await argo.app("demo"))!, HEAD);
    expect(v).toEqual({ app: "demo", revision: HEAD, objects: 2, mismatches: { "ConfigMap/demo/demo-config": ['.data.greeting: git "hello from git" live "edited by hand"'], "Service/demo/demo": ["missing in the cluster"] } });
  });

  it("leaves an app that Argo CD renders as jsonnet (the root) to its children: nothing to verify object by object, and the drift report's same rule", async () => {
    const argo = driftedDemo();
    const demo = (await argo.app("demo"))!;
    const root = { ...demo, metadata: { ...demo.metadata, name: "root" }, spec: { ...demo.spec, source: { ...demo.spec.source, directory: { recurse: true, include: "*/application.jsonnet", jsonnet: {} } } } };
    expect(rendersJsonnet(root.spec.source)).toBe(true);
    expect(rendersJsonnet(demo.spec.source)).toBe(false);
    expect(await verifyApp(argo, fakeGit({}, { [HEAD]: manifests }), root, HEAD)).toBeUndefined();
  });
});

describe("platform resync", () => {
  it("syncs the drifted app to the branch head, verifies it, and audits it with the revisions and evidence", async () => {
    const argo = driftedDemo();
    const r = await runResync({ stack: "lab", apps: [], correlationId: "cid-r", config: () => config }, deps(argo));
    expect(r).toMatchObject({ outcome: "succeeded", apps: [{ app: "demo", revision: HEAD, restored: true }] });
    expect(argo.patches.map((p) => p.app)).toEqual(["demo"]); // the operation (compared with HEAD already: no refresh); platform-config is Synced: untouched
    expect(records).toEqual([expect.objectContaining({ action: "resync", outcome: "succeeded", correlationId: "cid-r", apps: "demo", revisions: "demo@bbbbbbbbbbbb ", evidence: path.join("evidence", "resync-cid-r") })]);
    const ev = path.join(tmp, "evidence", "resync-cid-r");
    expect(fs.readdirSync(ev).sort()).toEqual(["after.json", "before.json", "steps.json", "sync.jsonl", "verify-demo.json", "wait.jsonl"]);
    expect(Object.keys(r.steps)).toEqual(["config", "client", "read", "git", "sync", "wait", "verify"]);
    expect(JSON.parse(fs.readFileSync(path.join(ev, "verify-demo.json"), "utf8"))).toMatchObject({ objects: 1, mismatches: {} });
    expect(progress).toContain("  demo: Synced to bbbbbbbbbbbb, live objects equal Git");
  });

  it("with nothing drifted, does nothing and says so (exit 0)", async () => {
    const argo = new FakeArgo([fakeApp("demo")]);
    const r = await runResync({ stack: "lab", apps: [], correlationId: "cid-n", config: () => config }, deps(argo));
    expect(r.note).toBe("nothing to resync");
    expect(argo.patches).toEqual([]);
    expect(records.map((x) => [x.outcome, x.note])).toEqual([["succeeded", "nothing to resync"]]);
  });

  it("an unreachable API, an unknown app or a silent Git remote: one line, nothing started, audited as failed", async () => {
    const down = driftedDemo();
    down.unreachable = "the Kubernetes API at https://127.0.0.1:9 does not answer: connect ECONNREFUSED";
    await expect(runResync({ stack: "lab", apps: ["demo"], correlationId: "c1", config: () => config }, deps(down))).rejects.toThrow(new OperatorFailure(down.unreachable));
    await expect(runResync({ stack: "lab", apps: ["nope"], correlationId: "c2", config: () => config }, deps(driftedDemo()))).rejects.toThrow("no Argo CD Application 'nope' in namespace argocd");
    const argo = driftedDemo();
    await expect(runResync({ stack: "lab", apps: ["demo"], correlationId: "c3", config: () => config }, deps(argo, fakeGit({}, {}, { down: true })))).rejects.toThrow("the Git remote git://lab/platform.git does not answer: fatal: unable to connect to lab");
    expect(argo.patches).toEqual([]);
    expect(records.map((x) => `${x.correlationId} ${x.action} ${x.outcome}`)).toEqual(["c1 resync failed", "c2 resync failed", "c3 resync failed"]);
    expect(fs.readFileSync(path.join(tmp, "evidence", "resync-c1", "cluster-env.err"), "utf8")).toContain("ECONNREFUSED");
  });

  it("a config error reaches the operator as the one line naming the key", async () => {
    const bad = () => {
      throw new Error("platform:kubeconfigPath: is required (set it with `pulumi config set kubeconfigPath ...`)");
    };
    await expect(runResync({ stack: "lab", apps: [], correlationId: "c4", config: bad }, deps(driftedDemo()))).rejects.toThrow(/^platform:kubeconfigPath: is required/);
  });

  it("live objects that still differ after the sync fail the resync (outcome failed, the objects named)", async () => {
    const argo = driftedDemo();
    argo.applies.set("demo", []); // the controller claims success but nothing changed
    const r = await runResync({ stack: "lab", apps: ["demo"], correlationId: "c5", config: () => config }, deps(argo));
    expect(r.outcome).toBe("failed");
    expect(r.apps[0].error).toBe("live objects differ from Git: ConfigMap/demo/demo-config");
    expect(records.map((x) => x.outcome)).toEqual(["failed"]);
  });
});

describe("platform rollback", () => {
  const sh = (cwd: string, ...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
  let repo: string;
  let remote: string;
  let bad: string;
  beforeEach(() => {
    remote = path.join(tmp, "remote.git");
    repo = path.join(tmp, "repo");
    sh(tmp, "init", "-q", "--bare", "-b", "main", remote);
    sh(tmp, "init", "-q", "-b", "main", repo);
    const f = path.join(repo, "gitops/apps/demo/manifests/config.yaml");
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, manifests["gitops/apps/demo/manifests/config.yaml"]);
    sh(repo, "add", "-A");
    sh(repo, "commit", "-qm", "good");
    fs.writeFileSync(f, fs.readFileSync(f, "utf8").replace("hello from git", "faulty"));
    sh(repo, "commit", "-qam", "demo: faulty greeting");
    bad = sh(repo, "rev-parse", "HEAD");
    sh(repo, "push", "-q", remote, "HEAD:refs/heads/main");
  });

  function argoForRollback(): FakeArgo {
    const argo = new FakeArgo([fakeApp("demo")]);
    argo.live.set("ConfigMap/demo/demo-config", cm("faulty"));
    argo.applies.set("demo", [cm("hello from git")]);
    return argo;
  }
  const gitAtRevert = () => ({ lsRemote: () => undefined, tree: (_u: string, rev: string) => ({ sha: rev, tree: { list: (d: string) => Object.keys(manifests).filter((p) => p.startsWith(d + "/")), read: (p: string) => manifests[p as keyof typeof manifests] } }) });

  it("reverts with the trailer, pushes, syncs the touched app at the revert, verifies, and audits every field", async () => {
    const argo = argoForRollback();
    const r = await runRollback({ stack: "lab", repo, remote, pulumi: true, commit: bad, correlationId: "cid-rb", config: () => config }, { ...deps(argo), git: gitAtRevert() });
    const revert = sh(repo, "rev-parse", "HEAD");
    expect(r).toMatchObject({ outcome: "succeeded", commit: bad, revert, revisionBefore: bad, pulumi: "skipped", apps: [{ app: "demo", restored: true }] });
    expect(sh(repo, "log", "-1", "--format=%B")).toBe(`Revert "demo: faulty greeting"\n\nThis reverts commit ${bad}.\n\nCorrelation-Id: cid-rb`);
    expect(sh(remote, "rev-parse", "refs/heads/main")).toBe(revert);
    expect((argo.patches[1].patch.operation as { sync: { revision: string } }).sync.revision).toBe(revert);
    expect(records).toEqual([expect.objectContaining({ action: "rollback", outcome: "succeeded", commit: bad, revert, revisionBefore: bad, revisionAfter: revert, apps: "demo", pulumi: "skipped", argocdSeconds: expect.any(String), seconds: expect.any(String) })]);
    expect(fs.readdirSync(path.join(tmp, "evidence", "rollback-cid-rb")).sort()).toEqual(["after.json", "before.json", "push.txt", "remote-before.txt", "revert.txt", "sync.jsonl", "verify-demo.json", "wait.jsonl"]);
  });

  it("runs the Pulumi part from the checkout under the same id when the commit touched the program, and audits pulumi-up too", async () => {
    fs.mkdirSync(path.join(repo, "infra"));
    fs.writeFileSync(path.join(repo, "infra/x.yml"), "a: 1\n");
    sh(repo, "add", "-A");
    sh(repo, "commit", "-qm", "infra: x");
    const infra = sh(repo, "rev-parse", "HEAD");
    const ups: unknown[] = [];
    const d = { ...deps(argoForRollback()), pulumiUp: async (o: unknown) => void ups.push(o) };
    const r = await runRollback({ stack: "lab", repo, remote, pulumi: true, commit: infra, correlationId: "cid-p", config: () => config }, d);
    expect(r.pulumi).toBe("succeeded");
    expect(ups).toEqual([expect.objectContaining({ stack: "lab", root: repo, correlationId: "cid-p" })]);
    expect(records.map((x) => `${x.action} ${x.outcome}`)).toEqual(["pulumi-up succeeded", "rollback succeeded"]);
  });

  const refusals: Array<[string, (d: RollbackDeps) => { commit: string; remote?: string; deps?: Partial<RollbackDeps> }, RegExp]> = [
    ["an unknown commit", () => ({ commit: "0123456789abcdef0123456789abcdef01234567" }), /^unknown commit '0123456789abcdef0123456789abcdef01234567' in /],
    ["a dirty checkout", () => {
      fs.appendFileSync(path.join(repo, "gitops/apps/demo/manifests/config.yaml"), "# edit\n");
      return { commit: bad };
    }, /has uncommitted changes: commit or stash them first/],
    ["a merge commit", () => {
      sh(repo, "checkout", "-qb", "side", `${bad}~1`);
      fs.writeFileSync(path.join(repo, "other.txt"), "x\n");
      sh(repo, "add", "-A");
      sh(repo, "commit", "-qm", "side");
      sh(repo, "checkout", "-q", "main");
      sh(repo, "merge", "-q", "--no-ff", "-m", "merge side", "side");
      return { commit: "HEAD" };
    }, /is a merge: revert it by hand choosing the mainline \(git revert -m 1\), then push$/],
    ["a commit not in HEAD's history", () => {
      sh(repo, "checkout", "-qb", "other", `${bad}~1`);
      fs.writeFileSync(path.join(repo, "o.txt"), "x\n");
      sh(repo, "add", "-A");
      sh(repo, "commit", "-qm", "other");
      const c = sh(repo, "rev-parse", "HEAD");
      sh(repo, "checkout", "-q", "main");
      return { commit: c };
    }, /is not in the history of HEAD in /],
    ["an unreachable Git remote", () => ({ commit: bad, remote: path.join(tmp, "none.git") }), /^the Git remote .*none\.git does not answer: /],
    ["an unreachable Kubernetes API", () => ({ commit: bad, deps: { cluster: async () => Promise.reject(new Error("the Kubernetes API at https://127.0.0.1:9 does not answer: connect ECONNREFUSED")) } }), /^the Kubernetes API at https:\/\/127\.0\.0\.1:9 does not answer/],
    ["unusable secrets for the Pulumi part", () => {
      fs.mkdirSync(path.join(repo, "infra"));
      fs.writeFileSync(path.join(repo, "infra/y.yml"), "b: 1\n");
      sh(repo, "add", "-A");
      sh(repo, "commit", "-qm", "infra: y");
      return { commit: "HEAD", deps: { secretsCheck: () => "missing age key /x/age.key" } };
    }, /^the stack's secrets are not usable, so the Pulumi layer could not run: missing age key/],
    ["a commit that does not revert cleanly", () => {
      const f = path.join(repo, "gitops/apps/demo/manifests/config.yaml");
      fs.writeFileSync(f, fs.readFileSync(f, "utf8").replace("faulty", "second"));
      sh(repo, "commit", "-qam", "second");
      sh(repo, "push", "-q", remote, "HEAD:refs/heads/main");
      return { commit: bad };
    }, /^commit [0-9a-f]{12} does not revert cleanly \(conflicts: gitops\/apps\/demo\/manifests\/config.yaml \); later commits changed the same lines/],
  ];
  it.each(refusals)("refuses %s before changing anything: checkout, remote and cluster as they were, audited as failed", async (_n, setup, message) => {
    const argo = argoForRollback();
    const base = deps(argo);
    const s = setup(base);
    const head = sh(repo, "rev-parse", "HEAD");
    const status = sh(repo, "status", "--porcelain");
    const remoteHead = sh(remote, "rev-parse", "refs/heads/main");
    await expect(runRollback({ stack: "lab", repo, remote: s.remote ?? remote, pulumi: true, commit: s.commit, correlationId: "cid-x", config: () => config }, { ...base, ...s.deps })).rejects.toThrow(message);
    expect(sh(repo, "rev-parse", "HEAD")).toBe(head);
    expect(sh(repo, "status", "--porcelain")).toBe(status);
    expect(sh(remote, "rev-parse", "refs/heads/main")).toBe(remoteHead);
    expect(argo.patches).toEqual([]);
    expect(records.map((x) => `${x.action} ${x.outcome}`)).toEqual(["rollback failed"]);
    expect(records[0].error).toMatch(message);
  });

  it("a sync that fails after the push: outcome failed, the revert stays pushed (the message says so)", async () => {
    const argo = argoForRollback();
    argo.behaviour = "fail";
    const r = await runRollback({ stack: "lab", repo, remote, pulumi: false, commit: bad, correlationId: "cid-f", config: () => config }, { ...deps(argo), git: gitAtRevert() });
    expect(r.outcome).toBe("failed");
    expect(r.apps[0].error).toMatch(/sync Failed/);
    expect(sh(remote, "rev-parse", "refs/heads/main")).toBe(r.revert);
    expect(records.map((x) => `${x.action} ${x.outcome}`)).toEqual(["rollback failed"]);
  });

  it("finds the apps a commit touches (root too for an Application definition) and whether it touches the program", () => {
    expect(affectedApps(["gitops/apps/demo/manifests/a.yaml", "gitops/apps/platform-config/application.jsonnet", "docs/x.md", "gitops/root.jsonnet"])).toEqual(["demo", "platform-config", "root"]);
    expect(touchesProgram(["docs/x.md", "gitops/apps/demo/manifests/a.yaml"])).toBe(false);
    expect(touchesProgram(["Pulumi.lab.yaml"])).toBe(true);
    expect(touchesProgram(["package-lock.json"])).toBe(true);
  });
});

describe("platform audit", () => {
  const rec = (cid: string, action: string) => makeAuditRecord({ stack: "lab", action, outcome: "succeeded", correlationId: cid }, { now: new Date("2026-12-01T10:00:00Z"), who: "op@ws", gitRevision: null });

  it("recent: one aligned line per record, oldest first", () => {
    expect(renderRecent([rec("c1", "resync")]).split("\n")[1]).toBe(`${"2026-12-01T10:00:00+00:00".padEnd(26)} ${"c1".padEnd(28)} ${"resync".padEnd(16)} ${"succeeded".padEnd(10)} op@ws`);
  });

  it("show: joins the audit log, the stack history (by message), Argo CD (operation and history) and evidence; (none) where a source has nothing", async () => {
    const file = path.join(tmp, "audit.jsonl");
    fs.writeFileSync(file, [rec("c1", "rollback"), rec("c2", "drift")].map((r) => JSON.stringify(r)).join("\n") + "\n");
    fs.mkdirSync(path.join(tmp, "ev", "rollback-c1"), { recursive: true });
    const app = fakeApp("demo", {
      operationState: { phase: "Succeeded", startedAt: "s", finishedAt: "f", syncResult: { revision: HEAD }, operation: { initiatedBy: { username: "platform-operator (Correlation-Id: c1)" }, info: [{ name: "Correlation-Id", value: "c1" }] } },
      history: [{ id: 3, revision: HEAD, deployedAt: "d", initiatedBy: { username: "platform-operator (Correlation-Id: c1)" } }],
    });
    const history = [{ version: 7, kind: "update", result: "succeeded", startTime: new Date("2026-12-01T10:00:00Z"), message: "up lab [Correlation-Id: c1]", resourceChanges: { same: 3 } }, { version: 6, kind: "update", result: "succeeded", startTime: new Date(), message: "other" }] as unknown as UpdateSummary[];
    const t = await auditTrail("c1", "lab", { auditFile: file, gitDirs: [], history: async () => history, apps: async () => [app, fakeApp("platform-config")], evidenceDir: path.join(tmp, "ev") });
    expect(t.found).toBe(true);
    const text = renderTrail(t);
    expect(text).toContain('"action": "rollback", "correlationId": "c1"');
    expect(text).not.toContain('"c2"');
    expect(text).toContain("== git commits with Correlation-Id: c1\n  (none)");
    expect(text).toContain('  v7 update succeeded 2026-12-01T10:00:00.000Z up lab [Correlation-Id: c1]  changes={"same":3}');
    expect(text).toContain(`  demo: last operation Succeeded s -> f revision bbbbbbbbbbbb by platform-operator (Correlation-Id: c1); Correlation-Id=c1`);
    expect(text).toContain(`  demo: history #3 deployed d revision bbbbbbbbbbbb by platform-operator (Correlation-Id: c1)`);
    expect(text).toContain(path.join(tmp, "ev", "rollback-c1"));
  });

  it("show: sources that cannot be read say so, and an id nobody carries is not found", async () => {
    const t = await auditTrail("nobody", "prod", {
      auditFile: path.join(tmp, "none.jsonl"),
      gitDirs: [path.join(tmp, "no.git")],
      history: async () => Promise.reject(new Error("no stack named 'prod'")),
      apps: async () => Promise.reject(new Error("the Kubernetes API at x does not answer")),
      evidenceDir: path.join(tmp, "none"),
    });
    expect(t.found).toBe(false);
    expect(renderTrail(t)).toContain("  (stack history not available for prod: no stack named 'prod')");
    expect(renderTrail(t)).toContain("  (Argo CD not reachable for prod: the Kubernetes API at x does not answer)");
    expect(argoLines([fakeApp("demo")], "nobody")).toEqual([]);
  });
});
