// Helpers for end-to-end tests against the lab VPS (scripts/lab/up.sh has brought it up).
// Traffic goes only to the lab's own addresses; every loop is bounded.
import * as fs from "fs";
import * as net from "net";
import * as path from "path";
import { labDirOf, labEnv as readLabEnv } from "../../lib/labEnv";
import { evidenceDir } from "./evidence";
import { repoRoot, run, runAsync, until } from "./tools";

/** The lab's names and addresses (lib/labEnv.ts: scripts/lab/lab.env, LAB_* in the environment win). */
export const labEnv: Record<string, string> = readLabEnv(repoRoot);
export const labDir = labDirOf(repoRoot);
export const vpsAddress = labEnv.LAB_VPS_ADDR;

let ansibleBin: string | undefined;
function toolsPath(): string {
  if (!ansibleBin) {
    const a = run("bash", ["scripts/toolchain/ensure-ansible.sh"]);
    const t = run("bash", ["scripts/toolchain/ensure.sh"]);
    if (a.status !== 0 || t.status !== 0) throw new Error(`tools not ready: ${a.stderr}${t.stderr}`);
    ansibleBin = `${t.stdout.trim().split("\n").pop()}:${a.stdout.trim().split("\n").pop()}`;
  }
  return `${ansibleBin}:${process.env.PATH}`;
}

/** A command on the lab VPS, as root over SSH (scripts/lab/ssh.sh). */
export function onVps(command: string, timeoutMs = 120_000) {
  return run("bash", [path.join(repoRoot, "scripts/lab/ssh.sh"), command], { timeoutMs });
}

export interface EvidenceTask {
  host: string;
  role: string | null;
  task: string;
  action: string;
  status: string;
  diff_summary?: string[];
}
export interface AnsibleRecord {
  correlation_id: string;
  tags: string[];
  check_mode: boolean;
  duration_s: number;
  recap: Record<string, { ok: number; changed: number; failures: number; unreachable: number }>;
  tasks: EvidenceTask[];
  hosts: Record<string, Record<string, { ok: number; changed: number; failed: number }>>;
}
export interface AnsibleResult {
  status: number | null;
  output: string;
  record?: AnsibleRecord;
  durationMs: number;
}

/**
 * ansible-playbook site.yml against the lab inventory, with its evidence record parsed. Aimed at this
 * lab's VPS (the inventory names the default lab's address; LAB_VPS_ADDR wins for an isolated lab):
 * a later `-e ansible_host=...` in args wins over it.
 */
export async function ansible(criterion: string, args: string[], env: Record<string, string> = {}): Promise<AnsibleResult> {
  const dir = evidenceDir(criterion);
  const before = new Set(fs.readdirSync(dir));
  const started = Date.now();
  const r = await runAsync("ansible-playbook", ["-i", "inventories/lab/hosts.yml", "site.yml", "-e", `ansible_host=${vpsAddress}`, ...args], {
    cwd: path.join(repoRoot, "infra/ansible"),
    env: {
      ...process.env,
      PATH: toolsPath(),
      ANSIBLE_CONFIG: path.join(repoRoot, "infra/ansible/ansible.cfg"),
      PLATFORM_EVIDENCE_DIR: dir,
      PLATFORM_CORRELATION_ID: `test-${criterion}-${started}`,
      ANSIBLE_FORCE_COLOR: "0",
      ...env,
    },
    timeoutMs: 20 * 60 * 1000,
  });
  const durationMs = Date.now() - started;
  const output = (r.stdout ?? "") + (r.stderr ?? "");
  const stem = `ansible-run-${started}`;
  fs.writeFileSync(path.join(dir, `${stem}.log`), `$ ansible-playbook ${args.join(" ")}\n${output}`);
  const file = fs.readdirSync(dir).filter((f) => !before.has(f) && f.startsWith("ansible-2") && f.endsWith(".json")).sort().pop();
  const record = file ? (JSON.parse(fs.readFileSync(path.join(dir, file), "utf8")) as AnsibleRecord) : undefined;
  return { status: r.status, output, record, durationMs };
}

/** PLAY RECAP totals over hosts, from Ansible's own output. */
export function recap(output: string) {
  const sum = { ok: 0, changed: 0, unreachable: 0, failed: 0, hosts: 0 };
  for (const m of output.matchAll(/ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)/g)) {
    sum.ok += +m[1];
    sum.changed += +m[2];
    sum.unreachable += +m[3];
    sum.failed += +m[4];
    sum.hosts += 1;
  }
  return sum;
}

