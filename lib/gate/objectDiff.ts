// Object-level diff between what an app's manifests render to and the live objects, with
// server-side apply semantics: only the fields Git sets are compared (the API server's defaults,
// status, and fields other managers own are not differences). Pure functions.

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface FieldChange {
  /** JSON-path-like location, e.g. ".data.greeting" or ".spec.ports[0].port". */
  path: string;
  want: unknown;
  live: unknown;
}

export type ObjectChange =
  | { kind: "created"; object: string }
  | { kind: "deleted"; object: string }
  | { kind: "changed"; object: string; fields: FieldChange[] };

/** Kinds that never have a namespace (an app's destination namespace does not apply to them). */
const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PersistentVolume", "StorageClass", "PriorityClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService"]);

/** The object with its namespace filled in from the app's destination (as Argo CD applies it). */
export function withNamespace(o: K8sObject, defaultNamespace?: string): K8sObject {
  if (CLUSTER_SCOPED.has(o.kind) || o.metadata.namespace || !defaultNamespace) return o;
  return { ...o, metadata: { ...o.metadata, namespace: defaultNamespace } };
}

/** "Kind/namespace/name" (cluster-scoped: "Kind/name"), the name the drift report uses too. */
export function objectId(o: { kind: string; metadata: { name: string; namespace?: string } }): string {
  return `${o.kind}/${o.metadata.namespace ? o.metadata.namespace + "/" : ""}${o.metadata.name}`;
}

/** Fields Git sets whose live value differs. Lists compare element by element (same length), else as a whole. */
export function fieldChanges(want: unknown, live: unknown, at = ""): FieldChange[] {
  if (Array.isArray(want)) {
    if (!Array.isArray(live) || live.length !== want.length) return [{ path: at, want, live }];
    return want.flatMap((w, i) => fieldChanges(w, live[i], `${at}[${i}]`));
  }
  if (want !== null && typeof want === "object") {
    if (live === null || typeof live !== "object" || Array.isArray(live)) return [{ path: at, want, live }];
    return Object.entries(want as Record<string, unknown>).flatMap(([k, v]) => fieldChanges(v, (live as Record<string, unknown>)[k], `${at}.${k}`));
  }
  // The API returns some scalars in another type (quantities, ports as strings): compare as text.
  return String(want) === String(live) ? [] : [{ path: at, want, live }];
}

/** A Secret's values never reach a report: the path says what changed, the values are hidden. */
function redact(o: K8sObject, fields: FieldChange[]): FieldChange[] {
  if (o.kind !== "Secret") return fields;
  return fields.map((f) => (/^\.(data|stringData)\b/.test(f.path) ? { path: f.path, want: "(hidden)", live: "(hidden)" } : f));
}

/**
 * The changes that syncing `rendered` would make. `live` answers for any object id (undefined: it
 * does not exist); `previously` are the objects the app held before the PR (its base render and
 * what Argo CD lists as managed): those the PR no longer renders and that exist live are deleted
 * (the apps prune).
 */
export function appChanges(rendered: K8sObject[], live: Map<string, K8sObject | undefined>, previously: string[]): ObjectChange[] {
  const out: ObjectChange[] = [];
  const ids = new Set<string>();
  for (const o of rendered) {
    const id = objectId(o);
    ids.add(id);
    const l = live.get(id);
    if (!l) out.push({ kind: "created", object: id });
    else {
      const fields = redact(o, fieldChanges(o, l));
      if (fields.length) out.push({ kind: "changed", object: id, fields });
    }
  }
  for (const id of [...new Set(previously)].sort()) {
    if (!ids.has(id) && live.get(id)) out.push({ kind: "deleted", object: id });
  }
  return out;
}
