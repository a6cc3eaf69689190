// Helpers for tests against the lab's Kubernetes API (k3s role, k3s_lab_control_plane) and the
// Argo CD controllers running on the lab VPS. The API is reached through the SSH tunnel of
// scripts/lab/api-tunnel.sh (the VPS's firewall keeps 6443 VPN-only), with the admin kubeconfig
// copied from /etc/rancher/k3s/k3s.yaml to $PLATFORM_LAB_DIR/kubeconfig. Every wait is bounded.
import * as path from "path";
import { labDir } from "./lab";
import { repoRoot, run } from "./tools";

/** Host-side kubeconfig (server https://127.0.0.1:$LAB_API_PORT, through the tunnel). */
export const labKubeconfig = path.join(labDir, "kubeconfig");

let tunnelUp = false;
/** Starts the API tunnel if needed (idempotent) and refreshes the host-side kubeconfig. */
export function ensureApiTunnel(): string {
  if (!tunnelUp) {
    const r = run("bash", [path.join(repoRoot, "scripts/lab/api-tunnel.sh"), "start"], { timeoutMs: 30_000 });
    if (r.status !== 0) throw new Error(`cannot reach the lab API: ${r.stderr}${r.stdout}`);
    tunnelUp = true;
  }
  return labKubeconfig;
}

/** kubectl against the lab API (through the tunnel). Returns the spawn result; never throws on exit status. */
export function kubectl(args: string[], opts: { input?: string; timeoutMs?: number } = {}) {
  ensureApiTunnel();
  return run("kubectl", ["--request-timeout=20s", ...args], {
    env: { ...process.env, KUBECONFIG: labKubeconfig },
    input: opts.input,
    timeoutMs: opts.timeoutMs ?? 60_000,
  });
}

/** kubectl ... -o json, parsed; throws with kubectl's message on failure. */
export function kubectlJson<T = any>(args: string[]): T { // eslint-disable-line @typescript-eslint/no-explicit-any
  const r = kubectl([...args, "-o", "json"]);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export interface AppStatus {
  sync?: string;
  health?: string;
  operationPhase?: string;
  revision?: string;
  conditions: string[];
}

/** The Application's sync/health/operation state (undefined fields when not reported yet). */
export function appStatus(name: string, namespace = "argocd"): AppStatus | undefined {
  const r = kubectl(["-n", namespace, "get", "applications.argoproj.io", name, "-o", "json"]);
  if (r.status !== 0) return undefined;
  const app = JSON.parse(r.stdout);
  return {
    sync: app.status?.sync?.status,
    health: app.status?.health?.status,
    operationPhase: app.status?.operationState?.phase,
    revision: app.status?.sync?.revision,
    conditions: (app.status?.conditions ?? []).map((c: { type: string; message: string }) => `${c.type}: ${c.message}`),
  };
}

/**
 * Bounded wait until the Application reports the wanted sync and/or health status (e.g.
 * {sync: "Synced", health: "Healthy"}). The lab node runs the pods: an app with a Deployment is
 * Healthy only once its pods are ready (lib/argocdHealth.ts).
 * Resolves with the last status; rejects on timeout with the last status and conditions.
 */
export async function waitForApp(
  name: string,
  want: { sync?: string; health?: string; revision?: string },
  opts: { timeoutMs?: number; intervalMs?: number; namespace?: string } = {},
): Promise<AppStatus> {
  const deadline = Date.now() + (opts.timeoutMs ?? 180_000);
  let last: AppStatus | undefined;
  while (Date.now() < deadline) {
    last = appStatus(name, opts.namespace);
    if (
      last &&
      (!want.sync || last.sync === want.sync) &&
      (!want.health || last.health === want.health) &&
      (!want.revision || last.revision === want.revision)
    ) {
      return last;
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 2000));
  }
  throw new Error(`timed out waiting for Application ${name} to be ${JSON.stringify(want)}; last: ${JSON.stringify(last)}`);
}

/** Argo CD's workloads in the core install (components/argocd.ts CORE_INSTALL), by their pods' name label. */
export const ARGOCD_WORKLOADS = ["argocd-application-controller", "argocd-repo-server", "argocd-redis", "argocd-applicationset-controller"];

export interface PodSummary { name: string; uid: string; phase: string; ready: boolean; restarts: number; images: string[]; node: string }

/** The pods of one Argo CD workload (label app.kubernetes.io/name), with phase, readiness and restarts. */
export function argocdPods(workload: string): PodSummary[] {
  type Pod = { metadata: { name: string; uid: string; deletionTimestamp?: string }; spec: { nodeName?: string; containers: { image: string }[] }; status: { phase: string; conditions?: { type: string; status: string }[]; containerStatuses?: { restartCount: number }[] } };
  const pods = kubectlJson<{ items: Pod[] }>(["-n", "argocd", "get", "pods", "-l", `app.kubernetes.io/name=${workload}`]).items;
  return pods
    .filter((p) => !p.metadata.deletionTimestamp)
    .map((p) => ({
      name: p.metadata.name,
      uid: p.metadata.uid,
      phase: p.status.phase,
      ready: (p.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True"),
      restarts: (p.status.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0),
      images: p.spec.containers.map((c) => c.image),
      node: p.spec.nodeName ?? "",
    }));
}
