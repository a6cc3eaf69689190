// The real Pulumi engine on the lab stack, through `platform up | preview | refresh | history`:
// `up` converges every domain, the next preview is the
// no-change gate, an edit to one role previews as that one domain, and refresh sees host drift.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { saveEvidence } from "../support/evidence";
import { labDir, onVps } from "../support/lab";
import { repoRoot, run, runAsync } from "../support/tools";

jest.setTimeout(40 * 60 * 1000);

/** `platform COMMAND lab ARGS...` of the checkout `root` (cli/platform.js, the operator's command). */
const pulumiLab = ([command, ...args]: string[], root = repoRoot, env: Record<string, string> = {}) =>
  runAsync(path.join(root, "cli/platform.js"), [command, "lab", ...args], {
    cwd: root,
    env: { ...process.env, PLATFORM_EVIDENCE_DIR: path.join(repoRoot, "evidence"), PLATFORM_LAB_DIR: labDir, ...env },
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
  if (fs.existsSync(path.join(repoRoot, ".lab"))) fs.symlinkSync(path.join(repoRoot, ".lab"), path.join(dir, ".lab"));
  return dir;
}

/** The JSON report of a stack command (cli/commands/stack.ts). */
type Report = { outcome: string; changed: number; resourceChanges: Record<string, number>; steps: Array<{ op: string; name: string; diffs: string[]; changedTasks?: string[] }> };
const report = (stdout: string) => JSON.parse(stdout) as Report;
/** "op name" of every resource a report says changes. */
const changedResources = (stdout: string) => report(stdout).steps.filter((s) => !s.name.match(/^(base|ssh|firewall|vpn|postgresql|k3s)$/)).map((s) => `${s.op} ${s.name}`);

describe("Pulumi on the lab stack (real engine, real Ansible, lab VPS)", () => {
  it("pulumi up converges every domain, with the correlation id in the stack history", async () => {
    const cid = `test-up-${Date.now()}`;
    const up = await pulumiLab(["up"], repoRoot, { PLATFORM_CORRELATION_ID: cid });
    saveEvidence("pulumi-lab", "up.txt", up.stdout + up.stderr);
    expect(up.status).toBe(0);
    const history = await pulumiLab(["history", "--json"]);
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
    const again = await pulumiLab(["up", "--json"]);
    saveEvidence("pulumi-lab", "second-up.json", again.stdout);
    expect(again.status).toBe(0);
    expect(Object.keys(report(again.stdout).resourceChanges)).toEqual(["same"]);
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
    const refresh = await pulumiLab(["refresh", "--preview-only", "--expect-no-changes", "--diff", "--json"]);
    saveEvidence("pulumi-lab", "refresh-drifted.json", refresh.stdout + refresh.stderr);
    expect(refresh.status).toBe(7);
    // The drifted domain's run, and why: its check found the host out of sync (hostInSync true => false).
    expect(changedResources(refresh.stdout)).toEqual(["update postgresql-run"]);
    expect(report(refresh.stdout).steps.find((s) => s.name === "postgresql-run")?.diffs).toContain("hostInSync");
    // The check run names the task that would change (the refreshed run's lastCheck).
    expect(report(refresh.stdout).steps.find((s) => s.name === "postgresql-run")?.changedTasks).toContain("postgresql : Keep PostgreSQL enabled and running");

    // The remediation of the one drifted domain (docs/runbooks/drift-detected.md): `up --refresh`
    // targeted at its resource; the refresh above already read the other domains as unchanged.
    const fix = await pulumiLab(["up", "--refresh", "--target", "**postgresql-run", "--json"]);
    saveEvidence("pulumi-lab", "up-refresh.json", fix.stdout + fix.stderr);
    expect(fix.status).toBe(0);
    expect(changedResources(fix.stdout)).toContain("update postgresql-run");
    expect(onVps("systemctl is-active postgresql@15-main").stdout.trim()).toBe("active");
    const clean = await pulumiLab(["refresh", "--preview-only", "--expect-no-changes", "--target", "**postgresql-run"]);
    expect(clean.status).toBe(0);
  });
});
