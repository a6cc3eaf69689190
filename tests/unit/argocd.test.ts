import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { installMocks, promiseOf } from "../support/pulumiMocks";

const registered = installMocks();
/**
 * Each child's `dependsOn`, by resource name: a transformation on the component sees every child's
 * options as the component passes them (the mocks see inputs only, not dependencies).
 */
const dependsOn: Record<string, string[]> = {};
const names = new Map<unknown, string>();
const recordDependsOn: pulumi.ResourceTransformation = ({ resource, name, opts }) => {
  names.set(resource, name);
  const deps = opts.dependsOn === undefined ? [] : Array.isArray(opts.dependsOn) ? opts.dependsOn : [opts.dependsOn];
  dependsOn[name] = deps.map((d) => names.get(d) ?? "(not a child)");
  return undefined;
};
// The real KubectlApply serializes its provider (needs the V8 inspector jest lacks): here it is a
// plain custom resource with the same inputs; the real one runs under the engine in tests/e2e.
jest.mock("../../components/kubectlApply", () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const p = require("@pulumi/pulumi") as typeof import("@pulumi/pulumi");
  class KubectlApply extends p.CustomResource {
    constructor(name: string, args: Record<string, unknown>, opts?: import("@pulumi/pulumi").CustomResourceOptions) {
      super("platform:test:KubectlApply", name, args, opts);
    }
  }
  return { KubectlApply };
});
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ArgoCd, APPS_PROJECT, appsProjectSpec } = require("../../components/argocd") as typeof import("../../components/argocd");
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { pinnedVersion } = require("../../lib/versions") as typeof import("../../lib/versions");

describe("ArgoCd component, prod path (Helm chart)", () => {
  let argocd: InstanceType<typeof ArgoCd>;
  beforeAll(async () => {
    const provider = new k8s.Provider("cluster", { kubeconfig: "unused" });
    argocd = new ArgoCd("argocd", {
      mode: "helm",
      provider,
      chartVersion: pinnedVersion("ARGOCD_CHART_VERSION"),
      gitopsRepoUrl: "https://git.example.invalid/platform.git",
      values: { server: { replicas: 2 } },
    }, { transformations: [recordDependsOn] });
    await promiseOf(argocd.namespace);
    await promiseOf(argocd.rootApplication.urn);
  });
  const release = () => registered.find((r) => r.type === "kubernetes:helm.sh/v3:Release")!;
  const rootApp = () => registered.find((r) => r.type === "kubernetes:argoproj.io/v1alpha1:Application")!;

  it("installs the argo-cd chart at the version pinned in toolchain/versions.env", () => {
    expect(release().inputs).toMatchObject({ chart: "argo-cd", version: pinnedVersion("ARGOCD_CHART_VERSION"), namespace: "argocd" });
  });

  it("keeps argocd-server off any public ingress or load balancer, even with extra values", () => {
    const values = release().inputs.values as { server: Record<string, unknown> };
    expect(values.server.service).toEqual({ type: "ClusterIP" });
    expect(values.server.ingress).toEqual({ enabled: false });
    expect(values.server.replicas).toBe(2);
  });

  it("runs Helm hooks by using helm.v3.Release rather than helm.v4.Chart", () => {
    expect(registered.some((r) => r.type.startsWith("kubernetes:helm.sh/v4"))).toBe(false);
    expect(release().inputs.skipAwait).toBe(false);
  });

  it("creates the child apps' project (GitOps repository only, orphan warnings) before the root", () => {
    const project = registered.find((r) => r.type === "kubernetes:argoproj.io/v1alpha1:AppProject")!;
    expect(project.inputs).toMatchObject({ metadata: { name: "platform", namespace: "argocd" }, spec: { sourceRepos: ["https://git.example.invalid/platform.git"], orphanedResources: { warn: true } } });
    // The root app waits for the project (its children name it), the project for the chart (its CRDs).
    expect(dependsOn[rootApp().name]).toEqual([project.name]);
    expect(dependsOn[project.name]).toEqual([release().name]);
  });

  it("creates the App-of-Apps root pointing at gitops/apps with the cascading finalizer", () => {
    const app = rootApp().inputs as { metadata: { finalizers: string[] }; spec: { source: Record<string, string>; syncPolicy: unknown } };
    expect(app.metadata.finalizers).toContain("resources-finalizer.argocd.argoproj.io");
    expect(app.spec.source).toMatchObject({ repoURL: "https://git.example.invalid/platform.git", targetRevision: "main", path: "gitops/apps" });
    expect(app.spec.syncPolicy).toMatchObject({ automated: { prune: true, selfHeal: true } });
  });

  it("gives every child app the repository and revision through jsonnet external variables, one folder per app", () => {
    const app = rootApp().inputs as { spec: { source: { directory: { include: string; jsonnet: { extVars: Array<{ name: string; value: string }> } } } } };
    expect(app.spec.source.directory.include).toBe("*/application.jsonnet");
    expect(app.spec.source.directory.jsonnet.extVars).toEqual([
      { name: "repoURL", value: "https://git.example.invalid/platform.git" },
      { name: "revision", value: "main" },
    ]);
  });

});

