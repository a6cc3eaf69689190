import * as k8s from "@pulumi/kubernetes";
import { installMocks, promiseOf } from "../support/pulumiMocks";

const registered = installMocks();
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { ArgoCd } = require("../../components/argocd") as typeof import("../../components/argocd");
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
    });
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

  it("creates the App-of-Apps root pointing at gitops/apps with the cascading finalizer", () => {
    const app = rootApp().inputs as { metadata: { finalizers: string[] }; spec: { source: Record<string, string>; syncPolicy: unknown } };
    expect(app.metadata.finalizers).toContain("resources-finalizer.argocd.argoproj.io");
    expect(app.spec.source).toEqual({ repoURL: "https://git.example.invalid/platform.git", targetRevision: "main", path: "gitops/apps" });
    expect(app.spec.syncPolicy).toMatchObject({ automated: { prune: true, selfHeal: true } });
  });

  it("refuses the air-gapped mode until it is implemented instead of pretending", () => {
    const provider = new k8s.Provider("cluster2", { kubeconfig: "unused" });
    expect(() => new ArgoCd("x", { mode: "manifests", provider, chartVersion: "1.0.0", gitopsRepoUrl: "u" })).toThrow("not implemented yet");
  });
});
