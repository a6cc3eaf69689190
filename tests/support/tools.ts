// Runs the project's real tools from tests: the pinned toolchain on PATH, bounded in time.
import { spawnSync, SpawnSyncReturns } from "child_process";
import * as path from "path";

export const repoRoot = path.resolve(__dirname, "..", "..");

let toolPath: string | undefined;
/** PATH with the pinned toolchain first (ensure.sh builds what is missing, then prints the entries). */
export function toolchainPath(): string {
  if (!toolPath) {
    const r = spawnSync("bash", [path.join(repoRoot, "scripts/toolchain/ensure.sh")], { encoding: "utf8", timeout: 60 * 60 * 1000 });
    if (r.status !== 0) throw new Error(`toolchain not ready:\n${r.stderr}`);
    toolPath = r.stdout.trim().split("\n").pop()!;
  }
  return `${toolPath}:${process.env.PATH}`;
}

/** The environment that forbids any download by the engine. */
export function offlineEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: toolchainPath(),
    PULUMI_SKIP_UPDATE_CHECK: "true",
    PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
    ...extra,
  };
}

export function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    cwd: opts.cwd ?? repoRoot,
    env: opts.env ?? process.env,
    encoding: "utf8",
    timeout: opts.timeoutMs ?? 10 * 60 * 1000,
    input: opts.input,
    maxBuffer: 256 * 1024 * 1024,
  });
}

/** Like run(), without blocking the event loop (so probes can run meanwhile). */
export function runAsync(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { spawn } = require("child_process") as typeof import("child_process");
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd ?? repoRoot, env: opts.env ?? process.env });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGTERM"), opts.timeoutMs ?? 10 * 60 * 1000);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Bounded async wait until `check` holds; returns how long it took. */
export async function until(check: () => boolean, what: string, timeoutMs: number, intervalMs = 250): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (check()) return Date.now() - t0;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
