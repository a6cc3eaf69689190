// Bringing an Argo CD app to a Git revision and proving it (resync and rollback share this):
//   sync    a hard refresh (when the app compares with another revision), then the Application's `operation` with the correlation id in its info
//           and initiator (one operation at a time: a running one is waited for first)
//   wait    a watch until the app is Synced to the revision, every object Synced, and OUR
//           operation (found by its correlation id, not by comparing clocks) Succeeded
//   verify  every object Git holds at the revision, read live and compared field by field
// Pure logic over ArgoCluster and GitSource (fakes in tests/unit/operatorSync.test.ts).
import { render } from "../gate/clusterLayer";
import { fieldChanges, objectId, withNamespace } from "../gate/objectDiff";
import { Application, ArgoCluster, OperationState, PatchConflict, rendersJsonnet } from "./argocd";
import type { AppDrift } from "../drift/report";
import { GitSource } from "./gitops";

export const REFRESH_ANNOTATION = "argocd.argoproj.io/refresh";

/** What resync's before.json/after.json hold per app: the fields of the drift report's app an operator reads first. */
export type AppSummary = Pick<AppDrift, "app" | "sync" | "health" | "revision" | "targetRevision" | "repoURL" | "policy" | "lastOperation" | "conditions"> & {
  outOfSync: Array<{ object: string; status?: string; requiresPruning: boolean }>;
  drifted: boolean;
};

export function appSummary(a: Application): AppSummary {
  const st = a.status ?? {};
  const outOfSync = (st.resources ?? [])
    .filter((r) => r.status !== "Synced" || r.requiresPruning)
    .map((r) => ({ object: `${r.kind}/${r.namespace ? r.namespace + "/" : ""}${r.name}`, status: r.status, requiresPruning: r.requiresPruning ?? false }));
  const auto = a.spec.syncPolicy?.automated;
  const sync = st.sync?.status ?? "Unknown";
  const op = st.operationState ?? {};
  return {
    app: a.metadata.name,
    sync,
    health: st.health?.status ?? "Unknown",
    revision: st.sync?.revision,
    targetRevision: a.spec.source?.targetRevision,
    repoURL: a.spec.source?.repoURL,
    policy: auto?.selfHeal ? "self-heal" : auto ? "auto-sync, report drift" : "manual",
    lastOperation: { phase: op.phase, startedAt: op.startedAt, finishedAt: op.finishedAt, message: op.message },
    outOfSync,
    conditions: (st.conditions ?? []).map((c) => `${c.type}: ${c.message ?? ""}`),
    drifted: outOfSync.length > 0 || sync !== "Synced",
  };
}

/** Apps a resync without names takes: not Synced, or with an object OutOfSync. */
export const needsResync = (s: AppSummary) => s.sync !== "Synced" || s.outOfSync.length > 0;

const OTHER_OP_TIMEOUT_MS = 120_000;
const REFRESH_TIMEOUT_MS = 60_000;
const MAX_PATCH_ATTEMPTS = 10;

export interface SyncRequest {
  app: string;
  revision: string;
  correlationId: string;
  requestedAt: string;
}

export const initiator = (cid: string) => `platform-operator (Correlation-Id: ${cid})`;

/** Starts a sync of `revision`; `progress` gets a line for each wait that can take seconds. */
export async function requestSync(
  c: ArgoCluster,
  name: string,
  revision: string,
  cid: string,
  reason: string,
  progress: (line: string) => void = () => {},
  now: () => Date = () => new Date(),
): Promise<SyncRequest> {
  const a = await c.app(name);
  if (!a) throw new Error(`no Argo CD Application '${name}' in namespace ${c.namespace}`);
  const busy = (x: Application) => Boolean(x.operation) || x.status?.operationState?.phase === "Running";
  if (busy(a)) {
    // One operation at a time (Argo CD would reject ours): wait, bounded, for the running one.
    progress(`${name}: waiting for the sync operation already running`);
    await c.watchApp(name, (x) => (busy(x) ? undefined : true), { timeoutMs: OTHER_OP_TIMEOUT_MS, onTimeout: () => `${name}: another sync operation is still running after ${OTHER_OP_TIMEOUT_MS / 1000}s` });
  }
  // A hard refresh first when the app compares with another revision than the one we sync: the
  // controller re-reads Git without its revision cache, so the branch resolves to what it points at
  // now. Without it, the next automated sync could compare with a cached (older, possibly the bad)
  // revision and apply it again right after ours. An app already compared with `revision` (a
  // manual change in the cluster, Git unchanged) has nothing stale to drop: no refresh, one round
  // trip to the controller less.
  const refresh = a.status?.sync?.revision !== revision;
  if (refresh) {
    await c.patchApp(name, { metadata: { annotations: { [REFRESH_ANNOTATION]: "hard" } } });
    await c.watchApp(name, (x) => (x.metadata.annotations?.[REFRESH_ANNOTATION] ? undefined : true), {
      timeoutMs: REFRESH_TIMEOUT_MS,
      onTimeout: () => `${name}: Argo CD did not take the hard refresh within ${REFRESH_TIMEOUT_MS / 1000}s (is its application controller running?)`,
    });
  }
  const operation = {
    initiatedBy: { username: initiator(cid) },
    info: [
      { name: "Correlation-Id", value: cid },
      { name: "Reason", value: reason },
    ],
    sync: { revision, prune: true, syncOptions: ["ServerSideApply=true"] },
    retry: { limit: 3, backoff: { duration: "2s", factor: 2, maxDuration: "20s" } },
  };
  // The refresh of a branch that moved starts an automated sync: an operation patched in while
  // that one runs is merged into it and dropped when it ends (seen on the lab). So: wait until no
  // operation runs, and patch only that very version of the Application (resourceVersion: the API
  // refuses the patch with 409 if the controller wrote in between); bounded retries.
  // Without a refresh, the version just read is the first candidate (no watch to open for it).
  for (let attempt = 1; ; attempt++) {
    const idle =
      attempt === 1 && !refresh && !busy(a)
        ? a
        : await c.watchApp(name, (x) => (busy(x) ? undefined : x), { timeoutMs: OTHER_OP_TIMEOUT_MS, onTimeout: () => `${name}: another sync operation is still running after ${OTHER_OP_TIMEOUT_MS / 1000}s` });
    try {
      await c.patchApp(name, { metadata: { resourceVersion: idle.metadata.resourceVersion }, operation });
      break;
    } catch (e) {
      if (!(e instanceof PatchConflict) || attempt >= MAX_PATCH_ATTEMPTS) throw e;
    }
  }
  return { app: name, revision, correlationId: cid, requestedAt: now().toISOString().replace(/\.\d{3}Z$/, "+00:00") };
}

