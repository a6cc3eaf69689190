// The drift report's Pulumi layer: a refresh preview of the stack through the Automation API (no
// state written), read from the engine's structured events, never from --diff text, never with
// --show-secrets. Its reads of the domains' runs are Ansible check runs (components/
// ansiblePlaybookRun.ts read): each refreshed run says, in its new outputs, whether the host is in
// sync and which evidence record its check wrote, so the host layer is read from the same pass.
import type { EngineEvent, Stack } from "@pulumi/pulumi/automation";
import { errorFromEvents, urnName } from "../gate/pulumiLayer";
import { PulumiLayer } from "./report";

/** A domain's check, as its refreshed run resource reports it. */
export interface DomainCheck {
  domain: string;
  hostInSync?: boolean;
  /** The check's evidence record, project-relative (lastCheck.evidenceFile). */
  evidenceFile?: string;
}

type Meta = NonNullable<EngineEvent["resourcePreEvent"]>["metadata"];

const isRun = (m: Meta) => m.type.endsWith(":AnsiblePlaybookRun") && urnName(m.urn).endsWith("-run");

/** Steps a refresh preview reports that leave the resource as it is in the state. */
const UNCHANGED = new Set(["same", "read", "refresh"]);

/** The resources whose refreshed state differs, and each domain's check, from the refresh's events. */
export function refreshFromEvents(events: EngineEvent[]): { layer: PulumiLayer; checks: DomainCheck[] } {
  const changed = new Set<string>();
  const checks = new Map<string, DomainCheck>();
  let hostInSyncFalse = false;
  for (const e of events) {
    const m = e.resOutputsEvent?.metadata ?? e.resourcePreEvent?.metadata;
    if (!m || m.type === "pulumi:pulumi:Stack" || m.type.startsWith("pulumi:providers:")) continue;
    const name = urnName(m.urn);
    const oldOut = (m.old?.outputs ?? {}) as Record<string, unknown>;
    const newOut = (m.new?.outputs ?? {}) as Record<string, unknown>;
    // A refresh step that changed the state: the engine's op, or the provider's diff keys.
    if (!UNCHANGED.has(m.op) || (m.diffs ?? []).length > 0 || Object.keys(m.detailedDiff ?? {}).length > 0) changed.add(name);
    if (isRun(m) && e.resOutputsEvent) {
      const domain = name.slice(0, -4);
      const inSync = newOut.hostInSync as boolean | undefined;
      const last = newOut.lastCheck as { evidenceFile?: string } | undefined;
      checks.set(domain, { domain, hostInSync: inSync, evidenceFile: last?.evidenceFile });
      if (oldOut.hostInSync !== false && inSync === false) {
        hostInSyncFalse = true;
        changed.add(name);
      }
    }
  }
  const resources = [...changed].sort();
  return { layer: { status: resources.length ? "drifted" : "clean", resources, hostInSyncFalse }, checks: [...checks.values()].sort((a, b) => (a.domain < b.domain ? -1 : 1)) };
}

/** Runs the refresh preview; throws the engine's reason in one line when it fails. */
export async function refreshPreview(stack: Stack, configFile: string): Promise<EngineEvent[]> {
  const events: EngineEvent[] = [];
  try {
    await stack.refresh({ previewOnly: true, configFile, onEvent: (e) => events.push(e), color: "never", suppressOutputs: true, suppressProgress: true } as Parameters<Stack["refresh"]>[0]);
  } catch (e) {
    const first = (e instanceof Error ? e.message : String(e)).split("\n").map((l) => l.trim()).find((l) => /error/i.test(l));
    throw new Error(errorFromEvents(events) ?? first ?? "the refresh preview failed");
  }
  return events;
}
