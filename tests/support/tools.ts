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
