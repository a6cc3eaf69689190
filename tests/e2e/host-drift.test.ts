// Host drift on the lab VPS: each kind of manual change (an edited config file, a stopped
// service, a removed package) is reported by scripts/drift-host.sh against its own domain; the
// replay that remediates it leaves the drift report clean.
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
  beforeAll(async () => {
    const converge = await ansible("host-drift", []);
    expect(converge.status).toBe(0);
  });

  // Whatever happens above, leave the host converged for the tests that follow.
  afterAll(async () => {
    await ansible("host-drift", []);
  });

  it("reports a converged host as clean (exit 0)", async () => {
    const { exit, report } = await driftReport("clean-before");
    expect(report.status).toBe("clean");
    expect(exit).toBe(0);
    expect(drifted(report)).toEqual([]);
  });

  it.each([
    ["an edited config file", "ssh", "sed -i 's/^MaxAuthTries.*/MaxAuthTries 10/' /etc/ssh/sshd_config && grep -q '^MaxAuthTries 10' /etc/ssh/sshd_config"],
    ["a stopped service", "postgresql", "systemctl stop postgresql@15-main && ! systemctl is-active -q postgresql@15-main"],
    // A package only the base domain installs (curl is also a k3s prerequisite: removing it is drift in both).
    ["a removed package", "base", "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q unattended-upgrades >/dev/null && ! dpkg -l unattended-upgrades | grep -q '^ii'"],
  ])("reports %s against the %s domain only, then is clean after the replay", async (what, domain, change) => {
    const made = onVps(change);
    expect({ change: what, status: made.status, err: made.stderr }).toMatchObject({ status: 0 });

    const before = await driftReport(`${domain}-drifted`);
    expect(before.report.status).toBe("drifted");
    expect(before.exit).toBe(3);
    expect(drifted(before.report)).toEqual([domain]);
    expect(before.report.domains[domain].tasks.length).toBeGreaterThan(0);

    const replay = await ansible("host-drift", []);
    expect(replay.status).toBe(0);
    expect(recap(replay.output).changed).toBeGreaterThan(0);

    const after = await driftReport(`${domain}-after-replay`);
    expect(after.report.status).toBe("clean");
    expect(after.exit).toBe(0);
  });
});
