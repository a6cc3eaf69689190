// The stack commands: `platform deploy | up | preview | refresh | destroy | history | cancel`, the
// Pulumi side of the operator's job through the Automation API (lib/operator/stackRun.ts,
// docs/adr/0016-stack-commands-on-the-automation-api.md). One correlation id per command, in the
// update message (`<cmd> <stack> [Correlation-Id: <id>]`), the program's environment (every Ansible
// run carries it), the log's name and the audit record. The stack config is read once, as the engine
// merges it, and validated by lib/config.ts (and the SOPS file by lib/secrets.ts) before the engine
// runs: a bad key, file or secret is refused in one line naming it, and nothing is changed.
//
// Only types and the flag parser are imported at the top: `platform <cmd> --help` loads this file
// and must stay well under a second; the modules a run needs are required when it runs.
import * as fs from "fs";
import * as path from "path";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import type { PlatformConfig } from "../../lib/config";
import type { AuditRecord } from "../../lib/operator/audit";
import type { EngineStack, OperationReport } from "../../lib/operator/stackRun";
import { FlagSpec, parseFlags, UsageError } from "../args";
import { runLabScript } from "../labScript";
import type { Command } from "../platform";

/* eslint-disable @typescript-eslint/no-require-imports */
const load = () => ({
  ...(require("../../lib/operator/stackRun") as typeof import("../../lib/operator/stackRun")),
  ...(require("../../lib/config") as typeof import("../../lib/config")),
  ...(require("../../lib/operator/correlation") as typeof import("../../lib/operator/correlation")),
  ...(require("../../lib/operator/retiredResources") as typeof import("../../lib/operator/retiredResources")),
});
/* eslint-enable @typescript-eslint/no-require-imports */

const errorLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];
/** A path as reports keep it: relative to the repository when inside it. */
const relToRoot = (root: string, p: string) => (p.startsWith(root + path.sep) ? path.relative(root, p) : p);

/** What the stack commands take from the world (fakes in tests/unit/stackCommands.test.ts). */
export interface StackDeps {
  root: string;
  env: NodeJS.ProcessEnv;
  /** Prepares the stack's environment (the lab's stack created when `create`) and opens it with the pinned CLI. */
  open(stack: string, o: { create: boolean; correlationId: string }): Promise<{ engine: EngineStack; cleanup(): void }>;
  /** The SOPS file decrypts and is intact (lib/secrets.ts: throws a ConfigError naming the key). */
  checkSecrets(config: PlatformConfig): Promise<void>;
  /** Runs scripts/lab/<script> (the lab's bash plumbing); resolves to its exit code. */
  labScript(script: string, args: string[]): Promise<number>;
  audit(a: { stack: string; action: string; outcome: string; correlationId: string; fields?: Record<string, string> }): AuditRecord;
  /** One line on stderr for each step that can take more than a few seconds. */
  progress(line: string): void;
  /** The report (stdout). */
  out(text: string): void;
}

type Kind = "deploy" | "up" | "preview" | "refresh" | "destroy";

const COMMON = `  STACK                a stack: Pulumi.<STACK>.yaml exists beside Pulumi.yaml (default: lab)
  --json               print the report as JSON (stdout); progress stays on stderr`;

