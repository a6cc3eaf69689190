// Resources an earlier version of the program made through its own dynamic providers, which the
// Kubernetes provider replaced (ADR 0015): the `KubectlApply` manifest applier (Argo CD's install,
// projects, root Application, app namespaces) and `SopsSecret` (app Secrets), both deleted since.
// A dynamic resource's delete is the code serialized in the state, here a CLI delete of the objects: left to
// the engine, the first `up` of this version would create the provider's resources and then delete
// the old ones, taking the very objects it had just applied with them. So before an up, they are
// dropped from the state; the objects stay in the cluster and the provider's server-side apply
// takes them over (its create of an existing object is an apply).
import type { Deployment } from "@pulumi/pulumi/automation";

export const RETIRED_TYPES = ["pulumi-nodejs:dynamic/platform:KubectlApply", "pulumi-nodejs:dynamic/platform:SopsSecret"];

interface StateResource {
  urn: string;
  type: string;
  parent?: string;
  dependencies?: string[];
  propertyDependencies?: Record<string, string[]>;
  deletedWith?: string;
}

/** The state without the retired resources (and without references to them), and their URNs; the same object when there is none. */
export function withoutRetired(state: Deployment): { state: Deployment; dropped: string[] } {
  const resources = ((state.deployment as { resources?: StateResource[] }).resources ?? []) as StateResource[];
  const dropped = resources.filter((r) => RETIRED_TYPES.includes(r.type)).map((r) => r.urn);
  if (!dropped.length) return { state, dropped };
  const gone = new Set(dropped);
  const keep = (urns?: string[]) => urns?.filter((u) => !gone.has(u));
  const kept = resources
    .filter((r) => !gone.has(r.urn))
    .map((r) => {
      const out: StateResource = { ...r };
      if (r.dependencies) out.dependencies = keep(r.dependencies);
      if (r.propertyDependencies) out.propertyDependencies = Object.fromEntries(Object.entries(r.propertyDependencies).map(([k, v]) => [k, keep(v) ?? []]));
      if (r.deletedWith && gone.has(r.deletedWith)) delete out.deletedWith;
      return out;
    });
  return { state: { ...state, deployment: { ...(state.deployment as object), resources: kept } }, dropped };
}

/** Drops the retired resources from a stack's state (export, filter, import); the URNs dropped (none: nothing written). */
export async function dropRetiredResources(s: { exportStack(): Promise<Deployment>; importStack(d: Deployment): Promise<void> }): Promise<string[]> {
  const { state, dropped } = withoutRetired(await s.exportStack());
  if (dropped.length) await s.importStack(state);
  return dropped;
}
