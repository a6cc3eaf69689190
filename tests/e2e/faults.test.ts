// Faults on the lab VPS (issue 5, item 4):
//  - a converge killed midway (SIGKILL inside a role, while apt works) leaves no stale apt/dpkg
//    lock; the rerun succeeds and the replay right after is changed=0 failed=0;
//  - rows in PostgreSQL survive, byte for byte, a full replay and a postgresql-tagged run that
//    restarts the server, and a rollback (`platform rollback`) of a faulty commit to the
//    postgresql domain, applied by `pulumi up` and reverted (two restarts);
//  - a second `pulumi up` while one runs is refused by the state lock, and the state stays intact.
// Works on the default lab and on an isolated second lab (LAB_* and PLATFORM_LAB_DIR in the
// environment). Leaves the host converged and the stack in sync.
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ALL_DOMAINS } from "../../lib/domains";
import { endRun, MarkedProcess, processesOfRun, runMarkerEnv } from "../../lib/runMarker";
import { evidenceDir, saveEvidence } from "../support/evidence";
import { ansibleToolsPath, ensureHostConverged, ensureStackInSync, FINGERPRINT_UNITS, labAnsible, pulumiLab, stackLocks, stackState, until } from "../support/faults";
import { operatorCheckout } from "../support/gitops";
import { labDir, onVps, recap, vpsAddress } from "../support/lab";
import { repoRoot, run, runAsync } from "../support/tools";

jest.setTimeout(30 * 60 * 1000);

/** Set while a test has left the host off its converged state; afterAll converges it again. */
let hostDirty = false;

afterAll(async () => {
  if (hostDirty) {
    const r = await labAnsible("faults-cleanup", []);
    saveEvidence("faults-cleanup", "converge.txt", r.output);
  }
  await ensureStackInSync();
});

/** apt/dpkg locks on the VPS that a process still holds (fcntl locks, as apt and dpkg take them), and dpkg's own audit. */
function aptState() {
  const script = [
    "for l in /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock /var/cache/apt/archives/lock; do",
    "  [ -e $l ] || continue",
    `  python3 -c 'import fcntl,sys; f=open(sys.argv[1],"r+"); fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)' $l 2>/dev/null || echo "HELD $l"`,
    "done",
    'echo "audit: $(dpkg --audit 2>&1 | head -5 | tr "\\n" " ")"',
    'echo "pending: $(ls /var/lib/dpkg/updates 2>/dev/null | wc -l)"',
    'echo "check: $(apt-get check -q >/dev/null 2>&1 && echo ok || echo FAILED)"',
  ].join("\n");
  const out = `${onVps(script).stdout.trim()}\nworkers: ${remoteWorkers()}`;
  return {
    raw: out,
    held: out.split("\n").filter((l) => l.startsWith("HELD ")).map((l) => l.slice(5)),
    audit: /^audit: (.*)$/m.exec(out)?.[1].trim() ?? "?",
    pending: Number(/^pending: (\d+)/m.exec(out)?.[1] ?? -1),
    check: /^check: (\S+)/m.exec(out)?.[1] ?? "?",
    workers: Number(/^workers: (\d+)/m.exec(out)?.[1] ?? -1),
  };
}

/** Processes on the VPS that an Ansible run leaves working: dpkg, apt-get, a pipelined module (a bare `python3` reading its code from SSH). */
function remoteWorkers(): number {
  const r = onVps("echo $(( $(pgrep -xc dpkg) + $(pgrep -xc apt-get) + $(pgrep -xfc /usr/bin/python3) ))");
  return r.status === 0 ? Number(r.stdout.trim()) : -1;
}

function servicesActive(): Record<string, string> {
  const r = onVps(`for u in ${FINGERPRINT_UNITS.join(" ")}; do echo "$u $(systemctl is-active $u)"; done`);
  return Object.fromEntries(r.stdout.trim().split("\n").map((l) => l.split(" ") as [string, string]));
}

