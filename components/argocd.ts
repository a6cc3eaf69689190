// Argo CD and the App-of-Apps root Application, through the Kubernetes provider plugin
// (pulumi-resource-kubernetes, built from the Go module proxy: docs/adr/0015).
//
//  mode "helm"      (prod) the argo-cd chart at a pinned version through helm.v3.Release, which
//                   runs the chart's Helm hooks (helm.v4.Chart does not: pitfalls.md).
//  mode "manifests" (air-gapped, and the lab) the same Argo CD release's own "core" install
//                   manifests (core-install.yaml: application-controller, repo-server, redis,
//                   applicationset-controller; no API server, UI, dex or notifications: operators
//                   use the Kubernetes API, ADR 0015), from a local directory, through
//                   yaml/v2.ConfigFile (one provider resource per object, server-side applied);
//                   the platform's argocd-cm settings as a ConfigMapPatch applied first, so the
//                   pods read them when they start: no chart registry needed.
// Both then create the AppProjects and the root Application (apiextensions.CustomResource), which
// syncs every gitops/apps/<app>/application.jsonnet with the repository URL and revision passed in.
// argocd-server is never exposed publicly: ClusterIP service, no ingress; operators reach it
// through the VPN.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import { APP_SECRETS } from "../lib/appSecrets";
import { ARGOCD_CM_SETTINGS } from "../lib/argocdHealth";

/** Argo CD's namespace unless ArgoCdArgs.namespace says otherwise. */
export const ARGOCD_NAMESPACE = "argocd";

export interface ArgoCdArgs {
  /** How Argo CD is installed. */
  mode: "helm" | "manifests";
  /**
   * Kubernetes provider for the target cluster (both modes). Its default namespace must be this
   * component's namespace: the release's install manifests leave namespaced objects without one
   * (upstream applies them with `kubectl -n argocd`), and the provider puts them in its default.
   */
  provider: k8s.Provider;
  /** Namespace. Default: ARGOCD_NAMESPACE ("argocd"). */
  namespace?: string;
  /** Git repository Argo CD reads gitops/ from. */
  gitopsRepoUrl: string;
  /** Revision to track. Default: "main". */
  gitopsRevision?: string;
  /** Directory of the child apps (one folder each) in the repository. Default: "gitops/apps". */
  gitopsAppsPath?: string;
  /**
   * Wait until the release's workloads are ready (the provider's await logic: Deployments
   * available, StatefulSets rolled out, ...) before the projects and the root app. Default: true.
   */
  awaitReady?: boolean;
  /** argocd-cm's timeout.reconciliation / .jitter (e.g. "10s"). Default: unset (upstream's 180s / 60s). */
  reconciliation?: { timeout?: string; jitter?: string };

  // mode "helm"
  /** argo-cd chart version (mode "helm"); pinned in toolchain/versions.env. */
  chartVersion?: string;
  /** Chart repository. Default: the upstream argo-helm repository. */
  chartRepo?: string;
  /** Extra chart values, merged over the defaults below (which keep the server private). */
  values?: Record<string, unknown>;

  // mode "manifests"
  /** Directory holding the release's core-install.yaml (mode "manifests"). */
  manifestsDir?: string;
}

/** The release's manifest file mode "manifests" applies: upstream's headless ("core") install. */
export const CORE_INSTALL = "core-install.yaml";

/** Chart values that keep argocd-server off any public ingress or load balancer, plus the platform's argocd-cm settings. */
export const privateServerValues = {
  server: {
    service: { type: "ClusterIP" },
    ingress: { enabled: false },
  },
  dex: { enabled: false },
  configs: { cm: { ...ARGOCD_CM_SETTINGS } },
};

/** privateServerValues with the reconciliation period, for mode "helm". */
export function helmValues(reconciliation: ArgoCdArgs["reconciliation"], extra: Record<string, unknown>) {
  return deepMerge(deepMerge(privateServerValues, { configs: { cm: argocdCmData(reconciliation) } }), extra);
}

/** The platform's argocd-cm keys: its settings (lib/argocdHealth.ts) and the reconciliation period when set. */
export function argocdCmData(reconciliation: ArgoCdArgs["reconciliation"] = {}): Record<string, string> {
  const data: Record<string, string> = { ...ARGOCD_CM_SETTINGS };
  if (reconciliation.timeout) data["timeout.reconciliation"] = reconciliation.timeout;
  if (reconciliation.jitter) data["timeout.reconciliation.jitter"] = reconciliation.jitter;
  return data;
}

/** The platform's argocd-cm keys as a patch of the release's argocd-cm. */
export function argocdCmPatch(namespace: string, reconciliation?: ArgoCdArgs["reconciliation"]) {
  return {
    metadata: { name: "argocd-cm", namespace },
    data: argocdCmData(reconciliation),
  };
}

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
      source: {
        repoURL: args.repoURL,
        targetRevision: args.revision,
        path: args.path,
        // One folder per app: only its application.jsonnet belongs to the root; the repository
        // URL and revision reach every child through jsonnet external variables.
        directory: {
          recurse: true,
          include: "*/application.jsonnet",
          jsonnet: {
            extVars: [
              { name: "repoURL", value: args.repoURL },
              { name: "revision", value: args.revision },
            ],
          },
        },
      },
      destination: { server: "https://kubernetes.default.svc", namespace: args.namespace },
      // The root only creates/prunes child Application objects: self-heal keeps them equal to Git.
      syncPolicy: { automated: { prune: true, selfHeal: true }, syncOptions: ["ServerSideApply=true"] },
    },
  };
}

