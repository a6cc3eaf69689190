// Helpers for end-to-end tests of the lab's workload (gitops/apps/demo: the greeter, apps/greeter).
// The service is reached the way an operator reaches the cluster from outside: through the API
// relay on this machine's loopback (the lab's stand-in for the VPN) and the API server's service
// proxy, which forwards to a ready endpoint of the Service, never through a public port. Every
// loop is bounded.
import * as fs from "fs";
import * as https from "https";
import { parse as parseYaml } from "yaml";
import { ensureApiTunnel, kubectlJson } from "./cluster";

interface KubeconfigTls {
  server: URL;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

let tls: KubeconfigTls | undefined;
function kubeconfigTls(): KubeconfigTls {
  if (!tls) {
    const kc = parseYaml(fs.readFileSync(ensureApiTunnel(), "utf8"));
    const b64 = (s: string) => Buffer.from(s, "base64");
    tls = {
      server: new URL(kc.clusters[0].cluster.server),
      ca: b64(kc.clusters[0].cluster["certificate-authority-data"]),
      cert: b64(kc.users[0].user["client-certificate-data"]),
      key: b64(kc.users[0].user["client-key-data"]),
    };
  }
  return tls;
}

export interface ServiceResponse {
  status: number;
  body: string;
  ms: number;
  error?: string;
}

/** One request to the demo Service (namespace demo, port "http") through the API's service proxy. */
export function serviceRequest(path = "/", opts: { method?: string; body?: string; timeoutMs?: number; namespace?: string; service?: string } = {}): Promise<ServiceResponse> {
  const t = kubeconfigTls();
  const started = Date.now();
  const ns = opts.namespace ?? "demo";
  const svc = opts.service ?? "demo:http";
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: t.server.hostname,
        port: t.server.port,
        method: opts.method ?? "GET",
        path: `/api/v1/namespaces/${ns}/services/${svc}/proxy${path}`,
        ca: t.ca,
        cert: t.cert,
        key: t.key,
        timeout: opts.timeoutMs ?? 3000,
        headers: opts.body ? { "content-type": "text/plain", "content-length": Buffer.byteLength(opts.body) } : {},
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - started }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ status: 0, body: "", ms: Date.now() - started, error: e.message }));
    if (opts.body) req.write(opts.body);
    req.end();
  });
}

/** GET / as JSON ({greeting, rows}); throws with the response when it is not a 200. */
export async function greet(): Promise<{ greeting: string; rows: number }> {
  const r = await serviceRequest("/", { timeoutMs: 5000 });
  if (r.status !== 200) throw new Error(`GET / through the demo Service: ${r.status} ${r.error ?? r.body.slice(0, 300)}`);
  return JSON.parse(r.body);
}

export interface ProbeStats {
  attempts: number;
  failures: number;
  /** The first few failures, as "status error/body". */
  errors: string[];
  /** Distinct greetings seen in 200 answers. */
  greetings: string[];
}

/**
 * Requests GET / about every `intervalMs` until stop() (or `maxAttempts`), counting answers that
 * are not a 200 with a greeting. For the availability checks of Story 1.2 and the outage of 2.3.
 */
export function serviceProbe(opts: { intervalMs?: number; maxAttempts?: number } = {}) {
  const stats: ProbeStats = { attempts: 0, failures: 0, errors: [], greetings: [] };
  let stopped = false;
  const loop = (async () => {
    while (!stopped && stats.attempts < (opts.maxAttempts ?? 6000)) {
      const r = await serviceRequest("/", { timeoutMs: 3000 });
      stats.attempts++;
      let greeting: string | undefined;
      try {
        greeting = r.status === 200 ? (JSON.parse(r.body) as { greeting?: string }).greeting : undefined;
      } catch {
        greeting = undefined;
      }
      if (greeting === undefined) {
        stats.failures++;
        if (stats.errors.length < 10) stats.errors.push(`${r.status} ${r.error ?? r.body.slice(0, 120)}`);
      } else if (!stats.greetings.includes(greeting)) {
        stats.greetings.push(greeting);
      }
      await new Promise((res) => setTimeout(res, opts.intervalMs ?? 200));
    }
  })();
  return {
    stats,
    stop: async () => {
      stopped = true;
      await loop;
      return stats;
    },
  };
}

export interface PodState {
  phase: string;
  ready: boolean;
  restarts: number;
  containerIds: string[];
}

/** The demo app's pods by name: phase, readiness, restart count and container IDs. */
export function workloadPods(namespace = "demo", selector = "app=demo"): Record<string, PodState> {
  const list = kubectlJson<{ items: any[] }>(["-n", namespace, "get", "pods", "-l", selector]); // eslint-disable-line @typescript-eslint/no-explicit-any
  const out: Record<string, PodState> = {};
  for (const p of list.items) {
    if (p.metadata.deletionTimestamp) continue;
    const cs = (p.status.containerStatuses ?? []) as Array<{ ready: boolean; restartCount: number; containerID?: string }>;
    out[p.metadata.name] = {
      phase: p.status.phase,
      ready: cs.length > 0 && cs.every((c) => c.ready),
      restarts: cs.reduce((n, c) => n + c.restartCount, 0),
      containerIds: cs.map((c) => c.containerID ?? "").sort(),
    };
  }
  return out;
}

/** Bounded wait until `check` resolves true; returns the milliseconds it took. */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 120_000, intervalMs = 500): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await check()) return Date.now() - started;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
