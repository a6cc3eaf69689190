// What resync, rollback and audit take from the world, in one place so that unit tests give fakes
// (tests/unit/operator*.test.ts): the cluster of a stack, Git remotes, the audit log, the clock,
// the progress lines. `realDeps` is the command line's.
import * as fs from "fs";
import * as path from "path";
import { evidenceRoot, PlatformConfig } from "../config";
import { appendAudit, AuditRecord } from "./audit";
import { GitSource, gitSource } from "./gitops";
import { stackCluster, StackCluster, stackConfig } from "./stackCluster";

export interface OperatorDeps {
  root: string;
  env: NodeJS.ProcessEnv;
  /** The stack's cluster (config: the stack's, when the caller has read it already). */
  cluster(stack: string, config?: PlatformConfig): Promise<StackCluster>;
  git: GitSource;
  audit(a: { stack: string; action: string; outcome: string; correlationId: string; fields?: Record<string, string> }): AuditRecord;
  /** One line on stderr, for each step that can take more than a few seconds. */
  progress(line: string): void;
  /** Milliseconds (durations only: never compared with a timestamp of Argo CD's). */
  clock(): number;
}

export function realDeps(command: string, root: string, env: NodeJS.ProcessEnv = process.env): OperatorDeps & { cleanup(): void } {
  const g = gitSource();
  return {
    root,
    env,
    cluster: (stack, config) => stackCluster(stack, root, env, config),
    git: g,
    audit: (a) => appendAudit(root, a, env),
    progress: (line) => process.stderr.write(`platform ${command}: ${line}\n`),
    clock: () => Date.now(),
    cleanup: () => g.cleanup(),
  };
}

/** The evidence folder of one action: $PLATFORM_EVIDENCE_DIR, else platform:evidenceDir (default evidence/). */
export function evidenceFolder(deps: Pick<OperatorDeps, "root" | "env">, name: string, evidenceDir?: string): string {
  const dir = path.join(evidenceRoot(deps.root, deps.env, evidenceDir), name);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * The start of a resync or rollback: the stack's config read once (or the one line saying why it
 * could not be, which the action audits as its failure once it has its evidence folder) and the
 * action's evidence folder (`<name>-<correlation id>`, in platform:evidenceDir when the config read).
 */
export function startAction(
  deps: Pick<OperatorDeps, "root" | "env">,
  stack: string,
  folder: string,
  readConfig: () => PlatformConfig = () => stackConfig(stack, deps.root, deps.env),
): { config?: PlatformConfig; configError?: string; work: string } {
  let config: PlatformConfig | undefined;
  let configError: string | undefined;
  try {
    config = readConfig();
  } catch (e) {
    configError = errorLine(e);
  }
  return { config, configError, work: evidenceFolder(deps, folder, config?.evidenceDir) };
}

/** A path as the audit record keeps it: relative to the repository when inside it. */
export const relToRoot = (root: string, p: string) => (p.startsWith(root + path.sep) ? path.relative(root, p) : p);

export const errorLine = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0];

/** A refusal or failure already audited: the command prints it as its one error line and exits 1. */
export class OperatorFailure extends Error {}
