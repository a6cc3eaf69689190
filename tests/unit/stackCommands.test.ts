// The stack commands (cli/commands/stack.ts, lib/operator/stackRun.ts) against a fake of the
// Automation API: refusals before the engine runs, exit codes (the gate's 0 / 7 / 1, usage 2),
// the report and its JSON, the audit record, the update message with the correlation id, and never
// --show-secrets. No process, no network: milliseconds each.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { Deployment, EngineEvent, Stack as SdkStack, UpdateSummary } from "@pulumi/pulumi/automation";
import { UsageError } from "../../cli/args";
import { cancel, history, operate, StackDeps } from "../../cli/commands/stack";
import { ConfigError } from "../../lib/config";
import { EngineStack, engineConfigSource, engineStack, oneErrorLine, progressFromEvents, reportFromEvents } from "../../lib/operator/stackRun";

const root = path.resolve(__dirname, "../..");
const CID = "20261206T120000Z-0badc0de";

/** The committed lab config, as `pulumi config --json` prints it (values only). */
function labConfigJson(overrides: Record<string, string> = {}): string {
  const lab = fs.mkdtempSync(path.join(os.tmpdir(), "stack-cmd-lab-"));
  fs.mkdirSync(path.join(lab, "ssh"));
  fs.writeFileSync(path.join(lab, "ssh/id_ed25519"), "key");
  fs.writeFileSync(path.join(lab, "age.key"), "AGE-SECRET-KEY-1X");
  fs.writeFileSync(path.join(lab, "secrets.sops.yaml"), "x: y\nsops: {}\n");
  const cfg: Record<string, { value: string; secret: boolean }> = {};
  const values: Record<string, string> = {
    environment: "lab",
    inventory: "infra/ansible/inventories/lab",
    host: "lab-vps",
    hostAddress: "10.213.0.10",
    sshPrivateKeyPath: path.join(lab, "ssh/id_ed25519"),
    secretsFile: path.join(lab, "secrets.sops.yaml"),
    ageKeyFile: path.join(lab, "age.key"),
    evidenceDir: path.join(lab, "evidence"),
    argocdEnabled: "false",
    ...overrides,
  };
  for (const [k, v] of Object.entries(values)) cfg[`platform:${k}`] = { value: v, secret: false };
  return JSON.stringify(cfg);
}

const event = (e: Partial<EngineEvent>): EngineEvent => ({ sequence: 0, timestamp: 0, ...e }) as EngineEvent;
const step = (op: string, name: string, kind: "pre" | "out" = "pre", extra: Record<string, unknown> = {}) => {
  const metadata = { op, urn: `urn:pulumi:lab::platform::platform:index:AnsibleDomain$pulumi-nodejs:dynamic/platform:AnsiblePlaybookRun::${name}`, type: "pulumi-nodejs:dynamic/platform:AnsiblePlaybookRun", provider: "", ...extra };
  return event((kind === "pre" ? { resourcePreEvent: { metadata } } : { resOutputsEvent: { metadata } }) as unknown as Partial<EngineEvent>);
};
const summary = (changes: Record<string, number>) => event({ summaryEvent: { maybeCorrupt: false, durationSeconds: 1, resourceChanges: changes, policyPacks: {} } } as Partial<EngineEvent>);

interface Calls {
  ops: Array<{ op: string; opts: Record<string, unknown> }>;
  audits: Array<{ action: string; outcome: string; correlationId: string; fields?: Record<string, string> }>;
  opened: number;
  labScripts: string[];
}