const HELPS: Record<Kind | "history" | "cancel", string> = {
  deploy: `usage: platform deploy [STACK] [--json]

The main job. On the lab: bring the lab up (scripts/lab/up.sh), publish this checkout's HEAD to the
lab's Git server (Argo CD reads gitops/ there), create the lab stack when missing, then \`up\`.
On another stack (prod): \`up\` with the operator's own backend and keys.
${COMMON}

Exit: 0 deployed, 1 failed or refused (one line says why), 2 usage.
`,
  up: `usage: platform up [STACK] [--refresh] [--target URN] [--json]

Converge the stack (pulumi up, no preview prompt) under one correlation id.
${COMMON}
  --refresh            refresh the state first (each domain's check run): a drifted domain converges
  --target URN         only this resource (a glob such as '**postgresql-run' works)

Exit: 0 succeeded, 1 failed or refused, 2 usage.
`,
  preview: `usage: platform preview [STACK] [--expect-no-changes] [--diff] [--json]

What \`up\` would change (read-only; the gate).
${COMMON}
  --expect-no-changes  the gate: exit 7 when anything would change
  --diff               list each resource that would change with the inputs that differ

Exit: 0 no change (or, without --expect-no-changes, any preview that ran), 7 changes expected,
1 broken (one line says why), 2 usage.
`,
  refresh: `usage: platform refresh [STACK] [--preview-only] [--expect-no-changes] [--diff] [--target URN] [--json]

Read the real state of every resource (each domain's run is an Ansible check pass) into the stack.
${COMMON}
  --preview-only       write nothing: report what the refresh would change (host drift)
  --expect-no-changes  exit 7 when the refresh finds a difference
  --diff               list each resource that differs with the keys that differ
  --target URN         only this resource

Exit: 0 no difference (or a refresh that ran), 7 differences with --expect-no-changes, 1 broken, 2 usage.
`,
  destroy: `usage: platform destroy [STACK] --yes [--json]

Remove every resource of the stack from its state. The hosts are left as they are (a domain's run
un-configures nothing); Argo CD and its apps are deleted from the cluster.
${COMMON}
  --yes                required: there is no prompt

Exit: 0 destroyed, 1 failed or refused, 2 usage.
`,
  history: `usage: platform history [STACK] [--limit N] [--json]

The stack's updates, newest first, each with its correlation id (in its message). Secret values are
never shown (no --show-secrets).
${COMMON}
  --limit N            the newest N updates only

Exit: 0, 1 the history could not be read, 2 usage.
`,
  cancel: `usage: platform cancel [STACK]

End the stack's update in progress (an \`up\` whose process died leaves the stack locked).
${COMMON.split("\n")[0]}

Exit: 0 cancelled, 1 failed, 2 usage.
`,
};

const FLAGS = {
  deploy: { json: "boolean" },
  up: { json: "boolean", refresh: "boolean", target: "string" },
  preview: { json: "boolean", "expect-no-changes": "boolean", diff: "boolean" },
  refresh: { json: "boolean", "preview-only": "boolean", "expect-no-changes": "boolean", diff: "boolean", target: "string" },
  destroy: { json: "boolean", yes: "boolean" },
  history: { json: "boolean", limit: "string" },
  cancel: {},
} satisfies Record<string, FlagSpec>;

/** The stack operand: at most one, default lab. */
function stackOperand(cmd: string, rest: string[]): string {
  if (rest.length > 1) throw new UsageError(`${cmd}: unexpected argument '${rest[1]}' (usage: platform ${cmd} [STACK] ...)`);
  return rest[0] ?? "lab";
}

export interface StackReport extends Partial<OperationReport> {
  command: Kind;
  stack: string;
  correlationId: string;
  outcome: "succeeded" | "no-change" | "changes" | "failed" | "refused";
  exitCode: number;
  log?: string;
  error?: string;
}

function render(r: StackReport, diff: boolean): string {
  const lines: string[] = [];
  {
    const counts = Object.entries(r.resourceChanges ?? {})
      .map(([k, v]) => `${v} ${k}`)
      .join(", ");
    lines.push(`${r.command} ${r.stack}: ${r.outcome} (${r.changed ?? 0} changed${counts ? `; ${counts}` : ""})`);
    if (diff || r.command !== "preview") {
      for (const s of r.steps ?? []) {
        lines.push(`  ${s.op.padEnd(8)} ${s.name}${diff && s.diffs.length ? `  [${s.diffs.join(", ")}]` : ""}`);
        if (diff) for (const t of s.changedTasks ?? []) lines.push(`             would change: ${t}`);
      }
    }
  }
  lines.push(`correlation id ${r.correlationId}${r.log ? `, log ${r.log}` : ""}`);
  return lines.join("\n") + "\n";
}

