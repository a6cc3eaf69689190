// A drift report's one check pass: each domain's verdict read from the pass's record
// (lib/drift/sharedCheck.ts), and the provider's read taking it instead of running Ansible
// (components/ansiblePlaybookRun.ts checkFromSharedPass). No process, no network.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ansibleProvider, AnsiblePlaybookRunOutputs, checkFromSharedPass } from "../../components/ansiblePlaybookRun";
import { announceCheckPass, awaitCheckPass, CHECK_LOG_NAME, CHECK_PASS_ENV, CHECK_PASS_OWNER_ENV, CheckRecord, domainVerdict } from "../../lib/drift/sharedCheck";

const record = (over: Partial<CheckRecord> = {}): CheckRecord => ({
  correlation_id: "cid",
  check_mode: true,
  limit: "vps",
  tags: ["base", "ssh", "k3s"],
  ok: true,
  started: "2026-12-07T02:30:02Z",
  duration_s: 25.2,
  tasks: [
    { host: "vps", role: null, task: "Gather minimal facts", status: "ok" },
    { host: "vps", role: "base", task: "Create the admin user", status: "ok" },
    { host: "vps", role: "base", task: "Lock undeclared login accounts", status: "changed" },
    { host: "vps", role: "ssh", task: "Configure sshd", status: "ok" },
    { host: "vps", role: "ssh", task: "Remove the host keys", status: "skipped" },
    { host: "vps", role: "k3s", task: "Write the units", status: "changed" },
  ],
  ...over,
});

/** The base domain's verdict in record(): its two tasks, one of which would change. */
const BASE_VERDICT = {
  ok: 2,
  changed: 1,
  failed: 0,
  unreachable: 0,
  changedTasks: ["base : Lock undeclared login accounts"],
  startedAt: "2026-12-07T02:30:02.000Z",
  durationMs: 25200,
};

describe("a domain's verdict from the shared check pass", () => {
  it("counts the domain's own tasks, as a run tagged with it alone reports them", () => {
    expect(domainVerdict(record(), "base", "vps", "cid")).toEqual(BASE_VERDICT);
    expect(domainVerdict(record(), "ssh", "vps", "cid")).toMatchObject({ ok: 1, changed: 0, changedTasks: [] });
  });

  it("is not this read's to use when the record is another operation's, not a check, another host's, or does not cover the domain", () => {
    expect(domainVerdict(record(), "base", "vps", "other-cid")).toBeUndefined();
    expect(domainVerdict(record({ check_mode: false }), "base", "vps", "cid")).toBeUndefined();
    expect(domainVerdict(record(), "base", "other-vps", "cid")).toBeUndefined();
    expect(domainVerdict(record(), "postgresql", "vps", "cid")).toBeUndefined();
    expect(domainVerdict(record({ tags: [] }), "postgresql", "vps", "cid")).toMatchObject({ changed: 0 });
  });

  it("refuses a pass that stopped: a failed or unreachable task leaves the host unchecked", () => {
    const failed = record({ ok: false, tasks: [...record().tasks, { host: "vps", role: "k3s", task: "Probe the binaries", status: "failed", message: "No such file" }] });
    expect(() => domainVerdict(failed, "base", "vps", "cid")).toThrow("the check pass stopped at vps: k3s / Probe the binaries: No such file");
    const unreachable = record({ ok: false, tasks: [{ host: "vps", role: null, task: "Gather minimal facts", status: "unreachable" }] });
    expect(() => domainVerdict(unreachable, "ssh", "vps", "cid")).toThrow("the check pass stopped at vps: preflight / Gather minimal facts: unreachable");
    expect(() => domainVerdict(record({ ok: false }), "ssh", "vps", "cid")).toThrow("the check pass did not finish ok");
  });
});