function fakeDeps(o: { events?: EngineEvent[]; fail?: Error; configJson?: string; secrets?: Error; openError?: Error; history?: Partial<UpdateSummary>[]; labExit?: number; state?: Deployment } = {}) {
  const calls: Calls = { ops: [], audits: [], opened: 0, labScripts: [] };
  const out: string[] = [];
  const err: string[] = [];
  const op = (name: string) => async (opts: Record<string, unknown>) => {
    calls.ops.push({ op: name, opts });
    for (const e of o.events ?? []) (opts.onEvent as (e: EngineEvent) => void)(e);
    if (o.fail) throw o.fail;
    return {};
  };
  const engine: EngineStack = {
    preview: op("preview"),
    up: op("up"),
    refresh: op("refresh"),
    destroy: op("destroy"),
    history: async (pageSize, page, showSecrets) => {
      calls.ops.push({ op: "history", opts: { pageSize, page, showSecrets } });
      return (o.history ?? []) as UpdateSummary[];
    },
    cancel: async () => {
      calls.ops.push({ op: "cancel", opts: {} });
    },
    configJson: async () => o.configJson ?? labConfigJson(),
    exportStack: async () => {
      calls.ops.push({ op: "export", opts: {} });
      return o.state ?? { version: 3, deployment: { resources: [] } };
    },
    importStack: async (d) => {
      calls.ops.push({ op: "import", opts: { state: d } });
    },
  };
  const deps: StackDeps = {
    root,
    env: { PLATFORM_CORRELATION_ID: CID, PLATFORM_EVIDENCE_DIR: fs.mkdtempSync(path.join(os.tmpdir(), "stack-cmd-ev-")) },
    open: async () => {
      if (o.openError) throw o.openError;
      calls.opened++;
      return { engine, cleanup: () => {} };
    },
    checkSecrets: async () => {
      if (o.secrets) throw o.secrets;
    },
    labScript: async (script, args) => {
      calls.labScripts.push([script, ...args].join(" "));
      return o.labExit ?? 0;
    },
    audit: (a) => {
      calls.audits.push(a);
      return { ...a, time: "t", who: "w", gitRevision: null } as never;
    },
    progress: (l) => err.push(l),
    out: (t) => out.push(t),
  };
  return { deps, calls, out, err };
}

describe("preview: the gate's exit codes", () => {
  it("exits 0 with --expect-no-changes when every step is same", async () => {
    const f = fakeDeps({ events: [step("same", "ssh-run"), summary({ same: 12 })] });
    expect(await operate("preview", ["lab", "--expect-no-changes"], f.deps)).toBe(0);
    expect(f.out.join("")).toContain("preview lab: no-change (0 changed; 12 same)");
  });

  it("exits 7 with --expect-no-changes when a resource would change, and --diff names it with its keys", async () => {
    const f = fakeDeps({ events: [step("update", "ssh-run", "pre", { diffs: ["contentHash"] }), summary({ same: 11, update: 1 })] });
    expect(await operate("preview", ["--expect-no-changes", "--diff"], f.deps)).toBe(7);
    expect(f.out.join("")).toMatch(/update\s+ssh-run\s+\[contentHash\]/);
  });

  it("exits 0 without --expect-no-changes even when something would change", async () => {
    const f = fakeDeps({ events: [step("update", "ssh-run"), summary({ update: 1 })] });
    expect(await operate("preview", [], f.deps)).toBe(0);
  });

  it("exits 1 with the engine's reason in one line, without the SDK's nested wrappers or a stack trace", async () => {
    const nested = "error: Running program '/w' failed with an unhandled exception:\nError: error serializing property contentHash: error serializing property contentHash: platform:secretsFile: /lab/s.sops.yaml was edited without sops: MAC mismatch (restore it)\n    at readSecrets (/w/lib/secrets.ts:60:11)";
    const f = fakeDeps({ events: [event({ diagnosticEvent: { severity: "error", message: nested, color: "never" } } as Partial<EngineEvent>)], fail: new Error("code: 255\n stderr: " + nested) });
    expect(await operate("preview", ["--expect-no-changes"], f.deps)).toBe(1);
    const errorLines = f.err.filter((l) => l.startsWith("error:"));
    expect(errorLines).toEqual(["error: platform:secretsFile: /lab/s.sops.yaml was edited without sops: MAC mismatch (restore it)"]);
    expect(f.out.join("")).toBe("");
  });

  it("prints a JSON report with --json", async () => {
    const f = fakeDeps({ events: [step("update", "k3s-run"), summary({ update: 1, same: 3 })] });
    expect(await operate("preview", ["--json", "--expect-no-changes"], f.deps)).toBe(7);
    const r = JSON.parse(f.out.join(""));
    expect(r).toMatchObject({ command: "preview", stack: "lab", correlationId: CID, outcome: "changes", exitCode: 7, changed: 1, resourceChanges: { update: 1, same: 3 } });
    expect(r.steps).toEqual([{ name: "k3s-run", type: "pulumi-nodejs:dynamic/platform:AnsiblePlaybookRun", op: "update", diffs: [] }]);
  });

  it("writes no audit record (read-only)", async () => {
    const f = fakeDeps({ events: [summary({ same: 1 })] });
    await operate("preview", [], f.deps);
    expect(f.calls.audits).toEqual([]);
  });
});

