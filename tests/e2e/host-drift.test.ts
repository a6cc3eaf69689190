// Host drift on the lab VPS: each kind of manual change (an edited config file, a stopped
// service, a removed package) is reported by `platform drift --layers host` against its own domain, and
// only there; the replay that remediates them leaves the drift report clean.
import * as fs from "fs";
import * as path from "path";
import { saveEvidence } from "../support/evidence";
import { ansible, onVps, recap } from "../support/lab";
import { repoRoot, runAsync } from "../support/tools";

jest.setTimeout(30 * 60 * 1000);

interface DriftReport {
  status: "clean" | "drifted" | "broken";
  correlationId: string;
  domains: Record<string, { drifted: boolean; tasks: Array<{ task: string; diff?: unknown }> }>;
}

async function driftReport(name: string): Promise<{ exit: number | null; report: DriftReport; output: string }> {
  const r = await runAsync(path.join(repoRoot, "cli/platform.js"), ["drift", "lab", "--layers", "host"], { timeoutMs: 15 * 60 * 1000 });
  const output = r.stdout + r.stderr;
  saveEvidence("host-drift", `${name}.txt`, output);
  const m = /report: (\S+\.json)/.exec(output);
  if (!m) throw new Error(`no drift report in the output:\n${output}`);
  // `platform drift`'s report holds the host layer under layers.host.
  const full = JSON.parse(fs.readFileSync(path.resolve(repoRoot, m[1]), "utf8")) as { correlationId: string; layers: { host: Omit<DriftReport, "correlationId"> } };
  const report: DriftReport = { ...full.layers.host, correlationId: full.correlationId };
  saveEvidence("host-drift", `${name}.json`, report);
  return { exit: r.status, report, output };
}

const drifted = (r: DriftReport) => Object.entries(r.domains).filter(([, v]) => v.drifted).map(([d]) => d);

describe("host drift is reported per domain, and a replay remediates it", () => {
  // Set when a report has shown the host clean after the replay: then afterAll has nothing to do.
  let leftConverged = false;

  beforeAll(async () => {
    const converge = await ansible("host-drift", []);
    expect(converge.status).toBe(0);
  });

  // Whatever happens below, leave the host converged for the tests that follow.
  afterAll(async () => {
    if (!leftConverged) await ansible("host-drift", []);
  });

  it("reports a converged host as clean (exit 0)", async () => {
    const { exit, report } = await driftReport("clean-before");
    expect(report.status).toBe("clean");
    expect(exit).toBe(0);
    expect(drifted(report)).toEqual([]);
  });

  // Three kinds of manual change, each in another domain, made together and checked with one
  // report (one check pass and one replay instead of three of each): every change must show under
  // its own domain with exactly the tasks that domain owns for it, and the untouched domains stay
  // clean, which is what proves the attribution.
  const changes: Array<{ what: string; domain: string; command: string; tasks: string[]; diffMentions?: string }> = [
    {
      what: "an edited config file", domain: "ssh",
      command: "sed -i 's/^MaxAuthTries.*/MaxAuthTries 10/' /etc/ssh/sshd_config && grep -q '^MaxAuthTries 10' /etc/ssh/sshd_config",
      // The handler shows as a task that would run too.
      tasks: ["Write sshd_config", "Reload sshd"], diffMentions: "MaxAuthTries 10",
    },
    {
      what: "a stopped service", domain: "postgresql",
      command: "systemctl stop postgresql@15-main && ! systemctl is-active -q postgresql@15-main",
      tasks: ["Keep PostgreSQL enabled and running"],
    },
    {
      // A package only the base domain installs (curl is also a k3s prerequisite: removing it is drift in both).
      what: "a removed package", domain: "base",
      command: "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q unattended-upgrades >/dev/null && ! dpkg -l unattended-upgrades | grep -q '^ii'",
      tasks: ["Install base packages"], diffMentions: "unattended-upgrades",
    },
  ];

  it("reports an edited config file (ssh), a stopped service (postgresql) and a removed package (base) each against its own domain only; the replay makes the report clean", async () => {
    for (const c of changes) {
      const made = onVps(c.command);
      expect({ change: c.what, status: made.status, err: made.stderr }).toMatchObject({ status: 0 });
    }

    const before = await driftReport("three-domains-drifted");
    expect(before.report.status).toBe("drifted");
    expect(before.exit).toBe(3);
    expect(drifted(before.report).sort()).toEqual(changes.map((c) => c.domain).sort());
    for (const c of changes) {
      const tasks = before.report.domains[c.domain].tasks;
      const names = tasks.map((t) => t.task);
      expect({ change: c.what, domain: c.domain, hasItsTask: names.includes(c.tasks[0]) }).toEqual({ change: c.what, domain: c.domain, hasItsTask: true });
      expect({ change: c.what, domain: c.domain, strayTasks: names.filter((n) => !c.tasks.includes(n)) }).toEqual({ change: c.what, domain: c.domain, strayTasks: [] });
      if (c.diffMentions) expect(JSON.stringify(tasks)).toContain(c.diffMentions);
    }

    const replay = await ansible("host-drift", []);
    expect(replay.status).toBe(0);
    expect(recap(replay.output).changed).toBeGreaterThanOrEqual(changes.length);

    const after = await driftReport("after-replay");
    expect(after.report.status).toBe("clean");
    expect(after.exit).toBe(0);
    expect(drifted(after.report)).toEqual([]);
    leftConverged = true;
  });
});
