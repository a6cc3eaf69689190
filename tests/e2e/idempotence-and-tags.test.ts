// Story 1.2 on the lab VPS: replaying the playbooks changes nothing and restarts nothing; a run
// tagged for one domain executes only that domain. (Bad input failing clearly and changing nothing:
// tests/e2e/bad-input.test.ts.)
import * as path from "path";
import { ALL_DOMAINS } from "../../lib/domains";
import { saveEvidence } from "../support/evidence";
import { ansible, fileSnapshot, onVps, recap, serviceSnapshot, snapshotDiff, tcpProbe, vpsAddress, waitServicesSettled } from "../support/lab";
import { repoRoot, run, runAsync } from "../support/tools";

jest.setTimeout(30 * 60 * 1000);

// Files of every domain, hashed before and after runs. Volatile files that systemd, apt and the
// kernel rewrite on their own are left out.
const SNAPSHOT_ROOTS = ["/etc", "/usr/local", "/etc/systemd/system"];
const VOLATILE = [/^\/etc\/(adjtime|ld\.so\.cache|mtab|resolv\.conf)$/];
const POSTGRESQL_FILES = /^\/etc\/(postgresql\/|systemd\/system\/postgresql)/;

/** A probe of PostgreSQL from inside the VPS (it listens on localhost and the VPN only). */
function postgresProbe() {
  const marker = "/run/platform-probe-stop";
  onVps(`rm -f ${marker}`);
  const loop = `i=0; while [ ! -e ${marker} ] && [ $i -lt 3000 ]; do if pg_isready -q -h 127.0.0.1 -t 2; then echo ok; else echo FAIL; fi; i=$((i+1)); sleep 0.2; done`;
  const done = runAsync("bash", [path.join(repoRoot, "scripts/lab/ssh.sh"), loop], { timeoutMs: 15 * 60 * 1000 });
  return {
    stop: async () => {
      onVps(`touch ${marker}`);
      const r = await done;
      const lines = r.stdout.trim().split("\n").filter(Boolean);
      return { attempts: lines.length, failures: lines.filter((l) => l !== "ok").length };
    },
  };
}