/** Whether an operation is the one this run requested (its info carries our id and it syncs `revision`). */
export function isOurOperation(op: OperationState | undefined, cid: string, revision: string): boolean {
  const o = op?.operation;
  if (!o) return false;
  const carries = (o.info ?? []).some((i) => i.name === "Correlation-Id" && i.value === cid) || o.initiatedBy?.username === initiator(cid);
  return carries && (o.sync?.revision === revision || op?.syncResult?.revision === revision);
}

export interface WaitResult {
  app: string;
  sync?: string;
  revision?: string;
  operation?: string;
  operationMessage?: string;
  startedAt?: string;
  outOfSync: string[];
}

function waitState(a: Application): WaitResult {
  const st = a.status ?? {};
  const op = st.operationState ?? {};
  return {
    app: a.metadata.name,
    sync: st.sync?.status,
    revision: st.sync?.revision,
    operation: op.phase,
    operationMessage: op.message,
    startedAt: op.startedAt,
    outOfSync: (st.resources ?? []).filter((r) => r.status !== "Synced").map((r) => r.name),
  };
}

/** The condition of a finished sync: undefined while not there yet; throws when our operation failed. */
export function syncedTo(name: string, revision: string, cid: string): (a: Application) => WaitResult | undefined {
  return (a) => {
    const op = a.status?.operationState;
    const ours = isOurOperation(op, cid, revision);
    if (ours && (op?.phase === "Failed" || op?.phase === "Error")) throw new Error(`${name}: sync ${op.phase}: ${op.message ?? ""}`);
    const s = waitState(a);
    return s.sync === "Synced" && s.revision === revision && s.outOfSync.length === 0 && ours && op?.phase === "Succeeded" && !a.operation ? s : undefined;
  };
}

export function waitSynced(c: ArgoCluster, name: string, revision: string, cid: string, timeoutMs: number): Promise<WaitResult> {
  return c.watchApp(name, syncedTo(name, revision, cid), {
    timeoutMs,
    onTimeout: (last) => `${name}: not Synced to ${revision.slice(0, 12)} within ${timeoutMs / 1000}s (last: ${JSON.stringify(last ? waitState(last) : {})})`,
  });
}

export interface Verification {
  app: string;
  revision: string;
  objects: number;
  /** Object id -> differences ("missing in the cluster", or ".path: git X live Y"). */
  mismatches: Record<string, string[]>;
}

const VERIFY_READS_AT_ONCE = 8;

/** `f` over `items` with at most `limit` calls in flight; results in the items' order. */
export async function mapLimit<T, R>(items: T[], limit: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Fetches the Git files verifyApp will read, while Argo CD works on the sync (GitSource caches
 * them per run): the fetch overlaps the wait instead of following it. A failure here is left for
 * verifyApp to report.
 */
export function prefetchForVerify(g: GitSource, a: Application, revision: string): void {
  const url = a.spec.source?.repoURL;
  if (!url || rendersJsonnet(a.spec.source)) return;
  try {
    g.tree(url, revision);
  } catch {
    // verifyApp fetches again and reports the error in its place.
  }
}

/** Every object Git holds for the app at `revision` against the live one; undefined for an app that renders jsonnet (the root: its children are verified one by one). */
export async function verifyApp(c: ArgoCluster, g: GitSource, a: Application, revision: string): Promise<Verification | undefined> {
  const src = a.spec.source ?? {};
  if (rendersJsonnet(a.spec.source)) return undefined;
  if (!src.repoURL || !src.path) throw new Error(`${a.metadata.name}: the Application has no spec.source.repoURL/path`);
  const { sha, tree } = g.tree(src.repoURL, revision);
  const objs = render(tree, src.path, src.directory?.recurse ?? false).map((o) => withNamespace(o, a.spec.destination?.namespace));
  const mismatches: Record<string, string[]> = {};
  // Read side by side, a few at a time: one API round trip for a small app instead of one per object.
  const lives = await mapLimit(objs, VERIFY_READS_AT_ONCE, (o) => c.object(o));
  for (const [i, o] of objs.entries()) {
    const live = lives[i];
    const diffs = live ? fieldChanges(o, live).map((f) => `${f.path}: git ${JSON.stringify(f.want)} live ${JSON.stringify(f.live)}`) : ["missing in the cluster"];
    if (!diffs.length) continue;
    // A Secret's values never reach evidence: the path says what differs.
    mismatches[objectId(o)] = o.kind === "Secret" && live ? diffs.map((d) => d.replace(/: git .*$/, ": differs (values hidden)")) : diffs;
  }
  return { app: a.metadata.name, revision: sha, objects: objs.length, mismatches };
}
