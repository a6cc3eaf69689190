// Argo CD Applications as typed objects, through @kubernetes/client-node (no CLI subprocess, no
// argocd-server: the lab does not run one). Only the fields the operator commands read or write
// are typed. `ArgoCluster` is what resync, rollback and audit use; unit tests give a fake.
import type { KubeConfig } from "@kubernetes/client-node";
import { bounded, ClusterReader, kubeReader, notFound, reason } from "../kube";
import type { K8sObject } from "../gate/objectDiff";

export interface OperationState {
  phase?: string;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
  operation?: {
    initiatedBy?: { username?: string; automated?: boolean };
    info?: Array<{ name: string; value: string }>;
    sync?: { revision?: string };
  };
  syncResult?: { revision?: string };
}

/**
 * Whether Argo CD renders the source as jsonnet (the root app, whose objects are the child
 * Applications, each compared and verified as an app of its own) rather than as plain YAML that
 * the operator commands can render and compare object by object.
 */
export const rendersJsonnet = (source?: { directory?: { jsonnet?: unknown; include?: string } }): boolean => Boolean(source?.directory?.jsonnet || source?.directory?.include);

export interface ResourceStatus {
  group?: string;
  version?: string;
  kind: string;
  namespace?: string;
  name: string;
  status?: string;
  requiresPruning?: boolean;
}

export interface Application {
  metadata: { name: string; annotations?: Record<string, string>; resourceVersion?: string };
  spec: {
    project?: string;
    source?: { repoURL?: string; path?: string; targetRevision?: string; directory?: { recurse?: boolean; jsonnet?: unknown; include?: string } };
    destination?: { namespace?: string };
    syncPolicy?: { automated?: { selfHeal?: boolean; prune?: boolean } };
  };
  /** Set while a requested operation waits for the controller. */
  operation?: unknown;
  status?: {
    sync?: { status?: string; revision?: string };
    health?: { status?: string };
    operationState?: OperationState;
    resources?: ResourceStatus[];
    history?: Array<{ id?: number; revision?: string; deployedAt?: string; initiatedBy?: { username?: string; automated?: boolean } }>;
    conditions?: Array<{ type: string; message?: string }>;
    reconciledAt?: string;
  };
}

export class WaitTimeout extends Error {}
/** A patch with metadata.resourceVersion lost the race against another writer (HTTP 409). */
export class PatchConflict extends Error {}

export interface ArgoCluster {
  namespace: string;
  /** Throws with a one-line reason when the API does not answer. */
  ping(): Promise<void>;
  app(name: string): Promise<Application | undefined>;
  apps(): Promise<Application[]>;
  /** A JSON merge patch of the Application (RFC 7386; Applications take no strategic merge). */
  patchApp(name: string, patch: Record<string, unknown>): Promise<void>;
  /**
   * Watches the app (the first event is its current state) until `until` returns a value, which is
   * returned; `until` may throw to stop early. Bounded: WaitTimeout(onTimeout(last)) after timeoutMs.
   */
  watchApp<T>(name: string, until: (a: Application) => T | undefined, o: { timeoutMs: number; onTimeout: (last: Application | undefined) => string }): Promise<T>;
  /** A live object, or undefined when it does not exist. */
  object(o: K8sObject): Promise<K8sObject | undefined>;
}

/** Watch streams the API server ends by itself (its timeout) are reopened, at most this often per wait. */
const MAX_WATCH_RESTARTS = 30;

export async function argoCluster(kubeconfigPath: string, namespace = "argocd"): Promise<ArgoCluster> {
  const reader: ClusterReader = await kubeReader(kubeconfigPath, namespace);
  const k8s = await import("@kubernetes/client-node");
  const kc: KubeConfig = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const crd = { group: "argoproj.io", version: "v1alpha1", namespace, plural: "applications" };
  const appPath = `/apis/argoproj.io/v1alpha1/namespaces/${namespace}/applications`;
  return {
    namespace,
    ping: () => reader.ping(),
    object: (o) => reader.object(o),
    async app(name) {
      try {
        return (await bounded(custom.getNamespacedCustomObject({ ...crd, name }), `Application ${name}`)) as Application;
      } catch (e) {
        if (notFound(e)) return undefined;
        throw new Error(`cannot read Application ${namespace}/${name}: ${reason(e)}`);
      }
    },
    async apps() {
      try {
        const list = (await bounded(custom.listNamespacedCustomObject(crd), "the Applications")) as { items: Application[] };
        return list.items.sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
      } catch (e) {
        throw new Error(`cannot list the Applications in ${namespace}: ${reason(e)}`);
      }
    },
    async patchApp(name, patch) {
      try {
        // KubernetesObjectApi sends the Content-Type of the strategy given (CustomObjectsApi's
        // patch would need a middleware for it).
        const md = (patch.metadata ?? {}) as Record<string, unknown>;
        const spec = { apiVersion: "argoproj.io/v1alpha1", kind: "Application", ...patch, metadata: { ...md, name, namespace } };
        await bounded(objects.patch(spec, undefined, undefined, "platform-operator", undefined, k8s.PatchStrategy.MergePatch), `patch of Application ${name}`);
      } catch (e) {
        if (notFound(e)) throw new Error(`no Argo CD Application '${name}' in namespace ${namespace}`);
        if ((e as { code?: number }).code === 409) throw new PatchConflict(`Application ${namespace}/${name} changed while we patched it`);
        throw new Error(`cannot patch Application ${namespace}/${name}: ${reason(e)}`);
      }
    },
    watchApp(name, until, o) {
      const watch = new k8s.Watch(kc);
      return new Promise((resolve, reject) => {
        let settled = false;
        let last: Application | undefined;
        let ctrl: AbortController | undefined;
        let restarts = 0;
        const finish = (f: () => void) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          ctrl?.abort();
          f();
        };
        const timer = setTimeout(() => finish(() => reject(new WaitTimeout(o.onTimeout(last)))), o.timeoutMs);
        const reopen = (why: string) => {
          if (settled) return;
          if (++restarts > MAX_WATCH_RESTARTS) return finish(() => reject(new Error(`watch of Application ${name} keeps failing: ${why}`)));
          // A short pause before reopening a stream that failed (not a stand-in for a condition).
          setTimeout(start, 200);
        };
        const start = () => {
          if (settled) return;
          // Without a resourceVersion the stream starts with the object's current state.
          watch
            .watch(
              appPath,
              { fieldSelector: `metadata.name=${name}` },
              (type, obj: Application) => {
                if (settled || (type !== "ADDED" && type !== "MODIFIED")) return;
                last = obj;
                try {
                  const r = until(obj);
                  if (r !== undefined) finish(() => resolve(r));
                } catch (e) {
                  finish(() => reject(e));
                }
              },
              (err: unknown) => (err ? reopen(reason(err)) : reopen("the server closed the stream")),
            )
            .then((c) => {
              ctrl = c;
              if (settled) c.abort();
            })
            .catch((e: unknown) => reopen(reason(e)));
        };
        start();
      });
    },
  };
}
