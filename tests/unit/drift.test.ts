// `platform drift`'s logic (lib/drift/*, cli/commands/drift.ts flags) against fakes of the
// Kubernetes client, Git and the Automation API's engine events: report rendering, exit codes,
// each app's Git truth (behind, a head that does not parse), layer errors as one line. No
// process, no network: milliseconds each.
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { drift } from "../../cli/commands/drift";
import { UsageError } from "../../cli/args";
import { ArgoApp, AppProject, clusterLayer, DriftCluster, findOrphans, GitRemote, GitSnapshot, globRegExp } from "../../lib/drift/clusterLayer";
import { EvidenceRecord, hostFromRecords } from "../../lib/drift/hostLayer";
import { refreshFromEvents } from "../../lib/drift/pulumiLayer";
import { DriftReport, EXIT, oneLine, overall, renderSummary } from "../../lib/drift/report";
import { ALL_DOMAINS } from "../../lib/domains";
import { DRIFT_EXIT, driftIssueBody } from "../../lib/driftIssue";
import { K8sObject } from "../../lib/gate/objectDiff";

const REPO = "git://git.lab.invalid/platform.git";
const OLD = "a".repeat(40);
const HEAD = "b".repeat(40);

const config = (greeting: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo-config\ndata:\n  greeting: ${greeting}\n`;
const settings = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: platform-settings\ndata:\n  mode: lab\n";

/** A fake remote: commit -> {file: text}; branches -> commit. */
function fakeGit(commits: Record<string, Record<string, string>>, branches: Record<string, string>): GitRemote & { fetched: string[] } {
  const fetched: string[] = [];
  return {
    fetched,
    async resolve(url, ref) {
      if (url !== REPO || !branches[ref]) throw new Error(`no branch or tag '${ref}' in ${url}`);
      return branches[ref];
    },
    async snapshot(_url, sha): Promise<GitSnapshot> {
      const files = commits[sha];
      if (!files) throw new Error(`git fetch: couldn't find remote ref ${sha}`);
      fetched.push(sha);
      return {
        files: async (dir) => Object.keys(files).filter((f) => f.startsWith(dir + "/")).map((f) => ({ file: f, blob: `blob-of:${files[f]}` })),
        read: async (f) => files[f],
      };
    },
  };
}

const app = (name: string, revision: string, extra: Partial<NonNullable<ArgoApp["status"]>> = {}, spec: Partial<ArgoApp["spec"]> = {}): ArgoApp => ({
  metadata: { name },
  spec: { project: "platform", source: { repoURL: REPO, targetRevision: "main", path: `gitops/apps/${name}/manifests` }, destination: { namespace: name }, syncPolicy: { automated: { prune: true, selfHeal: name !== "demo" } }, ...spec },
  status: { sync: { status: "Synced", revision }, health: { status: "Healthy" }, resources: [{ version: "v1", kind: "ConfigMap", namespace: name, name: name === "demo" ? "demo-config" : "platform-settings", status: "Synced" }], ...extra },
});

function fakeCluster(apps: ArgoApp[], opts: { live?: Record<string, K8sObject>; namespaced?: Record<string, K8sObject[]>; project?: AppProject; down?: string } = {}): DriftCluster {
  return {
    async ping() {
      if (opts.down) throw new Error(opts.down);
    },
    applications: async () => apps,
    appProject: async (name) => (name === "platform" ? (opts.project ?? { spec: { orphanedResources: { ignore: [{ group: "", kind: "Secret", name: "*-secrets" }] } } }) : { spec: {} }),
    object: async (o) => opts.live?.[`${o.kind}/${o.metadata.namespace}/${o.metadata.name}`],
    list: async (ns) => opts.namespaced?.[ns] ?? [],
  };
}

const tree = (demo: string) => ({ "gitops/apps/demo/manifests/config.yaml": demo, "gitops/apps/platform-config/manifests/settings.yaml": settings, "gitops/apps/demo/application.jsonnet": "{}" });

