// A drift report runs Ansible once, in one process: `platform drift` runs one site.yml --check
// pass over every domain of the stack (lib/drift/hostLayer.ts checkPass) and, side by side, the
// Pulumi refresh preview, whose reads of the domains' runs (components/ansiblePlaybookRun.ts read)
// wait for that pass and take their verdict from its evidence record instead of running a check of
// their own. The drift command announces the pass's outcome in a file the reads wait for.
//
// Why one pass rather than the refresh's six side-by-side checks: on the lab's 2 cores the six
// processes spend twice the CPU (each its own interpreter start, preflight, secrets decryption,
// fact gathering and SSH session) and finish later (34 s against 25 s for the same tasks,
// measured 2026-12-07; docs/adr/0002-dynamic-provider-for-ansible.md).
//
// No imports: the provider captures this module's functions by value into the stack state.

/** Names the file where `platform drift` announces its pass (absolute path), for the refresh it starts; any other refresh runs its own checks. */
export const CHECK_PASS_ENV = "PLATFORM_CHECK_PASS";

/** The pid of the command that announces the pass: a read stops waiting when it is gone. */
export const CHECK_PASS_OWNER_ENV = "PLATFORM_CHECK_PASS_OWNER";

/** The announcement's file name, in the report's work folder. */
export const CHECK_PASS_FILE = "check-pass.json";

/** The pass's Ansible output, beside its record. */
export const CHECK_LOG_NAME = "ansible-check.log";

/** How long a check pass may run; a read waits as long for it. */
export const CHECK_PASS_TIMEOUT_MS = 30 * 60 * 1000;

/** The pass's outcome: its evidence record (absolute path), or why there is none. */
export type CheckPassOutcome = { record: string } | { error: string };

/** Writes the announcement whole (a reader never sees half a file). */
export function announceCheckPass(file: string, outcome: CheckPassOutcome): void {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const fs = require("fs") as typeof import("fs");
  const path = require("path") as typeof import("path");
  /* eslint-enable @typescript-eslint/no-require-imports */
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(outcome));
  fs.renameSync(`${file}.tmp`, file);
}

/**
 * The announced outcome, once the file exists: checked every 100 ms, for at most `timeoutMs`,
 * and no longer than the announcing command lives (`ownerPid`, when given).
 */
export async function awaitCheckPass(file: string, ownerPid?: number, timeoutMs = CHECK_PASS_TIMEOUT_MS): Promise<CheckPassOutcome> {
  /* eslint-disable-next-line @typescript-eslint/no-require-imports */
  const fs = require("fs") as typeof import("fs");
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "EPERM";
    }
  };
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i <= Math.ceil(timeoutMs / 100); i++) {
    if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, "utf8")) as CheckPassOutcome;
    if (ownerPid && !alive(ownerPid)) throw new Error(`the drift report that runs the check pass (pid ${ownerPid}) ended before announcing it in ${file}`);
    if (Date.now() >= deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no check pass was announced in ${file} within ${Math.round(timeoutMs / 1000)} s`);
}

/** The part of an evidence record (infra/ansible/callback_plugins/platform_evidence.py) a domain's verdict is read from. */
export interface CheckRecord {
  correlation_id: string;
  check_mode?: boolean;
  limit?: string | null;
  tags?: string[];
  ok: boolean;
  started?: string;
  duration_s?: number;
  tasks: Array<{ host: string; role?: string | null; task: string; status: string; message?: string }>;
}

/** One domain's check, read from the pass: the counts of its own tasks, as a run tagged with it alone would report them. */
export interface DomainVerdict {
  ok: number;
  changed: number;
  failed: number;
  unreachable: number;
  /** "<role> : <task>" of every task of the domain that would change. */
  changedTasks: string[];
  startedAt: string;
  durationMs: number;
}

/**
 * The domain's verdict from the pass, `undefined` when the record is not this read's to use
 * (another operation's id, not a check, another host, a pass that did not cover the domain), so
 * the read runs its own check. Throws when the pass did not finish: a failed or unreachable task
 * anywhere leaves the host unchecked (the play stops on it), as a failed check run of its own would.
 */
export function domainVerdict(record: CheckRecord, domain: string, host: string, correlationId: string): DomainVerdict | undefined {
  if (record.correlation_id !== correlationId || record.check_mode !== true) return undefined;
  if (record.limit && record.limit !== host) return undefined;
  const tags = record.tags ?? [];
  if (tags.length && !tags.includes("all") && !tags.includes(domain)) return undefined;
  const broken = record.tasks.find((t) => t.status === "failed" || t.status === "unreachable");
  if (broken) throw new Error(`the check pass stopped at ${broken.host}: ${broken.role || "preflight"} / ${broken.task}: ${broken.message ?? broken.status}`);
  if (!record.ok) throw new Error("the check pass did not finish ok");
  const own = record.tasks.filter((t) => t.role === domain);
  const count = (s: string) => own.filter((t) => t.status === s).length;
  return {
    // Ansible's recap counts a changed task as ok too.
    ok: count("ok") + count("changed"),
    changed: count("changed"),
    failed: 0,
    unreachable: 0,
    changedTasks: own.filter((t) => t.status === "changed").map((t) => `${domain} : ${t.task}`),
    startedAt: record.started ? new Date(record.started).toISOString() : new Date(0).toISOString(),
    durationMs: Math.round((record.duration_s ?? 0) * 1000),
  };
}
