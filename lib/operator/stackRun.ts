// The stack commands' engine side (platform deploy / up / preview / refresh / destroy / history /
// cancel: cli/commands/stack.ts), through the Pulumi Automation API and its structured engine
// events, never scraped text. What the commands take from the SDK is the `EngineStack` interface
// below, so that unit tests give a fake (tests/unit/stackCommands.test.ts).
//
// Secrets are never shown: every operation passes showSecrets: false (the SDK's own default for
// up/refresh/destroy/history is to call `stack history --show-secrets` afterwards), and the config
// is read with `config --json` without --show-secrets (the SDK's getAllConfig passes it).
import type { Deployment, DestroyOptions, EngineEvent, PreviewOptions, RefreshOptions, Stack, UpdateSummary, UpOptions } from "@pulumi/pulumi/automation";
import { ConfigError, ConfigSource } from "../config";
import { errorFromEvents, plainInputDiffs, providerCodeDiff, urnName } from "../gate/pulumiLayer";
import { StackEnv } from "../pulumiEnv";

/** What the stack commands use of an Automation API stack (a fake in unit tests). */
export interface EngineStack {
  preview(opts: PreviewOptions): Promise<unknown>;
  up(opts: UpOptions): Promise<unknown>;
  refresh(opts: RefreshOptions): Promise<unknown>;
  destroy(opts: DestroyOptions): Promise<unknown>;
  history(pageSize?: number, page?: number, showSecrets?: boolean): Promise<UpdateSummary[]>;
  cancel(): Promise<void>;
  /** The stack's config as the engine merges it (Pulumi.yaml defaults + the stack file): `config --json`. */
  configJson(): Promise<string>;
  /** The state, and its replacement (lib/operator/retiredResources.ts: the one edit the commands make). */
  exportStack(): Promise<Deployment>;
  importStack(state: Deployment): Promise<void>;
}

/** The update message every state-changing operation carries (`pulumi stack history` shows it; `platform audit show` finds it). */
export const updateMessage = (cmd: string, stack: string, cid: string) => `${cmd} ${stack} [Correlation-Id: ${cid}]`;

/** A real stack as an EngineStack: the Automation API's, plus the config read with our own arguments. */
export function engineStack(s: Stack, se: StackEnv): EngineStack {
  type Runner = { run(args: string[], cwd: string, env: Record<string, string>): Promise<{ stdout: string }> };
  return {
    preview: (o) => s.preview(o),
    up: (o) => s.up(o),
    refresh: (o) => s.refresh(o),
    destroy: (o) => s.destroy(o),
    history: (pageSize, page, showSecrets) => s.history(pageSize, page, showSecrets),
    cancel: () => s.cancel(),
    exportStack: () => s.exportStack(),
    importStack: (d) => s.importStack(d),
    // The SDK's command runner (PulumiCommand.run), not getAllConfig, which adds --show-secrets.
    configJson: async () =>
      (await (s.workspace.pulumiCommand as unknown as Runner).run(["config", "--json", "--stack", se.stack, "--config-file", se.configFile], se.root, se.envVars)).stdout,
  };
}

/** The engine's merged config (`config --json` output) as the ConfigSource that lib/config.ts validates. */
export function engineConfigSource(json: string, namespace = "platform"): ConfigSource {
  const values = new Map<string, string>();
  for (const [k, v] of Object.entries(JSON.parse(json || "{}") as Record<string, { value?: unknown; secret?: boolean }>)) {
    if (!k.startsWith(`${namespace}:`)) continue;
    const key = k.slice(namespace.length + 1);
    if (v.secret) throw new ConfigError(key, "is a Pulumi secret in the stack config: this project keeps secrets in SOPS (docs/adr/0006)");
    if (v.value !== undefined && v.value !== null) values.set(key, typeof v.value === "string" ? v.value : JSON.stringify(v.value));
  }
  return { get: (key) => values.get(key) };
}

/** One resource step of an operation, from its engine events. */
export interface StepReport {
  name: string;
  type: string;
  op: string;
  /** Input keys that differ (as the provider or the step reports them). */
  diffs: string[];
  /** A refreshed domain run: the tasks its check found would change (the host's drift). */
  changedTasks?: string[];
}

export interface OperationReport {
  /** Counts per step kind, from the engine's summary event (preview: the plan; up: what was done). */
  resourceChanges: Record<string, number>;
  /** Every step that is not "same" (nor a read). */
  steps: StepReport[];
  /** The number of resources changed (every kind but same/read/refresh). */
  changed: number;
}

const NO_CHANGE = new Set(["same", "read", "refresh"]);

