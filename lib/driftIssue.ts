// The nightly drift report (`platform drift`'s JSON, evidence/drift-<id>.json: lib/drift/report.ts)
// as the body of the one issue the scheduled workflow opens, updates and closes. Pure.
import type { DriftReport } from "./drift/report";
import { EXIT, short } from "./drift/report";

export const DRIFT_MARKER = "<!-- platform-drift -->";
export const DRIFT_EXIT = EXIT;

export type { DriftReport };

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
    for (const [d, v] of drifted) out.push(`- domain ${code(d)}: ${(v.tasks ?? []).slice(0, 8).map((t) => code(t.task)).join(", ") || "drifted"}`);
    out.push("");
  }
  if (r.layers.pulumi?.resources?.length) out.push("### Pulumi (refresh preview)", "", ...r.layers.pulumi.resources.map((x) => `- ${code(x)}`), "");
  const apps = (r.layers.cluster?.apps ?? []).filter((a) => a.drifted);
  if (apps.length) {
    out.push("### Cluster (Argo CD apps)", "");
    for (const a of apps) {
      out.push(`- app ${code(a.app)}: ${a.sync}, ${a.health} (${a.policy})`);
      // What Git says (older reports have no git entry).
      const g = a.git;
      if (g?.behind) out.push(`  - behind: compared at ${code(short(g.compared))}, ${code(g.branch)} is at ${code(short(g.head))}`);
      if (g?.renderError) out.push(`  - ${code(g.branch)} at ${code(short(g.renderError.revision))} does not render: ${code(g.renderError.file)}: ${g.renderError.message}`);
      if (g?.error) out.push(`  - Git: ${g.error}`);
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