describe("Story 1.2: idempotence and tags, on the lab VPS", () => {
  beforeAll(() => {
    const st = run("bash", ["scripts/lab/status.sh"]);
    if (st.status !== 0) throw new Error(`the lab is not up (run scripts/lab/up.sh): ${st.stdout}${st.stderr}`);
  });

  it("AC1: the first converge of site.yml succeeds", async () => {
    const r = await ansible("ac1-converge", []);
    const totals = recap(r.output);
    saveEvidence("ac1-converge", "recap.json", { status: r.status, totals, durationMs: r.durationMs });
    expect(r.status).toBe(0);
    expect(totals.hosts).toBeGreaterThanOrEqual(1);
    expect(totals.failed).toBe(0);
    expect(totals.unreachable).toBe(0);
  });

  it("AC1: an immediate replay reports changed=0 failed=0, restarts no service and fails no probe", async () => {
    const settled = await waitServicesSettled();
    const servicesBefore = serviceSnapshot();
    const ssh = tcpProbe(vpsAddress, 22, { expect: /^SSH-2\.0/ });
    const pg = postgresProbe();
    const r = await ansible("ac1-replay", []);
    const [sshStats, pgStats] = [await ssh.stop(), await pg.stop()];
    const servicesAfter = serviceSnapshot();
    const totals = recap(r.output);
    saveEvidence("ac1-replay", "result.json", { status: r.status, totals, sshStats, pgStats, servicesBefore, servicesAfter, settled, durationMs: r.durationMs });

    expect(r.status).toBe(0);
    expect(totals).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
    expect(r.record?.tasks.filter((t) => t.status === "changed")).toEqual([]);
    expect(sshStats.attempts).toBeGreaterThan(5);
    expect(sshStats.failures).toBe(0);
    expect(pgStats.attempts).toBeGreaterThan(5);
    expect(pgStats.failures).toBe(0);
    // Same main PID and start time for every managed service: nothing restarted.
    expect(servicesAfter).toEqual(servicesBefore);
    for (const [unit, state] of Object.entries(servicesAfter)) {
      if (unit !== "unattended-upgrades.service") expect(`${unit} ${state}`).toContain("active");
    }
  });

  // The roles are included at run time (site.yml loops over domains.yml), so --list-tasks cannot show
  // them: it lists the preflight and the domain loop only. The tagged run below proves at run time
  // that only postgresql tasks run.
  it("AC2: --list-tasks for --tags postgresql lists the preflight checks and the domain loop, no other domain's task", () => {
    const r = run("ansible-playbook", ["-i", "inventories/lab/hosts.yml", "site.yml", "--tags", "postgresql", "--list-tasks"], {
      cwd: path.join(repoRoot, "infra/ansible"),
      env: { ...process.env, PATH: `${run("bash", ["scripts/toolchain/ensure-ansible.sh"]).stdout.trim().split("\n").pop()}:${process.env.PATH}` },
    });
    saveEvidence("ac2-tags", "list-tasks.txt", r.stdout + r.stderr);
    expect(r.status).toBe(0);
    // Task lines only (play headers carry their own TAGS column).
    const tasks = r.stdout.split("\n").map((l) => l.trim()).filter((l) => /TAGS: \[/.test(l) && !/^play #/.test(l));
    expect(tasks.length).toBeGreaterThan(3);
    for (const t of tasks) {
      const isPg = /^postgresql : /.test(t);
      const isPreflight = /TAGS: \[.*always.*\]/.test(t);
      expect({ task: t, ok: isPg || isPreflight }).toEqual({ task: t, ok: true });
    }
    expect(tasks.some((t) => new RegExp(`^(${ALL_DOMAINS.filter((d) => d !== "postgresql").join("|")}) : `).test(t))).toBe(false);
    expect(tasks.filter((t) => /^Converge the domain\s+TAGS: \[always\]$/.test(t))).toHaveLength(1);
  });

  it("AC2: a postgresql-tagged run executes only postgresql tasks; every other domain stays byte-for-byte and PID-for-PID unchanged", async () => {
    // Drift in the postgresql domain, so that the tagged run has something to do.
    expect(onVps("echo '# manual edit' >> /etc/postgresql/15/main/pg_hba.conf").status).toBe(0);
    const filesBefore = fileSnapshot(SNAPSHOT_ROOTS, [...VOLATILE, POSTGRESQL_FILES]);
    const servicesBefore = serviceSnapshot();
    const r = await ansible("ac2-tags", ["--tags", "postgresql"]);
    const filesAfter = fileSnapshot(SNAPSHOT_ROOTS, [...VOLATILE, POSTGRESQL_FILES]);
    const servicesAfter = serviceSnapshot();
    saveEvidence("ac2-tags", "tagged-run.json", { status: r.status, tasks: r.record?.tasks, servicesBefore, servicesAfter, fileChanges: snapshotDiff(filesBefore, filesAfter) });

    expect(r.status).toBe(0);
    const tasks = r.record!.tasks;
    // The callback files tasks outside any role under "(play)": those are the preflight checks only.
    const inRole = (t: { role: string | null }) => t.role && t.role !== "(play)";
    expect([...new Set(tasks.filter(inRole).map((t) => t.role))]).toEqual(["postgresql"]);
    const playLevel = tasks.filter((t) => !inRole(t)) as unknown as Array<{ play: string; task: string }>;
    expect(playLevel.length).toBeGreaterThan(0);
    // Besides the preflight checks, only the domain loop's includes (site.yml, converge-domain.yml):
    // they load the role and run nothing on the host.
    for (const t of playLevel) expect(`${t.play}: ${t.task}`).toMatch(/^Preflight|^Domains \(domains\.yml, in order\): (Converge the domain|Run the domain's (role|handlers))$/);
    expect((playLevel as unknown as Array<{ play: string; status: string }>).filter((t) => !t.play.startsWith("Preflight") && t.status !== "ok")).toEqual([]);
    expect(tasks.filter((t) => t.status === "changed").map((t) => t.role)).toContain("postgresql");
    expect(onVps("grep -c '# manual edit' /etc/postgresql/15/main/pg_hba.conf || true").stdout.trim()).toBe("0");
    // Other domains: not one file byte, not one PID.
    expect(snapshotDiff(filesBefore, filesAfter)).toEqual([]);
    const others = (s: Record<string, string>) => Object.fromEntries(Object.entries(s).filter(([u]) => !u.startsWith("postgresql")));
    expect(others(servicesAfter)).toEqual(others(servicesBefore));
  });

  // Bad input (unknown tag, unreachable host, missing age key, ...): tests/e2e/bad-input.test.ts, the catalogue.
});
