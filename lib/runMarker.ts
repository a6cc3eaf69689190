// Finding every local process of one Ansible run, by a marker in its environment. Killing a run's
// process group is not enough: Mitogen's controller process starts its own session (setsid) and
// survives, idle, re-parented to PID 1 (docs/adr/0013). Every process the run starts inherits its
// environment, so PLATFORM_ANSIBLE_RUN=<id> (read from /proc/<pid>/environ) names them all, in
// whatever group or session they ended up. Linux only; only the caller's own processes are
// readable (root reads all), so a run is only ever ended by whoever started it.
import * as fs from "fs";

/** The environment variable every process of a marked run carries. */
export const RUN_MARKER = "PLATFORM_ANSIBLE_RUN";

export interface MarkedProcess {
  pid: number;
  /** The command line, for the evidence and the error message. */
  cmd: string;
}

/** What the lookup reads; a fake in unit tests. */
export interface ProcTable {
  pids(): number[];
  /** NUL-separated KEY=VALUE pairs, or undefined when the process is gone or not readable. */
  environ(pid: number): string | undefined;
  cmdline(pid: number): string;
  kill(pid: number, signal: NodeJS.Signals): void;
}

const readOr = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, "latin1");
  } catch {
    return undefined;
  }
};

export const linuxProcs: ProcTable = {
  pids: () => fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d)).map(Number),
  environ: (pid) => readOr(`/proc/${pid}/environ`),
  cmdline: (pid) => (readOr(`/proc/${pid}/cmdline`) ?? "").split("\0").filter(Boolean).join(" "),
  kill: (pid, signal) => process.kill(pid, signal),
};

/** The environment of a run marked with `id` (merge into the spawn's env). */
export const runMarkerEnv = (id: string) => ({ [RUN_MARKER]: id });

/** The processes (other than this one) whose environment carries RUN_MARKER=<id>. */
export function processesOfRun(id: string, procs: ProcTable = linuxProcs): MarkedProcess[] {
  const needle = `${RUN_MARKER}=${id}`;
  return procs
    .pids()
    .filter((pid) => pid !== process.pid && (procs.environ(pid) ?? "").split("\0").includes(needle))
    .map((pid) => ({ pid, cmd: procs.cmdline(pid) }));
}

/**
 * Ends every process of the run (SIGKILL, by PID) and waits, bounded, until none is left.
 * Returns what it found and what is still there after `timeoutMs` (empty: the run is gone).
 */
export async function endRun(id: string, opts: { timeoutMs?: number; procs?: ProcTable } = {}): Promise<{ ended: MarkedProcess[]; left: MarkedProcess[] }> {
  const procs = opts.procs ?? linuxProcs;
  const ended = processesOfRun(id, procs);
  for (const p of ended) {
    try {
      procs.kill(p.pid, "SIGKILL");
    } catch {
      // gone in between
    }
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let left = processesOfRun(id, procs);
  while (left.length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = processesOfRun(id, procs);
  }
  return { ended, left };
}