describe("faults: a converge killed midway", () => {
  beforeAll(() => ensureHostConverged("faults-killed-converge"));

  it("leaves no stale apt/dpkg lock; the rerun succeeds and the replay after it is changed=0 failed=0, services up", async () => {
    const criterion = "faults-killed-converge";
    hostDirty = true;
    // Real work for the run, in three domains: a package of the base domain (its apt task runs and
    // is where the run is killed), a drifted sshd_config, a stopped PostgreSQL.
    const drift = onVps(
      "DEBIAN_FRONTEND=noninteractive apt-get remove -y -q unattended-upgrades >/dev/null && echo '# fault test: killed converge' >> /etc/ssh/sshd_config && systemctl stop postgresql@15-main",
    );
    expect({ status: drift.status, err: drift.stderr }).toMatchObject({ status: 0 });

    // The converge, in its own process group so that SIGKILL takes ansible-playbook and its workers at once,
    // and marked (lib/runMarker.ts) so that what escapes the group (Mitogen's controller: ADR 0013) is found too.
    const dir = evidenceDir(criterion);
    const runId = `test-${criterion}-${Date.now()}`;
    const child = spawn("ansible-playbook", ["-i", "inventories/lab/hosts.yml", "site.yml", "-e", `ansible_host=${vpsAddress}`], {
      cwd: path.join(repoRoot, "infra/ansible"),
      env: {
        ...process.env,
        PATH: ansibleToolsPath(),
        ANSIBLE_CONFIG: path.join(repoRoot, "infra/ansible/ansible.cfg"),
        ANSIBLE_FORCE_COLOR: "0",
        PLATFORM_EVIDENCE_DIR: dir,
        PLATFORM_CORRELATION_ID: runId,
        ...runMarkerEnv(runId),
      },
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const closed = new Promise<void>((resolve) => child.on("close", (code, signal) => ((exit = { code, signal }), resolve())));
    let escaped: MarkedProcess[] = [];
    let cleanup: { ended: MarkedProcess[]; left: MarkedProcess[] } = { ended: [], left: [] };
    let killedAt = "";
    let onVpsAtKill = "";
    try {
      // Inside the base role's apt task: wait for its header, then (at most 20 s) for apt/dpkg to work on the VPS.
      await until(() => output.includes("TASK [base : Install base packages]") || exit !== undefined, "the base role's apt task to start", 5 * 60 * 1000);
      expect(exit).toBeUndefined();
      const t0 = Date.now();
      while (Date.now() - t0 < 20_000 && exit === undefined) {
        const p = onVps("pgrep -a -x dpkg; pgrep -a -x apt-get; pgrep -a -x -f /usr/bin/python3; true", 10_000).stdout.trim();
        onVpsAtKill = p;
        if (/dpkg/.test(p)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(exit).toBeUndefined();
      killedAt = output.trim().split("\n").filter((l) => l.startsWith("TASK [")).pop() ?? "";
      process.kill(-child.pid!, "SIGKILL");
      await Promise.race([closed, new Promise((r) => setTimeout(r, 30_000))]);
    } finally {
      if (exit === undefined) {
        try {
          process.kill(-child.pid!, "SIGKILL");
        } catch {
          // already gone
        }
        await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000))]);
      }
      // What the group kill left on this machine (by the run's marker, whatever its group or
      // session), ended by PID, whether the test got this far or not.
      escaped = processesOfRun(runId);
      cleanup = await endRun(runId);
    }
    // Nothing of the run may be left.
    saveEvidence(criterion, "local-leftovers.json", { runId, afterGroupKill: escaped, ended: cleanup.ended, left: cleanup.left });
    expect(cleanup.left).toEqual([]);
    expect(processesOfRun(runId)).toEqual([]);
    // What the kill left on the VPS: a module process may still finish its work there (bounded wait).
    const leftover = await until(() => remoteWorkers() === 0, "the killed run's remote processes to end", 180_000, 1000).catch((e: Error) => e.message);
    const afterKill = aptState();
    saveEvidence(criterion, "killed-run.txt", `killed at: ${killedAt}\nrunning on the VPS at the kill:\n${onVpsAtKill}\nexit: ${JSON.stringify(exit)}\nleftover wait: ${leftover}\napt state after the kill: ${afterKill.raw}\n\n${output}`);
    expect(exit?.signal).toBe("SIGKILL");
    expect(killedAt).toMatch(new RegExp(`^TASK \\[(${ALL_DOMAINS.join("|")}) : `));
    // The kill hit apt at work: dpkg was running on the VPS at that moment (not before or after it).
    expect(onVpsAtKill).toMatch(/^\d+ \S*dpkg /m);
    expect(output).not.toMatch(/PLAY RECAP/);

    const rerun = await labAnsible(criterion, []);
    const rerunTotals = recap(rerun.output);
    const replay = await labAnsible(criterion, []);
    const replayTotals = recap(replay.output);
    const apt = aptState();
    const services = servicesActive();
    saveEvidence(criterion, "result.json", { killedAt, onVpsAtKill, afterKill, rerun: { status: rerun.status, totals: rerunTotals }, replay: { status: replay.status, totals: replayTotals, changed: replay.record?.tasks.filter((t) => t.status === "changed") }, apt, services });

    expect(rerun.status).toBe(0);
    expect(rerunTotals).toMatchObject({ failed: 0, unreachable: 0 });
    // The rerun did the work the killed run never reached (sshd_config, PostgreSQL at least).
    expect(rerunTotals.changed).toBeGreaterThan(0);
    expect(replay.status).toBe(0);
    expect(replayTotals).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
    expect(apt).toMatchObject({ held: [], audit: "", pending: 0, check: "ok", workers: 0 });
    expect(onVps("dpkg-query -W -f='${db:Status-Abbrev}' unattended-upgrades").stdout.trim()).toBe("ii");
    expect(onVps("grep -c 'fault test' /etc/ssh/sshd_config || true").stdout.trim()).toBe("0");
    expect(services).toEqual(Object.fromEntries(FINGERPRINT_UNITS.map((u) => [u, "active"])));
    hostDirty = false;
  });
});