describe("cluster layer: each app's Git truth", () => {
  it("an app compared at the branch head is clean", async () => {
    const git = fakeGit({ [HEAD]: tree(config("hello")) }, { main: HEAD });
    const layer = await clusterLayer({ cluster: fakeCluster([app("demo", HEAD), app("platform-config", HEAD)]), git });
    expect(layer.status).toBe("clean");
    expect(layer.apps.map((a) => [a.app, a.drifted, a.git.head, a.git.behind])).toEqual([
      ["demo", false, HEAD, false],
      ["platform-config", false, HEAD, false],
    ]);
  });

  it("another commit that leaves the app's files as they were is not 'behind'", async () => {
    const git = fakeGit({ [OLD]: tree(config("hello")), [HEAD]: { ...tree(config("hello")), "README.md": "changed" } }, { main: HEAD });
    const layer = await clusterLayer({ cluster: fakeCluster([app("demo", OLD)]), git });
    expect(layer.apps[0].git).toMatchObject({ compared: OLD, head: HEAD, behind: false });
    expect(layer.status).toBe("clean");
  });

  it("an app behind the head names both revisions (drifted)", async () => {
    const git = fakeGit({ [OLD]: tree(config("hello")), [HEAD]: tree(config("bonjour")) }, { main: HEAD });
    const layer = await clusterLayer({ cluster: fakeCluster([app("demo", OLD), app("platform-config", OLD)]), git });
    expect(layer.status).toBe("drifted");
    const demo = layer.apps.find((a) => a.app === "demo")!;
    expect(demo).toMatchObject({ sync: "Synced", drifted: true, git: { compared: OLD, head: HEAD, behind: true } });
    expect(layer.apps.find((a) => a.app === "platform-config")!.drifted).toBe(false);
    const text = renderSummary({ stack: "lab", correlationId: "c", wallSeconds: 1, status: "drifted", layers: { cluster: layer } }, "evidence/drift-c.json");
    expect(text).toContain(`behind     compared at ${OLD.slice(0, 12)}, main is at ${HEAD.slice(0, 12)}`);
  });

  it("a head that does not parse names the app, the revision, the file and the parser's message; every other app is still reported", async () => {
    const bad = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: demo-config\ndata: [unclosed\n";
    const git = fakeGit({ [OLD]: tree(config("hello")), [HEAD]: tree(bad) }, { main: HEAD });
    const layer = await clusterLayer({ cluster: fakeCluster([app("demo", OLD), app("platform-config", OLD)]), git });
    const demo = layer.apps.find((a) => a.app === "demo")!;
    expect(demo.git.renderError).toMatchObject({ revision: HEAD, file: "gitops/apps/demo/manifests/config.yaml" });
    expect(demo.git.renderError!.message.length).toBeGreaterThan(5);
    expect(demo.drifted).toBe(true);
    expect(layer.apps.find((a) => a.app === "platform-config")).toMatchObject({ sync: "Synced", health: "Healthy", drifted: false });
    expect(layer.status).toBe("drifted");
    expect(EXIT[overall({ cluster: layer })]).toBe(3);
    const text = renderSummary({ stack: "lab", correlationId: "c", wallSeconds: 1, status: "drifted", layers: { cluster: layer } }, "r.json");
    expect(text).toContain(`unrenderable main at ${HEAD.slice(0, 12)}: gitops/apps/demo/manifests/config.yaml: ${demo.git.renderError!.message}`);
    expect(text).toMatch(/platform-config\s+Synced\s+Healthy/);
  });

  it("an app whose Git cannot be read makes the layer broken, naming it, and still lists the others", async () => {
    const git = fakeGit({ [HEAD]: tree(config("hello")) }, { main: HEAD });
    const other = app("other", HEAD, {}, { source: { repoURL: "git://elsewhere.invalid/x.git", targetRevision: "main", path: "x" } });
    const layer = await clusterLayer({ cluster: fakeCluster([app("demo", HEAD), other]), git });
    expect(layer.status).toBe("broken");
    expect(layer.error).toBe("app other: cannot resolve main in git://elsewhere.invalid/x.git: no branch or tag 'main' in git://elsewhere.invalid/x.git");
    expect(layer.apps.map((a) => a.app)).toEqual(["demo", "other"]);
  });

  it("an app whose orphans cannot be listed is not called clean: broken, naming it", async () => {
    const git = fakeGit({ [HEAD]: tree(config("hello")) }, { main: HEAD });
    const cluster = { ...fakeCluster([app("demo", HEAD), app("platform-config", HEAD)]), list: async (ns: string) => (ns === "demo" ? Promise.reject(new Error("cannot list ConfigMap in demo: the Kubernetes API: no answer within 15s")) : []) };
    const layer = await clusterLayer({ cluster, git });
    expect(layer.status).toBe("broken");
    expect(layer.error).toBe("app demo: orphans not checked: cannot list ConfigMap in demo: the Kubernetes API: no answer within 15s");
    expect(layer.apps.map((a) => a.app)).toEqual(["demo", "platform-config"]);
  });

  it("an API that does not answer is one line, and broken", async () => {
    const layer = await clusterLayer({ cluster: fakeCluster([], { down: "the Kubernetes API at https://127.0.0.1:9 does not answer: connect ECONNREFUSED\n    at foo (x.js:1)" }), git: fakeGit({}, {}) });
    expect(layer).toEqual({ status: "broken", apps: [], error: "the Kubernetes API at https://127.0.0.1:9 does not answer: connect ECONNREFUSED" });
  });

  it("an object out of sync carries its field diff against Git at the compared revision", async () => {
    const git = fakeGit({ [HEAD]: tree(config("hello")) }, { main: HEAD });
    const demo = app("demo", HEAD, { sync: { status: "OutOfSync", revision: HEAD }, resources: [{ version: "v1", kind: "ConfigMap", namespace: "demo", name: "demo-config", status: "OutOfSync" }] });
    const live = { "ConfigMap/demo/demo-config": { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "demo-config", namespace: "demo" }, data: { greeting: "edited by hand" } } };
    const layer = await clusterLayer({ cluster: fakeCluster([demo], { live }), git });
    expect(layer.apps[0].outOfSync).toEqual([{ object: "ConfigMap/demo/demo-config", status: "OutOfSync", requiresPruning: false }]);
    expect(layer.apps[0].diff).toEqual({ "ConfigMap/demo/demo-config": ['.data.greeting: git "hello" live "edited by hand"'] });
    expect(layer.status).toBe("drifted");
  });

  it("orphans honour the AppProject's orphanedResources.ignore and skip what Kubernetes makes", async () => {
    const o = (kind: string, name: string, extra: Record<string, unknown> = {}): K8sObject => ({ apiVersion: "v1", kind, metadata: { name, ...extra } });
    const items = [o("ConfigMap", "demo-config"), o("ConfigMap", "handmade"), o("ConfigMap", "kube-root-ca.crt"), o("Secret", "demo-secrets"), o("ServiceAccount", "default"), o("Secret", "owned", { ownerReferences: [{}] })];
    expect(findOrphans(items, new Set(["ConfigMap/demo-config"]), [{ group: "", kind: "Secret", name: "*-secrets" }], "demo")).toEqual(["ConfigMap/demo/handmade"]);
    const git = fakeGit({ [HEAD]: tree(config("hello")) }, { main: HEAD });
    const layer = await clusterLayer({ cluster: fakeCluster([app("demo", HEAD)], { namespaced: { demo: items } }), git });
    expect(layer.apps[0]).toMatchObject({ orphans: ["ConfigMap/demo/handmade"], drifted: true });
  });

  it("globs as Argo CD's directory include uses them", () => {
    expect(globRegExp("*/application.jsonnet").test("demo/application.jsonnet")).toBe(true);
    expect(globRegExp("*/application.jsonnet").test("demo/manifests/x.yaml")).toBe(false);
    expect(globRegExp("{a,b}.yaml").test("b.yaml")).toBe(true);
  });
});

