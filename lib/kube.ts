// The cluster through @kubernetes/client-node (no CLI subprocess): read-only access for the
// operator commands. The client is loaded on first use (it is an ES module and heavy), so a
// command's --help stays fast. Every call is bounded in time.
import type { KubeConfig, KubernetesObjectApi } from "@kubernetes/client-node";
import * as fs from "fs";
import { K8sObject } from "./gate/objectDiff";

export interface ArgoApplication {
  metadata: { name: string };
  spec: { source?: { path?: string; directory?: { recurse?: boolean } }; destination?: { namespace?: string } };
  status?: { resources?: Array<{ group?: string; version?: string; kind: string; namespace?: string; name: string }> };
}

/** What the gate reads from the cluster (a fake in unit tests). */
export interface ClusterReader {
  /** Throws with a one-line reason when the API does not answer. */
  ping(): Promise<void>;
  application(name: string): Promise<ArgoApplication | undefined>;
  /** The live object, or undefined when it does not exist. */
  object(o: K8sObject): Promise<K8sObject | undefined>;
}

const TIMEOUT_MS = 15_000;

export function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${TIMEOUT_MS / 1000}s`)), TIMEOUT_MS);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

export const notFound = (e: unknown) => (e as { code?: number }).code === 404;

export function reason(e: unknown): string {
  const err = e as { code?: number; message?: string; cause?: { code?: string; message?: string } };
  const msg = err.cause?.message ?? err.message ?? String(e);
  return msg.split("\n")[0].slice(0, 300);
}

export async function kubeReader(kubeconfigPath: string, argocdNamespace = "argocd"): Promise<ClusterReader> {
  if (!fs.existsSync(kubeconfigPath)) throw new Error(`no kubeconfig at ${kubeconfigPath} (platform:kubeconfigPath; the k3s domain writes it)`);
  const k8s = await import("@kubernetes/client-node");
  const kc: KubeConfig = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const server = kc.getCurrentCluster()?.server ?? "?";
  const objects: KubernetesObjectApi = k8s.KubernetesObjectApi.makeApiClient(kc);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const version = kc.makeApiClient(k8s.VersionApi);
  return {
    async ping() {
      try {
        await bounded(version.getCode(), `the Kubernetes API at ${server}`);
      } catch (e) {
        throw new Error(`the Kubernetes API at ${server} does not answer: ${reason(e)} (lab: scripts/lab/api-tunnel.sh start; prod: the API is reachable only through the VPN)`);
      }
    },
    async application(name) {
      try {
        const app = await bounded(custom.getNamespacedCustomObject({ group: "argoproj.io", version: "v1alpha1", namespace: argocdNamespace, plural: "applications", name }), `Application ${name}`);
        return app as ArgoApplication;
      } catch (e) {
        if (notFound(e)) return undefined;
        throw new Error(`cannot read Application ${argocdNamespace}/${name}: ${reason(e)}`);
      }
    },
    async object(o) {
      try {
        const live = await bounded(objects.read({ apiVersion: o.apiVersion, kind: o.kind, metadata: { name: o.metadata.name, namespace: o.metadata.namespace } }), `${o.kind} ${o.metadata.name}`);
        return live as unknown as K8sObject;
      } catch (e) {
        if (notFound(e)) return undefined;
        throw new Error(`cannot read ${o.kind} ${o.metadata.namespace ? o.metadata.namespace + "/" : ""}${o.metadata.name}: ${reason(e)}`);
      }
    },
  };
}

/**
 * What the drift report reads (lib/drift/clusterLayer.ts DriftCluster): every Application, their
 * AppProjects, live objects and the top-level objects of a namespace. Same client and bounds.
 */
export async function driftCluster(kubeconfigPath: string, argocdNamespace = "argocd"): Promise<import("./drift/clusterLayer").DriftCluster> {
  const reader = await kubeReader(kubeconfigPath, argocdNamespace);
  const k8s = await import("@kubernetes/client-node");
  const kc: KubeConfig = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const objects: KubernetesObjectApi = k8s.KubernetesObjectApi.makeApiClient(kc);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const argo = { group: "argoproj.io", version: "v1alpha1", namespace: argocdNamespace };
  return {
    ping: () => reader.ping(),
    object: (o) => reader.object(o),
    async applications() {
      try {
        const list = (await bounded(custom.listNamespacedCustomObject({ ...argo, plural: "applications" }), "Applications")) as { items: import("./drift/clusterLayer").ArgoApp[] };
        return list.items;
      } catch (e) {
        throw new Error(`cannot list the Argo CD Applications in ${argocdNamespace}: ${reason(e)}`);
      }
    },
    async appProject(name) {
      try {
        return (await bounded(custom.getNamespacedCustomObject({ ...argo, plural: "appprojects", name }), `AppProject ${name}`)) as import("./drift/clusterLayer").AppProject;
      } catch (e) {
        if (notFound(e)) return undefined;
        throw new Error(`cannot read AppProject ${argocdNamespace}/${name}: ${reason(e)}`);
      }
    },
    async list(namespace, kinds) {
      // One kind after the other: a dozen lists at once per namespace overran the 15 s bound on a
      // loaded lab API, for no gain on a healthy one.
      const lists: K8sObject[][] = [];
      for (const { apiVersion, kind } of kinds) {
        try {
          const l = await bounded(objects.list(apiVersion, kind, namespace), "the Kubernetes API");
          // Items of a list carry no kind or apiVersion of their own.
          lists.push(l.items.map((o) => ({ ...(o as unknown as K8sObject), apiVersion, kind })));
        } catch (e) {
          throw new Error(`cannot list ${kind} in ${namespace}: ${reason(e)}`);
        }
      }
      return lists.flat();
    },
  };
}
