// The one audit writer: an append-only JSON-lines log of operator actions, one record per action
// (the file and fields the bash audit_record wrote, kept: readers match them).
// The lab's log lives with the lab ($PLATFORM_LAB_DIR/audit.jsonl); another stack's in
// $PLATFORM_AUDIT_LOG or the XDG state directory. Records hold names, never values.
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { labDirOf } from "../labEnv";

export type AuditOutcome = string; // e.g. ok, refused, failed, clean, drifted, broken

export interface AuditRecord {
  time: string;
  correlationId: string;
  stack: string;
  action: string;
  outcome: AuditOutcome;
  who: string;
  gitRevision: string | null;
  [field: string]: string | null;
}

export function auditLogPath(stack: string, repoRoot: string, env: NodeJS.ProcessEnv = process.env): string {
  if (stack === "lab") return path.join(labDirOf(repoRoot, env), "audit.jsonl");
  if (env.PLATFORM_AUDIT_LOG) return env.PLATFORM_AUDIT_LOG;
  const state = env.XDG_STATE_HOME || path.join(os.homedir(), ".local", "state");
  return path.join(state, "platform", `audit-${stack}.jsonl`);
}

function gitHead(repoRoot: string): string | null {
  try {
    return execFileSync("git", ["rev-parse", "HEAD"], { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

/** Builds one record (pure but for the clock, the user and Git's HEAD, all injectable). */
export function makeAuditRecord(
  a: { stack: string; action: string; outcome: AuditOutcome; correlationId: string; fields?: Record<string, string> },
  ctx: { now?: Date; who?: string; gitRevision?: string | null; repoRoot?: string } = {},
): AuditRecord {
  const rec: AuditRecord = {
    time: (ctx.now ?? new Date()).toISOString().replace(/\.\d{3}Z$/, "+00:00"),
    correlationId: a.correlationId,
    stack: a.stack,
    action: a.action,
    outcome: a.outcome,
    who: ctx.who ?? `${os.userInfo().username}@${os.hostname()}`,
    gitRevision: ctx.gitRevision !== undefined ? ctx.gitRevision : ctx.repoRoot ? gitHead(ctx.repoRoot) : null,
  };
  for (const [k, v] of Object.entries(a.fields ?? {})) rec[k] = v;
  return rec;
}

/**
 * One record as the bash writer's `json.dumps(rec, sort_keys=True)` wrote it: keys sorted, ", " and
 * ": " separators, non-ASCII as \uXXXX. Readers (tests, runbooks, `grep '"correlationId": "<id>"'`)
 * match that text, so the format is part of the log's contract.
 */
export function auditLine(rec: AuditRecord): string {
  const str = (v: string | null) => (v === null ? "null" : JSON.stringify(v).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`));
  const keys = Object.keys(rec).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  return `{${keys.map((k) => `${str(k)}: ${str(rec[k])}`).join(", ")}}`;
}

/** Appends one record (keys sorted, as the bash writer did) and returns it. */
export function appendAudit(
  repoRoot: string,
  a: { stack: string; action: string; outcome: AuditOutcome; correlationId: string; fields?: Record<string, string> },
  env: NodeJS.ProcessEnv = process.env,
): AuditRecord {
  const rec = makeAuditRecord(a, { repoRoot });
  const file = auditLogPath(a.stack, repoRoot, env);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.appendFileSync(file, auditLine(rec) + "\n");
  return rec;
}

/** Reads the log (missing file = no records); a line that does not parse is skipped and counted. */
export function readAudit(file: string): { records: AuditRecord[]; unreadable: number } {
  if (!fs.existsSync(file)) return { records: [], unreadable: 0 };
  const records: AuditRecord[] = [];
  let unreadable = 0;
  for (const line of fs.readFileSync(file, "utf8").split("\n")) {
    if (!line.trim()) continue;
    try {
      records.push(JSON.parse(line) as AuditRecord);
    } catch {
      unreadable++;
    }
  }
  return { records, unreadable };
}