describe("faults: rows in PostgreSQL survive replays and restarts", () => {
  const criterion = "faults-postgresql-data";
  const TABLE = "platform_fault_rows";
  const psql = (sql: string) => onVps(`runuser -u postgres -- psql -d app -XAtq -v ON_ERROR_STOP=1 -c ${JSON.stringify(sql)}`);
  /** Row count and an md5 over every byte of every row, in key order. */
  const checksum = () => {
    const r = psql(`SELECT count(*) || ' ' || md5(string_agg(id || ':' || label || ':' || encode(payload, 'hex'), E'\\n' ORDER BY id)) FROM ${TABLE}`);
    if (r.status !== 0) throw new Error(`cannot read ${TABLE}: ${r.stderr}`);
    return r.stdout.trim();
  };
  const mainPid = () => onVps("systemctl show -p MainPID --value postgresql@15-main").stdout.trim();
  let written = "";

  beforeAll(async () => {
    await ensureHostConverged(criterion);
    const w = psql(
      `DROP TABLE IF EXISTS ${TABLE}; CREATE TABLE ${TABLE} (id int PRIMARY KEY, label text NOT NULL, payload bytea NOT NULL); ` +
        `INSERT INTO ${TABLE} SELECT i, 'row ' || i || ' ' || md5(random()::text), decode(md5(random()::text) || md5(random()::text), 'hex') FROM generate_series(1, 5000) i`,
    );
    if (w.status !== 0) throw new Error(`cannot write rows: ${w.stderr}`);
    written = checksum();
    saveEvidence(criterion, "written.txt", `${written}\n`);
  });
  afterAll(() => {
    psql(`DROP TABLE IF EXISTS ${TABLE}`);
  });

  it("writes 5000 rows into the app database", () => {
    expect(written).toMatch(/^5000 [0-9a-f]{32}$/);
  });

  it("keeps them byte for byte through a full replay", async () => {
    const r = await labAnsible(criterion, []);
    const after = checksum();
    saveEvidence(criterion, "after-replay.json", { status: r.status, totals: recap(r.output), written, after });
    expect(r.status).toBe(0);
    expect(recap(r.output)).toMatchObject({ failed: 0, unreachable: 0 });
    expect(after).toBe(written);
  });

  it("keeps them byte for byte through a postgresql-tagged run that fixes a drifted setting and restarts the server", async () => {
    hostDirty = true;
    const conf = "/etc/postgresql/15/main/conf.d/platform.conf";
    expect(onVps(`echo "work_mem = '8MB'  # fault test: drifted setting" >> ${conf}`).status).toBe(0);
    const pidBefore = mainPid();
    const r = await labAnsible(criterion, ["--tags", "postgresql"]);
    const pidAfter = mainPid();
    const after = checksum();
    const changed = r.record?.tasks.filter((t) => t.status === "changed").map((t) => `${t.role} : ${t.task}`) ?? [];
    saveEvidence(criterion, "after-tagged-restart.json", { status: r.status, totals: recap(r.output), changed, pidBefore, pidAfter, written, after });
    expect(r.status).toBe(0);
    expect(changed).toEqual(expect.arrayContaining(["postgresql : Restart postgresql"]));
    expect(pidAfter).not.toBe(pidBefore);
    expect(onVps(`grep -c 'fault test' ${conf} || true`).stdout.trim()).toBe("0");
    expect(onVps("systemctl is-active postgresql@15-main").stdout.trim()).toBe("active");
    expect(after).toBe(written);
    hostDirty = false;
  });

  it("keeps them byte for byte through a rollback of a faulty postgresql commit (applied, then reverted: two restarts)", async () => {
    hostDirty = true;
    const work = operatorCheckout();
    const git = (args: string[]) => run("git", ["-C", work, "-c", "user.name=platform-test", "-c", "user.email=platform-test@lab.invalid", ...args]);
    const maxConnections = () => psql("SHOW max_connections").stdout.trim();
    try {
      const defaults = path.join(work, "infra/ansible/roles/postgresql/defaults/main.yml");
      fs.writeFileSync(defaults, fs.readFileSync(defaults, "utf8").replace(/^(\s+max_connections): 100$/m, "$1: 42"));
      expect(git(["commit", "-qam", "postgresql: faulty max_connections"]).status).toBe(0);
      const bad = git(["rev-parse", "HEAD"]).stdout.trim();
      const pid0 = mainPid();
      const up = await pulumiLab(["up"], { PLATFORM_LAB_DIR: labDir }, 20 * 60 * 1000, work);
      expect(up.status).toBe(0);
      expect(maxConnections()).toBe("42");
      const pid1 = mainPid();
      const afterBad = checksum();
      const cid = `test-fault-rollback-${Date.now()}`;
      const rb = await runAsync(path.join(work, "cli/platform.js"), ["rollback", bad], { cwd: work, env: { ...process.env, PLATFORM_LAB_DIR: labDir, PLATFORM_CORRELATION_ID: cid }, timeoutMs: 20 * 60 * 1000 });
      saveEvidence(criterion, "rollback.txt", rb.stdout + rb.stderr);
      expect(rb.status).toBe(0);
      expect(maxConnections()).toBe("100");
      const pid2 = mainPid();
      const after = checksum();
      saveEvidence(criterion, "after-rollback.json", { written, afterBad, after, pids: [pid0, pid1, pid2] });
      expect(new Set([pid0, pid1, pid2]).size).toBe(3); // restarted by the faulty commit, then by its revert
      expect(afterBad).toBe(written);
      expect(after).toBe(written);
      hostDirty = false;
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
      run("bash", [path.join(repoRoot, "scripts/lab/git-server.sh"), "push", "HEAD"]);
    }
  });
});