describe("the announcement of the pass", () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "check-pass-"));
  afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

  it("a waiting read gets the outcome once it is announced, whole", async () => {
    const file = path.join(work, "a", "check-pass.json");
    const waiting = awaitCheckPass(file, process.pid, 10_000);
    announceCheckPass(file, { record: "/x/ansible-cid.json" });
    await expect(waiting).resolves.toEqual({ record: "/x/ansible-cid.json" });
    expect(fs.readdirSync(path.dirname(file))).toEqual(["check-pass.json"]);
  });

  it("stops waiting when the announcing command is gone, or past its bound, saying which", async () => {
    const file = path.join(work, "never.json");
    // A pid that is not running: the largest pid the kernel hands out, plus one.
    const gone = Number(fs.readFileSync("/proc/sys/kernel/pid_max", "utf8")) + 1;
    await expect(awaitCheckPass(file, gone, 10_000)).rejects.toThrow(`the drift report that runs the check pass (pid ${gone}) ended before announcing it in ${file}`);
    await expect(awaitCheckPass(file, process.pid, 250)).rejects.toThrow(`no check pass was announced in ${file} within 0 s`);
  });
});

describe("the provider's read with a shared pass", () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "shared-check-"));
  const keys = [CHECK_PASS_ENV, CHECK_PASS_OWNER_ENV, "PLATFORM_CORRELATION_ID"];
  const saved = Object.fromEntries(keys.map((k) => [k, process.env[k]]));
  const inputs = { domain: "base", host: "vps" } as Parameters<typeof checkFromSharedPass>[0];
  const file = path.join(work, "ansible-cid.json");
  const announced = path.join(work, "check-pass.json");
  beforeAll(() => {
    fs.writeFileSync(file, JSON.stringify(record()));
    fs.writeFileSync(path.join(work, CHECK_LOG_NAME), "the pass's output\n");
  });
  beforeEach(() => {
    fs.rmSync(announced, { force: true });
    process.env[CHECK_PASS_ENV] = announced;
    process.env[CHECK_PASS_OWNER_ENV] = String(process.pid);
    process.env.PLATFORM_CORRELATION_ID = "cid";
  });
  afterAll(() => {
    fs.rmSync(work, { recursive: true, force: true });
    for (const k of keys) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });

  it("waits for the pass the drift command announces and takes the domain's verdict, with the pass's log and record as evidence", async () => {
    const read = checkFromSharedPass(inputs);
    announceCheckPass(announced, { record: file });
    await expect(read).resolves.toEqual({
      correlationId: "cid",
      checkMode: true,
      ...BASE_VERDICT,
      logFile: path.relative(process.cwd(), path.join(work, CHECK_LOG_NAME)),
      evidenceFile: path.relative(process.cwd(), file),
    });
  });

  it("runs its own check without an announced pass, or with another operation's record", async () => {
    delete process.env[CHECK_PASS_ENV];
    await expect(checkFromSharedPass(inputs)).resolves.toBeUndefined();
    process.env[CHECK_PASS_ENV] = announced;
    announceCheckPass(announced, { record: file });
    process.env.PLATFORM_CORRELATION_ID = "another-operation";
    await expect(checkFromSharedPass(inputs)).resolves.toBeUndefined();
  });

  it("fails with the pass's reason when the pass failed, and names an unreadable record", async () => {
    announceCheckPass(announced, { error: "the check run produced no evidence record (exit 4): UNREACHABLE" });
    await expect(checkFromSharedPass(inputs)).rejects.toThrow("the host check pass failed: the check run produced no evidence record (exit 4): UNREACHABLE");
    announceCheckPass(announced, { record: path.join(work, "missing.json") });
    await expect(checkFromSharedPass(inputs)).rejects.toThrow(`the check pass record ${path.join(work, "missing.json")} cannot be read`);
  });
});

describe("the provider's diff when its own code changed", () => {
  // A refresh runs the code stored by the last create or update (the Node.js dynamic provider host
  // reads it from the stored outputs): without this, a read changed in the repository would never run.
  const olds = { domain: "base", contentHash: "h", host: "vps", hostAddress: "10.0.0.1", hostInSync: true, __provider: "code v1" } as unknown as AnsiblePlaybookRunOutputs;
  const diff = (news: Record<string, unknown>) => ansibleProvider.diff!("vps/base", olds, { ...olds, ...news } as never);

  it("makes the run due once when the stored code differs from the new one", async () => {
    expect(await diff({ __provider: "code v2" })).toMatchObject({ changes: true, detailedDiff: { __provider: { kind: "update" } } });
  });

  it("changes nothing when the code is the same, or unknown in a preview", async () => {
    expect(await diff({ __provider: "code v1" })).toMatchObject({ changes: false });
    expect(await diff({ __provider: undefined })).toMatchObject({ changes: false });
  });
});
