// The gate's Pulumi layer: a preview of the PR's program against the stack, read from the
// engine's structured events (never scraped text, never --show-secrets): each resource step
// other than "same" is a change, with the input keys the provider reported.
import type { EngineEvent, Stack } from "@pulumi/pulumi/automation";
import { ResourceChange } from "./report";

/** Steps that change nothing (a read of an external resource included). */
const NO_CHANGE = new Set(["same", "read", "refresh"]);

/** The resource name of a URN (its last "::" segment). */
export function urnName(urn: string): string {
  return urn.slice(urn.lastIndexOf("::") + 2);
}

// A secret in the engine's events is an object carrying the SDK's signature key (loaded when used).
const isSecret = (v: unknown) => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const sig = (require("@pulumi/pulumi/runtime/rpc") as typeof import("@pulumi/pulumi/runtime/rpc")).specialSigKey;
  return v !== null && typeof v === "object" && sig in (v as object);
};

/** Keys whose plain (non-secret) input value differs between the old and the new state; the serialized provider is not an input of ours. */
export function plainInputDiffs(olds: Record<string, unknown> | undefined, news: Record<string, unknown> | undefined): string[] {
  if (!olds || !news) return [];
  return [...new Set([...Object.keys(olds), ...Object.keys(news)])].filter((k) => k !== "__provider" && !isSecret(olds[k]) && !isSecret(news[k]) && JSON.stringify(olds[k]) !== JSON.stringify(news[k]));
}

/**
 * "provider code" when a Node.js dynamic resource's serialized provider changed since its last
 * create or update (stored outputs against the new inputs): its run is due once for that
 * (components/ansiblePlaybookRun.ts diff), which no input key of ours explains.
 */
export function providerCodeDiff(old: { outputs?: Record<string, unknown> } | undefined, next: { inputs?: Record<string, unknown> } | undefined): string[] {
  const a = old?.outputs?.__provider;
  const b = next?.inputs?.__provider;
  return typeof a === "string" && typeof b === "string" && a !== b ? ["provider code"] : [];
}

/** The changes and the unchanged count, from a preview's engine events. */
export function changesFromEvents(events: EngineEvent[]): { changes: ResourceChange[]; unchanged: number } {
  const changes: ResourceChange[] = [];
  let unchanged = 0;
  for (const e of events) {
    const m = e.resourcePreEvent?.metadata;
    if (!m) continue;
    if (NO_CHANGE.has(m.op)) {
      unchanged++;
      continue;
    }
    const name = urnName(m.urn);
    // Node.js dynamic providers cannot report which keys differ (the SDK's provider server drops
    // detailedDiff): compare the plain inputs of the step ourselves. Secret inputs (a domain's
    // contentHash) are masked in both: the gate infers them from the files (lib/gate/why.ts).
    const keys = new Set([...(m.diffs ?? []), ...Object.keys(m.detailedDiff ?? {}), ...plainInputDiffs(m.old?.inputs, m.new?.inputs), ...providerCodeDiff(m.old, m.new)]);
    keys.delete("__provider");
    if ((m.old?.outputs as { hostInSync?: unknown } | undefined)?.hostInSync === false) keys.add("hostInSync");
    const change: ResourceChange = { urn: m.urn, type: m.type, name, op: m.op, diffs: [...keys].sort() };
    // A domain's run: AnsiblePlaybookRun "<domain>-run" (components/ansibleDomain.ts).
    if (m.type.endsWith(":AnsiblePlaybookRun") && name.endsWith("-run")) change.domain = name.slice(0, -4);
    changes.push(change);
  }
  return { changes, unchanged };
}

/** The first line of the first error diagnostic (the engine's reason), without colour codes. */
export function errorFromEvents(events: EngineEvent[]): string | undefined {
  for (const e of events) {
    const d = e.diagnosticEvent;
    if (d && d.severity === "error") {
      // eslint-disable-next-line no-control-regex
      const lines = d.message.replace(/\u001b\[[0-9;]*m/g, "").split("\n").map((l) => l.trim()).filter(Boolean);
      const line = lines.find((l) => !/^(error: )?(an unhandled error occurred|Program failed with an unhandled exception|Running program .* failed with an unhandled exception):?$/i.test(l)) ?? lines[0];
      if (line) return line.replace(/^error: /, "");
    }
  }
  return undefined;
}

export async function previewChanges(stack: Stack, configFile: string): Promise<{ changes: ResourceChange[]; unchanged: number }> {
  const events: EngineEvent[] = [];
  try {
    await stack.preview({ configFile, onEvent: (e) => events.push(e), color: "never", suppressOutputs: true, suppressProgress: true });
  } catch (e) {
    const first = (e instanceof Error ? e.message : String(e)).split("\n").map((l) => l.trim()).find((l) => /error/i.test(l));
    throw new Error(errorFromEvents(events) ?? first ?? "the preview failed");
  }
  return changesFromEvents(events);
}