describe("refusals: before the engine runs, one line naming the key or file", () => {
  it.each([
    ["a malformed address", { configJson: labConfigJson({ hostAddress: "203.0.113.999" }) }, /^refused: platform:hostAddress: '203.0.113.999' is not an IPv4\/IPv6 address or a DNS name/],
    ["a missing key", { configJson: labConfigJson({ host: "" }) }, /^refused: platform:host: is required/],
    ["a missing SSH key file", { configJson: labConfigJson({ sshPrivateKeyPath: "/nonexistent/key" }) }, /^refused: platform:sshPrivateKeyPath: .*\/nonexistent\/key/],
    ["a tampered secrets file", { secrets: new ConfigError("secretsFile", "/lab/s.sops.yaml was edited without sops: MAC mismatch (restore it)") }, /^refused: platform:secretsFile: \/lab\/s.sops.yaml was edited without sops: MAC mismatch/],
    ["an unknown stack", { openError: new Error("unknown stack 'labb': no Pulumi.labb.yaml in /r (stacks: lab, prod)") }, /^refused: unknown stack 'labb'/],
  ])("%s", async (_what, o, line) => {
    const f = fakeDeps(o as Parameters<typeof fakeDeps>[0]);
    expect(await operate("up", ["lab"], f.deps)).toBe(1);
    expect(f.calls.ops).toEqual([]);
    const errors = f.err.filter((l) => l.startsWith("refused:"));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(line);
    expect(errors[0]).not.toMatch(/error serializing|\n| {4}at /);
    expect(f.calls.audits).toEqual([]);
  });

  it("refuses a secret in the stack config (secrets live in SOPS)", () => {
    expect(() => engineConfigSource(JSON.stringify({ "platform:hostAddress": { value: "[secret]", secret: true } }))).toThrow(/platform:hostAddress: is a Pulumi secret/);
  });

  it("refuses destroy without --yes, before opening the stack", async () => {
    const f = fakeDeps();
    expect(await operate("destroy", ["lab"], f.deps)).toBe(1);
    expect(f.calls.opened).toBe(0);
    expect(f.err.join("\n")).toContain("add --yes to confirm");
  });

  it("deploy on the lab stops when the lab does not come up, before any engine step", async () => {
    const f = fakeDeps({ labExit: 1 });
    expect(await operate("deploy", [], f.deps)).toBe(1);
    expect(f.calls.labScripts).toEqual(["up.sh"]);
    expect(f.calls.opened).toBe(0);
  });
});

describe("usage errors exit 2 naming the flag or argument", () => {
  it.each([
    [["--expect-no-change"], "unknown flag '--expect-no-change'"],
    [["lab", "prod"], "unexpected argument 'prod'"],
    [["--diff=yes"], "flag '--diff' takes no value"],
  ])("preview %j", async (argv, text) => {
    const f = fakeDeps();
    await expect(operate("preview", argv, f.deps)).rejects.toThrow(UsageError);
    await expect(operate("preview", argv, f.deps)).rejects.toThrow(text);
  });

  it("history --limit takes a positive whole number", async () => {
    await expect(history(["--limit", "x"], fakeDeps().deps)).rejects.toThrow("--limit needs a positive whole number, got 'x'");
  });
});