/** Units whose restarts matter, with the main PID and start time systemd recorded. */
// The lab node's units (containerd, kubelet, kube-proxy, kube-scheduler, its registry mirror) count like the host's.
export const managedServices = [
  "ssh.service", "postgresql@15-main.service", "nftables.service", "wg-quick@wg0.service", "k3s.service", "systemd-timesyncd.service", "unattended-upgrades.service",
  "containerd.service", "kubelet.service", "kube-proxy.service", "kube-scheduler.service", "k3s-lab-registry.service",
];
export function serviceSnapshot(): Record<string, string> {
  const r = onVps(`for u in ${managedServices.join(" ")}; do printf '%s ' "$u"; systemctl show -p MainPID -p ExecMainStartTimestampMonotonic -p ActiveState -p NRestarts --value "$u" | tr '\\n' ' '; echo; done`);
  if (r.status !== 0) throw new Error(`cannot read services: ${r.stderr}`);
  return Object.fromEntries(r.stdout.trim().split("\n").map((l) => [l.split(" ")[0], l.slice(l.indexOf(" ") + 1).trim()]));
}

/**
 * Waits (bounded) until no managed service is between states and the kubelet, when the lab node
 * runs one, answers its health check: a kubelet that is still starting after the first converge
 * (its Restart=always retries while containerd and the API settle) would otherwise be caught
 * "activating" and counted as a restart by the replay that follows. Returns what it waited for.
 */
export async function waitServicesSettled(timeoutMs = 120_000): Promise<{ waitedMs: number }> {
  const probe = `for u in ${managedServices.join(" ")}; do s=$(systemctl show -p ActiveState --value "$u"); case "$s" in activating|deactivating|reloading) echo "$u $s"; exit 1;; esac; done; ` +
    `if systemctl cat kubelet.service >/dev/null 2>&1; then curl -fsS --max-time 2 http://127.0.0.1:10248/healthz >/dev/null || { echo "kubelet healthz not ok"; exit 1; }; fi`;
  let last = "";
  const settled = () => {
    const r = onVps(probe, 30_000);
    last = `${r.stdout.trim()} ${r.stderr.trim()}`.trim();
    return r.status === 0;
  };
  const waitedMs = await until(settled, "the managed services to settle", timeoutMs, 1000).catch((e: Error) => {
    throw new Error(`${e.message} (last: ${last})`);
  });
  return { waitedMs };
}

/** sha256 of every file under the given roots on the VPS (paths matching `exclude` left out). */
export function fileSnapshot(roots: string[], exclude: RegExp[] = []): Record<string, string> {
  const r = onVps(`find ${roots.join(" ")} -xdev -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum`, 300_000);
  const out: Record<string, string> = {};
  for (const line of r.stdout.trim().split("\n")) {
    const [sum, file] = [line.slice(0, 64), line.slice(66)];
    if (file && !exclude.some((e) => e.test(file))) out[file] = sum;
  }
  return out;
}

/** Differences between two snapshots, as "path: before -> after". */
export function snapshotDiff(a: Record<string, string>, b: Record<string, string>): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => a[k] !== b[k]).map((k) => `${k}: ${a[k] ?? "absent"} -> ${b[k] ?? "absent"}`);
}

/**
 * Repeatedly opens a TCP connection to addr:port and waits for the first bytes, until stop() is
 * called or `maxAttempts` is reached. Returns the counts. Only for lab addresses.
 */
export function tcpProbe(addr: string, port: number, opts: { intervalMs?: number; maxAttempts?: number; expect?: RegExp } = {}) {
  const stats = { attempts: 0, failures: 0, errors: [] as string[] };
  let stopped = false;
  const once = () =>
    new Promise<void>((resolve) => {
      const sock = net.connect({ host: addr, port, timeout: 3000 });
      let done = false;
      const finish = (err?: string) => {
        if (done) return;
        done = true;
        stats.attempts++;
        if (err) {
          stats.failures++;
          if (stats.errors.length < 10) stats.errors.push(err);
        }
        sock.destroy();
        resolve();
      };
      sock.once("data", (d) => finish(opts.expect && !opts.expect.test(d.toString()) ? `unexpected banner ${d.toString().slice(0, 40)}` : undefined));
      sock.once("timeout", () => finish("timeout"));
      sock.once("error", (e) => finish(e.message));
    });
  const loop = (async () => {
    while (!stopped && stats.attempts < (opts.maxAttempts ?? 3000)) {
      await once();
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
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

/** Bounded wait until `check` is true. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 60_000, intervalMs = 1000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