/** Runs one engine operation (preview, up, refresh, destroy; deploy = lab plumbing + up). */
export async function operate(kind: Kind, argv: string[], deps: StackDeps): Promise<number> {
  const { flags, rest } = parseFlags(kind, argv, FLAGS[kind] as FlagSpec);
  const f = flags as Record<string, string | boolean | undefined>;
  const stack = stackOperand(kind, rest);
  const { correlationId: correlationIdOf, dropRetiredResources, engineConfigSource, evidenceRoot, oneErrorLine, progressFromEvents, readPlatformConfig, reportFromEvents, updateMessage } = load();
  const cid = correlationIdOf(deps.env);
  const expectNoChanges = f["expect-no-changes"] === true;
  const previewOnly = kind === "preview" || f["preview-only"] === true;
  const report: StackReport = { command: kind, stack, correlationId: cid, outcome: "failed", exitCode: 1 };
  const writes = !previewOnly;
  const action = kind === "deploy" ? "deploy" : `pulumi-${kind}`;
  const finish = (): number => {
    if (writes && report.outcome !== "refused") {
      deps.audit({ stack, action, outcome: report.exitCode === 0 ? "succeeded" : "failed", correlationId: cid, fields: { exitCode: String(report.exitCode), ...(report.log ? { log: report.log } : {}), ...(report.error ? { error: report.error } : {}) } });
    }
    if (f.json) deps.out(JSON.stringify(report, null, 2) + "\n");
    // A failure or refusal is one line on stderr: what is wrong and the fix, nothing nested.
    else if (report.error) deps.progress(`${report.outcome === "refused" ? "refused" : "error"}: ${report.error}`);
    else deps.out(render(report, f.diff === true));
    return report.exitCode;
  };
  const refuse = (why: string): number => {
    report.outcome = "refused";
    report.error = why;
    return finish();
  };
  if (kind === "destroy" && f.yes !== true) return refuse(`destroy removes every resource of stack '${stack}': add --yes to confirm`);
  deps.progress(`${kind} ${stack}, correlation id ${cid}`);

  if (kind === "deploy" && stack === "lab") {
    deps.progress("bringing the lab up (scripts/lab/up.sh)");
    if ((await deps.labScript("up.sh", [])) !== 0) return refuse("the lab did not come up (scripts/lab/up.sh failed: see its lines above)");
    // Argo CD in the lab reads gitops/ from the lab's Git server: publish this checkout's HEAD as its
    // main branch (in prod, Argo CD reads the real remote that CI merges to).
    deps.progress("publishing HEAD to the lab's Git server (scripts/lab/git-server.sh push HEAD)");
    if ((await deps.labScript("git-server.sh", ["push", "HEAD"])) !== 0) return refuse("cannot publish HEAD to the lab's Git server (scripts/lab/git-server.sh push HEAD failed)");
  }

  let opened: { engine: EngineStack; cleanup(): void } | undefined;
  const events: EngineEvent[] = [];
  let logFd: number | undefined;
  try {
    deps.progress(`preparing stack ${stack} (pinned toolchain, ${kind === "deploy" || kind === "up" ? "stack created when missing" : "existing stack"})`);
    try {
      opened = await deps.open(stack, { create: kind === "deploy" || kind === "up", correlationId: cid });
    } catch (e) {
      return refuse(errorLine(e));
    }
    // The config, read once as the engine merges it, validated before the engine runs anything.
    let config: PlatformConfig;
    try {
      config = readPlatformConfig(engineConfigSource(await opened.engine.configJson()), deps.root);
      deps.progress(`checking the secrets file ${relToRoot(deps.root, config.secretsFile)}`);
      await deps.checkSecrets(config);
    } catch (e) {
      return refuse(oneErrorLine([], e));
    }
    const evidence = evidenceRoot(deps.root, deps.env, config.evidenceDir);
    fs.mkdirSync(evidence, { recursive: true });
    const logFile = path.join(evidence, `pulumi-${stack}-${kind === "deploy" ? "up" : kind}-${cid}.log`);
    report.log = relToRoot(deps.root, logFile);
    logFd = fs.openSync(logFile, "a");
    const write = (t: string) => fs.writeSync(logFd!, t);
    const onProgress = progressFromEvents(deps.progress);
    const common = {
      color: "never" as const,
      onOutput: write,
      onError: write,
      onEvent: (e: EngineEvent) => {
        events.push(e);
        onProgress(e);
      },
      // The SDK reads the stack's last update after an operation with --show-secrets unless told not to.
      showSecrets: false,
      target: typeof f.target === "string" ? [f.target] : undefined,
    };
    try {
      if (kind === "preview") {
        deps.progress(`previewing ${stack} (runs the program; nothing is changed)`);
        await opened.engine.preview({ ...common, diff: false });
      } else if (kind === "refresh") {
        deps.progress(`refreshing ${stack}${previewOnly ? " (preview only: nothing is written)" : ""}: each domain's run is an Ansible check pass`);
        await opened.engine.refresh({ ...common, previewOnly, message: updateMessage("refresh", stack, cid) } as Parameters<EngineStack["refresh"]>[0]);
      } else if (kind === "destroy") {
        deps.progress(`destroying ${stack}`);
        await opened.engine.destroy({ ...common, message: updateMessage("destroy", stack, cid) });
      } else {
        const dropped = await dropRetiredResources(opened.engine);
        if (dropped.length) {
          write(`dropped from the state before the update (retired dynamic resources, ADR 0015):\n${dropped.map((u) => `  ${u}\n`).join("")}`);
          deps.progress(`dropped ${dropped.length} resources of the retired dynamic providers (manifest apply, SOPS secret) from the state (ADR 0015): their objects stay, the Kubernetes provider takes them over (list in ${report.log})`);
        }
        deps.progress(`up ${stack}: converging every domain that is due (one Ansible run each), then Argo CD`);
        await opened.engine.up({ ...common, refresh: f.refresh === true, message: updateMessage("up", stack, cid) });
      }
    } catch (e) {
      report.error = oneErrorLine(events, e);
      return finish();
    }
    Object.assign(report, reportFromEvents(events));
    if (previewOnly) {
      report.outcome = report.changed ? "changes" : "no-change";
      report.exitCode = expectNoChanges && report.changed ? 7 : 0;
    } else {
      report.outcome = "succeeded";
      report.exitCode = expectNoChanges && report.changed ? 7 : 0;
    }
    return finish();
  } finally {
    if (logFd !== undefined) fs.closeSync(logFd);
    opened?.cleanup();
  }
}