describe("up, refresh, destroy, deploy: the update message, the audit record, no --show-secrets", () => {
  it("up carries the correlation id in its message, passes showSecrets: false, and audits the outcome with the log", async () => {
    const f = fakeDeps({ events: [step("update", "ssh-run"), step("update", "ssh-run", "out"), summary({ update: 1, same: 10 })] });
    expect(await operate("up", ["lab", "--refresh", "--target", "**ssh-run"], f.deps)).toBe(0);
    const up = f.calls.ops.find((c) => c.op === "up")!;
    expect(up.opts).toMatchObject({ message: `up lab [Correlation-Id: ${CID}]`, showSecrets: false, refresh: true, target: ["**ssh-run"] });
    expect(f.calls.audits).toEqual([{ stack: "lab", action: "pulumi-up", outcome: "succeeded", correlationId: CID, fields: { exitCode: "0", log: expect.stringMatching(new RegExp(`pulumi-lab-up-${CID}\\.log$`)) } }]);
    expect(f.err).toContain("ssh-run: update ...");
    expect(f.err.some((l) => /^ssh-run: update done in \d+ s$/.test(l))).toBe(true);
  });

  it("up drops the retired kubectl/SOPS dynamic resources from the state before the update (their delete would remove what the provider applies), and nothing else", async () => {
    const urn = (t: string, n: string) => `urn:pulumi:lab::platform::platform:index:ArgoCd$${t}::${n}`;
    const retired = urn("pulumi-nodejs:dynamic/platform:KubectlApply", "argocd-install");
    const secret = urn("pulumi-nodejs:dynamic/platform:SopsSecret", "demo-secret");
    const domain = urn("pulumi-nodejs:dynamic/platform:AnsiblePlaybookRun", "k3s-run");
    const state = {
      version: 3,
      deployment: {
        resources: [
          { urn: retired, type: "pulumi-nodejs:dynamic/platform:KubectlApply" },
          { urn: secret, type: "pulumi-nodejs:dynamic/platform:SopsSecret", dependencies: [retired] },
          { urn: domain, type: "pulumi-nodejs:dynamic/platform:AnsiblePlaybookRun", dependencies: [retired], propertyDependencies: { x: [retired, "keep"] } },
        ],
      },
    };
    const f = fakeDeps({ state, events: [summary({ same: 1 })] });
    expect(await operate("up", ["lab"], f.deps)).toBe(0);
    expect(f.calls.ops.map((c) => c.op)).toEqual(["export", "import", "up"]);
    const imported = (f.calls.ops[1].opts.state as typeof state).deployment.resources;
    expect(imported).toEqual([{ urn: domain, type: "pulumi-nodejs:dynamic/platform:AnsiblePlaybookRun", dependencies: [], propertyDependencies: { x: ["keep"] } }]);
    expect(f.err.some((l) => l.startsWith("dropped 2 resources of the retired dynamic providers (manifest apply, SOPS secret)"))).toBe(true);
    // A state without them is not written at all.
    const g = fakeDeps({ events: [summary({ same: 1 })] });
    expect(await operate("up", ["lab"], g.deps)).toBe(0);
    expect(g.calls.ops.map((c) => c.op)).toEqual(["export", "up"]);
    // A preview never edits the state.
    const h = fakeDeps({ state, events: [summary({ same: 1 })] });
    await operate("preview", ["lab"], h.deps);
    expect(h.calls.ops.map((c) => c.op)).toEqual(["preview"]);
  });

  it("a failed up exits 1 and audits failed with the reason", async () => {
    const f = fakeDeps({ fail: new Error("code: 255\nstderr: error: update failed") });
    expect(await operate("up", [], f.deps)).toBe(1);
    expect(f.calls.audits[0]).toMatchObject({ action: "pulumi-up", outcome: "failed", fields: { exitCode: "1", error: "update failed" } });
  });

  it("refresh --preview-only --expect-no-changes exits 7 on host drift and writes nothing (no audit)", async () => {
    const drift = step("update", "postgresql-run", "out", { old: { outputs: { hostInSync: true } }, new: { outputs: { hostInSync: false, lastCheck: { changedTasks: ["postgresql : Keep PostgreSQL enabled and running"] } } } });
    const f = fakeDeps({ events: [drift, summary({ same: 11 })] });
    expect(await operate("refresh", ["--preview-only", "--expect-no-changes", "--diff"], f.deps)).toBe(7);
    expect(f.calls.ops[0].opts).toMatchObject({ previewOnly: true, showSecrets: false });
    expect(f.out.join("")).toMatch(/update\s+postgresql-run/);
    expect(f.out.join("")).toContain("would change: postgresql : Keep PostgreSQL enabled and running");
    expect(f.calls.audits).toEqual([]);
  });

  it("destroy --yes carries its message and no --show-secrets", async () => {
    const f = fakeDeps({ events: [summary({ delete: 3 })] });
    expect(await operate("destroy", ["--yes"], f.deps)).toBe(0);
    expect(f.calls.ops[0].opts).toMatchObject({ message: `destroy lab [Correlation-Id: ${CID}]`, showSecrets: false });
    expect(f.calls.audits[0]).toMatchObject({ action: "pulumi-destroy", outcome: "succeeded" });
  });

  it("deploy on the lab brings the lab up and publishes HEAD before up, and audits one deploy record", async () => {
    const f = fakeDeps({ events: [summary({ create: 20 })] });
    expect(await operate("deploy", ["lab"], f.deps)).toBe(0);
    expect(f.calls.labScripts).toEqual(["up.sh", "git-server.sh push HEAD"]);
    expect(f.calls.ops.map((c) => c.op)).toEqual(["export", "up"]);
    expect(f.calls.audits.map((a) => `${a.action} ${a.outcome}`)).toEqual(["deploy succeeded"]);
  });
});

