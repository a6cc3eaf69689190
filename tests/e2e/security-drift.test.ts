// Security drift on the lab VPS: hand changes that open the platform are reported under their
// domain and undone by a converge, and a replay of the clean host changes nothing.
//  - firewall: the loaded ruleset against the rendered one (a hand rule opening a VPN-only port to
//    a public peer, `nft flush ruleset`, a chain policy, a second table that accepts);
//  - base: an account that can log in and sits in the sudo group without being declared;
//  - ssh: a key on the admin user that the inventory does not declare;
//  - all of it in the host report, the stack refresh and the three-layer report.
// Traffic goes only to the lab's own addresses; every wait and loop is bounded.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { saveEvidence } from "../support/evidence";
import { ansible, AnsibleResult, labDir, labEnv, onVps, recap, vpsAddress, waitFor } from "../support/lab";
import { repoRoot, run, runAsync } from "../support/tools";

jest.setTimeout(30 * 60 * 1000);

const CRITERION = "security-drift";
const PUBLIC_NETNS = labEnv.LAB_PUBLIC_NETNS;
const VPN_ONLY_PORT = 5432;
const COMPARE_TASK = "Compare the loaded ruleset with the rendered one";

interface DriftReport {
  status: "clean" | "drifted" | "broken";
  domains: Record<string, { drifted: boolean; tasks: Array<{ task: string; items?: string[]; diff?: Array<{ lines?: string[] }> }> }>;
}

/** `platform drift lab --layers host [--domains ...]`: its exit, its host layer and its summary, saved as evidence. */
async function driftReport(name: string, domains: string[] = []) {
  const r = await runAsync(path.join(repoRoot, "cli/platform.js"), ["drift", "lab", "--layers", "host", ...(domains.length ? ["--domains", domains.join(",")] : [])], { timeoutMs: 15 * 60 * 1000 });
  const output = r.stdout + r.stderr;
  saveEvidence(CRITERION, `${name}.txt`, output);
  const m = /report: (\S+\.json)/.exec(output);
  if (!m) throw new Error(`no drift report in the output:\n${output}`);
  const report = (JSON.parse(fs.readFileSync(path.resolve(repoRoot, m[1]), "utf8")) as { layers: { host: DriftReport } }).layers.host;
  saveEvidence(CRITERION, `${name}.json`, report);
  return { exit: r.status, report, output };
}
const drifted = (r: DriftReport) => Object.entries(r.domains).filter(([, v]) => v.drifted).map(([d]) => d).sort();
/** Every diff line and loop item a domain's drifted tasks carry, "<task>: <line>". */
const evidenceLines = (r: DriftReport, domain: string) =>
  (r.domains[domain]?.tasks ?? []).flatMap((t) => [...(t.items ?? []), ...(t.diff ?? []).flatMap((d) => d.lines ?? [])].map((l) => `${t.task}: ${l}`));

const changedTasks = (r: AnsibleResult) => (r.record?.tasks ?? []).filter((t) => t.status === "changed").map((t) => `${t.role} : ${t.task}`);
const summary = (r: AnsibleResult) => ({ status: r.status, recap: recap(r.output), changed: changedTasks(r), durationMs: r.durationMs });

