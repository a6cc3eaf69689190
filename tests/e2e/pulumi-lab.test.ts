// The real Pulumi engine on the lab stack: `up` converges every domain, the next preview is the
// no-change gate, an edit to one role previews as that one domain, and refresh sees host drift.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { saveEvidence } from "../support/evidence";
import { onVps } from "../support/lab";
import { repoRoot, run, runAsync } from "../support/tools";

jest.setTimeout(40 * 60 * 1000);

const pulumiLab = (args: string[], root = repoRoot, env: Record<string, string> = {}) =>
  runAsync("bash", [path.join(root, "scripts/pulumi.sh"), "lab", ...args], {
    cwd: root,
    env: { ...process.env, PLATFORM_EVIDENCE_DIR: path.join(repoRoot, "evidence"), PLATFORM_LAB_DIR: path.join(repoRoot, ".lab"), ...env },
    timeoutMs: 30 * 60 * 1000,
  });

/** A copy of the project (tracked and new files) sharing node_modules and the lab, to edit freely. */
function projectCopy(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "platform-copy-"));
  const files = run("git", ["ls-files", "-co", "--exclude-standard", "-z"]).stdout.split("\0").filter(Boolean);
  for (const f of files) {
    if (!fs.existsSync(path.join(repoRoot, f))) continue;
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.copyFileSync(path.join(repoRoot, f), path.join(dir, f));
  }
  fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(dir, "node_modules"));
  fs.symlinkSync(path.join(repoRoot, ".lab"), path.join(dir, ".lab"));
  return dir;
}

type Step = { op: string; urn: string };
/** "op name" of every resource a `preview --json` plans to change. */
const changedResources = (previewJson: string) =>
  (JSON.parse(previewJson) as { steps: Step[] }).steps.filter((s) => s.op !== "same").map((s) => `${s.op} ${s.urn.split("::").pop()}`);
/** The resource changes an `up --json` (a stream of engine events) reports in its summary. */
const upSummary = (events: string) => {
  const summary = events
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { summaryEvent?: { resourceChanges: Record<string, number> } })
    .find((e) => e.summaryEvent);
  if (!summary) throw new Error("no summary event in the up output");
  return summary.summaryEvent!.resourceChanges;
};
/** Names of the resources a text `refresh --preview-only --diff` shows as updated. */
const refreshUpdates = (text: string) =>
  [...text.matchAll(/\(update\)\n(?:\s+\[id=[^\]]*\]\n)?\s+\[urn=[^\]]*::([^\]:]+)\]/g)].map((m) => m[1]);

describe("Pulumi on the lab stack (real engine, real Ansible, lab VPS)", () => {
  it("pulumi up converges every domain, with the correlation id in the stack history", async () => {
    const cid = `test-up-${Date.now()}`;
    const up = await pulumiLab(["up", "--yes", "--skip-preview"], repoRoot, { PLATFORM_CORRELATION_ID: cid });
    saveEvidence("pulumi-lab", "up.txt", up.stdout + up.stderr);
    expect(up.status).toBe(0);
    const history = await pulumiLab(["stack", "history", "--json"]);
    const updates = JSON.parse(history.stdout) as Array<{ message: string; result: string }>;
    expect(updates[0].message).toContain(`Correlation-Id: ${cid}`);
    expect(updates[0].result).toBe("succeeded");

    // One command answers "what happened under this id": audit log, stack history, evidence.
    const trail = run(path.join(repoRoot, "cli/platform.js"), ["audit", "show", cid]);
    saveEvidence("pulumi-lab", "audit-trail.txt", trail.stdout + trail.stderr);
    expect(trail.status).toBe(0);
    expect(trail.stdout).toMatch(new RegExp(`"action": "pulumi-up", "correlationId": "${cid}"`));
    expect(trail.stdout).toMatch(new RegExp(`update succeeded .*Correlation-Id: ${cid}`));
    expect(trail.stdout).toContain(`pulumi-lab-up-${cid}.log`);
    expect(run(path.join(repoRoot, "cli/platform.js"), ["audit", "show", `no-such-id-${Date.now()}`]).status).toBe(1);
  });

  it("previews as no change right after up (the gate exits 0), and a second up changes nothing", async () => {
    const gate = await pulumiLab(["preview", "--expect-no-changes"]);
    saveEvidence("pulumi-lab", "preview-after-up.txt", gate.stdout + gate.stderr);
    expect(gate.status).toBe(0);
    const again = await pulumiLab(["up", "--yes", "--skip-preview", "--json"]);
    saveEvidence("pulumi-lab", "second-up.json", again.stdout);
    expect(again.status).toBe(0);
    expect(Object.keys(upSummary(again.stdout))).toEqual(["same"]);
  });

  it("previews an edit to one role's template as exactly that domain's resource", async () => {
    const copy = projectCopy();
    try {
      fs.appendFileSync(path.join(copy, "infra/ansible/roles/ssh/templates/sshd_config.j2"), "# an operator's edit\n");
      const p = await pulumiLab(["preview", "--json"], copy);
      saveEvidence("pulumi-lab", "preview-one-role-edit.json", p.stdout);
      expect(p.status).toBe(0);
      expect(changedResources(p.stdout)).toEqual(["update ssh-run"]);
      const gate = await pulumiLab(["preview", "--expect-no-changes"], copy);
      expect(gate.status).toBe(7);
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  });

  // Bad config (malformed address, unknown domain, missing key, ...): tests/e2e/bad-input.test.ts, the catalogue.

  it("sees host drift through a read-only refresh, and up --refresh remediates it", async () => {
    expect(onVps("systemctl stop postgresql@15-main").status).toBe(0);
    const refresh = await pulumiLab(["refresh", "--preview-only", "--expect-no-changes", "--diff"]);
    saveEvidence("pulumi-lab", "refresh-drifted.txt", refresh.stdout + refresh.stderr);
    expect(refresh.status).toBe(7);
    expect(refreshUpdates(refresh.stdout)).toEqual(["postgresql-run"]);
    expect(refresh.stdout).toMatch(/hostInSync\s*: true => false/);
    expect(refresh.stdout).toContain("postgresql : Keep PostgreSQL enabled and running");

    // The remediation of the one drifted domain (docs/runbooks/drift-detected.md): `up --refresh`
    // targeted at its resource; the refresh above already read the other domains as unchanged.
    const fix = await pulumiLab(["up", "--refresh", "--target", "**postgresql-run", "--yes", "--skip-preview"]);
    saveEvidence("pulumi-lab", "up-refresh.txt", fix.stdout + fix.stderr);
    expect(fix.status).toBe(0);
    expect(fix.stdout).toMatch(/postgresql-run\s+updat/);
    expect(onVps("systemctl is-active postgresql@15-main").stdout.trim()).toBe("active");
    const clean = await pulumiLab(["refresh", "--preview-only", "--expect-no-changes", "--target", "**postgresql-run"]);
    expect(clean.status).toBe(0);
  });
});