/**
 * Every update, page by page: the CLI returns only the newest 10 without --page-size, and the SDK
 * passes a page size only when it is not 0. Bounded: at most HISTORY_PAGES pages.
 */
const HISTORY_PAGE = 100;
const HISTORY_PAGES = 1000;
async function allUpdates(engine: EngineStack) {
  const all = [];
  for (let page = 1; page <= HISTORY_PAGES; page++) {
    const batch = await engine.history(HISTORY_PAGE, page, false);
    all.push(...batch);
    if (batch.length < HISTORY_PAGE) return all;
  }
  throw new Error(`the stack history has more than ${HISTORY_PAGE * HISTORY_PAGES} updates: use --limit`);
}

/** `platform history`: the stack's updates from the structured history, never with --show-secrets. */
export async function history(argv: string[], deps: StackDeps): Promise<number> {
  const { flags, rest } = parseFlags("history", argv, FLAGS.history);
  const stack = stackOperand("history", rest);
  const { correlationId: correlationIdOf, oneErrorLine } = load();
  const limit = flags.limit === undefined ? undefined : Number(flags.limit);
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new UsageError(`history: --limit needs a positive whole number, got '${flags.limit}'`);
  let opened: { engine: EngineStack; cleanup(): void } | undefined;
  try {
    opened = await deps.open(stack, { create: false, correlationId: correlationIdOf(deps.env) });
    // showSecrets false: the SDK's history() adds --show-secrets unless told not to.
    const updates = limit ? await opened.engine.history(limit, 1, false) : await allUpdates(opened.engine);
    const rows = updates.map((u) => ({ version: u.version, kind: u.kind, result: u.result, startTime: u.startTime, endTime: u.endTime, message: u.message, resourceChanges: u.resourceChanges ?? {} }));
    if (flags.json) deps.out(JSON.stringify(rows, null, 2) + "\n");
    else {
      const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : String(d ?? ""));
      deps.out(rows.map((u) => `v${u.version} ${u.kind} ${u.result} ${iso(u.startTime)} ${u.message}  ${JSON.stringify(u.resourceChanges)}`).join("\n") + (rows.length ? "\n" : `no updates on stack ${stack}\n`));
    }
    return 0;
  } catch (e) {
    process.stderr.write(`platform history: error: ${oneErrorLine([], e)}\n`);
    return 1;
  } finally {
    opened?.cleanup();
  }
}

