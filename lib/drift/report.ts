// The drift report (`platform drift`): one typed document (evidence/drift-<cid>.json, read by
// `platform drift-issue-body` through lib/driftIssue.ts), its overall status and exit code, and the
// operator's summary. Pure: no I/O, so the rules are unit-tested in milliseconds.

export type LayerName = "host" | "pulumi" | "cluster";
export const LAYERS: LayerName[] = ["host", "pulumi", "cluster"];
export type Status = "clean" | "drifted" | "broken";

/** 0 clean, 3 drifted, 1 broken (a layer could not be checked); 2 is a usage error. */
export const EXIT: Record<Status, number> = { clean: 0, drifted: 3, broken: 1 };

export interface HostTask {
  task: string;
  items?: string[];
  /** The callback plugin's diff summary (headers and a few changed lines, secrets redacted). */
  diff?: Array<{ before_header?: string; after_header?: string; lines?: string[] }>;
}
export interface HostDomain {
  drifted: boolean;
  tasks: HostTask[];
}
export interface HostLayer {
  status: Status;
  domains: Record<string, HostDomain>;
  /** Where the check ran: "check", the report's one site.yml --check pass ("refresh" in reports before 2026-12-07: the refresh's own check runs). */
  source?: "refresh" | "check";
  /** The Ansible evidence records the layer was read from. */
  evidenceFiles?: string[];
  errors?: string[];
  error?: string;
}
export interface PulumiLayer {
  status: Status;
  /** Resources whose refreshed state differs from the stack's. */
  resources: string[];
  /** A domain's run found the host drifted (hostInSync true => false). */
  hostInSyncFalse: boolean;
  error?: string;
}

/** What Git says about an app: its branch head against the revision Argo CD compared. */
export interface AppGit {
  /** The branch (or tag) the app tracks, as its Application says. */
  branch: string;
  /** The commit the branch points at now. */
  head?: string;
  /** The revision the app's status was compared at (status.sync.revision). */
  compared?: string;
  /** The app's manifests at head differ from those at the compared revision: Argo CD has not caught up. */
  behind: boolean;
  /** The head cannot be rendered: the file and the parser's message. */
  renderError?: { revision: string; file: string; message: string };
  /** Git could not be read for this app (one line). */
  error?: string;
}

export interface AppDrift {
  app: string;
  sync: string;
  health: string;
  revision?: string;
  targetRevision?: string;
  repoURL?: string;
  policy: string;
  lastOperation: { phase?: string; startedAt?: string; finishedAt?: string; message?: string };
  outOfSync: Array<{ object: string; status: string; requiresPruning: boolean }>;
  conditions: string[];
  orphans: string[];
  /** Per object: its field differences against Git at the compared revision ("error": why they could not be read). */
  diff: Record<string, string[]>;
  git: AppGit;
  /** What of the app could not be checked (one line). */
  error?: string;
  drifted: boolean;
}
export interface ClusterLayer {
  status: Status;
  apps: AppDrift[];
  error?: string;
}

export interface DriftReport {
  stack: string;
  correlationId: string;
  wallSeconds: number;
  status: Status;
  layers: { host?: HostLayer; pulumi?: PulumiLayer; cluster?: ClusterLayer };
}

/** A failure as the operator reads it: one line, the program's wrappers and stack trace dropped. */
export function oneLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  // eslint-disable-next-line no-control-regex
  const lines = text.replace(/\u001b\[[0-9;]*m/g, "").split("\n").map((l) => l.trim()).filter(Boolean);
  const useful = lines.filter((l) => !/^(at |error: an unhandled error occurred|Program failed with an unhandled exception|Running program .* failed)/i.test(l));
  const line = (useful.find((l) => /error|cannot|does not|refused|unreachable|not found|failed/i.test(l)) ?? useful[0] ?? lines[0] ?? "(no message)").replace(/^error: /i, "");
  return line.length > 400 ? line.slice(0, 397) + "..." : line;
}

/** The overall status: any layer broken is broken, else any drifted is drifted. */
export function overall(layers: DriftReport["layers"]): Status {
  const s = Object.values(layers).map((l) => l!.status);
  return s.includes("broken") ? "broken" : s.includes("drifted") ? "drifted" : "clean";
}

export const short = (sha?: string) => (sha ? sha.slice(0, 12) : "?");

/** The operator's summary (stdout): the lines the former scripts/drift.sh printed, plus each app's Git truth. */
export function renderSummary(r: DriftReport, reportFile: string): string {
  const out: string[] = [`drift report: ${r.status.toUpperCase()} (${r.stack}, correlation id ${r.correlationId}, ${r.wallSeconds}s)`];
  for (const [name, l] of Object.entries(r.layers) as Array<[LayerName, HostLayer | PulumiLayer | ClusterLayer]>) {
    out.push(`  ${name.padEnd(8)} ${l.status}${l.error ? `: ${l.error}` : ""}`);
    if (name === "host") {
      const h = l as HostLayer;
      for (const [d, v] of Object.entries(h.domains)) {
        out.push(`    ${d.padEnd(12)} ${v.drifted ? "drifted" : "in sync"}${v.drifted ? " " + v.tasks.slice(0, 4).map((t) => t.task + (t.items?.length ? ` (${t.items.join(", ")})` : "")).join(", ") : ""}`);
        if (!v.drifted) continue;
        for (const t of v.tasks) {
          for (const part of t.diff ?? []) {
            if (part.before_header) out.push(`        --- ${part.before_header}`);
            for (const line of (part.lines ?? []).slice(0, 10)) out.push(`        ${line}`);
          }
        }
      }
      for (const e of h.errors ?? []) out.push(`    error: ${e}`);
    }
    if (name === "pulumi" && (l as PulumiLayer).resources.length) out.push(`    resources: ${(l as PulumiLayer).resources.join(", ")}`);
    if (name === "cluster") {
      for (const a of (l as ClusterLayer).apps) {
        out.push(`    ${a.app.padEnd(16)} ${a.sync.padEnd(10)} ${a.health.padEnd(12)} ${a.policy.padEnd(24)} ${a.drifted ? "drifted" : "ok"}`);
        const g = a.git;
        if (a.error) out.push(`      error      ${a.error}`);
        if (g.error) out.push(`      git        ${g.error}`);
        if (g.behind) out.push(`      behind     compared at ${short(g.compared)}, ${g.branch} is at ${short(g.head)} (Argo CD has not applied the head yet)`);
        if (g.renderError) out.push(`      unrenderable ${g.branch} at ${short(g.renderError.revision)}: ${g.renderError.file}: ${g.renderError.message}`);
        for (const c of a.conditions) out.push(`      condition  ${c}`);
        for (const o of a.outOfSync) {
          out.push(`      ${o.status.padEnd(10)} ${o.object}${o.requiresPruning ? "  (requires pruning)" : ""}`);
          for (const d of (a.diff[o.object] ?? []).slice(0, 5)) out.push(`        ${d}`);
        }
        for (const d of a.diff.error ?? []) out.push(`      diff       ${d}`);
        for (const o of a.orphans) out.push(`      orphan     ${o}  (not in Git: bring it under gitops/ or delete it; docs/runbooks/drift-detected.md)`);
      }
    }
  }
  out.push(`report: ${reportFile}`);
  return out.join("\n") + "\n";
}