/** The report of an operation from its engine events. A refresh step counts as changed when the refreshed state differs (its diffs) or the host drifted. */
export function reportFromEvents(events: EngineEvent[]): OperationReport {
  const steps = new Map<string, StepReport>();
  let resourceChanges: Record<string, number> | undefined;
  for (const e of events) {
    if (e.summaryEvent) resourceChanges = { ...(e.summaryEvent.resourceChanges ?? {}) } as Record<string, number>;
    const m = e.resOutputsEvent?.metadata ?? e.resourcePreEvent?.metadata;
    if (!m || m.type === "pulumi:pulumi:Stack") continue;
    // Node.js dynamic providers do not report which keys differ: the plain inputs are compared
    // here too (a secret input, a domain's contentHash, stays masked: `platform gate` names the file).
    const diffs = new Set([...(m.diffs ?? []), ...Object.keys(m.detailedDiff ?? {}), ...plainInputDiffs(m.old?.inputs, m.new?.inputs), ...providerCodeDiff(m.old, m.new)]);
    const hostDrifted = (m.old?.outputs as { hostInSync?: unknown } | undefined)?.hostInSync !== false && (m.new?.outputs as { hostInSync?: unknown } | undefined)?.hostInSync === false;
    if (hostDrifted) diffs.add("hostInSync");
    diffs.delete("__provider");
    const changed = !NO_CHANGE.has(m.op) || (m.op === "refresh" && diffs.size > 0);
    if (!changed) continue;
    const name = urnName(m.urn);
    const prev = steps.get(m.urn);
    const step: StepReport = { name, type: m.type, op: m.op === "refresh" ? "update" : m.op, diffs: [...new Set([...(prev?.diffs ?? []), ...diffs])].sort() };
    // (The refreshed outputs come with the step's end event, whose op is the refresh's outcome.)
    const newOut = m.new?.outputs as { hostInSync?: unknown; lastCheck?: { changedTasks?: unknown } } | undefined;
    const tasks = newOut?.lastCheck?.changedTasks;
    if (newOut?.hostInSync === false && Array.isArray(tasks) && tasks.length) step.changedTasks = tasks.map(String);
    else if (prev?.changedTasks) step.changedTasks = prev.changedTasks;
    steps.set(m.urn, step);
  }
  const list = [...steps.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const counted = resourceChanges ? Object.entries(resourceChanges).filter(([k]) => !NO_CHANGE.has(k)).reduce((n, [, v]) => n + v, 0) : 0;
  return { resourceChanges: resourceChanges ?? {}, steps: list, changed: Math.max(counted, list.length) };
}

/**
 * A failure of the engine or the program as one line: the first error diagnostic, without the
 * SDK's wrappers (`error serializing property contentHash: ...` repeated once per nesting level, the
 * unhandled-exception banner, the stack trace). A ConfigError (lib/config.ts, lib/secrets.ts) is cut
 * to its own `platform:<key>: <what and the fix>`.
 */
export function oneErrorLine(events: EngineEvent[], thrown: unknown): string {
  const thrownText = thrown instanceof Error ? thrown.message : String(thrown ?? "");
  const diag = events
    .map((e) => e.diagnosticEvent)
    .filter((d): d is NonNullable<EngineEvent["diagnosticEvent"]> => !!d && d.severity === "error")
    .map((d) => d.message)
    .join("\n");
  // eslint-disable-next-line no-control-regex
  const text = `${diag}\n${thrownText}`.replace(/\u001b\[[0-9;]*m/g, "");
  const config = /platform:[A-Za-z]+: [^\n]*/.exec(text);
  if (config) return config[0].trim();
  // The SDK's CommandError: "code: N\n stdout: ...\n stderr: ...": the CLI's own "error: ..." line.
  const line = errorFromEvents(events) ?? /(?:^|\s)error: (.+)/m.exec(thrownText)?.[1].trim() ?? thrownText.split("\n").map((l) => l.trim()).find(Boolean);
  const first = (line ?? "the operation failed").replace(/^(\w*Error: )?(error serializing property [^:]+: )+/, "").replace(/^\w*Error: /, "");
  // A held state lock: the CLI names the lock and its holder on the next line; the operator needs
  // both (which process to wait for, or what `platform cancel` would remove) in the one line.
  const holder = /currently locked/.test(first) ? /([0-9a-f-]{36}\.json)[^:\s]*: (created by [^\n]+)/.exec(text) : null;
  return holder ? `${first} Lock ${holder[1]}, ${holder[2].trim()}.` : first;
}

/** Progress lines from engine events: a line when a resource step starts and when it is done (with its duration). */
export function progressFromEvents(progress: (line: string) => void, clock: () => number = Date.now): (e: EngineEvent) => void {
  const started = new Map<string, number>();
  return (e) => {
    const pre = e.resourcePreEvent?.metadata;
    // A refresh step is a domain's check run (minutes): it gets its lines too.
    if (pre && pre.type !== "pulumi:pulumi:Stack" && pre.op !== "same" && pre.op !== "read") {
      started.set(pre.urn, clock());
      progress(`${urnName(pre.urn)}: ${pre.op} ...`);
    }
    const out = e.resOutputsEvent?.metadata;
    if (out && started.has(out.urn)) {
      progress(`${urnName(out.urn)}: ${out.op} done in ${Math.round((clock() - started.get(out.urn)!) / 1000)} s`);
      started.delete(out.urn);
    }
  };
}
