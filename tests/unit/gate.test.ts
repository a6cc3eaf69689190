// The gate's pure logic (lib/gate/*, lib/driftIssue.ts, cli/args.ts): object diff, verdict and
// exit code, Markdown, the "why" of a domain, engine events, and the cluster layer against a fake
// cluster. No process, no network: milliseconds each.
import * as pulumi from "@pulumi/pulumi";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { parseFlags, UsageError } from "../../cli/args";
import { DRIFT_MARKER, driftIssueBody } from "../../lib/driftIssue";
import { appReport, render, touchedApps, Tree } from "../../lib/gate/clusterLayer";
import { appChanges, fieldChanges, K8sObject, objectId, withNamespace } from "../../lib/gate/objectDiff";
import { changesFromEvents, errorFromEvents, plainInputDiffs } from "../../lib/gate/pulumiLayer";
import { EXIT, GATE_MARKER, GateReport, renderMarkdown, verdictOf } from "../../lib/gate/report";
import { hashChanged, whyDomain } from "../../lib/gate/why";
import { ArgoApplication, ClusterReader } from "../../lib/kube";

const cm = (data: Record<string, string>, extra: Record<string, unknown> = {}): K8sObject => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "demo-config", namespace: "demo", ...extra }, data });
const svc: K8sObject = { apiVersion: "v1", kind: "Service", metadata: { name: "demo", namespace: "demo" }, spec: { ports: [{ port: 80 }] } };

describe("object diff (server-side apply semantics)", () => {
  it("reports a changed value with its path, the live and the Git value", () => {
    expect(fieldChanges(cm({ greeting: "new" }), cm({ greeting: "old" }))).toEqual([{ path: ".data.greeting", want: "new", live: "old" }]);
  });

  it("does not count fields only the live object has (defaults, status, other managers' labels)", () => {
    const live = { ...cm({ greeting: "hi", extra: "x" }, { uid: "1", resourceVersion: "9", labels: { added: "by-hand" } }), status: {} };
    expect(fieldChanges(cm({ greeting: "hi" }), live)).toEqual([]);
  });

  it("compares scalars as text (the API returns some numbers as strings) and lists element by element", () => {
    expect(fieldChanges({ spec: { ports: [{ port: 80 }] } }, { spec: { ports: [{ port: "80", protocol: "TCP" }] } })).toEqual([]);
    expect(fieldChanges({ a: [1, 2] }, { a: [1] })).toEqual([{ path: ".a", want: [1, 2], live: [1] }]);
  });

  it("lists created, changed and deleted objects, and hides a Secret's values", () => {
    const secret: K8sObject = { apiVersion: "v1", kind: "Secret", metadata: { name: "s", namespace: "demo" }, stringData: { password: "new" } };
    const live = new Map<string, K8sObject | undefined>([
      ["ConfigMap/demo/demo-config", cm({ greeting: "old" })],
      ["Service/demo/demo", svc],
      ["Secret/demo/s", { ...secret, stringData: { password: "old" } }],
      ["ConfigMap/demo/new", undefined],
    ]);
    const fresh = { ...cm({}), metadata: { name: "new", namespace: "demo" } };
    const changes = appChanges([cm({ greeting: "new" }), secret, fresh], live, ["ConfigMap/demo/demo-config", "Service/demo/demo", "Secret/demo/s"]);
    expect(changes).toEqual([
      { kind: "changed", object: "ConfigMap/demo/demo-config", fields: [{ path: ".data.greeting", want: "new", live: "old" }] },
      { kind: "changed", object: "Secret/demo/s", fields: [{ path: ".stringData.password", want: "(hidden)", live: "(hidden)" }] },
      { kind: "created", object: "ConfigMap/demo/new" },
      { kind: "deleted", object: "Service/demo/demo" },
    ]);
  });

  it("does not call an object deleted that is already gone from the cluster", () => {
    expect(appChanges([], new Map([["Service/demo/demo", undefined]]), ["Service/demo/demo"])).toEqual([]);
  });

  it("fills in the app's namespace for namespaced objects only", () => {
    const ns: K8sObject = { apiVersion: "v1", kind: "Namespace", metadata: { name: "demo" } };
    expect(objectId(withNamespace(ns, "demo"))).toBe("Namespace/demo");
    expect(objectId(withNamespace({ ...svc, metadata: { name: "demo" } }, "demo"))).toBe("Service/demo/demo");
  });
});

