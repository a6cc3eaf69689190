// The nightly drift report (scripts/drift.sh's JSON, evidence/drift-<id>.json) as the body of the
// one issue the scheduled workflow opens, updates and closes. Pure.

export const DRIFT_MARKER = "<!-- platform-drift -->";
export const DRIFT_EXIT = { clean: 0, drifted: 3, broken: 1 } as const;

interface Layer {
  status: "clean" | "drifted" | "broken";
  error?: string;
  domains?: Record<string, { drifted?: boolean; tasks?: Array<string | { task?: string }> }>;
  resources?: string[];
  apps?: Array<{ app: string; sync: string; health: string; policy: string; drifted: boolean; outOfSync: Array<{ object: string; status: string }>; orphans: string[]; diff?: Record<string, string[]> }>;
}
export interface DriftReport {
  stack: string;
  correlationId: string;
  wallSeconds: number;
  status: "clean" | "drifted" | "broken";
  layers: Partial<Record<"host" | "pulumi" | "cluster", Layer>>;
}

const code = (s: string) => "`" + s.replace(/`/g, "'") + "`";

export function driftIssueBody(r: DriftReport, runUrl?: string): string {
  const out = [DRIFT_MARKER, `## Drift on \`${r.stack}\`: ${r.status}`, "", `Correlation id ${code(r.correlationId)}, ${r.wallSeconds} s${runUrl ? `, [run](${runUrl})` : ""}.`, ""];
  out.push("| layer | status |", "|---|---|");
  for (const [name, l] of Object.entries(r.layers)) out.push(`| ${name} | ${l!.status}${l!.error ? `: ${l!.error.replace(/\|/g, "\\|")}` : ""} |`);
  out.push("");
  const host = r.layers.host;
  const drifted = Object.entries(host?.domains ?? {}).filter(([, v]) => v?.drifted);
  if (drifted.length) {
    out.push("### Host (Ansible check mode)", "");
    for (const [d, v] of drifted) out.push(`- domain ${code(d)}: ${(v.tasks ?? []).slice(0, 8).map((t) => code(typeof t === "string" ? t : String(t.task))).join(", ") || "drifted"}`);
    out.push("");
  }
  if (r.layers.pulumi?.resources?.length) out.push("### Pulumi (refresh preview)", "", ...r.layers.pulumi.resources.map((x) => `- ${code(x)}`), "");
  const apps = (r.layers.cluster?.apps ?? []).filter((a) => a.drifted);
  if (apps.length) {
    out.push("### Cluster (Argo CD apps)", "");
    for (const a of apps) {
      out.push(`- app ${code(a.app)}: ${a.sync}, ${a.health} (${a.policy})`);
      for (const o of a.outOfSync) {
        out.push(`  - ${o.status} ${code(o.object)}`);
        // A Secret's field diff carries its values: the issue says which object, never what is in it.
        if (o.object.startsWith("Secret/")) out.push("    - (values hidden)");
        else for (const d of (a.diff?.[o.object] ?? []).slice(0, 5)) out.push(`    - ${code(d)}`);
      }
      for (const o of a.orphans) out.push(`  - orphan ${code(o)} (not in Git)`);
    }
    out.push("");
  }
  out.push("What to do: docs/runbooks/drift-detected.md. This issue is closed by the nightly job once the stack is clean again.", "");
  return out.join("\n");
}
