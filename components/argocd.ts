// Argo CD and the App-of-Apps root Application.
//
//  mode "helm"      (prod) the argo-cd chart at a pinned version through helm.v3.Release, which
//                   runs the chart's Helm hooks (helm.v4.Chart does not: pitfalls.md).
//  mode "manifests" (air-gapped, the lab) the same Argo CD version's install manifests from a
//                   local path: filled in by the lab-cluster work (issue 4); until then this
//                   mode refuses to run rather than pretend.
// argocd-server is never exposed publicly: ClusterIP service, no ingress; operators reach it
// through the VPN (kubectl port-forward over the VPN-only API).
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export interface ArgoCdArgs {
  /** How Argo CD is installed. */
  mode: "helm" | "manifests";
  /** Kubernetes provider for the target cluster. */
  provider: k8s.Provider;
  /** Namespace. Default: "argocd". */
  namespace?: string;
  /** argo-cd chart version (mode "helm"); pinned in toolchain/versions.env. */
  chartVersion: string;
  /** Chart repository. Default: the upstream argo-helm repository. */
  chartRepo?: string;
  /** Extra chart values, merged over the defaults below (which keep the server private). */
  values?: Record<string, unknown>;
  /** Git repository Argo CD reads gitops/ from. */
  gitopsRepoUrl: string;
  /** Revision to track. Default: "main". */
  gitopsRevision?: string;
  /** Directory of child Application manifests in the repository. Default: "gitops/apps". */
  gitopsAppsPath?: string;
}

/** Chart values that keep argocd-server off any public ingress or load balancer. */
export const privateServerValues = {
  server: {
    service: { type: "ClusterIP" },
    ingress: { enabled: false },
  },
  dex: { enabled: false },
};

export function rootApplicationSpec(args: { namespace: string; repoURL: string; revision: string; path: string }) {
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Application",
    metadata: {
      name: "root",
      namespace: args.namespace,
      // Deleting the root cascades to the child apps (and theirs to their objects).
      finalizers: ["resources-finalizer.argocd.argoproj.io"],
    },
    spec: {
      project: "default",
      source: { repoURL: args.repoURL, targetRevision: args.revision, path: args.path },
      destination: { server: "https://kubernetes.default.svc", namespace: args.namespace },
      // The root only creates/prunes child Application objects: self-heal keeps them equal to Git.
      syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ["ServerSideApply=true"] },
    },
  };
}

export class ArgoCd extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  public readonly rootApplication: k8s.apiextensions.CustomResource;

  constructor(name: string, args: ArgoCdArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:index:ArgoCd", name, {}, opts);
    const namespace = args.namespace ?? "argocd";
    const childOpts = { parent: this, provider: args.provider };

    if (args.mode !== "helm") {
      throw new Error("ArgoCd mode 'manifests' (air-gapped install) is not implemented yet: it arrives with the lab cluster (issue 4)");
    }
    const ns = new k8s.core.v1.Namespace(`${name}-ns`, { metadata: { name: namespace } }, childOpts);
    const release = new k8s.helm.v3.Release(
      `${name}-release`,
      {
        name: "argocd",
        namespace: ns.metadata.name,
        chart: "argo-cd",
        version: args.chartVersion,
        repositoryOpts: { repo: args.chartRepo ?? "https://argoproj.github.io/argo-helm" },
        values: deepMerge(privateServerValues, args.values ?? {}),
        // Helm hooks (e.g. redis-secret-init) must run; wait until the release is ready.
        skipAwait: false,
      },
      childOpts,
    );
    this.rootApplication = new k8s.apiextensions.CustomResource(
      `${name}-root-app`,
      rootApplicationSpec({ namespace, repoURL: args.gitopsRepoUrl, revision: args.gitopsRevision ?? "main", path: args.gitopsAppsPath ?? "gitops/apps" }),
      { ...childOpts, dependsOn: [release] },
    );
    this.namespace = ns.metadata.name;
    this.registerOutputs({ namespace: this.namespace });
  }
}

function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = isObject(cur) && isObject(v) ? deepMerge(cur, v) : v;
  }
  return out;
}
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
