// `platform drift`'s orchestration (cli/commands/drift.ts runDrift) against fakes of the Automation
// API, the check pass, the cluster and Git: Ansible runs once per report (with the Pulumi layer,
// its refresh's check runs are the host layer's, and no check pass of its own runs), and the
// cluster layer runs beside the refresh instead of after it. No process, no network.
import type { EngineEvent } from "@pulumi/pulumi/automation";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { PlatformConfig } from "../../lib/config";

const calls: string[] = [];
let releaseRefresh: () => void = () => undefined;
let refreshEvents: EngineEvent[] = [];
/** Whether the fake refresh waits for the cluster layer to start (a report with a cluster layer). */
let waitForCluster = true;

jest.mock("../../lib/pulumiEnv", () => ({
  ...jest.requireActual("../../lib/pulumiEnv"),
  openStack: jest.fn(async () => ({ name: "fake stack" })),
  keepingStackFile: jest.fn(async (_se: unknown, fn: () => Promise<unknown>) => fn()),
}));
jest.mock("../../lib/drift/pulumiLayer", () => ({
  ...jest.requireActual("../../lib/drift/pulumiLayer"),
  refreshPreview: jest.fn(async () => {
    calls.push("refresh:start");
    // Ends only once the cluster layer has started: a report that ran the layers one after the
    // other would never get here (the test's timeout says so).
    if (waitForCluster) await new Promise<void>((r) => (releaseRefresh = r));
    calls.push("refresh:end");
    return refreshEvents;
  }),
}));
jest.mock("../../lib/drift/hostLayer", () => ({
  ...jest.requireActual("../../lib/drift/hostLayer"),
  checkPass: jest.fn(async () => {
    calls.push("checkPass");
    throw new Error("the fake check pass");
  }),
}));
jest.mock("../../lib/kube", () => ({ driftCluster: jest.fn(async () => ({})) }));
jest.mock("../../lib/drift/gitRemote", () => ({ gitRemote: () => ({ cleanup: () => undefined }) }));
jest.mock("../../lib/drift/clusterLayer", () => ({
  ...jest.requireActual("../../lib/drift/clusterLayer"),
  clusterLayer: jest.fn(async () => {
    calls.push("cluster");
    releaseRefresh();
    return { status: "clean", apps: [] };
  }),
}));

// Imported after the mocks.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { runDrift } = require("../../cli/commands/drift") as typeof import("../../cli/commands/drift");

const work = fs.mkdtempSync(path.join(os.tmpdir(), "drift-run-"));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
const config = { host: "vps", hostAddress: "10.0.0.1", argocd: { enabled: true, kubeconfigPath: "kubeconfig" } } as unknown as PlatformConfig;
const se = { stack: "lab", root: work, configFile: "cfg", envVars: { PATH: "/bin" }, unset: [], cleanup: () => undefined };

function runEvent(domain: string, inSync: boolean): EngineEvent {
  const file = path.join(work, `ansible-${domain}-cid.json`);
  const tasks = inSync ? [] : [{ host: "vps", role: domain, task: `Fix ${domain}`, status: "changed" }];
  fs.writeFileSync(file, JSON.stringify({ correlation_id: "cid", tags: [domain], ok: true, tasks }));
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
        new: { outputs: { hostInSync: inSync, lastCheck: { evidenceFile: path.relative(work, file) } } },
      },
    },
  } as unknown as EngineEvent;
}

beforeEach(() => {
  calls.length = 0;
  waitForCluster = true;
});

describe("drift report: Ansible once, layers side by side", () => {
  it("with the pulumi layer, the host layer is read from the refresh's own check runs: no second Ansible pass", async () => {
    refreshEvents = [runEvent("base", true), runEvent("ssh", false)];
    const layers = await runDrift({ stack: "lab", layers: ["host", "pulumi", "cluster"], domains: ["base", "ssh"], cid: "cid", root: work }, se, config, work);
    expect(calls).not.toContain("checkPass");
    expect(layers.pulumi).toMatchObject({ status: "drifted", resources: ["ssh-run"], hostInSyncFalse: true });
    expect(layers.host).toMatchObject({ status: "drifted", source: "refresh", domains: { base: { drifted: false }, ssh: { drifted: true, tasks: [{ task: "Fix ssh" }] } } });
    expect(layers.host!.evidenceFiles).toEqual(["ansible-base-cid.json", "ansible-ssh-cid.json"]);
    expect(Object.keys(layers)).toEqual(["host", "pulumi", "cluster"]);
  });

  it("the cluster layer starts while the refresh is still running (the wall time is the slower layer's)", async () => {
    refreshEvents = [runEvent("base", true)];
    await runDrift({ stack: "lab", layers: ["host", "pulumi", "cluster"], domains: ["base"], cid: "cid", root: work }, se, config, work);
    expect(calls).toEqual(["refresh:start", "cluster", "refresh:end"]);
  });

  it("a domain the refresh did not check is broken, named, not re-checked by a second pass", async () => {
    refreshEvents = [runEvent("base", true)];
    waitForCluster = false;
    const layers = await runDrift({ stack: "lab", layers: ["host", "pulumi"], domains: ["base", "k3s"], cid: "cid", root: work }, se, config, work);
    expect(calls).not.toContain("checkPass");
    expect(layers.host).toMatchObject({ status: "broken", error: "the stack has no run for: k3s (platform:domains)" });
  });

  it("the host layer alone is one check pass (no engine)", async () => {
    const layers = await runDrift({ stack: "lab", layers: ["host"], domains: ["base"], cid: "cid", root: work }, se, config, work);
    expect(calls).toEqual(["checkPass"]);
    expect(layers.host).toMatchObject({ status: "broken", source: "check", error: "the fake check pass" });
  });
});