const base = (over: Partial<GateReport> = {}): GateReport => ({
  stack: "lab",
  base: "a".repeat(40),
  head: "b".repeat(40),
  verdict: "no-change",
  exitCode: 0,
  pulumi: { checked: true, changes: [], unchanged: 20 },
  cluster: { checked: true, touchedApps: [], apps: [] },
  ...over,
});
const runChange = { urn: "urn:pulumi:lab::platform::platform:index:AnsibleDomain$pulumi-nodejs:dynamic/platform:AnsiblePlaybookRun::k3s-run", type: "pulumi-nodejs:dynamic/platform:AnsiblePlaybookRun", name: "k3s-run", op: "update", diffs: ["contentHash"], domain: "k3s", why: ["infra/ansible/roles/k3s/templates/config.yaml.j2"] };

describe("verdict and exit code", () => {
  it("is no-change (0) when neither layer changes anything", () => {
    expect(verdictOf(base())).toEqual({ verdict: "no-change", exitCode: EXIT["no-change"] });
    expect(EXIT["no-change"]).toBe(0);
  });

  it("is changes (7) for a resource change or an object change", () => {
    expect(verdictOf(base({ pulumi: { checked: true, changes: [runChange], unchanged: 19 } })).exitCode).toBe(7);
    const apps = [{ app: "demo", changes: [{ kind: "deleted" as const, object: "Service/demo/demo" }], notes: [] }];
    expect(verdictOf(base({ cluster: { checked: true, touchedApps: ["demo"], apps } })).verdict).toBe("changes");
  });

  it("is broken (1) when a layer could not be checked, whatever the other says, with the reason in one line", () => {
    const r = verdictOf(base({ pulumi: { checked: true, changes: [runChange], unchanged: 1 }, cluster: { checked: false, touchedApps: [], apps: [], error: "the Kubernetes API at https://127.0.0.1:1 does not answer: connect ECONNREFUSED" } }));
    expect(r).toEqual({ verdict: "broken", exitCode: 1, reason: "cluster layer: the Kubernetes API at https://127.0.0.1:1 does not answer: connect ECONNREFUSED" });
  });
});

describe("Markdown", () => {
  it("says no change, and carries the sticky-comment marker", () => {
    const md = renderMarkdown(base());
    expect(md.startsWith(GATE_MARKER)).toBe(true);
    expect(md).toContain("## Gate on `lab`: no change (exit 0)");
    expect(md).toContain("No change (20 resources unchanged).");
    expect(md).toContain("No change: the PR touches no app under gitops/apps/.");
  });

  it("lists a domain with the file that makes its run due, and each object change of an app", () => {
    const apps = [{ app: "demo", notes: [], changes: [{ kind: "changed" as const, object: "ConfigMap/demo/demo-config", fields: [{ path: ".data.greeting", want: "new", live: "old" }] }, { kind: "deleted" as const, object: "Service/demo/demo" }] }];
    const r = base({ pulumi: { checked: true, changes: [runChange], unchanged: 19 }, cluster: { checked: true, touchedApps: ["demo"], apps } });
    Object.assign(r, verdictOf(r));
    const md = renderMarkdown(r);
    expect(md).toContain("changes expected (exit 7)");
    expect(md).toContain("| `k3s-run` (domain k3s) | update (contentHash) | `infra/ansible/roles/k3s/templates/config.yaml.j2` |");
    expect(md).toContain("- changed `ConfigMap/demo/demo-config`:\n    - `.data.greeting`: live `\"old\"` -> PR `\"new\"`");
    expect(md).toContain("- deleted `Service/demo/demo`");
  });

  it("puts the reason of a broken gate first", () => {
    const r = base({ cluster: { checked: false, touchedApps: [], apps: [], error: "API down" } });
    Object.assign(r, verdictOf(r));
    expect(renderMarkdown(r)).toContain("**Broken:** cluster layer: API down");
  });
});