/** `platform cancel`: ends the update in progress (the stack's lock). */
export async function cancel(argv: string[], deps: StackDeps): Promise<number> {
  const { rest } = parseFlags("cancel", argv, FLAGS.cancel);
  const stack = stackOperand("cancel", rest);
  const { correlationId: correlationIdOf, oneErrorLine } = load();
  const cid = correlationIdOf(deps.env);
  let opened: { engine: EngineStack; cleanup(): void } | undefined;
  try {
    opened = await deps.open(stack, { create: false, correlationId: cid });
    deps.progress(`cancelling the update in progress on ${stack}`);
    await opened.engine.cancel();
    deps.audit({ stack, action: "pulumi-cancel", outcome: "succeeded", correlationId: cid });
    deps.out(`cancel ${stack}: the update in progress was cancelled (correlation id ${cid})\n`);
    return 0;
  } catch (e) {
    const why = oneErrorLine([], e);
    deps.audit({ stack, action: "pulumi-cancel", outcome: "failed", correlationId: cid, fields: { error: why } });
    process.stderr.write(`platform cancel: error: ${why}\n`);
    return 1;
  } finally {
    opened?.cleanup();
  }
}

/** The command line's deps: the pinned CLI through lib/pulumiEnv.ts, the lab scripts, the audit log. */
export function realStackDeps(command: string, root: string, env: NodeJS.ProcessEnv = process.env): StackDeps {
  /* eslint-disable @typescript-eslint/no-require-imports */
  const pe = require("../../lib/pulumiEnv") as typeof import("../../lib/pulumiEnv");
  const sr = require("../../lib/operator/stackRun") as typeof import("../../lib/operator/stackRun");
  /* eslint-enable @typescript-eslint/no-require-imports */
  const progress = (line: string) => process.stderr.write(`platform ${command}: ${line}\n`);
  let toolsPath: string | undefined;
  return {
    root,
    env,
    async open(stack, o) {
      if (o.create && stack === "lab") await pe.ensureLabStack(root, env, progress);
      const se = pe.prepareStackEnv(stack, root, env);
      se.envVars.PLATFORM_CORRELATION_ID = o.correlationId;
      toolsPath = se.envVars.PATH;
      try {
        const s = await pe.openStack(se);
        const engine = sr.engineStack(s, se);
        // Every engine operation runs on the stack env's config file and leaves the checkout's
        // Pulumi.<stack>.yaml as it was (the CLI would save the passphrase salt into it).
        const withFile = <T extends object>(opts: T) => ({ ...opts, configFile: se.configFile });
        const keep = <T>(fn: () => Promise<T>) => pe.keepingStackFile(se, fn);
        return {
          engine: {
            ...engine,
            preview: (x) => keep(() => engine.preview(withFile(x))),
            up: (x) => keep(() => engine.up(withFile(x))),
            refresh: (x) => keep(() => engine.refresh(withFile(x))),
            destroy: (x) => keep(() => engine.destroy(withFile(x))),
          },
          cleanup: se.cleanup,
        };
      } catch (e) {
        se.cleanup();
        throw e;
      }
    },
    async checkSecrets(config) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { readSecrets } = require("../../lib/secrets") as typeof import("../../lib/secrets");
      // sops: the pinned build, first on the stack env's PATH (as the program has it).
      const previous = process.env.PATH;
      if (toolsPath) process.env.PATH = toolsPath;
      try {
        await readSecrets(config.secretsFile, config.ageKeyFile);
      } finally {
        process.env.PATH = previous;
      }
    },
    labScript: (script, args) => runLabScript(root, env, script, args),
    audit: (a) => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { appendAudit } = require("../../lib/operator/audit") as typeof import("../../lib/operator/audit");
      return appendAudit(root, a, env);
    },
    progress,
    out: (t) => process.stdout.write(t),
  };
}

const rootOf = () => path.resolve(__dirname, "../..");

const command = (kind: Kind): Command => ({ help: HELPS[kind], run: (argv) => operate(kind, argv, realStackDeps(kind, rootOf())) });
export const deploy = command("deploy");
export const up = command("up");
export const preview = command("preview");
export const refresh = command("refresh");
export const destroy = command("destroy");
export const historyCommand: Command = { help: HELPS.history, run: (argv) => history(argv, realStackDeps("history", rootOf())) };
export const cancelCommand: Command = { help: HELPS.cancel, run: (argv) => cancel(argv, realStackDeps("cancel", rootOf())) };