/** The `default` AppProject (argocd-server creates it where it runs; the core install has no server). */
export function defaultProjectSpec(namespace: string) {
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "AppProject",
    metadata: { name: "default", namespace },
    spec: {
      sourceRepos: ["*"],
      destinations: [{ server: "*", namespace: "*" }],
      clusterResourceWhitelist: [{ group: "*", kind: "*" }],
    },
  };
}

/** Name of the AppProject every child app of gitops/apps belongs to. */
export const APPS_PROJECT = "platform";

/**
 * The `platform` AppProject of the child apps: only the GitOps repository as source, only
 * Namespaces as cluster-scoped objects, and orphaned-resource monitoring on, so an object made by
 * hand in an app's namespace is reported (condition OrphanedResourceWarning; platform drift
 * lists it) and never deleted. The root app stays in `default`: its namespace is Argo CD's own,
 * full of objects that Pulumi (not Git) manages, which would all count as orphans. The app Secrets
 * Pulumi makes from SOPS (lib/appSecrets.ts) live in the apps' namespaces by design: not orphans.
 */
export function appsProjectSpec(namespace: string, repoURL: string) {
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "AppProject",
    metadata: { name: APPS_PROJECT, namespace },
    spec: {
      description: "Child apps of the App-of-Apps (gitops/apps)",
      sourceRepos: [repoURL],
      destinations: [{ server: "https://kubernetes.default.svc", namespace: "*" }],
      clusterResourceWhitelist: [{ group: "", kind: "Namespace" }],
      orphanedResources: { warn: true, ignore: APP_SECRETS.map((s) => ({ group: "", kind: "Secret", name: s.name })) },
    },
  };
}

export class ArgoCd extends pulumi.ComponentResource {
  public readonly namespace: pulumi.Output<string>;
  public readonly rootApplication: pulumi.Resource;

  constructor(name: string, args: ArgoCdArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:index:ArgoCd", name, {}, opts);
    const namespace = args.namespace ?? ARGOCD_NAMESPACE;
    const awaitReady = args.awaitReady ?? true;
    const root = rootApplicationSpec({
      namespace,
      repoURL: args.gitopsRepoUrl,
      revision: args.gitopsRevision ?? "main",
      path: args.gitopsAppsPath ?? "gitops/apps",
    });
    const childOpts = { parent: this, provider: args.provider };
    const ns = new k8s.core.v1.Namespace(`${name}-ns`, { metadata: { name: namespace } }, childOpts);

    let release: pulumi.Resource;
    const projects: pulumi.Resource[] = [];
    if (args.mode === "helm") {
      if (!args.chartVersion) throw new Error("ArgoCd mode 'helm' needs a chartVersion");
      release = new k8s.helm.v3.Release(
        `${name}-release`,
        {
          name: "argocd",
          namespace: ns.metadata.name,
          chart: "argo-cd",
          version: args.chartVersion,
          repositoryOpts: { repo: args.chartRepo ?? "https://argoproj.github.io/argo-helm" },
          values: helmValues(args.reconciliation, args.values ?? {}),
          // Helm hooks (e.g. redis-secret-init) must run; wait until the release is ready.
          skipAwait: !awaitReady,
        },
        childOpts,
      );
    } else {
      if (!args.manifestsDir) throw new Error("ArgoCd mode 'manifests' needs a manifestsDir");
      const install = path.resolve(args.manifestsDir, CORE_INSTALL);
      if (!fs.existsSync(install)) throw new Error(`ArgoCd mode 'manifests': no ${CORE_INSTALL} in ${args.manifestsDir} (run scripts/toolchain/ensure.sh argocd)`);
      // The settings first: the controller and repo-server read timeout.reconciliation into their
      // environment when they start. The patch (a field manager of its own) creates argocd-cm with
      // only its keys; the release then applies its own (empty) argocd-cm over it, keeping them.
      const settings = new k8s.core.v1.ConfigMapPatch(`${name}-cm-settings`, argocdCmPatch(namespace, args.reconciliation), { ...childOpts, dependsOn: [ns] });
      // The provider reads the file at every preview and up: a new release's manifests are a diff
      // of exactly the objects that change.
      release = new k8s.yaml.v2.ConfigFile(`${name}-install`, { file: install, skipAwait: !awaitReady }, { ...childOpts, dependsOn: [ns, settings] });
      // argocd-server creates `default` where it runs; the core install has no server.
      projects.push(new k8s.apiextensions.CustomResource(`${name}-default-project`, defaultProjectSpec(namespace), { ...childOpts, dependsOn: [release] }));
    }
    // The projects wait for the release (its CRDs), the root app for the projects (its children name them).
    projects.push(new k8s.apiextensions.CustomResource(`${name}-apps-project`, appsProjectSpec(namespace, args.gitopsRepoUrl), { ...childOpts, dependsOn: [release] }));
    this.rootApplication = new k8s.apiextensions.CustomResource(`${name}-root-app`, root, { ...childOpts, dependsOn: projects });
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