describe("why a domain's run is due", () => {
  const isInput = (f: string) => f.startsWith("infra/ansible/roles/k3s/templates/") || f === "infra/ansible/site.yml";
  it("names the input files that changed, not the others", () => {
    expect(whyDomain({ diffs: ["contentHash"], changedFiles: ["README.md", "infra/ansible/roles/k3s/templates/a.j2", "infra/ansible/roles/k3s/README.md"], isInput })).toEqual(["infra/ansible/roles/k3s/templates/a.j2"]);
  });

  it("names the secrets file and the versions pins the domain reads", () => {
    expect(whyDomain({ diffs: ["contentHash"], changedFiles: ["secrets/prod.sops.yaml"], isInput, secretsFile: "secrets/prod.sops.yaml", changedPins: ["KUBERNETES_VERSION"] })).toEqual(["toolchain/versions.env KUBERNETES_VERSION", "secrets hash (secrets/prod.sops.yaml changed)"]);
  });

  it("says so when no input changed (rotated secrets or a stack deployed from elsewhere), and names host drift", () => {
    expect(whyDomain({ diffs: ["contentHash"], changedFiles: [], isInput })[0]).toMatch(/^content hash differs from the deployed one but no input changed/);
    expect(whyDomain({ diffs: ["hostInSync"], changedFiles: [], isInput })).toEqual(["the last refresh found the host drifted from this domain (up converges it)"]);
  });

  it("finds the files even when the engine names no key (the content hash is a masked secret)", () => {
    const why = whyDomain({ diffs: [], changedFiles: ["infra/ansible/site.yml"], isInput });
    expect(why).toEqual(["infra/ansible/site.yml"]);
    expect(hashChanged(why)).toBe(true);
    expect(hashChanged(whyDomain({ diffs: ["hostAddress"], changedFiles: [], isInput }))).toBe(false);
  });

  it("says when only the provider code changed (no input file, not the content hash)", () => {
    const why = whyDomain({ diffs: ["provider code"], changedFiles: ["components/ansiblePlaybookRun.ts"], isInput });
    expect(why).toEqual(["the provider code changed (components/ansiblePlaybookRun.ts or what it captures): up re-runs the domain once so that refresh runs the new code"]);
    expect(hashChanged(why)).toBe(false);
  });
});

describe("Pulumi layer from engine events", () => {
  const pre = (op: string, name: string, type: string, diffs?: string[], detailed?: string[]): EngineEvent => ({
    sequence: 1,
    timestamp: 1,
    resourcePreEvent: { metadata: { op: op as never, urn: `urn:pulumi:lab::platform::${type}::${name}`, type, provider: "", diffs, detailedDiff: detailed && Object.fromEntries(detailed.map((k) => [k, { diffKind: "update" as never, inputDiff: true }])) } },
  });
  it("keeps each step other than same, with its keys, and recognises a domain's run", () => {
    const r = changesFromEvents([pre("same", "lab", "pulumi:pulumi:Stack"), pre("update", "k3s-run", "pulumi-nodejs:dynamic/platform:AnsiblePlaybookRun", [], ["contentHash"]), pre("create", "x", "kubernetes:core/v1:ConfigMap")]);
    expect(r.unchanged).toBe(1);
    expect(r.changes.map((c) => [c.name, c.op, c.domain, c.diffs])).toEqual([["k3s-run", "update", "k3s", ["contentHash"]], ["x", "create", undefined, []]]);
  });

  it("compares plain inputs itself (a dynamic provider reports no keys), never secret ones, and reads host drift from the old outputs", () => {
    const secret = { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, ciphertext: "[secret]" };
    expect(plainInputDiffs({ host: "a", hostAddress: "1", contentHash: secret, __provider: "x" }, { host: "a", hostAddress: "2", contentHash: secret, __provider: "y" })).toEqual(["hostAddress"]);
    const e = pre("update", "ssh-run", "pulumi-nodejs:dynamic/platform:AnsiblePlaybookRun");
    e.resourcePreEvent!.metadata.old = { type: "", urn: "", id: "", parent: "", provider: "", inputs: { host: "a" }, outputs: { hostInSync: false } } as never;
    e.resourcePreEvent!.metadata.new = { type: "", urn: "", id: "", parent: "", provider: "", inputs: { host: "a" }, outputs: {} } as never;
    expect(changesFromEvents([e]).changes[0].diffs).toEqual(["hostInSync"]);
  });

  it("takes the broken reason from the first error diagnostic, one line", () => {
    const diag: EngineEvent = { sequence: 2, timestamp: 1, diagnosticEvent: { severity: "error", message: "\u001b[31mRunning program '/x' failed with an unhandled exception:\nplatform:secretsFile: file not found: s.yaml\n  at ...", color: "never" } };
    expect(errorFromEvents([diag])).toBe("platform:secretsFile: file not found: s.yaml");
  });
});