describe("faults: two pulumi up at once", () => {
  const criterion = "faults-concurrent-up";
  beforeAll(() => ensureStackInSync());

  it("refuses the second `up` with the state lock while the first runs; the state is intact afterwards", async () => {
    expect(stackLocks()).toEqual([]);
    const before = await stackState();
    const stamp = Date.now();
    const firstId = `test-concurrent-first-${stamp}`;
    const secondId = `test-concurrent-second-${stamp}`;
    // `up --refresh` checks every domain on the host (check mode) first: it holds the lock for a minute or more.
    const first = pulumiLab(["up", "--refresh"], { PLATFORM_CORRELATION_ID: firstId });
    let firstDone = false;
    void first.then(() => (firstDone = true));
    const waited = await until(() => stackLocks().length > 0 || firstDone, "the first up to take the stack lock", 120_000, 100);
    expect(firstDone).toBe(false);
    const lock = stackLocks();

    const second = await pulumiLab(["up"], { PLATFORM_CORRELATION_ID: secondId }, 5 * 60 * 1000);
    const stillLocked = stackLocks().length > 0 && !firstDone;
    const r1 = await first;
    const after = await stackState();
    const locksAfter = stackLocks();
    const gate = await pulumiLab(["preview", "--expect-no-changes"]);
    saveEvidence(criterion, "second-up.txt", second.stdout + second.stderr);
    saveEvidence(criterion, "first-up.txt", r1.stdout + r1.stderr);
    saveEvidence(criterion, "result.json", { lockSeenAfterMs: waited, lock, second: second.status, stillLockedWhenSecondEnded: stillLocked, first: r1.status, before, after, locksAfter, gate: gate.status });

    expect(second.status).not.toBe(0);
    expect(second.stdout + second.stderr).toMatch(/the stack is currently locked by 1 lock\(s\)/);
    expect(second.stdout + second.stderr).toContain(path.basename(lock[0]));
    expect(stillLocked).toBe(true);
    expect(r1.status).toBe(0);
    // Intact: the export parsed (stackState), the same resources, exactly one more update (the first), no lock left.
    expect(after.resources.map((r) => r.split(" ").slice(0, 2).join(" "))).toEqual(before.resources.map((r) => r.split(" ").slice(0, 2).join(" ")));
    expect(after.updates).toBe(before.updates + 1);
    expect(after.lastUpdate?.result).toBe("succeeded");
    expect(after.lastUpdate?.message).toContain(firstId);
    expect(locksAfter).toEqual([]);
    expect(gate.status).toBe(0);
  });
});