/** One bounded TCP probe from the public netns (scripts/security/probe.py: open/refused/filtered). */
function publicProbe(port: number): string {
  const r = run("ip", ["netns", "exec", PUBLIC_NETNS, "python3", path.join(repoRoot, "scripts/security/probe.py"), "--timeout", "2", vpsAddress, `tcp:${port}`], { timeoutMs: 15_000 });
  if (r.status !== 0) throw new Error(`probe from ${PUBLIC_NETNS} failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as Record<string, string>)[`tcp:${port}`];
}

function mustOnVps(command: string): string {
  const r = onVps(command);
  if (r.status !== 0) throw new Error(`on the VPS: ${command}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
}
const platformTable = () => mustOnVps("nft list table inet platform");
const tables = () => mustOnVps("nft list tables").trim().split("\n").sort();

/** ssh USER@vps true with KEY (the lab's pinned host key): 0 when the key logs in. */
function sshLogin(user: string, key: string): number | null {
  return run("ssh", ["-i", key, "-o", "IdentitiesOnly=yes", "-o", `UserKnownHostsFile=${path.join(labDir, "ssh/known_hosts")}`, "-o", "StrictHostKeyChecking=yes",
    "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", `${user}@${vpsAddress}`, "true"], { timeoutMs: 20_000 }).status;
}

/**
 * The operator's own SSH session, open for the whole test: one connection that prints a line every
 * 0.5 s until told to stop (a marker file), at most 2400 lines. It proves the session survives.
 */
function operatorSession() {
  const marker = "/run/platform-security-drift-stop";
  onVps(`rm -f ${marker}`);
  const loop = `i=0; while [ ! -e ${marker} ] && [ $i -lt 2400 ]; do echo "alive $i"; i=$((i+1)); sleep 0.5; done; echo done`;
  const done = runAsync("bash", [path.join(repoRoot, "scripts/lab/ssh.sh"), loop], { timeoutMs: 25 * 60 * 1000 });
  return {
    stop: async () => {
      onVps(`touch ${marker}`);
      const r = await done;
      const lines = r.stdout.trim().split("\n").filter(Boolean);
      return { exit: r.status, lines: lines.length, ended: lines[lines.length - 1] };
    },
  };
}

const evidence: Record<string, unknown> = {};
let listenerPid: string | undefined;
let keyDir: string | undefined;
let convergedTable = "";
// Tests that ran to their last line (each leaves the host converged: its own converge undoes its
// change). When all of them did, the final converge in afterAll has nothing to undo.
let completed = 0;
const TESTS = 7; // the replay, the hand rule, three ruleset changes, access, the three-layer report
let convergedTables: string[] = [];

describe("security drift is reported under its domain and undone by a converge", () => {
  beforeAll(async () => {
    const st = run("bash", ["scripts/lab/status.sh"]);
    if (st.status !== 0) throw new Error(`the lab is not up (run scripts/lab/up.sh): ${st.stdout}${st.stderr}`);
    const c = await ansible(CRITERION, []);
    evidence.converge = summary(c);
    if (c.status !== 0) throw new Error(`the converge failed:\n${c.output.slice(-3000)}`);
    const ns = run("bash", ["-c", '. scripts/lab/lib.sh && lab_netns_create "$1" "$2"', "lab-shell", PUBLIC_NETNS, labEnv.LAB_PUBLIC_ADDR]);
    if (ns.status !== 0) throw new Error(`cannot create ${PUBLIC_NETNS}: ${ns.stderr}`);
    convergedTable = platformTable();
    convergedTables = tables();
    evidence.convergedTables = convergedTables;
  });

  afterAll(async () => {
    if (listenerPid) onVps(`kill ${listenerPid} 2>/dev/null || true`);
    onVps("userdel -r intruder 2>/dev/null; true");
    if (keyDir) fs.rmSync(keyDir, { recursive: true, force: true });
    run("bash", ["-c", '. scripts/lab/lib.sh && lab_netns_delete "$1"', "lab-shell", PUBLIC_NETNS]);
    // Whatever happened above, leave the host converged for the tests that follow.
    if (completed < TESTS) evidence.finalConverge = summary(await ansible(CRITERION, []));
    saveEvidence(CRITERION, "summary.json", evidence);
  });

  // The full replay's changed=0 is proven by beforeAll's converge being the second in a row here and
  // by idempotence-and-tags / workload; this one is about the firewall's compare-and-reload.
  it("the firewall replay of the converged host is changed=0, compares the ruleset and reloads nothing", async () => {
    const r = await ansible(CRITERION, ["--tags", "firewall"]);
    evidence.cleanReplay = summary(r);
    expect(r.status).toBe(0);
    expect(recap(r.output)).toMatchObject({ changed: 0, failed: 0, unreachable: 0 });
    expect(changedTasks(r)).toEqual([]);
    expect(r.record?.tasks.map((t) => t.task)).toContain(COMPARE_TASK);
    expect(r.record?.tasks.filter((t) => t.task === "Reload nftables")).toEqual([]);
    completed++;
  });

  it("a hand rule that opens a VPN-only port to the public is reported under firewall with the rule, and the converge's reload closes it; the next replay reloads nothing", async () => {
    // Something that answers on the VPN-only port at the public address (PostgreSQL itself listens
    // on localhost and the VPN only): a throwaway listener, stopped by its PID.
    listenerPid = mustOnVps(`setsid nohup python3 -m http.server ${VPN_ONLY_PORT} --bind ${vpsAddress} </dev/null >/dev/null 2>&1 & echo $!`).trim();
    expect(listenerPid).toMatch(/^\d+$/);
    await waitFor(() => onVps(`ss -Hltn 'sport = :${VPN_ONLY_PORT}'`).stdout.includes(`${vpsAddress}:${VPN_ONLY_PORT}`), "the listener", 20_000, 500);
    const withRules = publicProbe(VPN_ONLY_PORT);

    // The port crosses two chains: the guard before DNAT and input. A hand rule in each opens it.
    const hand = `nft insert rule inet platform vpn_only_guard tcp dport ${VPN_ONLY_PORT} accept && nft insert rule inet platform input tcp dport ${VPN_ONLY_PORT} accept`;
    mustOnVps(hand);
    const opened = publicProbe(VPN_ONLY_PORT);
    const before = await driftReport("hand-rule-drifted");

    const converge = await ansible(CRITERION, ["--tags", "firewall"]);
    const closed = publicProbe(VPN_ONLY_PORT);
    const replay = await ansible(CRITERION, ["--tags", "firewall"]);
    const after = await driftReport("hand-rule-after-converge", ["firewall"]);
    onVps(`kill ${listenerPid}`);
    await waitFor(() => onVps(`kill -0 ${listenerPid} 2>/dev/null`).status !== 0, `listener pid ${listenerPid} to exit`, 10_000, 250);
    listenerPid = undefined;
    evidence.handRule = { hand, probe: { withRules, opened, closed }, report: before.report.domains.firewall, converge: summary(converge), replay: summary(replay) };

    expect(withRules).toBe("filtered");
    expect(opened).toBe("open");
    expect(before.exit).toBe(3);
    expect(drifted(before.report)).toEqual(["firewall"]);
    expect(evidenceLines(before.report, "firewall")).toContain(`${COMPARE_TASK}: -    tcp dport ${VPN_ONLY_PORT} accept`);

    expect(converge.status).toBe(0);
    expect(changedTasks(converge)).toEqual(expect.arrayContaining([`firewall : ${COMPARE_TASK}`, "firewall : Reload nftables"]));
    expect(closed).toBe("filtered");
    expect(platformTable()).toBe(convergedTable);

    expect(replay.status).toBe(0);
    expect(recap(replay.output).changed).toBe(0);
    expect(replay.record?.tasks.filter((t) => t.task === "Reload nftables")).toEqual([]);
    expect(after.exit).toBe(0);
    completed++;
  });

  it.each([
    ["a flushed ruleset", "nft flush ruleset", "+table inet platform {"],
    ["a changed chain policy", "nft chain inet platform input '{ policy accept; }'", "-    type filter hook input priority filter; policy accept;"],
    [
      "a second table with an accept rule",
      `nft add table inet handmade && nft add chain inet handmade input '{ type filter hook input priority -10; policy accept; }' && nft add rule inet handmade input tcp dport ${VPN_ONLY_PORT} accept`,
      `-    tcp dport ${VPN_ONLY_PORT} accept`,
    ],
  ])("%s is reported under firewall and fixed by the converge", async (what, change, line) => {
    mustOnVps(change);
    const before = await driftReport(`firewall-${what.replace(/\W+/g, "-")}-drifted`, ["firewall"]);
    const converge = await ansible(CRITERION, ["--tags", "firewall"]);
    const after = await driftReport(`firewall-${what.replace(/\W+/g, "-")}-after-converge`, ["firewall"]);
    // The platform's table is the firewall domain's; the node's own iptables-nft tables (kube-proxy,
    // CNI: firewall_foreign_tables_allowed) are restored by kube-proxy itself after a flush, within
    // its sync period: wait for them (bounded), as an operator would after `nft flush ruleset`.
    await waitFor(() => JSON.stringify(tables()) === JSON.stringify(convergedTables), "kube-proxy's tables back after the converge", 180_000, 2000).catch(() => undefined);
    const now = { table: platformTable(), tables: tables() };
    evidence[what] = { change, report: before.report.domains.firewall, converge: summary(converge), tablesAfter: now.tables };

    expect(before.exit).toBe(3);
    expect(drifted(before.report)).toEqual(["firewall"]);
    expect(evidenceLines(before.report, "firewall")).toContain(`${COMPARE_TASK}: ${line}`);
    expect(converge.status).toBe(0);
    expect(changedTasks(converge)).toContain(`firewall : ${COMPARE_TASK}`);
    expect(now.table).toBe(convergedTable);
    expect(now.tables).toEqual(convergedTables);
    expect(after.exit).toBe(0);
    completed++;
  });

  it("an undeclared sudo user (base) and an extra key on the admin user (ssh) are reported and removed; the operator's session keeps working", async () => {
    const admin = "platform";
    keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "p-security-drift-"));
    const extraKey = path.join(keyDir, "extra");
    expect(run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "extra@security-drift", "-f", extraKey]).status).toBe(0);
    const extraPub = fs.readFileSync(`${extraKey}.pub`, "utf8").trim();
    const session = operatorSession();

    mustOnVps(`useradd -m -s /bin/bash -G sudo intruder && install -d -m 700 -o intruder -g intruder ~intruder/.ssh && echo '${extraPub}' > ~intruder/.ssh/authorized_keys && chown intruder: ~intruder/.ssh/authorized_keys`);
    mustOnVps(`echo '${extraPub}' >> ~${admin}/.ssh/authorized_keys`);
    // The drift is real access: the extra key logs in, as the admin user and as the intruder.
    const loginsBefore = { admin: sshLogin(admin, extraKey), intruder: sshLogin("intruder", extraKey) };

    const before = await driftReport("access-drifted");
    const converge = await ansible(CRITERION, ["--tags", "base,ssh"]);
    const replay = await ansible(CRITERION, ["--tags", "base,ssh"]);
    const loginsAfter = {
      admin: sshLogin(admin, extraKey),
      intruder: sshLogin("intruder", extraKey),
      adminWithLabKey: sshLogin(admin, path.join(labDir, "ssh/id_ed25519")),
      rootWithLabKey: sshLogin("root", path.join(labDir, "ssh/id_ed25519")),
    };
    const intruder = { passwd: mustOnVps("getent passwd intruder").trim(), groups: mustOnVps("id -nG intruder").trim(), status: mustOnVps("passwd -S intruder").trim(), keys: onVps("cat ~intruder/.ssh/authorized_keys").status };
    const adminKeys = mustOnVps(`cat ~${admin}/.ssh/authorized_keys`);
    const sessionStats = await session.stop();
    evidence.access = { loginsBefore, loginsAfter, intruder, report: { base: before.report.domains.base, ssh: before.report.domains.ssh }, converge: summary(converge), replay: summary(replay), sessionStats };

    expect(loginsBefore).toEqual({ admin: 0, intruder: 0 });
    expect(before.exit).toBe(3);
    expect(drifted(before.report)).toEqual(["base", "ssh"]);
    expect(evidenceLines(before.report, "base")).toEqual(expect.arrayContaining(["Lock undeclared login accounts: intruder", "Remove undeclared members from the admin groups: intruder"]));
    const ssh = evidenceLines(before.report, "ssh");
    expect(ssh.some((l) => l.startsWith("Set the declared SSH keys: -ssh-ed25519 ") && l.endsWith("extra@security-drift"))).toBe(true);
    expect(ssh.some((l) => /^Remove the keys of accounts with none declared: intruder \/home\/intruder\/\.ssh\/authorized_keys$/.test(l))).toBe(true);

    expect(converge.status).toBe(0);
    expect(replay.status).toBe(0);
    expect(recap(replay.output).changed).toBe(0);
    expect(intruder.passwd).toMatch(/:\/usr\/sbin\/nologin$/);
    expect(intruder.groups.split(" ")).not.toContain("sudo");
    expect(intruder.status.split(" ")[1]).toBe("L");
    expect(intruder.keys).not.toBe(0);
    expect(adminKeys).not.toContain(extraPub.split(" ")[1]);
    expect(loginsAfter).toEqual({ admin: 255, intruder: 255, adminWithLabKey: 0, rootWithLabKey: 0 });
    // The operator's session (root, the lab key) lived through the report and both runs.
    expect(sessionStats.exit).toBe(0);
    expect(sessionStats.ended).toBe("done");
    expect(sessionStats.lines).toBeGreaterThan(10);
    completed++;
  });

  it("the stack refresh and the three-layer report name the drifted domains", async () => {
    mustOnVps(`nft insert rule inet platform input tcp dport ${VPN_ONLY_PORT} accept`);
    mustOnVps("useradd -m -s /bin/bash -G sudo intruder2");
    const r = await runAsync(path.join(repoRoot, "cli/platform.js"), ["drift", "lab", "--layers", "host,pulumi"], { timeoutMs: 20 * 60 * 1000 });
    const output = r.stdout + r.stderr;
    saveEvidence(CRITERION, "three-layer-drifted.txt", output);
    const m = /report: (\S+\.json)/.exec(output);
    if (!m) throw new Error(`no report in the output:\n${output}`);
    const report = JSON.parse(fs.readFileSync(path.resolve(repoRoot, m[1]), "utf8")) as {
      correlationId: string;
      layers: { host: { status: string; domains: DriftReport["domains"]; evidenceFiles: string[] }; pulumi: { status: string; resources: string[]; hostInSyncFalse: boolean } };
    };
    // Ansible ran once: the report's one check pass (its record is the host layer's), and no check
    // run of the refresh's own (the provider names those ansible-<domain>-check-...-<id>.log).
    const evidenceDir = path.dirname(path.resolve(repoRoot, m[1]));
    const passRecords = fs.readdirSync(path.join(evidenceDir, `drift-${report.correlationId}`)).filter((f) => /^ansible-.*\.json$/.test(f));
    const ownChecks = fs.readdirSync(evidenceDir).filter((f) => f.startsWith("ansible-") && f.includes("-check-") && f.includes(report.correlationId));
    saveEvidence(CRITERION, "three-layer-drifted.json", report);
    const converge = await ansible(CRITERION, ["--tags", "base,firewall"]);
    onVps("userdel -r intruder2 2>/dev/null; true");
    evidence.threeLayer = { exit: r.status, layers: report.layers, converge: summary(converge) };

    expect(r.status).toBe(3);
    expect(passRecords).toHaveLength(1);
    expect(report.layers.host.evidenceFiles).toEqual([expect.stringContaining(passRecords[0])]);
    expect(ownChecks).toEqual([]);
    expect(output).not.toMatch(/ran its own checks/);
    expect(report.layers.host.status).toBe("drifted");
    expect(Object.entries(report.layers.host.domains).filter(([, v]) => v.drifted).map(([d]) => d).sort()).toEqual(["base", "firewall"]);
    expect(report.layers.pulumi.status).toBe("drifted");
    expect(report.layers.pulumi.hostInSyncFalse).toBe(true);
    // The domains' resources (the lab's Argo CD objects are another story: drift-and-rollback.test.ts).
    expect(report.layers.pulumi.resources.filter((r) => r.endsWith("-run")).sort()).toEqual(["base-run", "firewall-run"]);
    expect(output).toMatch(/firewall\s+drifted Compare the loaded ruleset with the rendered one/);
    expect(output).toMatch(/base\s+drifted .*Lock undeclared login accounts \(intruder2\)/);
    expect(converge.status).toBe(0);
    completed++;
  });
});
