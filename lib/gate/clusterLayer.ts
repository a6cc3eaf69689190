// The gate's cluster layer: for each Argo CD app whose folder under gitops/apps/ the PR touches,
// what syncing the PR would do to the live objects (created / changed fields / deleted). Read-only:
// objects and Applications are only read. The app's source path comes from its live Application
// (spec.source.path), falling back to the App-of-Apps layout (gitops/apps/<app>/manifests).
import * as path from "path";
import { parseAllDocuments } from "yaml";
import { ClusterReader } from "../kube";
import { appChanges, K8sObject, objectId, withNamespace } from "./objectDiff";
import { AppReport } from "./report";

/** A tree of files at one revision (the PR's working tree, or the base commit). */
export interface Tree {
  /** Files under `dir` (project-relative), recursively. */
  list(dir: string): string[];
  read(file: string): string;
}

/** The apps whose folder (gitops/apps/<app>/...) a changed file is in. */
export function touchedApps(changedFiles: string[], gitopsPath: string): string[] {
  const prefix = `${gitopsPath.replace(/\/$/, "")}/apps/`;
  return [...new Set(changedFiles.filter((f) => f.startsWith(prefix) && f.slice(prefix.length).includes("/")).map((f) => f.slice(prefix.length).split("/")[0]))].sort();
}

/** The Kubernetes objects of the YAML files in `dir` (only its own files unless recurse, as Argo CD's directory source). */
export function render(tree: Tree, dir: string, recurse: boolean): K8sObject[] {
  const files = tree.list(dir).filter((f) => /\.ya?ml$/.test(f) && (recurse || path.dirname(f) === dir)).sort();
  const out: K8sObject[] = [];
  for (const f of files) {
    for (const doc of parseAllDocuments(tree.read(f))) {
      if (doc.errors.length) throw new Error(`${f}: ${doc.errors[0].message.split("\n")[0]}`);
      const o = doc.toJS() as K8sObject | null;
      if (o && typeof o === "object" && o.kind && o.metadata?.name) out.push(o);
    }
  }
  return out;
}

export async function appReport(app: string, opts: { gitopsPath: string; head: Tree; base: Tree; changedFiles: string[]; reader: ClusterReader }): Promise<AppReport> {
  const appDir = `${opts.gitopsPath}/apps/${app}`;
  const live = await opts.reader.application(app);
  const src = live?.spec.source;
  const dir = src?.path ?? `${appDir}/manifests`;
  const recurse = src?.directory?.recurse ?? false;
  const ns = live?.spec.destination?.namespace;
  const notes: string[] = [];
  if (opts.changedFiles.includes(`${appDir}/application.jsonnet`)) {
    notes.push(opts.head.list(appDir).includes(`${appDir}/application.jsonnet`) ? "its Application definition (application.jsonnet) changed: the root app applies it" : "its Application definition is removed: the root app prunes the app");
  }
  if (!live) notes.push("no such Application in the cluster yet: every object is new");
  const rendered = render(opts.head, dir, recurse).map((o) => withNamespace(o, ns));
  const before = render(opts.base, dir, recurse).map((o) => withNamespace(o, ns));
  // Objects the app held: its base render and what Argo CD lists as managed.
  const managed: K8sObject[] = (live?.status?.resources ?? []).map((r) => ({ apiVersion: r.group ? `${r.group}/${r.version}` : (r.version ?? "v1"), kind: r.kind, metadata: { name: r.name, namespace: r.namespace || undefined } }));
  const candidates = new Map<string, K8sObject>();
  for (const o of [...rendered, ...before, ...managed]) candidates.set(objectId(o), o);
  const liveObjects = new Map<string, K8sObject | undefined>();
  for (const [id, o] of candidates) liveObjects.set(id, await opts.reader.object(o));
  return { app, changes: appChanges(rendered, liveObjects, [...before, ...managed].map(objectId)), notes };
}
