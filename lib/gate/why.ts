// Why a domain's run is due, in the reviewer's words: the files of its inputs (role, playbook,
// inventory, ansible.cfg: lib/domainInputs.ts isDomainInput) that changed between the
// base and the PR, or the other triggers the provider reported. Pure.

export interface WhyInput {
  /** Keys the provider's diff reported (components/ansiblePlaybookRun.ts TRIGGERS, hostInSync). */
  diffs: string[];
  /** Files changed between the merge base and head (project-relative). */
  changedFiles: string[];
  /** Whether a project-relative path is one of the domain's inputs. */
  isInput: (file: string) => boolean;
  /** The stack's SOPS file, project-relative when inside the project. */
  secretsFile?: string;
  /** toolchain/versions.env keys the domain reads whose value changed. */
  changedPins?: string[];
}

/**
 * The reasons, files first. Input files are looked for whatever the engine reported: a secret
 * input (the content hash) is masked in the preview's events, so a changed input file is what
 * tells that the hash changed.
 */
export function whyDomain(w: WhyInput): string[] {
  const out: string[] = [];
  out.push(...w.changedFiles.filter((f) => w.isInput(f)).sort());
  out.push(...(w.changedPins ?? []).map((k) => `toolchain/versions.env ${k}`));
  if (w.secretsFile && w.changedFiles.includes(w.secretsFile)) out.push(`secrets hash (${w.secretsFile} changed)`);
  if (w.diffs.includes("host")) out.push("target host changed");
  if (w.diffs.includes("hostAddress")) out.push("target address changed");
  if (w.diffs.includes("domain")) out.push("domain renamed");
  if (w.diffs.includes("hostInSync")) out.push("the last refresh found the host drifted from this domain (up converges it)");
  if (w.diffs.includes("provider code")) out.push("the provider code changed (components/ansiblePlaybookRun.ts or what it captures): up re-runs the domain once so that refresh runs the new code");
  if (out.length === 0) {
    out.push("content hash differs from the deployed one but no input changed between base and head: secrets rotated, or the stack was deployed from another revision");
  }
  return out;
}

/** Whether the reasons say the content hash changed (an input file, pin or the secrets). */
export const hashChanged = (why: string[]) => why.some((r) => !/^(target |domain renamed|the last refresh|the provider code)/.test(r));