describe("history and cancel", () => {
  const updates = [{ version: 3, kind: "update", result: "succeeded", startTime: new Date("2026-12-06T10:00:00Z"), message: `up lab [Correlation-Id: ${CID}]`, resourceChanges: { same: 10 } }];

  it("reads the structured history with showSecrets false (the SDK defaults to --show-secrets)", async () => {
    const f = fakeDeps({ history: updates as Partial<UpdateSummary>[] });
    expect(await history(["lab", "--json", "--limit", "5"], f.deps)).toBe(0);
    expect(f.calls.ops).toEqual([{ op: "history", opts: { pageSize: 5, page: 1, showSecrets: false } }]);
    expect(JSON.parse(f.out.join(""))[0]).toMatchObject({ version: 3, result: "succeeded", message: `up lab [Correlation-Id: ${CID}]` });
  });

  it("without --limit reads every page (the CLI alone returns only the newest 10)", async () => {
    const f = fakeDeps();
    const many = Array.from({ length: 130 }, (_, i) => ({ ...updates[0], version: 130 - i }));
    f.deps.open = async () => ({
      engine: { ...(await fakeDeps().deps.open("lab", { create: false, correlationId: CID })).engine, history: async (pageSize?: number, page?: number) => many.slice(((page ?? 1) - 1) * (pageSize ?? 10), (page ?? 1) * (pageSize ?? 10)) as UpdateSummary[] },
      cleanup: () => {},
    });
    expect(await history(["lab", "--json"], f.deps)).toBe(0);
    const rows = JSON.parse(f.out.join("")) as Array<{ version: number }>;
    expect(rows).toHaveLength(130);
    expect(rows[129].version).toBe(1);
  });

  it("the real adapter's history never asks the CLI for --show-secrets", async () => {
    const args: string[][] = [];
    // The SDK's own Stack.history with a command runner that records its arguments.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { Stack } = require("@pulumi/pulumi/automation") as typeof import("@pulumi/pulumi/automation");
    const fakeStack = Object.create(Stack.prototype) as SdkStack;
    Object.assign(fakeStack, {
      name: "lab",
      workspace: {},
      runPulumiCmd: async (a: string[]) => {
        args.push(a);
        return { stdout: "[]", stderr: "", code: 0 };
      },
    });
    const se = { stack: "lab", root, configFile: "/c.yaml", envVars: {}, unset: [], cleanup: () => {} };
    await engineStack(fakeStack, se).history(undefined, undefined, false);
    expect(args).toHaveLength(1);
    expect(args[0].slice(0, 3)).toEqual(["stack", "history", "--json"]);
    expect(args.flat()).not.toContain("--show-secrets");
  });

  it("the real adapter reads the config without --show-secrets (the SDK's getAllConfig adds it)", async () => {
    const runs: string[][] = [];
    const fakeStack = { workspace: { pulumiCommand: { run: async (a: string[]) => (runs.push(a), { stdout: "{}" }) } } };
    const se = { stack: "lab", root, configFile: "/c.yaml", envVars: {}, unset: [], cleanup: () => {} };
    await engineStack(fakeStack as never, se).configJson();
    expect(runs).toEqual([["config", "--json", "--stack", "lab", "--config-file", "/c.yaml"]]);
  });

  it("cancel audits its outcome", async () => {
    const f = fakeDeps();
    expect(await cancel(["lab"], f.deps)).toBe(0);
    expect(f.calls.audits[0]).toMatchObject({ action: "pulumi-cancel", outcome: "succeeded", correlationId: CID });
  });
});

