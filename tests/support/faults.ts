// Helpers for the fault and bad-input tests (tests/e2e/faults.test.ts, bad-input.test.ts): the lab
// stack through the `platform` command (and its state read through the Automation API), Ansible aimed at this lab's VPS (the default one or an isolated
// second lab: LAB_VPS_ADDR), and fingerprints of the host and of the stack state taken before and
// after, to prove that something changed nothing. Every wait is bounded; traffic goes only to the
// lab's addresses.
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { openWorkspace, prepareStackEnv } from "../../lib/pulumiEnv";
import { ansible, AnsibleResult, labDir, onVps, vpsAddress } from "./lab";
import { repoRoot, run, runAsync } from "./tools";
export { until } from "./tools";

/** ansible-playbook site.yml on this lab's VPS (the lab inventory names the default lab's address; LAB_VPS_ADDR wins). Later -e win. */
export function labAnsible(criterion: string, args: string[], env: Record<string, string> = {}): Promise<AnsibleResult> {
  return ansible(criterion, ["-e", `ansible_host=${vpsAddress}`, ...args], env);
}

/** PATH with the Ansible venv and sops first (for ansible-playbook started by a test itself). */
let ansiblePath: string | undefined;
export function ansibleToolsPath(): string {
  if (!ansiblePath) {
    const a = run("bash", ["scripts/toolchain/ensure-ansible.sh"]);
    const t = run("bash", ["scripts/toolchain/ensure.sh", "sops"]);
    if (a.status !== 0 || t.status !== 0) throw new Error(`tools not ready: ${a.stderr}${t.stderr}`);
    ansiblePath = `${t.stdout.trim().split("\n").pop()}:${a.stdout.trim().split("\n").pop()}`;
  }
  return `${ansiblePath}:${process.env.PATH}`;
}

/** `platform COMMAND lab ARGS...` (e.g. ["up", "--refresh"]), in the environment of this test run (PLATFORM_LAB_DIR, LAB_* and evidence folder included). */
export function pulumiLab(args: string[], env: Record<string, string> = {}, timeoutMs = 30 * 60 * 1000, root = repoRoot) {
  const [command, ...rest] = args;
  return runAsync(path.join(root, "cli/platform.js"), [command, "lab", ...rest], { cwd: root, env: { ...process.env, ...env }, timeoutMs });
}

/**
 * The pinned Pulumi CLI on the lab stack, for a test that inspects the state (`stack export`,
 * `stack output --json`): the SDK's command runner in the lab's environment (lib/pulumiEnv.ts).
 * Never --show-secrets. Not an operator command: the operator uses `platform`.
 */
export async function pulumiCli(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  if (args.includes("--show-secrets")) throw new Error("tests never read secrets in clear");
  const se = prepareStackEnv("lab", repoRoot, process.env);
  try {
    const ws = await openWorkspace(se);
    type Runner = { run(a: string[], cwd: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> };
    try {
      const r = await (ws.pulumiCommand as unknown as Runner).run([...args, "--stack", "lab"], repoRoot, se.envVars);
      return { status: r.code, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      return { status: 1, stdout: "", stderr: e instanceof Error ? e.message : String(e) };
    }
  } finally {
    se.cleanup();
  }
}

/** The lab stack's state, reduced to what an update would change: each resource (type, URN, hash of inputs and outputs) and the update history. */
export interface StackState {
  resources: string[];
  updates: number;
  lastUpdate?: { version?: number; result?: string; message?: string };
}
export async function stackState(): Promise<StackState> {
  const exp = await pulumiCli(["stack", "export"]);
  if (exp.status !== 0) throw new Error(`pulumi stack export failed (${exp.status}): ${exp.stderr}`);
  const state = JSON.parse(exp.stdout) as { deployment?: { resources?: Array<{ urn: string; type: string; inputs?: unknown; outputs?: unknown }> } };
  const hash = (v: unknown) => crypto.createHash("sha256").update(JSON.stringify(v ?? null)).digest("hex").slice(0, 16);
  const resources = (state.deployment?.resources ?? []).map((r) => `${r.type} ${r.urn} in:${hash(r.inputs)} out:${hash(r.outputs)}`).sort();
  const hist = await pulumiLab(["history", "--json"], {}, 5 * 60 * 1000);
  if (hist.status !== 0) throw new Error(`platform history failed (${hist.status}): ${hist.stderr}`);
  const updates = (JSON.parse(hist.stdout || "[]") ?? []) as Array<{ version?: number; result?: string; message?: string }>;
  const last = updates[0];
  return { resources, updates: updates.length, lastUpdate: last && { version: last.version, result: last.result, message: last.message } };
}

/** Lock files of the lab stack's file backend (an update in progress holds one). */
export function stackLocks(): string[] {
  const dir = path.join(labDir, "pulumi-state", ".pulumi", "locks");
  const out: string[] = [];
  const walk = (d: string) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.name.endsWith(".json")) out.push(path.join(d, e.name));
    }
  };
  walk(dir);
  return out;
}

