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
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ArgoCd, APPS_PROJECT, appsProjectSpec } = require("../../components/argocd") as typeof import("../../components/argocd");
// The resources below are @pulumi/kubernetes's own classes (the SDK pinned to the provider plugin
// we build, KUBERNETES_PROVIDER_VERSION): the mocks record what they would send to that provider.
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

  it("runs Helm hooks by using helm.v3.Release rather than helm.v4.Chart, and awaits the release by default", () => {
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
  const lab = () => registered.filter((r) => r.name.startsWith("lab-"));
  const byName = (n: string) => registered.find((r) => r.name === n)!;

  beforeAll(async () => {
    fs.writeFileSync(path.join(dir, "core-install.yaml"), "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: argocd-application-controller\n");
    const provider = new k8s.Provider("lab-cluster", { kubeconfig: "unused", namespace: "argocd" });
    const a = new ArgoCd("lab", { mode: "manifests", provider, manifestsDir: dir, gitopsRepoUrl: "git://10.213.0.1:9418/platform.git", reconciliation: { timeout: "10s", jitter: "2s" } }, { transformations: [recordDependsOn] });
    await promiseOf(a.rootApplication.urn);
  });

  it("applies the namespace, the argocd-cm settings, the release's core-install.yaml, the projects and the root app as the provider's own resources", () => {
    expect(lab().map((r) => `${r.name} ${r.type}`).sort()).toEqual([
      "lab-apps-project kubernetes:argoproj.io/v1alpha1:AppProject",
      "lab-cluster pulumi:providers:kubernetes",
      "lab-cm-settings kubernetes:core/v1:ConfigMapPatch",
      "lab-default-project kubernetes:argoproj.io/v1alpha1:AppProject",
      "lab-install kubernetes:yaml/v2:ConfigFile",
      "lab-ns kubernetes:core/v1:Namespace",
      "lab-root-app kubernetes:argoproj.io/v1alpha1:Application",
    ]);
    expect(registered.some((r) => r.type.startsWith("pulumi-nodejs:dynamic") || r.type.startsWith("platform:test"))).toBe(false);
    // Awaited by default: the pods run (in the lab too) and the projects wait for them.
    expect(byName("lab-install").inputs).toEqual({ file: path.join(dir, "core-install.yaml"), skipAwait: false });
    expect(dependsOn["lab-install"]).toEqual(["lab-ns", "lab-cm-settings"]);
  });

  it("creates the root Application from the same spec as the Helm path, pointing at the lab's Git remote, after both projects", () => {
    const app = byName("lab-root-app").inputs as { metadata: { finalizers: string[] }; spec: { source: { repoURL: string; directory: { include: string } } } };
    expect(app.spec.source.repoURL).toBe("git://10.213.0.1:9418/platform.git");
    expect(app.metadata.finalizers).toContain("resources-finalizer.argocd.argoproj.io");
    expect(app.spec.source.directory.include).toBe("*/application.jsonnet");
    expect(dependsOn["lab-root-app"]).toEqual(["lab-default-project", "lab-apps-project"]);
    expect(dependsOn["lab-apps-project"]).toEqual(["lab-install"]);
  });

  it("puts the child apps in a project that reads only the GitOps repository and reports orphaned objects", () => {
    const project = byName("lab-apps-project").inputs as { spec: { orphanedResources: unknown } };
    const spec = appsProjectSpec("argocd", "git://10.213.0.1:9418/platform.git");
    expect(spec.metadata.name).toBe(APPS_PROJECT);
    expect(spec.spec.sourceRepos).toEqual(["git://10.213.0.1:9418/platform.git"]);
    expect(spec.spec.orphanedResources).toEqual({ warn: true, ignore: [{ group: "", kind: "Secret", name: "demo-credentials" }] });
    expect(spec.spec.clusterResourceWhitelist).toEqual([{ group: "", kind: "Namespace" }]);
    expect(project.spec.orphanedResources).toEqual(spec.spec.orphanedResources);
    // Every child app of gitops/apps names that project.
    for (const app of fs.readdirSync("gitops/apps")) {
      expect(`${app}: ${fs.readFileSync(path.join("gitops/apps", app, "application.jsonnet"), "utf8").match(/project: '([^']+)'/)?.[1]}`).toBe(`${app}: ${APPS_PROJECT}`);
    }
  });

  it("sets the platform's argocd-cm keys as a patch (only its own keys) before the release, whose pods read them at start", () => {
    const cm = byName("lab-cm-settings").inputs as { metadata: { name: string; namespace: string }; data: Record<string, string> };
    expect(cm.metadata).toEqual({ name: "argocd-cm", namespace: "argocd" });
    expect(cm.data["resource.customizations.health.apps_Deployment"]).toContain('if want > 0 and available == 0 and progressing ~= nil and progressing.reason == "NewReplicaSetAvailable" then\n');
    expect(cm.data["timeout.reconciliation"]).toBe("10s");
    expect(cm.data["timeout.reconciliation.jitter"]).toBe("2s");
    expect(dependsOn["lab-cm-settings"]).toEqual(["lab-ns"]);
  });

  it("refuses a manifests directory without core-install.yaml, naming the fix", () => {
    const provider = new k8s.Provider("bad-cluster", { kubeconfig: "unused" });
    expect(() => new ArgoCd("bad", { mode: "manifests", provider, manifestsDir: os.tmpdir(), gitopsRepoUrl: "u" })).toThrow("run scripts/toolchain/ensure.sh argocd");
  });
});