const runEvent = (domain: string, old: Record<string, unknown>, now: Record<string, unknown>, op = "refresh"): EngineEvent =>
  ({ sequence: 1, timestamp: 0, resOutputsEvent: { metadata: { op, urn: `urn:pulumi:lab::platform::platform:index:AnsibleDomain$pulumi-nodejs:dynamic:Resource::${domain}-run`, type: "pulumi-nodejs:dynamic/platform:AnsiblePlaybookRun", provider: "", old: { outputs: old }, new: { outputs: now } } } }) as unknown as EngineEvent;

describe("pulumi layer: the refresh preview's engine events", () => {
  it("a run whose check found the host drifted is the drifted resource, with its evidence record", () => {
    const events = [
      runEvent("base", { hostInSync: true }, { hostInSync: true, lastCheck: { evidenceFile: "evidence/ansible-1-cid.json" } }),
      runEvent("postgresql", { hostInSync: true }, { hostInSync: false, lastCheck: { evidenceFile: "evidence/ansible-2-cid.json" } }),
    ];
    const { layer, checks } = refreshFromEvents(events);
    expect(layer).toEqual({ status: "drifted", resources: ["postgresql-run"], hostInSyncFalse: true });
    expect(checks).toEqual([
      { domain: "base", hostInSync: true, evidenceFile: "evidence/ansible-1-cid.json" },
      { domain: "postgresql", hostInSync: false, evidenceFile: "evidence/ansible-2-cid.json" },
    ]);
  });

  it("nothing refreshed differently: clean", () => {
    expect(refreshFromEvents([runEvent("base", { hostInSync: true }, { hostInSync: true })]).layer).toEqual({ status: "clean", resources: [], hostInSyncFalse: false });
  });
});

const record = (tags: string[], tasks: EvidenceRecord["tasks"], ok = true): EvidenceRecord => ({ correlation_id: "cid", tags, ok, tasks });

