// The gate's report: one typed document (gate.json), its verdict and exit code, and its Markdown
// (a PR comment or a job summary). Pure: no I/O, so the rules are unit-tested in milliseconds.
import { ObjectChange } from "./objectDiff";

/** One resource the preview would change (a step other than "same"). */
export interface ResourceChange {
  urn: string;
  type: string;
  name: string;
  /** The engine's operation: create, update, replace, delete, ... */
  op: string;
  /** Input keys the provider reported as different (never their values). */
  diffs: string[];
  /** For a domain's Ansible run: the domain. */
  domain?: string;
  /** Why the domain's run is due: files that changed between base and head, or another reason. */
  why?: string[];
}

export interface AppReport {
  app: string;
  /** Objects that would be created, changed or deleted (empty: the PR's manifests equal the live objects). */
  changes: ObjectChange[];
  /** Facts the reader needs that are not object changes (e.g. the Application definition changed). */
  notes: string[];
}

export type Verdict = "no-change" | "changes" | "broken";

export interface GateReport {
  stack: string;
  base: string;
  head: string;
  verdict: Verdict;
  exitCode: number;
  /** One line: why the gate could not decide (verdict "broken"). */
  reason?: string;
  pulumi: { checked: boolean; changes: ResourceChange[]; unchanged: number; error?: string };
  cluster: { checked: boolean; touchedApps: string[]; apps: AppReport[]; error?: string; skipped?: string };
}

/** 0 nothing would change, 7 changes expected (the exit code of `pulumi preview --expect-no-changes`), 1 broken. */
export const EXIT = { "no-change": 0, changes: 7, broken: 1 } as const;
/** Usage errors (unknown subcommand or flag). */
export const EXIT_USAGE = 2;

/** Marks the gate's PR comment so a workflow updates the one it made (sticky comment). */
export const GATE_MARKER = "<!-- platform-gate -->";

/** The verdict from the layers: any error is "broken" (a layer not checked cannot say "no change"). */
export function verdictOf(r: Pick<GateReport, "pulumi" | "cluster">): { verdict: Verdict; exitCode: number; reason?: string } {
  const error = r.pulumi.error ? `pulumi layer: ${r.pulumi.error}` : r.cluster.error ? `cluster layer: ${r.cluster.error}` : undefined;
  if (error) return { verdict: "broken", exitCode: EXIT.broken, reason: error };
  const changes = r.pulumi.changes.length > 0 || r.cluster.apps.some((a) => a.changes.length > 0 || a.notes.length > 0);
  const verdict: Verdict = changes ? "changes" : "no-change";
  return { verdict, exitCode: EXIT[verdict] };
}

const code = (s: string) => "`" + s.replace(/`/g, "'") + "`";
const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");
const short = (v: unknown) => {
  const s = v === undefined ? "(absent)" : JSON.stringify(v);
  return s.length > 120 ? s.slice(0, 117) + "..." : s;
};

const HEADLINE: Record<Verdict, string> = {
  "no-change": "no change",
  changes: "changes expected",
  broken: "broken",
};

/** The Markdown of a report: headline, then one section per layer. */
export function renderMarkdown(r: GateReport): string {
  const out: string[] = [GATE_MARKER, `## Gate on \`${r.stack}\`: ${HEADLINE[r.verdict]} (exit ${r.exitCode})`, ""];
  out.push(`Base ${code(r.base.slice(0, 12))}, head ${code(r.head.slice(0, 12))}.`, "");
  if (r.reason) out.push(`**Broken:** ${r.reason}`, "");

  out.push("### Pulumi layer (the stack)", "");
  if (!r.pulumi.checked) out.push(`Not checked${r.pulumi.error ? `: ${r.pulumi.error}` : "."}`);
  else if (r.pulumi.changes.length === 0) out.push(`No change (${r.pulumi.unchanged} resources unchanged).`);
  else {
    out.push("| resource | change | why |", "|---|---|---|");
    for (const c of r.pulumi.changes) {
      const what = c.domain ? `${code(c.name)} (domain ${c.domain})` : `${code(c.name)} (${c.type})`;
      const change = c.diffs.length ? `${c.op} (${c.diffs.join(", ")})` : c.op;
      out.push(`| ${cell(what)} | ${cell(change)} | ${cell((c.why ?? []).map((w) => (w.includes(" ") ? w : code(w))).join(", ") || "-")} |`);
    }
    out.push("", `${r.pulumi.unchanged} other resources unchanged.`);
  }
  out.push("");

  out.push("### Cluster layer (Argo CD apps the PR touches)", "");
  if (r.cluster.skipped) out.push(r.cluster.skipped);
  else if (!r.cluster.checked) out.push(`Not checked${r.cluster.error ? `: ${r.cluster.error}` : "."}`);
  else if (r.cluster.touchedApps.length === 0) out.push("No change: the PR touches no app under gitops/apps/.");
  else {
    for (const a of r.cluster.apps) {
      if (a.changes.length === 0 && a.notes.length === 0) {
        out.push(`- app ${code(a.app)}: no change (its manifests equal the live objects)`);
        continue;
      }
      out.push(`- app ${code(a.app)}: ${a.changes.length} object change(s)`);
      for (const n of a.notes) out.push(`  - ${n}`);
      for (const c of a.changes) {
        if (c.kind !== "changed") out.push(`  - ${c.kind} ${code(c.object)}`);
        else {
          out.push(`  - changed ${code(c.object)}:`);
          for (const f of c.fields) out.push(`    - ${code(f.path)}: live ${code(short(f.live))} -> PR ${code(short(f.want))}`);
        }
      }
    }
  }
  out.push("");
  return out.join("\n");
}
