// `platform drift`'s orchestration (cli/commands/drift.ts runDrift) against fakes of the Automation
// API, the check pass, the cluster and Git: Ansible runs once per report (one check pass gives the
// host layer, and the Pulumi layer's refresh, started beside it, waits for its announcement instead
// of checking again), and the cluster layer runs beside both. No process, no network.
import type { EngineEvent } from "@pulumi/pulumi/automation";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { PlatformConfig } from "../../lib/config";
import { awaitCheckPass, CHECK_PASS_ENV, CHECK_PASS_OWNER_ENV, CheckPassOutcome } from "../../lib/drift/sharedCheck";

const calls: string[] = [];
let releasePass: () => void = () => undefined;
let refreshEvents: EngineEvent[] = [];
/** The fake pass's record tasks, or its failure. */
let passTasks: Array<Record<string, string>> | Error = [];
/** Whether the fake pass waits for the cluster layer to start (a report with a cluster layer). */
let waitForCluster = true;
/** The environment the refresh's stack was opened with (the provider's reads see it). */
let stackEnv: Record<string, string> = {};
/** What the fake refresh's reads found announced. */
let announcedToReads: CheckPassOutcome | undefined;

jest.mock("../../lib/pulumiEnv", () => ({
  ...jest.requireActual("../../lib/pulumiEnv"),
  openStack: jest.fn(async (se: { envVars: Record<string, string> }) => {
    calls.push("openStack");
    stackEnv = se.envVars;
    return { name: "fake stack" };
  }),
  keepingStackFile: jest.fn(async (_se: unknown, fn: () => Promise<unknown>) => fn()),
}));
jest.mock("../../lib/drift/pulumiLayer", () => ({
  ...jest.requireActual("../../lib/drift/pulumiLayer"),
  refreshPreview: jest.fn(async () => {
    calls.push("refresh:start");
    // As the provider's reads of the domains do.
    announcedToReads = await awaitCheckPass(stackEnv[CHECK_PASS_ENV], Number(stackEnv[CHECK_PASS_OWNER_ENV]), 10_000);
    calls.push("refresh:end");
    return refreshEvents;
  }),
}));
jest.mock("../../lib/drift/hostLayer", () => ({
  ...jest.requireActual("../../lib/drift/hostLayer"),
  checkPass: jest.fn(async (opts: { domains: string[]; dir: string }) => {
    calls.push(`checkPass:${opts.domains.join(",")}`);
    // Ends only once the cluster layer has started: a report that ran the layers one after the
    // other would never get here (the test's timeout says so).
    if (waitForCluster) await new Promise<void>((r) => (releasePass = r));
    calls.push("checkPass:end");
    if (passTasks instanceof Error) throw passTasks;
    fs.mkdirSync(opts.dir, { recursive: true });
    const file = path.join(opts.dir, "ansible-pass-cid.json");
    fs.writeFileSync(file, JSON.stringify({ correlation_id: "cid", tags: opts.domains, ok: true, tasks: passTasks }));
    return file;
  }),
}));
jest.mock("../../lib/kube", () => ({ driftCluster: jest.fn(async () => ({})) }));
jest.mock("../../lib/drift/gitRemote", () => ({ gitRemote: () => ({ cleanup: () => undefined }) }));
jest.mock("../../lib/drift/clusterLayer", () => ({
  ...jest.requireActual("../../lib/drift/clusterLayer"),
  clusterLayer: jest.fn(async () => {
    calls.push("cluster");
    releasePass();
    return { status: "clean", apps: [] };
  }),
}));

// Imported after the mocks.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { runDrift } = require("../../cli/commands/drift") as typeof import("../../cli/commands/drift");