describe("cluster layer against a fake cluster", () => {
  const files: Record<string, string> = {
    "gitops/apps/demo/manifests/config.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: demo-config, namespace: demo}\ndata: {greeting: changed}\n",
    "gitops/apps/demo/manifests/namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: demo}\n",
  };
  const baseFiles: Record<string, string> = { ...files, "gitops/apps/demo/manifests/config.yaml": files["gitops/apps/demo/manifests/config.yaml"].replace("changed", "hello"), "gitops/apps/demo/manifests/service.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: demo, namespace: demo}\nspec: {ports: [{port: 80}]}\n" };
  const tree = (f: Record<string, string>): Tree => ({ list: (dir) => Object.keys(f).filter((k) => k.startsWith(dir + "/")), read: (k) => f[k] });
  const liveObjs = new Map<string, K8sObject>([
    ["ConfigMap/demo/demo-config", { ...cm({ greeting: "hello" }), metadata: { name: "demo-config", namespace: "demo", uid: "u" } }],
    ["Service/demo/demo", svc],
    ["Namespace/demo", { apiVersion: "v1", kind: "Namespace", metadata: { name: "demo" }, status: { phase: "Active" } }],
  ]);
  const app: ArgoApplication = { metadata: { name: "demo" }, spec: { source: { path: "gitops/apps/demo/manifests" }, destination: { namespace: "demo" } } };
  const reader: ClusterReader = { ping: async () => undefined, application: async (n) => (n === "demo" ? app : undefined), object: async (o) => liveObjs.get(objectId(o)) };

  it("finds the apps a PR touches from its changed files", () => {
    expect(touchedApps(["gitops/apps/demo/manifests/a.yaml", "gitops/apps/demo/application.jsonnet", "gitops/README.md", "docs/x.md", "gitops/apps/platform-config/manifests/b.yaml"], "gitops")).toEqual(["demo", "platform-config"]);
  });

  it("renders every object of a directory and refuses YAML that does not parse, naming the file", () => {
    expect(render(tree(files), "gitops/apps/demo/manifests", false).map(objectId)).toEqual(["ConfigMap/demo/demo-config", "Namespace/demo"]);
    expect(() => render(tree({ "d/x.yaml": "a: [b\n" }), "d", false)).toThrow(/^d\/x\.yaml: /);
  });

  it("lists exactly a changed ConfigMap value and a deleted Service", async () => {
    const r = await appReport("demo", { gitopsPath: "gitops", head: tree(files), base: tree(baseFiles), changedFiles: ["gitops/apps/demo/manifests/config.yaml", "gitops/apps/demo/manifests/service.yaml"], reader });
    expect(r).toEqual({
      app: "demo",
      notes: [],
      changes: [
        { kind: "changed", object: "ConfigMap/demo/demo-config", fields: [{ path: ".data.greeting", want: "changed", live: "hello" }] },
        { kind: "deleted", object: "Service/demo/demo" },
      ],
    });
  });
});

describe("flags and the drift issue body", () => {
  it("parses flags and names an unknown one", () => {
    expect(parseFlags("gate", ["--stack", "prod", "--json", "--out=x"], { stack: "string", json: "boolean", out: "string" }).flags).toEqual({ stack: "prod", json: true, out: "x" });
    expect(() => parseFlags("gate", ["--stak", "prod"], { stack: "string" })).toThrow(new UsageError("gate: unknown flag '--stak' (see `platform gate --help`)"));
    expect(() => parseFlags("gate", ["--stack"], { stack: "string" })).toThrow("gate: flag '--stack' needs a value");
  });

  it("renders a drifted report as the issue body: marker, layers, what drifted", () => {
    const body = driftIssueBody({
      stack: "prod",
      correlationId: "cid-1",
      wallSeconds: 42,
      status: "drifted",
      layers: {
        host: { status: "drifted", domains: { postgresql: { drifted: true, tasks: [{ task: "postgresql : Start PostgreSQL" }] }, ssh: { drifted: false, tasks: [] } } },
        pulumi: { status: "drifted", resources: ["postgresql-run"], hostInSyncFalse: true },
        cluster: { status: "clean", apps: [] },
      },
    });
    expect(body.startsWith(DRIFT_MARKER)).toBe(true);
    expect(body).toContain("## Drift on `prod`: drifted");
    expect(body).toContain("- domain `postgresql`: `postgresql : Start PostgreSQL`");
    expect(body).not.toContain("`ssh`");
    expect(body).toContain("- `postgresql-run`");
  });

  it("never puts a Secret's values into the issue body", () => {
    const body = driftIssueBody({
      stack: "prod",
      correlationId: "c",
      wallSeconds: 1,
      status: "drifted",
      layers: { cluster: { status: "drifted", apps: [{ app: "demo", sync: "OutOfSync", health: "Healthy", policy: "manual", drifted: true, orphans: [], conditions: [], lastOperation: {}, git: { branch: "main", behind: false }, outOfSync: [{ object: "Secret/demo/creds", status: "OutOfSync", requiresPruning: false }], diff: { "Secret/demo/creds": ['.data.password: git "czNjcjN0" live "b3RoZXI="'] } }] } },
    });
    expect(body).toContain("`Secret/demo/creds`");
    expect(body).toContain("(values hidden)");
    expect(body).not.toContain("czNjcjN0");
  });
});