describe("ArgoCd component, air-gapped path (release manifests)", () => {
  const fs = require("fs") as typeof import("fs"); // eslint-disable-line @typescript-eslint/no-require-imports
  const os = require("os") as typeof import("os"); // eslint-disable-line @typescript-eslint/no-require-imports
  const path = require("path") as typeof import("path"); // eslint-disable-line @typescript-eslint/no-require-imports
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "argocd-manifests-"));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const applied = () => registered.filter((r) => r.type === "platform:test:KubectlApply");

  beforeAll(async () => {
    fs.writeFileSync(path.join(dir, "install.yaml"), "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: argocd-application-controller\n");
    const a = new ArgoCd("lab", { mode: "manifests", kubeconfig: ".lab/kubeconfig", manifestsDir: dir, gitopsRepoUrl: "git://10.213.0.1:9418/platform.git" });
    await promiseOf(a.rootApplication.urn);
  });

  it("applies the namespace, the release's install.yaml, the default project and the root app, with no Helm and no provider plugin", () => {
    expect(applied().map((r) => r.name).sort()).toEqual(["lab-apps-project", "lab-cm-settings", "lab-default-project", "lab-install", "lab-ns", "lab-root-app"]);
    expect(registered.some((r) => r.name.startsWith("lab-") && r.type.startsWith("kubernetes:"))).toBe(false);
    const install = applied().find((r) => r.name === "lab-install")!.inputs as { files: string[]; namespace: string; contentHash: string };
    expect(install.files).toEqual([path.join(dir, "install.yaml")]);
    expect(install.namespace).toBe("argocd");
    expect(install.contentHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("creates the root Application from the same spec as the Helm path, pointing at the lab's Git remote", () => {
    const manifest = (applied().find((r) => r.name === "lab-root-app")!.inputs as { manifest: string }).manifest;
    expect(manifest).toContain("repoURL: git://10.213.0.1:9418/platform.git");
    expect(manifest).toContain("resources-finalizer.argocd.argoproj.io");
    expect(manifest).toContain("include: \"*/application.jsonnet\"");
  });

  it("puts the child apps in a project that reads only the GitOps repository and reports orphaned objects", () => {
    const manifest = (applied().find((r) => r.name === "lab-apps-project")!.inputs as { manifest: string }).manifest;
    const spec = appsProjectSpec("argocd", "git://10.213.0.1:9418/platform.git");
    expect(spec.metadata.name).toBe(APPS_PROJECT);
    expect(spec.spec.sourceRepos).toEqual(["git://10.213.0.1:9418/platform.git"]);
    expect(spec.spec.orphanedResources).toEqual({ warn: true, ignore: [{ group: "", kind: "Secret", name: "demo-credentials" }] });
    expect(spec.spec.clusterResourceWhitelist).toEqual([{ group: "", kind: "Namespace" }]);
    expect(manifest).toContain("warn: true");
    // Every child app of gitops/apps names that project.
    for (const app of fs.readdirSync("gitops/apps")) {
      expect(`${app}: ${fs.readFileSync(path.join("gitops/apps", app, "application.jsonnet"), "utf8").match(/project: '([^']+)'/)?.[1]}`).toBe(`${app}: ${APPS_PROJECT}`);
    }
  });

  it("adds the platform's Deployment health check to the release's argocd-cm under a field manager of its own", () => {
    const cm = applied().find((r) => r.name === "lab-cm-settings")!.inputs as { manifest: string; fieldManager: string };
    expect(cm.fieldManager).toBe("platform-pulumi-settings");
    expect(cm.manifest).toContain("name: argocd-cm");
    expect(cm.manifest).toContain("resource.customizations.health.apps_Deployment");
    expect(cm.manifest).toContain("resource.customizations.health.apps_Deployment: |");
    expect(cm.manifest).toContain('  if want > 0 and available == 0 and progressing ~= nil and progressing.reason == "NewReplicaSetAvailable" then\n');
  });

  it("refuses a manifests directory without install.yaml, naming the fix", () => {
    expect(() => new ArgoCd("bad", { mode: "manifests", kubeconfig: "k", manifestsDir: os.tmpdir(), gitopsRepoUrl: "u" })).toThrow("run scripts/toolchain/ensure.sh argocd");
  });
});
