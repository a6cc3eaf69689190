// A fake Argo CD for unit tests: Applications in memory, a merge patch, a watch that sees the
// current state and every change, and a "controller" that takes hard refreshes and runs requested
// operations the way the real one reports them (or fails them, or never picks them up).
import type { K8sObject } from "../../lib/gate/objectDiff";
import { objectId } from "../../lib/gate/objectDiff";
import { Application, ArgoCluster, PatchConflict, WaitTimeout } from "../../lib/operator/argocd";
import { GitSource } from "../../lib/operator/gitops";

type Behaviour = "succeed" | "fail" | "hang";

function merge(target: Record<string, unknown>, patch: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (typeof v === "object" && !Array.isArray(v) && typeof target[k] === "object" && target[k] !== null) merge(target[k] as Record<string, unknown>, v as Record<string, unknown>);
    else target[k] = JSON.parse(JSON.stringify(v));
  }
}

export function fakeApp(name: string, extra: Partial<Application["status"]> = {}): Application {
  return {
    metadata: { name },
    spec: { source: { repoURL: "git://lab/platform.git", path: `gitops/apps/${name}/manifests`, targetRevision: "main" }, destination: { namespace: name }, syncPolicy: { automated: { prune: true } } },
    status: { sync: { status: "Synced", revision: "a".repeat(40) }, health: { status: "Healthy" }, resources: [], ...extra },
  };
}

export class FakeArgo implements ArgoCluster {
  namespace = "argocd";
  apps_ = new Map<string, Application>();
  live = new Map<string, K8sObject>();
  patches: Array<{ app: string; patch: Record<string, unknown> }> = [];
  behaviour: Behaviour = "succeed";
  /** Objects the fake controller applies on a successful sync (Git's, for the app). */
  applies = new Map<string, K8sObject[]>();
  unreachable?: string;
  /** The refresh of a moved branch starts an automated sync, as Argo CD does (the race resync must survive). */
  autoSyncOnRefresh = false;
  private rv = 1;
  private watchers = new Set<(a: Application) => void>();

  constructor(apps: Application[]) {
    // The API server gives every object a resourceVersion.
    for (const a of apps) this.apps_.set(a.metadata.name, { ...a, metadata: { resourceVersion: String(this.rv), ...a.metadata } });
  }
  async ping() {
    if (this.unreachable) throw new Error(this.unreachable);
  }
  async app(name: string) {
    const a = this.apps_.get(name);
    return a ? (JSON.parse(JSON.stringify(a)) as Application) : undefined;
  }
  async apps() {
    return [...this.apps_.values()].map((a) => JSON.parse(JSON.stringify(a)) as Application);
  }
  async object(o: K8sObject) {
    return this.live.get(objectId(o));
  }
  async patchApp(name: string, patch: Record<string, unknown>) {
    const a = this.apps_.get(name);
    if (!a) throw new Error(`no Argo CD Application '${name}' in namespace argocd`);
    const want = (patch.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    if (want !== undefined && want !== a.metadata.resourceVersion) throw new PatchConflict(`Application argocd/${name} changed while we patched it`);
    this.patches.push({ app: name, patch });
    merge(a as unknown as Record<string, unknown>, patch);
    a.metadata.resourceVersion = String(++this.rv);
    this.notify(a);
    // The controller, asynchronously, as the real one.
    setImmediate(() => this.controller(name));
  }
  private controller(name: string) {
    const a = this.apps_.get(name)!;
    if (a.metadata.annotations?.["argocd.argoproj.io/refresh"]) {
      delete a.metadata.annotations["argocd.argoproj.io/refresh"];
      if (this.autoSyncOnRefresh) {
        this.autoSyncOnRefresh = false;
        a.operation = { initiatedBy: { automated: true }, sync: { revision: "c".repeat(40) } };
        a.metadata.resourceVersion = String(++this.rv);
      a.status!.operationState = { phase: "Running", operation: a.operation as never };
        setTimeout(() => this.controller(name), 20);
      }
      a.metadata.resourceVersion = String(++this.rv);
      this.notify(a);
      return;
    }
    const op = a.operation as { sync: { revision: string }; info: unknown; initiatedBy: unknown } | undefined;
    if (op && this.behaviour !== "hang") {
      delete a.operation;
      const ok = this.behaviour === "succeed";
      a.metadata.resourceVersion = String(++this.rv);
      a.status!.operationState = { phase: ok ? "Succeeded" : "Failed", message: ok ? "successfully synced" : "one or more objects failed to apply", startedAt: "2026-12-01T10:00:00Z", operation: op as never, syncResult: { revision: op.sync.revision } };
      if (ok) {
        a.status!.sync = { status: "Synced", revision: op.sync.revision };
        a.status!.resources = (a.status!.resources ?? []).map((r) => ({ ...r, status: "Synced" }));
        for (const o of this.applies.get(name) ?? []) this.live.set(objectId(o), o);
      }
      this.notify(a);
    }
  }
  private notify(a: Application) {
    const copy = JSON.parse(JSON.stringify(a)) as Application;
    for (const w of [...this.watchers]) w(copy);
  }
  watchApp<T>(name: string, until: (a: Application) => T | undefined, o: { timeoutMs: number; onTimeout: (last: Application | undefined) => string }): Promise<T> {
    return new Promise((resolve, reject) => {
      let last: Application | undefined;
      const w = (a: Application) => {
        if (a.metadata.name !== name) return;
        last = a;
        try {
          const r = until(a);
          if (r !== undefined) done(() => resolve(r));
        } catch (e) {
          done(() => reject(e));
        }
      };
      const timer = setTimeout(() => done(() => reject(new WaitTimeout(o.onTimeout(last)))), o.timeoutMs);
      const done = (f: () => void) => {
        clearTimeout(timer);
        this.watchers.delete(w);
        f();
      };
      this.watchers.add(w);
      const cur = this.apps_.get(name);
      if (cur) w(JSON.parse(JSON.stringify(cur)) as Application);
    });
  }
}

/** Git remotes in memory: branch heads and files per revision. */
export function fakeGit(heads: Record<string, string>, files: Record<string, Record<string, string>>, opts: { down?: boolean } = {}): GitSource {
  return {
    lsRemote(url, ref) {
      if (opts.down) throw new Error("fatal: unable to connect to lab");
      return heads[`${url} ${ref}`];
    },
    tree(_url, revision) {
      const f = files[revision];
      if (!f) throw new Error(`cannot fetch ${revision}`);
      return { sha: revision, tree: { list: (d) => Object.keys(f).filter((p) => p.startsWith(d + "/")), read: (p) => f[p] } };
    },
  };
}
