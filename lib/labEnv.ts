// The lab's names, addresses and directory, for TypeScript: the one reader of scripts/lab/lab.env
// (the file that defines them; the lab's bash scripts source it through scripts/lab/lib.sh). A
// LAB_* variable in the environment wins over the file, as in bash: that is how an isolated second
// lab (docs/runbooks/lab.md) runs beside the default one. PLATFORM_LAB_DIR moves the lab directory.
import * as fs from "fs";
import * as path from "path";

export type LabEnv = Record<string, string>;

/** lab.env as committed: KEY=VALUE lines, no quoting or expansion. */
export function committedLabEnv(root: string): LabEnv {
  const out: LabEnv = {};
  for (const line of fs.readFileSync(path.join(root, "scripts/lab/lab.env"), "utf8").split("\n")) {
    const m = /^(LAB_[A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** The effective lab: lab.env with the environment's LAB_* values on top (an empty value does not win). */
export function labEnv(root: string, env: NodeJS.ProcessEnv = process.env): LabEnv {
  const out = committedLabEnv(root);
  for (const [k, v] of Object.entries(env)) if (k.startsWith("LAB_") && v) out[k] = v;
  return out;
}

/** The lab directory (keys, state backend, kubeconfig, audit log): PLATFORM_LAB_DIR or <root>/.lab. */
export function labDirOf(root: string, env: NodeJS.ProcessEnv = process.env): string {
  return env.PLATFORM_LAB_DIR || path.join(root, ".lab");
}

/** The port of the lab's Git server (scripts/lab/git-server.sh): LAB_GIT_PORT, default git's 9418. */
export const labGitPort = (lab: LabEnv) => lab.LAB_GIT_PORT || "9418";
