// `platform audit`: what happened, by correlation id. `recent` lists the audit log; `show` joins
// the audit log, Git (commits with a Correlation-Id trailer), the Pulumi stack history (update
// messages, read through the Automation API without --show-secrets), Argo CD (sync operations and
// history whose initiator carries the id) and the evidence folder. Read-only.
// Runbook: docs/runbooks/audit-an-action.md.
import * as fs from "fs";
import * as path from "path";
import type { UpdateSummary } from "@pulumi/pulumi/automation";
import { auditLine, auditLogPath, AuditRecord, readAudit } from "../../lib/operator/audit";
import { Application } from "../../lib/operator/argocd";
import { errorLine } from "../../lib/operator/deps";
import { gitTimed } from "../../lib/operator/gitops";
import { stackCluster, stackEvidenceRoot } from "../../lib/operator/stackCluster";
import { labDirOf, openStack, prepareStackEnv } from "../../lib/pulumiEnv";
import { repoRoot } from "../../lib/versions";
import { parseFlags, UsageError } from "../args";
import type { Command } from "../platform";

const HELP = `usage: platform audit recent [STACK] [N] [--json]     the last N operator actions (default lab, 20)
       platform audit show ID [STACK] [--json]         everything recorded under correlation id ID

show joins the audit log, Git (commits with a Correlation-Id: trailer), the Pulumi stack history
(update messages), Argo CD (sync operations and app history whose initiator carries the id) and
the evidence folder. Read-only.

Exit: 0 something was found; 1 nothing (no record / nothing carries the id); 2 usage.
`;

// --- recent -----------------------------------------------------------------------------------
export function renderRecent(records: AuditRecord[]): string {
  const rows = records.map((r) => `${String(r.time).padEnd(26)} ${String(r.correlationId).padEnd(28)} ${String(r.action).padEnd(16)} ${String(r.outcome).padEnd(10)} ${r.who}`);
  return [`${"time".padEnd(26)} ${"correlation id".padEnd(28)} ${"action".padEnd(16)} ${"outcome".padEnd(10)} who`, ...rows].join("\n") + "\n";
}

// --- show -------------------------------------------------------------------------------------
export interface AuditTrail {
  id: string;
  stack: string;
  auditLog: { file: string; records: AuditRecord[] };
  commits: string[];
  /** undefined: the stack history could not be read (the reason in pulumiError). */
  pulumi?: Array<{ version: number; kind: string; result: string; startTime: string; message: string; resourceChanges?: Record<string, number> }>;
  pulumiError?: string;
  argocd?: string[];
  argocdError?: string;
  evidence: string[];
  found: boolean;
}

/** Sources of `show` (fakes in tests/unit/operatorAudit.test.ts). */
export interface TrailSources {
  auditFile: string;
  gitDirs: string[];
  history(): Promise<UpdateSummary[]>;
  apps(): Promise<Application[]>;
  evidenceDir: string;
}

/** Per app, the last operation if it carries the id and the history entries whose initiator does. */
export function argoLines(apps: Application[], id: string): string[] {
  const out: string[] = [];
  for (const a of apps) {
    const name = a.metadata.name;
    const op = a.status?.operationState ?? {};
    const def = op.operation ?? {};
    if (JSON.stringify(def).includes(id)) {
      const info = (def.info ?? []).map((i) => `${i.name}=${i.value}`).join(", ");
      out.push(`  ${name}: last operation ${op.phase} ${op.startedAt} -> ${op.finishedAt} revision ${(op.syncResult?.revision ?? "?").slice(0, 12)} by ${def.initiatedBy?.username ?? "?"}; ${info}`);
    }
    for (const h of a.status?.history ?? []) {
      if (JSON.stringify(h.initiatedBy ?? {}).includes(id)) out.push(`  ${name}: history #${h.id} deployed ${h.deployedAt} revision ${(h.revision ?? "?").slice(0, 12)} by ${h.initiatedBy?.username}`);
    }
  }
  return out;
}

/** Names containing the id, in the evidence folder and one level down. */
function evidenceHits(dir: string, id: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const hits: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.name.includes(id)) hits.push(p);
    if (e.isDirectory()) for (const f of fs.readdirSync(p)) if (f.includes(id)) hits.push(path.join(p, f));
  }
  return hits.sort();
}

