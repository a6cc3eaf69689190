// The drift report's cluster layer, per Argo CD app: its sync and health, the objects Argo CD
// finds out of sync with a field diff against Git, orphans (top-level objects made by hand in its
// namespace, as its AppProject's orphanedResources counts them), and the truth about Git, read by
// ourselves rather than from Argo CD's opinion of it: the revision the app was compared at
// against the head of the branch it tracks, and whether that head renders at all. Argo CD keeps a
// commit that does not parse out of the app's status for its repo-error grace period (the app
// stays Synced at the previous revision, no condition: docs/runbooks/drift-detected.md), so the
// status alone would call that clean. Read-only. One app's failure never hides another app.
import { parseAllDocuments } from "yaml";
import { appChanges, K8sObject, objectId, withNamespace } from "../gate/objectDiff";
import { AppDrift, AppGit, ClusterLayer, oneLine, Status } from "./report";
import { rendersJsonnet } from "../operator/argocd";

export interface ArgoApp {
  metadata: { name: string };
  spec: {
    project?: string;
    source?: { repoURL?: string; targetRevision?: string; path?: string; directory?: { recurse?: boolean; include?: string; exclude?: string; jsonnet?: unknown } };
    destination?: { namespace?: string };
    syncPolicy?: { automated?: { selfHeal?: boolean; prune?: boolean } };
  };
  status?: {
    sync?: { status?: string; revision?: string };
    health?: { status?: string };
    operationState?: { phase?: string; startedAt?: string; finishedAt?: string; message?: string };
    resources?: Array<{ group?: string; version?: string; kind: string; namespace?: string; name: string; status?: string; requiresPruning?: boolean }>;
    conditions?: Array<{ type: string; message?: string }>;
  };
}
export interface OrphanIgnore {
  group?: string;
  kind?: string;
  name?: string;
}
export interface AppProject {
  spec?: { orphanedResources?: { ignore?: OrphanIgnore[] } | null };
}

/** What the cluster layer reads from the cluster (a fake in unit tests). */
export interface DriftCluster {
  /** Throws with a one-line reason when the API does not answer. */
  ping(): Promise<void>;
  applications(): Promise<ArgoApp[]>;
  appProject(name: string): Promise<AppProject | undefined>;
  /** The live object, or undefined when it does not exist. */
  object(o: K8sObject): Promise<K8sObject | undefined>;
  /** The objects of these kinds in a namespace (kind and apiVersion filled in). */
  list(namespace: string, kinds: Array<{ apiVersion: string; kind: string }>): Promise<K8sObject[]>;
}

/** One commit of a repository: its files (with blob ids) and their text. */
export interface GitSnapshot {
  /** Files under `dir`, recursively, repository-relative, with their blob ids. */
  files(dir: string): Promise<Array<{ file: string; blob: string }>>;
  read(file: string): Promise<string>;
}
/** Git as the cluster layer needs it (a fake in unit tests). */
export interface GitRemote {
  /** The commit a branch or tag (or HEAD) of the repository points at now. */
  resolve(repoURL: string, ref: string): Promise<string>;
  snapshot(repoURL: string, commit: string): Promise<GitSnapshot>;
}