/** What "nothing changed on the host" means here: every file of the managed configuration, the loaded platform table and the set of tables, and the main process of every managed service. */
export const FINGERPRINT_PATHS = ["/etc/ssh", "/etc/nftables.conf", "/etc/postgresql", "/etc/wireguard", "/etc/rancher", "/etc/systemd/system"];
export const FINGERPRINT_UNITS = ["ssh", "postgresql@15-main", "nftables", "wg-quick@wg0", "k3s"];
export function hostFingerprint(): Record<string, string> {
  const script = [
    `find ${FINGERPRINT_PATHS.join(" ")} -xdev -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum`,
    // The firewall domain's own table, stateless (no counters), and which tables exist. Not the whole
    // ruleset: the lab node's kube-proxy rewrites its iptables-nft tables (counters, endpoints) on its
    // own, as K3s's does in prod; that is the cluster's runtime state, not managed configuration.
    `echo "$(nft -s list table inet platform | sha256sum | cut -c1-64)  (loaded nftables platform table)"`,
    `echo "$(nft list tables | sort | sha256sum | cut -c1-64)  (nftables tables)"`,
    `for u in ${FINGERPRINT_UNITS.join(" ")}; do echo "$(systemctl show -p MainPID -p ExecMainStartTimestampMonotonic -p ActiveState --value "$u" | tr '\\n' ' ')  (unit $u)"; done`,
  ].join("; ");
  const r = onVps(script, 120_000);
  if (r.status !== 0) throw new Error(`cannot fingerprint the host (${r.status}): ${r.stderr}`);
  const out: Record<string, string> = {};
  for (const line of r.stdout.trim().split("\n")) {
    const i = line.lastIndexOf("  ");
    if (i > 0) out[line.slice(i + 2)] = line.slice(0, i).trim();
  }
  return out;
}

/** "key: before -> after" for every difference. */
export function fingerprintDiff(a: Record<string, string>, b: Record<string, string>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => a[k] !== b[k]).map((k) => `${k}: ${a[k] ?? "absent"} -> ${b[k] ?? "absent"}`);
}

/** Is the host converged enough for these tests (its managed services up)? If not, converge it once. */
export async function ensureHostConverged(criterion: string): Promise<void> {
  const up = onVps(`systemctl is-active -q ${FINGERPRINT_UNITS.join(" ")} && test -s /etc/nftables.conf`);
  if (up.status === 0) return;
  const r = await labAnsible(criterion, []);
  if (r.status !== 0) throw new Error(`the lab host does not converge (exit ${r.status}):\n${r.output.slice(-3000)}`);
}

/** Is the lab stack in sync (the no-change gate exits 0)? If not, `up` once; throws if it still is not. */
export async function ensureStackInSync(): Promise<void> {
  const gate = await pulumiLab(["preview", "--expect-no-changes"]);
  if (gate.status === 0) return;
  const up = await pulumiLab(["up"]);
  if (up.status !== 0) throw new Error(`pulumi up failed (${up.status}):\n${(up.stdout + up.stderr).slice(-3000)}`);
  const again = await pulumiLab(["preview", "--expect-no-changes"]);
  if (again.status !== 0) throw new Error(`the lab stack is not in sync after up (${again.status}):\n${(again.stdout + again.stderr).slice(-3000)}`);
}