export async function auditTrail(id: string, stack: string, src: TrailSources): Promise<AuditTrail> {
  const records = readAudit(src.auditFile).records.filter((r) => r.correlationId === id);
  const commits = new Set<string>();
  for (const gd of src.gitDirs) {
    try {
      for (const l of gitTimed(["--git-dir", gd, "log", "--all", "--format=%H %ad %an: %s", "--date=iso-strict", "--fixed-strings", `--grep=Correlation-Id: ${id}`], 30_000).split("\n")) if (l) commits.add(l);
    } catch {
      // a Git directory that is not there (no lab remote) has no commits to show
    }
  }
  const t: AuditTrail = { id, stack, auditLog: { file: src.auditFile, records }, commits: [...commits].sort(), evidence: evidenceHits(src.evidenceDir, id), found: false };
  await Promise.all([
    (async () => {
      try {
        t.pulumi = (await src.history())
          .filter((u) => (u.message ?? "").includes(id))
          .map((u) => ({ version: u.version, kind: u.kind, result: u.result, startTime: new Date(u.startTime).toISOString(), message: u.message, resourceChanges: u.resourceChanges as Record<string, number> | undefined }));
      } catch (e) {
        t.pulumiError = errorLine(e);
      }
    })(),
    (async () => {
      try {
        t.argocd = argoLines(await src.apps(), id);
      } catch (e) {
        t.argocdError = errorLine(e);
      }
    })(),
  ]);
  t.found = records.length > 0 || t.commits.length > 0 || (t.pulumi?.length ?? 0) > 0 || (t.argocd?.length ?? 0) > 0 || t.evidence.length > 0;
  return t;
}

export function renderTrail(t: AuditTrail): string {
  const none = (xs: string[]) => (xs.length ? xs : ["  (none)"]);
  return [
    `== audit log (${t.auditLog.file})`,
    ...none(t.auditLog.records.map(auditLine)),
    `== git commits with Correlation-Id: ${t.id}`,
    ...none(t.commits),
    `== pulumi stack history (${t.stack})`,
    ...(t.pulumi ? none(t.pulumi.map((u) => `  v${u.version} ${u.kind} ${u.result} ${u.startTime} ${u.message}  changes=${JSON.stringify(u.resourceChanges ?? {})}`)) : [`  (stack history not available for ${t.stack}: ${t.pulumiError})`]),
    `== argo cd sync operations and history (${t.stack})`,
    ...(t.argocd ? none(t.argocd) : [`  (Argo CD not reachable for ${t.stack}: ${t.argocdError})`]),
    "== evidence",
    ...none(t.evidence),
  ].join("\n") + "\n";
}

export const audit: Command = {
  help: HELP,
  async run(argv) {
    const { flags, rest } = parseFlags("audit", argv, { json: "boolean" });
    const [sub, ...args] = rest;
    const root = repoRoot;
    if (sub === "recent") {
      if (args.length > 2) throw new UsageError(`audit recent: unexpected argument '${args[2]}'`);
      const stack = args[0] ?? "lab";
      const n = args[1] ?? "20";
      if (!/^[0-9]+$/.test(n)) throw new UsageError(`audit recent: N must be a number, got '${n}'`);
      const file = auditLogPath(stack, root);
      const { records } = readAudit(file);
      const last = Number(n) === 0 ? [] : records.slice(-Number(n));
      if (flags.json) process.stdout.write(JSON.stringify({ file, records: last }, null, 2) + "\n");
      if (records.length === 0) {
        if (!flags.json) process.stdout.write(`no audit records for ${stack} (${file})\n`);
        return 1;
      }
      if (!flags.json) process.stdout.write(renderRecent(last));
      return 0;
    }
    if (sub === "show") {
      const [id, stack = "lab", extra] = args;
      if (!id) throw new UsageError("audit show: which correlation id? (usage: platform audit show ID [STACK])");
      if (extra !== undefined) throw new UsageError(`audit show: unexpected argument '${extra}'`);
      const gitDirs = [gitDirOf(root), ...(stack === "lab" ? [path.join(labDirOf(root), "git", "platform.git")] : [])].filter((d): d is string => Boolean(d));
      const src: TrailSources = {
        auditFile: auditLogPath(stack, root),
        gitDirs,
        evidenceDir: stackEvidenceRoot(stack, root),
        async history() {
          const se = prepareStackEnv(stack, root);
          try {
            // Every update (the CLI returns only the last 10 by default), and never --show-secrets
            // (the SDK's default would pass it).
            return await (await openStack(se)).history(1_000_000, 1, false);
          } finally {
            se.cleanup();
          }
        },
        apps: async () => (await stackCluster(stack, root)).cluster.apps(),
      };
      process.stderr.write(`platform audit: reading the audit log, Git, the ${stack} stack history and Argo CD for ${id}\n`);
      const t = await auditTrail(id, stack, src);
      process.stdout.write(flags.json ? JSON.stringify(t, null, 2) + "\n" : renderTrail(t));
      if (!t.found) {
        process.stderr.write(`platform audit: nothing recorded under correlation id ${id}\n`);
        return 1;
      }
      return 0;
    }
    throw new UsageError(sub === undefined ? "audit: which subcommand? (recent or show; see `platform audit --help`)" : `audit: unknown subcommand '${sub}' (recent or show)`);
  },
};

/** This checkout's Git directory (a worktree's .git is a file naming it). */
function gitDirOf(root: string): string | undefined {
  try {
    return path.resolve(root, gitTimed(["-C", root, "rev-parse", "--git-common-dir"], 10_000).trim());
  } catch {
    return undefined;
  }
}