const work = fs.mkdtempSync(path.join(os.tmpdir(), "drift-run-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
const config = { host: "vps", hostAddress: "10.0.0.1", domains: ["base", "ssh"], argocd: { enabled: true, kubeconfigPath: "kubeconfig" } } as unknown as PlatformConfig;
const se = { stack: "lab", root: work, configFile: "cfg", envVars: { PATH: "/bin" }, unset: [], cleanup: () => undefined };
const passRecord = path.join(work, "drift-cid", "ansible-pass-cid.json");

/** The refreshed run of a domain, as the engine reports it after a read that took the pass's verdict. */
function runEvent(domain: string, inSync: boolean, evidenceFile = passRecord): EngineEvent {
  return {
    sequence: 1,
    timestamp: 0,
    resOutputsEvent: {
      metadata: {
        op: "refresh",
        urn: `urn:pulumi:lab::platform::platform:index:AnsibleDomain$pulumi-nodejs:dynamic:Resource::${domain}-run`,
        type: "pulumi-nodejs:dynamic/platform:AnsiblePlaybookRun",
        provider: "",
        old: { outputs: { hostInSync: true } },
        new: { outputs: { hostInSync: inSync, lastCheck: { evidenceFile: path.relative(work, evidenceFile) } } },
      },
    },
  } as unknown as EngineEvent;
}

beforeEach(() => {
  calls.length = 0;
  waitForCluster = true;
  passTasks = [];
  stackEnv = {};
  announcedToReads = undefined;
  fs.rmSync(path.join(work, "drift-cid"), { recursive: true, force: true });
});

describe("drift report: Ansible once, layers side by side", () => {
  const before = (a: string, b: string) => expect(calls.indexOf(a)).toBeLessThan(calls.indexOf(b));

  it("one check pass over the stack's domains gives the host layer, and the refresh's reads take its record instead of checking again", async () => {
    passTasks = [
      { host: "vps", role: "base", task: "Create the admin user", status: "ok" },
      { host: "vps", role: "ssh", task: "Fix ssh", status: "changed" },
    ];
    refreshEvents = [runEvent("base", true), runEvent("ssh", false)];
    const layers = await runDrift({ stack: "lab", layers: ["host", "pulumi", "cluster"], domains: ["base", "ssh"], cid: "cid", root: work }, se, config, work);
    expect(calls.filter((c) => c.startsWith("checkPass:") && c !== "checkPass:end")).toEqual(["checkPass:base,ssh"]);
    expect(stackEnv).toMatchObject({ [CHECK_PASS_ENV]: path.join(work, "drift-cid", "check-pass.json"), [CHECK_PASS_OWNER_ENV]: String(process.pid), PLATFORM_CORRELATION_ID: "cid" });
    expect(announcedToReads).toEqual({ record: passRecord });
    expect(layers.pulumi).toMatchObject({ status: "drifted", resources: ["ssh-run"], hostInSyncFalse: true });
    expect(layers.host).toMatchObject({ status: "drifted", source: "check", domains: { base: { drifted: false }, ssh: { drifted: true, tasks: [{ task: "Fix ssh" }] } } });
    expect(layers.host!.evidenceFiles).toEqual([path.join("drift-cid", "ansible-pass-cid.json")]);
    expect(Object.keys(layers)).toEqual(["host", "pulumi", "cluster"]);
  });

  it("the refresh and the cluster layer start while the check pass is still running; the refresh's reads end after it", async () => {
    refreshEvents = [runEvent("base", true), runEvent("ssh", true)];
    await runDrift({ stack: "lab", layers: ["host", "pulumi", "cluster"], domains: ["base", "ssh"], cid: "cid", root: work }, se, config, work);
    before("checkPass:base,ssh", "refresh:start");
    before("refresh:start", "checkPass:end");
    before("cluster", "checkPass:end");
    before("checkPass:end", "refresh:end");
  });

  it("the pulumi layer alone still checks the host once, over every domain of the stack", async () => {
    waitForCluster = false;
    refreshEvents = [runEvent("base", true), runEvent("ssh", true)];
    const layers = await runDrift({ stack: "lab", layers: ["pulumi"], domains: ["base"], cid: "cid", root: work }, se, config, work);
    expect(calls.filter((c) => c.startsWith("checkPass:") && c !== "checkPass:end")).toEqual(["checkPass:base,ssh"]);
    expect(Object.keys(layers)).toEqual(["pulumi"]);
    expect(layers.pulumi).toMatchObject({ status: "clean" });
  });

  it("a domain the stack does not have is broken, named, not checked by a second pass", async () => {
    refreshEvents = [runEvent("base", true), runEvent("ssh", true)];
    waitForCluster = false;
    const layers = await runDrift({ stack: "lab", layers: ["host", "pulumi"], domains: ["base", "k3s"], cid: "cid", root: work }, se, config, work);
    expect(calls.filter((c) => c.startsWith("checkPass:") && c !== "checkPass:end")).toEqual(["checkPass:base,ssh"]);
    expect(layers.host).toMatchObject({ status: "broken", error: "the stack has no run for: k3s (platform:domains)" });
  });

  it("a failed check pass is announced to the refresh's reads and breaks both layers with its one reason", async () => {
    passTasks = new Error("the check run produced no evidence record (exit 4): UNREACHABLE");
    waitForCluster = false;
    const layers = await runDrift({ stack: "lab", layers: ["host", "pulumi"], domains: ["base", "ssh"], cid: "cid", root: work }, se, config, work);
    expect(announcedToReads).toEqual({ error: "the check run produced no evidence record (exit 4): UNREACHABLE" });
    expect(layers.host).toMatchObject({ status: "broken", source: "check", error: "the check run produced no evidence record (exit 4): UNREACHABLE" });
    expect(layers.pulumi).toMatchObject({ status: "broken", error: "not refreshed: the host check pass failed (the check run produced no evidence record (exit 4): UNREACHABLE)" });
  });

  it("the host layer alone is one check pass over its domains (no engine, no announcement)", async () => {
    waitForCluster = false;
    const layers = await runDrift({ stack: "lab", layers: ["host"], domains: ["base"], cid: "cid", root: work }, se, config, work);
    expect(calls).toEqual(["checkPass:base", "checkPass:end"]);
    expect(fs.existsSync(path.join(work, "drift-cid", "check-pass.json"))).toBe(false);
    expect(layers.host).toMatchObject({ status: "clean", source: "check" });
  });
});