describe("host layer: from the check runs' evidence records", () => {
  it("per domain, from one record per domain (the refresh's runs)", () => {
    const layer = hostFromRecords(
      [
        { file: "a.json", record: record(["base"], [{ host: "vps", role: "base", task: "Packages", status: "ok" }]) },
        { file: "b.json", record: record(["postgresql"], [{ host: "vps", role: "postgresql", task: "Start PostgreSQL", status: "changed", diff_summary: [{ before_header: "state", lines: ["-started"] }] }]) },
      ],
      ["base", "postgresql"],
      "refresh",
    );
    expect(layer.status).toBe("drifted");
    expect(layer.domains).toEqual({ base: { drifted: false, tasks: [] }, postgresql: { drifted: true, tasks: [{ task: "Start PostgreSQL", diff: [{ before_header: "state", lines: ["-started"] }] }] } });
  });

  it("an unreachable host, or a domain no run covered, is broken, in one line each", () => {
    const layer = hostFromRecords([{ file: "a.json", record: record(["base"], [{ host: "vps", role: null, task: "Gathering Facts", status: "unreachable", message: "ssh: connect to host 10.0.0.1 port 22: No route to host" }], false) }], ["base", "ssh"], "refresh");
    expect(layer.status).toBe("broken");
    expect(layer.errors).toEqual(["ssh: no check run covered this domain", "vps: preflight / Gathering Facts: ssh: connect to host 10.0.0.1 port 22: No route to host"]);
  });
});

describe("report, exit codes, errors read once", () => {
  const report = (layers: DriftReport["layers"]): DriftReport => ({ stack: "lab", correlationId: "c", wallSeconds: 2, status: overall(layers), layers });

  it("exit 0 clean, 3 drifted, 1 broken (broken wins), the same table as the issue body's", () => {
    expect(EXIT).toEqual(DRIFT_EXIT);
    expect(overall({ host: { status: "clean", domains: {} }, pulumi: { status: "clean", resources: [], hostInSyncFalse: false } })).toBe("clean");
    expect(overall({ host: { status: "drifted", domains: {} }, pulumi: { status: "clean", resources: [], hostInSyncFalse: false } })).toBe("drifted");
    expect(overall({ host: { status: "drifted", domains: {} }, cluster: { status: "broken", apps: [], error: "x" } })).toBe("broken");
  });

  it("renders the summary the e2e files read (the lines of the former scripts/drift.sh) and the issue body reads the JSON", () => {
    const r = report({
      host: { status: "drifted", domains: { postgresql: { drifted: true, tasks: [{ task: "Start PostgreSQL" }] }, base: { drifted: false, tasks: [] } } },
      pulumi: { status: "drifted", resources: ["postgresql-run"], hostInSyncFalse: true },
      cluster: { status: "broken", apps: [], error: "the Kubernetes API at https://127.0.0.1:9 does not answer" },
    });
    const text = renderSummary(r, "evidence/drift-c.json");
    expect(text.split("\n")[0]).toBe("drift report: BROKEN (lab, correlation id c, 2s)");
    expect(text).toMatch(/host\s+drifted/);
    expect(text).toMatch(/postgresql\s+drifted Start PostgreSQL/);
    expect(text).toContain("    resources: postgresql-run");
    expect(text).toContain("  cluster  broken: the Kubernetes API at https://127.0.0.1:9 does not answer");
    expect(text.trim().split("\n").pop()).toBe("report: evidence/drift-c.json");
    const body = driftIssueBody(r as unknown as Parameters<typeof driftIssueBody>[0]);
    expect(body).toContain("- domain `postgresql`: `Start PostgreSQL`");
  });

  it("a wrapped failure with a stack trace becomes its one line", () => {
    const e = new Error("error: an unhandled error occurred:\n  Program failed with an unhandled exception:\n  Error: platform:hostAddress: '1.2.3.999' is not an address\n    at readPlatformConfig (lib/config.ts:1:1)");
    expect(oneLine(e)).toBe("platform:hostAddress: '1.2.3.999' is not an address");
  });

  it("flags: an unknown layer, domain or flag is a usage error naming it (exit 2)", async () => {
    await expect(drift.run(["lab", "--layers", "host,dns"])).rejects.toThrow(new UsageError("drift: unknown layer 'dns' (known: host, pulumi, cluster)"));
    await expect(drift.run(["lab", "--domains", "dns"])).rejects.toThrow(`unknown domain 'dns' (known: ${ALL_DOMAINS.join(" ")})`);
    // cli/platform.ts turns a UsageError into exit 2 with its message.
    await expect(drift.run(["--bogus"])).rejects.toThrow(new UsageError("drift: unknown flag '--bogus' (see `platform drift --help`)"));
    await expect(drift.run(["lab", "prod"])).rejects.toThrow("drift: unexpected argument 'prod'");
  });
});