/** Top-level kinds listed in an app's namespace when looking for orphans (the set the former scripts/lib/argocd_apps.py listed). */
export const ORPHAN_KINDS = [
  { apiVersion: "v1", kind: "ConfigMap" },
  { apiVersion: "v1", kind: "Secret" },
  { apiVersion: "v1", kind: "Service" },
  { apiVersion: "v1", kind: "ServiceAccount" },
  { apiVersion: "v1", kind: "PersistentVolumeClaim" },
  { apiVersion: "apps/v1", kind: "Deployment" },
  { apiVersion: "apps/v1", kind: "StatefulSet" },
  { apiVersion: "apps/v1", kind: "DaemonSet" },
  { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role" },
  { apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding" },
  { apiVersion: "networking.k8s.io/v1", kind: "Ingress" },
  { apiVersion: "batch/v1", kind: "CronJob" },
];

/** A shell-style glob (Argo CD's directory include/exclude: *, **, ?, {a,b}) as a RegExp. */
export function globRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*" && glob[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "{") re += "(?:";
    else if (c === "}") re += ")";
    else if (c === ",") re += "|";
    else re += c.replace(/[.+^$()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`);
}

type Source = NonNullable<ArgoApp["spec"]["source"]>;

/** The files of the app's source that Argo CD reads (its directory options), path-relative filtering. */
export async function sourceFiles(snap: GitSnapshot, src: Source): Promise<Array<{ file: string; blob: string }>> {
  const dir = (src.path ?? ".").replace(/\/$/, "");
  const d = src.directory ?? {};
  const include = d.include ? globRegExp(d.include) : undefined;
  const exclude = d.exclude ? globRegExp(d.exclude) : undefined;
  return (await snap.files(dir))
    .filter(({ file }) => {
      const rel = file.slice(dir.length + 1);
      if (!d.recurse && rel.includes("/")) return false;
      if (!/\.(ya?ml|json|jsonnet|libsonnet)$/.test(rel)) return false;
      return (!include || include.test(rel)) && (!exclude || !exclude.test(rel));
    })
    .sort((a, b) => (a.file < b.file ? -1 : 1));
}

export class RenderError extends Error {
  constructor(
    public readonly file: string,
    public readonly parserMessage: string,
  ) {
    super(`${file}: ${parserMessage}`);
  }
}

/** The Kubernetes objects of a plain-YAML source at one commit; every file is parsed, the first that does not parse is thrown. */
export async function renderYaml(snap: GitSnapshot, src: Source): Promise<K8sObject[]> {
  const out: K8sObject[] = [];
  for (const { file } of await sourceFiles(snap, src)) {
    if (!/\.ya?ml$/.test(file)) continue;
    for (const doc of parseAllDocuments(await snap.read(file))) {
      if (doc.errors.length) throw new RenderError(file, doc.errors[0].message.split("\n")[0]);
      const o = doc.toJS() as K8sObject | null;
      if (o && typeof o === "object" && o.kind && o.metadata?.name) out.push(o);
    }
  }
  return out;
}

/** Whether the project's orphanedResources.ignore covers the object (group, kind, name glob), as Argo CD applies it. */
export function orphanIgnored(o: K8sObject, ignore: OrphanIgnore[]): boolean {
  const group = o.apiVersion.includes("/") ? o.apiVersion.slice(0, o.apiVersion.lastIndexOf("/")) : "";
  return ignore.some((r) => (r.group ?? "") === group && (!r.kind || r.kind === o.kind) && globRegExp(r.name || "*").test(o.metadata.name));
}

/** Top-level objects in the namespace that the app does not manage, unless Kubernetes made them or the project ignores them. */
export function findOrphans(items: K8sObject[], managed: Set<string>, ignore: OrphanIgnore[], ns: string): string[] {
  const found: string[] = [];
  for (const o of items) {
    const md = o.metadata as K8sObject["metadata"] & { ownerReferences?: unknown[] };
    if (md.ownerReferences?.length) continue; // made by a controller from something else
    // Kubernetes creates these in every namespace (Argo CD ignores them too).
    if ((o.kind === "ConfigMap" && md.name === "kube-root-ca.crt") || (o.kind === "ServiceAccount" && md.name === "default")) continue;
    if (o.kind === "Secret" && (o as { type?: string }).type === "kubernetes.io/service-account-token") continue;
    if (orphanIgnored(o, ignore)) continue;
    if (!managed.has(`${o.kind}/${md.name}`)) found.push(`${o.kind}/${ns}/${md.name}`);
  }
  return found.sort();
}

const policyOf = (a: ArgoApp) => {
  const auto = a.spec.syncPolicy?.automated;
  return auto ? (auto.selfHeal ? "self-heal" : "auto-sync, report drift") : "manual";
};

const fmt = (v: unknown) => JSON.stringify(v === undefined ? null : v);

export interface ClusterDeps {
  cluster: DriftCluster;
  git: GitRemote;
}

/** Memoizes a per-key async read for one report (one fetch per commit, one read per project). */
function memo<T>(fn: (key: string) => Promise<T>): (key: string) => Promise<T> {
  const m = new Map<string, Promise<T>>();
  return (key) => {
    if (!m.has(key)) m.set(key, fn(key));
    return m.get(key)!;
  };
}

/** The Git truth of one app: its head against its compared revision, and whether the head renders. */
async function appGit(a: ArgoApp, resolve: (k: string) => Promise<string>, snapshot: (k: string) => Promise<GitSnapshot>): Promise<AppGit> {
  const src = a.spec.source ?? {};
  const branch = src.targetRevision || "HEAD";
  const compared = a.status?.sync?.revision;
  const g: AppGit = { branch, compared, behind: false };
  if (!src.repoURL) return { ...g, error: "the Application has no spec.source.repoURL" };
  try {
    g.head = await resolve(`${src.repoURL}\n${branch}`);
  } catch (e) {
    return { ...g, error: `cannot resolve ${branch} in ${src.repoURL}: ${oneLine(e)}` };
  }
  let headSnap: GitSnapshot;
  try {
    headSnap = await snapshot(`${src.repoURL}\n${g.head}`);
  } catch (e) {
    return { ...g, error: `cannot fetch ${g.head.slice(0, 12)} from ${src.repoURL}: ${oneLine(e)}` };
  }
  if (!compared) g.behind = true;
  else if (compared !== g.head) {
    // Another commit is not "behind" when the app's own files are the same at both: Argo CD
    // renders the same objects (it records the new revision at its next poll).
    try {
      const [was, now] = await Promise.all([snapshot(`${src.repoURL}\n${compared}`).then((s) => sourceFiles(s, src)), sourceFiles(headSnap, src)]);
      g.behind = JSON.stringify(was) !== JSON.stringify(now);
    } catch (e) {
      g.behind = true;
      g.error = `the compared revision ${compared.slice(0, 12)} cannot be read from ${src.repoURL}: ${oneLine(e)}`;
    }
  }
  if (!rendersJsonnet(src)) {
    try {
      await renderYaml(headSnap, src);
    } catch (e) {
      if (!(e instanceof RenderError)) throw e;
      g.renderError = { revision: g.head, file: e.file, message: e.parserMessage };
    }
  }
  return g;
}

export async function appDrift(a: ArgoApp, deps: ClusterDeps, resolve: (k: string) => Promise<string>, snapshot: (k: string) => Promise<GitSnapshot>, project: (name: string) => Promise<AppProject | undefined>): Promise<AppDrift> {
  const st = a.status ?? {};
  const src = a.spec.source ?? {};
  const res = st.resources ?? [];
  const ns = a.spec.destination?.namespace;
  const outOfSync = res
    .filter((r) => r.status !== "Synced" || r.requiresPruning)
    .map((r) => ({ object: `${r.kind}/${r.namespace ? r.namespace + "/" : ""}${r.name}`, status: r.status ?? "Unknown", requiresPruning: r.requiresPruning ?? false }));
  const sync = st.sync?.status ?? "Unknown";
  const rep: AppDrift = {
    app: a.metadata.name,
    sync,
    health: st.health?.status ?? "Unknown",
    revision: st.sync?.revision,
    targetRevision: src.targetRevision,
    repoURL: src.repoURL,
    policy: policyOf(a),
    lastOperation: { phase: st.operationState?.phase, startedAt: st.operationState?.startedAt, finishedAt: st.operationState?.finishedAt, message: st.operationState?.message },
    outOfSync,
    conditions: (st.conditions ?? []).map((c) => `${c.type}: ${c.message ?? ""}`),
    orphans: [],
    diff: {},
    git: { branch: src.targetRevision || "HEAD", behind: false },
    drifted: false,
  };
  const [git, orphans] = await Promise.all([
    appGit(a, resolve, snapshot).catch((e): AppGit => ({ ...rep.git, error: oneLine(e) })),
    (async () => {
      if (!ns) return [];
      const settings = (await project(a.spec.project ?? "default"))?.spec?.orphanedResources;
      if (!settings) return []; // the project does not monitor orphans (the root's `default`)
      const items = await deps.cluster.list(ns, ORPHAN_KINDS);
      return findOrphans(items, new Set(res.map((r) => `${r.kind}/${r.name}`)), settings.ignore ?? [], ns);
    })().catch((e) => {
      rep.error = `orphans not checked: ${oneLine(e)}`;
      return [] as string[];
    }),
  ]);
  rep.git = git;
  rep.orphans = orphans;
  if (outOfSync.length && !rendersJsonnet(src)) {
    // The field diff is against what Argo CD compared (its revision), not the head.
    try {
      const rev = st.sync?.revision ?? git.head;
      if (!rev || !src.repoURL) throw new Error("no revision to compare at");
      const rendered = (await renderYaml(await snapshot(`${src.repoURL}\n${rev}`), src)).map((o) => withNamespace(o, ns));
      const live = new Map<string, K8sObject | undefined>();
      for (const o of rendered) live.set(objectId(o), await deps.cluster.object(o));
      const wanted = new Set(outOfSync.map((o) => o.object));
      for (const o of rendered) if (wanted.has(objectId(o))) rep.diff[objectId(o)] = [];
      for (const c of appChanges(rendered, live, [])) {
        rep.diff[c.object] = c.kind === "changed" ? c.fields.map((f) => `${f.path}: git ${fmt(f.want)} live ${fmt(f.live)}`) : ["missing in the cluster"];
      }
    } catch (e) {
      rep.diff = { error: [oneLine(e)] };
    }
  }
  rep.drifted = outOfSync.length > 0 || sync !== "Synced" || orphans.length > 0 || git.behind || Boolean(git.renderError);
  return rep;
}

/** The layer: every app, each reported on its own; broken only when the cluster cannot be read or an app's Git cannot be. */
export async function clusterLayer(deps: ClusterDeps): Promise<ClusterLayer> {
  try {
    await deps.cluster.ping();
    const apps = (await deps.cluster.applications()).sort((x, y) => (x.metadata.name < y.metadata.name ? -1 : 1));
    const resolve = memo((k) => {
      const [url, ref] = k.split("\n");
      return deps.git.resolve(url, ref);
    });
    const snapshot = memo((k) => {
      const [url, sha] = k.split("\n");
      return deps.git.snapshot(url, sha);
    });
    const project = memo((name) => deps.cluster.appProject(name));
    const reports = await Promise.all(apps.map((a) => appDrift(a, deps, resolve, snapshot, project)));
    // An app that could not be checked (its Git, its orphans) cannot be called clean: broken, named.
    const unchecked = (r: AppDrift) => (r.git.error && !r.git.behind ? r.git.error : r.error);
    const bad = reports.find(unchecked);
    const status: Status = bad ? "broken" : reports.some((r) => r.drifted) ? "drifted" : "clean";
    const layer: ClusterLayer = { status, apps: reports };
    if (bad) layer.error = `app ${bad.app}: ${unchecked(bad)}`;
    return layer;
  } catch (e) {
    return { status: "broken", apps: [], error: oneLine(e) };
  }
}