describe("engine events", () => {
  it("reportFromEvents counts changes from the summary and lists the changed steps", () => {
    const r = reportFromEvents([step("same", "base-run"), step("update", "ssh-run", "pre", { diffs: ["contentHash", "__provider"] }), summary({ same: 5, update: 1 })]);
    expect(r).toEqual({ resourceChanges: { same: 5, update: 1 }, changed: 1, steps: [{ name: "ssh-run", type: "pulumi-nodejs:dynamic/platform:AnsiblePlaybookRun", op: "update", diffs: ["contentHash"] }] });
  });

  it("reportFromEvents names a changed provider code (stored outputs against new inputs), never the raw __provider key", () => {
    const r = reportFromEvents([step("update", "base-run", "pre", { old: { inputs: { __provider: "v2" }, outputs: { __provider: "v1" } }, new: { inputs: { __provider: "v2" } } })]);
    expect(r.steps).toEqual([{ name: "base-run", type: "pulumi-nodejs:dynamic/platform:AnsiblePlaybookRun", op: "update", diffs: ["provider code"] }]);
  });

  it("oneErrorLine keeps the engine's first error line when no config key is named", () => {
    const d = event({ diagnosticEvent: { severity: "error", message: "error: an unhandled error occurred:\nthe lab VPS is unreachable", color: "never" } } as Partial<EngineEvent>);
    expect(oneErrorLine([d], new Error("x"))).toBe("the lab VPS is unreachable");
  });

  it("oneErrorLine names a held state lock and its holder in the one line", () => {
    const thrown = new Error(
      "code: 255\n stdout: \n stderr: error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the lock file with `pulumi cancel`.\n" +
        "  file:///w/.lab/pulumi-state/.pulumi/locks/organization/platform/lab/5383642e-506a-400d-8a94-6fb6a073e052.json?no_tmp_dir=true: created by root@vm (pid 2347) at 2026-12-06T20:25:18Z\n",
    );
    const line = oneErrorLine([], thrown);
    expect(line.split("\n")).toHaveLength(1);
    expect(line).toMatch(/^the stack is currently locked by 1 lock\(s\)/);
    expect(line).toContain("Lock 5383642e-506a-400d-8a94-6fb6a073e052.json, created by root@vm (pid 2347) at 2026-12-06T20:25:18Z.");
  });

  it("progressFromEvents prints a start and a done line per changing step", () => {
    const lines: string[] = [];
    let t = 0;
    const p = progressFromEvents((l) => lines.push(l), () => (t += 5000));
    p(step("update", "k3s-run"));
    p(step("update", "k3s-run", "out"));
    p(step("same", "base-run"));
    expect(lines).toEqual(["k3s-run: update ...", "k3s-run: update done in 5 s"]);
  });
});
